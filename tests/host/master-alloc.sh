#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# silo-master's allocator end to end: weighted DRF, the priority objective, io cost, spread, host
# ports, release.
#
# A real silo-master on a free loopback port and sim-agents with known cpus, memory, disks and
# attributes. Every expected placement below is computed by hand in the comments; tasks are
# submitted while no agent can take them, so that one agent's registration triggers exactly one
# allocation pass over all of them (the pass is what the rules describe, not the arrival order).
. "$(dirname "$0")/master-lib.sh"

GI=1073741824

# Role weights: alpha counts double (a role without a weight weighs 1).
start_master --heartbeat-interval-ms 200 --agent-timeout-ms 10000 --role-weight alpha=2

NOEXTRA='{}'
# spec ID ROLE PRIORITY CPUS MEM_GI CONSTRAINTS_JSON [IO_JSON] [EXTRA_JSON]: a task spec.
spec() {
    jq -nc --arg id "$1" --arg role "$2" --argjson prio "$3" --argjson cpus "$4" \
        --argjson mem "$(($5 * GI))" --argjson k "$6" --argjson io "${7:-[]}" --argjson x "${8:-$NOEXTRA}" \
        '{id:$id, name:$id, role:$role, priority:$prio, command:["/bin/sleep","1000"],
          resources:({cpus:$cpus, mem:$mem} + (if ($io|length) > 0 then {io:$io} else {} end)),
          constraints:$k} + $x'
}
ids_in_state() { api_body GET "/api/v1/tasks?state=$1" | jq -r '[.tasks[].id] | sort | join(" ")'; }
sorted() { tr ' ' '\n' <<<"$*" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'; }
pending_reason() { task_field "$1" '.pending_reason // ""'; }
expect_reason() {
    local got
    got=$(pending_reason "$1")
    [ "$got" = "$2" ] || fail "$1 pending reason: expected '$2', got '$got'"
}
# Wait until a task set is RUNNING and the sim has acknowledged everything (a quiet cluster).
wait_running() {
    local want
    want=$(sorted "$*")
    wait_until 15 "RUNNING = {$want}" bash -c "[ \"\$(curl -s -H 'Authorization: Bearer $TOKEN' 'http://127.0.0.1:$PORT/api/v1/tasks?state=RUNNING' | jq -r '[.tasks[].id] | sort | join(\" \")')\" = '$want' ]"
}
wait_pending_reason() {
    wait_until 10 "$1 pending with a reason" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/tasks/$1 | jq -e '.state == \"PENDING\" and (.pending_reason // \"\" | length > 0)'"
}

# ---------------------------------------------------------------------------------------------
# 1. Weighted DRF across three roles on one agent, in one pass.
#
# Agent "big": 12 cpus, 24Gi, nvme0n1 (ssd, write 1 GB/s) and sda (hdd, write 1 GB/s): the
# cluster's write bandwidth totals 2 GB/s. All tasks are pinned to it by attribute pool=drf.
#   alpha: 1 cpu, 1Gi          -> dominant share per task 1/12 (cpus), weight 2 -> 1/24 each
#   beta:  2 cpus, 1Gi         -> 2/12 = 4/24 each
#   gamma: 1 cpu, 1Gi, 250 MB/s write on any ssd -> 0.25/2 = 3/24 each (io), cost 0.25 on nvme0n1
# Progressive filling (lowest weighted share served next; shares in 24ths alpha/beta/gamma):
#   weighted (alpha 2): 0/0/0 a 1/0/0 b 1/4/0 g 1/4/3 a 2/4/3 a 3/4/3 a 4/4/3 g 4/4/6 a 5/4/6
#     b 5/8/6 a 6/8/6: 6+4+2 = 12 cpus, full -> alpha 6, beta 2, gamma 2.
#   (unweighted, alpha would count 2/24 per task and get 5, beta 2, gamma 3: the weight matters.)
# The result does not depend on how ties are broken. Within alpha, a-hi (priority 10,
# submitted last) goes before the priority-1 tasks, which go in submission order.
# ---------------------------------------------------------------------------------------------
DRF='{"attributes":{"pool":"drf"}}'
GAMMA_IO='[{"disk":"any","class":"ssd","wbps":"250M"}]'
for i in 1 2 3 4 5 6 7 8; do submit "$(spec "a-lo-$i" alpha 1 1 1 "$DRF")" >/dev/null; done
submit "$(spec a-hi alpha 10 1 1 "$DRF")" >/dev/null
for i in 1 2 3 4 5 6; do submit "$(spec "b-$i" beta 1 2 1 "$DRF")" >/dev/null; done
for i in 1 2 3 4 5; do submit "$(spec "g-$i" gamma 1 1 1 "$DRF" "$GAMMA_IO")" >/dev/null; done
wait_pending_reason g-5
expect_reason a-lo-1 "no agents registered"
assert_eq "pending before any agent" "$(api_body GET '/api/v1/tasks?state=PENDING' | jq '.tasks | length')" 20
pass "20 tasks of 3 roles pending with 'no agents registered'"

start_sim big --cpus 12 --mem $((24 * GI)) --attr pool=drf \
    --disk nvme0n1:ssd:2000000000:1000000000:200000:100000 --disk sda:hdd:1000000000:1000000000:500:500
RUN1="a-hi a-lo-1 a-lo-2 a-lo-3 a-lo-4 a-lo-5 b-1 b-2 g-1 g-2"
wait_running "$RUN1"
# Nothing more arrives later: the pass placed exactly these.
sleep 0.5
assert_eq "RUNNING after big joined" "$(ids_in_state RUNNING)" "$(sorted "$RUN1")"
assert_eq "still pending" "$(api_body GET '/api/v1/tasks?state=PENDING' | jq '.tasks | length')" 10
for t in g-1 g-2; do assert_eq "$t's disk (the ssd)" "$(task_field $t '.disks[0]')" nvme0n1; done
expect_reason a-lo-8 "cpus: needs 1, the largest free is 0 (big)"
expect_reason b-6 "cpus: needs 2, the largest free is 0 (big)"
expect_reason g-5 "cpus: needs 1, the largest free is 0 (big)"
pass "weighted DRF (alpha 2): alpha 6, beta 2, gamma 2 of 12 cpus; a-hi first within alpha"
echo "   pending reason: $(pending_reason b-6)"

# ---------------------------------------------------------------------------------------------
# 2. Ending tasks free resources; fairness decides who gets them; nothing is displaced.
# b-1 finishes (2 cpus free). beta now holds 1 task (2/12 = 0.17), below alpha (6/24 = 0.25) and
# gamma (2 x 0.125 = 0.25): b-3 is placed, not the older alpha or gamma tasks.
# ---------------------------------------------------------------------------------------------
sim big POST /sim/finish/b-1 '{"state":"FINISHED","exit_code":0}' >/dev/null
wait_until 10 "b-1 FINISHED" state_is b-1 FINISHED
RUN2=$(sed 's/b-1/b-3/' <<<"$RUN1")
wait_running "$RUN2"
pass "b-1 finished: its 2 cpus went to b-3 (beta had the lowest share)"

# A priority-100 alpha task arrives on a full cluster: it waits, nothing is killed for it.
submit "$(spec a-urgent alpha 100 1 1 "$DRF")" >/dev/null
wait_pending_reason a-urgent
expect_reason a-urgent "cpus: needs 1, the largest free is 0 (big)"
assert_eq "RUNNING after a-urgent arrived" "$(ids_in_state RUNNING)" "$(sorted "$RUN2")"
assert_eq "kills sent to big" "$(sim big GET /sim/state | jq .kill_requests)" 0
pass "a-urgent (priority 100) pending on a full cluster; no running task displaced"

# a-lo-1 finishes: alpha drops to the lowest share (5/24 against beta 4/12 and gamma 0.25), and
# within alpha a-urgent (priority 100) goes before a-lo-6 (priority 1).
sim big POST /sim/finish/a-lo-1 '{"state":"FINISHED","exit_code":0}' >/dev/null
RUN3=$(sed 's/a-lo-1 /a-urgent /' <<<"$RUN2")
wait_running "$RUN3"
pass "a-lo-1 finished: a-urgent placed before the older priority-1 alpha tasks"

# g-1 finishes: gamma holds one task (0.125), the lowest: g-3 takes the cpu and 0.25 of nvme0n1.
NEXT_G=g-3
sim big POST /sim/finish/g-1 '{"state":"FINISHED","exit_code":0}' >/dev/null
RUN4=$(sed "s/g-1 /$NEXT_G /; s/g-1\$/$NEXT_G/" <<<"$RUN3")
wait_running "$RUN4"
assert_eq "$NEXT_G's disk" "$(task_field $NEXT_G '.disks[0]')" nvme0n1
pass "g-1 finished: $NEXT_G placed on big/nvme0n1"

# ---------------------------------------------------------------------------------------------
# 3. The objective within a role: maximise placed priority, greedy by priority per dominant
# share. Agent "small" (4 cpus, pool=obj) joins with four delta tasks pending:
#   d-wide: priority 6, 4 cpus (6 per 4 cpus)     d-n1..3: priority 3, 1 cpu each (3 per cpu)
# Plain priority order would place d-wide alone (total 6); the objective places d-n1..3 (total 9)
# and d-wide waits for 4 cpus.
# ---------------------------------------------------------------------------------------------
OBJ='{"attributes":{"pool":"obj"}}'
submit "$(spec d-wide delta 6 4 1 "$OBJ")" >/dev/null
for i in 1 2 3; do submit "$(spec "d-n$i" delta 3 1 1 "$OBJ")" >/dev/null; done
wait_pending_reason d-n3
expect_reason d-wide "attributes: no agent has pool=obj"
start_sim small --cpus 4 --mem $((8 * GI)) --attr pool=obj
wait_running "$RUN4 d-n1 d-n2 d-n3"
sleep 0.3
assert_eq "d-wide" "$(task_state d-wide)" PENDING
expect_reason d-wide "cpus: needs 4, the largest free is 1 (small)"
for t in d-n1 d-n2 d-n3; do assert_eq "$t's agent" "$(task_field $t .hostname)" small; done
pass "objective: d-n1..3 (priority 9 in all) placed on small, d-wide (priority 6, 4 cpus) pending"

# ---------------------------------------------------------------------------------------------
# 4. "disk": "any" with a class and the io cost budget (cost = wbps / write_bps, sum <= 1/disk).
# io1: nvme0n1 (ssd, 1 GB/s) and sdb (hdd, 200 MB/s); io2: nvme1n1 (ssd, 1 GB/s); io3: no disk.
# ---------------------------------------------------------------------------------------------
start_sim io1 --cpus 4 --attr pool=io --disk nvme0n1:ssd:1000000000:1000000000:100000:100000 \
    --disk sdb:hdd:200000000:200000000:200:200
start_sim io2 --cpus 4 --attr pool=io --disk nvme1n1:ssd:1000000000:1000000000:100000:100000
start_sim io3 --cpus 4 --attr pool=io
wait_until 10 "5 agents" api_is /api/v1/agents '.agents | length' 5
IO='{"attributes":{"pool":"io"}}'
# Fill io1/nvme0n1 to 0.9 by name.
submit "$(spec io-fill io 1 1 1 '{"hostname":"io1"}' '[{"disk":"nvme0n1","wbps":"900M"}]')" >/dev/null
wait_until 10 "io-fill RUNNING" state_is io-fill RUNNING
assert_eq "io-fill's disk" "$(task_field io-fill '.disks[0]')" nvme0n1
# 0.2 of any ssd: io1/nvme0n1 (0.1 free) refuses it, io1/sdb is an hdd: io2/nvme1n1.
submit "$(spec io-any io 1 1 1 "$IO" '[{"disk":"any","class":"ssd","wbps":"200M"}]')" >/dev/null
wait_until 10 "io-any RUNNING" state_is io-any RUNNING
assert_eq "io-any placement" "$(task_field io-any .hostname)/$(task_field io-any '.disks[0]')" io2/nvme1n1
# The launch io2 got names the chosen disk: the agent's launch is idempotent by id and compares
# specs, so re-posting the spec with disk nvme1n1 matches (200) and with any other disk conflicts.
launch=$(task_field io-any '.spec | .id = "io-any" | .resources.io[0].disk = "nvme1n1" | del(.resources.io[0].class)' | jq -c .)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -d "$launch" \
    "http://127.0.0.1:${SIM_PORT[io2]}/api/v1/tasks")
