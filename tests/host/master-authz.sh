#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Authorization by identity over mutual TLS (issue 21, docs/SECURITY.md): a master on the host
# with TLS, two simulated agents with their own certificates (node-1, node-2), an operator and
# two role clients (storage, batch), all made by `siloctl tls`. Checked, each a 403 "forbidden"
# naming identity, action and object, with nothing changed:
#   - node-1's certificate heartbeating, reporting status and registering for node-2 (its update
#     of node-2's task as itself: the master's 409, final for an agent, rather than a 403);
#   - an agent's certificate submitting a task or reading the inventory;
#   - a storage client getting, killing, streaming the events of a batch task, or submitting
#     one; while it lists only storage tasks and gets and kills its own;
#   - every refusal counted in silo_master_requests_forbidden_total.
# Args: silo-master sim-agent siloctl. Time: about 10 s.
. "$(dirname "$0")/master-lib.sh"

SILOCTL=$(realpath "$3")
CERTS="$WORK/tls"

"$SILOCTL" tls init --dir "$CERTS" >/dev/null || fail "siloctl tls init"
mk() { "$SILOCTL" tls cert --dir "$CERTS" "$@" >/dev/null || fail "siloctl tls cert $*"; }
mk --master master --ip 127.0.0.1
mk --agent node-1 --ip 127.0.0.1
mk --agent node-2 --ip 127.0.0.1
mk --client op --operator
mk --client sto --role storage
mk --client bat --role batch
pass "certificates made with siloctl tls (a CA, a master, two agents, an operator, two role clients)"

tls_of() { echo --cacert "$CERTS/ca.pem" --cert "$CERTS/$1.pem" --key "$CERTS/$1-key.pem"; }

# as WHO METHOD PATH [BODY]: the request with WHO's certificate; prints the HTTP status, the
# body goes to $WORK/out.json.
as() {
    local who=$1 method=$2 path=$3 body=${4:-}
    # shellcheck disable=SC2046 # the options are words
    curl -sS -o "$WORK/out.json" -w '%{http_code}' -X "$method" $(tls_of "$who") \
        ${body:+-H 'Content-Type: application/json' -d "$body"} "https://127.0.0.1:$PORT$path"
}
# master-lib.sh's helpers (api_body, task_state, submit, ...) as the operator, over TLS.
api() {
    local method=$1 path=$2 body=${3:-}
    # shellcheck disable=SC2046
    curl -sS -X "$method" $(tls_of op) ${body:+-H 'Content-Type: application/json' -d "$body"} \
        -w '\n%{http_code}' "https://127.0.0.1:$PORT$path"
}
sim() {
    local name=$1 method=$2 path=$3 body=${4:-}
    # shellcheck disable=SC2046
    curl -sS -X "$method" $(tls_of op) ${body:+-d "$body"} "https://127.0.0.1:${SIM_PORT[$name]}$path"
}
# forbidden WHAT STATUS MESSAGE: the last `as` was refused with 403 and exactly MESSAGE.
forbidden() {
    assert_eq "$1: status" "$2" 403
    assert_eq "$1: code" "$(jq -r .error.code "$WORK/out.json")" forbidden
    assert_eq "$1: message" "$(jq -r .error.message "$WORK/out.json")" "$3"
}
metric() { api_body GET /metrics | awk -v m="$1" '$1 == m { print $2 }'; }

"$MASTER_BIN" --listen 127.0.0.1:0 --state-dir "$WORK/state" --token-file "$WORK/token" \
    --heartbeat-interval-ms 100 --agent-timeout-ms 60000 $(tls_of master | sed 's/--cacert/--tls-ca/; s/--cert/--tls-cert/; s/--key/--tls-key/') \
    >>"$WORK/master.log" 2>&1 &
