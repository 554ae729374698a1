#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "agent-hostile": hostile images and specs from a token holder must not touch the host
# or another task (issue 12, findings 1-4).
#
# - Rootfs images whose /etc, /etc/hosts, /etc/resolv.conf, mount points (/dev, /proc, /sys)
#   and volume-target parents are symlinks to host paths, absolute and relative: the host's
#   files keep their inode and content and no host path appears; the task either runs with
#   everything created inside its image or fails with a message that names the path.
# - A read-only volume of a tree with a submount: read-only all the way down.
# - Volumes of "/", /proc, /sys, /dev, the agent's state directory, and a rootfs of "/" are
#   refused with 400 naming the field, creating nothing.
# - Tasks without a container section, or listing only uts/ipc/net: they still get mount, pid
#   and cgroup namespaces; they cannot write a sibling's memory.max, see the agent's process
#   or state (token), write the host's tree, /proc/sys or /proc/sysrq-trigger; their /tmp is
#   private and their sandbox writable.
set -euo pipefail

here="$(dirname "$0")"
. "$here/lib.sh"
. "$here/agent-lib.sh"
vm_require_guest
ip link set lo up
# SILO_TEST_KEEP_GOING=1 reports every failing check instead of stopping at the first one (to see
# which findings an older build still has); the suite still exits 1 (tests/lib/assert.sh).

IMAGES=/var/lib/silo/hostile-images
ROTREE=/var/lib/silo/rotree
cleanup() {
    local rc=$?
    set +e
    agent_teardown "$rc" 40
    umount "$ROTREE/sub" 2>/dev/null
    [ -n "${PTY_PID:-}" ] && kill "$PTY_PID" 2>/dev/null
    [ -n "${SHM_ID:-}" ] && ipcrm -m "$SHM_ID" 2>/dev/null
    rm -f /run/silo-hostile.fifo /run/silo-hostile.pts
    rm -rf "$AGENT_STATE" "$IMAGES" "$ROTREE" /tmp/hostile-src /tmp/hostile-file /tmp/ro-target /tmp/hostile-hosts \
        /var/lib/silo/hostile-probe.sh
}
trap cleanup EXIT

# What must never change on the host: inode and content of these files, and no new paths.
WATCHED=(/etc/hosts /etc/resolv.conf /etc/passwd /etc/hostname)
NEVER=(/etc/silo-probe-dir /etc/nologin /etc/silo-probe-file /tmp/hostile-dev /tmp/hostile-proc
       /tmp/hostile-sys /tmp/hostile-etc /tmp/host-tmp-write /etc/silo-hostroot-write)
for f in "${WATCHED[@]}"; do [ -e "$f" ] || echo "$(basename "$f") of the guest" >"$f"; done
host_state() {
    for f in "${WATCHED[@]}"; do
        echo "$f $(stat -c '%i %s' "$f") $(md5sum <"$f" | cut -d' ' -f1)"
    done
    for p in "${NEVER[@]}"; do [ -e "$p" ] || [ -L "$p" ] && echo "EXISTS $p"; done
    true
}
BEFORE="$(host_state)"
assert_host_unchanged() {
    local now
    now="$(host_state)"
    if [ "$now" != "$BEFORE" ]; then
        fail "$1: the host changed:
--- before
$BEFORE
--- after
$now"
        BEFORE="$now"
        return
    fi
    pass "$1: host files unchanged (${#WATCHED[@]} inodes and contents, ${#NEVER[@]} paths absent)"
}

probe() { # probe ID KEY -> value from the task's stdout
    api_expect 200 GET "/api/v1/tasks/$1/logs"
    awk -F= -v k="$2" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' <<<"$API_BODY"
}

# wait_end ID [SEC]: prints the terminal state
wait_end() {
    local id="$1" secs="${2:-60}" state=""
    for _ in $(seq $((secs * 10))); do
        api GET "/api/v1/tasks/$id"
        state="$(json_get "$API_BODY" state)"
        case "$state" in
            FINISHED|FAILED|KILLED|LOST) echo "$state"; return 0 ;;
        esac
        sleep 0.1
    done
    fail "task $id still $state after ${secs}s"
}

