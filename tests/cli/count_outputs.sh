#!/usr/bin/env bash
# count_outputs.sh PATTERN...: prints, on one line, how many files each glob PATTERN matches.
set -u
counts=()
for pattern in "$@"; do
  shopt -s nullglob
  matches=($pattern)
  counts+=(${#matches[@]})
done
echo "${counts[*]}"
