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

PACKAGES=(python3-faiss python3-sklearn python3-h5py python3-numpy)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh container has no package lists; only update when the install cannot proceed.
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"; }
fi

# The Debian packages live in the system interpreter; the first python3 on PATH may be
# another one (pyenv) without them.
exec /usr/bin/python3 tools/bench/bench_kmeans.py --bin "$BIN" --out "$OUT" "$@"