image() { # image NAME: a fresh busybox rootfs
    local d="$IMAGES/$1"
    rm -rf "$d"
    rootfs_build "$d"
    echo "$d"
}

agent_start --kill-grace-s 2 --calibrate=false

echo "== hostile images: symlinks to the host's paths"
# A task must either run with everything inside its image, or fail naming the path.
run_image() { # run_image ID DIR [VOLUMES_JSON] -> prints the terminal state
    local id="$1" dir="$2" vols="${3:-[]}"
    api_expect 201 POST /api/v1/tasks "{\"id\":\"$id\",\"name\":\"$id\",
      \"command\":[\"/bin/sh\",\"-c\",\"echo hosts=\$(cat /etc/hosts | head -c 200 | tr '\\\\n' ' '); ls -la /data/ 2>&1 | head -5\"],
      \"container\":{\"rootfs\":\"$dir\",\"namespaces\":[\"pid\",\"mount\",\"uts\"],\"volumes\":$vols}}"
    wait_end "$id"
}

d="$(image etc-abs)"; rm -rf "$d/etc"; ln -s /etc "$d/etc"
st="$(run_image etc-abs "$d")"
msg="$(json_get "$("$VM_HTTP" -sS -H "Authorization: Bearer $TOKEN" "$AGENT_URL/api/v1/tasks/etc-abs")" message)"
echo "   /etc -> /etc: $st ${msg}"
if [ "$st" = FAILED ]; then grep -q '/etc' <<<"$msg" || fail "failure does not name /etc: $msg"; fi
assert_host_unchanged "image with /etc -> /etc (absolute)"

d="$(image etc-rel)"; rm -rf "$d/etc"; ln -s ../../../../../../../../etc "$d/etc"
st="$(run_image etc-rel "$d")"
echo "   /etc -> ../../../../etc: $st $(json_get "$("$VM_HTTP" -sS -H "Authorization: Bearer $TOKEN" "$AGENT_URL/api/v1/tasks/etc-rel")" message)"
assert_host_unchanged "image with /etc -> ../../../../etc (relative)"

d="$(image etc-files)"
ln -s /etc/hosts "$d/etc/hosts"; ln -s ../../../../../etc/resolv.conf "$d/etc/resolv.conf"
st="$(run_image etc-files "$d")"
assert_eq "image with /etc/hosts -> host's /etc/hosts runs" "$st" FINISHED
grep -q "etc-files" <<<"$(probe etc-files hosts)" ||
    fail "the task's /etc/hosts is not the agent's: $(probe etc-files hosts)"
pass "the task sees the agent's /etc/hosts, not the host's: $(probe etc-files hosts | head -c 80)"
assert_host_unchanged "image with /etc/hosts and /etc/resolv.conf symlinked to the host's"

d="$(image mountpoints)"
rm -rf "$d/dev" "$d/proc" "$d/sys"
ln -s /tmp/hostile-dev "$d/dev"; ln -s ../../../../tmp/hostile-proc "$d/proc"; ln -s /tmp/hostile-sys "$d/sys"
st="$(run_image mountpoints "$d")"
echo "   /dev, /proc, /sys -> host paths: $st $(json_get "$("$VM_HTTP" -sS -H "Authorization: Bearer $TOKEN" "$AGENT_URL/api/v1/tasks/mountpoints")" message)"
assert_host_unchanged "image with /dev, /proc and /sys symlinked to host paths"

mkdir -p /tmp/hostile-src; echo source >/tmp/hostile-src/f; echo file-source >/tmp/hostile-file
d="$(image voltarget)"
ln -s /etc "$d/data"; ln -s ../../../../etc "$d/data-rel"
st="$(run_image voltarget "$d" '[{"source":"/tmp/hostile-src","target":"/data/silo-probe-dir"},
                                {"source":"/tmp/hostile-file","target":"/data-rel/nologin"},
                                {"source":"/tmp/hostile-file","target":"/data/silo-probe-file"}]')"
echo "   volume targets through /data -> /etc: $st"
if [ "$st" = FINISHED ]; then
    # The targets were created inside the image's own tree (its upper dir), not on the host.
    [ -e "$AGENT_STATE/sandboxes/voltarget/upper/etc/silo-probe-dir" ] ||
        fail "volume target through an image symlink was not created inside the image"
    pass "volume targets through image symlinks were created in the image's upper dir"
