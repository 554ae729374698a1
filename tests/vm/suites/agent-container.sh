#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "agent-container": a task's confinement as silo-agent sets it up, seen from inside.
#
# A rootfs built here (static busybox + a directory tree) is run with a read-only and a
# read-write volume and pid/uts/mount/ipc/net namespaces; a probe script inside reports what
# it sees, and the suite checks: its init is PID 1 and the command its child, its hostname,
# no host processes, only lo, writes to / land in the sandbox's upper dir (not the image),
# the read-only volume refuses writes, a device not allowed cannot be opened (and can when
# listed), /sys/fs/cgroup is read-only and its own group is its root, no CAP_SYS_ADMIN (in
# effective or bounding set), no_new_privs, rlimits, env, user switch; then zombie reaping
# by the init, `init: false` making the command PID 1, and a pid namespace without a rootfs.
set -euo pipefail

here="$(dirname "$0")"
. "$here/lib.sh"
. "$here/agent-lib.sh"
vm_require_guest
ip link set lo up

ROOTFS=/var/lib/silo/rootfs-test
cleanup() {
    local rc=$?
    set +e
    agent_stop
    if [ "$rc" -ne 0 ]; then
        echo "---- silo-agent log (last 40 lines) ----"
        tail -n 40 "$AGENT_LOG"
    fi
}
trap cleanup EXIT

