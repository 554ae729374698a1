#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The quick-start demo: a local Silo cluster (one master, one agent) running an isolated storage
# task, shown with siloctl. Installs what is missing and builds first; on a host without cgroup v2
# controllers it runs the cluster inside the test VM (Debian's 6.1 kernel under qemu).
#
# Usage: scripts/demo.sh            (as root, from a checkout)
#        scripts/demo.sh --inside   (the cluster part only; what runs in the VM)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SILO_BUILD_DIR:-$ROOT/build}"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (the agent creates cgroups; the VM harness needs root)"

if [ "${1:-}" != --inside ]; then
    say "Installing missing Debian packages"
    "$ROOT/scripts/install-deps.sh"
    say "Building in $BUILD"
    [ -d "$BUILD/meson-private" ] || meson setup "$BUILD" "$ROOT" >/dev/null
    ninja -C "$BUILD" | tail -n 1
    controllers="$(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null || true)"
    if [[ " $controllers " != *" io "* || " $controllers " != *" memory "* ]]; then
        say "This host has no cgroup v2 io/memory controllers (a hybrid/v1 host): Silo will not run"
        note "tasks without isolation, so the demo runs in a VM with Debian's 6.1 kernel instead"
        note "(tests/vm/run-vm.sh: qemu, TCG; a minute or two)."
        SILO_BUILD_DIR="$BUILD" exec "$ROOT/tests/vm/run-vm.sh" --timeout 600 -- "$ROOT/scripts/demo.sh" --inside
    fi
    exec "$0" --inside
fi

# ---- the cluster ----

MASTER_BIN="$BUILD/master/silo-master"
AGENT_BIN="$BUILD/agent/silo-agent"
SILOCTL="$BUILD/cli/siloctl"
SILO_IO="$BUILD/io/silo-io"
for b in "$MASTER_BIN" "$AGENT_BIN" "$SILOCTL" "$SILO_IO"; do
    [ -x "$b" ] || die "$b is not built (run scripts/demo.sh without --inside)"
done

WORK="$(mktemp -d /tmp/silo-demo.XXXXXX)"
MASTER_URL=http://127.0.0.1:5050
AGENT_URL=http://127.0.0.1:5051
MPID=""
APID=""
LOOP=""
IMG=""

cleanup() {
    local rc=$?
    say "Cleaning up"
    # Stopping the agent never stops its tasks: kill what is left through the master first.
    if [ -n "$APID" ] && [ -n "${TASK:-}" ]; then
        "$SILOCTL" --master "$MASTER_URL" --token-file "$WORK/master/token" kill "$TASK" >/dev/null 2>&1 || true
        sleep 1
    fi
    for p in $APID $MPID; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ -n "$LOOP" ]; then
        losetup -d "$LOOP" 2>/dev/null || true
        note "detached $LOOP"
    fi
    [ -n "$IMG" ] && rm -f "$IMG"
    if [ "$rc" -ne 0 ]; then
        echo "---- master log ----"; tail -n 20 "$WORK/master.log" 2>/dev/null || true
        echo "---- agent log ----"; tail -n 30 "$WORK/agent.log" 2>/dev/null || true
    fi
    rm -rf "$WORK"
    note "stopped silo-master and silo-agent, removed $WORK"
    exit "$rc"
}
trap cleanup EXIT INT TERM

wait_http() {
    for _ in $(seq 300); do
        curl -fsS "$1/health" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited at startup (log: $4)"
        sleep 0.1
    done
    die "$3 did not answer $1/health within 30 s"
}

ctl() { "$SILOCTL" --master "$MASTER_URL" --token-file "$WORK/master/token" "$@"; }
actl() { "$SILOCTL" --agent "$AGENT_URL" --token-file "$WORK/master/token" "$@"; }
show() { printf '\n\033[36m$ siloctl %s\033[0m\n' "$*"; }

# The VM's loopback starts down.
ip link set lo up 2>/dev/null || true

say "A disk for the storage task"
if [ -b /dev/nullb0 ]; then
    DISK=nullb0
    note "using /dev/nullb0 (null_blk, loaded by the VM harness)"
else
    IMG=/dev/shm/silo-demo.img
    truncate -s 512M "$IMG"
    LOOP="$(losetup -f --show --direct-io=on "$IMG")"
    DISK="$(basename "$LOOP")"
    note "using $LOOP, a loop device over $IMG (RAM)"
fi

say "Starting silo-master on $MASTER_URL (state in $WORK/master)"
"$MASTER_BIN" --listen 127.0.0.1:5050 --state-dir "$WORK/master" --heartbeat-interval-ms 1000 \
    >"$WORK/master.log" 2>&1 &
MPID=$!
wait_http "$MASTER_URL" "$MPID" silo-master "$WORK/master.log"
note "it generated the cluster token $WORK/master/token (mode $(stat -c %a "$WORK/master/token"))"

say "Starting silo-agent on $AGENT_URL, offering $DISK, registering with the master"
"$AGENT_BIN" --listen 127.0.0.1:5051 --state-dir "$WORK/agent" --token-file "$WORK/master/token" \
    --master "$MASTER_URL" --disk "$DISK" --calibrate-seconds 1 --calibrate-write "$DISK" \
    --hostname demo-node --attribute rack=r1 >"$WORK/agent.log" 2>&1 &
