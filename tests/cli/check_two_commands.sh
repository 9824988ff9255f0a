#!/usr/bin/env bash
# check_two_commands.sh DIR : the README's test command after its main command. The main command
# (tools/run_tiny.sh) configures the build without tests; the test command (tools/run_tests.sh)
# must turn them on again in that same build directory, and ctest must refuse to pass when it
# finds no test (#11 item 22).
set -u
dir=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$dir"
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOFE_BUILD_TESTS=OFF > /dev/null \
  || fail "configure as run_tiny.sh does"
grep -q "MOFE_BUILD_TESTS:BOOL=OFF" "$dir/CMakeCache.txt" || fail "setup: tests not off"
BUILD_DIR=$dir MOFE_CONFIGURE_ONLY=1 bash "$root/tools/run_tests.sh" > "$dir/run_tests.log" 2>&1 \
  || { tail "$dir/run_tests.log"; fail "run_tests.sh did not configure"; }
grep -q "MOFE_BUILD_TESTS:BOOL=ON" "$dir/CMakeCache.txt" \
  || fail "run_tests.sh kept the cached MOFE_BUILD_TESTS=OFF: it would build and run no test"
n=$(cd "$dir" && ctest -N | grep -cE "Test +#")
[ "$n" -gt 0 ] || fail "no test is registered after run_tests.sh configured"
grep -q -- "--no-tests=error" "$root/tools/run_tests.sh" || fail "ctest would pass with no test"
grep -q "tools/run_tests.sh" "$root/.ci/run" || fail ".ci/run does not run the test command"
echo "PASS: $n tests registered"
