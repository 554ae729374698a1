#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "gluster": GlusterFS (Debian's glusterfs-server) as Silo tasks on a cluster of three
# agents in one guest (tests/vm/cluster.sh), from examples/glusterfs-brick.json.
#
#   bricks    three brick tasks (glusterd -N, host networking: the agent's namespace and
#             address), one per agent (group "gluster", spread "hostname"), each with its
#             glusterd state, logs and brick on its own persistent volume (gluster-brick-N,
#             512Mi) on its agent's disk (ext4 with project quotas on nullb<I-1>)
#   volume    peer probe, a replica-3 volume across the three bricks, started; a FUSE mount
#             in the guest's root namespace (the client's machine); fio writes and verifies
#             (crc32c), and the file is identical on the three bricks
#   failure   every process of brick 2's task killed (SIGKILL, as a crash): Silo reports the
#             task FAILED (SIGNALED); the Gluster volume stays writable and readable (fio
#             again, verified) and has entries to heal
#   heal      a replacement task naming the same volume, placed by the master on the volume's
#             agent: its glusterd keeps its
#             peer identity (the volume holds /var/lib/glusterd's state), the brick comes back
#             online, `gluster volume heal VOL info` reaches 0 entries on every brick, and the
#             file written during the failure is on brick 2, identical
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/../cluster.sh"
vm_require_guest
for tool in jq fio glusterd gluster mount.glusterfs mkfs.ext4; do
    command -v "$tool" >/dev/null || fail "$tool missing (scripts/install-deps.sh installs it)"
done
[ -c /dev/fuse ] || fail "/dev/fuse missing: the suite needs --modules fuse (tests/vm/meson.build)"

EXAMPLE="${SILO_SOURCE_DIR:?}/examples/glusterfs-brick.json"
GLFSHEAL="$(glusterd --print-libexecdir)/glfsheal"
W=/run/silo-gluster
MNT="$W/mnt"
VOL=gv0
T0=$(date +%s)
TS=$T0
declare -a DISK_DIR VOL_DIR BRICK_TASK BRICK_AGENT BRICK_ADDR

teardown() {
    local rc="$1" i
    set +e
    if [ "$rc" -ne 0 ] && [ -S "${VOL_DIR[1]:-}/glusterd.socket" ]; then
        echo "---- gluster peer status, volume status, heal info (brick 1) ----"
        G peer status 2>&1 | tail -n 12
        G volume status "$VOL" 2>&1 | tail -n 12
        timeout 60 "$GLFSHEAL" "$VOL" glusterd-sock "${VOL_DIR[1]}/glusterd.socket" 2>&1 | tail -n 16
    fi
    if [ "$rc" -ne 0 ]; then
        for ((i = 1; i <= 3; i++)); do
            echo "---- brick $i: glusterd log ----"
            tail -n 15 "${VOL_DIR[$i]:-/nonexistent}/log/glusterd.log" 2>/dev/null
        done
        echo "---- FUSE client log ----"
        tail -n 15 "$W/client.log" 2>/dev/null
    fi
    # The FUSE client ends with its mount (cluster_teardown unmounts the disks).
    umount -l "$MNT" 2>/dev/null
    [ -f "$W/hosts" ] && cat "$W/hosts" >/etc/hosts
    rm -rf "$W"
    cluster_teardown "$rc"
}
trap 'teardown $?' EXIT

# step WHAT: the time since the previous step (Gluster under TCG is slow: the budget is 150 s).
step() {
    local now
    now=$(date +%s)
    echo "== $1 (previous step $((now - TS)) s, total $((now - T0)) s)"
    TS=$now
}

# G_AT I ARGS...: the gluster CLI against brick I's glusterd, through the socket on its volume.
G_AT() {
    local i="$1"
    shift
    timeout 60 gluster --mode=script --glusterd-sock="${VOL_DIR[$i]}/glusterd.socket" --log-file="$W/cli.log" "$@"
}
G() { G_AT 1 "$@"; }
# wait_until polls every half second here: a gluster CLI call alone takes seconds under TCG.
WAIT_UNTIL_INTERVAL=0.5

# bricks_online: how many bricks of $VOL `gluster volume status` shows online (its "Online"
# column, second to last).
bricks_online() {
    G volume status "$VOL" 2>/dev/null | awk '$1 == "Brick" && $(NF - 1) == "Y" { n++ } END { print n + 0 }'
}
bricks_online_is() { [ "$(bricks_online)" = "$1" ]; }

