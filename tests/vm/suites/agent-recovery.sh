#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "agent-recovery": silo-agent's crash recovery, state-dir lock and housekeeping (issue 7).
#
#   kill -9     20 running tasks; 5 end while the agent is down (exit 0, 11, 12, 13, OOM);
#               restart: 15 re-adopted (same pid, in cgroup.procs, limits intact), 5 with
#               their true status; each status update queued exactly once; stdout flows on
#   leftovers   a cgroup and a sandbox no checkpoint knows are removed at startup; an
#               unreadable checkpoint is set aside as <id>.json.bad, its sandbox as .bad-<id>;
#               an empty one (a power loss) and a checkpoint write cut short are removed
#   shim        a shim killed by SIGKILL: FAILED/SHIM_LOST, its cgroup removed
#   cgroup      a task moved out of its cgroup, the group removed, while the agent was down:
#               FAILED/CGROUP_LOST naming the group, its task and shim killed
#   lock        a second agent on the same state dir exits, naming the first one's pid
#   burst       kill -9 during 50 concurrent launches, then every id launched again: each
#               task started exactly once (one shim, one process in its one cgroup, one
#               RUNNING update, no FAILED one); prints how many launches were in flight
#   crash       (-Dtest_crash_points=true builds) SIGKILL inside a launch: after the cgroup
#               and before the shim, the launch was never answered nor started, so the
#               restarted agent forgets it (404, nothing leaked, nothing reported) and a retry
#               starts it (201); after the shim and before the answer, it runs and a retry
#               answers 200 with that task; other builds run the rest and the suite exits 77
#   gc          --gc-max-tasks and --gc-max-age-s forget ended tasks and their sandboxes
set -euo pipefail

here="$(dirname "$0")"
. "$here/lib.sh"
. "$here/agent-lib.sh"
vm_require_guest

ip link set lo up
AGENT_STATE=/var/lib/silo/agent-recovery
AGENT_LOG=/tmp/silo-agent-recovery.log
CGT=/sys/fs/cgroup/silo/tasks
GO=/var/lib/silo/recovery-go   # not /tmp: a task without a rootfs has a private /tmp
COMMON=(--kill-grace-s 2 --calibrate=false)