assert_eq "io2's launch of io-any compared with disk nvme1n1" "$code" 200
for other in any nvme0n1; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        -d "$(jq -c --arg d "$other" '.resources.io[0].disk = $d' <<<"$launch")" \
        "http://127.0.0.1:${SIM_PORT[io2]}/api/v1/tasks")
    assert_eq "io2's launch of io-any compared with disk $other" "$code" 409
done
assert_eq "launches created on io2" "$(sim io2 GET /sim/state | jq .launches_created)" 1
pass "disk any/ssd 0.2: io1/nvme0n1 at 0.9 refused it; placed on io2/nvme1n1, launch names nvme1n1"

# 0.85 of any ssd: the best is io2/nvme1n1 with 0.8 free.
submit "$(spec io-big io 1 1 1 "$IO" '[{"disk":"any","class":"ssd","wbps":"850M"}]')" >/dev/null
wait_pending_reason io-big
expect_reason io-big "resources.io[0]: no agent has a disk of class ssd with 0.85 io cost free (best: io2/nvme1n1 at 0.8)"
pass "io-big pending: $(pending_reason io-big)"
# io-any ends: nvme1n1 is free again and io-big gets it.
sim io2 POST /sim/finish/io-any '{"state":"FINISHED","exit_code":0}' >/dev/null
wait_until 10 "io-big RUNNING" state_is io-big RUNNING
assert_eq "io-big placement" "$(task_field io-big .hostname)/$(task_field io-big '.disks[0]')" io2/nvme1n1
pass "io-any finished: its io cost was released and io-big placed on io2/nvme1n1"
# An hdd request goes to the only hdd.
submit "$(spec io-hdd io 1 1 1 "$IO" '[{"disk":"any","class":"hdd","wiops":100}]')" >/dev/null
wait_until 10 "io-hdd RUNNING" state_is io-hdd RUNNING
assert_eq "io-hdd placement" "$(task_field io-hdd .hostname)/$(task_field io-hdd '.disks[0]')" io1/sdb
pass "disk any/hdd placed on io1/sdb"

