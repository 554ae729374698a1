#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# silo-master forgets ended tasks and updates for unknown tasks (issue 12, finding 12): by
# count (--gc-max-tasks) and by age (--gc-max-age-s), oldest first, a bounded number per tick;
# what is inside the window is still served with its whole history, live tasks never go.
. "$(dirname "$0")/master-lib.sh"

"$MASTER_BIN" --help > "$WORK/help.txt"
grep -q -- "--gc-max-age-s SEC" "$WORK/help.txt" || fail "--help does not list --gc-max-age-s"
grep -q -- "--gc-max-tasks N" "$WORK/help.txt" || fail "--help does not list --gc-max-tasks"

# What the store holds: rows of master.db (SQLite), or keys under the master's prefix (etcd,
# SILO_TEST_STORE=etcd: store-etcd.c's layout). Without sqlite3 the rows are not counted (the
# checks compare "skip" with "skip") and the suite ends 77.
# store_count SQL KEY-PREFIX...: the SQL's count, or the keys under the prefixes, summed.
if [ "${SILO_TEST_STORE:-sqlite}" = etcd ]; then
    store_count() {
        local p n=0 c keys
        shift
        for p in "$@"; do
            # (etcdctl 3.4 has no --count-only: a key a line, then an empty line)
            keys=$(store_etcdctl get --prefix "$ETCD_PREFIX$p" --keys-only) || { echo error; return; }
            c=$(grep -c . <<<"$keys" || true)
            n=$((n + c))
        done
        echo "$n"
    }
    counted() { echo "$1"; }
else
    command -v sqlite3 >/dev/null || skip_part "sqlite3 is not installed: rows in master.db not counted"
    store_count() {
        command -v sqlite3 >/dev/null || { echo skip; return; }
        sqlite3 -readonly "file:$WORK/state/master.db?mode=ro" "$1" 2>/dev/null || echo error
    }
    counted() { command -v sqlite3 >/dev/null && echo "$1" || echo skip; }
fi

# kill_pending N PREFIX: N tasks that cannot be placed, killed while PENDING (they end at once).
kill_pending() {
    seq -f "$2-%04g" "$1" | xargs -P 8 -I{} sh -c '
        curl -sf -o /dev/null -H "Authorization: Bearer $0" -d "{\"id\": \"{}\", \"name\": \"n\", \"command\": [\"/bin/true\"], \"resources\": {\"cpus\": 64}}" "$1/api/v1/tasks" &&
        curl -sf -o /dev/null -X DELETE -H "Authorization: Bearer $0" "$1/api/v1/tasks/{}"' "$TOKEN" "http://127.0.0.1:$PORT"
}
gone() { [ "$(api_status GET "/api/v1/tasks/$1")" = 404 ]; }
ended_count() { api_body GET /api/v1/tasks | jq '[.tasks[] | select(.state=="KILLED" or .state=="FINISHED" or .state=="FAILED" or .state=="LOST")] | length'; }

# ---- by count ----
start_master --heartbeat-interval-ms 100 --agent-timeout-ms 2000 --gc-max-tasks 5 --gc-max-age-s 0
start_sim a1 --cpus 2
wait_until 10 "a1 registered" sim_registered a1
A1=$(sim_agent_id a1)
for i in 1 2 3; do submit "{\"id\": \"live-$i\", \"name\": \"n\", \"command\": [\"/bin/true\"], \"resources\": {\"cpus\": 64}}" >/dev/null; done
R=$(submit '{"id": "running-1", "name": "n", "command": ["/bin/sleep", "1000"], "resources": {"cpus": 1}}')
wait_until 10 "running-1 RUNNING" state_is "$R" RUNNING
for i in $(seq 12); do
    submit "{\"id\": \"c-$i\", \"name\": \"n\", \"command\": [\"/bin/true\"], \"resources\": {\"cpus\": 64}}" >/dev/null
    assert_eq "kill c-$i" "$(api_status DELETE "/api/v1/tasks/c-$i")" 200
done
wait_until 5 "only 5 ended tasks kept" bash -c "[ \$(curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/tasks | jq '[.tasks[] | select(.state==\"KILLED\")] | length') = 5 ]"
for i in $(seq 7); do gone "c-$i" || fail "c-$i (one of the 7 oldest ended tasks) is still served"; done
for i in $(seq 8 12); do
    assert_eq "c-$i (one of the 5 newest) state" "$(task_state "c-$i")" KILLED
    assert_eq "c-$i history (submitted, killed)" "$(task_field "c-$i" '.history | length')" 2
done
for i in 1 2 3; do assert_eq "live-$i" "$(task_state "live-$i")" PENDING; done
assert_eq "running-1" "$(task_state "$R")" RUNNING
assert_eq "c-* tasks in the store" "$(store_count "SELECT COUNT(*) FROM tasks WHERE id LIKE 'c-%'" tasks/c-)" "$(counted 5)"
assert_eq "history of forgotten tasks in the store" \
    "$(store_count "SELECT COUNT(*) FROM task_events WHERE task_id IN ('c-1','c-2','c-7')" history/c-1/ history/c-2/ history/c-7/)" "$(counted 0)"
pass "--gc-max-tasks 5: the 7 oldest of 12 ended tasks forgotten (API and database); the 5 newest, live and running tasks kept"

