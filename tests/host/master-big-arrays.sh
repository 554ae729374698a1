#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# silo-master: one request with a huge array must not stall the loop (issue 12, finding 10).
# A 1 MiB spec with 94k device names is posted while sim-agents heartbeat every 500 ms with a
# 1.5 s agent timeout: it is refused at once naming the bound, no agent is marked LOST and the
# heartbeat round trips stay under the interval. Registrations and heartbeats with too many
# disks or tasks are refused naming the field and the bound; duplicates still are.
. "$(dirname "$0")/master-lib.sh"
command -v python3 >/dev/null || skip_suite "python3 is not installed"

# The default interval is 1000 ms and timeout 15 s; here both are far shorter.
INTERVAL=500
start_master --heartbeat-interval-ms $INTERVAL --agent-timeout-ms 1500 --log-level info
for s in s1 s2 s3; do start_sim $s --cpus 4; done
wait_until 10 "3 agents ACTIVE" api_is /api/v1/agents '[.agents[] | select(.state=="ACTIVE")] | length' 3
sleep 1

# Distinct three-character names, so no early duplicate ends the walk: 94,000 of them in
# just under 1 MiB, the master's body limit.
python3 - "$WORK" <<'EOF'
import itertools, json, string, sys
work = sys.argv[1]
alphabet = string.ascii_letters + string.digits
names = ["/dev/" + "".join(t) for t in itertools.islice(itertools.product(alphabet, repeat=3), 94000)]
def spec(devs, tid):
    return {"id": tid, "name": "n", "command": ["/bin/true"], "container": {"devices": devs}}
with open(work + "/big-devices.json", "w") as f:
    json.dump(spec(names, "big-devices"), f, separators=(",", ":"))
# Under the 256 KiB a task spec may have: refused by the array bounds.
with open(work + "/many-devices.json", "w") as f:
    json.dump(spec(names[:23000], "many-devices"), f, separators=(",", ":"))
with open(work + "/many-volumes.json", "w") as f:
    json.dump({"id": "many-volumes", "name": "n", "command": ["/bin/true"], "container": {"namespaces": ["mount"],
               "volumes": [{"source": "/tmp", "target": "/v/" + n[5:]} for n in names[:6000]]}},
              f, separators=(",", ":"))
with open(work + "/many-io.json", "w") as f:
    json.dump({"id": "many-io", "name": "n", "command": ["/bin/true"],
               "resources": {"io": [{"disk": "d" + n[5:], "rbps": 1} for n in names[:9000]]}},
              f, separators=(",", ":"))
# The most expensive 1 MiB body for the JSON parser itself, 349k empty objects, as a
# registration (which may be up to 1 MiB).
with open(work + "/big-objects.json", "w") as f:
    f.write('{"hostname":"big","address":"127.0.0.1:9","version":"x","resources":{"cpus":1,"mem":1},"tasks":[' +
            ",".join(["{}"] * 349000) + "]}")
# Bounds: exactly at the bound is accepted by the codec; one more is refused.
with open(work + "/devices-256.json", "w") as f:
    json.dump(spec(names[:256], "devices-256"), f)
with open(work + "/devices-257.json", "w") as f:
    json.dump(spec(names[:257], "devices-257"), f)
with open(work + "/devices-dup.json", "w") as f:
    json.dump(spec(names[:100] + [names[7]], "devices-dup"), f)
def reg(disks, tasks):
    return {"hostname": "big", "address": "127.0.0.1:9", "version": "x",
            "resources": {"cpus": 1, "mem": 1 << 30, "disks": disks}, "tasks": tasks}
disk = lambda n: {"name": n, "read_bps": 1000000, "write_bps": 1000000, "read_iops": 1000, "write_iops": 1000}
short = ["".join(t) for t in itertools.islice(itertools.product(alphabet, repeat=3), 40000)]
with open(work + "/reg-disks-1025.json", "w") as f:
    json.dump(reg([disk("d" + n) for n in short[:1025]], []), f)
with open(work + "/reg-disks-dup.json", "w") as f:
    json.dump(reg([disk("d" + n) for n in short[:50]] + [disk("d" + short[3])], []), f)
with open(work + "/reg-tasks-big.json", "w") as f:
    json.dump(reg([], [{"id": n, "state": "LOST"} for n in short[:33000]]), f, separators=(",", ":"))
with open(work + "/hb-tasks-big.json", "w") as f:
    json.dump({"tasks": short[:40000]}, f, separators=(",", ":"))
EOF
size=$(stat -c %s "$WORK/big-devices.json")
[ "$size" -le 1048576 ] || fail "test bug: the spec is $size bytes, over the 1 MiB body limit"

# post FILE PATH: prints "<HTTP status> <seconds>", the body in $WORK/out.json
post() {
    curl -sS -o "$WORK/out.json" -w '%{http_code} %{time_total}\n' -X POST \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data-binary "@$1" "http://127.0.0.1:$PORT$2"
}