# ---------------------------------------------------------------------------------------------
# 5. spread: hostname over group shard-7 within pool=io (io1, io2, io3).
# ---------------------------------------------------------------------------------------------
SPREAD='{"attributes":{"pool":"io"},"spread":"hostname"}'
hosts=()
for i in 1 2 3; do
    submit "$(spec "shard-7-$i" shard 1 1 1 "$SPREAD" '[]' '{"group":"shard-7"}')" >/dev/null
    wait_until 10 "shard-7-$i RUNNING" state_is "shard-7-$i" RUNNING
    hosts+=("$(task_field "shard-7-$i" .hostname)")
done
assert_eq "hosts of shard-7's replicas" "$(sorted "${hosts[*]}")" "io1 io2 io3"
submit "$(spec shard-7-4 shard 1 1 1 "$SPREAD" '[]' '{"group":"shard-7"}')" >/dev/null
wait_pending_reason shard-7-4
expect_reason shard-7-4 "spread: all 3 agents that match already run group shard-7"
# Another group is not affected by shard-7's spread.
submit "$(spec shard-8-1 shard 1 1 1 "$SPREAD" '[]' '{"group":"shard-8"}')" >/dev/null
wait_until 10 "shard-8-1 RUNNING" state_is shard-8-1 RUNNING
pass "spread: shard-7 on io1, io2, io3; a 4th replica pending: $(pending_reason shard-7-4)"
# The replica on io2 is killed: the 4th can go there and only there.
gone=shard-7-$(( $(printf '%s\n' "${hosts[@]}" | grep -n '^io2$' | cut -d: -f1) ))
assert_eq "kill of $gone" "$(api_status DELETE "/api/v1/tasks/$gone")" 202
wait_until 10 "$gone KILLED" state_is "$gone" KILLED
wait_until 10 "shard-7-4 RUNNING" state_is shard-7-4 RUNNING
assert_eq "shard-7-4's agent" "$(task_field shard-7-4 .hostname)" io2
pass "$gone killed on io2: shard-7-4 placed on io2, the only agent without shard-7"

