#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The master's event stream under fan-out: sim-agents heartbeat every 20 ms while tasks are
# submitted at a steady rate, placed and finished (6 events each); the highest of the agents'
# heartbeat p99 is measured without consumers, with CONSUMERS reading ones (curl -N) plus one
# that never reads (dropped as too slow), and without again. Goal: with them <= 2x the higher
# figure without (the same workload in the same run, so the machine's load weighs on both).
#   tests/bench/event-fanout.sh build/master/silo-master build/tests/host/sim-agent
#   (env CONSUMERS=100 AGENTS=8 TASKS=600 RATE=300)
. "$(dirname "$0")/../host/master-lib.sh"
. "$(dirname "$0")/bench.sh"
command -v python3 >/dev/null || skip_suite "python3 is not installed"
PY="python3 $(dirname "$(realpath "$0")")/../host/master-events.py"
CONSUMERS=${CONSUMERS:-100} AGENTS=${AGENTS:-8} TASKS=${TASKS:-600} RATE=${RATE:-300}

SHM=$(mktemp -d /dev/shm/silo-event-fanout.XXXXXX)
trap 'rc=$?; rm -rf "$SHM"; set +e; (exit $rc); cleanup' EXIT
start_master --heartbeat-interval-ms 20 --max-connections-per-client 0 --event-buffer 1000 \
    --log-level info --state-dir "$SHM/state"
for i in $(seq "$AGENTS"); do start_sim "s$i" --cpus 256 --mem 274877906944 --finish-after-ms 100; done
wait_until 20 "$AGENTS agents ACTIVE" api_is /api/v1/agents '[.agents[] | select(.state=="ACTIVE")] | length' "$AGENTS"
URL="http://127.0.0.1:$PORT"

# The highest of the agents' heartbeat p99 (us) over one workload.
workload() {
    local i
    for i in $(seq "$AGENTS"); do sim "s$i" POST /sim/rtt-reset '{}' >/dev/null; done
    $PY submit "$URL" "$TOKEN" "$1" "$TASKS" "$RATE" || fail "submitting the $1 workload"
    wait_until 60 "the $1 workload FINISHED" api_is /api/v1/tasks "[.tasks[] | select((.id|startswith(\"$1-\")) and .state==\"FINISHED\")] | length" "$TASKS"
    for i in $(seq "$AGENTS"); do sim "s$i" GET /sim/state | jq .heartbeat.p99_us; done | sort -n | tail -n1
}
workload warm >/dev/null
none1=$(workload none1)
CPIDS=()
for i in $(seq "$CONSUMERS"); do
    curl -sN -H "Authorization: Bearer $TOKEN" "$URL/api/v1/events" >/dev/null 2>&1 &
    CPIDS+=("$!")
done
PIDS+=("${CPIDS[@]}")
$PY stall "$URL" "$TOKEN" "$WORK/stalled.out" >/dev/null 2>&1 &
STALLED=$!
PIDS+=("$STALLED")
wait_until 20 "$CONSUMERS + 1 consumers" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' $URL/metrics | grep -q '^silo_master_event_consumers $((CONSUMERS + 1))\$'"
with=$(workload with)
dropped=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/metrics" | awk '/^silo_master_event_consumers_dropped_total/ {print $2}')
kill "${CPIDS[@]}" "$STALLED" 2>/dev/null || true
none2=$(workload none2)
none=$(( none1 > none2 ? none1 : none2 ))
echo "figure: heartbeat p99 ${none1} us and ${none2} us without consumers, ${with} us with $CONSUMERS reading and 1 stalled ($dropped dropped); $TASKS tasks at $RATE/s, $AGENTS agents every 20 ms"
bench_goal "heartbeat p99 with $CONSUMERS consumers / without" "$(awk "BEGIN{printf \"%.2f\", $with/$none}")" x "<=" 2
bench_goal "stalled consumers dropped" "$dropped" "" ">=" 1
bench_done
