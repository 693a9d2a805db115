#!/usr/bin/env bash
# in_turn.sh [--may-fail] COMMAND... [--then [--may-fail] COMMAND...]...
# Runs the commands one after another, as a shell's `a && b` would, and exits with the first
# failing command's code; a command marked --may-fail may fail (a run stopped on purpose).
# CMake passes each command as a list, so no test needs a shell line of its own.
set -u
run() {
  local may_fail=0
  if [ "$1" = --may-fail ]; then may_fail=1; shift; fi
  "$@"
  local code=$?
  if [ $code -ne 0 ] && [ $may_fail -eq 0 ]; then exit $code; fi
}
command=()
for arg in "$@"; do
  if [ "$arg" = --then ]; then
    run "${command[@]}"
    command=()
  else
    command+=("$arg")
  fi
done
[ ${#command[@]} -gt 0 ] && run "${command[@]}"
exit 0