MPID=$!
wait_until 10 "the master's port" grep -q 'listening on .* (port [0-9]*)' "$WORK/master.log"
PORT=$(grep -o 'listening on .* (port [0-9]*)' "$WORK/master.log" | head -1 | grep -o 'port [0-9]*' | cut -d' ' -f2)
wait_until 10 "the master over TLS" api_is /health .status ok

for n in node-1 node-2; do
    "$SIM_BIN" --master "https://127.0.0.1:$PORT" --token-file "$WORK/token" --hostname "$n" \
        --port-file "$WORK/$n.port" --cpus 4 --disk "sda:hdd:200000000:200000000:200:200:$((4 << 30))" --tls-ca "$CERTS/ca.pem" --tls-cert "$CERTS/$n.pem" \
        --tls-key "$CERTS/$n-key.pem" >>"$WORK/$n.log" 2>&1 &
    SIM_PID[$n]=$!
    PIDS+=("$!")
done
for n in node-1 node-2; do
    wait_until 10 "$n's port" test -s "$WORK/$n.port"
    SIM_PORT[$n]=$(cat "$WORK/$n.port")
done
wait_until 10 "node-1 and node-2 registered" api_is /api/v1/agents '[.agents[] | select(.state=="ACTIVE") | .id] | sort | join(",")' node-1,node-2
pass "the agents registered over TLS under their certificates' names (node-1, node-2)"

# A batch task on node-2 and a storage task on node-1, both RUNNING.
B=$(submit '{"id": "batch-1", "name": "b", "role": "batch", "command": ["/bin/sleep", "1000"], "resources": {"cpus": 1}, "constraints": {"hostname": "node-2"}}')
code=$(as sto POST /api/v1/tasks '{"id": "storage-1", "name": "s", "role": "storage", "command": ["/bin/sleep", "1000"], "resources": {"cpus": 1}, "constraints": {"hostname": "node-1"}}')
assert_eq "the storage client submits a storage task" "$code" 201
S=storage-1
wait_until 10 "batch-1 and storage-1 RUNNING" sh -c "[ \"\$(curl -sS $(tls_of op) https://127.0.0.1:$PORT/api/v1/tasks | jq -r '[.tasks[].state] | join(\",\")')\" = RUNNING,RUNNING ]"

echo "== node-1's certificate speaking for node-2"
# Quiet agents: the counters below move only by what this test sends.
sim node-1 POST /sim/pause '{"paused": true}' >/dev/null
sim node-2 POST /sim/pause '{"paused": true}' >/dev/null
sleep 0.3
hb=$(metric silo_master_heartbeats_total)
seen=$(api_body GET /api/v1/agents/node-2 | jq -c '[.heartbeats, .address, .hostname, .resources.cpus]')
hist=$(task_field "$B" '[.history[].state] | join(",")')
code=$(as node-1 POST /api/v1/agents/node-2/heartbeat '{"tasks": []}')
forbidden "node-1 heartbeating for node-2" "$code" "identity 'agent:node-1' may not send a heartbeat for agent 'node-2'"
code=$(as node-1 POST /api/v1/agents/node-1/heartbeat '{"tasks": []}')
assert_eq "node-1 heartbeating for itself" "$code" 200
assert_eq "heartbeats counted: node-1's own only" "$(metric silo_master_heartbeats_total)" "$((hb + 1))"

st=$(metric silo_master_status_updates_total)
now=$(date +%s%3N)
code=$(as node-1 POST /api/v1/status "{\"update_id\": \"forged-1\", \"task_id\": \"$B\", \"agent_id\": \"node-1\", \"state\": \"FINISHED\", \"exit_code\": 0, \"timestamp_ms\": $now}")
# Not a 403 (which an agent retries, holding back its queue) but the master's 409 for a task placed
# on another agent: the same answer a task placed again elsewhere gets, final, nothing recorded.
assert_eq "node-1 reporting node-2's task as itself: status" "$code" 409
assert_eq "node-1 reporting node-2's task as itself: message" "$(jq -r .error.message "$WORK/out.json")" \
    "task $B is placed on agent node-2, not on agent node-1; refusing its status update"
