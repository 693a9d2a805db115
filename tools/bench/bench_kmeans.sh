#!/usr/bin/env bash
# Side-by-side k-means benchmark: `styleseg cluster` (1 and 2 MPI ranks) against FAISS and
# scikit-learn on the same HDF5 files, same K, same machine, in one run. Installs the Python
# packages it needs when missing, then hands over to bench_kmeans.py (options: --help;
# --quick for a short trial). Outputs and cached data sets go to $OUT.
#
#   tools/bench/bench_kmeans.sh --quick
#   BIN=build/styleseg OUT=out/bench/kmeans tools/bench/bench_kmeans.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${BIN:-build/styleseg}
OUT=${OUT:-out/bench/kmeans}

source tools/bench/packages.sh
ensure_packages python3-faiss python3-sklearn python3-h5py python3-numpy

# The Debian packages live in the system interpreter; the first python3 on PATH may be
# another one (pyenv) without them.
exec /usr/bin/python3 tools/bench/bench_kmeans.py --bin "$BIN" --out "$OUT" "$@"
