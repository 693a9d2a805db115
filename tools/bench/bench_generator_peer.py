"""The peer of tools/bench/bench_generator: rosinality's Python StyleGAN2 generator
(model.py, loaded at run time from a copy of rosinality/stylegan2-pytorch, never copied into
styleseg), config-f at the given resolution, random weights, constant noise, without autograd,
on the CPU. Prints one line per batch: "batch <B> ms_per_image <T>".

rosinality's op/ package JIT-builds CUDA kernels when imported (torch.utils.cpp_extension.load);
on CPU tensors it runs its own pure-PyTorch code instead (upfirdn2d_native, leaky_relu + bias,
F.conv2d), so the build is skipped: `load` is replaced before the import, the math untouched.
"""
import argparse
import sys
import time

import torch
import torch.utils.cpp_extension


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="a checkout of rosinality/stylegan2-pytorch")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.utils.cpp_extension.load = lambda *a, **k: None
    sys.path.insert(0, args.repo)
    from model import Generator  # noqa: E402  (rosinality's, from the checkout)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    generator = Generator(args.resolution, 512, 8, channel_multiplier=2).eval()
    with torch.no_grad():
        for batch in (int(b) for b in args.batches.split(",")):
            z = torch.randn(batch, 512)
            for _ in range(2):  # warm-up (allocator, oneDNN plans), as bench_generator
                generator([z], randomize_noise=False)
            start = time.perf_counter()
            for _ in range(args.iterations):
                generator([z], randomize_noise=False)
            seconds = time.perf_counter() - start
            print(f"batch {batch} ms_per_image {seconds * 1e3 / (args.iterations * batch):.1f}", flush=True)


if __name__ == "__main__":
    main()
