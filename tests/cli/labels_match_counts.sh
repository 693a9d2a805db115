#!/usr/bin/env bash
# labels_match_counts.sh CLUSTERS.h5 LABELS.h5: passes when the labels `assign` gave the
# clustered samples (the fixed set, same options) fall in each cluster as often as the
# counts `cluster` stored: assignment sees the features exactly as k-means did (the same
# layer, size and cluster space).
set -eu
values() { h5dump -y -w 0 -d "$2" "$1" | sed -n '/DATA {/,/}/p' | grep -o '[0-9][0-9]*'; }
counts=$(values "$1" /counts | tr '\n' ' ')
histogram=$(values "$2" /labels | sort -n | uniq -c |
  awk -v k="$(echo "$counts" | wc -w)" '{ n[$2] = $1 } END { for (i = 0; i < k; ++i) printf "%d ", n[i] + 0 }')
[ -n "$counts" ] || { echo "no counts in $1"; exit 1; }
if [ "$counts" = "$histogram" ]; then echo "labels match counts: $counts"; else echo "counts $counts, labels $histogram"; exit 1; fi
