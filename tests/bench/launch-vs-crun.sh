#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Launch latency of silo-agent vs crun vs the floor (launch-floor) vs bare fork+exec in the VM, then 1000 short tasks through the agent (throughput, RSS, fds, cgroups).
#
# Usage: launch-vs-crun.sh SILO-AGENT SILO-SHIM LAUNCH-CLIENT LAUNCH-PROBE LAUNCH-FLOOR
#   env: SILO_LB_COUNT=200 (launches per runtime), SILO_LB_WARMUP=5, SILO_LB_LEAK_TASKS=1000,
#        SILO_LB_PARALLEL=4 (leak run: tasks in flight), SILO_LB_TIMEOUT=1200 (VM seconds),
#        SILO_LB_OLD_AGENT=PATH SILO_LB_OLD_SHIM=PATH (an older build: the 1000 tasks through it
#        too, in the same VM run, for the throughput speed-up goal),
#        SILO_LB_PROFILE=1 (then also: strace timeline and perf profile of silo launches),
#        SILO_LB_PROFILE_DIR=DIR (a host-visible directory: keep strace, perf and agent logs)
#
# On the host it boots the qemu guest (tests/vm/run-vm.sh) and runs itself there. In the guest:
#
# 1. One rootfs for everybody: a directory holding only the static launch-probe (plus empty
#    /proc /dev /sys /etc /tmp). silo-agent gets it as "container.rootfs" (mounted as an overlay
#    with the upper dir in the sandbox, as silo always does); crun gets it as root.path of an
#    OCI bundle (a bind mount, what crun does). Same namespaces: pid, mount, uts, ipc, net,
#    cgroup. Same limits: cpu.max "100000 100000", memory.max 64 MiB, pids.max 64. Same mounts:
#    /proc, tmpfs /dev with the default nodes, /dev/pts, /dev/shm, /dev/mqueue, read-only /sys
#    and /sys/fs/cgroup, read-only /etc/hosts and /etc/resolv.conf. Same process: uid 0,
#    Docker's default capability set, no_new_privs, no rlimits, no seccomp, the probe as PID 1
#    (silo "init": false; the default "init": true, where silo-init forks the probe, is
#    measured as a second silo row). crun runs with --cgroup-manager=cgroupfs. Before timing,
#    the probe's --describe output from each runtime is compared: fresh namespaces, PID 1,
#    the limits read back inside the task. The floor (tests/bench/launch-floor.c) does the
#    same kernel work by the cheapest means: clone3(CLONE_INTO_CGROUP) into a cgroup this
#    script made beforehand with the same limits, the same namespaces, the same mounts (an
#    overlay of the rootfs with a fresh upper dir, as silo) with mount(2), pivot_root, the
#    same capabilities, exec of the probe.
# 2. launch-client latency: 200 launches per runtime, interleaved round by round; one sample
#    is probe's CLOCK_REALTIME at entry minus the client's CLOCK_REALTIME right before it
#    starts the launch (fork of `crun run` / of launch-floor / of the probe; curl_easy_perform of the POST on a
#    fresh connection). crun: `crun run` in the foreground (create + start + wait + delete in
#    one command, the closest peer of one POST); timing only `crun start` after `crun create`
#    would leave crun's namespace, cgroup and mount setup outside the window.
# 3. A fresh agent (empty state dir), then launch-client leak: 1000 short tasks (the probe,
#    default init), 4 in flight, each waited for until FINISHED; the agent's VmRSS sampled at
#    every task end; its fd count, the cgroup directories left under <root>/tasks, its zombie
#    children, compared before and after. With SILO_LB_OLD_AGENT, the same 1000 tasks through
#    the older agent and shim first (its own fresh state dir), for the speed-up. Each run prints
#    where its CPU went per task (LEAK-CPU: the agent, its shims and all they started, the
#    client, the rest of the guest). Before them, the same number of launches of the floor, as
#    many in flight: the kernel's share of that run, the lower bound of its wall time.
#
# Goals (issues 7 and 19), for init:false and init:true alike: p50 <= 0.3 x crun p50 and
# <= 3 x the floor's p50; p99 <= 0.3 x crun p99; the POST's answer p50 < the launch p50. The
# 1000 tasks: none fails, >= 3 x the old agent's rate (with SILO_LB_OLD_AGENT); agent RSS
# < 10 MiB throughout; no fd, cgroup or zombie leak. Exit 0 when all hold, 1 when one is
# missed or a launch fails, 77 when it cannot run (not root, no qemu/crun) (tests/bench/README.md).
set -euo pipefail

