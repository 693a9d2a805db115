#!/usr/bin/env bash
# Installs what is missing, builds (Release) and runs every test: unit tests, MPI tests at
# 1, 2 and 4 ranks, and end-to-end CLI tests. Ends with ctest's own summary line.
#
# With no arguments it first runs the unit and MPI tests once more under another CPU's
# arithmetic (tools/test_numerics.sh; STYLESEG_NUMERICS=VARIANT... chooses, `all` the four
# variants, `none` skips), so that no tolerance depends on this machine's rounding.
# Arguments go to ctest (e.g. -R kmeans) and skip that step.
#
# With no arguments it ends by running every fuzz target for STYLESEG_FUZZ_SECONDS (30) on
# its corpus under ASan + UBSan (tools/fuzz.sh; 0 skips).
#
# --no-setup as the first argument (or STYLESEG_NO_SETUP=1) skips tools/setup.sh, which
# installs with apt: for a machine without root whose dependencies come from modules
# (README: "Building on a cluster"; tools/build.sh takes their locations from the environment).
#
# --sanitize (after --no-setup when both are given) builds the unit, MPI and fuzz-replay
# tests with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan and runs them
# there instead (README "Hostile files": what it found, how long it takes).
set -euo pipefail
cd "$(dirname "$0")/.."
no_setup=${STYLESEG_NO_SETUP:-0}
if [ "${1:-}" = --no-setup ]; then
  no_setup=1
  shift
fi
sanitize=0
if [ "${1:-}" = --sanitize ]; then
  sanitize=1
  shift
fi
[ "$no_setup" = 1 ] || tools/setup.sh
# GNU nproc obeys OMP_NUM_THREADS, which is 1 below: count the cores before.
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
if [ "$sanitize" = 1 ]; then
  start=$(date +%s)
  targets=(styleseg_unit_tests styleseg_mpi_tests fuzz_replay)
  BUILD_DIR=${BUILD_DIR:-build-asan} CMAKE_ARGS="${CMAKE_ARGS:-} -DSTYLESEG_SANITIZE=ON -DSTYLESEG_BUILD_BENCH=OFF" \
    tools/build.sh --target "${targets[@]}"
  echo "sanitizer build: $(( $(date +%s) - start )) s"
  cd "${BUILD_DIR:-build-asan}"
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
  # Leaks inside OpenMPI's and hwloc's own start-up are theirs (tools/sanitizer/lsan.supp);
  # its plugins stay loaded and stacks are unwound in full, so that the suppressions can match.
  export OMPI_MCA_mca_base_component_disable_dlclose=1
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/../tools/sanitizer/lsan.supp:print_suppressions=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  ctest --output-on-failure -j "$cores" -E '^(cli|slurm)\.' "$@"
  exit
fi
start=$(date +%s)
tools/build.sh
echo "build: $(( $(date +%s) - start )) s"
numerics_rc=0
if [ $# -eq 0 ] && [ "${STYLESEG_NUMERICS:-}" != none ]; then
  # shellcheck disable=SC2086  # a list of variants
  tools/test_numerics.sh ${STYLESEG_NUMERICS:-SSE41:Sandybridge:2} || numerics_rc=$?
fi
fuzz_rc=0
if [ $# -eq 0 ] && [ "${STYLESEG_FUZZ_SECONDS:-30}" != 0 ]; then
  tools/fuzz.sh all "${STYLESEG_FUZZ_SECONDS:-30}" || fuzz_rc=$?
fi
cd "${BUILD_DIR:-build}"
# One rank per test process is enough for unit tests; MPI tests set their own ranks.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
ctest_rc=0
ctest --output-on-failure -j "$cores" "$@" || ctest_rc=$?
[ "$numerics_rc" -eq 0 ] || echo "test.sh: the numerics variant failed (above)" >&2
[ "$fuzz_rc" -eq 0 ] || echo "test.sh: a fuzz target found a problem (above)" >&2
[ "$ctest_rc" -eq 0 ] && [ "$numerics_rc" -eq 0 ] && [ "$fuzz_rc" -eq 0 ]