# A finished task's late duplicate update inside the window is still recognised as one.
sim a1 POST /sim/finish/running-1 '{"state": "FINISHED", "exit_code": 0, "repeat": 2}' >/dev/null
wait_until 10 "running-1 FINISHED" state_is "$R" FINISHED
wait_until 10 "a1 sent both copies" sim_is a1 .unacked 0
assert_eq "FINISHED events of running-1 (the repeat was a duplicate)" "$(task_field "$R" '[.history[] | select(.state=="FINISHED")] | length')" 1
pass "a repeated update for a kept ended task is deduplicated"
# running-1's end made 6 ended tasks: the next GC tick forgets the oldest. The count below
# takes 5 as its start, so the restart waits for that tick (CI once stopped the master first).
ended_is() { [ "$(ended_count)" = "$1" ]; }
wait_until 10 "5 ended tasks kept after running-1's end" ended_is 5

# ---- bounded per tick: 600 ended tasks kept without limits, then a restart that keeps 10 ----
stop_master
start_master --heartbeat-interval-ms 100 --agent-timeout-ms 2000 --gc-max-tasks 0 --gc-max-age-s 0
kill_pending 600 bulk
assert_eq "ended tasks without limits (600 + the 5 kept)" "$(ended_count)" 605
assert_eq "bulk-0600" "$(api_body GET "/api/v1/tasks/bulk-0600" | jq -r .state)" KILLED
stop_master
lines0=$(wc -l < "$WORK/master.log")
t0=$(date +%s%N)
start_master --heartbeat-interval-ms 100 --agent-timeout-ms 2000 --gc-max-tasks 10 --gc-max-age-s 0 --log-level info
worst=0
for i in $(seq 40); do
    s=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT/health")
    worst=$(awk -v a="$worst" -v b="$s" 'BEGIN { print (b > a ? b : a) }')
    [ "$(ended_count)" = 10 ] && break
    sleep 0.05
done
t1=$(date +%s%N)
assert_eq "ended tasks kept after the restart" "$(ended_count)" 10
tail -n +"$((lines0 + 1))" "$WORK/master.log" > "$WORK/restart.log"
sweeps=$(grep -c 'retention: forgot' "$WORK/restart.log" || true)
biggest=$(grep -o 'retention: forgot [0-9]*' "$WORK/restart.log" | awk '{print $3}' | sort -n | tail -1)
echo "figure: 600 ended tasks down to 10 in $(( (t1 - t0) / 1000000 )) ms after the restart, $sweeps sweeps, at most $biggest tasks per sweep, slowest /health ${worst} s"
[ "${biggest:-0}" -le 256 ] || fail "a sweep forgot $biggest tasks: more than the 256 per tick bound"
for i in 1 2 3; do assert_eq "live-$i after the sweeps" "$(task_state "live-$i")" PENDING; done
assert_eq "the newest ended task" "$(task_state bulk-0600)" KILLED
pass "600 ended tasks swept in bounded steps after a restart"

# ---- by age, and updates for unknown tasks ----
stop_master
start_master --heartbeat-interval-ms 100 --agent-timeout-ms 2000 --gc-max-tasks 0 --gc-max-age-s 3
wait_until 10 "a1 registered again" bash -c "[ \$(curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/agents/$A1 | jq -r .state) = ACTIVE ]"
wait_until 10 "the old ended tasks forgotten by age" gone bulk-0600
submit '{"id": "young-1", "name": "n", "command": ["/bin/true"], "resources": {"cpus": 64}}' >/dev/null
assert_eq "kill young-1" "$(api_status DELETE /api/v1/tasks/young-1)" 200
orphan() {
    curl -sS -X POST -H "Authorization: Bearer $TOKEN" \
        -d "{\"update_id\": \"orphan-1\", \"task_id\": \"never-known\", \"agent_id\": \"$A1\", \"state\": \"FINISHED\", \"timestamp_ms\": $(date +%s%3N)}" \
        "http://127.0.0.1:$PORT/api/v1/status" | jq -r .duplicate
}
assert_eq "first copy of an update for an unknown task" "$(orphan)" false
t0=$(date +%s)
sleep 1
assert_eq "young-1 one second after it ended (inside the 3 s window)" "$(task_state young-1)" KILLED
assert_eq "young-1 history inside the window" "$(task_field young-1 '.history | length')" 2
assert_eq "second copy inside the window (deduplicated)" "$(orphan)" true
for i in 1 2 3; do assert_eq "live-$i" "$(task_state "live-$i")" PENDING; done
wait_until 10 "young-1 forgotten after 3 s" gone young-1
sleep 0.5 # the next sweep (a tick later) takes the update, which is as old
assert_eq "the update for an unknown task in the store after the window" \
    "$(store_count "SELECT COUNT(*) FROM task_events WHERE update_id = 'orphan-1'" updates/orphan-1 history/never-known/)" "$(counted 0)"
assert_eq "a copy after the window (the update was forgotten)" "$(orphan)" false
for i in 1 2 3; do assert_eq "live-$i after the window" "$(task_state "live-$i")" PENDING; done
pass "--gc-max-age-s 3: ended tasks and updates for unknown tasks served inside the window, forgotten after it; live tasks kept"
assert_done
