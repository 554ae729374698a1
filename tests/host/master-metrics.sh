#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# silo-master /metrics passes `promtool check metrics` and its figures follow what happened.
. "$(dirname "$0")/master-lib.sh"
command -v promtool >/dev/null || skip_suite "promtool (Debian package prometheus) is not installed"

start_master --heartbeat-interval-ms 100 --agent-timeout-ms 2000
start_sim a1 --cpus 2 --disk nvme0n1:ssd:1000000000:500000000:100000:50000
wait_until 10 "a1 registered" sim_registered a1
T1=$(submit '{"name":"m1","command":["/bin/true"],"resources":{"cpus":1}}')
T2=$(submit '{"name":"m2","command":["/bin/true"],"resources":{"cpus":8}}')
wait_until 10 "T1 RUNNING" state_is "$T1" RUNNING
sim a1 POST "/sim/finish/$T1" '{"state":"FINISHED","exit_code":0,"repeat":2}' >/dev/null
wait_until 10 "T1 FINISHED" state_is "$T1" FINISHED

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
wait_until 5 "duplicate counted" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/metrics | grep -q '^silo_master_status_duplicates_total 1$'"
[ "$(metric silo_master_heartbeats_total)" -ge 1 ] || fail "no heartbeats counted"
pass "metrics follow the cluster (tasks by state, agents, launches, duplicates, heartbeats)"

# The cluster's capacity and what is booked on it, per agent and per disk: T2 (8 cpus) cannot
# fit on a1 (2 cpus) and is pending for cpus; a io-limited task books its wbps on the disk.
T3=$(submit '{"name":"m3","command":["/bin/sleep","60"],"resources":{"cpus":0.5,"mem":"64Mi","io":[{"disk":"nvme0n1","wbps":"100M"}]}}')
wait_until 10 "T3 RUNNING" state_is "$T3" RUNNING
api GET /metrics | sed '$d' > "$WORK/metrics.txt"
promtool check metrics < "$WORK/metrics.txt" || fail "promtool check metrics failed with a running task"
A1=$(api GET /api/v1/agents | sed '$d' | jq -r '.agents[0].id')
AL="agent=\"$A1\",hostname=\"a1\""
DL="$AL,disk=\"nvme0n1\",class=\"ssd\""
assert_eq "agent cpus" "$(metric "silo_master_agent_cpus{$AL}")" 2
assert_eq "agent cpus allocated" "$(metric "silo_master_agent_cpus_allocated{$AL}")" 0.5
assert_eq "agent cpus free" "$(metric "silo_master_agent_cpus_free{$AL}")" 1.5
assert_eq "agent memory allocated" "$(metric "silo_master_agent_memory_allocated_bytes{$AL}")" 67108864
assert_eq "agent placed tasks" "$(metric "silo_master_agent_placed_tasks{$AL}")" 1
assert_eq "disk capacity wbps" "$(metric "silo_master_disk_capacity_write_bytes_per_second{$DL}")" 500000000
assert_eq "disk capacity riops" "$(metric "silo_master_disk_capacity_read_iops{$DL}")" 100000
assert_eq "disk allocated wbps" "$(metric "silo_master_disk_allocated_write_bytes_per_second{$DL}")" 100000000
assert_eq "disk allocated rbps" "$(metric "silo_master_disk_allocated_read_bytes_per_second{$DL}")" 0
assert_eq "disk io cost allocated" "$(metric "silo_master_disk_io_cost_allocated{$DL}")" 0.2
assert_eq "disk io cost free" "$(metric "silo_master_disk_io_cost_free{$DL}")" 0.8
assert_eq "pending for cpus" "$(metric 'silo_master_pending_tasks{reason="cpus"}')" 1
assert_eq "pending for mem" "$(metric 'silo_master_pending_tasks{reason="mem"}')" 0
pass "capacity, allocated and free per agent and per disk; pending tasks by reason"

# Histograms: every pass, launch and applied status update was observed once.
passes=$(metric silo_master_allocation_passes_total)
assert_eq "pass histogram count" "$(metric silo_master_allocation_pass_duration_seconds_count)" "$passes"
assert_eq "pass histogram +Inf" "$(metric 'silo_master_allocation_pass_duration_seconds_bucket{le="+Inf"}')" "$passes"
assert_eq "launch histogram count" "$(metric silo_master_launch_duration_seconds_count)" "$(metric silo_master_launches_accepted_total)"
assert_eq "status histogram count" "$(metric silo_master_status_update_delay_seconds_count)" "$(metric silo_master_status_updates_total)"
awk '$1 ~ /^silo_master_launch_duration_seconds_bucket/ {if ($2 < prev) exit 1; prev = $2}' "$WORK/metrics.txt" \
    || fail "launch histogram buckets are not cumulative"
grep -q '^process_resident_memory_bytes [1-9]' "$WORK/metrics.txt" || fail "no process_resident_memory_bytes"
grep -q '^silo_build_info{version="[^"]*"} 1$' "$WORK/metrics.txt" || fail "no silo_build_info"
pass "allocation pass, launch and status update histograms; process_* and silo_build_info"

stop_master
assert_done
