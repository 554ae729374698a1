#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# silo-master /metrics passes `promtool check metrics` and its figures follow what happened.
. "$(dirname "$0")/master-lib.sh"
command -v promtool >/dev/null || skip_suite "promtool (Debian package prometheus) is not installed"

start_master --heartbeat-interval-ms 100 --agent-timeout-ms 2000
start_sim a1 --cpus 2 --disk nvme0n1:ssd:1000000000:500000000:100000:50000
wait_for 10 "a1 registered" sim_registered a1
T1=$(submit '{"name":"m1","command":["/bin/true"],"resources":{"cpus":1}}')
T2=$(submit '{"name":"m2","command":["/bin/true"],"resources":{"cpus":8}}')
wait_for 10 "T1 RUNNING" state_is "$T1" RUNNING
sim a1 POST "/sim/finish/$T1" '{"state":"FINISHED","exit_code":0,"repeat":2}' >/dev/null
wait_for 10 "T1 FINISHED" state_is "$T1" FINISHED

assert_eq "/metrics without the token" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")" 401
api GET /metrics | sed '$d' > "$WORK/metrics.txt"
promtool check metrics < "$WORK/metrics.txt" || fail "promtool check metrics failed"
pass "promtool check metrics passes ($(grep -vc '^#' "$WORK/metrics.txt") samples)"

metric() { awk -v m="$1" '$1 == m {print $2}' "$WORK/metrics.txt"; }
assert_eq "FINISHED tasks" "$(metric 'silo_master_tasks{state="FINISHED"}')" 1
assert_eq "PENDING tasks" "$(metric 'silo_master_tasks{state="PENDING"}')" 1
assert_eq "active agents" "$(metric 'silo_master_agents{state="active"}')" 1
assert_eq "submitted" "$(metric silo_master_tasks_submitted_total)" 2
assert_eq "launches accepted" "$(metric silo_master_launches_accepted_total)" 1
wait_for 5 "duplicate counted" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/metrics | grep -q '^silo_master_status_duplicates_total 1$'"
[ "$(metric silo_master_heartbeats_total)" -ge 1 ] || fail "no heartbeats counted"
pass "metrics follow the cluster (tasks by state, agents, launches, duplicates, heartbeats)"

stop_master
assert_done
