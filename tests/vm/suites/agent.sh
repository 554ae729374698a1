#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "agent": silo-agent's lifecycle through its REST API on a real cgroup v2 kernel.
#
#   auth        /health is public; no token or a wrong one -> 401
#   lifecycle   launch -> STARTING/RUNNING -> FINISHED, timestamps ordered, stdout through the API
#   exits       exit code 3 -> FAILED/EXIT_NONZERO; SIGKILL -> FAILED/SIGNALED 9 (also init: false);
#               the task starts with no signal blocked, ignored or caught
#   oom         mem 32Mi, 200 MiB allocation -> FAILED/OOM_KILLED
#   kill        SIGTERM trapped -> SIGKILL (cgroup.kill) after the 2 s grace -> KILLED; an
#               untrapped task ends at once
#   logs        rotation keeps log-files x log-max-bytes; offsets; follow long-poll; stderr
#   isolation   limits read back from the task's cgroup
#   idempotent  same id + same spec -> 200, other spec -> 409
#   invalid     >= 20 bad launches -> 4xx naming the field, and nothing created
#   epoch       a launch or kill from a master epoch lower than one seen -> 409 stale_epoch,
#               nothing launched or killed; the highest epoch survives a restart; with a
#               cluster id on file, a call naming another cluster -> 409 other_cluster
#   shim server each shim is forked by the agent's one `silo-shim --server` and named after its
#               sandbox; a killed server is replaced and its shims run on; a stopped one fails
#               a launch by name after 2 s and is replaced; it exits with the agent; a
#               restarted agent kills the previous agent's server
#   restart     SIGTERM stops the agent, not its tasks; a restarted agent re-adopts them
set -euo pipefail

here="$(dirname "$0")"
. "$here/lib.sh"
. "$here/agent-lib.sh"
vm_require_guest

# The guest comes up with lo down; the agent listens on 127.0.0.1.
ip link set lo up

cleanup() {
    local rc=$?
    set +e
    agent_teardown "$rc" 60
}
trap cleanup EXIT

agent_start --kill-grace-s 2 --log-max-bytes 4096 --log-files 3 --disk nullb0 --calibrate=false

echo "== auth"
code="$("$VM_HTTP" -s -o /dev/null -w '%{http_code}' "$AGENT_URL/health")"
assert_eq "GET /health without token" "$code" 200
code="$("$VM_HTTP" -s -o /dev/null -w '%{http_code}' "$AGENT_URL/api/v1/tasks")"
assert_eq "GET /api/v1/tasks without token" "$code" 401
code="$("$VM_HTTP" -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer wrong-token-0123456789' \
    --data '{"name":"x","command":["/bin/true"]}' "$AGENT_URL/api/v1/tasks")"
assert_eq "POST /api/v1/tasks with a wrong token" "$code" 401
assert_eq "no task created by the unauthenticated launch" "$(ls "$AGENT_STATE/tasks" | wc -l)" 0
assert_eq "token file mode" "$(stat -c %a "$AGENT_STATE/token")" 600

# Tasks that must outlive some checks wait for a file the suite creates once those are done,
# not for a fixed sleep: "sleep 20" and "sleep 15" cost the suite their full length under any
# load, and a restart slower than 15 s once made "re-adopted RUNNING" a race. Not /tmp: a task
# without a rootfs has a private /tmp.
GO_DIR=/var/lib/silo/agent-go
rm -rf "$GO_DIR"
mkdir -p "$GO_DIR"
go_wait() { echo "while [ ! -e $GO_DIR/$1 ]; do sleep 0.2; done"; }

echo "== lifecycle"
api_expect 201 POST /api/v1/tasks '{"id":"life","name":"life","command":["/bin/sh","-c","echo hello-from-task; '"$(go_wait life)"'"]}'
assert_eq "launch answers STARTING or RUNNING" \
    "$(json_get "$API_BODY" state | grep -Ec '^(STARTING|RUNNING)$')" 1
