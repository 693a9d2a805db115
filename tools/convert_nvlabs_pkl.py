#!/usr/bin/env python3
"""Convert an NVlabs StyleGAN2-ADA network pickle (.pkl) into a torch.save state dict.

NVlabs' network pickles (stylegan2-ada-pytorch, stylegan3) are plain Python pickles of
NVlabs' own classes: unpickling them needs NVlabs' `dnnlib` and `torch_utils` packages, so
styleseg (C++) cannot read them. This script, run once with those packages importable,
saves one network's `state_dict()` with `torch.save`, which styleseg reads directly.

Usage (inside a checkout of NVlabs/stylegan2-ada-pytorch, or with PYTHONPATH pointing at
one):

    python tools/convert_nvlabs_pkl.py NETWORK.pkl OUT.pt [--key G_ema]

NETWORK.pkl may also be a URL that NVlabs' dnnlib can open. --key picks the network in the
pickle's dict: G_ema (the generator with averaged weights, the one to sample from), G, or D.
"""
import argparse
import os
import sys


def import_nvlabs():
    """NVlabs' `legacy` and `dnnlib` modules, or exit with a message saying where to get them."""
    # A checkout's root holds legacy.py and dnnlib/; the working directory is tried first.
    sys.path.insert(0, os.getcwd())
    try:
        import dnnlib  # noqa: F401  (needed by legacy and by the pickle's classes)
        import legacy
    except ImportError as err:
        sys.exit(
            f"error: cannot import NVlabs' code ({err}).\n"
            "Run this script inside a checkout of https://github.com/NVlabs/stylegan2-ada-pytorch\n"
            "(cd stylegan2-ada-pytorch && python /path/to/styleseg/tools/convert_nvlabs_pkl.py ...)\n"
            "or set PYTHONPATH to such a checkout.")
    return legacy, dnnlib


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Save one network of an NVlabs StyleGAN2-ADA pickle as a torch.save state dict.")
    parser.add_argument("network", metavar="NETWORK.pkl", help="NVlabs network pickle (path or URL)")
    parser.add_argument("output", metavar="OUT.pt", help="where to write the state dict")
    parser.add_argument("--key", default="G_ema",
                        help="which network of the pickle to save (default: G_ema)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    legacy, dnnlib = import_nvlabs()
    import torch

    with dnnlib.util.open_url(args.network) as stream:
        networks = legacy.load_network_pkl(stream)
    if args.key not in networks or networks[args.key] is None:
        present = ", ".join(k for k, v in networks.items() if isinstance(v, torch.nn.Module))
        sys.exit(f"error: {args.network} has no network '{args.key}' (networks present: {present})")

    network = networks[args.key]
    state = network.state_dict()
    out_dir = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(state, args.output)

    tensors = sum(1 for v in state.values() if torch.is_tensor(v))
    elements = sum(v.numel() for v in state.values() if torch.is_tensor(v))
    print(f"wrote {args.output}: state dict of {args.key} ({type(network).__name__}), "
          f"{tensors} tensors, {elements:,} values")
    for name in ("z_dim", "w_dim", "c_dim", "img_resolution", "img_channels"):
        if hasattr(network, name):
            print(f"  {name} = {getattr(network, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
