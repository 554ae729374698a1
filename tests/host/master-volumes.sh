#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# silo-master's persistent volumes (issue 16) with sim-agents that make and report them: a new
# volume placed on a disk with room and counted against its size, the capacity reason, 409
# volume_in_use at submission and deletion, a later task reattached to the volume's agent and
# disk, a master restart (kill -9) keeping every volume, a volume its agent loses flagged, a
# volume on a lost agent keeping its task pending with the reason, deletion through the agent,
# events and metrics. SILO_TEST_STORE=etcd runs it with the master's state in etcd.
. "$(dirname "$0")/master-lib.sh"

G=$((1 << 30))
start_master --heartbeat-interval-ms 100 --agent-timeout-ms 2000 --retry-base-ms 100
# n1: a 10Gi disk for volumes (sda) and a faster one without a filesystem (nvme0n1, size 0);
# n2: a 4Gi disk for volumes and twice the cpus.
start_sim n1 --cpus 4 --disk "sda:hdd:200000000:200000000:200:200:$((10 * G))" \
    --disk nvme0n1:ssd:2000000000:2000000000:200000:200000
start_sim n2 --cpus 8 --disk "sdb:hdd:200000000:200000000:200:200:$((4 * G))"
wait_until 10 "agents registered" api_is /api/v1/agents '.agents | length' 2
N1=$(sim_agent_id n1)
N2=$(sim_agent_id n2)

vol_task() { # NAME VOLUME SIZE [EXTRA volume JSON] [CPUS]
    printf '{"name":"%s","command":["/bin/sleep","inf"],"resources":{"cpus":%s,"io":[{"disk":"any","wbps":"10M"}]},"container":{"volumes":[{"name":"%s","size":"%s","target":"/data"%s}]}}' \
        "$1" "${5:-1}" "$2" "$3" "${4:-}"
}
vol_field() { api_body GET "/api/v1/volumes/$1" | jq -r "$2"; }

# A new 5Gi volume: only a disk with room takes it (n1's sda: n2's sdb is 4Gi, nvme0n1 takes
# no volumes), and the io entry with disk "any" goes to the volume's disk, not the faster one.
A=$(submit "$(vol_task a pg 5Gi)")
wait_until 10 "a RUNNING" state_is "$A" RUNNING
assert_eq "a's agent" "$(task_field "$A" .agent_id)" "$N1"
assert_eq "a's io disk is the volume's" "$(task_field "$A" '.disks[0]')" sda
wait_until 10 "pg ready" api_is /api/v1/volumes/pg .state ready
assert_eq "pg's record" "$(vol_field pg '[.agent_id, .disk, .size, .role, (.tasks | join(","))] | join(" ")')" \
    "$N1 sda $((5 * G)) default $A"
assert_eq "n1 made pg on sda" "$(sim n1 GET /api/v1/volumes | jq -r '.volumes[] | select(.name == "pg") | .disk')" sda
pass "a new 5Gi volume goes to n1/sda (the disk with room), the task's io 'any' with it; ready once n1 reports it"

# The same volume read-write in a second task: 409 volume_in_use naming a; another size: 400.
out=$(api POST /api/v1/tasks "$(vol_task b pg 5Gi)")
assert_eq "second read-write user" "$(tail -n1 <<<"$out")" 409
assert_eq "its code" "$(sed '$d' <<<"$out" | jq -r .error.code)" volume_in_use
assert_match "its message names the task" "$(sed '$d' <<<"$out" | jq -r .error.message)" "volume 'pg' is in use by task $A"
out=$(api POST /api/v1/tasks "$(vol_task b pg 6Gi)")
assert_eq "another size" "$(tail -n1 <<<"$out")" 400
assert_match "its message" "$(sed '$d' <<<"$out" | jq -r .error.message)" "container.volumes\[0\].size: 6Gi, but volume 'pg' exists with size 5Gi"
pass "a second read-write mount is 409 volume_in_use naming $A; another size is 400"

# Two tasks sharing a new volume ("shared": true, on disk sdb) both go where it is.
S1=$(submit "$(vol_task s1 logs 2Gi ',"shared":true,"disk":"sdb"')")
S2=$(submit "$(vol_task s2 logs 2Gi ',"shared":true,"disk":"sdb"')")
wait_until 10 "s1 and s2 RUNNING" bash -c "[ \"\$(curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/tasks/$S2 | jq -r .state)\" = RUNNING ]"
assert_eq "s1 and s2 on n2" "$(task_field "$S1" .agent_id) $(task_field "$S2" .agent_id)" "$N2 $N2"
assert_eq "logs' tasks" "$(vol_field logs '.tasks | length')" 2
pass "two shared mounts of a new volume: both tasks on $(task_field "$S1" .hostname), where it is"

