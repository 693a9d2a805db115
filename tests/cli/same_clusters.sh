#!/usr/bin/env bash
# same_clusters.sh A.h5 B.h5: two clusters files hold the same k-means result: centroids
# (and the space map, when A has one) within 1e-6 relative, as float64 sums over ranks allow,
# and exactly the same counts. Prints "same".
set -eu
h5diff -p 1e-6 "$1" "$2" /centroids
if h5ls "$1/space_map" > /dev/null 2>&1; then h5diff -p 1e-6 "$1" "$2" /space_map; fi
h5diff "$1" "$2" /counts
echo same
