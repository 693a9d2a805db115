#!/usr/bin/env bash
# expect.sh EXIT REGEX -- COMMAND...
# Runs COMMAND (with a time limit, so a hang fails); passes when its exit code is EXIT
# ("nonzero" for any failure) and its output (stdout and stderr, as one text) matches REGEX.
set -u
want=$1; regex=$2; shift 3
out=$(timeout 120 "$@" 2>&1); code=$?
echo "$out"
if [ $code -eq 124 ]; then echo "expect.sh: command hung (killed after 120 s)"; exit 1; fi
if [ "$want" = nonzero ]; then
  [ $code -ne 0 ] || { echo "expect.sh: expected a failure, got exit 0"; exit 1; }
else
  [ $code -eq "$want" ] || { echo "expect.sh: expected exit $want, got $code"; exit 1; }
fi
# Bash's own extended regex over the whole output: '.' and '\n' in REGEX span lines.
[[ $out =~ $regex ]] || { echo "expect.sh: output does not match /$regex/"; exit 1; }
echo "expect.sh: ok (exit $code)"
