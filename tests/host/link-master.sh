#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The agent's master link (agent/master-link.c + agent/status-queue.c, driven by link-check)
# against the real silo-master on loopback: registration with a persisted id (also past a dead
# first master of a URL list), launches and kills through the master, status updates recorded
# exactly once, re-registration after the master's kill -9 and after being marked lost, and
# queued updates surviving the agent's kill -9; a follower's 307 (tests/host/redirector.py) followed
# only to a master of the list.
. "$(dirname "$0")/master-lib.sh"

MOPTS=(--heartbeat-interval-ms 200 --agent-timeout-ms 2000 --retry-base-ms 200)
start_master "${MOPTS[@]}"
start_sim a1 --state-dir "$WORK/a1"

link() { sim a1 GET /link | jq -r "$1"; }
link_is() { [ "$(link "$1")" = "$2" ]; }
link_ge() { [ "$(link "$1")" -ge "$2" ]; }
sim_link_is() { [ "$(sim "$1" GET /link | jq -r "$2")" = "$3" ]; }

# Every agent-sent event of a task (those with an update_id) appears once, in order.
updates_of() { api_body GET "/api/v1/tasks/$1" | jq -c '[.history[] | select(.update_id != null) | .state]'; }
expect_updates() {
    local got
    got=$(updates_of "$1")
    assert_eq "status updates recorded for task $1" "$got" "$2"
    api_body GET "/api/v1/tasks/$1" | jq -e '[.history[] | select(.update_id != null) | .update_id] | length == (unique | length)' >/dev/null ||
        fail "task $1: an update id recorded twice"
}

echo "== registration"
wait_until 10 "a1 registered" link_is .state registered
ID=$(cat "$WORK/a1/agent-id")
assert_eq "agent id persisted in <state-dir>/agent-id" "$(link .agent_id)" "$ID"
assert_eq "agents at the master" "$(api_body GET /api/v1/agents | jq -r '.agents | length')" 1
assert_eq "disk advertised in the registration" \
    "$(api_body GET "/api/v1/agents/$ID" | jq -r '.resources.disks[0].name + " " + (.resources.disks[0].write_bps|tostring)')" "nullb0 500000000"
wait_until 5 "heartbeats" link_ge .heartbeats 3
pass "registered as $ID; heartbeats flow ($(link .heartbeats))"
cluster=$(link .cluster_id)
assert_match "the registration answer's cluster id" "$cluster" '^[0-9a-f-]{36}$'
assert_match "kept with its epoch in <state-dir>/master-epoch" "$(cat "$WORK/a1/master-epoch")" "^$cluster/[1-9][0-9]*\$"

echo "== task lifecycle through the master"
T1=$(submit '{"name":"t1","command":["/bin/sleep","1"]}')
wait_until 10 "t1 FINISHED" state_is "$T1" FINISHED
expect_updates "$T1" '["RUNNING","FINISHED"]'
T2=$(submit '{"name":"t2","command":["/bin/false"]}')
wait_until 10 "t2 FAILED" state_is "$T2" FAILED
assert_eq "t2 outcome" "$(task_field "$T2" .exit_code)/$(task_field "$T2" .reason)" "1/EXIT_NONZERO"
T3=$(submit '{"name":"t3","command":["/bin/sleep","1000"]}')
wait_until 10 "t3 RUNNING" state_is "$T3" RUNNING
api DELETE "/api/v1/tasks/$T3" >/dev/null
wait_until 10 "t3 KILLED" state_is "$T3" KILLED
expect_updates "$T3" '["RUNNING","KILLED"]'
wait_until 5 "queue drained" link_is .queued 0
pass "FINISHED, FAILED (exit 1), KILLED; each update recorded once; queue empty"

echo "== a second agent, given a dead master first (--master URL,URL: the next one on failure)"
SIM_MASTERS="http://127.0.0.1:1,http://127.0.0.1:$PORT" start_sim a2 --state-dir "$WORK/a2"
wait_until 10 "two agents ACTIVE" api_is /api/v1/agents '[.agents[] | select(.state == "ACTIVE")] | length' 2
assert_eq "a2's link moved to the live master" \
    "$(sim a2 GET /link | jq -r '"\(.master) \(.failovers >= 1)"')" "http://127.0.0.1:$PORT true"
