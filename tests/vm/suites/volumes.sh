#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "volumes": persistent volumes on a standalone agent (issue 16, items 1 and 2).
#
#   disks      --disk NAME:MOUNTPOINT refused at start with the fix when the mount point is not
#              mounted, is another device, or has no project quota; advertised when it is fine
#   refusals   a volume name with / or .., a size that is not a quantity, a size larger than
#              the disk's free room: 400 with the field and value
#   lifecycle  the first launch creates the volume (owned by the task's user, its own project
#              id); a write past its size fails with EDQUOT; a second read-write mount and a
#              delete while in use are 409 volume_in_use naming the task; it survives the task's
#              end and an agent kill -9; a later task reattaches it with its data, "any" in its
#              io entries meaning the volume's disk; another size is refused; delete: 202, then gone
#   crashes    (-Dtest_crash_points=true) SIGKILL after the record, after the directory: the
#              restart removes the volume no task names, the launch retried makes it again; in
#              a deletion: the restart finishes it
#   cluster    (a master and two agents, tests/vm/cluster.sh) a task naming agent 2's disk runs
#              there, the master records the volume there (ready, its role); a second writer and
#              a delete while in use: 409 naming the task; siloctl volumes; after a kill a new
#              task (disk "any") lands on agent 2 and reads the data; DELETE through the master
#              (202): agent 2 removes it, then the master's record goes
#   deletion   202 "deleting", then gone; a volume of 30,000 files is removed off the loop (the
#              API answers meanwhile) and an agent kill -9 in the middle resumes at the restart
#   missing    a directory removed behind the agent's back is reported, not recreated
set -euo pipefail

here="$(dirname "$0")"
. "$here/lib.sh"
. "$here/agent-lib.sh"
# The last part runs a master and two agents; plain HTTP (certificates cost seconds under TCG).
CLUSTER_TLS=0
. "$here/../cluster.sh"
vm_require_guest

ip link set lo up
AGENT_STATE=/var/lib/silo/agent-volumes
AGENT_LOG=/tmp/silo-agent-volumes.log
MNT=/srv/nullb0
COMMON=(--calibrate=false --kill-grace-s 1)
LOOPDEV=""

cleanup() {
    local rc=$?
    set +e
    agent_teardown "$rc" 80
    if [ "$CLUSTER_N" -gt 0 ]; then
        if [ "$rc" -ne 0 ]; then
            echo "---- master log ----"
            tail -n 30 "$CLUSTER_DIR/master.log"
            echo "---- agent 2 log ----"
            tail -n 40 "$CLUSTER_DIR/agent2.log"
        fi
        cluster_stop
    fi
    umount /srv/loopfs /srv/tmpfs "$MNT" 2>/dev/null
    [ -n "$LOOPDEV" ] && losetup -d "$LOOPDEV"
    rm -f /tmp/volumes-loop.img
}
trap cleanup EXIT

agent_kill9() {
    kill -KILL "$AGENT_PID"
    wait "$AGENT_PID" 2>/dev/null || true
    AGENT_PID=""
}

# expect_refused MESSAGE AGENT-ARGS...: the agent exits at start, logging MESSAGE.
expect_refused() {
    local want="$1" out=/tmp/volumes-refused.log
    shift
    if "$AGENT_BIN" --listen "127.0.0.1:$AGENT_PORT" --state-dir "$AGENT_STATE" "${COMMON[@]}" "$@" \
        >"$out" 2>&1; then
        fail "the agent started with $*"
    fi
    grep -qF -- "$want" "$out" || fail "agent $*: no '$want' in: $(cat "$out")"
    pass "refused: $(grep -F -- "$want" "$out" | head -n 1 | sed 's/.*Refusing/Refusing/')"
}

# spec ID VOLUME-JSON COMMAND [EXTRA-JSON]: a task as user nobody mounting one volume at /tmp/d.
spec() {
    printf '{"id":"%s","name":"%s","user":"nobody","command":["/bin/sh","-c","%s"],"container":{"volumes":[%s]}%s}' \
        "$1" "$1" "$3" "$2" "${4:-}"
}
DATA='{"name":"data","size":"8Mi","target":"/tmp/d"}'

