#!/usr/bin/env bash
# Configures and builds styleseg (Release) into ${BUILD_DIR:-build}. Extra arguments go to
# `cmake --build` (e.g. --target styleseg).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" "$@"
