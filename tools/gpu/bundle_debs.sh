#!/usr/bin/env bash
# The packages of tools/gpu/packages.txt for a GPU machine that has PyTorch, CUDA, CMake and a
# compiler but no package registry (tools/gpu/check.sh).
#
#   tools/gpu/bundle_debs.sh            HERE (Debian 12, apt works): resolve, download, unpack
#   tools/gpu/bundle_debs.sh --unpack   THERE (check.sh does it): unpack .gpu-debs/ only
#
# 1. resolves the listed packages plus the runtime libraries they depend on, recursively (the
#    `!` lines of packages.txt are never taken) and downloads them with `apt-get download`
#    (nothing is installed) into .gpu-debs/;
# 2. unpacks them with `dpkg -x` (or `ar` and `tar`) into .gpu-deps/ and makes that tree
#    relocatable (absolute symlinks made relative, pkg-config files relative to themselves);
# 3. drops what a build does not need (documentation, man pages, static libraries other than
#    GoogleTest's, Fortran files, Boost headers that boost/program_options.hpp does not reach);
# 4. prints the sizes. What travels to the GPU machine (64 MiB with the working tree) is
#    .gpu-debs/ (about 32 MiB); unpacked, .gpu-deps/ is about 60 MiB, too much beside the tree.
#
# Both folders are git-ignored. Running it again reuses the downloaded .debs.
set -euo pipefail
cd "$(dirname "$0")/../.."

LIST=tools/gpu/packages.txt
DEBS=.gpu-debs
DEPS=.gpu-deps
mode=${1:-all}
case $mode in all|--unpack) ;; *) echo "usage: $0 [--unpack]" >&2; exit 2 ;; esac

seeds=()
excludes=()
while read -r line; do
  line=${line%%#*}
  line=${line//[[:space:]]/}
  [ -n "$line" ] || continue
  case $line in
    '!'*) excludes+=("${line#!}") ;;
    *) seeds+=("$line") ;;
  esac
done < "$LIST"

excluded() {
  local pattern
  for pattern in "${excludes[@]}"; do
    # shellcheck disable=SC2053  # a glob on purpose
    [[ $1 == $pattern ]] && return 0
  done
  return 1
}

if [ "$mode" = all ]; then
  if ! apt-cache show "${seeds[0]}" > /dev/null 2>&1; then
    echo "bundle: no package lists yet: apt-get update"
    apt-get update -q
  fi

  # The dependencies of packages "$@", one a line: of each group of alternatives the first,
  # of a virtual package its first provider.
  dependencies() {
    apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
      --no-enhances "$@" | awk '
        /^[^ ]/ { provider = 0; next }
        $1 ~ /^\|?(Pre)?Depends:$/ {
          alternative = ($1 ~ /^\|/)
          provider = 0
          if (skip) { skip = alternative; next }   # a later member of an alternative group
          skip = alternative
          if ($2 ~ /^</) provider = 1; else print $2
          next
        }
        /^    / { if (provider) { print $1; provider = 0 } }'
  }

  # The closure: the seeds, and every runtime library (lib*, not -dev) any of them needs.
  declare -A take=()
  frontier=()
  for p in "${seeds[@]}"; do
    excluded "$p" && { echo "bundle: $p is both listed and excluded in $LIST" >&2; exit 1; }
    take[$p]=1
    frontier+=("$p")
  done
  while [ ${#frontier[@]} -gt 0 ]; do
    next=()
    while read -r dep; do
      if [ -z "$dep" ] || [ -n "${take[$dep]:-}" ]; then continue; fi
      case $dep in lib*-dev) continue ;; lib*) ;; *) continue ;; esac
      excluded "$dep" && continue
      take[$dep]=1
      next+=("$dep")
    done < <(dependencies "${frontier[@]}" | sort -u)
    frontier=("${next[@]}")
  done
  mapfile -t packages < <(printf '%s\n' "${!take[@]}" | sort)
  echo "bundle: ${#packages[@]} packages (${#seeds[@]} listed, the rest their runtime libraries)"

  mkdir -p "$DEBS"
  missing=()
  for p in "${packages[@]}"; do
    compgen -G "$DEBS/${p}_*.deb" > /dev/null || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bundle: downloading ${#missing[@]} .deb files into $DEBS/"
    (cd "$DEBS" && apt-get download -q "${missing[@]}")
  fi
  printf '%s\n' "${packages[@]}" > "$DEBS/packages.list"
  # .debs of packages no longer on the list would travel too: removed.
  for deb in "$DEBS"/*.deb; do
    name=${deb##*/}
    [ -n "${take[${name%%_*}]:-}" ] || rm -f "$deb"
  done
else
  [ -f "$DEBS/packages.list" ] || { echo "bundle: no $DEBS/packages.list: run $0 where apt works first" >&2; exit 1; }
  mapfile -t packages < "$DEBS/packages.list"