# volume_delete NAME: 202 with the volume "deleting", then gone (404) with its directory and
# record.
volume_delete() {
    api_expect 202 DELETE "/api/v1/volumes/$1"
    assert_eq "volume $1 after DELETE" "$(json_get "$API_BODY" state)" deleting >/dev/null
    volume_wait_gone "$1"
}

volume_wait_gone() {
    for _ in $(seq 300); do
        api GET "/api/v1/volumes/$1"
        [ "$API_STATUS" = 404 ] && break
        sleep 0.2
    done
    assert_eq "volume $1 gone" "$API_STATUS" 404 >/dev/null
    [ ! -e "$MNT/silo-volumes/$1" ] && [ ! -e "$AGENT_STATE/volumes/$1.json" ] ||
        fail "volume $1: directory or record left behind"
}

expect_400() {
    local want="$1"
    shift
    api POST /api/v1/tasks "$1"
    assert_eq "HTTP status ($want)" "$API_STATUS" 400 >/dev/null
    assert_match "refusal" "$API_BODY" "$want"
}

echo "== disks with a mount point"
rm -rf "$AGENT_STATE" "$AGENT_LOG"
mkdir -p "$MNT" /srv/tmpfs /srv/loopfs "$AGENT_STATE"
expect_refused "--disk nullb0:$MNT: $MNT is not a mount point (mount the disk's filesystem there: mkfs.ext4 -O quota,project /dev/nullb0; mount -o prjquota /dev/nullb0 $MNT)" \
    --disk "nullb0:$MNT"
mount -t tmpfs silo-test /srv/tmpfs
expect_refused "/srv/tmpfs is a mount of silo-test (tmpfs, 0:" --disk nullb0:/srv/tmpfs
truncate -s 32M /tmp/volumes-loop.img
mkfs.ext4 -q /tmp/volumes-loop.img
LOOPDEV="$(losetup -f --show /tmp/volumes-loop.img)"
mount "$LOOPDEV" /srv/loopfs
expect_refused "/srv/loopfs is a mount of $LOOPDEV (ext4, $(vm_dev_majmin "$LOOPDEV")), not of nullb0 or a partition of it" \
    --disk nullb0:/srv/loopfs
expect_refused "/srv/loopfs (ext4 on $LOOPDEV) is mounted without project quota (umount /srv/loopfs; tune2fs -O quota,project $LOOPDEV; mount -o prjquota $LOOPDEV /srv/loopfs)" \
    --disk "${LOOPDEV#/dev/}:/srv/loopfs"
mkfs.ext4 -q -O quota,project /dev/nullb0
mount -o prjquota /dev/nullb0 "$MNT"
agent_start "${COMMON[@]}" --disk "nullb0:$MNT"
api_expect 200 GET /api/v1/devices
assert_eq "the disk's mount point" "$(json_get "$API_BODY" 'disks[0].mount')" "$MNT"

echo "== refusals"
expect_400 "container.volumes\[0\].name: 'a/b' is not a valid name" \
    "$(spec bad1 '{"name":"a/b","size":"8Mi","target":"/tmp/d"}' true)"
expect_400 "container.volumes\[0\].name: '\.\.' is not a valid name" \
    "$(spec bad2 '{"name":"..","size":"8Mi","target":"/tmp/d"}' true)"
expect_400 "container.volumes\[0\].size: 'lots' is not a quantity" \
    "$(spec bad3 '{"name":"v","size":"lots","target":"/tmp/d"}' true)"
expect_400 "container.volumes\[0\].size: 2Gi is more than disk nullb0 has free \([0-9]+[KMGTPE]?i?: its filesystem's size minus its volumes' sizes\)" \
    "$(spec bad4 '{"name":"v","size":"2Gi","target":"/tmp/d"}' true)"
[ ! -e "$AGENT_STATE/volumes/v.json" ] && [ ! -e "$MNT/silo-volumes/v" ] || fail "a refused volume was created"
pass "nothing created for the refused volumes"