wait_state life RUNNING 20
pid="$(task_field life pid)"
[ -n "$pid" ] || fail "RUNNING task has no pid"
cg="$(task_field life cgroup)"
grep -qx "$pid" "$cg/cgroup.procs" || fail "task pid $pid not in $cg/cgroup.procs"
pass "task pid $pid runs in $cg"
# The shim is outside the task's cgroup, in <root>/shims.
shim="$(json_get "$(task_field life shim)" pid)"
grep -qx "$shim" /sys/fs/cgroup/silo/shims/cgroup.procs || fail "shim $shim not in silo/shims: $(cat /proc/$shim/cgroup) $(cat /proc/$shim/cmdline | tr "\0" " ") procs: $(cat /sys/fs/cgroup/silo/shims/cgroup.procs)"
pass "shim $shim lives in /sys/fs/cgroup/silo/shims"
# Forked by the agent's one shim server (no exec per task), it names itself after its sandbox:
# how operators and a restarted agent tell which task it serves.
SHIM_BIN="$(dirname "$AGENT_BIN")/silo-shim"
server="$(awk '/^PPid:/ {print $2}' "/proc/$shim/status")"
assert_eq "shim $shim's command line" "$(tr '\0' ' ' <"/proc/$shim/cmdline")" "$SHIM_BIN $AGENT_STATE/sandboxes/life "
assert_eq "its parent $server" "$(tr '\0' ' ' <"/proc/$server/cmdline")" "$SHIM_BIN --server "
grep -qx "$server" /sys/fs/cgroup/silo/shims/cgroup.procs || fail "shim server $server is not in silo/shims"
assert_eq "the shim server's parent" "$(awk '/^PPid:/ {print $2}' "/proc/$server/status")" "$AGENT_PID"
touch "$GO_DIR/life"
wait_state life FINISHED 60
task_fields life exit_code timestamps.created_ms timestamps.started_ms timestamps.finished_ms
assert_eq "exit code" "${JSON_FIELDS[0]}" 0
created="${JSON_FIELDS[1]}" started="${JSON_FIELDS[2]}" finished="${JSON_FIELDS[3]}"
[ "$created" -le "$started" ] && [ "$started" -lt "$finished" ] ||
    fail "timestamps out of order: $created $started $finished"
pass "created <= started < finished ($((finished - started)) ms running)"
api_expect 200 GET "/api/v1/tasks/life/logs?stream=stdout"
assert_eq "stdout through the API" "$API_BODY" "hello-from-task"
[ ! -d "$cg" ] || fail "cgroup $cg left behind after the task ended"
pass "cgroup removed after the end"
state_json="$(cat "$AGENT_STATE/tasks/life.json")"
assert_eq "checkpoint state" "$(json_get "$state_json" state)" FINISHED

echo "== exits"
api_expect 201 POST /api/v1/tasks '{"id":"exit3","name":"exit3","command":["/bin/sh","-c","exit 3"]}'
wait_state exit3 FAILED 20
task_fields exit3 reason exit_code
assert_eq "exit 3: reason" "${JSON_FIELDS[0]}" EXIT_NONZERO
assert_eq "exit 3: exit_code" "${JSON_FIELDS[1]}" 3
# A task that ends at once: its shim's report (pid, start time) may reach the agent after the
# shim's exit does; an ended task still answers with both (agent/task-run.c: on_report()).
for i in 1 2 3 4 5 6 7 8; do
    api_expect 201 POST /api/v1/tasks '{"id":"short-'$i'","name":"short","init":false,"command":["/bin/true"]}'
done
for i in 1 2 3 4 5 6 7 8; do
    wait_state "short-$i" FINISHED 20
    task_fields "short-$i" pid timestamps.started_ms
    [[ "${JSON_FIELDS[0]}" =~ ^[1-9][0-9]*$ ]] && [[ "${JSON_FIELDS[1]}" =~ ^[1-9][0-9]*$ ]] ||
        fail "short-$i FINISHED without its pid or start time: pid '${JSON_FIELDS[0]}' started_ms '${JSON_FIELDS[1]}'"
