#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# silo-master inventory: registration, heartbeats, heartbeat timeout -> LOST, reconciliation on return.
. "$(dirname "$0")/master-lib.sh"

# Options: --help lists them all; errors name the option, or the file and line.
"$MASTER_BIN" --help > "$WORK/help.txt"
for o in listen state-dir token-file heartbeat-interval-ms agent-timeout-ms launch-attempts \
         launch-timeout-ms retry-base-ms max-connections nofile log-level config; do
    grep -q -- "--$o " "$WORK/help.txt" || fail "--help does not list --$o"
done
grep -q -- "--agent-timeout-ms MS .*\[default: 15000\]" "$WORK/help.txt" || fail "--help lacks the default of --agent-timeout-ms"
rc=0; "$MASTER_BIN" --bogus 1 2>"$WORK/err.txt" || rc=$?
assert_eq "exit status for an unknown option" "$rc" 78
grep -q "unknown option '--bogus'" "$WORK/err.txt" || fail "unknown option: $(cat "$WORK/err.txt")"
printf 'listen = 127.0.0.1:0\nheartbeat-interval-ms = abc\n' > "$WORK/bad.conf"
rc=0; "$MASTER_BIN" --config "$WORK/bad.conf" 2>"$WORK/err.txt" || rc=$?
assert_eq "exit status for a bad config file" "$rc" 78
grep -q "bad.conf:2: heartbeat-interval-ms: 'abc' is not a non-negative integer" "$WORK/err.txt" || fail "bad config: $(cat "$WORK/err.txt")"
rc=0; "$MASTER_BIN" --heartbeat-interval-ms 500 --agent-timeout-ms 400 2>"$WORK/err.txt" || rc=$?
assert_eq "exit status for a timeout shorter than the interval" "$rc" 78
grep -q "agent-timeout-ms: 400 must be larger than --heartbeat-interval-ms 500" "$WORK/err.txt" || fail "timeout check: $(cat "$WORK/err.txt")"
pass "--help lists every option; bad options and config lines are refused naming where, exit 78 (EX_CONFIG)"

# The heartbeat settings come from a config file here (same keys as the options).
printf '# test config\nheartbeat-interval-ms = 100\nagent-timeout-ms = 1000\n' > "$WORK/master.conf"
start_master --config "$WORK/master.conf"
start_sim a1 --cpus 4 --disk nvme0n1:ssd:1000000000:500000000:100000:50000 --attr rack=r1
start_sim a2 --cpus 4
wait_until 10 "a1 and a2 registered" bash -c "[ \$(curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/agents | jq '[.agents[] | select(.state==\"ACTIVE\")] | length') = 2 ]"
A1=$(sim_agent_id a1); A2=$(sim_agent_id a2)
agent=$(api_body GET "/api/v1/agents/$A1")
assert_eq "a1 hostname" "$(jq -r .hostname <<<"$agent")" a1
assert_eq "a1 attribute rack" "$(jq -r .attributes.rack <<<"$agent")" r1
assert_eq "a1 disk" "$(jq -r '.resources.disks[0].name' <<<"$agent")" nvme0n1
pass "two agents registered with their resources and attributes"

hb0=$(api_body GET "/api/v1/agents/$A1" | jq .heartbeats)
sleep 1
hb1=$(api_body GET "/api/v1/agents/$A1" | jq .heartbeats)
# 100 ms interval: about 10 per second; allow for a slow machine.
[ $((hb1 - hb0)) -ge 5 ] || fail "heartbeats: only $((hb1 - hb0)) in 1 s at a 100 ms interval"
pass "heartbeats arrive ($((hb1 - hb0)) in 1 s at a 100 ms interval)"

assert_eq "unknown agent" "$(api_status GET /api/v1/agents/nope)" 404
assert_eq "heartbeat of an unknown agent" "$(api_status POST /api/v1/agents/nope/heartbeat '{}')" 404
assert_eq "heartbeat with a bad task list" "$(api_status POST "/api/v1/agents/$A1/heartbeat" '{"tasks": [1]}')" 400

# A task on a1 and one on a2, then a1 goes silent.
T1=$(submit '{"name":"on-a1","command":["/bin/sleep","1000"],"resources":{"cpus":1},"constraints":{"hostname":"a1"}}')
T2=$(submit '{"name":"on-a2","command":["/bin/sleep","1000"],"resources":{"cpus":1},"constraints":{"hostname":"a2"}}')
wait_until 10 "T1 RUNNING" state_is "$T1" RUNNING
wait_until 10 "T2 RUNNING" state_is "$T2" RUNNING
assert_eq "T1 placed on a1" "$(task_field "$T1" .agent_id)" "$A1"
pass "tasks placed and RUNNING"