# ---------------------------------------------------------------------------------------------
# 6. Host ports (container.ports of bridge tasks) are booked per agent. "ports1" offers
# 30000-30009 and is the only agent of pool=ports: a one-agent cluster for these tasks.
# ---------------------------------------------------------------------------------------------
start_sim ports1 --cpus 4 --attr pool=ports --ports 30000-30009
wait_until 10 "6 agents" api_is /api/v1/agents '.agents | length' 6
PORTS='{"attributes":{"pool":"ports"}}'
bridge() { jq -nc --argjson p "$1" '{container:{network:"bridge", ports:$p}}'; }
FIXED=$(bridge '[{"container":5432,"host":30005}]')
submit "$(spec pg-1 pg 1 1 1 "$PORTS" '[]' "$FIXED")" >/dev/null
wait_until 10 "pg-1 RUNNING" state_is pg-1 RUNNING
submit "$(spec pg-2 pg 1 1 1 "$PORTS" '[]' "$FIXED")" >/dev/null
wait_pending_reason pg-2
expect_reason pg-2 "container.ports[0]: host port 30005/tcp is taken on every agent that offers it (ports1: task pg-1)"
assert_eq "pg-1's host port" "$(task_field pg-1 '.spec.container.ports[0].host')" 30005
pass "the same fixed host port twice on one agent: pg-2 pending: $(pending_reason pg-2)"
sim ports1 POST /sim/finish/pg-1 '{"state":"FINISHED","exit_code":0}' >/dev/null
wait_until 10 "pg-2 RUNNING" state_is pg-2 RUNNING
assert_eq "pg-2's host port" "$(task_field pg-2 '.spec.container.ports[0].host')" 30005
pass "pg-1 finished: its host port went to pg-2"
# host 0: the master chooses from the range, never a port held, never one port twice.
DYN=$(bridge '[{"container":80,"host":0},{"container":53,"host":0,"proto":"udp"}]')
for t in dyn-1 dyn-2; do submit "$(spec $t pg 1 1 1 "$PORTS" '[]' "$DYN")" >/dev/null; done
for t in dyn-1 dyn-2; do wait_until 10 "$t RUNNING" state_is $t RUNNING; done
d1=$(task_field dyn-1 '.spec.container.ports[0].host'); d2=$(task_field dyn-2 '.spec.container.ports[0].host')
u1=$(task_field dyn-1 '.spec.container.ports[1].host')
for p in "$d1" "$d2" "$u1"; do
    [ "$p" -ge 30000 ] && [ "$p" -le 30009 ] || fail "chosen host port $p is outside 30000-30009"
done
[ "$d1" != "$d2" ] && [ "$d1" != 30005 ] && [ "$d2" != 30005 ] ||
    fail "chosen tcp ports: dyn-1 $d1, dyn-2 $d2 (30005 is pg-2's)"
assert_eq "ports1's free tcp ports" "$(api_body GET /api/v1/agents | jq '.agents[] | select(.hostname == "ports1") | .free.ports.tcp')" 7
pass "host 0: dyn-1 got $d1/tcp and $u1/udp, dyn-2 $d2/tcp, in 30000-30009 and apart from pg-2's 30005"

# Nothing placed on big was ever sent elsewhere, and no agent got a launch twice.
# (io2 also got the 3 probes above.)
for a in big small io1 io2 io3 ports1; do
    st=$(sim "$a" GET /sim/state)
    probes=0; [ "$a" = io2 ] && probes=3
    assert_eq "$a launches (requests = created)" "$(( $(jq .launch_requests <<<"$st") - probes ))" "$(jq .launches_created <<<"$st")"
done
stop_master
assert_done