done
pass "8 tasks that end at once (/bin/true): each FINISHED with its pid and start time"
# Every task has its own pid namespace. With the init, the command is its child and can kill
# itself; without it, the command is the namespace's PID 1, which the kernel shields from
# signals sent inside the namespace, so the SIGKILL comes from the host, by the pid the agent
# reports.
api_expect 201 POST /api/v1/tasks '{"id":"sig-true","name":"sig","init":true,"command":["/bin/sh","-c","kill -KILL $$"]}'
api_expect 201 POST /api/v1/tasks '{"id":"sig-false","name":"sig","init":false,"command":["/bin/sleep","60"]}'
wait_state sig-false RUNNING 20
# The task starts with no signal blocked, ignored or caught, whatever the agent and its shim
# had: the agent ignores SIGPIPE, and bash starts it (in the background) with SIGINT and
# SIGQUIT ignored, which execve keeps (the shim resets what it read from its SigIgn).
sig_fields() { grep -E '^Sig(Blk|Ign|Cgt):' "/proc/$1/status" | tr -s '\t\n' '  '; }
agent_ign="$(awk '/^SigIgn:/ {print $2}' "/proc/$AGENT_PID/status")"
[ "$agent_ign" != 0000000000000000 ] || fail "the agent ignores no signal: this check proves nothing"
assert_eq "sleep's signal state (init false)" "$(sig_fields "$(task_field sig-false pid)")" \
    "SigBlk: 0000000000000000 SigIgn: 0000000000000000 SigCgt: 0000000000000000 "
pass "the task's signal mask, ignored and caught sets are empty (the agent's SigIgn: $agent_ign)"
# With the init, the command is its child; the init itself blocks every signal (sigwaitinfo).
api_expect 201 POST /api/v1/tasks '{"id":"sig-init","name":"sig","init":true,"command":["/bin/sleep","60"]}'
wait_state sig-init RUNNING 20
init_pid="$(task_field sig-init pid)"
cmd_pid=""
for _ in $(seq 50); do
    cmd_pid="$(cat "/proc/$init_pid/task/$init_pid/children" 2>/dev/null | awk '{print $1}')"
    [ -n "$cmd_pid" ] && [ "$(cat "/proc/$cmd_pid/comm" 2>/dev/null)" = sleep ] && break
    sleep 0.1
done
assert_eq "sleep's signal state (init true)" "$(sig_fields "$cmd_pid")" \
    "SigBlk: 0000000000000000 SigIgn: 0000000000000000 SigCgt: 0000000000000000 "
api_expect 202 DELETE /api/v1/tasks/sig-init
wait_state sig-init KILLED 20
kill -KILL "$(task_field sig-false pid)"
for init in true false; do
    wait_state "sig-$init" FAILED 20
    task_fields "sig-$init" reason signal
    assert_eq "SIGKILL (init $init): reason" "${JSON_FIELDS[0]}" SIGNALED
    assert_eq "SIGKILL (init $init): signal" "${JSON_FIELDS[1]}" 9
done

echo "== oom"
api_expect 201 POST /api/v1/tasks '{"id":"oom","name":"oom","resources":{"mem":"32Mi","swap":0},
    "command":["/bin/dd","if=/dev/zero","of=/dev/null","bs=200M","count=1"]}'
wait_state oom FAILED 60
assert_eq "OOM: reason" "$(task_field oom reason)" OOM_KILLED
pass "$(task_field oom message)"
api_expect 200 GET /metrics
grep -q '^silo_agent_oom_kills_total [1-9]' <<<"$API_BODY" || fail "metrics lack the OOM kill: $API_BODY"
pass "the OOM kill was seen through the cgroup events fd ($(grep '^silo_agent_oom_kills_total' <<<"$API_BODY"))"

echo "== kill with grace"
api_expect 201 POST /api/v1/tasks '{"id":"trap","name":"trap","command":["/bin/sh","-c",
    "trap \"echo got-sigterm\" TERM; echo ready; while :; do sleep 0.1; done"]}'
wait_state trap RUNNING 20
for _ in $(seq 50); do
    api GET "/api/v1/tasks/trap/logs"
    [ "$API_BODY" = ready ] && break
    sleep 0.1
