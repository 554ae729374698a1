#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "cluster": silo-master + silo-agent --master on loopback, end to end on a real kernel.
#
# The agent calibrates /dev/nullb0 at first start (writes allowed on it) and registers it with
# its figures; tasks submitted to the master run on the agent STAGING -> STARTING -> RUNNING ->
# FINISHED/FAILED, a kill through the master ends one KILLED; every status update is recorded
# exactly once at the master (distinct update ids, one event per state). kill -9 of the master
# while a task ends: the agent keeps the update queued, re-registers when the master is back,
# and the states reconcile (the running task is still RUNNING and killable, the ended one
# FINISHED). kill -9 of the agent while a task ends: the restarted agent reports the outcome.
# Finally the same state directory standalone: GET /api/v1/status lists and acknowledges.
# Everything over mutual TLS (certificates from `siloctl tls`; the agent's id is its
# certificate's CN, node-1; the suite's curl calls are the operator's through $CURL_HOME).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
vm_require_guest

B="${SILO_BUILD_DIR:?}"
MASTER_BIN="$B/master/silo-master"
AGENT_BIN="$B/agent/silo-agent"
for b in "$MASTER_BIN" "$AGENT_BIN"; do [ -x "$b" ] || fail "$b not built"; done
command -v jq >/dev/null || fail "jq missing (scripts/install-deps.sh installs it)"

# The guest's loopback starts down; everything here talks over it.
ip link set lo up

W=/tmp/silo-cluster
rm -rf "$W"
mkdir -p "$W"
MURL=https://127.0.0.1:5050
AURL=https://127.0.0.1:5051
T="$W/tls"
"$B/cli/siloctl" tls init --dir "$T" --days 2 >/dev/null || fail "siloctl tls init"
for c in "--master master --ip 127.0.0.1" "--agent node-1 --ip 127.0.0.1" "--client operator --operator"; do
    # shellcheck disable=SC2086 # the words of each
    "$B/cli/siloctl" tls cert --dir "$T" --days 2 $c >/dev/null &
done
wait
[ -s "$T/master.pem" ] && [ -s "$T/node-1.pem" ] && [ -s "$T/operator.pem" ] || fail "siloctl tls cert"
printf 'cacert = "%s"\ncert = "%s"\nkey = "%s"\n' "$T/ca.pem" "$T/operator.pem" "$T/operator-key.pem" >"$T/.curlrc"
export CURL_HOME="$T"
tls_args() { echo --tls-ca "$T/ca.pem" --tls-cert "$T/$1.pem" --tls-key "$T/$1-key.pem"; }
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$W/token"
chmod 600 "$W/token"
TOKEN="$(cat "$W/token")"
MPID=""
APID=""

