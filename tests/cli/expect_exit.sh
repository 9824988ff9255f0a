#!/usr/bin/env bash
# expect_exit.sh CODE REGEX CMD...: run CMD; pass iff it exits with CODE, prints a line matching
# REGEX on stderr, and mofe reported it on exactly one line (one rank, no stack trace).
set -u
code=$1 regex=$2
shift 2
err=$(timeout 60 "$@" 2>&1 >/dev/null)
rc=$?
echo "exit code $rc; stderr:"; echo "$err"
[ "$rc" -eq "$code" ] || { echo "FAIL: expected exit code $code"; exit 1; }
echo "$err" | grep -Eq -- "$regex" || { echo "FAIL: no line matches /$regex/"; exit 1; }
n=$(echo "$err" | grep -cE '^(mofe: error|\[rank [0-9]+/[0-9]+)')
[ "$n" -eq 1 ] || { echo "FAIL: expected one error line from mofe, got $n"; exit 1; }