done
t0="$(date +%s%N)"
api_expect 202 DELETE /api/v1/tasks/trap
assert_eq "DELETE marks kill_requested" "$(json_get "$API_BODY" kill_requested)" true
wait_state trap KILLED 30
t1="$(date +%s%N)"
elapsed_ms=$(((t1 - t0) / 1000000))
[ "$elapsed_ms" -ge 1900 ] || fail "trapped SIGTERM: killed after ${elapsed_ms} ms, before the 2 s grace"
[ "$elapsed_ms" -le 8000 ] || fail "trapped SIGTERM: killed after ${elapsed_ms} ms, long after the 2 s grace"
pass "task trapping SIGTERM killed after $elapsed_ms ms (grace 2000 ms)"
api_expect 200 GET "/api/v1/tasks/trap/logs"
grep -q got-sigterm <<<"$API_BODY" || fail "the task never saw SIGTERM: $API_BODY"
pass "the task received SIGTERM first"
assert_eq "killed task: reason" "$(task_field trap reason)" KILLED_BY_REQUEST
api_expect 200 DELETE /api/v1/tasks/trap
pass "DELETE of an ended task is idempotent (200)"

api_expect 201 POST /api/v1/tasks '{"id":"plain","name":"plain","kill_grace_s":30,"command":["/bin/sleep","300"]}'
wait_state plain RUNNING 20
t0="$(date +%s%N)"
api_expect 202 DELETE /api/v1/tasks/plain
wait_state plain KILLED 20
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$elapsed_ms" -lt 10000 ] || fail "untrapped SIGTERM took $elapsed_ms ms"
pass "a task not trapping SIGTERM ended after $elapsed_ms ms (grace 30 s unused)"
assert_eq "SIGTERM'd task: signal" "$(task_field plain signal)" 15

echo "== logs"
# 20000 bytes of stdout (1000 lines of 20) through 4096-byte files, 3 kept: the last
# 4 x 4096 = 16384 rotated, 12288 - 4096 + 3616 = 11808 bytes kept, never more than 3 x 4096.
api_expect 201 POST /api/v1/tasks '{"id":"logs","name":"logs","command":["/bin/sh","-c",
    "i=0; while [ $i -lt 1000 ]; do printf \"%019d\\n\" $i; i=$((i+1)); done; echo to-stderr >&2"]}'
wait_state logs FINISHED 60
sb="$(task_field logs sandbox)"
assert_eq "size of stdout (current)" "$(stat -c %s "$sb/stdout")" $((20000 - 4 * 4096))
for f in stdout.1 stdout.2; do
    assert_eq "size of $f" "$(stat -c %s "$sb/$f")" 4096
done
[ ! -e "$sb/stdout.3" ] || fail "stdout.3 exists: more than --log-files 3 kept"
total=$(($(stat -c %s "$sb/stdout") + $(stat -c %s "$sb/stdout.1") + $(stat -c %s "$sb/stdout.2")))
[ "$total" -le $((3 * 4096)) ] || fail "$total bytes kept, more than 3 x 4096"
pass "$total bytes kept of 20000 written (limit 3 x 4096)"
api_expect 200 GET "/api/v1/tasks/logs/logs?stream=stdout&offset=0"
assert_eq "X-Silo-Log-Start" "$(api_header X-Silo-Log-Start)" $((20000 - total))
assert_eq "X-Silo-Log-End" "$(api_header X-Silo-Log-End)" 20000
assert_eq "bytes served" "$(printf '%s\n' "$API_BODY" | wc -c)" "$total"
assert_eq "last line" "$(printf '%s\n' "$API_BODY" | tail -n1)" "0000000000000000999"
api_expect 200 GET "/api/v1/tasks/logs/logs?stream=stdout&offset=19960&length=19"
assert_eq "line at offset 19960" "$API_BODY" "0000000000000000998"
api_expect 200 GET "/api/v1/tasks/logs/logs?stream=stderr"
assert_eq "stderr" "$API_BODY" "to-stderr"
api_expect 400 GET "/api/v1/tasks/logs/logs?stream=stdin"
grep -q stream <<<"$API_BODY" || fail "bad stream error does not name 'stream': $API_BODY"
api_expect 400 GET "/api/v1/tasks/logs/logs?offset=-1"
grep -q offset <<<"$API_BODY" || fail "bad offset error does not name 'offset': $API_BODY"
# follow=1 waits for output that is not there yet.
api_expect 201 POST /api/v1/tasks '{"id":"follow","name":"follow","command":["/bin/sh","-c","sleep 2; echo late-line; sleep 1"]}'
t0="$(date +%s%N)"
api_expect 200 GET "/api/v1/tasks/follow/logs?offset=0&follow=1"
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq "follow=1 returns the line once written" "$API_BODY" "late-line"
[ "$elapsed_ms" -ge 1000 ] || fail "follow=1 answered after $elapsed_ms ms, before the task wrote"
pass "follow=1 long-poll answered after $elapsed_ms ms"
api_expect 200 GET "/api/v1/tasks/follow/logs?offset=$(api_header X-Silo-Log-Next)&follow=1"
assert_eq "follow=1 at the end of an ended task returns nothing" "$API_BODY" ""
assert_eq "... and says the task ended" "$(api_header X-Silo-Task-State)" FINISHED

