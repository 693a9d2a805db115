#!/usr/bin/env bash
# h5_same_contents.sh A.h5 B.h5 [OBJECT...]: passes when every dataset and attribute (or each
# OBJECT given) holds exactly the same values in both files (h5diff without tolerance), and
# the files do have datasets (an empty comparison fails).
set -eu
a=$1; b=$2; shift 2
h5ls "$a" | grep -q Dataset || { echo "no datasets in $a"; exit 1; }
if [ $# -eq 0 ]; then h5diff -r "$a" "$b"; fi
for object in "$@"; do h5diff -r "$a" "$b" "$object" "$object"; done
echo "identical: $a $b $*"
