#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# silo-master task path: placement with disks, status dedupe, kills, refused and unreachable launches.
. "$(dirname "$0")/master-lib.sh"

start_master --heartbeat-interval-ms 100 --agent-timeout-ms 3000 --launch-attempts 3 --retry-base-ms 100 \
    --launch-timeout-ms 2000
start_sim a1 --cpus 4 --disk nvme0n1:ssd:1000000000:500000000:100000:50000
start_sim a2 --cpus 4 --disk sda:hdd:200000000:200000000:200:200
wait_until 10 "agents registered" bash -c "sim_registered() { :; }; [ \$(curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/agents | jq '.agents | length') = 2 ]"
A1=$(sim_agent_id a1)

# Placement with io: "any" disk of class ssd -> a1's nvme0n1, named in the launch.
T1=$(submit '{"name":"io-task","command":["/usr/bin/fio"],"resources":{"cpus":1,"io":[{"disk":"any","class":"ssd","wbps":"100M"}]}}')
wait_until 10 "T1 RUNNING" state_is "$T1" RUNNING
assert_eq "T1 agent" "$(task_field "$T1" .agent_id)" "$A1"
assert_eq "T1 chosen disk" "$(task_field "$T1" '.disks[0]')" nvme0n1
assert_eq "T1 history" "$(task_field "$T1" '[.history[] | select(.applied) | .state] | join(",")')" "PENDING,STAGING,STARTING,RUNNING"
assert_eq "list by state" "$(api_body GET "/api/v1/tasks?state=RUNNING" | jq -r '.tasks[].id')" "$T1"
assert_eq "list with an unknown state" "$(api_status GET "/api/v1/tasks?state=SLEEPING")" 400
pass "io task placed on a1/nvme0n1 and RUNNING, history PENDING,STAGING,STARTING,RUNNING"

# Status dedupe: the agent sends its FINISHED update 3 times; it is recorded once.
dup0=$(api_body GET /metrics | sed '$d' | awk '/^silo_master_status_duplicates_total/ {print $2}')
sim a1 POST "/sim/finish/$T1" '{"state": "FINISHED", "exit_code": 0, "repeat": 3}' >/dev/null
wait_until 10 "T1 FINISHED" state_is "$T1" FINISHED
wait_until 10 "a1's updates acknowledged" bash -c "[ \$(curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:${SIM_PORT[a1]}/sim/state | jq .unacked) = 0 ]"
assert_eq "FINISHED events of T1" "$(task_field "$T1" '[.history[] | select(.state=="FINISHED")] | length')" 1
dup1=$(api_body GET /metrics | awk '/^silo_master_status_duplicates_total/ {print $2}')
assert_eq "duplicates acknowledged without effect" "$((dup1 - dup0))" 2
assert_eq "T1 exit code" "$(task_field "$T1" .exit_code)" 0
pass "an update sent 3 times is recorded once (2 duplicates acknowledged)"

# The same through the API directly: 3 identical posts.
upd=$(jq -nc --arg t "$T1" --arg a "$A1" '{update_id:"manual-1", task_id:$t, agent_id:$a, state:"FINISHED", exit_code:0, timestamp_ms:1}')
r1=$(api_body POST /api/v1/status "$upd" | jq -c .); r2=$(api_body POST /api/v1/status "$upd" | jq -c .); r3=$(api_body POST /api/v1/status "$upd" | jq -c .)
assert_eq "first post" "$r1" '{"acknowledged":"manual-1","duplicate":false}'
assert_eq "second post" "$r2" '{"acknowledged":"manual-1","duplicate":true}'
assert_eq "third post" "$r3" '{"acknowledged":"manual-1","duplicate":true}'
assert_eq "manual-1 events" "$(task_field "$T1" '[.history[] | select(.update_id=="manual-1")] | length')" 1
assert_eq "status with a bad state" "$(api_status POST /api/v1/status '{"update_id":"x","task_id":"y","state":"RUNNNING"}')" 400
pass "direct status posts: first applied, repeats acknowledged as duplicates"

# Failed exit code.
T2=$(submit '{"name":"fails","command":["/bin/false"],"resources":{"cpus":1}}')
wait_until 10 "T2 RUNNING" state_is "$T2" RUNNING
agent_of_t2=$(task_field "$T2" .hostname)
sim "$agent_of_t2" POST "/sim/finish/$T2" '{"state": "FAILED", "exit_code": 3}' >/dev/null
wait_until 10 "T2 FAILED" state_is "$T2" FAILED
assert_eq "T2 reason/exit" "$(task_field "$T2" .reason)/$(task_field "$T2" .exit_code)" "EXIT_NONZERO/3"
pass "FAILED with exit code 3 and EXIT_NONZERO"