echo "== isolation read-back"
api_expect 201 POST /api/v1/tasks '{"id":"iso","name":"iso","command":["/bin/sleep","600"],
    "resources":{"cpus":0.5,"mem":"64Mi","pids":50,"io":[{"disk":"nullb0","wbps":"2Mi"}]}}'
wait_state iso RUNNING 20
api_expect 200 GET /api/v1/tasks/iso/isolation
json_fields "$API_BODY" limits.cpu_quota_usec limits.memory_max limits.pids_max 'limits.io[0].wbps' \
    limits.memory_oom_group usage.pids_current
assert_eq "cpu quota" "${JSON_FIELDS[0]}" 50000
assert_eq "memory.max" "${JSON_FIELDS[1]}" 67108864
assert_eq "pids.max" "${JSON_FIELDS[2]}" 50
assert_eq "io.max wbps" "${JSON_FIELDS[3]}" 2097152
assert_eq "oom group" "${JSON_FIELDS[4]}" true
assert_eq "pids.current" "${JSON_FIELDS[5]}" 2
assert_eq "memory.max in cgroupfs" "$(cat /sys/fs/cgroup/silo/tasks/iso/memory.max)" 67108864
api_expect 200 GET /api/v1/devices
json_fields "$API_BODY" 'disks[0].name' 'disks[0].device'
assert_eq "devices: nullb0 offered" "${JSON_FIELDS[0]}" nullb0
assert_eq "devices: number" "${JSON_FIELDS[1]}" "$(vm_dev_majmin /dev/nullb0)"