# Every figure is printed before any check fails, so a run on a stalling master shows them all.
bad=
for f in big-devices:413 many-devices:400 many-volumes:400 many-io:400 big-objects:400; do
    want=${f#*:}; f=${f%:*}
    path=/api/v1/tasks; [ "$f" = big-objects ] && path=/api/v1/agents
    read -r code secs < <(post "$WORK/$f.json" $path)
    echo "figure: POST $path $f ($(stat -c %s "$WORK/$f.json") bytes): HTTP $code in ${secs} s: $(jq -r .error.message "$WORK/out.json" 2>/dev/null | cut -c1-120)"
    [ "$code" = "$want" ] || bad+="$f: HTTP $code, expected $want; "
    awk -v s="$secs" -v lim="$INTERVAL" 'BEGIN { exit !(s * 1000 < lim) }' || bad+="$f: answered after $secs s, longer than the heartbeat interval ($INTERVAL ms); "
done
sleep 1
lost=$(api_body GET /metrics | awk '/^silo_master_agents_lost_total/ {print $2}')
echo "figure: agents marked lost: ${lost:-?}"
for s in s1 s2 s3; do
    st=$(sim $s GET /sim/state)
    echo "figure: $s heartbeats $(jq .heartbeat.samples <<<"$st"): p50 $(jq .heartbeat.p50_ms <<<"$st") ms, p99 $(jq .heartbeat.p99_ms <<<"$st") ms, max $(jq .heartbeat.max_ms <<<"$st") ms, longest gap $(jq .heartbeat.max_gap_ms <<<"$st") ms, registrations $(jq .registrations <<<"$st")"
done
[ -z "$bad" ] || fail "$bad"
post "$WORK/big-devices.json" /api/v1/tasks >/dev/null
grep -q 'body: 1034081 bytes; a task spec may have at most 262144 bytes' "$WORK/out.json" || fail "spec size message: $(cat "$WORK/out.json")"
post "$WORK/many-devices.json" /api/v1/tasks >/dev/null
grep -q 'container.devices: 23000 entries, at most 256 are allowed' "$WORK/out.json" || fail "devices bound message: $(cat "$WORK/out.json")"
post "$WORK/many-volumes.json" /api/v1/tasks >/dev/null
grep -q 'container.volumes: 6000 entries, at most 256 are allowed' "$WORK/out.json" || fail "volumes bound message: $(cat "$WORK/out.json")"
post "$WORK/many-io.json" /api/v1/tasks >/dev/null
grep -q 'resources.io: 9000 entries, at most 64 are allowed' "$WORK/out.json" || fail "io bound message: $(cat "$WORK/out.json")"
post "$WORK/big-objects.json" /api/v1/agents >/dev/null
grep -q 'tasks: 349000 entries, at most 32768 are allowed' "$WORK/out.json" || fail "registration bound message: $(cat "$WORK/out.json")"
pass "a 1 MiB spec with 94k devices refused unparsed (over 256 KiB), 23k devices / 6k volumes / 9k io entries and a 1 MiB registration of 349k objects refused naming the bound, each within the interval"

states=$(api_body GET /api/v1/agents | jq -r '[.agents[].state] | join(",")')
for s in s1 s2 s3; do
    st=$(sim $s GET /sim/state)
    p99=$(jq .heartbeat.p99_ms <<<"$st")
    [ "$p99" -lt $INTERVAL ] || fail "$s: heartbeat p99 $p99 ms is not under the $INTERVAL ms interval"
    assert_eq "$s registrations (a second one means the master lost it)" "$(jq .registrations <<<"$st")" 1
done
assert_eq "agents marked lost" "${lost:-0}" 0
assert_eq "agent states" "$states" "ACTIVE,ACTIVE,ACTIVE"
pass "no agent LOST, heartbeat p99 under the $INTERVAL ms interval while the big specs were refused"

# At the bound: accepted by the codec (the master then keeps it PENDING: no such devices matter
# to placement); one more: refused.
read -r code secs < <(post "$WORK/devices-256.json" /api/v1/tasks)
assert_eq "256 devices" "$code" 201
read -r code secs < <(post "$WORK/devices-257.json" /api/v1/tasks)
assert_eq "257 devices" "$code" 400
read -r code secs < <(post "$WORK/devices-dup.json" /api/v1/tasks)
assert_eq "duplicate device" "$code" 400
grep -q "container.devices\[100\]: '/dev/aah' is already listed in container.devices\[7\]" "$WORK/out.json" || fail "duplicate device message: $(cat "$WORK/out.json")"
pass "256 devices accepted, 257 refused, a duplicate named with both indexes"

read -r code secs < <(post "$WORK/reg-disks-1025.json" /api/v1/agents)
echo "figure: registration with 1025 disks: HTTP $code in $secs s"
assert_eq "registration with 1025 disks" "$code" 400
grep -q 'resources.disks: 1025 entries, at most 1024 are allowed' "$WORK/out.json" || fail "disks bound message: $(cat "$WORK/out.json")"
read -r code secs < <(post "$WORK/reg-disks-dup.json" /api/v1/agents)
assert_eq "registration with a duplicate disk" "$code" 400
grep -q "resources.disks\[50\].name: 'daad' is already used by resources.disks\[3\]" "$WORK/out.json" || fail "duplicate disk message: $(cat "$WORK/out.json")"
read -r code secs < <(post "$WORK/reg-tasks-big.json" /api/v1/agents)
echo "figure: registration with 33000 tasks ($(stat -c %s "$WORK/reg-tasks-big.json") bytes): HTTP $code in $secs s"
assert_eq "registration with 33000 tasks" "$code" 400
grep -q 'tasks: 33000 entries, at most 32768 are allowed' "$WORK/out.json" || fail "tasks bound message: $(cat "$WORK/out.json")"
A1=$(sim_agent_id s1)
read -r code secs < <(post "$WORK/hb-tasks-big.json" "/api/v1/agents/$A1/heartbeat")
echo "figure: heartbeat naming 40000 tasks: HTTP $code in $secs s"
assert_eq "heartbeat with 40000 tasks" "$code" 400
grep -q 'tasks: 40000 entries, at most 32768 are allowed' "$WORK/out.json" || fail "heartbeat bound message: $(cat "$WORK/out.json")"
assert_eq "agents after the refused registrations" "$(api_body GET /api/v1/agents | jq '.agents | length')" 3
pass "registrations with too many disks or tasks, or a duplicate disk, and an oversized heartbeat are refused"
assert_done