ID2=$(cat "$WORK/a2/agent-id")
[ "$ID2" != "$ID" ] || fail "both agents got the id $ID"
T2A=$(submit '{"name":"on-a2","command":["/bin/sleep","0.5"],"constraints":{"hostname":"a2"}}')
wait_until 10 "on-a2 FINISHED" state_is "$T2A" FINISHED
assert_eq "agent of the task constrained to a2" "$(task_field "$T2A" .agent_id)" "$ID2"
expect_updates "$T2A" '["RUNNING","FINISHED"]'
kill_sim a2
pass "two agents with their own ids; a task placed on a2 reported by a2's link"

echo "== master kill -9 while a task ends"
T4=$(submit '{"name":"t4","command":["/bin/sleep","2"]}')
wait_until 10 "t4 RUNNING" state_is "$T4" RUNNING
regs=$(link .registrations)
kill9_master
wait_until 10 "t4's FINISHED queued while the master is down" link_is .queued 1
wait_until 5 "link notices the master is gone" bash -c "[ \"\$(curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:${SIM_PORT[a1]}/link | jq -r .state)\" != registered ]"
start_master "${MOPTS[@]}"
wait_until 15 "re-registration after the master's restart" link_ge .registrations $((regs + 1))
wait_until 10 "t4 FINISHED at the master" state_is "$T4" FINISHED
wait_until 5 "queue drained" link_is .queued 0
expect_updates "$T4" '["RUNNING","FINISHED"]'
assert_eq "agents named a1 after the restart" "$(api_body GET /api/v1/agents | jq -r '[.agents[] | select(.hostname == "a1")] | length')" 1
pass "re-registered with the same id; the update queued meanwhile arrived once"

echo "== marked lost (silent past the timeout), then back"
regs=$(link .registrations)
kill -STOP "${SIM_PID[a1]}"
wait_until 10 "agent LOST" agent_state_is "$ID" LOST
kill -CONT "${SIM_PID[a1]}"
wait_until 10 "re-registration after 404" link_ge .registrations $((regs + 1))
wait_until 5 "agent ACTIVE" agent_state_is "$ID" ACTIVE
pass "heartbeat 404 -> registered again ($(link .registrations) registrations)"

echo "== agent kill -9 with an unacknowledged update on disk"
T5=$(submit '{"name":"t5","command":["/bin/sleep","1"]}')
wait_until 10 "t5 RUNNING" state_is "$T5" RUNNING
kill9_master
wait_until 10 "t5's FINISHED queued" link_is .queued 1
ls "$WORK/a1/status/" | grep -q '\.json$' || fail "no update file in $WORK/a1/status"
kill_sim a1
rm -f "$WORK/a1.port"
start_master "${MOPTS[@]}"
start_sim a1 --state-dir "$WORK/a1"
wait_until 10 "a1 registered again" link_is .state registered
assert_eq "agent id after the agent's restart" "$(link .agent_id)" "$ID"
wait_until 10 "t5 FINISHED" state_is "$T5" FINISHED
wait_until 5 "queue drained" link_is .queued 0
assert_eq "update files left after acknowledgement" "$(ls "$WORK/a1/status/" | grep -c '\.json$' || true)" 0
assert_eq "FINISHED updates of t5" "$(updates_of "$T5" | jq -r 'map(select(. == "FINISHED")) | length')" 1
assert_eq "agents named a1 after the agent's restart" "$(api_body GET /api/v1/agents | jq -r '[.agents[] | select(.hostname == "a1")] | length')" 1
pass "the queued update survived the agent's kill -9 and was delivered once"

