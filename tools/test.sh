#!/usr/bin/env bash
# Installs what is missing, builds (Release) and runs every test: unit tests, MPI tests at
# 1, 2 and 4 ranks, and end-to-end CLI tests. Ends with ctest's own summary line.
#
# With no arguments it first runs the unit and MPI tests once more under another CPU's
# arithmetic (tools/test_numerics.sh; STYLESEG_NUMERICS=VARIANT... chooses, `all` the four
# variants, `none` skips), so that no tolerance depends on this machine's rounding.
# Arguments go to ctest (e.g. -R kmeans) and skip that step.
#
# --no-setup as the first argument (or STYLESEG_NO_SETUP=1) skips tools/setup.sh, which
# installs with apt: for a machine without root whose dependencies come from modules
# (README: "Building on a cluster"; tools/build.sh takes their locations from the environment).
set -euo pipefail
cd "$(dirname "$0")/.."
no_setup=${STYLESEG_NO_SETUP:-0}
if [ "${1:-}" = --no-setup ]; then
  no_setup=1
  shift
fi
[ "$no_setup" = 1 ] || tools/setup.sh
start=$(date +%s)
tools/build.sh
echo "build: $(( $(date +%s) - start )) s"
numerics_rc=0
if [ $# -eq 0 ] && [ "${STYLESEG_NUMERICS:-}" != none ]; then
  # shellcheck disable=SC2086  # a list of variants
  tools/test_numerics.sh ${STYLESEG_NUMERICS:-SSE41:Sandybridge:2} || numerics_rc=$?
fi
# GNU nproc obeys OMP_NUM_THREADS, which is 1 below: count the cores before.
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
cd "${BUILD_DIR:-build}"
# One rank per test process is enough for unit tests; MPI tests set their own ranks.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
ctest_rc=0
ctest --output-on-failure -j "$cores" "$@" || ctest_rc=$?
[ "$numerics_rc" -eq 0 ] || echo "test.sh: the numerics variant failed (above)" >&2
[ "$ctest_rc" -eq 0 ] && [ "$numerics_rc" -eq 0 ]