echo "== idempotent launch"
spec='{"id":"idem","name":"idem","command":["/bin/sleep","600"]}'
api_expect 201 POST /api/v1/tasks "$spec"
api_expect 200 POST /api/v1/tasks "$spec"
assert_eq "same spec again returns the task" "$(json_get "$API_BODY" id)" idem
api_expect 409 POST /api/v1/tasks '{"id":"idem","name":"idem","command":["/bin/sleep","601"]}'
grep -q '"id' <<<"$API_BODY" || true
pass "other spec, same id -> 409: $(json_get "$API_BODY" error.message)"
n="$(ls -d /sys/fs/cgroup/silo/tasks/idem* | wc -l)"
assert_eq "one cgroup for idem" "$n" 1
api_expect 201 POST /api/v1/tasks '{"name":"anon","command":["/bin/true"]}'
anon="$(json_get "$API_BODY" id)"
[[ "$anon" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] ||
    fail "generated id '$anon' is not a uuid"
pass "id generated: $anon"

echo "== invalid launches"
snapshot() {
    echo "tasks=$(ls "$AGENT_STATE/tasks" | sort | tr '\n' ' ')"
    echo "sandboxes=$(ls "$AGENT_STATE/sandboxes" | sort | tr '\n' ' ')"
    echo "cgroups=$(ls -d /sys/fs/cgroup/silo/tasks/*/ 2>/dev/null | sort | tr '\n' ' ')"
    echo "shims=$(sort /sys/fs/cgroup/silo/shims/cgroup.procs | tr '\n' ' ')"
}
before="$(snapshot)"
mkdir -p /tmp/vol-src
n_bad=0
bad() {
    local field="$1" body="$2" msg
    api POST /api/v1/tasks "$body"
    case "$API_STATUS" in
        4??) ;;
        *) fail "bad launch ($field) got HTTP $API_STATUS: $body -> $API_BODY" ;;
    esac
    msg="$(json_get "$API_BODY" error.message 2>/dev/null || echo "$API_BODY")"
    grep -qF -- "$field" <<<"$msg" || fail "error for a bad $field does not name it: $msg"
    n_bad=$((n_bad + 1))
    pass "$API_STATUS $msg"
}
B='"name":"bad","command":["/bin/true"]'
bad "JSON" '{"name": "bad", "command": [}'
bad "command" '{"name":"bad"}'
bad "command" '{"name":"bad","command":"/bin/true"}'
bad "command" '{"name":"bad","command":[]}'
bad "command" '{"name":"bad","command":[""]}'
bad "command" '{"name":"bad","command":[1,2]}'
bad "cpu" "{$B,\"cpu\":2}"
bad "resources.mem" "{$B,\"resources\":{\"mem\":\"12Q\"}}"
bad "resources.mem" "{$B,\"resources\":{\"mem\":-1}}"
bad "resources.mem" "{$B,\"resources\":{\"mem\":\"99999999999Pi\"}}"
bad "resources.cpus" "{$B,\"resources\":{\"cpus\":\"lots\"}}"
bad "resources.pids" "{$B,\"resources\":{\"pids\":true}}"
bad "resources.io[0].wbps" "{$B,\"resources\":{\"io\":[{\"disk\":\"nullb0\",\"wbps\":\"12Q\"}]}}"
bad "resources.io[0]" "{$B,\"resources\":{\"io\":[{\"disk\":\"nosuchdisk\",\"wbps\":1000}]}}"
bad "resources.io[0]" "{$B,\"resources\":{\"io\":[{\"device\":\"/dev/nosuchdev\",\"wbps\":1000}]}}"
bad "resources.io[0].disk" "{$B,\"resources\":{\"io\":[{\"disk\":\"any\",\"wbps\":1000}]}}"
bad "container.namespaces" "{$B,\"container\":{\"namespaces\":[\"pid\",\"bogus\"]}}"
bad "container.rootfs" "{$B,\"container\":{\"rootfs\":\"/nonexistent/rootfs\"}}"
bad "container.volumes[0].source" "{$B,\"container\":{\"namespaces\":[\"mount\"],\"volumes\":[{\"source\":\"/nonexistent\",\"target\":\"/data\"}]}}"
bad "container.volumes[0].target" "{$B,\"container\":{\"rootfs\":\"/\",\"volumes\":[{\"source\":\"/tmp/vol-src\",\"target\":\"/../etc\"}]}}"
bad "container.volumes[0].target" "{$B,\"container\":{\"namespaces\":[\"mount\"],\"volumes\":[{\"source\":\"/tmp/vol-src\",\"target\":\"relative\"}]}}"
bad "container.devices[0]" "{$B,\"container\":{\"devices\":[\"/dev/nosuchdevice\"]}}"
bad "container.devices[0]" "{$B,\"container\":{\"devices\":[\"/etc/passwd\"]}}"
bad "user" "{$B,\"user\":\"no-such-user\"}"
bad "rlimits" "{$B,\"rlimits\":{\"bogus\":1}}"
bad "capabilities" "{$B,\"capabilities\":[\"CAP_BOGUS\"]}"
bad "kill_grace_s" "{$B,\"kill_grace_s\":\"soon\"}"
bad "env" "{$B,\"env\":[\"A=B\"]}"
bad "id" "{$B,\"id\":\"../escape\"}"
bad "init" "{$B,\"init\":\"yes\"}"
bad "body" ''
[ "$n_bad" -ge 20 ] || fail "only $n_bad invalid launches checked"
after="$(snapshot)"
assert_eq "nothing created by $n_bad invalid launches" "$after" "$before"

echo "== epoch fencing: a deposed master's launch and kill are refused"
EPOCH_H="Silo-Master-Epoch"
api_expect 201 POST /api/v1/tasks '{"id":"ep5","name":"ep5","command":["/bin/true"]}' -H "$EPOCH_H: 5"
assert_eq "highest epoch saved" "$(cat "$AGENT_STATE/master-epoch")" 5
api_expect 409 POST /api/v1/tasks '{"id":"ep3","name":"ep3","command":["/bin/true"]}' -H "$EPOCH_H: 3"
json_fields "$API_BODY" error.code error.message
assert_eq "stale launch: code" "${JSON_FIELDS[0]}" stale_epoch
assert_eq "stale launch: message" "${JSON_FIELDS[1]}" \
    "master epoch 3 is older than epoch 5 this agent has seen: the sender was deposed"
