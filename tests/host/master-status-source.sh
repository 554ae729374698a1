#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# silo-master takes a task's status updates only from the agent it is placed on (issue 12,
# finding 11): an update without agent_id, from another or an unknown agent, or for a PENDING
# task is refused with the ids, and the task does not move.
. "$(dirname "$0")/master-lib.sh"

start_master --heartbeat-interval-ms 100 --agent-timeout-ms 2000
start_sim a1 --cpus 2
start_sim a2 --cpus 2
wait_until 10 "a1 and a2 registered" api_is /api/v1/agents '[.agents[] | select(.state=="ACTIVE")] | length' 2
A1=$(sim_agent_id a1); A2=$(sim_agent_id a2)

n=0
# update TASK STATE [AGENT_ID]: prints the HTTP status; the body in $WORK/out.json
update() {
    local agent=${3:-}
    n=$((n + 1))
    curl -sS -o "$WORK/out.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
        -d "{\"update_id\": \"forged-$n\", \"task_id\": \"$1\", \"state\": \"$2\", \"timestamp_ms\": $(date +%s%3N)${agent:+, \"agent_id\": \"$agent\"}}" \
        "http://127.0.0.1:$PORT/api/v1/status"
}

# A task that cannot be placed (more cpus than any agent has) stays PENDING.
P=$(submit '{"id": "pending-1", "name": "p", "command": ["/bin/sleep", "1000"], "resources": {"cpus": 64}}')
wait_until 5 "pending-1 has a pending reason" api_is "/api/v1/tasks/$P" '.pending_reason != null' true

code=$(update "$P" STARTING)
assert_eq "update without agent_id for a PENDING task" "$code" 400
grep -q "agent_id: missing" "$WORK/out.json" || fail "message: $(cat "$WORK/out.json")"
assert_eq "pending-1 after an update without agent_id" "$(task_state "$P")" PENDING
code=$(update "$P" RUNNING "$A1")
assert_eq "update from a registered agent for a PENDING task" "$code" 409
grep -q "task pending-1 is PENDING, not placed on agent $A1" "$WORK/out.json" || fail "message: $(cat "$WORK/out.json")"
code=$(update "$P" RUNNING no-such-agent)
assert_eq "update from an unknown agent" "$code" 409
grep -q "agent no-such-agent is not registered" "$WORK/out.json" || fail "message: $(cat "$WORK/out.json")"
assert_eq "pending-1 after the refused updates" "$(task_state "$P")" PENDING
assert_eq "pending-1 history (the refused updates are not recorded)" "$(task_field "$P" '.history | length')" 1
# The kill of a PENDING task is immediate and final, as it must be.
assert_eq "kill of the PENDING task" "$(api_status DELETE "/api/v1/tasks/$P")" 200
assert_eq "pending-1 after the kill" "$(task_state "$P")" KILLED
pass "updates for a PENDING task are refused (400 without agent_id, 409 with one); the kill is immediate"

# A task RUNNING on a1: updates claiming to come from a2, from nobody or from an unknown agent
# are refused; the task stays RUNNING and a1 can still end it.
T=$(submit '{"id": "placed-1", "name": "p", "command": ["/bin/sleep", "1000"], "resources": {"cpus": 1}, "constraints": {"hostname": "a1"}}')
wait_until 10 "placed-1 RUNNING" state_is "$T" RUNNING
assert_eq "placed-1 agent" "$(task_field "$T" .agent_id)" "$A1"
code=$(update "$T" FINISHED)
assert_eq "update without agent_id for a RUNNING task" "$code" 400
code=$(update "$T" FAILED "$A2")
assert_eq "update from another agent" "$code" 409
grep -q "task placed-1 is placed on agent $A1, not on agent $A2" "$WORK/out.json" || fail "message: $(cat "$WORK/out.json")"
code=$(update "$T" KILLED forged-agent)
assert_eq "update from an unknown agent for a RUNNING task" "$code" 409
assert_eq "placed-1 after the refused updates" "$(task_state "$T")" RUNNING
assert_eq "placed-1 on a1" "$(sim a1 GET /sim/state | jq -r '.tasks["placed-1"]')" RUNNING
sim a1 POST /sim/finish/placed-1 '{"state": "FINISHED", "exit_code": 0}' >/dev/null
wait_until 10 "placed-1 FINISHED (from a1)" state_is "$T" FINISHED
pass "updates for a placed task from anyone but its agent are refused; its agent's update applies"

# An agent may still report a task the master does not know (it is recorded and the agent
# told to kill it): that is reconciliation, not a forgery of another agent's task.
code=$(update never-submitted RUNNING "$A2")
assert_eq "update from a registered agent for an unknown task" "$code" 200
wait_until 5 "a2 asked to kill the unknown task" sim_is a2 .kill_requests 1
pass "an unknown task reported by a registered agent is acknowledged and killed there"
assert_done
