#!/usr/bin/env bash
# tools/test_numerics.sh [VARIANT...]: the unit and MPI tests (every numerical tolerance of
# the suite, among them parity, ranks, training and k-means) under another CPU's arithmetic:
# oneDNN limited to an older instruction set, OpenBLAS on an older kernel, and a given thread
# count per process. A tolerance that holds only for this machine's rounding fails here.
#
# VARIANT is ISA:CORE:THREADS, e.g. AVX2:Haswell:2 (ONEDNN_MAX_CPU_ISA, OPENBLAS_CORETYPE,
# OMP_NUM_THREADS); `all` (the default) is AVX2:Haswell and SSE41:Sandybridge at 1 and 2
# threads. Needs a build (tools/build.sh; BUILD_DIR as there). One line per variant, then
# "N passed, N failed"; exit 1 when any variant failed (its log is named).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
[ -x "$BUILD_DIR/tests/styleseg_unit_tests" ] || { echo "test_numerics: no build in $BUILD_DIR (run tools/build.sh)" >&2; exit 2; }
variants=("$@")
if [ ${#variants[@]} -eq 0 ] || [ "${variants[0]}" = all ]; then
  variants=(AVX2:Haswell:1 AVX2:Haswell:2 SSE41:Sandybridge:1 SSE41:Sandybridge:2)
fi
logs=$(mktemp -d /tmp/styleseg_numerics.XXXXXX)
passed=0 failed=0
for variant in "${variants[@]}"; do
  IFS=: read -r isa core threads <<<"$variant"
  if [ -z "$isa" ] || [ -z "$core" ] || ! [[ $threads =~ ^[1-9][0-9]*$ ]]; then
    echo "test_numerics: '$variant' is not ISA:CORE:THREADS (e.g. AVX2:Haswell:2)" >&2
    exit 2
  fi
  log="$logs/${isa}_${core}_${threads}.log"
  start=$(date +%s)
  # As many tests at once as the cores hold at this thread count; passive OpenMP waiting, so
  # that MPI tests of 4 ranks x 2 threads on 2 cores do not spin against each other (it
  # changes no result).
  jobs=$(( $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) / threads )); [ "$jobs" -ge 1 ] || jobs=1
  if (cd "$BUILD_DIR" && ONEDNN_MAX_CPU_ISA=$isa OPENBLAS_CORETYPE=$core OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE \
        ctest -j "$jobs" -E '^(cli|slurm)\.' --output-on-failure) >"$log" 2>&1; then
    passed=$((passed + 1)); verdict=passed
  else
    failed=$((failed + 1)); verdict="FAILED (log: $log)"
  fi
  summary=$(grep -E 'tests passed|tests failed' "$log" | tail -1 || true)
  echo "numerics $variant: $verdict in $(( $(date +%s) - start )) s; $summary"
  grep -h '\[ numerics \]' "$BUILD_DIR/Testing/Temporary/LastTest.log" 2>/dev/null | sed 's/^/  /' || true
done
echo "numerics: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