fi

# Only this list's files are unpacked (a .deb left from an older list is not).
debs=()
for p in "${packages[@]}"; do
  mapfile -t found < <(compgen -G "$DEBS/${p}_*.deb" | sort -V)
  [ ${#found[@]} -gt 0 ] || { echo "bundle: no .deb for $p in $DEBS/" >&2; exit 1; }
  debs+=("${found[-1]}")
done

# dpkg -x where there is dpkg; else the .deb's data member through ar and tar.
unpack() {
  if command -v dpkg-deb > /dev/null; then
    dpkg-deb -x "$1" "$DEPS"
    return
  fi
  local member z=()
  member=$(ar t "$1" | grep '^data\.tar')
  case $member in *.xz) z=(-J) ;; *.gz) z=(-z) ;; *.zst) z=(--zstd) ;; esac
  ar p "$1" "$member" | tar -x "${z[@]}" -f - -C "$DEPS"
}
rm -rf "$DEPS"
mkdir -p "$DEPS"
for deb in "${debs[@]}"; do unpack "$deb"; done
unpacked=$(du -sb "$DEPS" | cut -f1)

# Relocatable: absolute symlinks (e.g. /usr/lib/x86_64-linux-gnu/libfoo.so -> /usr/...)
# point into the bundle instead, relative to themselves.
while IFS= read -r -d '' link; do
  target=$(readlink "$link")
  case $target in /*) ln -sfnr "$DEPS$target" "$link" ;; esac
done < <(find "$DEPS" -type l -print0)
# pkg-config files: prefix=/usr becomes ${pcfiledir}/<up to usr>, and other absolute /usr
# paths in them follow ${prefix}.
while IFS= read -r -d '' pc; do
  up=$(realpath -m --relative-to="$(dirname "$pc")" "$DEPS/usr")
  # shellcheck disable=SC2016  # ${prefix} and ${pcfiledir} are pkg-config's
  sed -i -E -e "s|^prefix=/usr\$|prefix=\${pcfiledir}/$up|" -e 's|^([A-Za-z_]+)=/usr$|\1=${prefix}|' -e 's|=/usr/|=${prefix}/|' \
    -e 's| -I/usr/| -I${prefix}/|g' -e 's| -L/usr/| -L${prefix}/|g' "$pc"
done < <(find "$DEPS" -name '*.pc' -print0)

# What a build does not need.
rm -rf "$DEPS"/usr/share/{doc,man,info,lintian,bug,bash-completion} "$DEPS"/usr/src "$DEPS"/etc/apport
find "$DEPS" -name '*.a' ! -name 'libgtest*.a' ! -name 'libgmock*.a' -delete
rm -rf "$DEPS"/usr/lib/x86_64-linux-gnu/fortran           # Fortran modules, a copy of MPI's headers
# Boost: the headers boost/program_options.hpp reaches (in C++17 and C++20, under this
# compiler), and boost/config/ whole, which chooses headers by compiler and library.
compiler=$(command -v "${CXX:-g++}" || command -v c++ || true)
if [ -z "$compiler" ]; then
  echo "bundle: no C++ compiler: Boost's headers kept whole"
elif [ -f "$DEPS/usr/include/boost/program_options.hpp" ]; then
  keep=$(mktemp)
  for std in c++17 c++20; do
    echo '#include <boost/program_options.hpp>' |
      "$compiler" -std="$std" -M -MT x -I"$DEPS/usr/include" -x c++ - |
      grep -o "$DEPS/usr/include/boost/[^ ]*" | xargs realpath -s -m --relative-to=. >> "$keep"
  done
  find "$DEPS/usr/include/boost/config" -type f >> "$keep"
  sort -u -o "$keep" "$keep"
  before=$(find "$DEPS/usr/include/boost" -type f | wc -l)
  find "$DEPS/usr/include/boost" -type f -print | sort | comm -23 - "$keep" | xargs -r rm -f
  find "$DEPS/usr/include/boost" -type d -empty -delete
  echo "bundle: Boost headers kept: $(wc -l < "$keep") of $before"
  rm -f "$keep"
fi
find "$DEPS" -xtype l -delete                          # links to what was removed or not bundled

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
debs_bytes=$(du -cb "${debs[@]}" | tail -1 | cut -f1)
kept=$(du -sb "$DEPS" | cut -f1)
echo "bundle: $DEBS/: ${#debs[@]} .deb files, $(mib "$debs_bytes")"
echo "bundle: $DEPS/: $(mib "$unpacked") unpacked, $(mib "$kept") after pruning ($(find "$DEPS" -type f | wc -l) files)"
echo "bundle: done. Then, on the GPU machine, from the repository root with $DEBS/ carried: tools/gpu/check.sh"
