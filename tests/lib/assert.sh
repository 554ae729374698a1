#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The one assertion library of the shell suites, host (tests/host) and VM (tests/vm/suites):
# every check prints one line with the figures it compared, is counted, and the suite ends with
# one summary line. Source it (the VM guest sees this tree at the same path, run-vm.sh):
#
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib/assert.sh"     # from tests/host/*.sh
#   skip_suite REASON                       # "SKIP: REASON", exit 77 (the suite cannot run here)
#   skip_part REASON                        # a part cannot run here: the rest runs, and the suite
#                                           # ends 77 instead of 0, never as a silent pass
#   pass DESCRIPTION                        # a check that held, established by the caller
#   fail DESCRIPTION                        # a check that did not hold: exit 1 (or go on, below)
#   assert_eq NAME GOT WANT                 # GOT = WANT, as strings
#   assert_within NAME MEASURED EXPECTED PCT  # |measured - expected| <= PCT % of expected
#   assert_match NAME TEXT REGEX            # TEXT matches the extended REGEX (grep -E)
#   assert_file_contains NAME FILE STRING   # FILE has STRING (fixed string) on some line
#   assert_cmd NAME COMMAND [ARGS...]       # COMMAND succeeds (its stdout is discarded)
#   wait_until SECS WHAT COMMAND [ARGS...]  # poll COMMAND (output discarded) every
#                                           # $WAIT_UNTIL_INTERVAL s (0.1) until it succeeds;
#                                           # fail naming WHAT after SECS
#   assert_done                             # summary line; exit 0, 1 when a check failed, 77
#                                           # when all held but a part was skipped
#
# A passing check prints "ok: ...", a failing one "FAIL: ...". By default the first failure ends
# the suite (after its summary line; the suite's EXIT trap still runs). ASSERT_KEEP_GOING=1 (or
# SILO_TEST_KEEP_GOING=1 in the environment) counts failures and goes on, so one run shows all of
# them; assert_done then exits 1. The summary is "SUITE: N checks passed, M failed", SUITE being
# the script's name unless ASSERT_SUITE says otherwise.

ASSERT_PASSED=0
ASSERT_FAILED=0
ASSERT_SKIPPED=""
ASSERT_KEEP_GOING="${ASSERT_KEEP_GOING:-${SILO_TEST_KEEP_GOING:-0}}"
ASSERT_SUITE="${ASSERT_SUITE:-$(basename "$0" .sh)}"

assert_summary() {
    echo "$ASSERT_SUITE: $ASSERT_PASSED checks passed, $ASSERT_FAILED failed${ASSERT_SKIPPED:+, skipped: $ASSERT_SKIPPED}"
}

skip_suite() {
    echo "SKIP: $ASSERT_SUITE: $*"
    exit 77
}

skip_part() {
    echo "SKIP: $*"
    ASSERT_SKIPPED="${ASSERT_SKIPPED:+$ASSERT_SKIPPED; }$*"
}

pass() {
    ASSERT_PASSED=$((ASSERT_PASSED + 1))
    echo "ok: $*"
}

fail() {
    ASSERT_FAILED=$((ASSERT_FAILED + 1))
    echo "FAIL: $*"
    if [ "$ASSERT_KEEP_GOING" != 1 ]; then
        assert_summary
        exit 1
    fi
    return 0
}

assert_eq() {
    if [ "$2" = "$3" ]; then
        pass "$1 = '$2'"
    else
        fail "$1: got '$2', want '$3'"
    fi
}

assert_within() {
    local name="$1" measured="$2" expected="$3" pct="$4" ratio
    ratio="$(awk -v m="$measured" -v e="$expected" 'BEGIN { printf "%.3f of expected", m / e }')"
    if awk -v m="$measured" -v e="$expected" -v p="$pct" \
        'BEGIN { d = m - e; if (d < 0) d = -d; exit !(d <= e * p / 100) }'; then
        pass "$name measured $measured, expected $expected ±$pct% ($ratio)"
    else
        fail "$name measured $measured, expected $expected ±$pct% ($ratio)"
    fi
}

assert_match() {
    if grep -qE -- "$3" <<<"$2"; then
        pass "$1: '$2' matches /$3/"
    else
        fail "$1: '$2' does not match /$3/"
    fi
}

assert_file_contains() {
    if grep -qF -- "$3" "$2" 2>/dev/null; then
        pass "$1: $2 has '$3'"
    else
        fail "$1: $2 lacks '$3'"
    fi
}

assert_cmd() {
    local name="$1"
    shift
    if "$@" >/dev/null; then
        pass "$name"
    else
        fail "$name"
    fi
}

assert_done() {
    assert_summary
    [ "$ASSERT_FAILED" -eq 0 ] || exit 1
    [ -z "$ASSERT_SKIPPED" ] || exit 77
    exit 0
}

# SECONDS counts whole seconds: one more, so that the wait is never shorter than SECS. After a
# failure that does not end the suite (ASSERT_KEEP_GOING), it returns 0 like every assert_*:
# under `set -e` a 1 would end the suite without its summary line.
wait_until() {
    local secs="$1" what="$2" end
    shift 2
    end=$((SECONDS + secs + 1))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$end" ]; then
            fail "timed out after ${secs}s waiting for: $what"
            return 0
        fi
        sleep "${WAIT_UNTIL_INTERVAL:-0.1}"
    done
}
