#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kill -9 of silo-master with tasks in every state; the restart recovers everything from SQLite:
# nothing lost or duplicated, agents carry on, a launch that was in flight is not doubled.
. "$(dirname "$0")/master-lib.sh"

MOPTS=(--heartbeat-interval-ms 100 --agent-timeout-ms 6000 --launch-timeout-ms 10000)
start_master "${MOPTS[@]}"
start_sim a1 --cpus 8
start_sim a2 --cpus 8
start_sim a3 --cpus 8
wait_until 10 "agents registered" bash -c "[ \$(curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/agents | jq '.agents | length') = 3 ]"
A3=$(sim_agent_id a3)
on() { printf '{"name":"%s","command":["/bin/sleep","1000"],"resources":{"cpus":1},"constraints":{"hostname":"%s"}}' "$1" "$2"; }

# LOST: a task on a3, then a3 falls silent.
T_LOST=$(submit "$(on lost a3)")
wait_until 10 "T_LOST RUNNING" state_is "$T_LOST" RUNNING
sim a3 POST /sim/pause '{"paused": true}' >/dev/null
wait_until 10 "a3 LOST" agent_state_is "$A3" LOST
# RUNNING x2, FINISHED, FAILED, KILLED (running, killed through the agent), PENDING, KILLED (pending).
T_RUN1=$(submit "$(on run1 a1)"); T_RUN2=$(submit "$(on run2 a2)")
T_FIN=$(submit "$(on fin a1)"); T_FAIL=$(submit "$(on fail a2)"); T_KILL=$(submit "$(on kill a1)")
for t in $T_RUN1 $T_RUN2 $T_FIN $T_FAIL $T_KILL; do wait_until 10 "$t RUNNING" state_is "$t" RUNNING; done
sim a1 POST "/sim/finish/$T_FIN" '{"state":"FINISHED","exit_code":0}' >/dev/null
sim a2 POST "/sim/finish/$T_FAIL" '{"state":"FAILED","exit_code":7}' >/dev/null
api DELETE "/api/v1/tasks/$T_KILL" >/dev/null
T_PEND=$(submit '{"name":"pend","command":["/bin/true"],"resources":{"cpus":100}}')
T_PKILL=$(submit '{"name":"pkill","command":["/bin/true"],"resources":{"cpus":100}}')
api DELETE "/api/v1/tasks/$T_PKILL" >/dev/null
wait_until 10 "T_FIN FINISHED" state_is "$T_FIN" FINISHED
wait_until 10 "T_FAIL FAILED" state_is "$T_FAIL" FAILED
wait_until 10 "T_KILL KILLED" state_is "$T_KILL" KILLED

# STARTING: a1 accepted the launch but holds its status updates.
sim a1 POST /sim/hold '{"hold": true}' >/dev/null
T_START=$(submit "$(on start a1)")
wait_until 10 "T_START STARTING" state_is "$T_START" STARTING

# STAGING with the launch in flight: a2 holds its answer (until the state after the restart has
# been compared: however slow the restart, on SQLite or etcd) and its status updates.
sim a2 POST /sim/delay '{"ms": 60000}' >/dev/null
sim a2 POST /sim/hold '{"hold": true}' >/dev/null
T_STAGE=$(submit "$(on stage a2)")
wait_until 5 "a2 received the launch" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:${SIM_PORT[a2]}/sim/state | jq -e '.tasks[\"$T_STAGE\"]'"
assert_eq "T_STAGE before the crash" "$(task_state "$T_STAGE")" STAGING

before=$(api_body GET /api/v1/tasks | jq -c '[.tasks[] | {id, state, reason, exit_code, agent_id}] | sort_by(.id)')
echo "   before: $(jq -c '[.[] | .state] | group_by(.) | map({(.[0]): length}) | add' <<<"$before")"
for s in PENDING STAGING STARTING RUNNING FINISHED FAILED KILLED LOST; do
    jq -e --arg s "$s" 'any(.[]; .state == $s)' <<<"$before" >/dev/null || fail "no task in state $s before the crash"
done
events_before=$(for t in $(jq -r '.[].id' <<<"$before"); do task_field "$t" '.history | length'; done | jq -s add)

