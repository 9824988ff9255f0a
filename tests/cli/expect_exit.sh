#!/usr/bin/env bash
# expect_exit.sh CODE REGEX CMD...: run CMD; pass iff it exits with CODE, prints a line matching
# REGEX on stderr, and that message is a single line (no stack trace, no MPI abort banner).
set -u
code=$1 regex=$2
shift 2
err=$(timeout 60 "$@" 2>&1 >/dev/null)
rc=$?
echo "exit code $rc; stderr:"; echo "$err"
[ "$rc" -eq "$code" ] || { echo "FAIL: expected exit code $code"; exit 1; }
echo "$err" | grep -Eq -- "$regex" || { echo "FAIL: no line matches /$regex/"; exit 1; }
n=$(echo "$err" | grep -c 'error')
[ "$n" -eq 1 ] || { echo "FAIL: expected one error line, got $n"; exit 1; }