echo "== a follower's 307: followed to a listed master, refused to any other"
# redirector MASTER_URL NAME: a server answering 307 to MASTER_URL<path>, as a follower does;
# its URL in $R (not $(...): the server must be this shell's child, killed by the cleanup).
redirector() {
    python3 "$(dirname "$0")/redirector.py" --target "$1" --port-file "$WORK/$2.rport" \
        >>"$WORK/$2.log" 2>&1 &
    PIDS+=("$!")
    wait_until 5 "redirector $2 listening" test -s "$WORK/$2.rport"
    R="http://127.0.0.1:$(cat "$WORK/$2.rport")"
}
redirector "http://127.0.0.1:$PORT" r1
R1=$R
SIM_MASTERS="$R1,http://127.0.0.1:$PORT" start_sim a3 --state-dir "$WORK/a3"
wait_until 10 "a3 registered through the redirect" sim_link_is a3 .state registered
assert_eq "a3's link asks the master the 307 named" "$(sim a3 GET /link | jq -r .master)" "http://127.0.0.1:$PORT"
assert_file_contains "a3 logs the redirect" "$WORK/a3.log" "redirected to the leader"
redirector "http://127.0.0.1:$PORT" r2
R2=$R
SIM_MASTERS="$R2" start_sim a4 --state-dir "$WORK/a4"
wait_until 10 "a4 refuses the redirect to a master it was not given" \
    grep -q "not one of --master" "$WORK/a4.log"
assert_eq "a4 not registered" "$(sim a4 GET /link | jq -r .state)" unregistered
assert_eq "agents named a4 at the master" "$(api_body GET /api/v1/agents | jq -r '[.agents[] | select(.hostname == "a4")] | length')" 0
kill_sim a3
kill_sim a4
pass "307 followed to the listed master with the same call; to an unlisted one refused and logged"

echo "== a status update refused 403 is set aside, and the updates after it still reach the master"
python3 "$(dirname "$0")/redirector.py" --refuse-one-status --target "http://127.0.0.1:$PORT" \
    --port-file "$WORK/r3.rport" >>"$WORK/r3.log" 2>&1 &
PIDS+=("$!")
wait_until 5 "proxy r3 listening" test -s "$WORK/r3.rport"
SIM_MASTERS="http://127.0.0.1:$(cat "$WORK/r3.rport")" start_sim a5 --state-dir "$WORK/a5"
wait_until 10 "a5 registered through the proxy" sim_link_is a5 .state registered
T6=$(submit '{"name":"on-a5","command":["/bin/sleep","0.5"],"constraints":{"hostname":"a5"}}')
wait_until 10 "on-a5 FINISHED (its RUNNING update refused)" state_is "$T6" FINISHED
assert_eq "a5's updates set aside" "$(sim a5 GET /link | jq -r .updates_rejected)" 1
assert_eq "a5's set-aside file" "$(ls "$WORK/a5/status/" | grep -c '\.rejected$' || true)" 1
assert_file_contains "a5 logs the refusal" "$WORK/a5.log" "refused once by redirector.py"
expect_updates "$T6" '["FINISHED"]'
wait_until 5 "a5's queue drained" sim_link_is a5 .queued 0
kill_sim a5
pass "403 set aside as .rejected, logged; the next update delivered"

echo "== a fresh master state (a new cluster): adopted at the re-registration, epochs afresh"
old_epoch=$(link .epoch)
[ "$old_epoch" -gt 1 ] || fail "epoch $old_epoch after two master restarts (expected more than 1)"
stop_master
start_master "${MOPTS[@]}" --state-dir "$WORK/fresh-state"
new_cluster() { [ "$(link .cluster_id)" != "$cluster" ] && [ "$(link .state)" = registered ]; }
wait_until 15 "a1 registered with the fresh state's master" new_cluster
assert_eq "the new cluster's epoch, counted afresh (was $old_epoch)" "$(link .epoch)" 1
assert_eq "<state-dir>/master-epoch" "$(cat "$WORK/a1/master-epoch")" "$(link .cluster_id)/1"
pass "cluster $cluster (epoch $old_epoch) -> $(link .cluster_id) (epoch 1)"

assert_done