# heal_entries: the entries each brick still has to heal, one number per brick ("-" for a brick
# that does not answer), as `gluster volume heal VOL info` shows them: its glfsheal, which the
# CLI starts without the --glusterd-sock it was given, so here directly with the socket.
heal_entries() {
    timeout 60 "$GLFSHEAL" "$VOL" glusterd-sock "${VOL_DIR[1]}/glusterd.socket" 2>/dev/null |
        awk '/^Brick / { if (b) print n; b = 1; n = "-" } /^Number of entries:/ { n = $NF } END { if (b) print n }' |
        tr '\n' ' '
}
healed() { [ "$(heal_entries)" = "0 0 0 " ]; }

# brick_spec N: examples/glusterfs-brick.json for brick N: its own task and volume name.
brick_spec() {
    local s
    s="$(cat "$EXAMPLE")"
    echo "${s//gluster-brick-1/gluster-brick-$1}"
}

# submit_brick N: submit brick N (BRICK_TASK).
submit_brick() {
    local i="$1"
    cluster_submit "$(brick_spec "$i")"
    BRICK_TASK[$i]="$CLUSTER_TASK"
}

# brick_running N: brick N's task RUNNING; BRICK_AGENT (the agent's number), BRICK_ADDR and
# VOL_DIR (its volume's directory, as the agent reports it) of brick N; its glusterd answers
# on the socket in its volume.
brick_running() {
    local n="$1" i aid re='"agent_id":"([^"]+)"' rp='"path":"([^"]+)"'
    cluster_wait_state "${BRICK_TASK[$n]}" RUNNING 60
    [[ "$API_BODY" =~ $re ]] || fail "brick $n: no agent_id: $API_BODY"
    aid="${BASH_REMATCH[1]}"
    BRICK_AGENT[$n]=""
    for ((i = 1; i <= 3; i++)); do [ "${CLUSTER_AGENT_ID[$i]}" = "$aid" ] && BRICK_AGENT[$n]=$i; done
    [ -n "${BRICK_AGENT[$n]}" ] || fail "brick $n on an unknown agent '$aid'"
    i="${BRICK_AGENT[$n]}"
    BRICK_ADDR[$n]="${CLUSTER_AGENT_ADDR[$i]}"
    cluster_agent_api "$i" GET "/api/v1/volumes/gluster-brick-$n"
    [ "$API_STATUS" = 200 ] && [[ "$API_BODY" =~ $rp ]] ||
        fail "volume gluster-brick-$n at agent $i: HTTP $API_STATUS: $API_BODY"
    VOL_DIR[$n]="${BASH_REMATCH[1]}"
    assert_eq "volume gluster-brick-$n on agent $i's disk" "${VOL_DIR[$n]}" \
        "${DISK_DIR[$i]}/silo-volumes/gluster-brick-$n" >/dev/null
    wait_until 60 "glusterd of brick $n answers on ${VOL_DIR[$n]}/glusterd.socket" G_AT "$n" peer status
}

mkdir -p "$MNT"
# Names for the fabric's addresses in the guest's /etc/hosts (the overlay's copy; restored at
# the end), as a real cluster's machines have in DNS or their hosts files: glusterd resolves
# the address of every peer and client, and the guest has no DNS server, so each lookup from
# an agent's namespace (its default route leads nowhere) would wait out the resolver's timeout:
# minutes for this suite.
cp /etc/hosts "$W/hosts"
{
    echo "$CLUSTER_MADDR fabric-master"
    for ((i = 1; i <= 3; i++)); do echo "$CLUSTER_NET.$((10 + i)) fabric$i"; done
} >>/etc/hosts
step "a cluster of three agents, each disk an ext4 with project quotas for the volumes"
CLUSTER_DISK_FS=ext4
cluster_start 3 --calibrate false
for ((i = 1; i <= 3; i++)); do DISK_DIR[$i]="${CLUSTER_DISK_MNT[$i]}"; done
pass "master and three agents up, disks at ${DISK_DIR[*]}"

step "bricks: one glusterd task per agent"
for ((i = 1; i <= 3; i++)); do submit_brick "$i"; done
for ((i = 1; i <= 3; i++)); do brick_running "$i"; done
assert_eq "the bricks' agents (spread: hostname)" "$(printf '%s\n' "${BRICK_AGENT[@]}" | sort -u | wc -l)" 3
pass "three brick tasks RUNNING on agents ${BRICK_AGENT[*]}, each glusterd answering"