sim a1 POST /sim/pause '{"paused": true}' >/dev/null
t0=$(date +%s%N)
wait_until 10 "a1 LOST" agent_state_is "$A1" LOST
t1=$(date +%s%N)
lost_ms=$(( (t1 - t0) / 1000000 ))
assert_eq "T1 after a1 timed out" "$(task_state "$T1")" LOST
assert_eq "T1 reason" "$(task_field "$T1" .reason)" AGENT_LOST
assert_eq "T2 on a2 is untouched" "$(task_state "$T2")" RUNNING
# Timeout 1000 ms, checked every 100-250 ms: lost between 1.0 and ~2 s after the last heartbeat.
[ "$lost_ms" -ge 800 ] && [ "$lost_ms" -le 3000 ] || fail "a1 lost after $lost_ms ms with a 1000 ms timeout"
pass "a1 silent -> LOST after $lost_ms ms (timeout 1000 ms); its task LOST/AGENT_LOST"

# While it was away a1 started a task nobody placed there.
sim a1 POST /sim/adopt '{"id": "ghost-1"}' >/dev/null
kills0=$(sim a1 GET /sim/state | jq .kill_requests)
sim a1 POST /sim/pause '{"paused": false}' >/dev/null
wait_until 10 "a1 ACTIVE again" agent_state_is "$A1" ACTIVE
wait_until 10 "T1 killed on a1" bash -c "[ \"\$(curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:${SIM_PORT[a1]}/sim/state | jq -r '.tasks[\"$T1\"]')\" = KILLED ]"
wait_until 10 "ghost-1 killed on a1" bash -c "[ \"\$(curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:${SIM_PORT[a1]}/sim/state | jq -r '.tasks[\"ghost-1\"]')\" = KILLED ]"
assert_eq "T1 stays LOST (not restarted, not resurrected)" "$(task_state "$T1")" LOST
assert_eq "ghost-1 unknown to the master" "$(api_status GET /api/v1/tasks/ghost-1)" 404
assert_eq "a1 registered twice" "$(sim a1 GET /sim/state | jq .registrations)" 2
grep -q "does not know: killing it\|master does not know" "$WORK/master.log" || fail "unknown task kill not logged"
pass "a1 returned: the task the master gave up and an unknown task were killed on it (logged)"

# a2 "restarts" and re-registers while still active: T2 resumes, T3 (not reported) is LOST.
T3=$(submit '{"name":"on-a2-b","command":["/bin/true"],"resources":{"cpus":1},"constraints":{"hostname":"a2"}}')
wait_until 10 "T3 RUNNING" state_is "$T3" RUNNING
sim a2 POST /sim/pause '{"paused": true}' >/dev/null
reg=$(jq -n --arg id "$A2" --arg addr "127.0.0.1:${SIM_PORT[a2]}" --arg t2 "$T2" \
  '{agent_id:$id, hostname:"a2", address:$addr, version:"test", resources:{cpus:4, mem:8589934592}, tasks:[{id:$t2, state:"RUNNING"}]}')
assert_eq "re-registration of a2" "$(api_status POST /api/v1/agents "$reg")" 200
assert_eq "T2 resumes after a2 re-registered" "$(task_state "$T2")" RUNNING
assert_eq "T3 missing from a2's registration" "$(task_state "$T3")" LOST
sim a2 POST /sim/pause '{"paused": false}' >/dev/null
pass "re-registration: known running task resumed, missing one LOST"

# Invalid registrations name the field; nothing is created.
n_agents=$(api_body GET /api/v1/agents | jq '.agents | length')
out=$(api POST /api/v1/agents '{"hostname":"x","address":"127.0.0.1:1","version":"1","resources":{"cpus":"many","mem":1}}')
assert_eq "registration with cpus 'many'" "$(tail -n1 <<<"$out")" 400
sed '$d' <<<"$out" | jq -r .error.message | grep -q 'resources.cpus' || fail "error does not name resources.cpus: $out"
assert_eq "registration without address" "$(api_status POST /api/v1/agents '{"hostname":"x","version":"1","resources":{"cpus":1,"mem":1}}')" 400
assert_eq "agents after refused registrations" "$(api_body GET /api/v1/agents | jq '.agents | length')" "$n_agents"
pass "invalid registrations refused with the field named"

stop_master
assert_done
