#!/usr/bin/env bash
# The whole method end to end, with nothing from outside the repo: installs missing packages,
# builds, then `styleseg run jobs/eyes.ini`: procedural near-infrared eye images (real
# training, labelled and test splits) -> the 64x64 eye generator styleseg trained
# (jobs/models/eyes64-cpu.pt) -> k-means of its layer features -> a synthetic dataset of
# samples and cluster masks -> the segmenter distilled from it -> clusters mapped to classes
# on 50 labelled real images -> scored on 500 real test images, beside the same segmenter
# trained with the true masks. Prints the report's path and the headline numbers.
#   tools/demo.sh                 (OUT=out/eyes, RANKS=2, JOB=jobs/eyes.ini; extra arguments go to styleseg run)
#   tools/demo.sh --no-setup      (or STYLESEG_NO_SETUP=1: no tools/setup.sh, so no apt; see
#                                  README "Building on a cluster")
# Running it again skips every stage that is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
no_setup=${STYLESEG_NO_SETUP:-0}
if [ "${1:-}" = --no-setup ]; then
  no_setup=1
  shift
fi
[ "$no_setup" = 1 ] || tools/setup.sh
tools/build.sh --target styleseg
OUT=${OUT:-out/eyes}
JOB=${JOB:-jobs/eyes.ini}
RANKS=${RANKS:-2}
start=$(date +%s)
if [ "$RANKS" -gt 1 ]; then
  # One thread per rank: on 2 cores, 2 ranks x 1 thread beat 1 rank x 2 threads (README).
  OMP_NUM_THREADS=1 mpirun -np "$RANKS" --allow-run-as-root --oversubscribe build/styleseg run "$JOB" --workdir "$OUT" --threads 1 "$@"
else
  build/styleseg run "$JOB" --workdir "$OUT" "$@"
fi
echo
echo "demo done in $(( $(date +%s) - start )) s after the build. Report: $OUT/report.html"
score() { grep -o '"mean_iou": [0-9.]*' "$1" | grep -o '[0-9.]*$'; }
if [ -f "$OUT/evaluation.json" ] && [ -f "$OUT/evaluation-supervised.json" ]; then
  u=$(score "$OUT/evaluation.json"); s=$(score "$OUT/evaluation-supervised.json")
  awk -v u="$u" -v s="$s" 'BEGIN { printf "real test split: unsupervised mIoU %.3f, supervised %.3f, ratio %.3f\n", u, s, u / s }'
fi
