#!/usr/bin/env bash
# synthesize against generate alone (same generator, batch and samples), its output rate
# against a plain sequential write of the same bytes (dd) on the same disk, the reader's
# throughput (file order and shuffled), and the storage trade of compression.
#   tools/bench/bench_synthesize.sh [COUNT]     (default 64 samples of a 128x128 generator)
# Environment: BIN (build/styleseg), READER (build/bench_reader), OUT (out/bench/synthesize).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/styleseg}
READER=${READER:-build/bench_reader}
OUT=${OUT:-out/bench/synthesize}
COUNT=${1:-64}
mkdir -p "$OUT"
command -v bc > /dev/null || apt-get install -y -q bc > /dev/null
seconds() { local s; s=$(date +%s.%N); "$@" > "$OUT/last.log" 2>&1; echo "$(date +%s.%N) - $s" | bc; }

"$BIN" init-gan --out "$OUT/g.pt" --resolution 128 --seed 0 --force > /dev/null 2>&1
"$BIN" cluster --checkpoint "$OUT/g.pt" --feature-layer 5 --samples 16 --clusters 8 --iterations 10 \
  --out "$OUT/clusters.h5" --force > /dev/null 2>&1
common=(--checkpoint "$OUT/g.pt" --count "$COUNT" --batch 8 --seed 1 --truncation 0.7)

t_generate=$(seconds "$BIN" generate "${common[@]}" --out "$OUT/generate.h5" --force)
rm -f "$OUT"/dataset.h5*
t_synth=$(seconds "$BIN" synthesize "${common[@]}" --clusters "$OUT/clusters.h5" --out "$OUT/dataset.h5")
io_line=$(grep -o "rank 0 wrote.*" "$OUT/last.log" || true)
rm -f "$OUT"/dataset_gz.h5*
t_synth_gz=$(seconds "$BIN" synthesize "${common[@]}" --clusters "$OUT/clusters.h5" --out "$OUT/dataset_gz.h5" --compression 1)
bytes=$(stat -c %s "$OUT/dataset.h5")
bytes_gz=$(stat -c %s "$OUT/dataset_gz.h5")
t_dd=$(seconds dd if=/dev/zero of="$OUT/dd.bin" bs=1M count=$(( (bytes + 1048575) / 1048576 )) conv=fdatasync)
rm -f "$OUT/dd.bin"

{
  echo "# synthesize benchmark ($COUNT samples, 128x128 generator, batch 8, $(nproc) cores)"
  echo
  echo "| run | seconds | samples/s | vs generate |"
  echo "|---|---:|---:|---:|"
  for row in "generate:$t_generate" "synthesize:$t_synth" "synthesize --compression 1:$t_synth_gz"; do
    name=${row%%:*}; t=${row##*:}
    printf "| %s | %.2f | %.2f | %.3f |\n" "$name" "$t" "$(echo "$COUNT / $t" | bc -l)" "$(echo "$t / $t_generate" | bc -l)"
  done
  echo
  printf "Output: %.1f MB uncompressed (%.1f MB/s while synthesizing); dd writes the same bytes at %.1f MB/s.\n" \
    "$(echo "$bytes / 1000000" | bc -l)" "$(echo "$bytes / 1000000 / $t_synth" | bc -l)" "$(echo "$bytes / 1000000 / $t_dd" | bc -l)"
  echo "synthesize's own I/O: $io_line"
  printf "With --compression 1: %.1f MB (%.0f %% of the uncompressed file).\n" \
    "$(echo "$bytes_gz / 1000000" | bc -l)" "$(echo "100 * $bytes_gz / $bytes" | bc -l)"
  echo
  echo "Reader (batch 16, prefetch 2), uncompressed:"
  echo
  "$READER" "$OUT/dataset.h5"
  echo
  echo "Reader, --compression 1:"
  echo
  "$READER" "$OUT/dataset_gz.h5"
} | tee "$OUT/report.md"
