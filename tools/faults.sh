#!/usr/bin/env bash
# The fault matrix: what a failing machine does to each long stage, measured.
#
# For each long stage (generate, cluster, synthesize, train, train-gan), run on 2 ranks of a
# tiny job, at three points of its run (20, 50 and 70 % of the time an uninterrupted run
# takes), one of three faults:
#   kill9  kill -9 of one rank (a node lost, an out-of-memory kill);
#   term   SIGTERM to the launcher (scancel, a scheduler's end);
#   usr1   SIGUSR1 to the launcher, which passes it on (Slurm's --signal before a time limit).
# Expected: every rank has exited, non-zero, within 60 s of the fault, and the same command
# with --resume (the data stages alternately on 1 and 2 ranks, training on 2) completes to
# the outputs of the uninterrupted run: generate, synthesize and train-gan identical (h5diff / the samples of g_ema), train
# the same weights (SHA-256), cluster the same counts and centroids within 1e-6 relative
# (k-means sums in another order after a resume: README "Determinism").
# Then a full disk: generate and synthesize on 2 ranks into a tmpfs too small for their output
# (--no-space-check: the disk fills during the run), one error line, every rank exits; the
# space freed, --resume completes to the uninterrupted result. (Skipped without root.)
#
#   tools/faults.sh [--quick] [OUT]      (OUT: out/faults; --quick: generate and train at 50 %:
#                                          the part tests/CMakeLists.txt runs in CI)
# Prints the matrix as a Markdown table (the README's "Fault matrix") and exits 1 when any
# case misses its expectation. Environment: BIN (build/styleseg).
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = --quick ]; then quick=1; shift; fi
OUT=$(realpath -m "${1:-out/faults}")
BIN=$(realpath "${BIN:-build/styleseg}")
MPIRUN=(mpirun --oversubscribe -np)
[ "$(id -u)" = 0 ] && MPIRUN=(mpirun --allow-run-as-root --oversubscribe -np)
export OMP_NUM_THREADS=1
rm -rf "$OUT" && mkdir -p "$OUT"
failures=0
rows=()

say() { echo "faults: $*" >&2; }
run() { "${MPIRUN[@]}" "$1" "$BIN" "${@:2}" --threads 1; }

# ---- the tiny job's inputs ----
"$BIN" init-gan --out "$OUT/g.pt" --resolution 32 --z-dim 32 --w-dim 32 --mapping-layers 2 --channel-max 32 --seed 3 >/dev/null 2>&1
run 2 make-eyes --out "$OUT/eyes.h5" --count 256 --size 16 --seed 1 >/dev/null 2>&1
run 2 generate --checkpoint "$OUT/g.pt" --count 1000 --batch 8 --seed 1 --feature-layer 3 --out "$OUT/features.h5" >/dev/null 2>&1
run 2 cluster --checkpoint "$OUT/g.pt" --feature-layer 3 --samples 16 --clusters 4 --iterations 5 --seed 2 --out "$OUT/c.h5" >/dev/null 2>&1
run 2 synthesize --checkpoint "$OUT/g.pt" --clusters "$OUT/c.h5" --count 64 --batch 4 --seed 4 --out "$OUT/syn.h5" >/dev/null 2>&1
[ -f "$OUT/syn.h5" ] && [ -f "$OUT/eyes.h5" ] || { say "the tiny job's inputs could not be made"; exit 1; }

# The stages: NAME|ARGS (without --out); OUT is appended as --out DIR/NAME.EXT.
declare -A ARGS EXT
ARGS[generate]="generate --checkpoint $OUT/g.pt --count 15000 --batch 4 --seed 5 --resume-interval 0.2"
EXT[generate]=h5
ARGS[cluster]="cluster --features $OUT/features.h5 --clusters 6 --iterations 300 --tolerance 0 --n-init 3 --seed 2 --checkpoint-interval 0"
EXT[cluster]=h5
ARGS[synthesize]="synthesize --checkpoint $OUT/g.pt --clusters $OUT/c.h5 --count 8000 --batch 4 --seed 4"
EXT[synthesize]=h5
ARGS[train]="train --data $OUT/syn.h5 --steps 30 --batch 4 --val-count 4 --val-every 15 --checkpoint-every 2 --crop 32 --device cpu --seed 3"
EXT[train]=pt
ARGS[train-gan]="train-gan --data $OUT/eyes.h5 --resolution 16 --steps 80 --batch 4 --checkpoint-every 2 --sample-every 1000 --seed 1"
EXT[train-gan]=pt

# same STAGE A B: the outputs agree as the stage promises.
same() {
  local stage=$1 a=$2 b=$3
  case $stage in
    generate) h5diff -q "$a" "$b" ;;
    synthesize) for d in /images /masks /latents /done; do h5diff -q "$a" "$b" $d $d || return 1; done ;;
    cluster) h5diff -q "$a" "$b" /counts /counts && h5diff -q -p 1e-6 "$a" "$b" /centroids /centroids ;;
    train) [ "$("$BIN" inspect --checkpoint "$a" | grep weights_sha256)" = "$("$BIN" inspect --checkpoint "$b" | grep weights_sha256)" ] ;;
    train-gan)
      rm -f "$a.samples.h5" "$b.samples.h5"
      "$BIN" generate --checkpoint "$a" --count 8 --seed 9 --out "$a.samples.h5" >/dev/null 2>&1 &&
        "$BIN" generate --checkpoint "$b" --count 8 --seed 9 --out "$b.samples.h5" >/dev/null 2>&1 &&
        h5diff -q "$a.samples.h5" "$b.samples.h5" /images /images && h5diff -q "$a.samples.h5" "$b.samples.h5" /w /w ;;
  esac
}

