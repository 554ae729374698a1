#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "agent-limits" (issue 12, finding 5): every limit of a task spec is checked against
# what the kernel and this node accept before anything is created.
#
#   refused   each bad limit -> 400 whose message names the field and the allowed range, and
#             no cgroup under silo/tasks, no sandbox, no checkpoint, no task in GET /api/v1/tasks
#   minimum   a spec at every documented minimum (mem 6Mi, pids 2, nofile 4, ...) runs and exits
#             0, also in a rootfs with all namespaces
#   maximum   a spec at this node's maxima (fs.nr_open, kernel.pid_max, every CPU) runs and exits 0
set -euo pipefail

here="$(dirname "$0")"
. "$here/lib.sh"
. "$here/agent-lib.sh"
vm_require_guest

ip link set lo up

cleanup() {
    local rc=$?
    set +e
    agent_teardown "$rc" 40
}
trap cleanup EXIT

agent_start --calibrate=false

nr_open="$(cat /proc/sys/fs/nr_open)"
pid_max="$(cat /proc/sys/kernel/pid_max)"
online="$(cat /sys/devices/system/cpu/online)"
ncpu="$(nproc --all)"
echo "node: fs.nr_open=$nr_open kernel.pid_max=$pid_max online=$online ($ncpu CPUs)"
[ "$(cat /sys/fs/cgroup/silo/tasks/cpuset.cpus.effective)" = "$online" ] ||
    fail "silo/tasks does not have every online CPU: $(cat /sys/fs/cgroup/silo/tasks/cpuset.cpus.effective)"

# Under TCG every process costs a good fraction of a second: the checks below use shell globs
# and one $VM_HTTP each, no helpers.
shopt -s nullglob
snapshot() {
    local c=("$AGENT_STATE"/tasks/*) s=("$AGENT_STATE"/sandboxes/*) g=(/sys/fs/cgroup/silo/tasks/*/)
    echo "checkpoints=${c[*]} sandboxes=${s[*]} cgroups=${g[*]}"
    echo "api=$("$VM_HTTP" -sS -H "Authorization: Bearer $TOKEN" "$AGENT_URL/api/v1/tasks")"
}

# refused ID FIELD RANGE SPEC-FRAGMENT: the launch of {"id": ID, ...FRAGMENT} must get a 400
# whose message starts with "FIELD:" and contains RANGE, and must leave nothing behind: no
# checkpoint, sandbox or cgroup, and the same GET /api/v1/tasks. Every case runs even after a
# failure, so one run shows every hole; the suite fails at the end.
fails=0
n_refused=0
refused() {
    local id="$1" field="$2" range="$3" frag="$4" before after out msg status body
    before="$(snapshot)"
    out="$("$VM_HTTP" -sS -w '\n%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' \
        --data-binary "{\"id\":\"$id\",\"name\":\"bad\",\"command\":[\"/bin/true\"]$frag}" \
        "$AGENT_URL/api/v1/tasks")"
    status="${out##*$'\n'}" body="${out%$'\n'*}"
    after="$(snapshot)"
    n_refused=$((n_refused + 1))
    if [ "$status" != 400 ]; then
        ASSERT_KEEP_GOING=1 fail "$field ($frag): HTTP $status, want 400: $body"
        fails=$((fails + 1))
        # The next case starts from nothing of this one.
        [ "$status" != 201 ] || api DELETE "/api/v1/tasks/$id"
        return 0
    fi
    msg="$(jq -r '.error.message' <<<"$body")"
    if [[ "$msg" != "$field: "* ]] || [[ "$msg" != *"$range"* ]]; then
        ASSERT_KEEP_GOING=1 fail "$field ($frag): message does not name '$field' and '$range': $msg"
        fails=$((fails + 1))
    elif [ "$before" != "$after" ]; then
        ASSERT_KEEP_GOING=1 fail "$field ($frag): the refused launch left something: $before -> $after"
        fails=$((fails + 1))
    else
        pass "400 $msg"
    fi
}

echo "== refused: what the issue found"
refused nofile-big rlimits.nofile "(4..$nr_open, this node's fs.nr_open)" \
    ",\"rlimits\":{\"nofile\":$((nr_open + 1))}"
refused nofile-unl rlimits.nofile "'unlimited' is not allowed: give a number in 4..2147483584" \
    ',"rlimits":{"nofile":"unlimited"}'
refused nofile-hard-unl rlimits.nofile.hard "'unlimited' is not allowed" \
    ',"rlimits":{"nofile":{"soft":1024,"hard":"unlimited"}}'
refused pids-big resources.pids "5000000 is out of range (1..4194304, the kernel's PID_MAX_LIMIT)" \
    ',"resources":{"pids":5000000}'
refused cpuset-big resources.cpuset "'0-4095' names CPUs this node does not have (online: $online)" \
    ',"resources":{"cpuset":"0-4095"}'
refused mem-1 resources.mem "1 is below the minimum of 6Mi" ',"resources":{"mem":1}'

