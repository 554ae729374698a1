#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The master's own host suites again with its state in etcd (issue 17: the same suites pass on
# both stores): one 1-member etcd (tests/lib/etcd.sh) shared by the suites, each under its own
# --etcd-prefix (master-lib.sh: SILO_TEST_STORE=etcd, SILO_TEST_ETCD, SILO_TEST_ETCD_PREFIX),
# run side by side, SILO_TEST_JOBS (3) at a time: none of those judges a time on etcd
# (master-events' heartbeat p99 ratio runs on SQLite alone; the suite says why). master-retention
# checks what is kept inside a 3 s age window, and master-restart compares the tasks' histories
# read one by one after a restart with those before it, while the agents' held updates wait:
# wall-clock windows that the load of the others can close. They run alone, after the others. Each suite's own summary and wall time are printed; its whole
# output when it fails.
# Not here, and why: master-files checks SQLite's own files (the WAL); master-flood and
# master-authz test the HTTP server's connection limits and the authorization rules, which do
# not touch the store; master-big-arrays judges answer times against the heartbeat interval,
# which on etcd measure etcd's round trips (the loop blocks on them, see master-events.sh).
# Args: silo-master sim-agent [suite...]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/assert.sh"
. "$HERE/../lib/etcd.sh"
ASSERT_SUITE=master-suites-etcd
etcd_available || skip_suite "etcd is not installed (Debian: etcd-server)"
MASTER=$(realpath "$1")
SIM=$(realpath "$2")
shift 2
SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(master-events master-alloc master-restart master-volumes
    master-tasks master-status-source master-metrics master-inventory master-retention)
ALONE=" master-restart master-retention "
JOBS=${SILO_TEST_JOBS:-3}
OUT=$(mktemp -d /tmp/silo-master-suites-etcd.XXXXXX)
declare -A RUN=()

stop_suites() {
    local s
    for s in "${!RUN[@]}"; do
        kill "${RUN[$s]}" 2>/dev/null || true
        wait "${RUN[$s]}" 2>/dev/null || true
    done
    rm -rf "$OUT"
}
trap 'rc=$?; set +e; stop_suites; (exit $rc)' EXIT
etcd_start_cluster 1 || fail "etcd did not start"
pass "etcd healthy in ${ETCD_START_MS} ms, shared by ${#SUITES[@]} suites, $JOBS at a time"

# The suites' subshells still running (etcd is a child of this shell too: not `jobs`).
running() {
    local p n=0
    for p in "${RUN[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
    echo "$n"
}
# run_suite NAME: in the background, its exit status and wall time in $OUT/NAME.rc.
run_suite() {
    (
        t=$(date +%s%3N)
        rc=0
        SILO_TEST_STORE=etcd SILO_TEST_ETCD=$ETCD_ENDPOINTS SILO_TEST_ETCD_PREFIX="/silo-test-$1/" \
            bash "$HERE/$1.sh" "$MASTER" "$SIM" >"$OUT/$1.out" 2>&1 || rc=$?
        echo "$rc $(($(date +%s%3N) - t))" >"$OUT/$1.rc"
    ) &
    RUN[$1]=$!
}
T0=$(date +%s)
for s in "${SUITES[@]}"; do
    [[ "$ALONE" != *" $s "* ]] || continue
    while [ "$(running)" -ge "$JOBS" ]; do sleep 0.2; done
    run_suite "$s"
done
for s in "${!RUN[@]}"; do wait "${RUN[$s]}" || true; done
for s in "${SUITES[@]}"; do
    [[ "$ALONE" == *" $s "* ]] || continue
    run_suite "$s"
    wait "${RUN[$s]}" || true
done
RUN=()
for s in "${SUITES[@]}"; do
    read -r rc ms <"$OUT/$s.rc"
    summary=$(grep -E "^$s \\(etcd\\): " "$OUT/$s.out" | tail -1 || true)
    case "$rc" in
    0) pass "$s on etcd in $((ms / 1000)) s: ${summary:-(no summary)}" ;;
    77) skip_part "$s on etcd: $(grep -m1 '^SKIP' "$OUT/$s.out" || echo skipped)" ;;
    *)
        echo "---- $s (etcd), exit $rc after $((ms / 1000)) s ----"
        cat "$OUT/$s.out"
        fail "$s on etcd: exit $rc"
        ;;
    esac
done
echo "time: $(($(date +%s) - T0)) s for ${#SUITES[@]} suites on etcd"
assert_done