# The agents stay quiet until the recovered state has been compared with this snapshot.
sim a1 POST /sim/pause '{"paused": true}' >/dev/null
sim a2 POST /sim/pause '{"paused": true}' >/dev/null
kill9_master
pass "master killed with -9 holding tasks in PENDING STAGING STARTING RUNNING FINISHED FAILED KILLED LOST"
# While it is down a1's task ends; its update waits on the agent (held until the state
# after the restart has been compared with the one before).
sim a1 POST "/sim/finish/$T_RUN1" '{"state":"FINISHED","exit_code":0}' >/dev/null
sleep 0.5
start_master "${MOPTS[@]}"

after=$(api_body GET /api/v1/tasks | jq -c '[.tasks[] | {id, state, reason, exit_code, agent_id}] | sort_by(.id)')
assert_eq "number of tasks after the restart" "$(jq length <<<"$after")" "$(jq length <<<"$before")"
assert_eq "task ids after the restart" "$(jq -c '[.[].id]' <<<"$after")" "$(jq -c '[.[].id]' <<<"$before")"
assert_eq "no duplicate ids" "$(jq -c '[.[].id] | unique | length' <<<"$after")" "$(jq length <<<"$after")"
assert_eq "tasks recovered exactly" "$after" "$before"
events_after=$(for t in $(jq -r '.[].id' <<<"$before"); do task_field "$t" '.history | length'; done | jq -s add)
assert_eq "history events recovered" "$events_after" "$events_before"
pass "restart: $(jq length <<<"$after") tasks and $events_after history events recovered exactly"

# Agents carry on (heartbeats to the same ids) and deliver what happened meanwhile; a2 answers
# the launch it holds.
sim a2 POST /sim/delay '{"ms": 0}' >/dev/null
sim a1 POST /sim/pause '{"paused": false}' >/dev/null
sim a2 POST /sim/pause '{"paused": false}' >/dev/null
sim a1 POST /sim/hold '{"hold": false}' >/dev/null
sim a2 POST /sim/hold '{"hold": false}' >/dev/null
wait_until 10 "T_RUN1 FINISHED (update sent while the master was down)" state_is "$T_RUN1" FINISHED
wait_until 15 "T_STAGE RUNNING" state_is "$T_STAGE" RUNNING
wait_until 10 "T_START RUNNING" state_is "$T_START" RUNNING
assert_eq "T_RUN2 after the restart" "$(task_state "$T_RUN2")" RUNNING
assert_eq "T_LOST after the restart" "$(task_state "$T_LOST")" LOST
assert_eq "T_PEND after the restart" "$(task_state "$T_PEND")" PENDING
a2=$(sim a2 GET /sim/state)
[ "$(jq .launch_requests <<<"$a2")" -ge 4 ] || fail "a2 got $(jq .launch_requests <<<"$a2") launch requests; the in-flight launch was not resent"
# a2 created run2, fail and stage: each exactly once although stage was sent twice.
assert_eq "launches created on a2" "$(jq .launches_created <<<"$a2")" 3
assert_eq "STAGING events of T_STAGE" "$(task_field "$T_STAGE" '[.history[] | select(.state=="STAGING")] | length')" 1
for s in a1 a2; do
    wait_until 5 "$s re-registered with the restarted master" sim_is "$s" .registrations 2
done
pass "in-flight launch resent after the restart and not doubled (a2: $(jq .launch_requests <<<"$a2") requests, 3 created)"

# Every status update is recorded exactly once across the crash.
dups=$(for t in $(jq -r '.[].id' <<<"$after"); do task_field "$t" '[.history[] | select(.update_id != null) | .update_id]'; done | jq -s 'add | group_by(.) | map(select(length > 1)) | length')
assert_eq "update ids recorded more than once" "$dups" 0
pass "no status update recorded twice"

# The lost agent comes back after the restart: its task stays LOST and is killed there.
sim a3 POST /sim/pause '{"paused": false}' >/dev/null
wait_until 10 "a3 ACTIVE" agent_state_is "$A3" ACTIVE
wait_until 10 "T_LOST killed on a3" bash -c "[ \"\$(curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:${SIM_PORT[a3]}/sim/state | jq -r '.tasks[\"$T_LOST\"]')\" = KILLED ]"
assert_eq "T_LOST after a3 returned" "$(task_state "$T_LOST")" LOST
pass "agent lost before the crash re-registers; its task stays LOST and is killed on it"

# A second restart with a clean SIGTERM keeps it all too.
stop_master
start_master "${MOPTS[@]}"
assert_eq "tasks after a clean restart" "$(api_body GET /api/v1/tasks | jq '.tasks | length')" "$(jq length <<<"$before")"
stop_master
assert_done
