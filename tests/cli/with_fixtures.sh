#!/usr/bin/env bash
# with_fixtures.sh COMMAND...: runs COMMAND with the reference fixtures folder
# (STYLESEG_FIXTURES, else ../shared/fixtures beside the repo) in its arguments, wherever one
# says @FIXTURES@, and in $FIXTURES for scripts. When the folder is absent the test is skipped
# (exit 77), or fails under CI=true.
set -eu
FIXTURES=${STYLESEG_FIXTURES:-$STYLESEG_SOURCE_DIR/../shared/fixtures}
if [ ! -d "$FIXTURES" ]; then
  echo "reference fixtures not found at $FIXTURES (set STYLESEG_FIXTURES)"
  [ "${CI:-}" = true ] && exit 1
  exit 77
fi
export FIXTURES
command=()
for arg in "$@"; do command+=("${arg//@FIXTURES@/$FIXTURES}"); done
exec "${command[@]}"