code=$(as node-1 POST /api/v1/status "{\"update_id\": \"forged-2\", \"task_id\": \"$B\", \"agent_id\": \"node-2\", \"state\": \"FAILED\", \"exit_code\": 1, \"timestamp_ms\": $now}")
forbidden "node-1 reporting as node-2" "$code" "identity 'agent:node-1' may not report status as agent 'node-2'"
assert_eq "status updates counted" "$(metric silo_master_status_updates_total)" "$st"
assert_eq "batch-1 after the forged updates" "$(task_state "$B")" RUNNING
assert_eq "batch-1's history (nothing recorded)" "$(task_field "$B" '[.history[].state] | join(",")')" "$hist"

code=$(as node-1 POST /api/v1/agents '{"agent_id": "node-2", "address": "127.0.0.1:1", "hostname": "evil", "version": "x", "resources": {"cpus": 64, "mem": 1073741824, "pids": 1000, "disks": []}, "attributes": {}, "tasks": []}')
forbidden "node-1 registering as node-2" "$code" "identity 'agent:node-1' may not register as agent 'node-2'"
assert_eq "node-2 after the forged heartbeat and registration" "$(api_body GET /api/v1/agents/node-2 | jq -c '[.heartbeats, .address, .hostname, .resources.cpus]')" "$seen"

# node-2 itself may still end its task: the forged update ids were not recorded as seen.
code=$(as node-2 POST /api/v1/status "{\"update_id\": \"forged-2\", \"task_id\": \"$B\", \"agent_id\": \"node-2\", \"state\": \"RUNNING\", \"timestamp_ms\": $now}")
assert_eq "node-2 reporting its own task (the refused update's id was not marked seen)" "$(jq -r .duplicate "$WORK/out.json"):$code" false:200
sim node-1 POST /sim/pause '{"paused": false}' >/dev/null
sim node-2 POST /sim/pause '{"paused": false}' >/dev/null

echo "== an agent's certificate is not a client's"
code=$(as node-1 POST /api/v1/tasks '{"name": "x", "command": ["/bin/true"]}')
forbidden "node-1 submitting" "$code" "identity 'agent:node-1' may not submit a task of role 'default'"
code=$(as node-1 GET /api/v1/tasks)
forbidden "node-1 listing tasks" "$code" "identity 'agent:node-1' may not list tasks"
code=$(as node-1 GET /api/v1/agents)
forbidden "node-1 reading the inventory" "$code" "identity 'agent:node-1' may not read the agents' inventory"
assert_eq "tasks after the agent's submission" "$(api_body GET /api/v1/tasks | jq '.tasks | length')" 2

echo "== a storage client and a batch task"
code=$(as sto GET "/api/v1/tasks/$B")
forbidden "storage client getting batch-1" "$code" "identity 'client:sto (roles storage)' may not read task '$B' of role 'batch'"
code=$(as sto DELETE "/api/v1/tasks/$B")
forbidden "storage client killing batch-1" "$code" "identity 'client:sto (roles storage)' may not kill task '$B' of role 'batch'"
code=$(as sto GET "/api/v1/tasks/$B/isolation")
forbidden "storage client reading batch-1's isolation" "$code" "identity 'client:sto (roles storage)' may not read task '$B' of role 'batch'"
code=$(as sto GET "/api/v1/events?role=batch")
forbidden "storage client streaming batch events" "$code" "identity 'client:sto (roles storage)' may not stream the events of role 'batch'"
code=$(as sto POST /api/v1/tasks '{"name": "x", "role": "batch", "command": ["/bin/true"]}')
forbidden "storage client submitting a batch task" "$code" "identity 'client:sto (roles storage)' may not submit a task of role 'batch'"
code=$(as sto GET /metrics)
forbidden "storage client reading the metrics" "$code" "identity 'client:sto (roles storage)' may not read the metrics"
assert_eq "batch-1 after the storage client's kill" "$(task_state "$B")" RUNNING
assert_eq "batch-1 on node-2" "$(sim node-2 GET /sim/state | jq -r '.tasks["batch-1"]')" RUNNING

