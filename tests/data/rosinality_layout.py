# python3 rosinality_layout.py REFERENCE.pt OURS.pt
# OURS (a train-gan checkpoint) opens with Python's torch.load, and its g_ema and g hold
# exactly the keys and shapes of REFERENCE's g_ema (saved from rosinality's Generator of the
# same architecture): what Generator.load_state_dict(strict=True) checks. d, g_optim, d_optim
# and latent_avg are there, as rosinality's train.py writes them.
import sys

import torch

reference = torch.load(sys.argv[1], map_location="cpu")
ours = torch.load(sys.argv[2], map_location="cpu")
want = {k: tuple(v.shape) for k, v in reference["g_ema"].items()}
for part in ("g_ema", "g"):
    got = {k: tuple(v.shape) for k, v in ours[part].items()}
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    wrong = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    assert not (missing or extra or wrong), f"{part}: missing {missing[:5]}, extra {extra[:5]}, other shapes {wrong[:5]}"
for key in ("d", "g_optim", "d_optim", "latent_avg"):
    assert key in ours, f"no {key}"
assert ours["d"] and all(torch.is_tensor(v) for v in ours["d"].values())
print(f"torch.load reads {sys.argv[2]}: g_ema and g have rosinality's {len(want)} generator entries")
