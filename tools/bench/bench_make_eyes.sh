#!/usr/bin/env bash
# make-eyes speed: images per minute per core at 128x128 and 640x400 (OpenEDS' size), on 1
# rank of 1 thread and on 2 ranks of 1 thread each. The issue's goal: thousands of 128x128
# images a minute per core. (No peer tool: the renderer is styleseg's own.)
#   tools/bench/bench_make_eyes.sh [COUNT]      (default 1000)
# Environment: BIN (build/styleseg), OUT (out/bench/make_eyes).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/styleseg}
OUT=${OUT:-out/bench/make_eyes}
COUNT=${1:-1000}
mkdir -p "$OUT"
rate() {  # ranks height width -> images per minute per core
  local ranks=$1 start end
  start=$(date +%s.%N)
  OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np "$ranks" "$BIN" make-eyes --out "$OUT/eyes.h5" \
    --count "$COUNT" --height "$2" --width "$3" --threads 1 --force > "$OUT/last.log" 2>&1
  end=$(date +%s.%N)
  echo "$COUNT * 60 / ($end - $start) / $ranks" | bc -l
}
{
  echo "# make-eyes: images per minute per core ($COUNT images, $(nproc) cores, whole process incl. start-up)"
  echo
  echo "| size | 1 rank | 2 ranks |"
  echo "|---|---:|---:|"
  for size in "128 128" "400 640"; do
    set -- $size
    printf "| %sx%s | %.0f | %.0f |\n" "$2" "$1" "$(rate 1 "$1" "$2")" "$(rate 2 "$1" "$2")"
  done
} | tee "$OUT/report.md"
