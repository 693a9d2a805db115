#!/usr/bin/env bash
# output_policy.sh STYLESEG GENERATOR.pt DIR "MPIRUN LINE": the output policy
# (io/output_policy.h) through the commands, on 2 ranks where a file is shared:
#   - a stopped run's partial file is refused without --resume, named; --resume of another
#     job's file is refused naming the option that differs; --resume continues it;
#   - a complete output is refused without --force; --resume says nothing is left to do;
#     --force replaces it and removes stale temporary files;
#   - an output that is the command's input is refused even with --force, the input intact;
#   - a terminated process (SIGTERM, SIGINT) leaves no temporary file, and names the
#     partial file it keeps for --resume.
set -u
S=$1; G=$2; D=$3; MPIRUN=$4
rm -rf "$D" && mkdir -p "$D"
fails=0
# expect CODE REGEX COMMAND...: the exit code and a line of the output.
expect() {
  local want=$1 regex=$2; shift 2
  local out code
  out=$(timeout 120 "$@" 2>&1); code=$?
  if [ "$code" != "$want" ] || ! grep -Eq -- "$regex" <<<"$out"; then
    echo "FAILED: $* -> exit $code (wanted $want), output:"; echo "$out" | tail -5; echo "(wanted /$regex/)"
    fails=$((fails + 1))
  else
    echo "ok: exit $code, /$regex/: ${*:2:3}"
  fi
}
sum() { sha256sum "$1" | cut -d' ' -f1; }
BASE=(generate --checkpoint "$G" --batch 2 --feature-layer 3)
GEN=("${BASE[@]}" --count 10 --seed 5)

# ---- a stopped run ----
expect 75 "stopped at --time-limit" $MPIRUN 2 "$S" "${GEN[@]}" --out "$D/g.h5" --time-limit 0.000001
expect 4 "g.h5.tmp.partial holds a stopped run: --resume continues it, --force starts afresh" \
  $MPIRUN 2 "$S" "${GEN[@]}" --out "$D/g.h5"
expect 2 "made by a different job \(options.truncation" $MPIRUN 2 "$S" "${GEN[@]}" --truncation 0.5 --out "$D/g.h5" --resume
expect 0 "resuming .*g.h5.tmp.partial" "$S" "${GEN[@]}" --out "$D/g.h5" --resume
[ ! -e "$D/g.h5.tmp.partial" ] || { echo "FAILED: the partial file outlived its resume"; fails=$((fails + 1)); }

# ---- a complete output ----
before=$(sum "$D/g.h5")
expect 4 "generate: --out .*g.h5 exists: --force replaces it" $MPIRUN 2 "$S" "${GEN[@]}" --out "$D/g.h5"
expect 0 "--resume: .*g.h5 is complete" $MPIRUN 2 "$S" "${GEN[@]}" --out "$D/g.h5" --resume
expect 2 "--resume: .*g.h5 was made by a different job \(options.seed: 6 now, 5 in that file\)" "$S" "${BASE[@]}" --count 10 --seed 6 --out "$D/g.h5" --resume
[ "$(sum "$D/g.h5")" = "$before" ] || { echo "FAILED: a refused run changed g.h5"; fails=$((fails + 1)); }
touch "$D/g.h5.tmp.host-1-dead"   # what a killed process leaves
expect 0 "--force: removed .*g.h5.tmp.host-1-dead" $MPIRUN 2 "$S" "${GEN[@]}" --out "$D/g.h5" --force
[ ! -e "$D/g.h5.tmp.host-1-dead" ] || { echo "FAILED: --force left a stale temporary file"; fails=$((fails + 1)); }
expect 2 "--resume and --force exclude each other" "$S" "${GEN[@]}" --out "$D/g.h5" --resume --force

# ---- an output that is an input ----
expect 0 "wrote 3 clusters" $MPIRUN 2 "$S" cluster --features "$D/g.h5" --clusters 3 --out "$D/c.h5"
features=$(sum "$D/g.h5"); clusters=$(sum "$D/c.h5")
expect 2 "cluster: --out .*g.h5 is also its input --features" "$S" cluster --features "$D/g.h5" --clusters 3 --out "$D/g.h5" --force
expect 2 "assign: --out .*c.h5 is also its input --clusters" \
  $MPIRUN 2 "$S" assign --features "$D/g.h5" --clusters "$D/c.h5" --out "$D/./c.h5" --force
expect 2 "generate: --out .*g.h5 is also its input --latents" "$S" "${GEN[@]}" --latents "$D/g.h5" --out "$D/g.h5" --force
[ "$(sum "$D/g.h5")" = "$features" ] && [ "$(sum "$D/c.h5")" = "$clusters" ] ||
  { echo "FAILED: a refused command changed its input"; fails=$((fails + 1)); }
expect 2 "assign: --grid .*c.h5 is also its input --clusters" "$S" assign --features "$D/g.h5" --clusters "$D/c.h5" --out "$D/l.h5" --grid "$D/c.h5"

# ---- space before work ----
expect 4 "generate: --out .*huge.h5 needs about [0-9.]+ (PB|EB), and its file system has [0-9.]+ [kMGT]?B free" \
  $MPIRUN 2 "$S" generate --checkpoint "$G" --count 1000000000000 --out "$D/huge.h5" --time-limit 2
expect 4 "make-eyes: --out .*huge_eyes.h5 needs about" "$S" make-eyes --count 100000000000 --size 64 --out "$D/huge_eyes.h5"
left=$(compgen -G "$D/huge*" || true)
[ -z "$left" ] || { echo "FAILED: a refused run left $left"; fails=$((fails + 1)); }

# ---- terminated processes leave no temporary file ----
for signal in TERM INT; do
  "$S" make-eyes --out "$D/eyes_$signal.h5" --count 200000 --size 64 --batch 64 --threads 1 >"$D/eyes_$signal.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do compgen -G "$D/eyes_$signal.h5.tmp.*" >/dev/null && break; sleep 0.1; done
  kill -s "$signal" "$pid"; wait "$pid"; code=$?
  left=$(compgen -G "$D/eyes_$signal.h5*" || true)
  if [ $code -eq 0 ] || [ -n "$left" ]; then
    echo "FAILED: SIGTERM/INT make-eyes: exit $code, left: $left"; fails=$((fails + 1))
  else
    echo "ok: SIG$signal: make-eyes exited $code and left nothing"
  fi
done
"$S" generate --checkpoint "$G" --batch 2 --count 100000 --seed 5 --out "$D/kept.h5" --resume-interval 0.01 >"$D/kept.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -e "$D/kept.h5.tmp.partial" ] && break; sleep 0.1; done
sleep 1; kill -TERM "$pid"; wait "$pid"; code=$?
if [ $code -ne 0 ] && [ -e "$D/kept.h5.tmp.partial" ] && grep -q "kept .*kept.h5.tmp.partial for --resume" "$D/kept.log"; then
  echo "ok: SIGTERM generate kept its partial file, named"
else
  echo "FAILED: SIGTERM generate: exit $code, $(ls "$D" | grep kept)"; tail -3 "$D/kept.log"; fails=$((fails + 1))
fi
# The kept file continues from its last resume point.
expect 75 "resuming .*kept.h5.tmp.partial: [1-9][0-9]* of 50000 batches were done" \
  "$S" generate --checkpoint "$G" --batch 2 --count 100000 --seed 5 --out "$D/kept.h5" --resume --time-limit 0.5

[ $fails -eq 0 ] && echo "output policy: all cases hold" || { echo "output policy: $fails case(s) failed"; exit 1; }