# Larger than any disk's free space: PENDING with the reason.
B=$(submit "$(vol_task big huge 30Gi)")
wait_until 5 "big pending with a reason" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/tasks/$B | jq -e '.pending_reason | length > 0'"
reason=$(task_field "$B" .pending_reason)
assert_eq "the capacity reason" "$reason" "no disk has 30Gi free for volume 'huge' (largest free: 5Gi on n1/sda)"
assert_eq "no record for a volume not placed" "$(api_status GET /api/v1/volumes/huge)" 404
assert_eq "kill big" "$(api_status DELETE "/api/v1/tasks/$B")" 200
pass "a volume larger than any disk's free space: PENDING, '$reason'"

# Deleting a volume in use: 409 naming the task.
out=$(api DELETE /api/v1/volumes/pg)
assert_eq "delete in use" "$(tail -n1 <<<"$out")" 409
assert_match "names the task" "$(sed '$d' <<<"$out" | jq -r .error.message)" "in use by task $A"
assert_eq "unknown volume" "$(api_status DELETE /api/v1/volumes/nope)" 404
pass "DELETE of a volume in use: 409 naming $A; of an unknown one: 404"

# a ends; a later task naming pg lands on n1/sda again, though n2 has more of everything free.
assert_eq "kill a" "$(api_status DELETE "/api/v1/tasks/$A")" 202
wait_until 10 "a KILLED" state_is "$A" KILLED
assert_eq "pg outlives a" "$(vol_field pg .state)" ready
C=$(submit "$(vol_task c pg 5Gi)")
wait_until 10 "c RUNNING" state_is "$C" RUNNING
assert_eq "c's agent" "$(task_field "$C" .agent_id)" "$N1"
assert_eq "c's io disk" "$(task_field "$C" '.disks[0]')" sda
pass "a new task naming pg is placed on pg's agent and disk again (n1/sda)"

# The master restarts (kill -9): every volume is still known, with its agent and state.
before=$(api_body GET /api/v1/volumes | jq -c '[.volumes[] | {name, agent_id, disk, size, state}]')
kill9_master
start_master --heartbeat-interval-ms 100 --agent-timeout-ms 2000 --retry-base-ms 100
assert_eq "volumes after a restart" "$(api_body GET /api/v1/volumes | jq -c '[.volumes[] | {name, agent_id, disk, size, state}]')" "$before"
wait_until 10 "n1 back" agent_state_is "$N1" ACTIVE
pass "after kill -9 of the master: $(jq length <<<"$before") volumes, as before"

# A volume its agent no longer reports is flagged, not dropped.
sim n2 POST /sim/volume-drop '{"name":"logs"}' >/dev/null
wait_until 10 "logs flagged missing" api_is /api/v1/volumes/logs .missing true
assert_eq "logs kept" "$(vol_field logs .state)" ready
pass "a ready volume its agent stops reporting is flagged missing and kept"

# The volume's agent is lost: a task naming it waits, the reason naming the volume and agent.
assert_eq "kill c" "$(api_status DELETE "/api/v1/tasks/$C")" 202
wait_until 10 "c KILLED" state_is "$C" KILLED
kill_sim n1
wait_until 10 "n1 lost" agent_state_is "$N1" LOST
D=$(submit "$(vol_task d pg 5Gi)")
wait_until 5 "d pending with a reason" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/tasks/$D | jq -e '.pending_reason | length > 0'"
reason=$(task_field "$D" .pending_reason)
assert_eq "d's reason" "$reason" "volume 'pg' is on agent $N1 (disk sda), which is not active"
assert_eq "kill d" "$(api_status DELETE "/api/v1/tasks/$D")" 200
pass "a task naming a volume on a lost agent stays PENDING: '$reason'"

# Deleting: DELETING while its agent is away (durable), gone once the agent confirms.
out=$(api DELETE /api/v1/volumes/pg)
assert_eq "delete accepted" "$(tail -n1 <<<"$out")" 202
assert_eq "deleting" "$(sed '$d' <<<"$out" | jq -r .state)" deleting
out=$(api POST /api/v1/tasks "$(vol_task e pg 5Gi)")
assert_eq "a task naming a volume being deleted" "$(tail -n1 <<<"$out")" 409
assert_eq "its code" "$(sed '$d' <<<"$out" | jq -r .error.code)" volume_deleting
# The restart in this shell, not in a $(...): a master started in a subshell is one the
# suite's cleanup does not know, and it outlived every run.
kill9_master
start_master --heartbeat-interval-ms 100 --agent-timeout-ms 2000 --retry-base-ms 100
assert_eq "still deleting after a restart" "$(vol_field pg .state)" deleting
pass "DELETE: 202 deleting, durable while its agent is away (a master restart keeps it)"

