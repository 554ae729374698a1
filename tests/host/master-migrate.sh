#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# silo-master --migrate-to etcd: a SQLite state (an agent, a finished, a running and a pending
# task with their histories, the event stream) copied into an empty etcd prefix, then served by
# a master on --store etcd exactly as it was; a second copy into the same prefix is refused,
# naming it, and --migrate-to without --etcd is a configuration error.
. "$(dirname "${BASH_SOURCE[0]}")/master-lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/etcd.sh"
etcd_available || skip_suite "etcd is not installed (Debian: etcd-server etcd-client)"
[ "${SILO_TEST_STORE:-sqlite}" = sqlite ] || skip_suite "migrates from SQLite: runs on SQLite only"

on() { printf '{"name":"%s","command":["/bin/sleep","1000"],"resources":{"cpus":%s}}' "$1" "$2"; }
# A long-lived SQLite cluster: its epoch (one per master start) far above what etcd's leader
# key's create_revision will be after the migration.
start_master
stop_master
python3 -c 'import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute("UPDATE meta SET value = 499 WHERE key = \"epoch\""); db.commit()' "$(ls "$WORK"/state/*.db | head -1)"
start_master
start_sim a1
wait_until 5 "a1 registered" sim_registered a1
T_FIN=$(submit "$(on fin 1)")
T_RUN=$(submit "$(on run 1)")
T_PEND=$(submit "$(on pend 512)")
wait_until 10 "T_FIN RUNNING" state_is "$T_FIN" RUNNING
wait_until 10 "T_RUN RUNNING" state_is "$T_RUN" RUNNING
sim a1 POST "/sim/finish/$T_FIN" '{"state":"FINISHED","exit_code":0}' >/dev/null
wait_until 10 "T_FIN FINISHED" state_is "$T_FIN" FINISHED
snapshot() {
    api_body GET /api/v1/tasks | jq -c '[.tasks[] | {id, state, reason, exit_code, agent_id}] | sort_by(.id)'
    for t in "$T_FIN" "$T_RUN" "$T_PEND"; do
        task_field "$t" '[.history[] | [.seq, .state, .source, .update_id != null, .applied]]' | jq -c .
    done
    api_body GET /api/v1/agents | jq -c '[.agents[] | {id, state}]'
}
before=$(snapshot)
events_before=$(curl -sS -m 3 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/events?since=0" | jq -c 'select(.type != "heartbeat") | .index' | jq -s -c . || true)
cluster=$(sim a1 GET /sim/state | jq -r .cluster_id)
assert_eq "a1 saw the SQLite master's epoch" "$(sim a1 GET /sim/state | jq -r .epoch)" 500
stop_master # a1 stays: it heartbeats in vain until the etcd master answers

etcd_start_cluster 1
rc=0
"$MASTER_BIN" --state-dir "$WORK/state" --migrate-to etcd --etcd "$ETCD_ENDPOINTS" --etcd-prefix /migrated/ >"$WORK/migrate.log" 2>&1 || rc=$?
cat "$WORK/migrate.log"
assert_eq "--migrate-to etcd exit status" "$rc" 0
assert_match "migration counts" "$(cat "$WORK/migrate.log")" "copied 1 agents, 0 volumes, 3 tasks, [0-9]+ history events, [0-9]+ stream events"

rc=0
"$MASTER_BIN" --state-dir "$WORK/state" --migrate-to etcd --etcd "$ETCD_ENDPOINTS" --etcd-prefix /migrated/ >"$WORK/migrate2.log" 2>&1 || rc=$?
assert_eq "a second migration into the same prefix fails" "$rc" 1
assert_match "it names the prefix" "$(cat "$WORK/migrate2.log")" "etcd prefix '/migrated/' at .* holds [0-9]+ keys"
rc=0
"$MASTER_BIN" --state-dir "$WORK/state" --migrate-to etcd >"$WORK/migrate3.log" 2>&1 || rc=$?
assert_eq "--migrate-to etcd without --etcd: EX_CONFIG" "$rc" 78
assert_match "it says what is missing" "$(cat "$WORK/migrate3.log")" "needs --etcd"

start_master --store etcd --etcd "$ETCD_ENDPOINTS" --etcd-prefix /migrated/
after=$(snapshot)
assert_eq "tasks, histories and agents served from etcd as they were in SQLite" "$after" "$before"
events_after=$(curl -sS -m 3 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/events?since=0" | jq -c 'select(.type != "heartbeat") | .index' | jq -s -c . || true)
# (the restarted master may add events: the pending task's reason is reported again)
assert_eq "the event stream's indices kept" "$(jq -c --argjson n "$(jq length <<<"$events_before")" '.[:$n]' <<<"$events_after")" "$events_before"
# and the migrated state goes on: a new task's history seq and event index come after the
# migrated ones (the counters were copied, not restarted)
max_seq=$(for t in "$T_FIN" "$T_RUN" "$T_PEND"; do task_field "$t" '.history[].seq'; done | sort -n | tail -1)
T_NEW=$(submit "$(on new 512)")
assert_eq "T_NEW's first history seq is after the migrated ones ($max_seq)" \
    "$(task_field "$T_NEW" ".history[0].seq > $max_seq")" true
new_index=$(curl -sS -m 3 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/events?since=0" | jq -c "select(.task_id == \"$T_NEW\") | .index" | head -1 || true)
assert_eq "T_NEW's first event index is after the migrated ones" "$((new_index > $(jq 'max' <<<"$events_before")))" 1
# A new fencing domain: etcd's epochs start again far below the SQLite master's 500, so the
# migrated state has its own cluster id, which a1 (that saw epoch 500) adopts when it registers
# again, and then takes the etcd master's launches.
assert_match "the SQLite state's cluster id" "$cluster" '^[0-9a-f-]{36}$'
wait_until 10 "a1 registered with the etcd master (a new cluster id)" bash -c "[ \"\$(curl -s http://127.0.0.1:${SIM_PORT[a1]}/sim/state | jq -r .cluster_id)\" != '$cluster' ]"
assert_match "a1's epoch now the etcd leader's" "$(sim a1 GET /sim/state | jq -r .epoch)" '^([1-9]|[1-9][0-9]|[1-4][0-9][0-9])$'
T_LATE=$(submit "$(on late 1)")
wait_until 10 "T_LATE (launched by the etcd master at a1) RUNNING" state_is "$T_LATE" RUNNING
assert_eq "T_LATE on a1" "$(task_field "$T_LATE" .agent_id)" "$(sim_agent_id a1)"
assert_eq "a1 refused no launch as stale" "$(sim a1 GET /sim/state | jq -r .stale_epoch_refusals)" 0
stop_master
assert_done
