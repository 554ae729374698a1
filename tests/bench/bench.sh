#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The shell benchmarks' reporting helper (source it): one line per stated goal, in the format of
# the C benchmarks' bench.h, and the exit status of the policy in tests/bench/README.md.
#
#   bench_goal WHAT VALUE UNIT OP GOAL     # OP: >= > <= <; prints
#                                          # "goal: WHAT = VALUE UNIT, want OP GOAL: met|MISSED"
#   bench_unresolved WHAT VALUE UNIT OP GOAL WHY
#                                          # the bench's own noise is larger than the goal, so
#                                          # VALUE cannot decide it: "...: UNRESOLVED (WHY)",
#                                          # counted as missed (not met is not met)
#   bench_done                             # "bench NAME: N goals met, M missed"; exit 0, or 1
#                                          # when a goal was missed

BENCH_NAME="${BENCH_NAME:-$(basename "$0" .sh)}"
BENCH_MET=0
BENCH_MISSED=0

bench_goal() {
    local what="$1" value="$2" unit="$3" op="$4" goal="$5" verdict=MISSED
    if awk -v v="$value" -v g="$goal" -v op="$op" 'BEGIN {
            if (v !~ /^[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/) exit 1   # no figure: missed
            if (op == ">=") ok = v >= g; else if (op == ">") ok = v > g;
            else if (op == "<=") ok = v <= g; else ok = v < g
            exit !ok }'; then
        verdict=met
        BENCH_MET=$((BENCH_MET + 1))
    else
        BENCH_MISSED=$((BENCH_MISSED + 1))
    fi
    echo "goal: $what = $value $unit, want $op $goal: $verdict"
}

bench_unresolved() {
    BENCH_MISSED=$((BENCH_MISSED + 1))
    echo "goal: $1 = $2 $3, want $4 $5: UNRESOLVED ($6)"
}

bench_done() {
    echo "bench $BENCH_NAME: $BENCH_MET goals met, $BENCH_MISSED missed"
    [ "$BENCH_MISSED" -eq 0 ] || exit 1
    exit 0
}
