#!/usr/bin/env bash
# ctest cli.cluster_build_configure: the cluster recipe of the README ("Building on a
# cluster") on this machine. tools/build.sh --configure-only runs in a clean environment
# (`env -i`) with the dependencies named only through CMAKE_PREFIX_PATH, Torch_DIR, HDF5_ROOT
# and MPI_HOME, and the PATH holds no MPI or HDF5 compiler wrapper or launcher (a cluster
# has them only after `module load`). Configure only, no build; then CMakeCache.txt must
# record the locations that were passed:
#   Torch_DIR            = the Torch_DIR given
#   CMAKE_PREFIX_PATH    = the ':'-separated list given, as a CMake list
#   HDF5 include, library under HDF5_ROOT (which FindHDF5 searches alone when it is set),
#                        and parallel
#   MPI launcher, C and C++ wrappers under MPI_HOME/bin. Debian's OpenMPI has no prefix of
#                        its own (its wrappers are /usr/bin/mpicc.openmpi ...), so the test
#                        makes one of links, as an MPI module's prefix looks: bin/mpicc ...
#
#   tests/cli/cluster_configure.sh SOURCE_DIR SCRATCH_DIR
# Locations can be overridden: STYLESEG_TEST_TORCH_DIR, STYLESEG_TEST_HDF5_ROOT.
set -euo pipefail
src=$(cd "$1" && pwd)
scratch=$2
rm -rf "$scratch"
mkdir -p "$scratch/bin" "$scratch/openmpi/bin" "$scratch/home"
scratch=$(cd "$scratch" && pwd)

torch_dir=${STYLESEG_TEST_TORCH_DIR:-}
if [ -z "$torch_dir" ]; then
  config=$(dpkg -L libtorch-dev 2>/dev/null | grep '/TorchConfig\.cmake$' | head -1 || true)
  [ -n "$config" ] || { echo "no TorchConfig.cmake from libtorch-dev: set STYLESEG_TEST_TORCH_DIR" >&2; exit 1; }
  torch_dir=$(dirname "$config")
fi
hdf5_root=${STYLESEG_TEST_HDF5_ROOT:-/usr/lib/x86_64-linux-gnu/hdf5/openmpi}
prefix_path=/usr/lib/x86_64-linux-gnu/cmake:/usr/share/cmake

# The module-style MPI prefix.
for tool in mpicc mpicxx mpiexec mpirun; do
  target=$(command -v "$tool.openmpi" || true)
  [ -n "$target" ] || { echo "no $tool.openmpi (Debian's openmpi-bin, libopenmpi-dev)" >&2; exit 1; }
  ln -s "$target" "$scratch/openmpi/bin/$tool"
done
# PATH: everything in /usr/bin but MPI's and HDF5's wrappers and launchers.
for f in /usr/bin/*; do
  name=${f##*/}
  case $name in mpi* | orte* | ompi* | opal* | osh* | shmem* | h5*) continue ;; esac
  ln -s "$f" "$scratch/bin/$name"
done

echo "configuring $src in $scratch/build with"
echo "  CMAKE_PREFIX_PATH=$prefix_path"
echo "  Torch_DIR=$torch_dir"
echo "  HDF5_ROOT=$hdf5_root"
echo "  MPI_HOME=$scratch/openmpi"
env -i PATH="$scratch/bin" HOME="$scratch/home" BUILD_DIR="$scratch/build" \
  CMAKE_PREFIX_PATH="$prefix_path" Torch_DIR="$torch_dir" HDF5_ROOT="$hdf5_root" MPI_HOME="$scratch/openmpi" \
  "$src/tools/build.sh" --configure-only

cache=$scratch/build/CMakeCache.txt
failed=0
# expect NAME REGEX: the cache entry NAME (any type) matches REGEX (anchored).
expect() {
  local value
  value=$(grep -m1 "^$1:[A-Z]*=" "$cache" | cut -d= -f2- || true)
  if [[ $value =~ ^$2$ ]]; then
    echo "ok: $1=$value"
  else
    echo "FAILED: $1 is '$value', expected /^$2\$/" >&2
    failed=1
  fi
}
quote() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g'; }
expect Torch_DIR "$(quote "$torch_dir")"
expect CMAKE_PREFIX_PATH "$(quote "${prefix_path//:/;}")"
expect HDF5_ROOT "$(quote "$hdf5_root")"
expect HDF5_C_INCLUDE_DIR "$(quote "$hdf5_root")/include"
expect HDF5_hdf5_LIBRARY_RELEASE "$(quote "$hdf5_root")/(lib/)?libhdf5\.so"
expect HDF5_IS_PARALLEL "(TRUE|ON|1)"
expect MPI_HOME "$(quote "$scratch/openmpi")"
expect MPIEXEC_EXECUTABLE "$(quote "$scratch/openmpi")/bin/mpi(exec|run)"
expect MPI_C_COMPILER "$(quote "$scratch/openmpi")/bin/mpicc"
expect MPI_CXX_COMPILER "$(quote "$scratch/openmpi")/bin/mpicxx"
[ "$failed" -eq 0 ] || exit 1
echo "cluster configure: every dependency found through the variables"
