#!/usr/bin/env bash
# fresh.sh PATH... -- COMMAND...
# Removes each PATH and everything whose name begins with it (PATH.tmp.partial, a folder's
# contents), then runs COMMAND: a test that writes PATH starts from nothing, whatever an
# earlier run of it left.
set -eu
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  rm -rf -- "$1" "$1".*
  shift
done
[ $# -gt 1 ] || { echo "usage: fresh.sh PATH... -- COMMAND..."; exit 2; }
shift
exec "$@"