echo "== create at the first launch, quota enforced"
api_expect 201 POST /api/v1/tasks "$(spec w1 "$DATA" \
    'echo kept >/tmp/d/keep && dd if=/dev/zero of=/tmp/d/big bs=1M count=12 conv=fsync; echo dd=$?; rm -f /tmp/d/big; exec sleep 3600')"
wait_state w1 RUNNING 30
for _ in $(seq 150); do
    api_expect 200 GET "/api/v1/tasks/w1/logs?stream=stdout"
    [[ "$API_BODY" == *dd=* ]] && break
    sleep 0.2
done
assert_eq "dd past the volume's size" "$API_BODY" "dd=1"
api_expect 200 GET "/api/v1/tasks/w1/logs?stream=stderr"
assert_match "dd's error" "$API_BODY" "Disk quota exceeded"
assert_eq "owner of the volume's root" "$(stat -c %U "$MNT/silo-volumes/data")" nobody
api_expect 200 GET /api/v1/volumes/data
json_fields "$API_BODY" name disk size path state 'tasks | join(",")' project_id used_bytes
assert_eq "volume" "${JSON_FIELDS[*]:0:6}" "data nullb0 8388608 $MNT/silo-volumes/data ready w1"
projid="$(lsattr -pd "$MNT/silo-volumes/data" | awk '{print $1}')"
assert_eq "project id on the directory" "$projid" "${JSON_FIELDS[6]}"
[ "${JSON_FIELDS[7]}" -gt 0 ] && [ "${JSON_FIELDS[7]}" -lt 1048576 ] ||
    fail "used_bytes ${JSON_FIELDS[7]} after the big file was removed"
pass "used_bytes ${JSON_FIELDS[7]} (Q_GETQUOTA)"
assert_match "record" "$(cat "$AGENT_STATE/volumes/data.json")" '"state": ?"ready"'
api_expect 200 GET /metrics
m="$(grep -E '^silo_agent_volume_(size|used)_bytes\{' <<<"$API_BODY" | tr '\n' ' ')"
assert_eq "volume metrics" "$m" "silo_agent_volume_size_bytes{volume=\"data\",disk=\"nullb0\"} 8388608 silo_agent_volume_used_bytes{volume=\"data\",disk=\"nullb0\"} ${JSON_FIELDS[7]} "

echo "== in use"
api POST /api/v1/tasks "$(spec w2 "$DATA" 'sleep 1')"
assert_eq "second read-write mount" "$API_STATUS" 409
assert_match "second read-write mount" "$API_BODY" '"volume_in_use"'
assert_match "second read-write mount" "$API_BODY" "volume 'data' is mounted read-write by task w1"
api DELETE /api/v1/volumes/data
assert_eq "delete in use" "$API_STATUS" 409
assert_match "delete in use" "$API_BODY" "volume 'data' is in use by task w1 \(RUNNING\): kill it first"
api_expect 200 GET /api/v1/volumes
assert_eq "volume list" "$(jq -c '[.volumes[] | [.name, .tasks]]' <<<"$API_BODY")" '[["data",["w1"]]]'

echo "== survives the task's end and an agent kill -9"
api_expect 202 DELETE /api/v1/tasks/w1
wait_state w1 KILLED 30
agent_kill9
agent_start "${COMMON[@]}" --disk "nullb0:$MNT"
api_expect 200 GET /api/v1/volumes/data
json_fields "$API_BODY" state 'tasks | length' problem
assert_eq "after the restart" "${JSON_FIELDS[*]}" "ready 0 "

echo "== reattach"
api_expect 400 POST /api/v1/tasks "$(spec big '{"name":"data","size":"16Mi","target":"/tmp/d"}' true)"
assert_match "another size" "$API_BODY" "container.volumes\[0\].size: 16Mi differs from volume 'data''s size 8Mi"
api_expect 201 POST /api/v1/tasks "$(spec w3 "$DATA" "cat /tmp/d/keep; ls -A $MNT/silo-volumes && echo listed" \
    ',"resources":{"io":[{"disk":"any","wbps":"10M"}]}')"