api_expect 404 GET /api/v1/tasks/ep3
assert_eq "no cgroup for the refused launch" "$(ls -d /sys/fs/cgroup/silo/tasks/ep3* 2>/dev/null | wc -l)" 0
api_expect 409 DELETE /api/v1/tasks/idem "" -H "$EPOCH_H: 4"
assert_eq "stale kill: idem still runs" "$(task_field idem state)" RUNNING
api_expect 400 POST /api/v1/tasks '{"id":"epx","name":"epx","command":["/bin/true"]}' -H "$EPOCH_H: 5x"
grep -q "Refusing POST /api/v1/tasks .*master epoch 3 is older than epoch 5" "$AGENT_LOG" ||
    fail "the refusal is not logged with both epochs"
pass "launch and kill with epoch 3 or 4 after 5: 409 stale_epoch, nothing launched or killed"

echo "== the shim server: killed, stopped"
# shim_server_of: the agent's shim server now (the one process in silo/shims named so).
shim_server_of() { pgrep -x -f "$SHIM_BIN --server" -P "$AGENT_PID" || true; }
server="$(shim_server_of)"
[ -n "$server" ] || fail "no shim server under the agent $AGENT_PID"
api_expect 201 POST /api/v1/tasks '{"id":"srv-a","name":"srv-a","command":["/bin/sh","-c","'"$(go_wait srv)"'"]}'
wait_state srv-a RUNNING 20
shim_a="$(json_get "$(task_field srv-a shim)" pid)"
kill -9 "$server"
wait_until 10 "the agent saw its shim server $server die" grep -q "The shim server (pid $server) was killed by signal 9" "$AGENT_LOG"
kill -0 "$shim_a" || fail "srv-a's shim $shim_a died with the shim server"
assert_eq "srv-a after its server died" "$(task_field srv-a state)" RUNNING
api_expect 201 POST /api/v1/tasks '{"id":"srv-b","name":"srv-b","command":["/bin/true"]}'
wait_state srv-b FINISHED 20
server2="$(shim_server_of)"
[ -n "$server2" ] && [ "$server2" != "$server" ] || fail "no new shim server after $server was killed: '$server2'"
pass "shim server $server killed: its shims run on, the next launch started server $server2"
# A server that does not answer fails the launch by name after 2 s (well inside the systemd
# watchdog's 5 s half period: the agent's loop waits for it) and is replaced.
kill -STOP "$server2"
t0=$(date +%s%N)
api POST /api/v1/tasks '{"id":"srv-c","name":"srv-c","command":["/bin/true"]}'
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$API_STATUS" = 500 ] || fail "launch to a stopped shim server: HTTP $API_STATUS, want 500: $API_BODY"
msg="$(json_get "$API_BODY" error.message)"
grep -qF "the shim server (pid $server2) did not answer in 2 s" <<<"$msg" || fail "stopped server: message '$msg'"
[ "$ms" -lt 4000 ] || fail "the launch to a stopped shim server took $ms ms"
api_expect 404 GET /api/v1/tasks/srv-c
wait_until 10 "the stopped shim server $server2 killed and reaped" sh -c "! [ -e /proc/$server2 ]"
pass "stopped shim server: 500 after $ms ms \"$msg\", the server killed and reaped, nothing of srv-c left"
api_expect 201 POST /api/v1/tasks '{"id":"srv-c","name":"srv-c","command":["/bin/true"]}'
wait_state srv-c FINISHED 20
touch "$GO_DIR/srv"
wait_state srv-a FINISHED 20
pass "srv-c launched again through server $(shim_server_of); srv-a ended FINISHED under its dead server"
# An agent killed while its server cannot run: the restarted agent kills that server before
# anything else (it could still fork a shim from a request the dead agent left) and starts
# its own.
server3="$(shim_server_of)"
kill -STOP "$server3"
agent_kill9
agent_start --kill-grace-s 2 --log-max-bytes 4096 --log-files 3 --disk nullb0 --calibrate=false
wait_until 10 "the previous agent's stopped shim server $server3 killed" gone "$server3"
grep -q "Killed process $server3 in /sys/fs/cgroup/silo/shims: the previous agent's shim server" "$AGENT_LOG" ||
    fail "the restarted agent did not say it killed the previous shim server $server3"