code=$(as sto GET /api/v1/tasks)
assert_eq "storage client's list: status" "$code" 200
assert_eq "storage client's list: its role's tasks only" "$(jq -r '[.tasks[].id] | join(",")' "$WORK/out.json")" "$S"
code=$(as bat GET /api/v1/tasks)
assert_eq "batch client's list" "$(jq -r '[.tasks[].id] | join(",")' "$WORK/out.json")" "$B"
code=$(as sto GET "/api/v1/tasks/$S")
assert_eq "storage client getting storage-1" "$code:$(jq -r .role "$WORK/out.json")" 200:storage
code=$(as sto DELETE "/api/v1/tasks/$S")
assert_eq "storage client killing storage-1" "$code" 202
wait_until 10 "storage-1 KILLED" state_is "$S" KILLED
code=$(as bat DELETE "/api/v1/tasks/$B")
assert_eq "batch client killing batch-1" "$code" 202
wait_until 10 "batch-1 KILLED" state_is "$B" KILLED

echo "== persistent volumes belong to the role that made them"
vol_spec() { # ID ROLE: a task of ROLE on node-1 naming volume sto-data
    printf '{"id": "%s", "name": "v", "role": "%s", "command": ["/bin/sleep", "1000"], "resources": {"cpus": 1}, "constraints": {"hostname": "node-1"}, "container": {"volumes": [{"name": "sto-data", "size": "1Gi", "target": "/data"}]}}' "$1" "$2"
}
code=$(as sto POST /api/v1/tasks "$(vol_spec sto-vol storage)")
assert_eq "the storage client submits a task making volume sto-data" "$code" 201
wait_until 10 "sto-data recorded with role storage" sh -c "[ \"\$(curl -sS $(tls_of op) https://127.0.0.1:$PORT/api/v1/volumes/sto-data | jq -r .role)\" = storage ]"
code=$(as bat POST /api/v1/tasks "$(vol_spec bat-vol batch)")
forbidden "batch client naming storage's volume" "$code" "container.volumes[0]: volume 'sto-data' belongs to role 'storage': a task of role 'batch' may not mount it"
assert_eq "the refused task is not kept" "$(api_status GET /api/v1/tasks/bat-vol)" 404
code=$(as bat GET /api/v1/volumes/sto-data)
assert_eq "batch client getting storage's volume: 404 as for no volume" "$code:$(jq -r .error.code "$WORK/out.json")" 404:not_found
code=$(as bat GET /api/v1/volumes/no-such-volume)
assert_eq "batch client getting a volume that does not exist" "$code:$(jq -r .error.code "$WORK/out.json")" 404:not_found
code=$(as bat DELETE /api/v1/volumes/sto-data)
assert_eq "batch client deleting storage's volume: 404" "$code" 404
code=$(as bat GET /api/v1/volumes)
assert_eq "batch client's volume list: empty" "$(jq -r '.volumes | length' "$WORK/out.json")" 0
code=$(as sto GET /api/v1/volumes/sto-data)
assert_eq "storage client getting its volume" "$code:$(jq -r .name "$WORK/out.json")" 200:sto-data
code=$(as sto DELETE /api/v1/tasks/sto-vol)
assert_eq "storage client killing sto-vol" "$code" 202

assert_eq "silo_master_requests_forbidden_total" "$(metric silo_master_requests_forbidden_total)" 13
assert_cmd "the master logs each refusal with the peer" grep -q "POST /api/v1/agents/node-2/heartbeat from 127.0.0.1:[0-9]*: 403: identity 'agent:node-1' may not send a heartbeat for agent 'node-2'" "$WORK/master.log"

assert_done