wait_state w3 FINISHED 30
api_expect 200 GET "/api/v1/tasks/w3/logs?stream=stdout"
# Other volumes are hidden under an empty tmpfs (the host's silo-volumes is root's, 0700).
assert_eq "data written by w1, read by w3; $MNT/silo-volumes empty in the task" "$API_BODY" $'kept\nlisted'
assert_eq "mode of $MNT/silo-volumes" "$(stat -c %a "$MNT/silo-volumes")" 700
api_expect 200 GET /api/v1/tasks/w3
assert_eq "io disk \"any\" resolved to the volume's" "$(json_get "$API_BODY" 'spec.resources.io[0].disk')" nullb0

echo "== the quota escape is closed (seccomp filter of a task with a volume)"
vdir="$MNT/silo-volumes/data"
# The hole the filter closes: outside Silo the owner, with no capability, leaves the project
# (in a directory of the volume's project that nobody can reach: silo-volumes is root's, 0700).
mkdir "$MNT/hole" && chattr +P -p "$projid" "$MNT/hole" && chown nobody "$MNT/hole"
setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c "touch $MNT/hole/f && chattr -p 0 $MNT/hole/f" ||
    fail "the kernel refused the owner's chattr -p: the checks below would prove nothing"
assert_eq "the owner's chattr -p 0 outside a task (the hole)" \
    "$(lsattr -pd "$MNT/hole" "$MNT/hole/f" | awk '{print $1}' | paste -sd' ')" "$projid 0"
rm -rf "$MNT/hole"
# The filter itself on this kernel, which has the i386 ABI (the host's may not): every ioctl
# that writes flags refused with the command's upper 32 bits set, and through int 0x80
# (tests/unit/test-container-seccomp.c; on the host its i386 part may skip).
out=$("$SILO_BUILD_DIR/tests/unit/test-container-seccomp" 2>&1) || fail "test-container-seccomp in the guest: $out"
assert_eq "the filter's checks here (native, and i386 through int 0x80)" \
    "$(grep -cE '^\[       OK \] test_(native|i386)$' <<<"$out")" 2
# As root with SYS_ADMIN: Q_SETQUOTA of the volume's project to no limit (struct if_dqblk
# zeroed, QIF_BLIMITS | QIF_ILIMITS), through quotactl_fd on the volume and quotactl on the disk.
cat >"$vdir/q.py" <<PY  # the dd of the next task shows the limit kept
import ctypes, os, struct
libc = ctypes.CDLL(None, use_errno=True)
cmd = (0x800008 << 8) | 2
dq = ctypes.create_string_buffer(struct.pack("8QI4x", 0, 0, 0, 0, 0, 0, 0, 0, 5))
for name, nr, a, b in (("quotactl_fd", 443, os.open("/tmp/d", os.O_RDONLY), cmd),
                       ("quotactl", 179, cmd, ctypes.c_char_p(b"/dev/nullb0"))):
    r = libc.syscall(nr, a, b, $projid, dq)
    print(name, r, os.strerror(ctypes.get_errno()) if r < 0 else "ok")
PY
api_expect 201 POST /api/v1/tasks "$(printf '{"id":"e2","name":"e2","command":["/usr/bin/python3","/tmp/d/q.py"],"capabilities":["SYS_ADMIN"],"container":{"volumes":[%s]}}' "$DATA")"
wait_state e2 FINISHED 30
api_expect 200 GET "/api/v1/tasks/e2/logs?stream=stdout"
assert_eq "quotactl as root with SYS_ADMIN" "$API_BODY" \
    $'quotactl_fd -1 Operation not permitted\nquotactl -1 Operation not permitted'
api_expect 201 POST /api/v1/tasks "$(spec e1 "$DATA" \
    'cd /tmp/d; touch f; mkdir -p sub; for a in \"-p 0 f\" \"-P sub\" \"+A f\"; do chattr $a; echo \"chattr $a: $?\"; done; dd if=/dev/zero of=big bs=1M count=12 2>/dev/null; echo dd=$?; rm -f big')"
