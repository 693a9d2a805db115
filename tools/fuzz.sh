#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, AddressSanitizer + UndefinedBehavior-
# Sanitizer) and runs them (README "Hostile files").
#
#   tools/fuzz.sh TARGET SECONDS [libFuzzer options]   one target, e.g. tools/fuzz.sh torch_file 600
#   tools/fuzz.sh all SECONDS                           every target in turn (CI: 30 s each)
#   tools/fuzz.sh --list                                the targets
#
# Corpus: tests/fuzz/corpus/TARGET (committed seeds and former findings) and the fixtures'
# small checkpoints when present, copied into $FUZZ_BUILD_DIR/corpus/TARGET, where runs keep
# what they find (not committed). A finding - a crash, leak, undefined behaviour, hang
# (-timeout), allocation over -malloc_limit_mb, or an exception that is not a styleseg::Error
# (tests/fuzz/fuzz_input.h) - is saved under $FUZZ_BUILD_DIR/findings/TARGET/ and the script
# exits 1. Fix it, then keep the input in tests/fuzz/corpus/TARGET/ as regress_<what>: the
# normal suite replays every file there (ctest -R fuzz_replay).
#
# Prints one line per target: executions, seconds, executions per second, and libFuzzer's
# coverage counts (cov: instrumented edges reached; ft: features), also appended to
# $FUZZ_BUILD_DIR/results.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
fixtures=${STYLESEG_FIXTURES:-$root/../shared/fixtures}
targets=$(cd tests/fuzz && ls ./*.cpp | sed 's|^\./||; s|\.cpp$||' | grep -vx 'fuzz_input\|replay_main')

if [ "${1:-}" = --list ]; then
  echo "$targets"
  exit 0
fi
if [ $# -lt 2 ]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
target=$1
seconds=$2
shift 2

clang_version() { for v in 16 15 14; do command -v "clang++-$v" >/dev/null && { echo "$v"; return; }; done; echo ""; }
build_targets() {
  local v
  v=$(clang_version)
  if [ -z "$v" ] && ! command -v clang++ >/dev/null; then
    echo "fuzz.sh: clang not found (Debian: clang libclang-rt-dev; tools/setup.sh installs them)" >&2
    exit 2
  fi
  if [ ! -f "$build/CMakeCache.txt" ]; then
    mkdir -p "$build"
    CC=clang${v:+-$v} CXX=clang++${v:+-$v} cmake -S "$root" -B "$build" -DSTYLESEG_FUZZ=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 ||
      { cat "$build/configure.log" >&2; exit 2; }
  fi
  cmake --build "$build" -j "$(env -u OMP_NUM_THREADS nproc)" >"$build/build.log" 2>&1 ||
    { tail -40 "$build/build.log" >&2; exit 2; }
}

# Seeds beyond the committed ones: the fixtures' small checkpoints (not copied into the repo).
extra_seeds() {
  case $1 in
    torch_file | generator_checkpoint)
      find "$fixtures" -name '*.pt' -path '*stylegan2*' -size -1024k 2>/dev/null || true ;;
  esac
}

run_target() {
  local name=$1 corpus=$build/corpus/$1 findings=$build/findings/$1 log=$build/logs/$1.log
  shift  # the rest: libFuzzer options
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  cp -n tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
  extra_seeds "$name" | while read -r f; do cp -n "$f" "$corpus/fixture_$(basename "$(dirname "$f")")_$(basename "$f")"; done
  local start rc=0
  start=$(date +%s)
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  STYLESEG_FIXTURES=$fixtures "$build/tests/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=25 \
    -rss_limit_mb=4096 -malloc_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$findings/" \
    "$@" "$corpus" >"$log" 2>&1 || rc=$?
  local took runs cov
  took=$(( $(date +%s) - start ))
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || echo "cov: ? ft: ?")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$name" "${runs:-0}" "$took" "$cov" "rc=$rc" >>"$build/results.tsv"
  printf 'fuzz %-22s %10s executions in %5s s (%s/s)  %s\n' "$name" "${runs:-0}" "$took" \
    "$(( ${runs:-0} / (took > 0 ? took : 1) ))" "$cov"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz.sh: $name found a problem (exit $rc); input under $findings/, log $log:" >&2
    grep -E 'ERROR|SUMMARY|styleseg fuzz finding|SKIPPED' "$log" | head -5 >&2
    [ "$rc" -eq 77 ] && return 0  # the target skipped itself (fixtures missing outside CI)
    return 1
  fi
}

build_targets
status=0
if [ "$target" = all ]; then
  for name in $targets; do run_target "$name" "$@" || status=1; done
else
  echo "$targets" | grep -qx "$target" || { echo "fuzz.sh: no target '$target' (tools/fuzz.sh --list)" >&2; exit 2; }
  run_target "$target" "$@" || status=1
fi
exit $status
