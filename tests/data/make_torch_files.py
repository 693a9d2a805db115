#!/usr/bin/env python3
"""Writes the small torch.save files that tests/unit/test_torch_file.cpp reads.

Run with a Python that has torch (Debian: /usr/bin/python3 with python3-torch):

    /usr/bin/python3 tests/data/make_torch_files.py

The outputs are committed; the C++ tests never run Python. Every tensor is built from
torch.arange so the test can recompute the expected values; keep the two in step.

Files (in tests/data/torch_files/):
  train_ckpt.pt          zip format, saved through a BytesIO (inner folder "archive",
                         not the file name), pickle protocol 2 (torch.save's default)
  train_ckpt_legacy.pt   the same object, _use_new_zipfile_serialization=False
  train_ckpt_proto4.pt   the same object, zip, pickle protocol 4 (FRAME, MEMOIZE,
                         SHORT_BINUNICODE, ...), saved as "renamed_at_save.pt" then renamed
  fake_nvlabs_network.pkl  a plain pickle that refers to torch_utils.persistence and
                         dnnlib, like an NVlabs network pickle (no tensors)
  plain_pickle.pkl       pickle.dumps of a dict: not a torch.save file
"""
import argparse
import collections
import io
import os
import pickle
import sys
import types

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_files")


def build_checkpoint():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    shared = torch.arange(5, dtype=torch.float32) * 2

    # A tiny module's state dict: OrderedDict with _metadata, a 0-dim int64 buffer.
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(6, dtype=torch.float32).reshape(2, 3) - 2.5)
        model[0].bias.copy_(torch.tensor([0.25, -0.75]))
        model[1].running_mean.copy_(torch.tensor([1.0, 2.0]))
    model[1].num_batches_tracked.fill_(11)

    # A real Adam state after one step (int keys, 'step' tensors, nested param_groups).
    p0 = torch.nn.Parameter(torch.arange(4, dtype=torch.float32).reshape(2, 2))
    p1 = torch.nn.Parameter(torch.arange(3, dtype=torch.float32))
    adam = torch.optim.Adam([p0, p1], lr=0.002, betas=(0.0, 0.99))
    (p0.sum() + (p1 * 2).sum()).backward()
    adam.step()

    return {
        "args": argparse.Namespace(lr=0.002, size=64, name="ffhq", channels=[512, 256],
                                   mixing=None, use_ema=True, betas=(0.0, 0.99)),
        "iteration": 1234,
        "weight": torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.5 - 1,
        "half": (torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4).half(),
        "bf16": ((torch.arange(5, dtype=torch.float32) - 2) * 0.25).bfloat16(),
        "long": torch.arange(-3, 5, dtype=torch.int64) * 1000000007,
        "int32": torch.arange(4, dtype=torch.int32) - 2,
        "int16": torch.arange(3, dtype=torch.int16) * -300,
        "int8": torch.arange(3, dtype=torch.int8) - 1,
        "uint8": torch.arange(250, 256, dtype=torch.int64).to(torch.uint8),
        "float64": torch.arange(3, dtype=torch.float64) / 3,
        "mask": torch.arange(7) % 3 == 0,
        "base": base,
        "base_t": base.t(),                 # non-contiguous view, strides (1, 6)
        "window": base[1:3, 2:5],           # offset 8, strides (6, 1): same storage
        "shared": shared,
        "shared_again": shared,             # the same tensor object twice
        "expanded": torch.arange(3, dtype=torch.float32).expand(2, 3),  # stride 0
        "empty": torch.zeros(0, 3),
        "scalar": torch.tensor(3.5),
        "scalar_long": torch.tensor(-7),
        "param": torch.nn.Parameter(torch.arange(3, dtype=torch.float32) + 0.5),
        "model": model.state_dict(),
        "optim": {
            "state": {
                0: {"step": torch.tensor(3.0), "exp_avg": torch.arange(4, dtype=torch.float32) * 0.1},
                1: {"step": 7, "momentum_buffer": None},
            },
            "param_groups": [{"lr": 0.01, "betas": (0.0, 0.99), "eps": 1e-8,
                              "amsgrad": False, "params": [0, 1]}],
        },
        "adam": adam.state_dict(),
        "nested": [1, -2, 2**40, 3.25, "h\u00e9llo \u2603", b"\x00\x01\xff", None, True, False,
                   (1, (2, "x")), [], {}, {"a": [None]}, -(2**63), 2**70, float("-inf")],
        "device": torch.device("cuda", 1),
        "size": torch.Size([2, 3]),
        "set": {3},
    }


def save_zip_via_buffer(obj, path, **kwargs):
    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)  # inner folder is "archive"
    with open(path, "wb") as f:
        f.write(buffer.getvalue())


def write_fake_nvlabs(path):
    # Modules named like NVlabs' own, so the pickle refers to them by those names.
    torch_utils = types.ModuleType("torch_utils")
    persistence = types.ModuleType("torch_utils.persistence")
    dnnlib = types.ModuleType("dnnlib")

    def _reconstruct_persistent_obj(meta):
        return meta

    class EasyDict(dict):
        pass

    class Network:
        def __reduce__(self):
            meta = {"type": "class", "version": 6, "module_src": "# networks.py source",
                    "class_name": "training.networks.Generator", "state": {"z_dim": 8}}
            return (_reconstruct_persistent_obj, (meta,))

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    EasyDict.__module__ = "dnnlib"
    EasyDict.__qualname__ = "EasyDict"
    dnnlib.EasyDict = EasyDict
    torch_utils.persistence = persistence
    sys.modules.update({"torch_utils": torch_utils, "torch_utils.persistence": persistence,
                        "dnnlib": dnnlib})

    network = {"G": Network(), "D": Network(), "G_ema": Network(),
               "training_set_kwargs": EasyDict(resolution=64), "augment_pipe": None}
    with open(path, "wb") as f:
        pickle.dump(network, f, protocol=pickle.HIGHEST_PROTOCOL)


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    ckpt = build_checkpoint()

    save_zip_via_buffer(ckpt, os.path.join(OUT, "train_ckpt.pt"))
    torch.save(ckpt, os.path.join(OUT, "train_ckpt_legacy.pt"), _use_new_zipfile_serialization=False)
    renamed = os.path.join(OUT, "renamed_at_save.pt")
    torch.save(ckpt, renamed, pickle_protocol=4)
    os.replace(renamed, os.path.join(OUT, "train_ckpt_proto4.pt"))

    write_fake_nvlabs(os.path.join(OUT, "fake_nvlabs_network.pkl"))
    with open(os.path.join(OUT, "plain_pickle.pkl"), "wb") as f:
        pickle.dump({"a": 1, "b": [2, 3]}, f, protocol=2)

    # Self-check: torch reads back what was written, identically in every format.
    for name in ("train_ckpt.pt", "train_ckpt_legacy.pt", "train_ckpt_proto4.pt"):
        loaded = torch.load(os.path.join(OUT, name))
        assert torch.equal(loaded["window"], ckpt["window"]), name
        assert loaded["window"].storage().data_ptr() == loaded["base"].storage().data_ptr(), name
    for name in sorted(os.listdir(OUT)):
        print(f"{name:28s} {os.path.getsize(os.path.join(OUT, name)):7d} bytes")


if __name__ == "__main__":
    main()
