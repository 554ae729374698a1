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
# meson test SUITE in DIR (extra args after).
run_meson() {
    local dir=$1 suite=$2
    shift 2
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
        meson test -C "$dir" --suite "$suite" --print-errorlogs "$@" 2>&1
}
# Adds a finished run's counts (meson's summary at the end of LOG) to the totals; a run that
# printed no summary counts as one failure.
count() {
    local log=$1 ok fail skip tout
    ok=$(awk '/^Ok:/ {print $2}' "$log"); fail=$(awk '/^Fail:/ {print $2}' "$log")
    skip=$(awk '/^Skipped:/ {print $2}' "$log"); tout=$(awk '/^Timeout:/ {print $2}' "$log")
    if [ -z "$ok" ]; then
        if grep -q "No suitable tests defined" "$log"; then ok=0 fail=0 skip=0 tout=0;
        else
            ok=0 fail=1 skip=0 tout=0
            echo "  $(basename "$log" .log): meson printed no summary (counted as one failure)" >>"$logs/synthetic.log"
        fi
    fi
    passed=$((passed + ok)); failed=$((failed + fail + ${tout:-0})); skipped=$((skipped + skip))
}
logs=$(mktemp -d)
host_pid=""
# The background host run (below) is its own process group: whatever ends this script early
# (a CI timeout or cancel, ^C) ends it too, with its etcds, masters and loop devices' owners,
# instead of leaving it running with its log deleted under it.
trap '[ -z "$host_pid" ] || kill -TERM -- "-$host_pid" 2>/dev/null; rm -rf "$logs"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
run_suite() {
    local dir=$1 suite=$2
    shift 2
    echo "=== suite $suite ($dir) ==="
    run_meson "$dir" "$suite" "$@" | tee "$logs/$dir-$suite.log"
    count "$logs/$dir-$suite.log"
}

run_suite build unit
run_suite build-sanitize unit
# Each target for $SILO_FUZZ_SECONDS (5) on its corpus: one test each, one per core at a
# time (on two cores about 25 s instead of 49 s one by one; the clang build is 28 s of CPU).
SILO_FUZZ_SECONDS=${SILO_FUZZ_SECONDS:-5} run_suite build-fuzz fuzz

# The host suites run while the VM suites that measure no rate run: they mostly wait (etcd
# leases, timers, sockets: 492 s of CPU in 781 s next to other TCG guests, 0.63 of a core), and
# a TCG guest used 0.8 of the two cores on average, so running them one after the other cost
# their whole wall time again. They run under nice 10, so qemu gets the CPU when both want it.
# The VM suites whose checks are rates or short times (suite vm-quiet: a writer within 10 % of
# io.max, pgbench figures, answers under a flood; tests/vm/meson.build says which) run after
# the host suites are over: next to them a guest's writer got 0.88 of its io.max and a CI run
# failed. The end prints both runs' figures. Each run keeps its own meson log (--logbase) and
# prints when it is over; nothing is rebuilt (both would run ninja in the same directory at
# once). The Debian packages are built first, once: the host "packages" suite and vm-packages
# would otherwise both build them into the same directory at once.
ninja -C build packaging/debs >/dev/null || {
    echo "test-all: building the Debian packages failed (build-debs.sh said why above)" >&2
    echo "  the Debian packages' build (ninja -C build packaging/debs)" >>"$logs/synthetic.log"
    failed=$((failed + 1))
}
# The host suites that time the master against a wall-clock bound run first, alone (suite
# host-alone, tests/host/meson.build says which and why).
run_suite build host-alone --num-processes 1 --no-rebuild --logbase host-alone
echo "=== suite host (build), in the background: its output follows the VM suites' ==="
host_start=$SECONDS
set -m # job control for this one job only: it gets a process group of its own (the trap's)
( TIMEFORMAT='%0R s wall, %0U s user, %0S s sys'
  renice -n 10 -p "$BASHPID" >/dev/null
  time run_meson build host --no-suite host-alone --num-processes 1 --no-rebuild --logbase host \
      >"$logs/host.log" ) 2>"$logs/host.time" </dev/null &
host_pid=$!
set +m
echo "=== suite vm-beside-host (build) ==="
run_meson build vm-beside-host --num-processes 1 --no-rebuild --logbase vm-beside-host |
    tee "$logs/vm-beside-host.log"
vm_beside_wall=$((SECONDS - host_start))
wait "$host_pid"
host_pid=""
echo "=== suite host (build): ran next to the VM suites above ==="
cat "$logs/host.log"
echo "test-all: host suites $(tr '\n' ' ' <"$logs/host.time"); vm-beside-host suites ${vm_beside_wall}s wall"
count "$logs/vm-beside-host.log"
count "$logs/host.log"
vm_start=$SECONDS
run_suite build vm-quiet --num-processes 1 --no-rebuild --logbase vm-quiet
echo "test-all: vm-quiet suites $((SECONDS - vm_start))s wall, whole run ${SECONDS}s"

# What failed, last, where a CI log's tail shows it: the failed tests, then each suite's own
# FAIL lines (tests/lib/assert.sh) and cmocka's.
if [ "$failed" -ne 0 ]; then
    echo "test-all: what failed:"
    [ ! -f "$logs/synthetic.log" ] || cat "$logs/synthetic.log"
    # (meson prints a failed test's line twice: as it ends and in its summary)
    grep -hE '^ *[0-9]+/[0-9]+ +[^ ]+ / [^ ]+ +(FAIL|TIMEOUT|ERROR)' "$logs"/*.log |
        sed 's/^ */  /' | awk '!seen[$0]++'
    grep -hE '^(FAIL: |\[  FAILED  \] test_)' "$logs"/*.log | awk '!seen[$0]++' |
        sed 's/^/    /' | head -40
fi
echo "test-all: logs in $ROOT/build/meson-logs (host.txt, vm-beside-host.txt, vm-quiet.txt, testlog.txt) and $ROOT/build-sanitize/meson-logs"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
