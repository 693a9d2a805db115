#!/usr/bin/env python3
"""Writes tests/data/torch_files/hostile_*: checkpoints that name globals a checkpoint has no
need of, each a way a crafted .pt file could run code under torch.load without
weights_only=True. styleseg's reader must refuse each, naming the file and the global,
before reading on (tests/unit/test_torch_file.cpp). Needs python3 with torch (Debian's
/usr/bin/python3 with python3-torch); the payloads are harmless commands and are never run.
"""
import os
import pickle
import subprocess

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_files")


class RunsCommand:
    """Unpickling calls os.system('echo pwned')."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


class Evaluates:
    def __reduce__(self):
        return (eval, ("__import__('os').system('echo pwned')",))


class Spawns:
    def __reduce__(self):
        return (subprocess.Popen, (["echo", "pwned"],))


class Unknown:
    """A class of the saving program: unpickling would import its module and build it."""

    def __init__(self):
        self.field = 3


def main():
    weights = {"conv.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    torch.save({**weights, "payload": RunsCommand()}, os.path.join(OUT, "hostile_os_system.pt"))
    torch.save({**weights, "payload": Evaluates()}, os.path.join(OUT, "hostile_eval_legacy.pt"),
               _use_new_zipfile_serialization=False)
    torch.save({**weights, "payload": Spawns()}, os.path.join(OUT, "hostile_popen_proto4.pt"), pickle_protocol=4)
    torch.save({**weights, "payload": Unknown()}, os.path.join(OUT, "hostile_unknown_class.pt"))
    with open(os.path.join(OUT, "hostile_plain_pickle.pkl"), "wb") as f:
        pickle.dump({"payload": RunsCommand()}, f, protocol=2)
    for name in sorted(os.listdir(OUT)):
        if name.startswith("hostile_"):
            print(f"{name:28s} {os.path.getsize(os.path.join(OUT, name)):7d} bytes")


if __name__ == "__main__":
    main()