APID=$!
wait_http "$AGENT_URL" "$APID" silo-agent "$WORK/agent.log"
note "first start: the agent calibrates $DISK with io_uring (reads and, as allowed here, writes)"
for _ in $(seq 600); do
    [ -s "$WORK/agent/calibration.json" ] && break
    sleep 0.1
done
[ -s "$WORK/agent/calibration.json" ] || die "calibration did not finish (log: $WORK/agent.log)"
for _ in $(seq 100); do
    w="$(curl -fsS -H "Authorization: Bearer $(cat "$WORK/master/token")" "$MASTER_URL/api/v1/agents" |
        jq -r '.agents[0].resources.disks[0].write_bps // 0' 2>/dev/null || echo 0)"
    [ "${w:-0}" -gt 0 ] && break
    sleep 0.1
done

show agents
ctl agents
show devices
actl devices

# The storage job: 400 MiB of direct 1 MiB writes, 21 s at the limit (long enough for inspect,
# two io.stat samples and top while it runs). SILO_DEMO_WORKLOAD=silo-io
# runs the io_uring engine instead (it needs to retry the EAGAIN that io.max throttling gives
# its non-blocking submissions; see the lead's notes).
if [ "${SILO_DEMO_WORKLOAD:-dd}" = silo-io ]; then
    cmd="\"$SILO_IO\", \"--filename\", \"/dev/$DISK\", \"--rw\", \"write\", \"--bs\", \"1m\", \"--iodepth\", \"8\", \"--direct\", \"1\", \"--runtime\", \"20\", \"--allow-write-device\""
else
    cmd="\"/bin/dd\", \"if=/dev/zero\", \"of=/dev/$DISK\", \"bs=1M\", \"count=400\", \"oflag=direct\""
fi
say "Submitting a storage task to the master: a direct write to $DISK, limited to wbps 20M"
cat >"$WORK/task.json" <<EOF
{
  "name": "burn-in-$DISK",
  "role": "storage",
  "command": [$cmd],
  "resources": {"cpus": 1, "mem": "256Mi", "pids": 64,
                "io": [{"disk": "$DISK", "wbps": "20M"}]},
  "rlimits": {"memlock": "64Mi"},
  "container": {"devices": ["/dev/$DISK"]}
}
EOF
sed 's/^/   /' "$WORK/task.json"
TASK="$(ctl -o json run "$WORK/task.json" | jq -r .id)"
[ -n "$TASK" ] && [ "$TASK" != null ] || die "the master did not accept the task"
note "task $TASK"
for _ in $(seq 300); do
    st="$(ctl -o json get "$TASK" | jq -r .state)"
    [ "$st" = RUNNING ] && break
    case "$st" in FINISHED|FAILED|KILLED|LOST)
        ctl logs --stderr "$TASK" >&2 || true
        die "task ended $st before running" ;;
    esac
    sleep 0.1
done
note "RUNNING on the agent"
sleep 2

show tasks
ctl tasks
show inspect "${TASK:0:8}"
ctl inspect "${TASK:0:8}"
# The limit in force next to what the task gets: two io.stat samples 4 s apart, each timed
# right after it was read (siloctl itself takes a moment under the VM's emulation).
wbytes() { ctl -o json inspect "$TASK" | jq '[.usage.io[]? | select(.name == "'"$DISK"'") | .wbytes] | add // 0'; }
wb1="$(wbytes)"; t1="$(date +%s.%N)"
sleep 4
wb2="$(wbytes)"; t2="$(date +%s.%N)"
limit="$(ctl -o json inspect "$TASK" | jq -r '[.limits.io[]? | select(.name == "'"$DISK"'") | .wbps] | first')"
rate="$(awk -v a="$wb1" -v b="$wb2" -v s="$t1" -v e="$t2" 'BEGIN { printf "%.1f", (b - a) / (e - s) / 1e6 }')"
say "On $DISK: io.max wbps in force $limit B/s; measured from io.stat over $(awk -v s="$t1" -v e="$t2" 'BEGIN { printf "%.1f", e - s }') s: $rate MB/s"
show top --once
ctl top --once -d 1

for _ in $(seq 600); do
    st="$(ctl -o json get "$TASK" | jq -r .state)"
    case "$st" in FINISHED|FAILED|KILLED|LOST) break ;; esac
    sleep 0.1
done
show get "$TASK" "(summary)"
ctl -o json get "$TASK" | jq -r '"state \(.state), exit code \(.exit_code), on \(.hostname // .agent_id)\nhistory: \([.history[] | .state + " (" + .source + ")"] | join(" -> "))"'
show logs "$TASK"
ctl logs "$TASK"
show logs --stderr "$TASK"
ctl logs --stderr "$TASK"
[ "$st" = FINISHED ] || die "the task ended $st"
bw="$( (ctl logs "$TASK"; ctl logs --stderr "$TASK") 2>/dev/null | grep -Eo '[0-9.]+ ?MB/s' | tail -n 1 || true)"
say "Done: the task ended $st; it wrote at ${bw:-?} under an io.max limit of 20 MB/s"
TASK=""