# ranks_alive OUTPUT: styleseg processes still writing OUTPUT.
ranks_alive() { pgrep -f -- "--out $1( |$)" | wc -l; }

# fault STAGE FAULT POINT SECONDS: one cell of the matrix.
fault() {
  local stage=$1 kind=$2 point=$3 reference_seconds=$4
  local out="$OUT/$stage.$kind.$point.${EXT[$stage]}" log="$OUT/$stage.$kind.$point.log"
  local delay
  delay=$(awk -v s="$reference_seconds" -v p="$point" 'BEGIN { printf "%.2f", s * p / 100 }')
  # The launcher itself in the background (exec: $! is mpirun, not a subshell).
  # shellcheck disable=SC2086  # ARGS are word lists
  (exec "${MPIRUN[@]}" 2 "$BIN" ${ARGS[$stage]} --out "$out" --threads 1 >"$log" 2>&1) &
  local launcher=$!
  sleep "$delay"
  local t0
  t0=$(date +%s.%N)
  case $kind in
    kill9) pkill -KILL -n -f -- "styleseg .*--out $out( |$)" ;;   # the newest rank process: one of the two
    term) kill -TERM "$launcher" ;;
    usr1) kill -USR1 "$launcher" ;;
  esac
  wait "$launcher"
  local code=$?
  local waited=0
  while [ "$(ranks_alive "$out")" -gt 0 ] && [ $waited -lt 600 ]; do sleep 0.1; waited=$((waited + 1)); done
  local seconds
  seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  # Data stages resume on 1 or 2 ranks (alternately: sample i is the same on any number);
  # training resumes on the 2 ranks it started on (per-rank batch statistics and reduction
  # order make other rank counts agree only to rounding: README "Determinism").
  local ranks=2 resumed="no"
  case $stage in generate | cluster | synthesize) ranks=$(((point / 10) % 2 + 1)) ;; esac
  if [ $code -eq 0 ]; then
    resumed="finished before the fault"
  else
    # shellcheck disable=SC2086
    run $ranks ${ARGS[$stage]} --out "$out" --resume >>"$log" 2>&1 && same "$stage" "$OUT/$stage.reference.${EXT[$stage]}" "$out" >>"$log" 2>&1 &&
      resumed="same on $ranks rank(s)"
  fi
  local verdict=ok
  if [ $code -ne 0 ] && { [ "$resumed" = no ] || awk -v s="$seconds" 'BEGIN { exit !(s > 60) }'; }; then verdict=FAILED; fi
  [ "$(ranks_alive "$out")" -eq 0 ] || verdict=FAILED
  [ "$verdict" = ok ] || failures=$((failures + 1))
  rows+=("| $stage | $kind | $point % | $code | $seconds | $resumed | $verdict |")
  say "$stage $kind at $point %: exit $code after $seconds s, resume: $resumed ($verdict)"
}

stages=(generate cluster synthesize train train-gan)
points=(20 50 70)
kinds=(kill9 term usr1)
if [ $quick = 1 ]; then stages=(generate train); points=(50); fi
for stage in "${stages[@]}"; do
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  run 2 ${ARGS[$stage]} --out "$OUT/$stage.reference.${EXT[$stage]}" >"$OUT/$stage.reference.log" 2>&1 ||
    { say "$stage: the uninterrupted run failed (see $OUT/$stage.reference.log)"; exit 1; }
  seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  say "$stage: uninterrupted run $seconds s"
  for kind in "${kinds[@]}"; do for point in "${points[@]}"; do fault "$stage" "$kind" "$point" "$seconds"; done; done
done

# ---- a full disk ----
disk_rows=()
if [ $quick = 0 ] && mkdir -p "$OUT/full" && mount -t tmpfs -o size=6m tmpfs "$OUT/full" 2>/dev/null; then
  trap 'umount "$OUT/full" 2>/dev/null' EXIT
  for stage in generate synthesize; do
    out="$OUT/full/$stage.h5" log="$OUT/$stage.full.log"
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    run 2 ${ARGS[$stage]} --out "$out" --no-space-check >"$log" 2>&1
    code=$?
    seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    errors=$(grep -c "^rank [0-9]*: " "$log")
    mount -o remount,size=256m "$OUT/full"
    # shellcheck disable=SC2086
    if run 2 ${ARGS[$stage]} --out "$out" --resume >>"$log" 2>&1 && same "$stage" "$OUT/$stage.reference.h5" "$out" >>"$log" 2>&1; then
      resumed="same"
    else
      resumed="no"
    fi
    verdict=ok
    { [ $code -ne 0 ] && [ "$errors" -ge 1 ] && [ "$resumed" = same ]; } || { verdict=FAILED; failures=$((failures + 1)); }
    disk_rows+=("| $stage | $code | $seconds | $(grep -m1 "^rank [0-9]*: " "$log" | cut -c1-110) | $resumed | $verdict |")
    say "$stage on a full disk: exit $code after $seconds s; resumed: $resumed ($verdict)"
    rm -f "$OUT/full/"*
    mount -o remount,size=6m "$OUT/full"
  done
fi

echo "| stage | fault | at | exit | every rank gone after (s) | --resume | verdict |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ ${#disk_rows[@]} -gt 0 ]; then
  echo
  echo "| stage (full disk) | exit | seconds | first error line | --resume after freeing space | verdict |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${disk_rows[@]}"
fi
[ $failures -eq 0 ] && echo "fault matrix: every case as expected" || { echo "fault matrix: $failures case(s) failed"; exit 1; }
