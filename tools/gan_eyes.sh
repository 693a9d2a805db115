#!/usr/bin/env bash
# The issue-6 experiment: a 64x64 eye StyleGAN2 trained from scratch on 2 CPU cores within
# a time budget, with its quality figures over training. Every command is here, so the
# sample grid and curves under docs/ can be remade:
#   1. make-eyes: the GAN's real images (64x64, NIR grey) and, from another index range, a
#      labelled set for the quality segmenter;
#   2. train: the segmenter on that labelled set (its features and labels define the figures);
#   3. train-gan (preset cpu64) on 2 ranks of 1 thread, stopping at the time budget, with
#      the Frechet and pixel-share distances of g_ema to the real images over training.
#   tools/gan_eyes.sh [MINUTES] [STEPS]      (default 45 minutes, 100000 steps: the budget decides)
# Environment: BIN (build/styleseg), OUT (out/gan_eyes), RANKS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/styleseg}
OUT=${OUT:-out/gan_eyes}
RANKS=${RANKS:-2}
MINUTES=${1:-45}
STEPS=${2:-100000}
mkdir -p "$OUT"
run() { OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np "$RANKS" "$BIN" "$@" --threads 1; }

[ -f "$OUT/real.h5" ] || run make-eyes --out "$OUT/real.h5" --count 20000 --size 64 --seed 1 --grid "$OUT/real.png" --grid-count 16
[ -f "$OUT/labelled.h5" ] || run make-eyes --out "$OUT/labelled.h5" --count 3000 --size 64 --seed 1 --first-index 1000000
[ -f "$OUT/seg.pt" ] || run train --data "$OUT/labelled.h5" --out "$OUT/seg.pt" --steps 800 --batch 16 --lr 0.001 \
  --scale-min 0.9 --scale-max 1.1 --val-count 200 --val-every 400
status=0
run train-gan --data "$OUT/real.h5" --out "$OUT/gan.pt" --preset cpu64 --steps "$STEPS" --batch 8 \
  --time-limit $((MINUTES * 60)) --quality-model "$OUT/seg.pt" --quality-every 1000 --quality-samples 500 \
  --checkpoint-every 500 --sample-every 500 --force || status=$?
[ "$status" = 0 ] || [ "$status" = 75 ] || exit "$status"   # 75: stopped at the time budget, resumable
echo "checkpoint $OUT/gan.pt; samples $OUT/gan.samples/; curves $OUT/gan.curves.png; figures $OUT/gan.quality.csv"
