#!/usr/bin/env bash
# Installs the Debian 12 packages styleseg builds with, when missing. Idempotent; run as
# root (or with sudo available). Used by tools/test.sh and tools/demo.sh.
set -euo pipefail

PACKAGES=(
  cmake g++ make ccache pkg-config
  libtorch-dev libopenblas0-openmp           # LibTorch 1.13 (CPU); OpenBLAS instead of the reference BLAS (PLATFORM.md)
  libopenmpi-dev openmpi-bin                 # MPI
  libhdf5-openmpi-dev hdf5-tools             # parallel HDF5 (C API) and h5dump/h5diff
  libboost-program-options-dev               # command line and job files
  libgtest-dev libgmock-dev                  # tests
  libspdlog-dev nlohmann-json3-dev libstb-dev  # logging, JSON attributes, PNG output
  libpng-dev libjpeg62-turbo-dev             # reading PNG and JPEG (io/image_decode.h)
  clang libclang-rt-dev                      # fuzz targets (tools/fuzz.sh: libFuzzer, sanitizers)
  libpcre2-dev zlib1g-dev                    # CLIP tokenizer: Unicode regex split, gzip BPE merges
  chromium                                   # headless: checks that report.html renders (tests/cli)
  python3-h5py                               # tests/cli: reads outputs independently of styleseg's reader
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
