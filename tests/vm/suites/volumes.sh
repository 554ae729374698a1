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
#              io entries meaning the volume's disk; another size is refused; delete: 204, gone
#   crashes    (-Dtest_crash_points=true) SIGKILL after the record, after the directory, and in
#              a deletion: the restart and the launch retried leave one consistent volume
#   missing    a directory removed behind the agent's back is reported, not recreated
set -euo pipefail

here="$(dirname "$0")"
. "$here/lib.sh"
. "$here/agent-lib.sh"
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

echo "== delete"
api_expect 204 DELETE /api/v1/volumes/data
[ ! -e "$MNT/silo-volumes/data" ] && [ ! -e "$AGENT_STATE/volumes/data.json" ] || fail "volume left behind"
api_expect 404 GET /api/v1/volumes/data
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
        api_expect 201 POST /api/v1/tasks "$(spec "c-$point" "$DATA" 'cat /tmp/d/x 2>/dev/null; echo ok')"
        wait_state "c-$point" FINISHED 30
        api_expect 200 GET /api/v1/volumes/data
        assert_eq "$point: volume after the retry" "$(json_get "$API_BODY" state)" ready
        assert_eq "$point: its project id on the directory" \
            "$(lsattr -pd "$MNT/silo-volumes/data" | awk '{print $1}')" "$(json_get "$API_BODY" project_id)"
        api_expect 204 DELETE /api/v1/volumes/data
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
    api_expect 404 GET /api/v1/volumes/data
    [ ! -e "$MNT/silo-volumes/data" ] || fail "delete-recorded: directory left behind"
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
api_expect 204 DELETE /api/v1/volumes/data

assert_done