step "peer probe, a replica-3 volume"
for ((i = 2; i <= 3; i++)); do
    G peer probe "${BRICK_ADDR[$i]}" || fail "gluster peer probe ${BRICK_ADDR[$i]}"
done
peers_in_cluster() { [ "$(G peer status | grep -c 'State: Peer in Cluster (Connected)')" = 2 ]; }
wait_until 60 "two peers 'in Cluster (Connected)' for brick 1" peers_in_cluster
pass "peers ${BRICK_ADDR[2]} and ${BRICK_ADDR[3]} in the cluster"
G volume create "$VOL" replica 3 "${BRICK_ADDR[1]}:/srv/brick" "${BRICK_ADDR[2]}:/srv/brick" \
    "${BRICK_ADDR[3]}:/srv/brick" || fail "gluster volume create"
G volume start "$VOL" || fail "gluster volume start"
wait_until 60 "3 bricks online" bricks_online_is 3
pass "volume $VOL: replica 3, three bricks online"

step "mount (FUSE) from the root namespace, fio write + verify"
mount -t glusterfs -o log-file="$W/client.log" "${BRICK_ADDR[1]}:/$VOL" "$MNT" || fail "mount -t glusterfs"
# fio writes, then reads back and checks every block's crc32c. --aux-path: whatever state file
# fio still writes (verify state on termination) goes to the suite's directory, never the caller's.
FIO=(fio --aux-path="$W" --directory="$MNT" --rw=write --bs=64k --size=4m --ioengine=psync --verify=crc32c
     --do_verify=1 --verify_fatal=1 --verify_state_save=0 --minimal)
"${FIO[@]}" --name=before >/dev/null || fail "fio before the failure: write or verify failed"
pass "fio wrote 4 MiB through the mount and verified it"
for ((i = 2; i <= 3; i++)); do
    cmp -s "${VOL_DIR[1]}/brick/before.0.0" "${VOL_DIR[$i]}/brick/before.0.0" ||
        fail "before.0.0 differs between brick 1 and brick $i"
done
pass "before.0.0 is identical on the three bricks"

step "brick 2 crashes: every process of its task killed"
cluster_agent_api "${BRICK_AGENT[2]}" GET "/api/v1/tasks/${BRICK_TASK[2]}"
re='"cgroup":"([^"]+)"'
[[ "$API_BODY" =~ $re ]] || fail "brick 2: no cgroup in $API_BODY"
echo 1 >"${BASH_REMATCH[1]}/cgroup.kill"
cluster_wait_state "${BRICK_TASK[2]}" FAILED 30
# The task's own reason is the last "reason" (keys are sorted: "history", whose entries have
# theirs, comes first; nothing after it has one).
re='.*"reason":"([A-Z_]+)"'
[[ "$API_BODY" =~ $re ]] || fail "brick 2: no reason: $API_BODY"
assert_eq "brick 2's task reason at the master" "${BASH_REMATCH[1]}" SIGNALED
wait_until 30 "2 bricks online" bricks_online_is 2
"${FIO[@]}" --name=during >/dev/null || fail "fio with brick 2 down: write or verify failed"
"${FIO[@]}" --name=before --verify_only >/dev/null || fail "fio with brick 2 down: reading back 'before' failed"
pass "with brick 2 down the volume is writable and readable (fio verified)"
e="$(heal_entries)"
[[ "$e" =~ ^[1-9][0-9]*\ -\ [1-9][0-9]*\ $ ]] || fail "heal info with brick 2 down: want entries on bricks 1 and 3, '-' on 2: '$e'"
pass "entries to heal with brick 2 down: $e"

step "a replacement for brick 2: the same spec, so the same volume"
was="${BRICK_AGENT[2]}"
submit_brick 2
brick_running 2
assert_eq "the replacement placed on the volume's agent" "${BRICK_AGENT[2]}" "$was"
wait_until 60 "3 bricks online" bricks_online_is 3
pass "brick 2 back online"
wait_until 90 "heal info: 0 entries on every brick" healed
pass "healed: heal info shows 0 entries on every brick"
cmp -s "${VOL_DIR[1]}/brick/during.0.0" "${VOL_DIR[2]}/brick/during.0.0" ||
    fail "during.0.0 (written while brick 2 was down) differs on brick 2 after the heal"
pass "during.0.0 healed onto brick 2, identical"

step "done"
assert_done