fi
assert_host_unchanged "volume targets through symlinks to the host's /etc"

echo "== a volume over the image's /etc/hosts"
echo "volume-hosts" >/tmp/hostile-hosts
d="$(image etchosts-vol)"
api_expect 201 POST /api/v1/tasks "{\"id\":\"etchosts-vol\",\"name\":\"etchosts-vol\",\"command\":[\"/bin/sh\",\"-c\",\"echo hosts=\$(cat /etc/hosts)\"],
  \"container\":{\"rootfs\":\"$d\",\"volumes\":[{\"source\":\"/tmp/hostile-hosts\",\"target\":\"/etc/hosts\",\"readonly\":true}]}}"
assert_eq "rootfs task with a volume on /etc/hosts" "$(wait_end etchosts-vol)" FINISHED
assert_eq "the volume wins over the agent's /etc/hosts" "$(probe etchosts-vol hosts)" volume-hosts
assert_host_unchanged "a volume over the image's /etc/hosts"

echo "== read-only volume of a tree with a submount"
mkdir -p "$ROTREE/sub"; echo top >"$ROTREE/top"
mount -t tmpfs -o size=1m tmpfs "$ROTREE/sub"; echo sub >"$ROTREE/sub/data"
d="$(image rovol)"
api_expect 201 POST /api/v1/tasks "{\"id\":\"rovol\",\"name\":\"rovol\",\"command\":[\"/bin/sh\",\"-c\",
  \"cat /ro/sub/data; if (echo x >/ro/sub/new) 2>/dev/null; then echo sub_write=ok; else echo sub_write=denied; fi; if (echo x >/ro/new) 2>/dev/null; then echo top_write=ok; else echo top_write=denied; fi\"],
  \"container\":{\"rootfs\":\"$d\",\"volumes\":[{\"source\":\"$ROTREE\",\"target\":\"/ro\",\"readonly\":true}]}}"
assert_eq "rootfs task with a read-only volume" "$(wait_end rovol)" FINISHED
assert_eq "read-only volume: write to its submount" "$(probe rovol sub_write)" denied
assert_eq "read-only volume: write to its top" "$(probe rovol top_write)" denied
mkdir -p /tmp/ro-target
api_expect 201 POST /api/v1/tasks "{\"id\":\"rovol-host\",\"name\":\"rovol-host\",\"command\":[\"/bin/sh\",\"-c\",
  \"if (echo x >/tmp/ro-target/sub/new) 2>/dev/null; then echo sub_write=ok; else echo sub_write=denied; fi\"],
  \"container\":{\"volumes\":[{\"source\":\"$ROTREE\",\"target\":\"/tmp/ro-target\",\"readonly\":true}]}}"
assert_eq "host-root task with a read-only volume" "$(wait_end rovol-host)" FINISHED
assert_eq "read-only volume without a rootfs: write to its submount" "$(probe rovol-host sub_write)" denied
[ ! -e "$ROTREE/sub/new" ] && [ ! -e "$ROTREE/new" ] || fail "a file appeared in the read-only tree"
pass "nothing was written into $ROTREE"

