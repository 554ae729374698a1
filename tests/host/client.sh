#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# libsilo against a real silo-master and a sim-agent on loopback (no root needed): the cmocka
# checks of client-check.c, libsilo.so.0's exported symbols, and siloctl on it: a master list
# with a dead first entry, `siloctl events` resumed across a kill -9 of the master, and the C
# example framework (examples/framework.c) resubmitting a failed copy, and listing again when its
# stream falls behind the master's event window.
# Args: silo-master sim-agent client-check siloctl libsilo.so framework
. "$(dirname "$0")/master-lib.sh"
CHECK=$(realpath "$3")
SILOCTL=$(realpath "$4")
LIB=$(realpath "$5")
FRAMEWORK=$(realpath "$6")

# The ABI is the header: nothing of libsilo-common leaks out of the .so.
exported=$(nm -D --defined-only "$LIB" | awk '$2 == "T" || $2 == "D" || $2 == "B" { sub(/@.*/, "", $3); print $3 }' | sort)
assert_eq "libsilo exports only silo_client_*" "$(grep -vc '^silo_client_' <<<"$exported")" 0
assert_eq "libsilo exports the 15 functions of client.h" "$(wc -l <<<"$exported")" 15
assert_match "silo_client_set_tls is in its own version node" \
    "$(nm -D --defined-only "$LIB" | awk '$3 ~ /^silo_client_set_tls@/ { print $3 }')" '^silo_client_set_tls@@LIBSILO_0\.1$'
assert_match "libsilo's soname" "$(objdump -p "$LIB" | awk '/SONAME/ { print $2 }')" '^libsilo\.so\.0$'

# A small event window, so a stale ?since= is easy to provoke.
start_master --heartbeat-interval-ms 100 --agent-timeout-ms 3000 --event-window 10
start_sim a1 --cpus 4
wait_until 10 "a1 registered" sim_registered a1

SILO_TEST_MASTER="http://127.0.0.1:$PORT" SILO_TEST_TOKEN_FILE="$WORK/token" \
    SILO_TEST_SIM="http://127.0.0.1:${SIM_PORT[a1]}" "$CHECK" || fail "client-check failed"
pass "client-check: submit, get, list, wait, kill, events, errors, failover, redirects"

# siloctl on libsilo: a dead master first in the list, the live one answers.
dead=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ctl() { "$SILOCTL" -t "$WORK/token" "$@"; }
out=$(ctl -m "http://127.0.0.1:$dead,127.0.0.1:$PORT" tasks) || fail "siloctl with a dead first master: $?"
assert_match "siloctl tasks through the second master" "$out" '^ID +NAME'
rc=0; ctl -m "http://127.0.0.1:$dead" tasks 2>"$WORK/err" || rc=$?
assert_eq "no master reachable: exit 1" "$rc" 1
assert_file_contains "the error names the dead master" "$WORK/err" "connecting to http://127.0.0.1:$dead/api/v1/tasks: Connection refused"

# siloctl events from the list's index, across a kill -9 and restart of the master: every
# index once, in order, none missing.
M="http://127.0.0.1:$PORT"
since=$(ctl -m "$M" -o json tasks | jq .event_index)
ctl -m "$M" -o json events --since "$since" >"$WORK/events.json" 2>"$WORK/events.err" &
EV=$!
PIDS+=("$EV")
TA=$(submit '{"name": "ev-a", "command": ["/bin/true"], "resources": {"cpus": 0.5}}')
wait_until 10 "ev-a RUNNING" state_is "$TA" RUNNING
wait_until 5 "ev-a's RUNNING streamed" grep -q "\"$TA\".*RUNNING\|RUNNING.*\"$TA\"" "$WORK/events.json"
kill9_master
start_master --heartbeat-interval-ms 100 --agent-timeout-ms 3000 --event-window 10
sim a1 POST "/sim/finish/$TA" '{"state": "FINISHED", "exit_code": 0}' >/dev/null
wait_until 15 "ev-a FINISHED streamed after the restart" grep -q "FINISHED" "$WORK/events.json"
kill "$EV"
wait "$EV" 2>/dev/null || true
idx=$(jq -r .index "$WORK/events.json")
first=$(head -n1 <<<"$idx")
assert_eq "first index after the list's" "$first" "$((since + 1))"
assert_eq "indexes consecutive, none repeated ($(wc -l <<<"$idx") events)" \
    "$(awk -v f="$first" '$1 != f + NR - 1 { bad++ } END { print bad + 0 }' <<<"$idx")" 0
