#!/usr/bin/env bash
# Installs what is missing, builds (Release) and runs every test: unit tests, MPI tests at
# 1, 2 and 4 ranks, and end-to-end CLI tests. Ends with ctest's own summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
start=$(date +%s)
tools/build.sh
echo "build: $(( $(date +%s) - start )) s"
cd "${BUILD_DIR:-build}"
# One rank per test process is enough for unit tests; MPI tests set their own ranks.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
ctest --output-on-failure -j "$(nproc)" "$@"