echo "== volumes and images that would hand over the host"
snapshot() {
    echo "tasks=$(ls "$AGENT_STATE/tasks" | sort | tr '\n' ' ')"
    echo "sandboxes=$(ls "$AGENT_STATE/sandboxes" | sort | tr '\n' ' ')"
    echo "cgroups=$(ls -d /sys/fs/cgroup/silo/tasks/*/ 2>/dev/null | sort | tr '\n' ' ')"
}
before="$(snapshot)"
refused() { # refused FIELD SPEC-PART
    api POST /api/v1/tasks "{\"name\":\"refused\",\"command\":[\"/bin/true\"],$2}"
    [ "$API_STATUS" = 400 ] || fail "$1: HTTP $API_STATUS, want 400: $API_BODY"
    local msg; msg="$(json_get "$API_BODY" error.message)"
    grep -qF -- "$1" <<<"$msg" || fail "error does not name $1: $msg"
    pass "400 $msg"
}
refused "container.volumes[0].source" '"container":{"volumes":[{"source":"/","target":"/tmp/x"}]}'
refused "container.volumes[0].source" '"container":{"volumes":[{"source":"/proc","target":"/tmp/x"}]}'
refused "container.volumes[0].source" '"container":{"volumes":[{"source":"/sys/fs/cgroup","target":"/tmp/x"}]}'
refused "container.volumes[0].target" '"container":{"volumes":[{"source":"/tmp/hostile-src","target":"/dev/shm"}]}'
refused "container.volumes[0].source" "\"container\":{\"volumes\":[{\"source\":\"$AGENT_STATE\",\"target\":\"/tmp/x\"}]}"
refused "container.volumes[0].source" '"container":{"volumes":[{"source":"/var/lib/silo","target":"/tmp/x"}]}'
refused "container.volumes[0].target" '"container":{"volumes":[{"source":"/tmp/hostile-src","target":"/sys/fs/cgroup"}]}'
refused "container.volumes[0].target" "\"container\":{\"rootfs\":\"$IMAGES/rovol\",\"volumes\":[{\"source\":\"/tmp/hostile-src\",\"target\":\"/proc/sys\"}]}"
refused "container.rootfs" '"container":{"rootfs":"/"}'
assert_eq "refused specs created nothing" "$(snapshot)" "$before"
assert_host_unchanged "refused specs"