server4="$(shim_server_of)"
[ -n "$server4" ] && [ "$server4" != "$server3" ] || fail "no shim server of the restarted agent: '$server4'"
api_expect 201 POST /api/v1/tasks '{"id":"srv-d","name":"srv-d","command":["/bin/true"]}'
wait_state srv-d FINISHED 20
pass "agent killed with its shim server $server3 stopped: the restart killed it, server $server4 serves"

echo "== restart: SIGTERM stops the agent, not its tasks"
api_expect 201 POST /api/v1/tasks '{"id":"survivor","name":"survivor","command":["/bin/sh","-c","echo before; '"$(go_wait survivor)"'; echo after"]}'
wait_state survivor RUNNING 20
spid="$(task_field survivor pid)"
agent_stop
kill -0 "$spid" || fail "task pid $spid died with the agent"
pass "task $spid still runs with the agent stopped"
# As a registration answer leaves it (this agent runs without a master): cluster CA, epoch 5,
# in the file's current form; the old form ("5") was read at the start above.
CA=0b6f2c4e-1d3a-4c55-9e0f-1a2b3c4d5e6f CB=7c1d9e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f
printf '%s/5\n' "$CA" > "$AGENT_STATE/master-epoch"
# Its socket closed with the agent: the server is gone, its shims (survivor's) run on.
wait_until 10 "the stopped agent's shim server exits" sh -c "! pgrep -x -f '$SHIM_BIN --server'"
agent_start --kill-grace-s 2 --log-max-bytes 4096 --log-files 3 --disk nullb0 --calibrate=false
assert_eq "re-adopted state" "$(task_field survivor state)" RUNNING
assert_eq "ended tasks are still known" "$(task_field life state)" FINISHED
touch "$GO_DIR/survivor"
wait_state survivor FINISHED 60
api_expect 200 GET /api/v1/tasks/survivor/logs
assert_eq "output written across the restart" "$(echo $API_BODY)" "before after"
api_expect 409 DELETE /api/v1/tasks/idem "" -H "Silo-Master-Epoch: 4"
pass "epoch 5 remembered across the restart: a kill with epoch 4 is still refused"
api_expect 409 DELETE /api/v1/tasks/idem "" -H "Silo-Master-Epoch: 9" -H "Silo-Cluster-Id: $CB"
json_fields "$API_BODY" error.code error.message
assert_eq "another cluster's kill: code" "${JSON_FIELDS[0]}" other_cluster
assert_match "another cluster's kill: both cluster ids named" "${JSON_FIELDS[1]}" "master of cluster $CB, but this agent belongs to cluster $CA"
api_expect 409 DELETE /api/v1/tasks/idem "" -H "Silo-Master-Epoch: 4" -H "Silo-Cluster-Id: $CA"
assert_eq "its own cluster, epoch 4 after 5: code" "$(json_get "$API_BODY" error.code)" stale_epoch
assert_eq "idem still runs" "$(task_field idem state)" RUNNING
assert_eq "the fence on file, unchanged" "$(cat "$AGENT_STATE/master-epoch")" "$CA/5"
pass "a kill naming another cluster (epoch 9) is refused 409 other_cluster, naming both"
api_expect 202 DELETE /api/v1/tasks/idem
api_expect 202 DELETE /api/v1/tasks/iso
wait_state idem KILLED 20
wait_state iso KILLED 20

echo "== metrics"
api_expect 200 GET /metrics
grep -q '^silo_agent_tasks{state="KILLED"} [1-9]' <<<"$API_BODY" || fail "metrics lack killed tasks: $API_BODY"
grep -q '^silo_agent_launches_rejected_total ' <<<"$API_BODY" || fail "metrics lack rejected launches"
pass "/metrics"
api_expect 200 GET '/api/v1/tasks?state=FINISHED'
pass "$(jq '.tasks | length' <<<"$API_BODY") FINISHED tasks listed"
assert_eq "no task cgroup left" "$(ls -d /sys/fs/cgroup/silo/tasks/*/ 2>/dev/null | wc -l)" 0
assert_done
