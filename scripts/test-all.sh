#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The one test command: install what is missing, build with -Werror, and run every suite:
# unit (plain and under ASan+UBSan), fuzz (each libFuzzer target, bounded), host (root,
# io_uring/BPF on the host kernel) and vm (real cgroup v2 kernel under qemu). Ends with
# "N passed, N failed, N skipped".
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/install-deps.sh || { echo "test-all: installing dependencies failed" >&2; exit 1; }

set -e
# The test build compiles in the agent's crash points (read only from SILO_TEST_CRASH_AT), so
# the recovery suite can kill the agent in the middle of a launch.
if [ -d build/meson-private ]; then
    meson configure build -Dtest_crash_points=true
else
    meson setup build --werror -Dtest_crash_points=true
fi
ninja -C build
[ -d build-sanitize/meson-private ] || \
    meson setup build-sanitize --werror -Db_sanitize=address,undefined -Db_lundef=false -Dvm_tests=false
ninja -C build-sanitize
# The libFuzzer targets: clang, their own build dir (tests/fuzz/README.md).
scripts/fuzz-build.sh
set +e

passed=0 failed=0 skipped=0
run_suite() {
    local dir=$1 suite=$2 log
    shift 2
    echo "=== suite $suite ($dir) ==="
    log=$(mktemp)
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
        meson test -C "$dir" --suite "$suite" --print-errorlogs "$@" 2>&1 | tee "$log"
    local ok fail skip tout
    ok=$(awk '/^Ok:/ {print $2}' "$log"); fail=$(awk '/^Fail:/ {print $2}' "$log")
    skip=$(awk '/^Skipped:/ {print $2}' "$log"); tout=$(awk '/^Timeout:/ {print $2}' "$log")
    if [ -z "$ok" ]; then
        if grep -q "No suitable tests defined" "$log"; then ok=0 fail=0 skip=0 tout=0;
        else ok=0 fail=1 skip=0 tout=0; fi
    fi
    passed=$((passed + ok)); failed=$((failed + fail + ${tout:-0})); skipped=$((skipped + skip))
    rm -f "$log"
}

run_suite build unit
run_suite build-sanitize unit
# Each target for $SILO_FUZZ_SECONDS (5) on its corpus: one test each, one per core at a
# time (on two cores about 25 s instead of 49 s one by one; the clang build is 28 s of CPU).
SILO_FUZZ_SECONDS=${SILO_FUZZ_SECONDS:-5} run_suite build-fuzz fuzz
run_suite build host --num-processes 1
run_suite build vm --num-processes 1

echo "test-all: logs in $ROOT/build/meson-logs and $ROOT/build-sanitize/meson-logs"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