echo "== tasks that did not ask for mount or pid namespaces"
api_expect 201 POST /api/v1/tasks '{"id":"victim","name":"victim","command":["/bin/sleep","600"],"resources":{"mem":"64Mi"}}'
wait_state victim RUNNING 30
victim_max="$(cat /sys/fs/cgroup/silo/tasks/victim/memory.max)"
# Things of the host a task must not reach: a FIFO in /run (as /run/initctl is), a terminal
# in /dev/pts (an operator's ssh session), a SysV shared memory segment.
mkfifo /run/silo-hostile.fifo
python3 -c 'import os, pty, time; m, s = pty.openpty(); open("/run/silo-hostile.pts", "w").write(os.ttyname(s)); time.sleep(600)' &
PTY_PID=$!
for _ in $(seq 50); do [ -s /run/silo-hostile.pts ] && break; sleep 0.1; done
HOST_PTS="$(cat /run/silo-hostile.pts)"
[ -e "$HOST_PTS" ] || fail "no host terminal to probe ($HOST_PTS)"
SHM_ID="$(ipcmk -M 4096 | awk '{print $NF}')"
cat >/var/lib/silo/hostile-probe.sh <<EOF
echo "nprocs=\$(ls -d /proc/[0-9]* | wc -l)"
if kill -0 $AGENT_PID 2>/dev/null; then echo agent_visible=yes; else echo agent_visible=no; fi
if (echo 4096 >/sys/fs/cgroup/silo/tasks/victim/memory.max) 2>/dev/null; then echo sibling_write=ok; else echo sibling_write=denied; fi
if [ -e /sys/fs/cgroup/silo ]; then echo sees_hierarchy=yes; else echo sees_hierarchy=no; fi
if (echo 1 >/sys/fs/cgroup/pids.max) 2>/dev/null; then echo own_cg_write=ok; else echo own_cg_write=denied; fi
if cat "$AGENT_STATE/token" >/dev/null 2>&1; then echo token=readable; else echo token=hidden; fi
echo "tasks_listed=\$(ls "$AGENT_STATE/tasks" 2>/dev/null | wc -l)"
if (echo x >/etc/silo-hostroot-write) 2>/dev/null; then echo host_write=ok; else echo host_write=denied; fi
if (exec 3>>/proc/sys/kernel/core_pattern) 2>/dev/null; then echo proc_sys_write=ok; else echo proc_sys_write=denied; fi
if (exec 3>>/proc/sysrq-trigger) 2>/dev/null; then echo sysrq_write=ok; else echo sysrq_write=denied; fi
if (echo change >/sys/kernel/uevent_helper) 2>/dev/null; then echo sysfs_write=ok; else echo sysfs_write=denied; fi
if (echo x >/tmp/host-tmp-write) 2>/dev/null; then echo tmp_write=ok; else echo tmp_write=denied; fi
if (echo sandbox-data >./out) 2>/dev/null; then echo sandbox_write=ok; else echo sandbox_write=denied; fi
if dd if=/dev/zero of=/dev/nullb0 bs=4k count=1 oflag=direct 2>/dev/null; then echo dev_write=ok; else echo dev_write=denied; fi
echo "nofile=\$(ulimit -n)"
if [ -e /run/silo-hostile.fifo ]; then echo run_fifo=visible; else echo run_fifo=hidden; fi
if [ -e $HOST_PTS ]; then echo host_pts=visible; else echo host_pts=hidden; fi
if ipcs -m | awk -v id=$SHM_ID '\$2 == id' | grep -q .; then echo host_shm=visible; else echo host_shm=hidden; fi
EOF
for variant in plain utsipcnet; do
    case $variant in
        plain) c='' ;;
        utsipcnet) c=',"container":{"namespaces":["uts","ipc","net"]}' ;;
    esac
    id="nomnt-$variant"
    api_expect 201 POST /api/v1/tasks "{\"id\":\"$id\",\"name\":\"$id\",\"command\":[\"/bin/sh\",\"/var/lib/silo/hostile-probe.sh\"]$c}"
    assert_eq "$variant: task ran" "$(wait_end "$id")" FINISHED
    n="$(probe "$id" nprocs)"
    [ "$n" -le 8 ] || fail "$variant: the task sees $n processes (no pid namespace?)"
    pass "$variant: own pid namespace ($n processes visible)"
    assert_eq "$variant: agent process visible" "$(probe "$id" agent_visible)" no
    assert_eq "$variant: sibling's memory.max write" "$(probe "$id" sibling_write)" denied
    assert_eq "$variant: sees the silo hierarchy" "$(probe "$id" sees_hierarchy)" no
    assert_eq "$variant: own cgroup write" "$(probe "$id" own_cg_write)" denied
    assert_eq "$variant: agent token" "$(probe "$id" token)" hidden
    assert_eq "$variant: agent's task list" "$(probe "$id" tasks_listed)" 0
    assert_eq "$variant: write to the host's /etc" "$(probe "$id" host_write)" denied
    assert_eq "$variant: open /proc/sys/kernel/core_pattern for writing" "$(probe "$id" proc_sys_write)" denied
    assert_eq "$variant: open /proc/sysrq-trigger for writing" "$(probe "$id" sysrq_write)" denied
    assert_eq "$variant: write to /sys" "$(probe "$id" sysfs_write)" denied
    assert_eq "$variant: private /tmp is writable" "$(probe "$id" tmp_write)" ok
    assert_eq "$variant: sandbox is writable" "$(probe "$id" sandbox_write)" ok
    assert_eq "$variant: sandbox write reached the sandbox" "$(cat "$AGENT_STATE/sandboxes/$id/out")" sandbox-data
    assert_eq "$variant: devices still deny unlisted ones" "$(probe "$id" dev_write)" denied
    assert_eq "$variant: default soft open-file limit (not the agent's raised one)" "$(probe "$id" nofile)" 1024
    assert_eq "$variant: the host's /run (sockets, FIFOs)" "$(probe "$id" run_fifo)" hidden
    assert_eq "$variant: the host's terminals in /dev/pts" "$(probe "$id" host_pts)" hidden
    assert_eq "$variant: the host's SysV shared memory" "$(probe "$id" host_shm)" hidden
done
echo "== a name that is not a hostname does not stop a uts namespace"
api_expect 201 POST /api/v1/tasks '{"id":"uts-default","name":"under_score","command":["/bin/sh","-c","echo host=$(hostname)"],"container":{"namespaces":["uts"]}}'
assert_eq "task named under_score with a uts namespace" "$(wait_end uts-default)" FINISHED
assert_eq "its hostname falls back to its id" "$(probe uts-default host)" uts-default

assert_eq "victim's memory.max unchanged" "$(cat /sys/fs/cgroup/silo/tasks/victim/memory.max)" "$victim_max"
assert_eq "victim still running" "$(json_get "$("$VM_HTTP" -sS -H "Authorization: Bearer $TOKEN" "$AGENT_URL/api/v1/tasks/victim")" state)" RUNNING
kill -0 "$AGENT_PID" || fail "the agent is gone"
assert_host_unchanged "tasks without mount or pid namespaces"
assert_done