assert_eq "ev-a's states as streamed" \
    "$(jq -r --arg t "$TA" 'select(.type == "task_state" and .task_id == $t) | .state' "$WORK/events.json" | paste -sd,)" \
    "PENDING,STAGING,STARTING,RUNNING,FINISHED"
pass "siloctl events resumed after the master's restart without a gap or a repeat"

# examples/framework.c: 3 copies; one fails once and is submitted again; the framework is
# killed -9 and started again, takes its running tasks over and exits 0 once all finished.
exited() { [ ! -e "/proc/$1" ] || grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"; }
fw_running_is() { [ "$(api_body GET "/api/v1/tasks?state=RUNNING" | jq --arg n "$1-" '[.tasks[] | select(.name | startswith($n))] | length')" = "$2" ]; }
fw() { "$FRAMEWORK" --master "127.0.0.1:$dead,http://127.0.0.1:$PORT" --token-file "$WORK/token" --name fw \
    --count 3 --retries 1 -- /bin/sh -c 'exit 0'; }
fw >"$WORK/fw.out" 2>&1 &
FW=$!
PIDS+=("$FW")
wait_until 10 "the 3 copies RUNNING" fw_running_is fw 3
sim a1 POST "/sim/finish/fw-1-1" '{"state": "FAILED", "exit_code": 3}' >/dev/null
wait_until 10 "fw-1's second attempt RUNNING" state_is fw-1-2 RUNNING
assert_eq "its name and SILO_ATTEMPT" "$(task_field fw-1-2 '.name + " " + .spec.env.SILO_ATTEMPT')" "fw-1 2"
assert_file_contains "the failure and the resubmission" "$WORK/fw.out" \
    "slot 1: task fw-1-1 FAILED (EXIT_NONZERO, exit code 3); submitting it again"
kill -9 "$FW"
fw >"$WORK/fw2.out" 2>&1 &
FW=$!
PIDS+=("$FW")
wait_until 10 "the restarted framework found its tasks" grep -q "slot 2: found" "$WORK/fw2.out"
for t in fw-0-1 fw-2-1 fw-1-2; do
    sim a1 POST "/sim/finish/$t" '{"state": "FINISHED", "exit_code": 0}' >/dev/null
done
wait_until 10 "the framework exits" exited "$FW"
rc=0; wait "$FW" || rc=$?
assert_eq "restarted framework's exit status, all copies finished" "$rc" 0
assert_file_contains "it took fw-1's second attempt over" "$WORK/fw2.out" "slot 1: found task fw-1-2 (RUNNING)"
assert_eq "it submitted nothing" "$(grep -c submitted "$WORK/fw2.out" || true)" 0
assert_file_contains "the summary" "$WORK/fw2.out" "3 of 3 copies finished"
rc=0; fw >"$WORK/fw3.out" 2>&1 || rc=$?
assert_eq "a third start finds the run done: exit $rc, $(grep -c 'FINISHED' "$WORK/fw3.out") found finished" "$rc" 0

# With no retries left a failure ends the run: exit 1.
"$FRAMEWORK" --master "http://127.0.0.1:$PORT" --token-file "$WORK/token" --name fz --count 1 --retries 0 \
    -- /bin/false >"$WORK/fz.out" 2>&1 &
FZ=$!
PIDS+=("$FZ")
wait_until 10 "fz-0 RUNNING" state_is fz-0-1 RUNNING
sim a1 POST "/sim/finish/fz-0-1" '{"state": "FAILED", "exit_code": 1}' >/dev/null
wait_until 10 "the framework exits" exited "$FZ"
rc=0; wait "$FZ" || rc=$?
assert_eq "framework exit status, a copy failed for good" "$rc" 1
assert_file_contains "no retries left" "$WORK/fz.out" "no retries left"
assert_file_contains "the summary" "$WORK/fz.out" "0 of 1 copies finished"

# A stream that falls behind the master's event window: the framework is stopped (SIGSTOP)
# while its master is killed and started again with a window of 2 events, and 3 of its tasks
# end there (fg-1-1 failed). When it runs again, its stream reconnects from its last event, the
# master answers 410, and the framework lists the tasks again (as at a restart): it learns the
# two ends and the failure from the list and submits fg-1 again, with no event of them seen.
stop_master
start_master --heartbeat-interval-ms 100 --agent-timeout-ms 3000 --event-window 2
wait_until 10 "a1 back" sim_registered a1
"$FRAMEWORK" --master "http://127.0.0.1:$PORT" --token-file "$WORK/token" --name fg --count 3 --retries 1 \
    -- /bin/true >"$WORK/fg.out" 2>&1 &
FG=$!
PIDS+=("$FG")
wait_until 10 "the 3 copies of fg RUNNING" fw_running_is fg 3
# Its stream is open once it has nothing left to submit; a moment for the request to go out.
sleep 0.5
kill -STOP "$FG"
kill9_master
start_master --heartbeat-interval-ms 100 --agent-timeout-ms 3000 --event-window 2
wait_until 10 "a1 registered again" bash -c "[ \$(curl -s -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$PORT/api/v1/agents | jq '[.agents[] | select(.state == \"ACTIVE\")] | length') = 1 ]"
behind=$(api_body GET /api/v1/tasks | jq .event_index)
sim a1 POST "/sim/finish/fg-1-1" '{"state": "FAILED", "exit_code": 3}' >/dev/null
sim a1 POST "/sim/finish/fg-0-1" '{"state": "FINISHED", "exit_code": 0}' >/dev/null
sim a1 POST "/sim/finish/fg-2-1" '{"state": "FINISHED", "exit_code": 0}' >/dev/null
# (an index still kept is answered with a stream: --max-time ends it)
wait_until 10 "the master no longer keeps the events after $behind" \
    bash -c "[ \$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $TOKEN' 'http://127.0.0.1:$PORT/api/v1/events?since=$behind') = 410 ]"
relists=$(grep -c "fell behind the master's window" "$WORK/fg.out" || true)
kill -CONT "$FG"
wait_until 20 "fg-1's second attempt RUNNING" state_is fg-1-2 RUNNING
sim a1 POST "/sim/finish/fg-1-2" '{"state": "FINISHED", "exit_code": 0}' >/dev/null
wait_until 10 "fg exits" exited "$FG"
rc=0; wait "$FG" || rc=$?
assert_eq "fg's exit status" "$rc" 0
[ "$(grep -c "fell behind the master's window" "$WORK/fg.out")" -gt "$relists" ] ||
    fail "fg did not list again after it was continued: $(cat "$WORK/fg.out")"
assert_eq "fg saw none of the ends as events" "$(grep -c 'submitting it again' "$WORK/fg.out" || true)" 0
assert_file_contains "fg found fg-1-1's failure in the list" "$WORK/fg.out" "slot 1: found task fg-1-1 (FAILED)"
assert_eq "fg submitted 3 copies and 1 retry" "$(grep -c 'submitted task' "$WORK/fg.out")" 4
assert_file_contains "the summary" "$WORK/fg.out" "3 of 3 copies finished"
pass "a stream behind the event window (410): the framework lists again, learns 3 ends from the list, retries fg-1, exits 0"

assert_done
