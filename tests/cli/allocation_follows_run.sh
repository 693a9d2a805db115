#!/usr/bin/env bash
# allocation_follows_run.sh STYLESEG GENERATOR.pt DIR "MPIRUN LINE": an output planned far
# larger than the run that writes it (2,000,000 samples, about 9 GB) gets storage only for
# the rows written: on 2 ranks, --time-limit 2 stops it with exit 75 (allocating all the
# chunks at creation used to ignore the time limit for minutes), its partial file is small,
# and --resume continues from that file and stops again at its own time limit.
set -u
S=$1; G=$2; D=$3; MPIRUN=$4
rm -rf "$D" && mkdir -p "$D"
GEN=(generate --checkpoint "$G" --count 2000000 --batch 16 --seed 5 --no-space-check --out "$D/big.h5")
fails=0
check() {  # check NAME CONDITION... : one line per case
  local name=$1; shift
  if "$@"; then echo "ok: $name"; else echo "FAILED: $name"; fails=$((fails + 1)); fi
}
out=$(timeout 120 $MPIRUN 2 "$S" "${GEN[@]}" --time-limit 2 2>&1); code=$?
size=$(stat -c %s "$D/big.h5.tmp.partial" 2>/dev/null || echo 0)
check "first run: exit 75 (got $code)" [ "$code" -eq 75 ]
check "first run: the partial file holds what was written ($size bytes, under 500 MB; 9 GB planned)" \
  [ "$size" -gt 0 -a "$size" -lt 500000000 ]
out=$(timeout 120 $MPIRUN 2 "$S" "${GEN[@]}" --time-limit 2 --resume 2>&1); code=$?
check "resumed run: exit 75 (got $code)" [ "$code" -eq 75 ]
check "resumed run: continued from the partial file" grep -Eq "resuming .*big.h5.tmp.partial: [1-9][0-9]* of 125000 batches" <<<"$out"
[ "$fails" -eq 0 ] || { echo "$out" | tail -5; exit 1; }
echo "all cases hold"
