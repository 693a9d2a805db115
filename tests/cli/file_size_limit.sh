#!/usr/bin/env bash
# file_size_limit.sh KB COMMAND...: runs COMMAND unable to write a file past KB kilobytes
# (ulimit -f): a full disk, for a test that cannot fill a real one.
set -eu
ulimit -f "$1"
shift
exec "$@"