rootfs_build "$ROOTFS"
majmin="$(vm_dev_majmin /dev/nullb0)"
cat >"$ROOTFS/probe.sh" <<EOF
echo "pid=\$\$"
echo "ppid=\$(cut -d' ' -f4 /proc/\$\$/stat)"
echo "pid1=\$(cat /proc/1/comm)"
echo "hostname=\$(hostname)"
echo "nprocs=\$(ls -d /proc/[0-9]* | wc -l)"
echo "ifaces=\$(awk 'NR > 2 { sub(":", "", \$1); printf "%s ", \$1 }' /proc/net/dev)"
echo "lo=\$(cat /sys/class/net/lo/operstate 2>/dev/null)"
echo written >/rootfs-write && echo "rootfs_write=ok"
echo "image_marker=\$(cat /etc/image-marker)"
echo "ro_read=\$(cat /ro-vol/data)"
if (echo x >/ro-vol/new) 2>/dev/null; then echo ro_write=ok; else echo ro_write=denied; fi
if (echo rw-written >/rw-vol/new) 2>/dev/null; then echo rw_write=ok; else echo rw_write=denied; fi
if mknod /dev/probe b ${majmin%%:*} ${majmin##*:} 2>/tmp/mknod.err; then echo mknod=ok; else echo "mknod=denied \$(head -n1 /tmp/mknod.err)"; fi
if [ -e /host-dev/nullb0 ]; then
    if dd if=/host-dev/nullb0 of=/dev/null bs=512 count=1 2>/tmp/dd.err; then echo dev_open=ok; else echo "dev_open=denied \$(head -n1 /tmp/dd.err)"; fi
fi
if [ -e /dev/nullb0 ]; then
    if dd if=/dev/nullb0 of=/dev/null bs=512 count=1 2>/tmp/dd.err; then echo listed_open=ok; else echo "listed_open=denied \$(head -n1 /tmp/dd.err)"; fi
fi
if (echo 10 >/sys/fs/cgroup/pids.max) 2>/dev/null; then echo cg_write=ok; else echo cg_write=denied; fi
echo "cg_self=\$(cat /proc/self/cgroup)"
echo "cg_pids_max=\$(cat /sys/fs/cgroup/pids.max)"
eff=\$(awk '/^CapEff/ { print \$2 }' /proc/self/status)
bnd=\$(awk '/^CapBnd/ { print \$2 }' /proc/self/status)
echo "sys_admin_eff=\$(( (0x\$eff >> 21) & 1 ))"
echo "sys_admin_bnd=\$(( (0x\$bnd >> 21) & 1 ))"
echo "net_bind_bnd=\$(( (0x\$bnd >> 10) & 1 ))"
echo "net_admin_bnd=\$(( (0x\$bnd >> 12) & 1 ))"
echo "cap_eff=\$eff"
echo "nnp=\$(awk '/^NoNewPrivs/ { print \$2 }' /proc/self/status)"
echo "hosts_name=\$(grep -c box-host /etc/hosts)"
echo "resolv=\$(test -f /etc/resolv.conf && echo present)"
echo "nofile=\$(ulimit -n)"
echo "uid=\$(id -u)"
echo "foo=\$FOO"
echo "cwd=\$(pwd)"
EOF
mkdir -p /tmp/vol-ro /tmp/vol-rw
echo "ro-data" >/tmp/vol-ro/data

agent_start --kill-grace-s 2 --calibrate=false

probe() { # probe ID KEY -> value from the task's stdout
    api_expect 200 GET "/api/v1/tasks/$1/logs"
    awk -F= -v k="$2" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' <<<"$API_BODY"
}

echo "== rootfs, volumes, namespaces"
api_expect 201 POST /api/v1/tasks "{\"id\":\"box\",\"name\":\"box\",\"command\":[\"/bin/sh\",\"/probe.sh\"],
  \"env\":{\"FOO\":\"bar\"},\"rlimits\":{\"nofile\":1234},\"resources\":{\"pids\":64},
  \"container\":{\"rootfs\":\"$ROOTFS\",\"namespaces\":[\"pid\",\"uts\",\"mount\",\"ipc\",\"net\"],
    \"hostname\":\"box-host\",
    \"volumes\":[{\"source\":\"/tmp/vol-ro\",\"target\":\"/ro-vol\",\"readonly\":true},
                 {\"source\":\"/tmp/vol-rw\",\"target\":\"/rw-vol\"},
                 {\"source\":\"/dev/nullb0\",\"target\":\"/host-dev/nullb0\"}]}}"
wait_state box FINISHED 60
api_expect 200 GET /api/v1/tasks/box/logs
echo "$API_BODY" | sed 's/^/  task: /'
assert_eq "PID 1 is the init" "$(probe box pid1)" silo-init
assert_eq "command is the init's child (pid)" "$(probe box pid)" 2
assert_eq "command's parent is PID 1" "$(probe box ppid)" 1
assert_eq "hostname" "$(probe box hostname)" box-host
n="$(probe box nprocs)"
[ "$n" -le 6 ] || fail "the task sees $n processes (host processes visible?)"
pass "the task sees $n processes (the host has $(ls -d /proc/[0-9]* | wc -l))"
assert_eq "network interfaces" "$(probe box ifaces)" "lo "
assert_eq "lo is up" "$(probe box lo | grep -Ec '^(up|unknown)$')" 1
assert_eq "write to /" "$(probe box rootfs_write)" ok
sb="$(task_field box sandbox)"
assert_eq "the write landed in the sandbox's upper dir" "$(cat "$sb/upper/rootfs-write")" written
[ ! -e "$ROOTFS/rootfs-write" ] || fail "the write reached the image $ROOTFS"
pass "the image is untouched"
assert_eq "image visible" "$(probe box image_marker)" image
assert_eq "read-only volume readable" "$(probe box ro_read)" ro-data
assert_eq "read-only volume refuses writes" "$(probe box ro_write)" denied
[ ! -e /tmp/vol-ro/new ] || fail "a file appeared in the read-only volume's source"
assert_eq "read-write volume" "$(probe box rw_write)" ok
assert_eq "read-write volume write on the host" "$(cat /tmp/vol-rw/new)" rw-written
echo "info: mknod of /dev/nullb0's numbers inside: $(probe box mknod)"
# The host's node bind-mounted in: only the device allow-list stands between the task and it.
dev="$(probe box dev_open)"
grep -q '^denied.*Operation not permitted' <<<"$dev" || fail "not-allowed /dev/nullb0 opened: $dev"
pass "opening a device not allowed: $dev"
assert_eq "an unlisted device gets no node in /dev" "$(probe box listed_open)" ""
assert_eq "/sys/fs/cgroup is read-only" "$(probe box cg_write)" denied
assert_eq "the task's cgroup is its cgroup namespace root" "$(probe box cg_self)" "0::/"
assert_eq "its own limits are visible" "$(probe box cg_pids_max)" 64
assert_eq "CAP_SYS_ADMIN effective" "$(probe box sys_admin_eff)" 0
assert_eq "CAP_SYS_ADMIN in the bounding set" "$(probe box sys_admin_bnd)" 0
assert_eq "CAP_NET_BIND_SERVICE in the bounding set (Docker default)" "$(probe box net_bind_bnd)" 1
assert_eq "CAP_NET_ADMIN in the bounding set" "$(probe box net_admin_bnd)" 0
assert_eq "no_new_privs" "$(probe box nnp)" 1
assert_eq "/etc/hosts names the task" "$(probe box hosts_name)" 1
assert_eq "/etc/resolv.conf" "$(probe box resolv)" present
assert_eq "rlimit nofile" "$(probe box nofile)" 1234
assert_eq "env" "$(probe box foo)" bar
assert_eq "uid" "$(probe box uid)" 0
assert_eq "cwd" "$(probe box cwd)" /

echo "== allowed device, added capability, user switch"
api_expect 201 POST /api/v1/tasks "{\"id\":\"box2\",\"name\":\"box2\",\"command\":[\"/bin/sh\",\"/probe.sh\"],
  \"capabilities\":[\"CAP_NET_ADMIN\"],
  \"container\":{\"rootfs\":\"$ROOTFS\",\"namespaces\":[\"pid\",\"mount\"],\"devices\":[\"/dev/nullb0\"]}}"
wait_state box2 FINISHED 60
assert_eq "a listed device has its node and opens" "$(probe box2 listed_open)" ok
assert_eq "capabilities adds CAP_NET_ADMIN to the bounding set" "$(probe box2 net_admin_bnd)" 1
assert_eq "... and still no CAP_SYS_ADMIN" "$(probe box2 sys_admin_bnd)" 0
assert_eq "without a uts namespace the name is the host's" "$(probe box2 hostname)" "$(hostname)"
api_expect 201 POST /api/v1/tasks "{\"id\":\"box3\",\"name\":\"box3\",\"user\":\"nobody\",\"command\":[\"/bin/sh\",\"/probe.sh\"],
  \"container\":{\"rootfs\":\"$ROOTFS\",\"namespaces\":[\"pid\",\"mount\"]}}"
wait_state box3 FINISHED 60
assert_eq "user nobody (from the image's /etc/passwd)" "$(probe box3 uid)" 65534
assert_eq "a non-root user has no effective capabilities" "$(probe box3 cap_eff)" 0000000000000000

echo "== zombies and PID 1"
api_expect 201 POST /api/v1/tasks "{\"id\":\"zombie\",\"name\":\"zombie\",\"command\":[\"/bin/sh\",\"-c\",
  \"(sleep 1 & echo \$! >/tmp/orphan); sleep 0.3; o=\$(cat /tmp/orphan); echo orphan_ppid=\$(cut -d' ' -f4 /proc/\$o/stat); sleep 3; echo zombies=\$(cat /proc/[0-9]*/stat | awk '\$3 == \\\"Z\\\"' | wc -l)\"],
  \"container\":{\"rootfs\":\"$ROOTFS\",\"namespaces\":[\"pid\",\"mount\"]}}"
wait_state zombie FINISHED 60
assert_eq "the orphan was re-parented to the init" "$(probe zombie orphan_ppid)" 1
assert_eq "zombies left after the orphan exited" "$(probe zombie zombies)" 0
api_expect 201 POST /api/v1/tasks "{\"id\":\"noinit\",\"name\":\"noinit\",\"init\":false,\"command\":[\"/bin/sh\",\"-c\",\"echo pid=\$\$; echo pid1=\$(cat /proc/1/comm)\"],
  \"container\":{\"rootfs\":\"$ROOTFS\",\"namespaces\":[\"pid\",\"mount\"]}}"
wait_state noinit FINISHED 60
assert_eq "init: false makes the command PID 1" "$(probe noinit pid)" 1
assert_eq "... with no init" "$(probe noinit pid1)" sh

echo "== pid namespace without a rootfs"
api_expect 201 POST /api/v1/tasks '{"id":"hostroot","name":"hostroot","command":["/bin/sh","-c",
  "echo nprocs=$(ls -d /proc/[0-9]* | wc -l); echo cg_self=$(cat /proc/self/cgroup); echo cwd=$(pwd); if (echo 1 >/sys/fs/cgroup/pids.max) 2>/dev/null; then echo cg_write=ok; else echo cg_write=denied; fi"],
  "container":{"namespaces":["pid","mount"]}}'
wait_state hostroot FINISHED 60
n="$(probe hostroot nprocs)"
[ "$n" -le 6 ] || fail "pid namespace on the host root sees $n processes"
pass "pid namespace on the host root sees $n processes"
assert_eq "cgroup namespace root" "$(probe hostroot cg_self)" "0::/"
assert_eq "cgroupfs read-only" "$(probe hostroot cg_write)" denied
assert_eq "working directory is the sandbox" "$(probe hostroot cwd)" "$AGENT_STATE/sandboxes/hostroot"

echo "== a launch that fails inside the shim"
api_expect 201 POST /api/v1/tasks '{"id":"noexec","name":"noexec","command":["/no/such/binary"]}'
wait_state noexec FAILED 30
assert_eq "reason" "$(task_field noexec reason)" LAUNCH_FAILED
msg="$(task_field noexec message)"
grep -q '/no/such/binary' <<<"$msg" || fail "launch failure message does not name the command: $msg"
pass "$msg"
assert_eq "no task cgroup left" "$(ls -d /sys/fs/cgroup/silo/tasks/*/ 2>/dev/null | wc -l)" 0
assert_done