AGENT=$(realpath "${1:?usage: launch-vs-crun.sh SILO-AGENT SILO-SHIM LAUNCH-CLIENT LAUNCH-PROBE}")
SHIM=$(realpath "${2:?missing SILO-SHIM}")
CLIENT=$(realpath "${3:?missing LAUNCH-CLIENT}")
PROBE=$(realpath "${4:?missing LAUNCH-PROBE}")
FLOOR=$(realpath "${5:?missing LAUNCH-FLOOR}")
OLD_AGENT=${SILO_LB_OLD_AGENT:+$(realpath "$SILO_LB_OLD_AGENT")}
OLD_SHIM=${SILO_LB_OLD_SHIM:+$(realpath "$SILO_LB_OLD_SHIM")}
COUNT=${SILO_LB_COUNT:-200}
WARMUP=${SILO_LB_WARMUP:-5}
LEAK_TASKS=${SILO_LB_LEAK_TASKS:-1000}
PARALLEL=${SILO_LB_PARALLEL:-4}
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/bench.sh"

if [ "${SILO_IN_VM:-}" != 1 ]; then
        [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (qemu, cgroups in the guest)"; exit 77; }
        command -v crun >/dev/null || { echo "SKIP: crun is not installed"; exit 77; }
        command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 missing"; exit 77; }
        if [ -n "$OLD_AGENT" ] && [ -z "$OLD_SHIM" ]; then
                echo "FAIL: SILO_LB_OLD_AGENT=$OLD_AGENT needs SILO_LB_OLD_SHIM (the old agent's own shim)"
                exit 1
        fi
        exec "$here/../vm/run-vm.sh" --timeout "${SILO_LB_TIMEOUT:-1200}" -- env \
                SILO_LB_OLD_AGENT="$OLD_AGENT" SILO_LB_OLD_SHIM="$OLD_SHIM" "$here/launch-vs-crun.sh" \
                "$AGENT" "$SHIM" "$CLIENT" "$PROBE" "$FLOOR"
fi

# ---------------------------------------------------------------- in the guest
for p in crun curl jq; do
        command -v "$p" >/dev/null || { echo "SKIP: $p missing in the guest"; exit 77; }
done
W=/tmp/lbench
PORT=5071
URL="http://127.0.0.1:$PORT"
STATE=/var/lib/silo/lbench
AGENT_PID=""
CRUN_CG=/sys/fs/cgroup/crun-bench
FLOOR_CG=/sys/fs/cgroup/floor-bench

stop_agent() {
        [ -n "$AGENT_PID" ] || return 0
        kill -TERM "$AGENT_PID" 2>/dev/null || true
        wait "$AGENT_PID" 2>/dev/null || true
        AGENT_PID=""
}
cleanup() {
        local rc=$?
        set +e
        stop_agent
        if [ "$rc" -ne 0 ] && [ -f "$W/agent.log" ]; then
                echo "---- silo-agent log (last 40 lines) ----"
                tail -n 40 "$W/agent.log"
        fi
        if [ -n "${SILO_LB_PROFILE_DIR:-}" ] && [ -f "$W/agent.log" ]; then
                mkdir -p "$SILO_LB_PROFILE_DIR" && cp "$W/agent.log" "$SILO_LB_PROFILE_DIR/"
        fi
        for c in $(crun --root=$W/crun list -q 2>/dev/null); do crun --root=$W/crun delete -f "$c"; done
        rmdir "$CRUN_CG"/* "$CRUN_CG" "$FLOOR_CG"/task "$FLOOR_CG"/slot* "$FLOOR_CG" 2>/dev/null
        exit "$rc"
}
trap cleanup EXIT

start_agent() { # STATE-DIR [AGENT SHIM]
        mkdir -p "$1"
        "${2:-$AGENT}" --listen "127.0.0.1:$PORT" --state-dir "$1" --shim "${3:-$SHIM}" >>"$W/agent.log" 2>&1 &
        AGENT_PID=$!
        for _ in $(seq 200); do
                curl -fsS "$URL/health" >/dev/null 2>&1 && return 0
                kill -0 "$AGENT_PID" 2>/dev/null || { cat "$W/agent.log"; echo "FAIL: silo-agent exited"; exit 1; }
                sleep 0.1
        done
        echo "FAIL: silo-agent did not answer /health in 20 s"
        exit 1
}

ip link set lo up
rm -rf "$W" "$STATE" "$STATE-leak" "$STATE-old"
mkdir -p "$W/rootfs"/{proc,dev,sys,etc,tmp} "$W/crun" "$W/out" "$W/floor" "$W/bin" "$W/bin-old"
cp "$PROBE" "$W/rootfs/probe"
# Every runtime's programs from the guest's page cache: crun and its libraries come from the
# host root (9p, cache=loose), while the build tree is a 9p share without a cache, where each
# exec of the shim (once per launch) or of launch-floor would read the file over 9p again, a
# cost no installed agent has. So the agent, its shim and the floor run from copies in /tmp.
cp "$AGENT" "$SHIM" "$FLOOR" "$W/bin/"
AGENT="$W/bin/$(basename "$AGENT")" SHIM="$W/bin/$(basename "$SHIM")" FLOOR="$W/bin/$(basename "$FLOOR")"
if [ -n "${SILO_LB_OLD_AGENT:-}" ]; then
        cp "$SILO_LB_OLD_AGENT" "$SILO_LB_OLD_SHIM" "$W/bin-old/"
        SILO_LB_OLD_AGENT="$W/bin-old/$(basename "$SILO_LB_OLD_AGENT")"
        SILO_LB_OLD_SHIM="$W/bin-old/$(basename "$SILO_LB_OLD_SHIM")"
fi

# The same /etc/hosts and resolv.conf the agent writes into each sandbox, for the bundle.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tlbench\n' >"$W/hosts"
cp /etc/resolv.conf "$W/resolv.conf" 2>/dev/null || : >"$W/resolv.conf"

# Docker's default capability set, what silo keeps in the bounding set by default.
CAPS='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW",
"CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT",
"CAP_KILL","CAP_AUDIT_WRITE"]'
bundle() { # DIR ARGS-JSON
        mkdir -p "$1"
        cat >"$1/config.json" <<EOF
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false, "user": {"uid": 0, "gid": 0}, "args": $2,
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "cwd": "/",
    "capabilities": {"bounding": $CAPS, "effective": $CAPS, "permitted": $CAPS},
    "noNewPrivileges": true
  },
  "root": {"path": "$W/rootfs", "readonly": false},
  "hostname": "lbench",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid","noexec","nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid","strictatime","mode=755","size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid","noexec","nodev","mode=1777","size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid","noexec","nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid","noexec","nodev","ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid","noexec","nodev","relatime","ro"]},
    {"destination": "/etc/hosts", "type": "bind", "source": "$W/hosts", "options": ["rbind","ro"]},
    {"destination": "/etc/resolv.conf", "type": "bind", "source": "$W/resolv.conf", "options": ["rbind","ro"]}
  ],
  "linux": {
    "cgroupsPath": "/crun-bench/task",
    "resources": {
      "memory": {"limit": 67108864},
      "cpu": {"quota": 100000, "period": 100000},
      "pids": {"limit": 64}
    },
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                   {"type": "mount"}, {"type": "cgroup"}]
  }
}
EOF
}
bundle "$W/bundle" '["/probe"]'
bundle "$W/bundle-describe" '["/probe","--describe"]'

silo_spec() { # INIT ARGS-JSON
        printf '{"command":%s,"init":%s,"resources":{"cpus":1,"mem":"64Mi","pids":64},
"container":{"rootfs":"%s","namespaces":["pid","mount","uts","ipc","net"],"hostname":"lbench"}}\n' \
                "$2" "$1" "$W/rootfs"
}
silo_spec false '["/probe"]' >"$W/silo.json"
silo_spec true '["/probe"]' >"$W/silo-init.json"

# crun's cgroupfs manager needs the controllers enabled down to its parent.
echo "+cpu +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control
mkdir -p "$CRUN_CG"
echo "+cpu +memory +pids" >"$CRUN_CG/cgroup.subtree_control"
# The floor's cgroup is made once, with the limits, before any timing: the floor pays for no
# cgroup work (silo and crun make a group per launch).
mkdir -p "$FLOOR_CG/task"
echo "+cpu +memory +pids" >"$FLOOR_CG/cgroup.subtree_control"
echo "100000 100000" >"$FLOOR_CG/task/cpu.max"
echo 67108864 >"$FLOOR_CG/task/memory.max"
echo 64 >"$FLOOR_CG/task/pids.max"
floor_cmd() { # PROBE-ARGS...
        echo "$FLOOR $FLOOR_CG/task $W/rootfs $W/floor $W/hosts $W/resolv.conf lbench -- $*"
}

start_agent "$STATE"
TOKEN="$(cat "$STATE/token")"
CGROOT="$(grep -o 'cgroup root [^ ]*' "$W/agent.log" | tail -n1 | cut -d' ' -f3)"
CGROOT=${CGROOT:-/sys/fs/cgroup/silo}

echo "# $(uname -r), $(nproc) vCPU (TCG), $(crun --version | head -n1), silo-agent $("$AGENT" --version | cut -d' ' -f2)"
echo "== equal configuration check (probe --describe in each runtime)"
host_ns() { readlink "/proc/self/ns/$1"; }
describe_crun() {
        crun --cgroup-manager=cgroupfs --root="$W/crun" run --bundle "$W/bundle-describe" lb-describe
}
# silo_run TOKEN SPEC ID: launch SPEC as task ID through the agent's API and wait (30 s at
# most) until it has FINISHED; any other end fails the benchmark.
silo_run() {
        local state
        curl -fsS -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
                --data-binary "$2" "$URL/api/v1/tasks" >/dev/null
        for _ in $(seq 300); do
                state="$(curl -fsS -H "Authorization: Bearer $1" "$URL/api/v1/tasks/$3" | jq -r .state)"
                case "$state" in FINISHED) return 0 ;; FAILED|KILLED|LOST) echo "FAIL: task $3 $state"; exit 1 ;; esac
                sleep 0.1
        done
}
describe_silo() { # INIT
        local spec
        spec="$(silo_spec "$1" '["/probe","--describe"]' | jq -c --arg id "describe-$1" '. + {id: $id, name: $id}')"
        silo_run "$TOKEN" "$spec" "describe-$1"
        curl -fsS -H "Authorization: Bearer $TOKEN" "$URL/api/v1/tasks/describe-$1/logs?stream=stdout"
}
check_describe() { # LABEL OUTPUT WANT-PID
        local label="$1" out="$2" key v
        field() { awk -v k="$1" '$1 == k { print $2; exit }' <<<"$out"; }
        for key in pid mnt uts ipc net cgroup; do
                v="$(field "ns_$key")"
                [ -n "$v" ] && [ "$v" != "-" ] && [ "$v" != "$(host_ns "$key")" ] ||
                        { echo "FAIL: $label: ns $key '$v' is not a new namespace"; exit 1; }
        done
        [ "$(field pid)" = "$3" ] || { echo "FAIL: $label: the probe is pid $(field pid), want $3"; exit 1; }
        [ "$(field hostname)" = lbench ] || { echo "FAIL: $label: hostname '$(field hostname)'"; exit 1; }
        [ "$(awk '$1 == "cpu.max" { print $2, $3 }' <<<"$out")" = "100000 100000" ] ||
                { echo "FAIL: $label: cpu.max '$(awk '$1 == "cpu.max"' <<<"$out")'"; exit 1; }
        [ "$(field memory.max)" = 67108864 ] || { echo "FAIL: $label: memory.max '$(field memory.max)'"; exit 1; }
        [ "$(field pids.max)" = 64 ] || { echo "FAIL: $label: pids.max '$(field pids.max)'"; exit 1; }
        echo "ok: $label: new pid/mnt/uts/ipc/net/cgroup namespaces, probe is pid $3, cpu.max 100000 100000, memory.max 64Mi, pids.max 64"
}
check_describe floor "$($(floor_cmd /probe --describe))" 1
check_describe crun "$(describe_crun)" 1
check_describe "silo (init: false)" "$(describe_silo false)" 1
check_describe "silo (init: true)" "$(describe_silo true)" 2

echo "== launch latency: $COUNT launches per runtime after $WARMUP warm-up, interleaved"
"$CLIENT" latency --count "$COUNT" --warmup "$WARMUP" --probe "$W/rootfs/probe" --floor "$(floor_cmd /probe)" \
        --crun "$(command -v crun)" --bundle "$W/bundle" --crun-root "$W/crun" \
        --url "$URL" --token-file "$STATE/token" \
        --silo "silo=$W/silo.json" --silo "silo-init=$W/silo-init.json" --out "$W/out" | tee "$W/latency.txt"

if [ "${SILO_LB_PROFILE:-0}" = 1 ]; then
        # Where a silo launch spends its time: the syscalls of the agent, its shim and the
        # task (strace -f, wall time per call), then CPU samples of the whole guest (perf).
        command -v strace >/dev/null || { echo "SKIP profile: strace missing"; SILO_LB_PROFILE=0; }
fi
if [ "${SILO_LB_PROFILE:-0}" = 1 ]; then
        echo "== profile: strace -f of the agent over 3 launches (init:false)"
        strace -f -tt -T -o "$W/strace.txt" -p "$AGENT_PID" &
        strace_pid=$!
        sleep 1
        "$CLIENT" latency --count 3 --warmup 0 --url "$URL" --token-file "$STATE/token" --silo "strace=$W/silo.json"
        kill -INT "$strace_pid"
        wait "$strace_pid" || true
        # Blocking waits (the loop's io_uring_enter, the shim's reads of the task's pipes)
        # are idle time, not launch work: left out of the summaries.
        awk -v a="$AGENT_PID" '/io_uring_enter|read resumed>""|wait4|waitid|epoll_wait|poll/ { next }
                { if (match($0, /<[0-9.]+>$/)) { t = substr($0, RSTART + 1, RLENGTH - 2); c = $3;
                  if (c == "<...") c = $4; sub(/\(.*/, "", c);
                  who = ($1 == a) ? "agent" : "child"; s[who " " c] += t; n[who " " c]++ } }
                END { for (k in s) printf "%9.4f s %6d calls  %s\n", s[k], n[k], k }' "$W/strace.txt" |
                sort -rn >"$W/strace-sum.txt"
        echo "-- timeline of the first launch under strace (ms from the agent's accept; strace slows every call)"
        awk -v a="$AGENT_PID" '
                function ms(t,   h) { split(t, h, ":"); return (h[1] * 3600 + h[2] * 60 + h[3]) * 1000 }
                !start && $1 == a && ((/accept4?\(/ && !/EAGAIN/) || /"POST /) { start = ms($2) }
                start && /accept4?\(|clone3\(|execve\(|mount\(|pivot_root|umount2|BPF_PROG_LOAD|BPF_PROG_ATTACH|btf\/vmlinux|mkdir\("\/sys\/fs\/cgroup|launch.json|sendto\(|writev?\([0-9]+, "HTTP/ {
                        line = substr($0, index($0, $3)); if (length(line) > 110) line = substr(line, 1, 110) "..."
                        printf "%8.1f  %-6s %s\n", ms($2) - start, ($1 == a ? "agent" : $1), line
                        if (/execve\("\/probe"/) exit
                }' "$W/strace.txt" || true
        echo "-- time in syscalls per process and call, summed over the 3 launches (agent = pid $AGENT_PID)"
        head -n 30 "$W/strace-sum.txt"
        echo "-- files the agent opened, with counts"
        awk -v a="$AGENT_PID" '$1 == a && /openat\(/ { match($0, /"[^"]*"/); print substr($0, RSTART, RLENGTH) }' \
                "$W/strace.txt" | sort | uniq -c | sort -rn >"$W/strace-open.txt"
        head -n 25 "$W/strace-open.txt"
        if [ -n "${SILO_LB_PROFILE_DIR:-}" ]; then
                mkdir -p "$SILO_LB_PROFILE_DIR"
                cp "$W/strace.txt" "$SILO_LB_PROFILE_DIR/"
        fi
        if command -v perf >/dev/null; then
                echo "== profile: perf record -a -g (cpu-clock) over 20 launches (init:false)"
                perf record -q -a -g -e cpu-clock -F 1000 -o "$W/perf.data" -- \
                        "$CLIENT" latency --count 20 --warmup 0 --url "$URL" --token-file "$STATE/token" \
                        --silo "perf=$W/silo.json" >/dev/null 2>&1 || true
                # cpu-clock's event count is in ns of CPU (idle included): each share as ms
                # of CPU per launch too.
                # (awk reads to the end: perf must not die of SIGPIPE under pipefail)
                perf_ns=$(perf report -i "$W/perf.data" --stdio --sort comm -g none 2>/dev/null |
                        awk '!n && /^# Event count/ { print $NF; n = 1 }' || true)
                echo "-- ${perf_ns:-?} ns of CPU sampled over 20 launches on $(nproc) vCPUs (idle included)"
                perf report -i "$W/perf.data" --no-children --sort comm,dso --stdio -g none 2>/dev/null |
                        grep -v -e '^#' -e '^$' |
                        awk -v ns="${perf_ns:-0}" '{ p = $1; sub(/%/, "", p); printf "%s   %6.1f ms/launch\n", $0, p * ns / 100 / 20 / 1e6 }' \
                        >"$W/perf-dso.txt" || true
                head -n 25 "$W/perf-dso.txt"
                echo "-- symbols"
                perf report -i "$W/perf.data" --no-children --sort comm,sym --stdio -g none 2>/dev/null |
                        grep -v -e '^#' -e '^$' >"$W/perf-sym.txt" || true
                head -n 50 "$W/perf-sym.txt"
                echo "-- the agent's samples by caller chain (top)"
                perf report -i "$W/perf.data" --comm silo-agent --children --sort sym --stdio -g none 2>/dev/null |
                        grep -v -e '^#' -e '^$' >"$W/perf-agent.txt" || true
                head -n 40 "$W/perf-agent.txt"
                [ -z "${SILO_LB_PROFILE_DIR:-}" ] || cp "$W"/perf-*.txt "$SILO_LB_PROFILE_DIR/"
        fi
fi
stop_agent

# Where the CPU of a leak run goes, per task: the agent itself; its shims and all they started
# (the tasks' setup, run and teardown: reaped, so in the agent's cutime+cstime, or, for an
# agent with a shim server, in the live server's cutime+cstime, with the server's own); the client
# (reaped by this shell: `times`); the rest of the guest (kernel threads: net namespace
# cleanup, RCU, workqueues: the guest's busy ticks minus the others, tick-sampled, so a few ms
# either way). cpu_mark FILE before the run, cpu_split FILE N LABEL after it.
CLK_TCK=$(getconf CLK_TCK)
cpu_now() {
        times >"$W/times.txt"
        awk -v tck="$CLK_TCK" -v busy="$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat)" '
                function sec(s,   m) { m = s; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", s); sub(/s$/, "", s); return m * 60 + s }
                NR == 2 { printf "%s %.0f ", busy, (sec($1) + sec($2)) * tck }' "$W/times.txt"
        local server server_ticks=0
        server=$(pgrep -P "$AGENT_PID" -f -- ' --server$' || true)
        [ -z "$server" ] || server_ticks=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$server/stat" 2>/dev/null || echo 0)
        awk -v server="$server_ticks" '{ print $14 + $15, $16 + $17 + server }' "/proc/$AGENT_PID/stat"
}
# Not in a pipeline or $(...): `times` counts the children of the shell that runs it.
cpu_mark() { cpu_now >"$1"; }
cpu_split() { # FILE N LABEL
        cpu_now >"$W/cpu-now.txt"
        awk -v n="$2" -v l="$3" -v tck="$CLK_TCK" -v now="$(cat "$W/cpu-now.txt")" '{
                split(now, b, " "); ms = 1000 / tck / n
                busy = (b[1] - $1) * ms; client = (b[2] - $2) * ms; agent = (b[3] - $3) * ms; kids = (b[4] - $4) * ms
                printf "LEAK-CPU %s ms_per_task: busy=%.1f agent=%.1f shims_and_tasks=%.1f client=%.1f rest=%.1f\n",
                        l, busy, agent, kids, client, busy - agent - kids - client }' "$1"
}

# The floor's throughput: as many launches of launch-floor, as many in flight, nothing else
# running. It is the kernel's share of the leak run (namespaces, overlay and mounts made and
# torn down, exec, exit, reap) with none of a runtime's own work: no daemon, no HTTP, no
# checkpoint, no cgroup made and removed per task (its group is made once), no init, no logs.
# No agent can end short tasks faster than this, so it bounds the throughput goal from below.
# Each of the $PARALLEL slots launches into a group of its own with a task's limits (one CPU
# of cpu.max each, as every silo task has), not all into the latency run's one group.
echo "== $LEAK_TASKS launches of the floor (probe, init:false), $PARALLEL in flight"
for s in $(seq "$PARALLEL"); do
        mkdir -p "$FLOOR_CG/slot$s"
        echo "100000 100000" >"$FLOOR_CG/slot$s/cpu.max"
        echo 67108864 >"$FLOOR_CG/slot$s/memory.max"
        echo 64 >"$FLOOR_CG/slot$s/pids.max"
done
floor_busy0=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat)
floor_t0=$(date +%s%N)
floor_pids=()
for s in $(seq "$PARALLEL"); do
        # One xargs per slot, as the latency run's one: a launch costs one small fork+exec of
        # launch-floor and nothing of this shell (a $(...) and a sed per launch cost more than
        # the launch itself under TCG). -I: the counter from seq is not an argument.
        seq $(( (LEAK_TASKS + PARALLEL - s) / PARALLEL )) |
                xargs -I{} $(floor_cmd /probe | sed "s|$FLOOR_CG/task|$FLOOR_CG/slot$s|") >/dev/null &
        floor_pids+=($!)
done
for p in "${floor_pids[@]}"; do
        wait "$p" || { echo "FAIL: a launch of the floor failed"; exit 1; }
done
floor_wall=$(awk -v a="$floor_t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
floor_cpu=$(awk -v a="$floor_busy0" -v b="$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat)" \
        -v n="$LEAK_TASKS" -v tck="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (b - a) * 1000 / tck / n }')
echo "FLOOR-LEAK wall_s=$floor_wall busy_ms_per_launch=$floor_cpu"

if [ -n "${SILO_LB_OLD_AGENT:-}" ]; then
        # The same 1000 tasks through the older build first, in this boot, for the speed-up.
        echo "== $LEAK_TASKS short tasks through the old agent ($SILO_LB_OLD_AGENT), $PARALLEL in flight"
        start_agent "$STATE-old" "$SILO_LB_OLD_AGENT" "$SILO_LB_OLD_SHIM"
        cpu_mark "$W/cpu-old.txt"
        "$CLIENT" leak --count "$LEAK_TASKS" --parallel "$PARALLEL" --url "$URL" --token-file "$STATE-old/token" \
                --spec "$W/silo-init.json" --agent-pid "$AGENT_PID" --cgroup-tasks "$CGROOT/tasks" \
                --sandboxes "$STATE-old/sandboxes" | tee "$W/leak-old.txt"
        cpu_split "$W/cpu-old.txt" "$LEAK_TASKS" old >"$W/cpu-split.txt"
        tee -a "$W/leak-old.txt" <"$W/cpu-split.txt"
        stop_agent
fi

echo "== $LEAK_TASKS short tasks through a fresh agent, $PARALLEL in flight"
start_agent "$STATE-leak"
# One task first: the agent loads the device program that every task without devices shares
# at its first launch and keeps its fd open from then on (loaded once, by design), so a start
# value taken before any task would count it as a leak. Then one housekeeping round (5 s),
# so that task's cgroup is gone before the start values are taken.
silo_run "$(cat "$STATE-leak/token")" "$(jq -c '. + {id: "warm-up", name: "warm-up"}' "$W/silo-init.json")" warm-up
sleep 6
fd_targets() { for f in /proc/"$AGENT_PID"/fd/*; do readlink "$f"; done | sed 's/[0-9]\+\]$/N]/' | sort; }
fd_targets >"$W/fds-before.txt"
cpu_mark "$W/cpu.txt"
"$CLIENT" leak --count "$LEAK_TASKS" --parallel "$PARALLEL" --url "$URL" --token-file "$STATE-leak/token" \
        --spec "$W/silo-init.json" --agent-pid "$AGENT_PID" --cgroup-tasks "$CGROOT/tasks" \
        --sandboxes "$STATE-leak/sandboxes" | tee "$W/leak.txt"
cpu_split "$W/cpu.txt" "$LEAK_TASKS" new >"$W/cpu-split.txt"
tee -a "$W/leak.txt" <"$W/cpu-split.txt"
fd_targets >"$W/fds-after.txt"
if ! cmp -s "$W/fds-before.txt" "$W/fds-after.txt"; then
        echo "-- the agent's fds that differ (< before, > after; inode numbers masked)"
        diff "$W/fds-before.txt" "$W/fds-after.txt" || true
fi
tasks_known="$(curl -fsS -H "Authorization: Bearer $(cat "$STATE-leak/token")" "$URL/api/v1/tasks" | jq '.tasks | length')"

# ---------------------------------------------------------------- the table
val() { # FILE LABEL KEY
        awk -v l="$2" -v k="$3" '$1 == "RESULT" && $2 == l {
                for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$1"
}
leak() { # KEY [FILE]
        awk -v k="$1" '$1 == "LEAK" { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' \
                "${2:-$W/leak.txt}"
}
cpu_row() { # [FILE]: the LEAK-CPU figures as "busy / agent / shims+tasks / client / rest"
        awk '$1 == "LEAK-CPU" { for (i = 4; i <= NF; i++) { split($i, kv, "="); v = v (v == "" ? "" : " / ") kv[2] } print v }' \
                "${1:-$W/leak.txt}"
}
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.3f", a / b }'; }

crun_p50=$(val "$W/latency.txt" crun p50_us)
crun_p99=$(val "$W/latency.txt" crun p99_us)
floor_p50=$(val "$W/latency.txt" floor p50_us)
echo
echo "## Launch latency (client send -> probe's first instruction), $COUNT launches each, guest $(uname -r) under TCG"
printf "| %-24s | %9s | %9s | %9s | %10s | %11s | %11s | %12s |\n" runtime p50_us p99_us mean_us "p50/crun" "p50/floor" "p99/crun p99" "POST answer p50_us"
printf "|%s|%s|%s|%s|%s|%s|%s|%s|\n" "--------------------------" "-----------" "-----------" "-----------" "------------" "-------------" "-------------" "--------------"
for l in bare floor crun silo silo-init; do
        name=$l
        case $l in
                bare) name="fork+exec (no isolation)" ;;
                floor) name="launch-floor (floor)" ;;
                crun) name="crun run (cgroupfs)" ;;
                silo) name="silo-agent (init:false)" ;;
                silo-init) name="silo-agent (init:true)" ;;
        esac
        p50=$(val "$W/latency.txt" "$l" p50_us)
        p99=$(val "$W/latency.txt" "$l" p99_us)
        printf "| %-24s | %9s | %9s | %9s | %10s | %11s | %11s | %12s |\n" "$name" "$p50" "$p99" \
                "$(val "$W/latency.txt" "$l" mean_us)" "$(div "$p50" "$crun_p50")" "$(div "$p50" "$floor_p50")" \
                "$(div "$p99" "$crun_p99")" "$(val "$W/latency.txt" "$l" answer_p50_us | sed 's/^$/-/')"
done

rss_max=$(leak rss_kib_max)
echo
echo "## $LEAK_TASKS short tasks (probe, init:true), $PARALLEL in flight, fresh agent"
printf "| %-34s | %-40s |\n" metric value
printf "|%s|%s|\n" "------------------------------------" "------------------------------------------"
if [ -n "${SILO_LB_OLD_AGENT:-}" ]; then
        printf "| %-34s | %-40s |\n" "old agent: wall time (s), tasks/s" "$(leak wall_s "$W/leak-old.txt"), $(leak tasks_per_s "$W/leak-old.txt")" \
                "old agent: CPU ms per task (*)" "$(cpu_row "$W/leak-old.txt")"
fi
printf "| %-34s | %-40s |\n" "floor: wall time (s), busy ms/launch" "$floor_wall, $floor_cpu (init:false: no init fork; no cgroup made per launch)"
printf "| %-34s | %-40s |\n" "wall time (s), tasks/s" "$(leak wall_s), $(leak tasks_per_s)" \
        "wall time / the floor's" "$(div "$(leak wall_s)" "$floor_wall")" \
        "agent VmRSS start / max / end (KiB)" "$(leak rss_kib_start) / $rss_max / $(leak rss_kib_end)" \
        "RssAnon / RssFile start (KiB)" "$(leak start_rss_anon_kib) / $(leak start_rss_file_kib)" \
        "RssAnon / RssFile end (KiB)" "$(leak end_rss_anon_kib) / $(leak end_rss_file_kib)" \
        "VmRSS every 10% of tasks (KiB)" "$(leak rss_kib_by_decile)" \
        "agent fds before / after" "$(leak fds_before) / $(leak fds_after)" \
        "fds every 10% of tasks" "$(leak fds_by_decile)" \
        "cgroups left in $CGROOT/tasks" "$(leak cgroups_left)" \
        "zombie children of the agent" "$(leak zombie_children)" \
        "sandboxes kept (terminal tasks)" "$(leak sandboxes_left)" \
        "tasks the agent still lists" "$tasks_known" \
        "CPU ms per task (*)" "$(cpu_row)"
echo "(*) guest busy / the agent itself / its shims and all they started / the client / the rest (kernel threads)"
echo
for l in silo silo-init; do
        case $l in silo) what="silo-agent (init:false)" ;; *) what="silo-agent (init:true)" ;; esac
        p50=$(val "$W/latency.txt" "$l" p50_us)
        bench_goal "$what p50 / crun p50" "$(div "$p50" "$crun_p50")" x "<=" 0.3
        bench_goal "$what p50 / floor p50" "$(div "$p50" "$floor_p50")" x "<=" 3
        bench_goal "$what p99 / crun p99" "$(div "$(val "$W/latency.txt" "$l" p99_us)" "$crun_p99")" x "<=" 0.3
        bench_goal "$what POST answer p50 / launch p50" "$(div "$(val "$W/latency.txt" "$l" answer_p50_us)" "$p50")" x "<" 1
done
bench_goal "tasks of $LEAK_TASKS that ended FINISHED" "$(leak finished)" tasks ">=" "$LEAK_TASKS"
if [ -n "${SILO_LB_OLD_AGENT:-}" ]; then
        bench_goal "throughput ($LEAK_TASKS tasks, $PARALLEL in flight) / the old agent's" \
                "$(div "$(leak wall_s "$W/leak-old.txt")" "$(leak wall_s)")" x ">=" 3
        # What 3x asks for, against what the kernel alone takes for the same launches.
        echo "note: 3x the old agent is $(awk -v o="$(leak wall_s "$W/leak-old.txt")" 'BEGIN { printf "%.1f", o / 3 }') s" \
             "for the $LEAK_TASKS tasks; the floor alone took $floor_wall s" \
             "($(div "$(awk -v o="$(leak wall_s "$W/leak-old.txt")" 'BEGIN { print o / 3 }')" "$floor_wall")x the floor)"
fi
bench_goal "agent VmRSS, max over $LEAK_TASKS tasks" "$rss_max" KiB "<" 10240
bench_goal "agent fds after the tasks (before: $(leak fds_before))" "$(leak fds_after)" fds "<=" "$(leak fds_before)"
bench_goal "task cgroups left under $CGROOT/tasks" "$(leak cgroups_left)" cgroups "<=" 0
bench_goal "zombies of the agent and its shim server (unreaped shims)" "$(leak zombie_children)" zombies "<=" 0
bench_done