# Kill of a pending task: removed at once; a second kill is refused.
TP=$(submit '{"name":"too-big","command":["/bin/true"],"resources":{"cpus":64}}')
wait_until 5 "TP has a pending reason" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/tasks/$TP | jq -e '.pending_reason | length > 0'"
echo "   pending reason: $(task_field "$TP" .pending_reason)"
out=$(api DELETE "/api/v1/tasks/$TP")
assert_eq "kill of a pending task" "$(tail -n1 <<<"$out")" 200
assert_eq "pending task after kill" "$(sed '$d' <<<"$out" | jq -r .state)/$(sed '$d' <<<"$out" | jq -r .reason)" "KILLED/KILLED_BY_REQUEST"
assert_eq "second kill" "$(api_status DELETE "/api/v1/tasks/$TP")" 409
assert_eq "kill of an unknown task" "$(api_status DELETE /api/v1/tasks/no-such-task)" 404
pass "pending task killed at once; repeated kill 409; unknown 404"

# Kill of a running task: DELETE goes to the agent, KILLED when it confirms.
T3=$(submit '{"name":"long","command":["/bin/sleep","1000"],"resources":{"cpus":1},"constraints":{"hostname":"a2"}}')
wait_until 10 "T3 RUNNING" state_is "$T3" RUNNING
assert_eq "kill of a running task" "$(api_status DELETE "/api/v1/tasks/$T3")" 202
wait_until 10 "T3 KILLED" state_is "$T3" KILLED
assert_eq "T3 reason" "$(task_field "$T3" .reason)" KILLED_BY_REQUEST
assert_eq "T3 on a2" "$(sim a2 GET /sim/state | jq -r ".tasks[\"$T3\"]")" KILLED
pass "running task killed through its agent"

# Refused launches: back to the queue with the reason, bounded retries, then FAILED.
sim a1 POST /sim/refuse '{"refuse": true}' >/dev/null
sim a2 POST /sim/refuse '{"refuse": true}' >/dev/null
T4=$(submit '{"name":"refused","command":["/bin/true"],"resources":{"cpus":1}}')
wait_until 20 "T4 FAILED" state_is "$T4" FAILED
assert_eq "T4 reason" "$(task_field "$T4" .reason)" LAUNCH_FAILED
assert_eq "T4 launch attempts" "$(task_field "$T4" .launch_attempts)" 3
task_field "$T4" .message | grep -q "refused the launch: HTTP 503" || fail "T4 message: $(task_field "$T4" .message)"
assert_eq "requeues recorded" "$(task_field "$T4" '[.history[] | select(.state=="PENDING" and (.message // "" | test("refused")))] | length')" 2
echo "   T4: $(task_field "$T4" .message)"
sim a1 POST /sim/refuse '{"refuse": false}' >/dev/null
sim a2 POST /sim/refuse '{"refuse": false}' >/dev/null
pass "refused launches requeued twice with the reason, FAILED/LAUNCH_FAILED after 3 attempts"

# Unreachable agent: a1 dies; a launch there fails with "unreachable" and the task is requeued.
kill_sim a1
T5=$(submit '{"name":"to-dead","command":["/bin/true"],"resources":{"cpus":1},"constraints":{"hostname":"a1"}}')
# By its history, not its state now: on a loaded machine the three attempts can all fail, and the
# task end FAILED, between two polls of a transient PENDING.
wait_until 10 "T5 requeued after an unreachable launch" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/tasks/$T5 | jq -e '[.history[] | select(.state==\"PENDING\" and (.message // \"\" | test(\"unreachable\")))] | length >= 1'"
echo "   T5: $(task_field "$T5" .message)"
wait_until 10 "a1 LOST" agent_state_is "$A1" LOST
state=$(task_state "$T5")
[ "$state" = PENDING ] || [ "$state" = FAILED ] || fail "T5 is $state after a1 was lost"
pass "unreachable agent: launch requeued with the reason"

# Idempotent submit by id.
spec='{"id":"fixed-1","name":"fixed","command":["/bin/true"],"resources":{"cpus":1}}'
assert_eq "first submit of fixed-1" "$(api_status POST /api/v1/tasks "$spec")" 201
assert_eq "same spec again" "$(api_status POST /api/v1/tasks "$spec")" 200
assert_eq "other spec, same id" "$(api_status POST /api/v1/tasks '{"id":"fixed-1","name":"other","command":["/bin/true"]}')" 409
pass "submission idempotent by id (201, 200, 409)"

stop_master
assert_done