cleanup() {
    local rc=$?
    set +e
    [ -n "${AGENT_PID:-}" ] && kill -KILL "$AGENT_PID" 2>/dev/null
    [ -n "${AGENT2_PID:-}" ] && kill -KILL "$AGENT2_PID" 2>/dev/null
    wait 2>/dev/null
    if [ "$rc" -ne 0 ]; then
        echo "---- silo-agent log (last 80 lines) ----"
        tail -n 80 "$AGENT_LOG"
    fi
    for t in "$CGT"/*/; do
        [ -d "$t" ] && { echo 1 >"$t/cgroup.kill"; sleep 0.2; rmdir "$t"; }
    done
}
trap cleanup EXIT

# A jq start costs ~0.7 s under TCG: the checks below read one task list or one status queue
# with one jq into bash arrays, not one GET and one jq per task (that was most of a minute).
#
# status_load: GET /api/v1/status into STATUS_BODY, and UPD["TASK STATE"] = how many updates of
# that (task, state) it lists, UPD_EXIT and UPD_REASON = the exit code and reason of the first.
declare -A UPD UPD_EXIT UPD_REASON
status_load() {
    local t s n e r
    api_expect 200 GET '/api/v1/status?limit=100000'
    STATUS_BODY="$API_BODY"
    UPD=() UPD_EXIT=() UPD_REASON=()
    while read -r t s n e r; do
        UPD["$t $s"]=$n UPD_EXIT["$t $s"]=$e UPD_REASON["$t $s"]=$r
    done <<<"$(jq -r '.updates | group_by([.task_id, .state])[] |
        "\(.[0].task_id) \(.[0].state) \(length) \(.[0].exit_code) \(.[0].reason)"' <<<"$STATUS_BODY")"
}
# updates_count TASK STATE: how often the status queue of the last status_load lists it.
updates_count() {
    echo "${UPD["$1 $2"]:-0}"
}
# tasks_load: GET /api/v1/tasks into T_STATE, T_PID, T_CG, T_EXIT, T_REASON by task id
# ("" for null; "|" separates, since read merges runs of a whitespace IFS such as a tab).
# Here-strings, not <(...): the plain guest has no /dev/fd.
declare -A T_STATE T_PID T_CG T_EXIT T_REASON
tasks_load() {
    local id st pid cg ex re
    api_expect 200 GET /api/v1/tasks
    T_STATE=() T_PID=() T_CG=() T_EXIT=() T_REASON=()
    while IFS='|' read -r id st pid cg ex re; do
        T_STATE[$id]=$st T_PID[$id]=$pid T_CG[$id]=$cg T_EXIT[$id]=$ex T_REASON[$id]=$re
    done <<<"$(jq -r '.tasks[] | [.id, .state, .pid, .cgroup, .exit_code, .reason] |
        map(. // "" | tostring) | join("|")' <<<"$API_BODY")"
}
# tasks_wait STATE SEC ID...: until every ID is in STATE (fails on another ended state).
tasks_wait() {
    local want="$1" secs="$2" id left
    shift 2
    for _ in $(seq $((secs * 4))); do
        tasks_load
        left=""
        for id in "$@"; do
            case "${T_STATE[$id]:-}" in
                "$want") ;;
                FINISHED|FAILED|KILLED|LOST) fail "task $id ended ${T_STATE[$id]}, want $want" ;;
                *) left="$left $id" ;;
            esac
        done
        [ -z "$left" ] && return 0
        sleep 0.25
    done
    fail "not $want after ${secs}s:$left"
}

# shims_of ID: how many silo-shim processes serve the task's sandbox.
shims_of() {
    pgrep -fc "silo-shim $AGENT_STATE/sandboxes/$1\$" || true
}

# one_start ID: the task runs exactly once: one shim, its pid the only process of its one
# cgroup, one RUNNING status update and no FAILED one (in the last status_load).
one_start() {
    local id="$1" pid cg
    pid="$(task_field "$id" pid)"
    cg="$(task_field "$id" cgroup)"
    assert_eq "$id: shims" "$(shims_of "$id")" 1 >/dev/null
    assert_eq "$id: cgroup" "$cg" "$CGT/$id" >/dev/null
    assert_eq "$id: processes in $cg" "$(cat "$cg/cgroup.procs" | tr '\n' ' ')" "$pid " >/dev/null
    assert_eq "$id: RUNNING updates" "$(updates_count "$id" RUNNING)" 1 >/dev/null
    assert_eq "$id: FAILED updates" "$(updates_count "$id" FAILED)" 0 >/dev/null
}

rm -rf "$AGENT_STATE" "$GO"
agent_start "${COMMON[@]}"

echo "== kill -9 with 20 running tasks"
# live-1 writes a numbered line every 0.2 s: its file must show no gap across the restart.
api_expect 201 POST /api/v1/tasks '{"id":"live-1","name":"live","resources":{"mem":"64Mi","pids":64},
    "command":["/bin/sh","-c","i=0; while :; do echo tick-$i; i=$((i+1)); sleep 0.2; done"]}'
for n in $(seq 2 15); do
    api_expect 201 POST /api/v1/tasks "{\"id\":\"live-$n\",\"name\":\"live\",
        \"resources\":{\"mem\":\"64Mi\",\"pids\":64},\"command\":[\"/bin/sleep\",\"600\"]}"
done
# The five that end while the agent is down wait for $GO; codes 0, 11, 12, 13 and an OOM kill.
WAIT="while [ ! -e $GO ]; do sleep 0.2; done"
for code in 0 11 12 13; do
    api_expect 201 POST /api/v1/tasks "{\"id\":\"end-$code\",\"name\":\"end\",
        \"command\":[\"/bin/sh\",\"-c\",\"$WAIT; exit $code\"]}"
done
api_expect 201 POST /api/v1/tasks "{\"id\":\"end-oom\",\"name\":\"end\",\"resources\":{\"mem\":\"32Mi\",\"swap\":0},
    \"command\":[\"/bin/sh\",\"-c\",\"$WAIT; exec /bin/dd if=/dev/zero of=/dev/null bs=200M count=1\"]}"
declare -A PID
LIVE=$(seq -f 'live-%g' 1 15)
ENDS="end-0 end-11 end-12 end-13 end-oom"
tasks_wait RUNNING 60 $LIVE $ENDS
for id in $LIVE $ENDS; do
    PID[$id]="${T_PID[$id]:-}"
    [ -n "${PID[$id]}" ] || fail "$id RUNNING without a pid"
done
pass "20 tasks RUNNING"
sb1="$(task_field live-1 sandbox)"
agent_kill9
pass "agent killed with SIGKILL"
touch "$GO"
for id in $ENDS; do
    for _ in $(seq 300); do
        [ -e "$AGENT_STATE/sandboxes/$id/exit.json" ] && break
        sleep 0.1
    done
    [ -e "$AGENT_STATE/sandboxes/$id/exit.json" ] || fail "$id did not end while the agent was down"
done
pass "5 tasks ended while the agent was down (their shims recorded exit.json)"
# A cgroup and a sandbox that no checkpoint knows (e.g. a lost state file).
mkdir "$CGT/ghost"
sh -c 'echo $$ >'"$CGT/ghost/cgroup.procs"'; exec sleep 600' &
ghost_pid=$!
mkdir -p "$AGENT_STATE/sandboxes/ghost" "$AGENT_STATE/sandboxes/ghost2"
# A checkpoint that cannot be parsed (disk trouble), with its task's sandbox and output.
mkdir -p "$AGENT_STATE/sandboxes/ghost3"
echo "ghost3's last words" >"$AGENT_STATE/sandboxes/ghost3/stdout"
printf '{"spec": {"id": "ghost3", "comm' >"$AGENT_STATE/tasks/ghost3.json"
# An empty checkpoint (a first checkpoint, written without fsync, after a power loss).
: >"$AGENT_STATE/tasks/ghost5.json"
mkdir -p "$AGENT_STATE/sandboxes/ghost5"
# A checkpoint write that a crash cut short (file_write_replace()'s temp file).
printf '{"spec": {"id": "live-1"' >"$AGENT_STATE/tasks/live-1.json.tmp.4242"
lines_down="$(wc -l <"$sb1/stdout")"
sleep 1
lines_down2="$(wc -l <"$sb1/stdout")"
[ "$lines_down2" -gt "$lines_down" ] || fail "live-1's stdout stopped with the agent ($lines_down lines)"
pass "live-1's stdout grew from $lines_down to $lines_down2 lines while the agent was down"

agent_start "${COMMON[@]}"
tasks_load
for id in $LIVE; do
    assert_eq "$id after restart" "${T_STATE[$id]:-}" RUNNING >/dev/null
    assert_eq "$id keeps its pid" "${T_PID[$id]:-}" "${PID[$id]}" >/dev/null
    cg="${T_CG[$id]:-}"
    grep -qx "${PID[$id]}" "$cg/cgroup.procs" || fail "$id: pid ${PID[$id]} not in $cg/cgroup.procs"
    assert_eq "$id memory.max" "$(cat "$cg/memory.max")" 67108864 >/dev/null
    assert_eq "$id pids.max" "$(cat "$cg/pids.max")" 64 >/dev/null
done
pass "15 tasks re-adopted: RUNNING, same pid, in their cgroup.procs, memory.max 64Mi and pids.max 64 intact"
grep -q "re-adopted (shim" "$AGENT_LOG" || fail "no re-adoption logged"
for code in 0 11 12 13; do
    want=FAILED reason=EXIT_NONZERO
    [ "$code" = 0 ] && want=FINISHED reason=NONE
    assert_eq "end-$code state" "${T_STATE[end-$code]:-}" "$want"
    assert_eq "end-$code exit_code" "${T_EXIT[end-$code]:-}" "$code"
    assert_eq "end-$code reason" "${T_REASON[end-$code]:-}" "$reason"
done
assert_eq "end-oom state" "${T_STATE[end-oom]:-}" FAILED
assert_eq "end-oom reason" "${T_REASON[end-oom]:-}" OOM_KILLED
pass "end-oom: $(task_field end-oom message)"
for id in $ENDS; do
    [ ! -d "$CGT/$id" ] || fail "$id: cgroup left after its end was recovered"
done
pass "the 5 ended tasks' cgroups removed"
[ ! -d "$CGT/ghost" ] || fail "leftover cgroup $CGT/ghost not removed"
# The group is gone, so its process is (a zombie of ours at most, reaped here).
wait "$ghost_pid" 2>/dev/null || true
[ ! -e "$AGENT_STATE/sandboxes/ghost" ] && [ ! -e "$AGENT_STATE/sandboxes/ghost2" ] ||
    fail "leftover sandboxes not removed: $(ls "$AGENT_STATE/sandboxes")"
grep -q "Removed leftover cgroup .*/tasks/ghost" "$AGENT_LOG" || fail "leftover cgroup removal not logged"
grep -q "Removed leftover sandbox .*/sandboxes/ghost2" "$AGENT_LOG" || fail "leftover sandbox removal not logged"
pass "leftover cgroup (and its process) and sandboxes removed and logged"
[ ! -e "$AGENT_STATE/tasks/ghost3.json" ] && [ -e "$AGENT_STATE/tasks/ghost3.json.bad" ] ||
    fail "the unreadable checkpoint was not set aside: $(ls "$AGENT_STATE/tasks" | grep ghost3)"
assert_eq "ghost3's stdout kept" "$(cat "$AGENT_STATE/sandboxes/.bad-ghost3/stdout")" "ghost3's last words" >/dev/null
grep -q "Unreadable checkpoint .*/tasks/ghost3.json .*set aside as .*/tasks/ghost3.json.bad, its sandbox kept as .*/sandboxes/.bad-ghost3" "$AGENT_LOG" ||
    fail "setting the unreadable checkpoint aside not logged"
api_expect 404 GET /api/v1/tasks/ghost3
[ ! -e "$AGENT_STATE/tasks/ghost5.json" ] && [ ! -e "$AGENT_STATE/tasks/ghost5.json.bad" ] &&
    [ ! -e "$AGENT_STATE/sandboxes/ghost5" ] || fail "the empty checkpoint ghost5.json or its sandbox was kept"
[ ! -e "$AGENT_STATE/tasks/live-1.json.tmp.4242" ] || fail "a checkpoint's leftover temp file was kept"
pass "an unreadable checkpoint set aside as ghost3.json.bad and its sandbox as .bad-ghost3 (stdout kept), the task unknown (404); an empty one removed with its sandbox; a checkpoint's leftover temp file removed"

status_load
dups="$(jq '[.updates[] | .update_id] | group_by(.) | map(select(length > 1)) | length' <<<"$STATUS_BODY")"
assert_eq "duplicated update ids" "$dups" 0
for id in $LIVE $ENDS; do
    assert_eq "$id: RUNNING updates" "$(updates_count "$id" RUNNING)" 1 >/dev/null
done
for code in 0 11 12 13; do
    state=FAILED
    [ "$code" = 0 ] && state=FINISHED
    assert_eq "end-$code: $state updates" "$(updates_count "end-$code" "$state")" 1 >/dev/null
    assert_eq "end-$code: exit_code in its update" "${UPD_EXIT["end-$code $state"]:-}" "$code" >/dev/null
    # As the one jq over FAILED and FINISHED updates this replaced: no end update of the other kind.
    assert_eq "end-$code: FAILED and FINISHED updates" \
        "$(($(updates_count "end-$code" FAILED) + $(updates_count "end-$code" FINISHED)))" 1 >/dev/null
done
assert_eq "end-oom: FAILED updates" "$(updates_count end-oom FAILED)" 1
assert_eq "end-oom: reason in its update" "${UPD_REASON["end-oom FAILED"]:-}" OOM_KILLED
pass "$(jq '.updates | length' <<<"$STATUS_BODY") status updates, each (task, state) exactly once, the 5 ends with their true codes"

sleep 1
api_expect 200 "GET" "/api/v1/tasks/live-1/logs?stream=stdout"
n="$(grep -c '^tick-' <<<"$API_BODY")"
last="$(grep '^tick-' <<<"$API_BODY" | tail -n 1)"
first="$(grep -m 1 '^tick-' <<<"$API_BODY")"
[ "$n" -gt "$lines_down2" ] || fail "live-1's stdout did not grow after the restart ($n lines)"
assert_eq "live-1 stdout has no gap (lines vs numbering)" "$((${last#tick-} - ${first#tick-} + 1))" "$n"
pass "live-1's stdout flowed across the restart: $first .. $last, $n lines, no gap"

echo "== shim killed with SIGKILL"
api_expect 201 POST /api/v1/tasks '{"id":"shimkill","name":"shimkill","command":["/bin/sleep","600"]}'
wait_state shimkill RUNNING 30
shim="$(json_get "$(task_field shimkill shim)" pid)"
cg="$(task_field shimkill cgroup)"
[ -n "$shim" ] && [ -d "$cg" ] || fail "shimkill: no shim pid or cgroup"
kill -KILL "$shim"
wait_state shimkill FAILED 30
assert_eq "shimkill reason" "$(task_field shimkill reason)" SHIM_LOST
pass "shimkill: $(task_field shimkill message)"
for _ in $(seq 50); do [ -d "$cg" ] || break; sleep 0.1; done
[ ! -d "$cg" ] || fail "shimkill: cgroup $cg not removed"
pass "shimkill's cgroup removed"

echo "== a second agent on the same state directory"
set +e
out="$(timeout 20 "$AGENT_BIN" --listen 127.0.0.1:5061 --state-dir "$AGENT_STATE" --calibrate=false 2>&1)"
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "second agent: exit status $rc, want a refusal: $out"
grep -q "another silo-agent (pid $AGENT_PID) is running on the state directory $AGENT_STATE" <<<"$out" ||
    fail "second agent's message does not name the first (pid $AGENT_PID): $out"
pass "second agent exited $rc: $(grep -o 'Refusing.*' <<<"$out")"
assert_eq "first agent still healthy" "$("$VM_HTTP" -s -o /dev/null -w '%{http_code}' "$AGENT_URL/health")" 200

echo "== a task whose cgroup vanished while the agent was down"
cg="$(task_field live-15 cgroup)"
shim="$(json_get "$(task_field live-15 shim)" pid)"
agent_kill9
# Out of its group (and so out of its limits), then the group removed.
for p in $(cat "$cg/cgroup.procs"); do echo "$p" >/sys/fs/cgroup/cgroup.procs; done
rmdir "$cg"
agent_start "${COMMON[@]}"
task_fields live-15 state reason
assert_eq "live-15 state" "${JSON_FIELDS[0]}" FAILED
assert_eq "live-15 reason" "${JSON_FIELDS[1]}" CGROUP_LOST
msg="$(task_field live-15 message)"
grep -q "$cg no longer exists" <<<"$msg" || fail "live-15's message does not name $cg: $msg"
pass "live-15: $msg"
[ -e "$AGENT_STATE/sandboxes/.bad-ghost3/stdout" ] || fail "ghost3's kept sandbox removed by a later restart"
rm -rf "$AGENT_STATE/sandboxes/.bad-ghost3" "$AGENT_STATE/tasks/ghost3.json.bad"
pass "a later restart keeps ghost3's set-aside sandbox"
for _ in $(seq 50); do gone "${PID[live-15]}" && gone "$shim" && break; sleep 0.1; done
gone "${PID[live-15]}" || fail "live-15's pid ${PID[live-15]} survives outside its cgroup"
gone "$shim" || fail "live-15's shim $shim survives"
pass "live-15's task (pid ${PID[live-15]}) and shim ($shim) killed"
LIVE=$(seq -f 'live-%g' 1 14)

echo "== stop the survivors"
for id in $LIVE; do
    api_expect 202 DELETE "/api/v1/tasks/$id"
done
tasks_wait KILLED 30 $LIVE
pass "14 tasks KILLED"

echo "== kill -9 during 50 concurrent launches, then every id launched again"
# Bulk reads (one task list, one ps, one status queue) keep this affordable under TCG.
BURST=/tmp/recovery-burst
rm -rf "$BURST"
mkdir -p "$BURST"
BIDS="$(seq -f 'burst-%g' 1 50)"
burst_spec() {
    printf '{"id":"%s","name":"burst","init":false,"resources":{"mem":"32Mi","pids":16},"command":["/bin/sleep","3600"]}' "$1"
}
# burst_post ID: launch it; $BURST/ID.code gets the HTTP status (000: no answer).
burst_post() {
    "$VM_HTTP" -s -o /dev/null -w '%{http_code}' --max-time 300 -X POST -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' --data-binary "$(burst_spec "$1")" \
        "$AGENT_URL/api/v1/tasks" >"$BURST/$1.part" 2>/dev/null || true
    mv "$BURST/$1.part" "$BURST/$1.code"
}
# burst_tasks: "id state pid" for every burst task the agent knows, from one GET.
burst_tasks() {
    api_expect 200 GET /api/v1/tasks
    jq -r '.tasks[] | select(.id | startswith("burst-")) | "\(.id) \(.state) \(.pid // "")"' <<<"$API_BODY"
}
# burst_wait_running N SEC: until N burst tasks are RUNNING (fails on a terminal one).
burst_wait_running() {
    local n=0
    for _ in $(seq $(($2 * 2))); do
        BT="$(burst_tasks)"
        grep -qE ' (FINISHED|FAILED|KILLED|LOST) ' <<<"$BT" && fail "burst task ended: $(grep -E ' (FINISHED|FAILED|KILLED|LOST) ' <<<"$BT")"
        n=$(grep -c ' RUNNING ' <<<"$BT" || true)
        [ "$n" -ge "$1" ] && return 0
        sleep 0.5
    done
    fail "only $n of $1 burst tasks RUNNING after $2 s: $(grep -v ' RUNNING ' <<<"$BT" | tr '\n' ';')"
}
t0=$SECONDS
# The killer watches from before the first launch: SIGKILL once 10 answers are in, with the
# other 40 launches queued or in the middle of their handler.
(
    for _ in $(seq 3000); do
        set -- "$BURST"/*.code
        [ -e "$1" ] && [ $# -ge 10 ] && break
        sleep 0.02
    done
    kill -KILL "$AGENT_PID"
) &
killer=$!
curls=()
for id in $BIDS; do
    burst_post "$id" &
    curls+=($!)
done
wait "$killer"
wait "$AGENT_PID" 2>/dev/null || true
AGENT_PID=""
wait "${curls[@]}" 2>/dev/null || true
ANSWERED="" INFLIGHT="" half=0 unanswered_started=0
SHIMS="$(pgrep -af 'silo-shim ' || true)"
for id in $BIDS; do
    code="$(<"$BURST/$id.code")"
    case "$code" in
        201) ANSWERED="$ANSWERED $id" ;;
        000)
            INFLIGHT="$INFLIGHT $id"
            if [ -e "$AGENT_STATE/tasks/$id.json" ]; then
                if grep -q "sandboxes/$id\$" <<<"$SHIMS"; then
                    unanswered_started=$((unanswered_started + 1))
                else
                    half=$((half + 1))
                fi
            fi ;;
        *) fail "burst: $id answered HTTP $code before the kill" ;;
    esac
done
n_answered=$(wc -w <<<"$ANSWERED")
n_inflight=$(wc -w <<<"$INFLIGHT")
pass "kill -9 during the burst ($((SECONDS - t0)) s): $n_answered launches answered 201, $n_inflight in flight" \
     "($half half-made: a checkpoint and no shim; $unanswered_started started but unanswered)"
agent_start "${COMMON[@]}"
BT="$(burst_tasks)"
for id in $ANSWERED; do
    grep -qE "^$id (STARTING|RUNNING) " <<<"$BT" || fail "answered launch $id after the restart: $(grep "^$id " <<<"$BT")"
done
known_inflight=0
for id in $INFLIGHT; do
    line="$(grep "^$id " <<<"$BT" || true)"
    case "$line" in
        "") ;;
        "$id STARTING "*|"$id RUNNING "*) known_inflight=$((known_inflight + 1)) ;;
        *) fail "in-flight launch $id left ${line#* } after the restart: $(task_field "$id" message)" ;;
    esac
done
known=$((n_answered + known_inflight))
burst_wait_running "$known" 60
declare -A BPID
while read -r id state pid; do
    BPID[$id]="$pid"
done <<<"$BT"
pass "after the restart ($((SECONDS - t0)) s): the $n_answered answered launches run; of the $n_inflight in flight," \
     "$known_inflight run and $((n_inflight - known_inflight)) are unknown (404)"
[ "$half" -eq 0 ] || grep -q "launch interrupted before its shim started" "$AGENT_LOG" ||
    fail "$half half-made launches, but no interrupted launch logged"
started_now=0
for id in $BIDS; do
    api POST /api/v1/tasks "$(burst_spec "$id")"
    if [ -n "${BPID[$id]:-}" ]; then
        [ "$API_STATUS" = 200 ] || fail "retry of running $id: HTTP $API_STATUS, want 200: $API_BODY"
    else
        [ "$API_STATUS" = 201 ] || fail "retry of unknown $id: HTTP $API_STATUS, want 201: $API_BODY"
        started_now=$((started_now + 1))
    fi
done
burst_wait_running 50 120
SHIMS="$(pgrep -af 'silo-shim ' || true)"
api_expect 200 GET '/api/v1/status?limit=100000'
STATUS_BODY="$API_BODY"
COUNTS="$(jq -r '[.updates[] | select(.task_id | startswith("burst-"))] | group_by(.task_id)[] |
    "\(.[0].task_id) \([.[] | select(.state == "RUNNING")] | length) \([.[] | select(.state == "FAILED")] | length)"' \
    <<<"$STATUS_BODY")"
while read -r id state pid; do
    [ -z "${BPID[$id]:-}" ] || [ "$pid" = "${BPID[$id]}" ] || fail "$id: pid ${BPID[$id]} before the retry, $pid after"
    assert_eq "$id: shims" "$(grep -c "sandboxes/$id\$" <<<"$SHIMS")" 1 >/dev/null
    assert_eq "$id: processes in its cgroup" "$(tr '\n' ' ' <"$CGT/$id/cgroup.procs")" "$pid " >/dev/null
    assert_eq "$id: RUNNING and FAILED updates" "$(grep "^$id " <<<"$COUNTS")" "$id 1 0" >/dev/null
done <<<"$BT"
assert_eq "burst tasks RUNNING" "$(wc -l <<<"$BT")" 50
assert_eq "burst task cgroups" "$(ls -d "$CGT"/burst-*/ | wc -l)" 50
assert_eq "burst shims" "$(grep -c 'sandboxes/burst-' <<<"$SHIMS")" 50
api_expect 200 GET /metrics
assert_eq "launches started since the restart (silo_agent_launches_total)" \
    "$(awk '$1 == "silo_agent_launches_total" { print $2 }' <<<"$API_BODY")" "$started_now"
pass "every id launched again ($((SECONDS - t0)) s): $started_now started now (201), $((50 - started_now))" \
     "answered with the running task (200); each runs once: 1 shim, 1 process in its cgroup, 1 RUNNING" \
     "update, 0 FAILED"
for id in $BIDS; do
    api_expect 202 DELETE "/api/v1/tasks/$id"
done
for _ in $(seq 120); do
    BT="$(burst_tasks)"
    [ "$(grep -c ' KILLED ' <<<"$BT")" = 50 ] && break
    sleep 0.5
done
assert_eq "burst tasks KILLED" "$(grep -c ' KILLED ' <<<"$BT")" 50

echo "== crash mid-launch"
crash_build="$(jq -r '.[] | select(.name == "test_crash_points") | .value' \
    "$SILO_BUILD_DIR/meson-info/intro-buildoptions.json")"
if [ "$crash_build" = true ]; then
    for point in launch-after-cgroup launch-before-shim launch-after-shim-request launch-after-shim-spawn \
                 launch-before-answer; do
        id="crash-$point"
        spec="{\"id\":\"$id\",\"name\":\"crash\",\"init\":false,\"command\":[\"/bin/sleep\",\"3600\"]}"
        agent_stop
        SILO_TEST_CRASH_AT="$point" agent_start "${COMMON[@]}"
        api POST /api/v1/tasks "$spec" || true
        assert_eq "$point: answer to the launch" "$API_STATUS" 000 >/dev/null
        wait "$AGENT_PID" 2>/dev/null || true
        kill -0 "$AGENT_PID" 2>/dev/null && fail "$point: the agent did not crash"
        AGENT_PID=""
        [ -d "$CGT/$id" ] || fail "$point: no half-made cgroup at the crash"
        pass "$point: agent died in the launch before answering, leaving $CGT/$id"
        if [ "$point" = launch-after-shim-spawn ]; then
            # The shim outlives the agent and starts the task before the restart sees it.
            for _ in $(seq 100); do
                [ -n "$(cat "$CGT/$id/cgroup.procs" 2>/dev/null)" ] && break
                sleep 0.1
            done
            [ -n "$(cat "$CGT/$id/cgroup.procs")" ] || fail "$point: the orphaned shim did not start the task"
            pre_pid="$(cat "$CGT/$id/cgroup.procs")"
            pass "$point: the shim spawned before the crash started the task (pid $pre_pid)"
        fi
        agent_start "${COMMON[@]}"
        api_expect 200 GET '/api/v1/status?limit=100000'
        STATUS_BODY="$API_BODY"
        if [ "$point" = launch-before-answer ] || [ "$point" = launch-after-shim-spawn ]; then
            # Started, never answered: the task runs, and a retry gets it. After
            # launch-after-shim-spawn the checkpoint has no shim pid, but its shim lives.
            wait_state "$id" RUNNING 30
            pid="$(task_field "$id" pid)"
            [ "$point" = launch-after-shim-spawn ] &&
                assert_eq "$point: the task adopted is the one started before the crash" "$pid" "$pre_pid"
            api_expect 200 POST /api/v1/tasks "$spec"
            assert_eq "$point: retry answers the running task (pid)" "$(json_get "$API_BODY" pid)" "$pid"
        else
            # Never answered, never started: forgotten, nothing leaked, nothing reported.
            api_expect 404 GET "/api/v1/tasks/$id"
            [ ! -d "$CGT/$id" ] || fail "$point: cgroup leaked"
            [ ! -e "$AGENT_STATE/sandboxes/$id" ] || fail "$point: sandbox leaked"
            [ ! -e "$AGENT_STATE/tasks/$id.json" ] || fail "$point: checkpoint kept"
            assert_eq "$point: status updates of the interrupted launch" \
                "$(jq --arg t "$id" '[.updates[] | select(.task_id == $t)] | length' <<<"$STATUS_BODY")" 0
            grep -q "task $id: launch interrupted before its shim started" "$AGENT_LOG" ||
                fail "$point: the interrupted launch is not logged"
            pass "$point: $(grep "task $id: launch interrupted" "$AGENT_LOG" | tail -n 1)"
            api_expect 201 POST /api/v1/tasks "$spec"
            wait_state "$id" RUNNING 30
            api_expect 200 POST /api/v1/tasks "$spec"
        fi
        api_expect 409 POST /api/v1/tasks "{\"id\":\"$id\",\"name\":\"other\",\"command\":[\"/bin/true\"]}"
        status_load
        one_start "$id"
        pass "$point: the retry runs the task exactly once (pid $(task_field "$id" pid)), another spec gets 409"
        api_expect 202 DELETE "/api/v1/tasks/$id"
        wait_state "$id" KILLED 30
    done
    # The shim spawned before the crash starts the task, then dies before its shim.json (here:
    # killed, its shim.json removed): no shim pid anywhere, but a process in the task's group.
    id=crash-shim-lost
    spec="{\"id\":\"$id\",\"name\":\"crash\",\"init\":false,\"command\":[\"/bin/sleep\",\"3600\"]}"
    agent_stop
    SILO_TEST_CRASH_AT=launch-after-shim-spawn agent_start "${COMMON[@]}"
    api POST /api/v1/tasks "$spec" || true
    assert_eq "$id: answer to the launch" "$API_STATUS" 000 >/dev/null
    wait "$AGENT_PID" 2>/dev/null || true
    AGENT_PID=""
    for _ in $(seq 100); do
        [ -n "$(cat "$CGT/$id/cgroup.procs" 2>/dev/null)" ] && break
        sleep 0.1
    done
    pre_pid="$(cat "$CGT/$id/cgroup.procs")"
    [ -n "$pre_pid" ] || fail "$id: the orphaned shim did not start the task"
    shim="$(pgrep -f "silo-shim $AGENT_STATE/sandboxes/$id\$")"
    kill -KILL "$shim"
    for _ in $(seq 50); do gone "$shim" && break; sleep 0.1; done
    rm -f "$AGENT_STATE/sandboxes/$id/shim.json"
    agent_start "${COMMON[@]}"
    wait_state "$id" FAILED 30
    assert_eq "$id: reason" "$(task_field "$id" reason)" SHIM_LOST
    for _ in $(seq 50); do gone "$pre_pid" && break; sleep 0.1; done
    gone "$pre_pid" || fail "$id: the task's process $pre_pid survived"
    api_expect 200 POST /api/v1/tasks "$spec"
    assert_eq "$id: a retry gets the ended task (state)" "$(json_get "$API_BODY" state)" FAILED
    [ -z "$(cat "$CGT/$id/cgroup.procs" 2>/dev/null)" ] || fail "$id: the retry started it again"
    status_load
    assert_eq "$id: FAILED updates" "$(updates_count "$id" FAILED)" 1 >/dev/null
    grep -q "task $id: launch interrupted before its shim started" "$AGENT_LOG" &&
        fail "$id: a task that ran was logged as never run"
    pass "$id: a task started by a shim that died before its shim.json ends SHIM_LOST (pid $pre_pid killed), not run twice"
    assert_eq "shims of the crashed launches" "$(pgrep -fc 'silo-shim .*/sandboxes/crash-' || true)" 0
else
    skip_part "crash mid-launch: $SILO_BUILD_DIR is not configured with -Dtest_crash_points=true"
fi

echo "== garbage collection"
known="$(ls "$AGENT_STATE/tasks" | wc -l)"
agent_stop
agent_start "${COMMON[@]}" --gc-max-tasks 4
api_expect 200 GET /api/v1/tasks
assert_eq "tasks kept by --gc-max-tasks 4" "$(jq '.tasks | length' <<<"$API_BODY")" 4
assert_eq "checkpoints kept ($(ls "$AGENT_STATE/tasks" | paste -sd' '))" "$(ls "$AGENT_STATE/tasks" | wc -l)" 4
kept="$(jq -r '.tasks[].id' <<<"$API_BODY" | sort)"
for d in $(ls "$AGENT_STATE/sandboxes"); do
    grep -qx "$d" <<<"$kept" || fail "sandbox $d kept for a forgotten task (kept: $(echo $kept))"
done
grep -q "Garbage-collected $((known - 4)) ended tasks" "$AGENT_LOG" || fail "GC of $((known - 4)) tasks not logged"
pass "$known ended tasks -> 4 (the newest)"
api_expect 201 POST /api/v1/tasks '{"id":"fresh","name":"fresh","command":["/bin/true"]}'
wait_state fresh FINISHED 30
agent_stop
sleep 2
agent_start "${COMMON[@]}" --gc-max-age-s 1 --gc-max-tasks 0
api_expect 200 GET /api/v1/tasks
assert_eq "tasks kept by --gc-max-age-s 1" "$(jq '.tasks | length' <<<"$API_BODY")" 0
assert_eq "sandboxes kept" "$(ls "$AGENT_STATE/sandboxes" | wc -l)" 0
api_expect 201 POST /api/v1/tasks '{"id":"aging","name":"aging","command":["/bin/true"]}'
wait_state aging FINISHED 30
for _ in $(seq 150); do
    api GET /api/v1/tasks/aging
    [ "$API_STATUS" = 404 ] && break
    sleep 0.1
done
assert_eq "an ended task is forgotten by the periodic housekeeping" "$API_STATUS" 404
[ ! -e "$AGENT_STATE/sandboxes/aging" ] || fail "aging's sandbox left"
pass "--gc-max-age-s 1 forgets ended tasks at startup and every few seconds"

agent_stop
assert_eq "no task cgroup left" "$(ls -d "$CGT"/*/ 2>/dev/null | wc -l)" 0
assert_done