cleanup() {
    local rc=$?
    [ -n "$APID" ] && kill -TERM "$APID" 2>/dev/null && wait "$APID" 2>/dev/null
    [ -n "$MPID" ] && kill -TERM "$MPID" 2>/dev/null && wait "$MPID" 2>/dev/null
    if [ "$rc" -ne 0 ]; then
        echo "---- master log ----"; tail -n 40 "$W/master.log" 2>/dev/null || true
        echo "---- agent log ----"; tail -n 60 "$W/agent.log" 2>/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT

# --agent-timeout-ms: longer than the agent's kill -9 below (4 s down, then a restart that
# calibrates and registers over TLS): a restart slower than the timeout (CI, beside the host
# suites: 6 s once) makes the agent LOST and its tasks with it, and t6 never reads FAILED.
master_start() {
    # shellcheck disable=SC2046 # the options are words
    "$MASTER_BIN" --listen 127.0.0.1:5050 --state-dir "$W/master" --token-file "$W/token" $(tls_args master) \
        --heartbeat-interval-ms 500 --agent-timeout-ms 30000 --retry-base-ms 300 >>"$W/master.log" 2>&1 &
    MPID=$!
    wait_http "$MURL" "$MPID" silo-master
}

agent_start() {
    # shellcheck disable=SC2046
    "$AGENT_BIN" --listen 127.0.0.1:5051 --state-dir "$W/agent" --token-file "$W/token" $(tls_args node-1) "$@" \
        >>"$W/agent.log" 2>&1 &
    APID=$!
    wait_http "$AURL" "$APID" silo-agent
}

wait_http() {
    for _ in $(seq 300); do
        curl -fsS "$1/health" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || fail "$3 exited at startup"
        sleep 0.1
    done
    fail "$3 did not answer $1/health within 30 s"
}

kill9() {
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# get URL PATH: the body (fails on non-2xx).
get() { curl -fsS -H "Authorization: Bearer $TOKEN" "$1$2"; }
req() {
    local method="$1" url="$2" body="${3:-}"
    curl -sS -o "$W/body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $TOKEN" \
        ${body:+-H 'Content-Type: application/json' --data-binary "$body"} "$url"
}
submit() {
    local code
    code="$(req POST "$MURL/api/v1/tasks" "$1")"
    [ "$code" = 201 ] || fail "submit $1: HTTP $code: $(cat "$W/body")"
    jq -r .id "$W/body"
}

mstate_is() { [ "$(get "$MURL" "/api/v1/tasks/$1" | jq -r .state)" = "$2" ]; }
astate_is() { [ "$(get "$AURL" "/api/v1/tasks/$1" | jq -r .state)" = "$2" ]; }
link() { get "$AURL" /api/v1/status | jq -r ".link$1"; }
link_ge() { [ "$(link "$1")" -ge "$2" ]; }
pending_is() { [ "$(get "$AURL" /api/v1/status | jq -r .pending)" = "$1" ]; }

# Every state the agent reported for a task, from the master's history: each exactly once.
agent_updates() {
    local t="$1" h
    h="$(get "$MURL" "/api/v1/tasks/$t" | jq -c '[.history[] | select(.update_id != null)]')"
    jq -e 'map(.update_id) | length == (unique | length)' <<<"$h" >/dev/null ||
        fail "task $t: an update id recorded twice at the master: $h"
    jq -c 'map(.state)' <<<"$h"
}

echo "== start: master, then the agent with nullb0 (first start: calibration)"
master_start
NULLB="$(vm_dev_majmin /dev/nullb0)"
agent_start --master "$MURL" --disk nullb0 --calibrate-seconds 1 --calibrate-write nullb0 \
    --attribute rack=r1
wait_until 20 "agent registered" bash -c "[ \"\$(curl -fsS -H 'Authorization: Bearer $TOKEN' $AURL/api/v1/status | jq -r .link.state)\" = registered ]"
AID="$(cat "$W/agent/agent-id")"
assert_eq "agent id persisted and used" "$(link .agent_id)" "$AID"
assert_eq "the agent's id is its certificate's CN" "$AID" node-1
wait_until 60 "calibration done" bash -c "[ -s '$W/agent/calibration.json' ]"
dev="$(get "$AURL" /api/v1/devices | jq -c '.disks[0]')"
echo "   agent devices: $(jq -c '{name, device, read_bps, write_bps, read_iops, write_iops, source}' <<<"$dev")"
assert_eq "device of nullb0" "$(jq -r .device <<<"$dev")" "$NULLB"
assert_eq "figure source" "$(jq -r .source <<<"$dev")" calibrated
for f in read_bps write_bps read_iops write_iops; do
    v="$(jq -r ".$f" <<<"$dev")"
    [ "$v" -gt 0 ] || fail "calibrated $f of nullb0 is $v"
done
pass "all four figures calibrated"
# The new figures reach the master through a second registration.
wait_until 20 "master sees the calibrated figures" bash -c "[ \"\$(curl -fsS -H 'Authorization: Bearer $TOKEN' $MURL/api/v1/agents/$AID | jq -r '.resources.disks[0].write_bps')\" = \"$(jq -r .write_bps <<<"$dev")\" ]"
magent="$(get "$MURL" "/api/v1/agents/$AID")"
assert_eq "agent state at the master" "$(jq -r .state <<<"$magent")" ACTIVE
assert_eq "attribute rack at the master" "$(jq -r .attributes.rack <<<"$magent")" r1
assert_eq "disk source at the master" "$(jq -r '.resources.disks[0].source' <<<"$magent")" calibrated

echo "== a task through the master: STAGING -> STARTING -> RUNNING -> FINISHED"
T1="$(submit '{"name":"t1","command":["/bin/sh","-c","sleep 2; echo done"],"resources":{"cpus":0.5,"mem":"64Mi","io":[{"disk":"nullb0","wbps":"10M"}]}}')"
seen=""
for _ in $(seq 300); do
    s="$(get "$MURL" "/api/v1/tasks/$T1" | jq -r .state)"
    [ "${seen##* }" = "$s" ] || seen="$seen $s"
    [ "$s" = FINISHED ] && break
    case "$s" in FAILED|KILLED|LOST) fail "t1 ended $s: $(get "$MURL" "/api/v1/tasks/$T1")" ;; esac
    sleep 0.1
done
echo "   states polled at the master:$seen"
assert_eq "t1 final state" "$s" FINISHED
assert_eq "t1 states in the master's history" \
    "$(get "$MURL" "/api/v1/tasks/$T1" | jq -c '[.history[].state]')" '["PENDING","STAGING","STARTING","RUNNING","FINISHED"]'
assert_eq "t1 updates from the agent" "$(agent_updates "$T1")" '["RUNNING","FINISHED"]'
assert_eq "t1 io limit applied on the agent" \
    "$(get "$AURL" "/api/v1/tasks/$T1" | jq -r '.spec.resources.io[0].disk')" nullb0

echo "== exit code, kill through the master"
T2="$(submit '{"name":"t2","command":["/bin/sh","-c","exit 3"]}')"
wait_until 30 "t2 FAILED" mstate_is "$T2" FAILED
assert_eq "t2 exit code and reason" "$(get "$MURL" "/api/v1/tasks/$T2" | jq -r '"\(.exit_code) \(.reason)"')" "3 EXIT_NONZERO"
T3="$(submit '{"name":"t3","command":["/bin/sleep","1000"],"kill_grace_s":1}')"
wait_until 30 "t3 RUNNING" mstate_is "$T3" RUNNING
code="$(req DELETE "$MURL/api/v1/tasks/$T3")"
[ "$code" = 202 ] || [ "$code" = 200 ] || fail "kill t3: HTTP $code $(cat "$W/body")"
wait_until 30 "t3 KILLED at the master" mstate_is "$T3" KILLED
assert_eq "t3 on the agent" "$(get "$AURL" "/api/v1/tasks/$T3" | jq -r .state)" KILLED
assert_eq "t3 updates from the agent" "$(agent_updates "$T3")" '["RUNNING","KILLED"]'
wait_until 20 "agent queue drained" pending_is 0
code="$(req GET "$AURL/api/v1/status?after=x")"
assert_eq "cursor acknowledgement refused while a master consumes the queue" "$code" 409

echo "== kill -9 of the master while one task ends and one keeps running"
T5="$(submit '{"name":"t5","command":["/bin/sleep","1000"],"kill_grace_s":1}')"
wait_until 30 "t5 RUNNING" mstate_is "$T5" RUNNING
T4="$(submit '{"name":"t4","command":["/bin/sleep","6"]}')"
wait_until 30 "t4 RUNNING" mstate_is "$T4" RUNNING
regs="$(link .registrations)"
kill9 "$MPID"
MPID=""
assert_eq "t4 on the agent when the master died (it must end while the master is down)" \
    "$(get "$AURL" "/api/v1/tasks/$T4" | jq -r .state)" RUNNING
wait_until 30 "t4 FINISHED on the agent" astate_is "$T4" FINISHED
wait_until 20 "t4's update queued on disk" bash -c "ls '$W/agent/status/' | grep -q json"
pass "while the master is down the agent queues $(get "$AURL" /api/v1/status | jq -r .pending) update(s)"
master_start
wait_until 30 "re-registration" link_ge .registrations $((regs + 1))
wait_until 30 "t4 FINISHED at the master" mstate_is "$T4" FINISHED
assert_eq "t5 after the master's restart" "$(get "$MURL" "/api/v1/tasks/$T5" | jq -r .state)" RUNNING
assert_eq "t4 updates from the agent" "$(agent_updates "$T4")" '["RUNNING","FINISHED"]'
req DELETE "$MURL/api/v1/tasks/$T5" >/dev/null
wait_until 30 "t5 KILLED" mstate_is "$T5" KILLED
assert_eq "t5 updates from the agent" "$(agent_updates "$T5")" '["RUNNING","KILLED"]'
wait_until 20 "agent queue drained" pending_is 0
assert_eq "agents at the master" "$(get "$MURL" /api/v1/agents | jq -r '.agents | length')" 1

echo "== kill -9 of the agent while a task ends"
T6="$(submit '{"name":"t6","command":["/bin/sh","-c","sleep 2; exit 4"]}')"
wait_until 30 "t6 RUNNING" mstate_is "$T6" RUNNING
kill9 "$APID"
APID=""
sleep 4
agent_start --master "$MURL" --disk nullb0 --calibrate-seconds 1 --calibrate-write nullb0 --attribute rack=r1
wait_until 30 "t6 FAILED at the master" mstate_is "$T6" FAILED
assert_eq "t6 exit code" "$(get "$MURL" "/api/v1/tasks/$T6" | jq -r .exit_code)" 4
assert_eq "t6 updates from the agent" "$(agent_updates "$T6")" '["RUNNING","FAILED"]'
assert_eq "agent id after the agent's restart" "$(link .agent_id)" "$AID"
assert_eq "calibrations at start over two agent starts (the second reuses calibration.json)" \
    "$(grep -c 'Calibrating' "$W/agent.log")" 1
wait_until 20 "agent queue drained" pending_is 0

echo "== an agent id file naming another agent than the certificate"
kill -TERM "$APID"; wait "$APID" 2>/dev/null || true
APID=""
echo other-agent >"$W/agent/agent-id"
set +e
# shellcheck disable=SC2046
out="$(timeout 60 "$AGENT_BIN" --listen 127.0.0.1:5051 --state-dir "$W/agent" --token-file "$W/token" \
    $(tls_args node-1) --master "$MURL" --disk nullb0 --calibrate false 2>&1)"
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "silo-agent with a contradicting id file: exit $rc: $out"
assert_match "the refusal names both ids and files" "$out" \
    "agent id file $W/agent/agent-id names agent 'other-agent', but the certificate $T/node-1.pem names agent 'node-1'"
echo node-1 >"$W/agent/agent-id"

echo "== standalone: the status queue read and acknowledged by a client"
agent_start --disk nullb0 --calibrate false
code="$(req POST "$AURL/api/v1/tasks" '{"id":"s1","name":"s1","command":["/bin/true"]}')"
[ "$code" = 201 ] || fail "standalone launch: HTTP $code $(cat "$W/body")"
wait_until 30 "s1 FINISHED" astate_is s1 FINISHED
st="$(get "$AURL" /api/v1/status)"
assert_eq "standalone queue" "$(jq -c '[.updates[] | select(.task_id == "s1") | .state]' <<<"$st")" '["RUNNING","FINISHED"]'
first="$(jq -r '[.updates[] | select(.task_id == "s1")][0].update_id' <<<"$st")"
st2="$(get "$AURL" "/api/v1/status?after=$first")"
assert_eq "acknowledged through the first" "$(jq -r .acknowledged <<<"$st2")" 1
assert_eq "what is left" "$(jq -c '[.updates[] | select(.task_id == "s1") | .state]' <<<"$st2")" '["FINISHED"]'
last="$(jq -r '.updates[-1].update_id' <<<"$st2")"
assert_eq "all acknowledged" "$(get "$AURL" "/api/v1/status?after=$last" | jq -r .pending)" 0
assert_eq "update files left" "$(ls "$W/agent/status" | grep -c '\.json$' || true)" 0
code="$(req POST "$AURL/api/v1/devices/calibrate" '{"disks":["sdz"]}')"
assert_eq "calibrating a disk that is not offered" "$code" 404
code="$(req POST "$AURL/api/v1/devices/calibrate")"
assert_eq "calibrate on request" "$code" 202
wait_until 60 "calibration on request done" bash -c "[ \"\$(curl -fsS -H 'Authorization: Bearer $TOKEN' $AURL/api/v1/devices | jq -r '.disks[0].calibration.state')\" = calibrated ]"
assert_done