wait_state e1 FINISHED 30
api_expect 200 GET "/api/v1/tasks/e1/logs?stream=stdout"
assert_eq "chattr in a task with the volume, then dd past its size" "$API_BODY" \
    $'chattr -p 0 f: 1\nchattr -P sub: 1\nchattr +A f: 1\ndd=1'
api_expect 200 GET "/api/v1/tasks/e1/logs?stream=stderr"
assert_eq "chattr's errors" "$(grep -c 'Operation not permitted' <<<"$API_BODY")" 3
assert_eq "project id of the task's file" "$(lsattr -pd "$vdir/f" | awk '{print $1}')" "$projid"
assert_match "PROJINHERIT kept on the task's directory" "$(lsattr -pd "$vdir/sub")" "^ *$projid [-a-zA-Z]*P[-a-zA-Z]* "
rm -rf "$vdir/f" "$vdir/sub" "$vdir/q.py"
# Tasks without a persistent volume get no filter: flags stay theirs to set.
mkdir -p "$MNT/scratch" && chown nobody "$MNT/scratch"
api_expect 201 POST /api/v1/tasks "$(spec e3 "{\"source\":\"$MNT/scratch\",\"target\":\"/tmp/d\"}" \
    'touch /tmp/d/f && chattr +A /tmp/d/f && lsattr /tmp/d/f')"
wait_state e3 FINISHED 30
api_expect 200 GET "/api/v1/tasks/e3/logs?stream=stdout"
assert_match "chattr +A in a task without a volume" "$API_BODY" "^[-a-zA-Z]*A[-a-zA-Z]* /tmp/d/f"
rm -rf "$MNT/scratch"

echo "== delete"
volume_delete data
api_expect 404 DELETE /api/v1/volumes/data
pass "deleted: directory and record gone"

crash_build="$(jq -r '.[] | select(.name == "test_crash_points") | .value' \
    "$SILO_BUILD_DIR/meson-info/intro-buildoptions.json")"
if [ "$crash_build" = true ]; then
    echo "== kill -9 inside a volume's creation and deletion"
    for point in volume-recorded volume-built; do
        agent_stop
        SILO_TEST_CRASH_AT="$point" agent_start "${COMMON[@]}" --disk "nullb0:$MNT"
        api POST /api/v1/tasks "$(spec "c-$point" "$DATA" 'cat /tmp/d/x 2>/dev/null; echo ok')" || true
        assert_eq "$point: answer" "$API_STATUS" 000 >/dev/null
        wait "$AGENT_PID" 2>/dev/null || true
        AGENT_PID=""
        assert_match "$point: record" "$(cat "$AGENT_STATE/volumes/data.json")" '"state": ?"creating"'
        agent_start "${COMMON[@]}" --disk "nullb0:$MNT"
        # No task names it (the launch was never answered): the restart removes it.
        api_expect 404 GET /api/v1/volumes/data
        [ ! -e "$MNT/silo-volumes/data" ] && [ ! -e "$AGENT_STATE/volumes/data.json" ] ||
            fail "$point: the interrupted creation was left behind"
        pass "$point: the restart removed the volume no task names"
        api_expect 201 POST /api/v1/tasks "$(spec "c-$point" "$DATA" 'cat /tmp/d/x 2>/dev/null; echo ok')"
        wait_state "c-$point" FINISHED 30
        api_expect 200 GET /api/v1/volumes/data
        assert_eq "$point: volume after the retry" "$(json_get "$API_BODY" state)" ready
        assert_eq "$point: its project id on the directory" \
            "$(lsattr -pd "$MNT/silo-volumes/data" | awk '{print $1}')" "$(json_get "$API_BODY" project_id)"
        volume_delete data
    done
    api_expect 201 POST /api/v1/tasks "$(spec c-del "$DATA" true)"
    wait_state c-del FINISHED 30
    agent_stop
    SILO_TEST_CRASH_AT=volume-delete-recorded agent_start "${COMMON[@]}" --disk "nullb0:$MNT"
    api DELETE /api/v1/volumes/data || true
    assert_eq "delete-recorded: answer" "$API_STATUS" 000 >/dev/null
    wait "$AGENT_PID" 2>/dev/null || true
    AGENT_PID=""
    agent_start "${COMMON[@]}" --disk "nullb0:$MNT"
    volume_wait_gone data
    pass "volume-delete-recorded: the restart finished the deletion"
