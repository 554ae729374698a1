#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# silo-master /metrics passes `promtool check metrics` and its figures follow what happened.
. "$(dirname "$0")/master-lib.sh"
command -v promtool >/dev/null || { echo "SKIP: promtool (Debian package prometheus) is not installed"; exit 77; }

start_master --heartbeat-interval-ms 100 --agent-timeout-ms 2000
start_sim a1 --cpus 2 --disk nvme0n1:ssd:1000000000:500000000:100000:50000
wait_for 10 "a1 registered" sim_registered a1
T1=$(submit '{"name":"m1","command":["/bin/true"],"resources":{"cpus":1}}')
T2=$(submit '{"name":"m2","command":["/bin/true"],"resources":{"cpus":8}}')
wait_for 10 "T1 RUNNING" state_is "$T1" RUNNING
sim a1 POST "/sim/finish/$T1" '{"state":"FINISHED","exit_code":0,"repeat":2}' >/dev/null
wait_for 10 "T1 FINISHED" state_is "$T1" FINISHED

expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")" 401 "/metrics without the token"
api GET /metrics | sed '$d' > "$WORK/metrics.txt"
promtool check metrics < "$WORK/metrics.txt" || fail "promtool check metrics failed"
ok "promtool check metrics passes ($(grep -vc '^#' "$WORK/metrics.txt") samples)"

metric() { awk -v m="$1" '$1 == m {print $2}' "$WORK/metrics.txt"; }
expect_eq "$(metric 'silo_master_tasks{state="FINISHED"}')" 1 "FINISHED tasks"
expect_eq "$(metric 'silo_master_tasks{state="PENDING"}')" 1 "PENDING tasks"
expect_eq "$(metric 'silo_master_agents{state="active"}')" 1 "active agents"
expect_eq "$(metric silo_master_tasks_submitted_total)" 2 "submitted"
expect_eq "$(metric silo_master_launches_accepted_total)" 1 "launches accepted"
wait_for 5 "duplicate counted" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/metrics | grep -q '^silo_master_status_duplicates_total 1$'"
[ "$(metric silo_master_heartbeats_total)" -ge 1 ] || fail "no heartbeats counted"
ok "metrics follow the cluster (tasks by state, agents, launches, duplicates, heartbeats)"

stop_master
echo "PASS master-metrics"
