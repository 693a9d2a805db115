#!/usr/bin/env bash
# name_same_ranks.sh ONE.h5 TWO.h5 MERGE.txt PNG: `styleseg name` wrote the same names
# (scores within 1e-6) at 1 and 2 ranks into the clusters files, with its provenance, the
# by-hand name recorded beside CLIP's choice, a class map file synthesize can read, and a
# picture.
set -euo pipefail
[ -s "$4" ] || { echo "no picture $4"; exit 1; }
grep -q ":" "$3" || { echo "no class map in $3"; exit 1; }
/usr/bin/python3 - "$1" "$2" <<'PYEOF'
import h5py, json, sys
files = [h5py.File(p, "r") for p in sys.argv[1:3]]
namings = [json.loads(f.attrs["naming"]) for f in files]
names = [json.loads(f.attrs["names"]) for f in files]
assert names[0] == names[1], f"names differ: {names}"
assert len(names[0]) == files[0]["centroids"].shape[0]
for a, b in zip(namings[0]["clusters"], namings[1]["clusters"]):
    assert a["name"] == b["name"] and a["clip_name"] == b["clip_name"], (a, b)
    assert abs(a["score"] - b["score"]) <= 1e-6, (a, b)
    assert len(a["runner_ups"]) == 2 and all(m >= 0 for m in a["margins"]), a
hand = namings[0]["clusters"][1]
assert hand["name"] == "teeth" and hand["by_hand"] and hand["clip_name"] in namings[0]["prompts"], hand
assert len(namings[0]["clip_sha256"]) == 64 and namings[0]["samples"] == 10
print("names at 1 and 2 ranks:", names[0])
PYEOF
echo "same names"