# Made on an agent: the sim's answer is what removes it there.
wait_until 10 "n2 back" agent_state_is "$N2" ACTIVE
F=$(submit "$(vol_task f scratch 1Gi)")
wait_until 10 "f RUNNING" state_is "$F" RUNNING
F_AT=$(task_field "$F" .hostname)
assert_eq "scratch on n2 (n1 is lost)" "$F_AT" n2
wait_until 10 "scratch ready" api_is /api/v1/volumes/scratch .state ready
assert_eq "kill f" "$(api_status DELETE "/api/v1/tasks/$F")" 202
wait_until 10 "f KILLED" state_is "$F" KILLED
deletes0=$(sim "$F_AT" GET /sim/state | jq .volume_deletes)
assert_eq "delete scratch" "$(api_status DELETE /api/v1/volumes/scratch)" 202
wait_until 10 "scratch gone" bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/volumes/scratch) = 404 ]"
# The sim deletes in the background as the agent does (202 "deleting" for 300 ms, then 404 and
# no longer reported): the master asks again after its backoff or learns it from a heartbeat.
asked=$(( $(sim "$F_AT" GET /sim/state | jq .volume_deletes) - deletes0 ))
# With the master's backoff (--retry-base-ms 100) a 300 ms deletion takes a few asks; ten or
# more would be a retry loop hammering the agent.
[ "$asked" -ge 1 ] && [ "$asked" -lt 10 ] || fail "the agent was asked $asked times to delete scratch"
assert_eq "gone from the agent" "$(sim "$F_AT" GET /api/v1/volumes | jq '[.volumes[] | select(.name == "scratch")] | length')" 0
pass "DELETE of a volume not in use: its agent deletes it, then the record goes"

# Events and metrics.
events=$(curl -sN --max-time 2 -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$PORT/api/v1/events?since=0&type=volume_created,volume_deleted" || true)
assert_eq "volume events of scratch" "$(grep '"volume":"scratch"' <<<"$events" | jq -r .type | paste -sd,)" \
    volume_created,volume_deleted
assert_eq "volume_created of pg, on n1" "$(grep '"volume":"pg"' <<<"$events" | jq -r '"\(.type) \(.agent_id) \(.disk)"')" \
    "volume_created $N1 sda"
metrics=$(api_body GET /metrics | grep -E '^silo_master_(volumes|disk_volume_)')
assert_eq "volumes by state" "$(grep -E '^silo_master_volumes\{' <<<"$metrics" | paste -sd' ')" \
    'silo_master_volumes{state="pending"} 0 silo_master_volumes{state="ready"} 1 silo_master_volumes{state="deleting"} 1 silo_master_volumes{state="missing"} 1'
assert_eq "bytes booked on n2/sdb" "$(grep -F "silo_master_disk_volume_allocated_bytes{agent=\"$N2\"" <<<"$metrics" | awk '{print $2}')" $((2 * G))
assert_eq "n2/sdb's size" "$(grep -F "silo_master_disk_volume_capacity_bytes{agent=\"$N2\"" <<<"$metrics" | awk '{print $2}')" $((4 * G))
pass "events volume_created/volume_deleted; metrics silo_master_volumes and bytes per disk"

# A volume deleted on its agent behind the master's back (DELETE sent to the agent itself): the
# master, which still counts it ready, launches a task naming it there; the agent refuses with
# 409 volume_deleting for as long as the deletion lasts (5 s on n3). That is not the task's
# fault: the master launches again after a growing backoff (0.1, 0.2, 0.4 ... s) without
# counting an attempt (5 allowed, --launch-attempts' default), and the launch once the volume
# is gone makes a new one.
start_sim n3 --cpus 4 --volume-delete-ms 5000 --disk "sdc:hdd:200000000:200000000:200:200:$((8 * G))"
wait_until 10 "n3 registered" api_is /api/v1/agents '.agents | length' 3
G1=$(submit "$(vol_task g1 vx 1Gi ',"disk":"sdc"')")
wait_until 10 "g1 RUNNING" state_is "$G1" RUNNING
wait_until 10 "vx ready" api_is /api/v1/volumes/vx .state ready
assert_eq "kill g1" "$(api_status DELETE "/api/v1/tasks/$G1")" 202
wait_until 10 "g1 KILLED" state_is "$G1" KILLED
assert_eq "vx deleted on n3 itself" "$(sim n3 DELETE /api/v1/volumes/vx | jq -r .state)" deleting
G2=$(submit "$(vol_task g2 vx 1Gi ',"disk":"sdc"')")
wait_until 30 "g2 RUNNING" state_is "$G2" RUNNING
refused=$(sim n3 GET /sim/launches | jq --arg id "$G2" '[.launches[] | select(.id == $id and .status == 409)] | length')
# As many refusals as launch attempts allowed, or more: none of them was counted. Fewer than
# 10: the backoff grew (at 0.1 s a time, 5 s of deletion would have been about 40 asks).
[ "$refused" -ge 5 ] && [ "$refused" -lt 10 ] || fail "n3 refused g2's launch $refused times; want 5 to 9"
assert_eq "refusals logged as not counted" "$(grep -c "task $G2: agent .* refused the launch: HTTP 409 volume_deleting.*not counted" "$WORK/master.log")" "$refused"
assert_eq "vx made again on n3" "$(sim n3 GET /api/v1/volumes | jq -r '.volumes[] | select(.name == "vx") | .state')" ready
pass "409 volume_deleting from the agent: g2 refused $refused times with a growing backoff, none counted as an attempt, RUNNING once vx was gone"
assert_done
