#!/usr/bin/env bash
# Side-by-side training benchmark: `styleseg train` (1 rank with 1 and 2 threads, 2 ranks
# with 1 thread each) against the same network, loss, optimiser and data in PyTorch's
# Python API (Debian's python3-torch, same thread counts), in one run. Images/s at 128x128,
# global batch 16. Installs the Python packages it needs when missing, makes a 128x128
# dataset with styleseg (init-gan, cluster, synthesize) once, then hands over to
# bench_train.py (options: --help; --steps N).
#
#   tools/bench/bench_train.sh
#   BIN=build/styleseg OUT=out/bench/train tools/bench/bench_train.sh --steps 12
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${BIN:-build/styleseg}
OUT=${OUT:-out/bench/train}
mkdir -p "$OUT"

source tools/bench/packages.sh
ensure_packages python3-torch python3-h5py python3-numpy

# The data: 256 samples of a (random) 128x128 generator with their 8-cluster masks.
if [ ! -f "$OUT/dataset.h5" ]; then
  echo "bench: making $OUT/dataset.h5"
  "$BIN" init-gan --out "$OUT/g.pt" --resolution 128 --channel-max 64 --seed 0 --force > "$OUT/make.log" 2>&1
  "$BIN" cluster --checkpoint "$OUT/g.pt" --feature-layer 5 --samples 16 --clusters 8 --iterations 10 \
    --out "$OUT/clusters.h5" --force >> "$OUT/make.log" 2>&1
  "$BIN" synthesize --checkpoint "$OUT/g.pt" --clusters "$OUT/clusters.h5" --count 256 --batch 16 --seed 1 \
    --truncation 0.7 --out "$OUT/dataset.h5" --force >> "$OUT/make.log" 2>&1
fi

exec /usr/bin/python3 tools/bench/bench_train.py --bin "$BIN" --out "$OUT" --data "$OUT/dataset.h5" "$@"