echo "== refused: every other limit"
if [ "$pid_max" -lt 4194304 ]; then
    refused pids-node resources.pids "(1..$pid_max, this node's kernel.pid_max)" \
        ",\"resources\":{\"pids\":$((pid_max + 1))}"
fi
refused cpuset-one-past resources.cpuset "'$ncpu' names CPUs this node does not have (online: $online)" \
    ",\"resources\":{\"cpuset\":\"$ncpu\"}"
refused cpus-more resources.cpus "out of range (0.01..$ncpu: this node has $ncpu CPUs" \
    ",\"resources\":{\"cpus\":$((ncpu + 1))}"
refused cpus-tiny resources.cpus "(the minimum is 0.01)" ',"resources":{"cpus":0.001}'
refused cpu-weight-0 resources.cpu_weight "out of range (1..10000)" ',"resources":{"cpu_weight":0}'
refused cpu-weight-big resources.cpu_weight "out of range (1..10000)" ',"resources":{"cpu_weight":10001}'
refused mem-under resources.mem "'6143Ki' is below the minimum of 6Mi" ',"resources":{"mem":"6143Ki"}'
refused mem-high-1m resources.mem_high "'1Mi' is below the minimum of 6Mi" ',"resources":{"mem_high":"1Mi"}'
refused mem-high-over resources.mem_high "is above mem (64Mi)" ',"resources":{"mem":"64Mi","mem_high":"65Mi"}'
refused swap-neg resources.swap "-1 is negative" ',"resources":{"swap":-1}'
refused pids-0 resources.pids "0 must be positive" ',"resources":{"pids":0}'
refused pids-1-init resources.pids "1 is below the minimum of 2 with init" ',"resources":{"pids":1}'
refused nofile-3 rlimits.nofile "3 is out of range (4..2147483584" ',"rlimits":{"nofile":3}'
refused nofile-soft-0 rlimits.nofile.soft "0 is out of range (4..2147483584" \
    ',"rlimits":{"nofile":{"soft":0,"hard":64}}'
refused nofile-soft-hard rlimits.nofile "soft limit 2048 is above hard limit 1024" \
    ',"rlimits":{"nofile":{"soft":2048,"hard":1024}}'
refused stack-4k rlimits.stack "'4Ki' is below the minimum of 64Ki" ',"rlimits":{"stack":"4Ki"}'
refused as-1m rlimits.as "'1Mi' is below the minimum of 16Mi" ',"rlimits":{"as":"1Mi"}'
refused data-0 rlimits.data "0 is below the minimum of 1Mi" ',"rlimits":{"data":0}'
refused cpu-0 rlimits.cpu "0 is below the minimum of 1" ',"rlimits":{"cpu":0}'
refused nice-41 rlimits.nice "41 is out of range (0..40 or 'unlimited'" ',"rlimits":{"nice":41}'
refused rtprio-100 rlimits.rtprio "100 is out of range (0..99 or 'unlimited'" ',"rlimits":{"rtprio":100}'
[ "$fails" -eq 0 ] || fail "$fails of $n_refused bad limits were not refused cleanly"
pass "$n_refused bad limits refused with 400, nothing created"

echo "== minimum: a task at every documented minimum runs"
rootfs_build /tmp/rootfs
mins='"resources":{"mem":"6Mi","mem_high":"6Mi","pids":2,"cpus":0.01},
      "rlimits":{"nofile":4,"stack":"64Ki","as":"16Mi","data":"1Mi","cpu":1}'
api_expect 201 POST /api/v1/tasks "{\"id\":\"min\",\"name\":\"min\",\"command\":[\"/bin/sh\",\"-c\",\"exit 0\"],$mins}"
api_expect 201 POST /api/v1/tasks "{\"id\":\"min-noinit\",\"name\":\"min\",\"init\":false,
    \"command\":[\"/bin/sh\",\"-c\",\"exit 0\"],\"resources\":{\"mem\":\"6Mi\",\"pids\":1}}"
api_expect 201 POST /api/v1/tasks "{\"id\":\"min-rootfs\",\"name\":\"min\",\"command\":[\"/bin/sh\",\"-c\",\"exit 0\"],
    \"resources\":{\"mem\":\"6Mi\",\"pids\":2},
    \"container\":{\"rootfs\":\"/tmp/rootfs\",\"namespaces\":[\"pid\",\"mount\",\"uts\",\"ipc\",\"net\"]}}"
for id in min min-noinit min-rootfs; do
    wait_state "$id" FINISHED 60
    assert_eq "$id: exit code" "$(task_field "$id" exit_code)" 0
done

echo "== maximum: a task at this node's maxima runs"
api_expect 201 POST /api/v1/tasks "{\"id\":\"max\",\"name\":\"max\",
    \"command\":[\"/bin/sh\",\"-c\",\"test \$(ulimit -n) = $nr_open\"],
    \"resources\":{\"pids\":$pid_max,\"cpus\":$ncpu,\"cpuset\":\"$online\"},
    \"rlimits\":{\"nofile\":$nr_open}}"
wait_state max FINISHED 60
assert_eq "max: exit code (ulimit -n = $nr_open inside)" "$(task_field max exit_code)" 0

assert_done