else
    skip_part "crash points" "needs a -Dtest_crash_points=true build"
fi

echo "== a directory removed behind the agent's back"
api_expect 201 POST /api/v1/tasks "$(spec m1 "$DATA" true)"
wait_state m1 FINISHED 30
agent_stop
rm -rf "$MNT/silo-volumes/data"
agent_start "${COMMON[@]}" --disk "nullb0:$MNT"
api_expect 200 GET /api/v1/volumes/data
assert_match "problem" "$(json_get "$API_BODY" problem)" "its directory $MNT/silo-volumes/data is missing"
[ ! -e "$MNT/silo-volumes/data" ] || fail "the missing directory was recreated"
expect_400 "container.volumes\[0\]: volume 'data': its directory $MNT/silo-volumes/data is missing" \
    "$(spec m2 "$DATA" true)"
volume_delete data

echo "== a large volume is deleted off the loop, and resumed after a kill -9"
api_expect 201 POST /api/v1/tasks "$(spec l1 '{"name":"large","size":"700Mi","target":"/tmp/d"}' \
    'cd /tmp/d && seq -f d%g 30 | xargs mkdir && for i in $(seq 30); do seq -f d$i/f%g 1000 | xargs touch || exit 1; done')"
wait_state l1 FINISHED 120
assert_eq "files in the large volume" "$(find "$MNT/silo-volumes/large" -type f | wc -l)" 30000
api_expect 202 DELETE /api/v1/volumes/large
seen=0 worst=0
for _ in $(seq 5); do
    t0=$(date +%s%N)
    api_expect 200 GET /api/v1/volumes/large
    t=$((($(date +%s%N) - t0) / 1000000))
    [ "$t" -gt "$worst" ] && worst=$t
    [ "$(json_get "$API_BODY" state)" = deleting ] && seen=$((seen + 1))
done
left=$(ls "$MNT/silo-volumes/large" 2>/dev/null | wc -l)   # of its 30 directories
agent_kill9
assert_eq "GETs answered while deleting ($worst ms the slowest)" "$seen" 5
[ "$worst" -lt 2000 ] || fail "a GET took $worst ms while the volume was being removed"
[ "$left" -gt 0 ] || fail "the removal was done before the kill: nothing left to resume"
pass "kill -9 with $left of its 30 directories left"
assert_match "record after the kill" "$(cat "$AGENT_STATE/volumes/large.json")" '"state": ?"deleting"'
agent_start "${COMMON[@]}" --disk "nullb0:$MNT"
volume_wait_gone large
pass "the restart resumed the deletion"

# The master's persistent volumes with two real agents (tests/vm/cluster.sh; these checks were
# the never-run vm-volumes-cluster suite of branch vol-master, folded in here to save a boot).
echo "== cluster: a volume on agent 2's disk, 409s, reattach after a kill, delete through the master"
agent_stop
umount "$MNT"
T0=$(date +%s)
CLUSTER_DISK_FS=ext4
# Figures given, not calibrated: the tasks' io entries are costed against them.
cluster_start 2 --calibrate false --disk-write-bps @DISK@:1G --kill-grace-s 1
A2="${CLUSTER_AGENT_ID[2]}"

