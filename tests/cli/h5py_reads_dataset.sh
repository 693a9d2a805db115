#!/usr/bin/env bash
# h5py_reads_dataset.sh DATASET.h5 COUNT SIZE: a synthetic dataset opened by Python's h5py
# (the way users read it): shapes, dtypes, done flags and the JSON attributes. Skips (77)
# where Debian's python3 has no h5py.
set -u
python=/usr/bin/python3
$python -c "import h5py, numpy" 2>/dev/null || { echo "h5py not installed: skipped"; exit 77; }
exec $python - "$@" <<'PY'
import json, sys
import h5py, numpy as np
path, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with h5py.File(path, "r") as f:
    assert f["images"].shape == (count, size, size, 3) and f["images"].dtype == np.uint8, f["images"]
    assert f["masks"].shape == (count, size, size) and f["masks"].dtype == np.uint8, f["masks"]
    assert f["latents"].dtype == np.float32 and f["latents"].shape[0] == count
    assert f["done"][:].tolist() == [1] * count
    classes = json.loads(f.attrs["classes"])
    palette = json.loads(f.attrs["palette"])
    assert len(classes) == len(palette) and int(f.attrs["complete"]) == 1
    masks = f["masks"][:]
    assert set(np.unique(masks)) <= set(range(len(classes))) | {int(f.attrs["ignore_label"])}
    print("h5py reads", path, "classes", classes)
PY
