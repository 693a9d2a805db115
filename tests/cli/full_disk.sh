#!/usr/bin/env bash
# full_disk.sh STYLESEG GENERATOR.pt DIR "MPIRUN LINE": generate into a full file system
# (a 1 MiB tmpfs) on 1 process and on 2 ranks ends with one error naming the file, exit 4
# (no crash in MPI_Finalize), and leaves no temporary file; the same command succeeds once
# there is room; k-means' scratch spill is not made where it does not fit, and the clusters
# are the same. Skipped (77) where this process may not mount a tmpfs.
set -u
S=$1; G=$2; D=$3; MPIRUN=$4
rm -rf "$D" && mkdir -p "$D/full"
mount -t tmpfs -o size=1m tmpfs "$D/full" 2>/dev/null || { echo "skipped: cannot mount a tmpfs here (needs root)"; exit 77; }
trap 'umount "$D/full" 2>/dev/null' EXIT
fails=0
GEN=(generate --checkpoint "$G" --count 200 --batch 8 --seed 5 --feature-layer 3)
for ranks in 1 2; do
  launch=("$S"); [ "$ranks" = 1 ] || launch=($MPIRUN 2 "$S")
  out=$(timeout 120 "${launch[@]}" "${GEN[@]}" --out "$D/full/g$ranks.h5" 2>&1); code=$?
  left=$(ls "$D/full")
  if [ $code -eq 4 ] && grep -q "g$ranks.h5" <<<"$out" && [ -z "$left" ]; then
    echo "ok: $ranks rank(s): exit 4, the file named, nothing left"
  else
    echo "FAILED: $ranks rank(s): exit $code (wanted 4), left '$left'"; echo "$out" | tail -4; fails=$((fails + 1))
  fi
done
# k-means' scratch spill on the full tmpfs: not made, said with both figures, the same clusters.
"$S" generate --checkpoint "$G" --count 64 --batch 8 --seed 5 --feature-layer 3 --out "$D/features.h5" >/dev/null 2>&1
KM=(cluster --features "$D/features.h5" --clusters 3 --iterations 4 --seed 1 --cache-mb 0)
out=$(timeout 120 "$S" "${KM[@]}" --scratch "$D/full" --out "$D/spill.h5" 2>&1); code=$?
"$S" "${KM[@]}" --out "$D/no_spill.h5" >/dev/null 2>&1
if [ $code -eq 0 ] && grep -Eq "does not fit in the scratch folder .*full \([0-9.]+ [kMG]?B free\)" <<<"$out" &&
   h5diff -q "$D/spill.h5" "$D/no_spill.h5" /centroids /centroids; then
  echo "ok: a spill that does not fit in scratch is not made, the clusters the same"
else
  echo "FAILED: cluster with a full scratch: exit $code"; echo "$out" | tail -3; fails=$((fails + 1))
fi
mount -o remount,size=64m "$D/full"
timeout 120 "$S" "${GEN[@]}" --out "$D/full/g1.h5" >/dev/null 2>&1 && echo "ok: with room the same command succeeds" ||
  { echo "FAILED: with room the command failed"; fails=$((fails + 1)); }
[ $fails -eq 0 ] && echo "full disk: all cases hold" || exit 1