# vol_spec NAME SCRIPT [VOLUME-MEMBERS]: a task mounting volume "pgv" (64Mi) at /tmp/d.
vol_spec() {
    echo "{\"name\": \"$1\", \"command\": [\"/bin/sh\", \"-c\", $(cluster_json_str "$2")], \"resources\": {\"io\": [{\"disk\": \"any\", \"wbps\": \"10M\"}]}, \"container\": {\"volumes\": [{\"name\": \"pgv\", \"size\": \"64Mi\", \"target\": \"/tmp/d\"${3:+, $3}}]}}"
}
# vol_state: the master's record of pgv in API_BODY, its state in VOL_STATE ("" when none).
vol_state() {
    cluster_api GET /api/v1/volumes/pgv
    VOL_STATE=""
    [ "$API_STATUS" = 200 ] && VOL_STATE="$(jq -r .state <<<"$API_BODY")"
    return 0
}
wait_vol_state() {
    local _
    for _ in $(seq 100); do
        vol_state
        [ "$VOL_STATE" = "$1" ] && return 0
        sleep 0.2
    done
    fail "volume pgv at the master: '${VOL_STATE:-none}', want '$1': $API_BODY"
}

cluster_submit "$(vol_spec w1 'echo kept-by-w1 > /tmp/d/f; exec sleep 300' '"disk": "nullb1"')"
W1="$CLUSTER_TASK"
cluster_wait_state "$W1" RUNNING 60
cluster_api GET "/api/v1/tasks/$W1"
assert_eq "w1's agent" "$(jq -r .agent_id <<<"$API_BODY")" "$A2"
assert_eq "w1's io disk (the volume's)" "$(jq -r '.disks[0]' <<<"$API_BODY")" nullb1
wait_vol_state ready
assert_eq "pgv at the master" "$(jq -r '"\(.agent_id) \(.disk) \(.size) \(.role)"' <<<"$API_BODY")" "$A2 nullb1 67108864 default"
[ -d /srv/nullb1/silo-volumes/pgv ] || fail "no /srv/nullb1/silo-volumes/pgv on agent 2's disk"
pass "a task naming agent 2's disk runs there; the master records pgv on $A2/nullb1, ready"

cluster_api POST /api/v1/tasks "$(vol_spec w2 'true')"
assert_eq "second writer" "$API_STATUS $(jq -r .error.code <<<"$API_BODY")" "409 volume_in_use"
assert_match "names w1" "$(jq -r .error.message <<<"$API_BODY")" "in use by task $W1"
cluster_api DELETE /api/v1/volumes/pgv
assert_eq "delete in use" "$API_STATUS $(jq -r .error.code <<<"$API_BODY")" "409 volume_in_use"
assert_match "names w1" "$(jq -r .error.message <<<"$API_BODY")" "in use by task $W1"
out="$("$CLUSTER_SILOCTL" -m "$CLUSTER_MURL" --token-file "$CLUSTER_DIR/token" volumes 2>&1)" || fail "siloctl volumes: $out"
assert_match "siloctl volumes" "$out" "pgv +${A2:0:8} +nullb1 +64\.0 MiB .* ready +${W1}"

cluster_api DELETE "/api/v1/tasks/$W1"
cluster_wait_state "$W1" KILLED 30
cluster_submit "$(vol_spec r1 'cat /tmp/d/f')"
R1="$CLUSTER_TASK"
cluster_wait_state "$R1" FINISHED 60
cluster_api GET "/api/v1/tasks/$R1"
assert_eq "r1's agent" "$(jq -r .agent_id <<<"$API_BODY")" "$A2"
cluster_log 2 "$R1"
assert_eq "after w1's kill, r1 (disk \"any\") on agent 2 reads what w1 wrote" "$API_BODY" kept-by-w1

cluster_api DELETE /api/v1/volumes/pgv
assert_eq "delete through the master" "$API_STATUS" 202
for _ in $(seq 100); do
    vol_state
    [ "$API_STATUS" = 404 ] && break
    sleep 0.2
done
assert_eq "the master's record after the agent's deletion" "$API_STATUS" 404
cluster_agent_api 2 GET /api/v1/volumes/pgv
assert_eq "at agent 2" "$API_STATUS" 404
[ ! -e /srv/nullb1/silo-volumes/pgv ] || fail "/srv/nullb1/silo-volumes/pgv still there"
pass "DELETE through the master: agent 2 deleted it, then the master's record went"
echo "cluster part: $(($(date +%s) - T0)) s"

assert_done
