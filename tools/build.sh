#!/usr/bin/env bash
# Configures and builds styleseg (Release) into ${BUILD_DIR:-build}. Extra arguments go to
# `cmake --build` (e.g. --target styleseg); `--configure-only` as the first argument stops
# after the configure step.
#
# Where the dependencies are not in the system's default places (a cluster without root:
# modules, Spack, PyTorch's wheel), say so through the environment; each one that is set is
# passed to cmake as -D:
#   CMAKE_PREFIX_PATH   prefixes to search, ':' or ';' between them (PyTorch's
#                       `python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'`, ...)
#   Torch_DIR           the folder of TorchConfig.cmake
#   HDF5_ROOT           the parallel HDF5's prefix (the one holding include/hdf5.h, lib/libhdf5.so)
#   MPI_HOME            the MPI's prefix (the one holding bin/mpicc, bin/mpiexec)
#   CMAKE_ARGS          any other cmake arguments, split at spaces
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
configure_only=0
if [ "${1:-}" = --configure-only ]; then
  configure_only=1
  shift
fi
args=(-DCMAKE_BUILD_TYPE=Release)
# CMake lists use ';'; module systems write the variable with ':'.
[ -z "${CMAKE_PREFIX_PATH:-}" ] || args+=("-DCMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH//:/;}")
for var in Torch_DIR HDF5_ROOT MPI_HOME; do
  [ -z "${!var:-}" ] || args+=("-D$var=${!var}")
done
# shellcheck disable=SC2086  # CMAKE_ARGS is a list of arguments
cmake -S . -B "$BUILD_DIR" "${args[@]}" ${CMAKE_ARGS:-} >/dev/null
[ "$configure_only" -eq 0 ] || exit 0
cmake --build "$BUILD_DIR" -j "$JOBS" "$@"
