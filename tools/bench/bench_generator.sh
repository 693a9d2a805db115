#!/usr/bin/env bash
# Side-by-side generator benchmark: styleseg's generator (build/bench_generator, with the
# machine's practical convolution peak and each layer type's share of it) and rosinality's
# Python generator (tools/bench/bench_generator_peer.py, Debian's python3-torch), config-f,
# random weights, on the CPU at the same thread count, in one run; prints ms per image at
# batches 1 and 8 and styleseg's speed-up (the peer's time over styleseg's).
#
#   tools/bench/bench_generator.sh ROSINALITY            # a checkout of rosinality/stylegan2-pytorch,
#                                                        # or its git directory (the search tool's fetch)
#   THREADS=2 ITERATIONS=3 RESOLUTION=256 BUILD=build tools/bench/bench_generator.sh ROSINALITY
#
# The peer's code is read from that copy at run time (model.py and op/ only), never copied
# into styleseg.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROSINALITY=${1:?usage: tools/bench/bench_generator.sh ROSINALITY (a checkout or git directory of rosinality/stylegan2-pytorch)}
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
ITERATIONS=${ITERATIONS:-3}
RESOLUTION=${RESOLUTION:-256}

source tools/bench/packages.sh
ensure_packages python3-torch python3-numpy

peer="$ROSINALITY"
if [ ! -f "$ROSINALITY/model.py" ]; then  # a git directory without a work tree
  peer=$(mktemp -d)
  trap 'rm -rf "$peer"' EXIT
  git --git-dir="$ROSINALITY" archive HEAD -- model.py op | tar -x -C "$peer"
fi

styleseg=$("$BUILD/bench_generator" --resolution "$RESOLUTION" --iterations "$ITERATIONS" --threads "$THREADS" --devices cpu)
echo "$styleseg"
rosinality=$(/usr/bin/python3 tools/bench/bench_generator_peer.py --repo "$peer" --resolution "$RESOLUTION" \
  --iterations "$ITERATIONS" --threads "$THREADS" --batches 1,8 2> >(grep -v "No CUDA runtime" >&2))

echo
echo "Against rosinality's generator ($(git --git-dir="$ROSINALITY/.git" rev-parse --short HEAD 2>/dev/null ||
  git --git-dir="$ROSINALITY" rev-parse --short HEAD 2>/dev/null || echo "commit unknown")), float32, $THREADS threads, ${RESOLUTION}x${RESOLUTION}:"
echo
echo "| batch | styleseg ms/image | rosinality ms/image | styleseg speed-up |"
echo "|---:|---:|---:|---:|"
for batch in 1 8; do
  ours=$(awk -F'|' -v b="$batch" '$2 ~ /cpu/ && $3 ~ /Float/ && $4 + 0 == b { print $6 + 0 }' <<<"$styleseg")
  theirs=$(awk -v b="$batch" '$1 == "batch" && $2 == b { print $4 }' <<<"$rosinality")
  awk -v b="$batch" -v s="$ours" -v p="$theirs" 'BEGIN { printf "| %d | %.1f | %.1f | %.2fx |\n", b, s, p, p / s }'
done
