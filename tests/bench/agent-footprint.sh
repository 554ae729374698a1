#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The agent's footprint in the VM: RSS and Pss over thousands of ended tasks kept by the GC, fds and cgroups back to their start values, the shim's RSS per task.
#
# Usage: agent-footprint.sh SILO-AGENT SILO-SHIM LAUNCH-CLIENT
#   env: SILO_FP_TASKS=10000 (ended tasks to keep), SILO_FP_PARALLEL=4 (tasks in flight),
#        SILO_FP_TIMEOUT=3600 (VM seconds; 10,000 tasks take 20-50 min under TCG)
#
# On the host it boots the qemu guest (tests/vm/run-vm.sh) and runs itself there. In the guest:
#
# 1. A fresh agent whose GC keeps every task of the run (--gc-max-tasks = the task count,
#    --gc-max-age-s one day), so each ended task stays known and answerable.
# 2. The shim: one `sleep` task; the shim's VmRSS and Pss read from /proc/<shim pid> by this
#    script, and what the agent reports for it: `shim_rss_bytes` in GET /api/v1/tasks/{id} and
#    the silo_task_shim_rss_bytes metric.
# 3. SILO_FP_TASKS short tasks, the cheapest real task there is (`/bin/true`, no container,
#    no init; every launch still creates the task's cgroup, sandbox, shim and checkpoints),
#    PARALLEL in flight, through launch-client leak (each waited for until FINISHED): the
#    agent's VmRSS at every 10 % of the tasks; its VmRSS and Pss (smaps_rollup), fds and the
#    cgroups under its root before and after; at the start, its smaps_rollup and Rss per
#    mapping (which libraries, how much heap), as for the shim.
#    The agent runs standalone: without a master link libcurl is not initialised (with one,
#    its global init adds what it touches of GnuTLS and friends to the start figure).
# 4. The library floor: `sleep` with every library the agent maps in LD_PRELOAD, its Rss (of
#    it anonymous) and Rss per mapping: what these libraries cost any process before its own
#    code runs, beside the agent's Rss (printed, not a goal). Both from smaps_rollup, exact;
#    not Pss: the agent shares those pages meanwhile.
#
# The growth per kept ended task is the VmRSS slope between 10 % and 100 % of the tasks (the
# first 10 % warm up code pages, the allocator and the stdio buffers of a new agent).
# Goals (issue 19 goal 3): VmRSS < 10 MiB after the run (with fewer than 10,000 tasks: the
# figure extrapolated to 10,000 with the measured slope, said so); growth <= 1 KiB per ended
# task; fds and cgroups back to their start values; the shim's RSS reported and <= 1 MiB.
# Exit 0 when all hold, 1 when one is missed, 77 when it cannot run (tests/bench/README.md).
set -euo pipefail

AGENT=$(realpath "${1:?usage: agent-footprint.sh SILO-AGENT SILO-SHIM LAUNCH-CLIENT}")
SHIM=$(realpath "${2:?missing SILO-SHIM}")
CLIENT=$(realpath "${3:?missing LAUNCH-CLIENT}")
TASKS=${SILO_FP_TASKS:-10000}
PARALLEL=${SILO_FP_PARALLEL:-4}
GOAL_TASKS=10000
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/bench.sh"

if [ "${SILO_IN_VM:-}" != 1 ]; then
        [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (qemu, cgroups in the guest)"; exit 77; }
        command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 missing"; exit 77; }
        exec "$here/../vm/run-vm.sh" --timeout "${SILO_FP_TIMEOUT:-3600}" -- "$here/agent-footprint.sh" \
                "$AGENT" "$SHIM" "$CLIENT"
fi

# ---------------------------------------------------------------- in the guest
for p in curl jq; do
        command -v "$p" >/dev/null || { echo "SKIP: $p missing in the guest"; exit 77; }
done
W=/tmp/fpbench
PORT=5072
URL="http://127.0.0.1:$PORT"
STATE=/var/lib/silo/fpbench
AGENT_PID=""
FLOOR_PID=""

cleanup() {
        local rc=$?
        set +e
        if [ -n "$FLOOR_PID" ]; then
                kill "$FLOOR_PID" 2>/dev/null
                wait "$FLOOR_PID" 2>/dev/null
        fi
        if [ -n "$AGENT_PID" ]; then
                kill -TERM "$AGENT_PID" 2>/dev/null
                wait "$AGENT_PID" 2>/dev/null
        fi
        if [ "$rc" -ne 0 ] && [ -f "$W/agent.log" ]; then
                echo "---- silo-agent log (last 40 lines) ----"
                tail -n 40 "$W/agent.log"
        fi
        exit "$rc"
}
trap cleanup EXIT

ip link set lo up
rm -rf "$W" "$STATE"
mkdir -p "$W" "$STATE"
"$AGENT" --listen "127.0.0.1:$PORT" --state-dir "$STATE" --shim "$SHIM" \
        --gc-max-tasks "$TASKS" --gc-max-age-s 86400 >>"$W/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 200); do
        curl -fsS "$URL/health" >/dev/null 2>&1 && break
        kill -0 "$AGENT_PID" 2>/dev/null || { echo "FAIL: silo-agent exited"; exit 1; }
        sleep 0.1
done
TOKEN="$(cat "$STATE/token")"
api() { curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
CGROOT="$(grep -o 'cgroup root [^ ]*' "$W/agent.log" | tail -n1 | cut -d' ' -f3)"
CGROOT=${CGROOT:-/sys/fs/cgroup/silo}

kib() { # FILE KEY: the "KEY: N kB" figure of a /proc file, or -
        awk -v k="$2:" '$1 == k { print $2; f = 1; exit } END { if (!f) print "-" }' "$1" 2>/dev/null || echo -
}
cgroups() { find "$CGROOT" -mindepth 1 -type d | wc -l; }
fds() { find "/proc/$AGENT_PID/fd" -mindepth 1 | wc -l; }

echo "# $(uname -r), $(nproc) vCPU (TCG), silo-agent $("$AGENT" --version | cut -d' ' -f2), $TASKS tasks, $PARALLEL in flight"

# ---- the shim of a running task
api --data-binary '{"id":"fp-shim","name":"fp-shim","command":["/bin/sleep","60"]}' "$URL/api/v1/tasks" >/dev/null
for _ in $(seq 300); do
        [ "$(api "$URL/api/v1/tasks/fp-shim" | jq -r .state)" = RUNNING ] && break
        sleep 0.1
done
sleep 1 # the shim has settled into its wait
task_json="$(api "$URL/api/v1/tasks/fp-shim")"
shim_pid="$(jq -r '.shim.pid // empty' <<<"$task_json")"
[ -n "$shim_pid" ] && [ -d "/proc/$shim_pid" ] || { echo "FAIL: no shim pid for fp-shim: $task_json"; exit 1; }
shim_rss_kib="$(kib "/proc/$shim_pid/status" VmRSS)"
shim_pss_kib="$(kib "/proc/$shim_pid/smaps_rollup" Pss)"
grep -E '^(Rss|Pss|Pss_Anon|Pss_File|Private_Dirty|Shared_Clean):' "/proc/$shim_pid/smaps_rollup" |
        tr -s ' ' | paste -sd' ' | sed 's/^/# shim smaps_rollup: /'
# Where a process's resident pages are: Rss per mapped file (KiB), largest first.
rss_by_mapping() { # PID LABEL
        awk '/^[0-9a-f]+-[0-9a-f]+ / { name = NF >= 6 ? $6 : "[anon]" } $1 == "Rss:" { rss[name] += $2 }
                END { for (n in rss) if (rss[n] > 0) printf "%6d KiB  %s\n", rss[n], n }' "/proc/$1/smaps" |
                sort -rn | sed "s/^/# $2 Rss by mapping: /"
}
rss_by_mapping "$shim_pid" shim
reported="$(jq -r '.shim_rss_bytes // "-"' <<<"$task_json")"
metric="$(api "$URL/metrics" | awk '/^silo_task_shim_rss_bytes\{.*id="fp-shim"/ { print $2 }')"
api -X DELETE "$URL/api/v1/tasks/fp-shim" >/dev/null
for _ in $(seq 300); do
        case "$(api "$URL/api/v1/tasks/fp-shim" | jq -r .state)" in FINISHED|KILLED|FAILED) break ;; esac
        sleep 0.1
done

# ---- the run
printf '{"command":["/bin/true"],"init":false}\n' >"$W/spec.json"
# The agent's figures into rssN pssN anonN fdsN cgN, its fd targets into fds-N.txt.
sample() { # N
        eval "rss$1=$(kib "/proc/$AGENT_PID/status" VmRSS) pss$1=$(kib "/proc/$AGENT_PID/smaps_rollup" Pss)"
        eval "walked$1=$(kib "/proc/$AGENT_PID/smaps_rollup" Rss)"
        eval "anon$1=$(kib "/proc/$AGENT_PID/status" RssAnon) fds$1=$(fds) cg$1=$(cgroups)"
        find "/proc/$AGENT_PID/fd" -mindepth 1 -exec readlink {} + | sed 's/[0-9]\+\]$/N]/' | sort >"$W/fds-$1.txt"
}
sleep 6 # one housekeeping round: fp-shim's cgroup is gone, the start figures are steady
sample 0
grep -E '^(Rss|Pss|Pss_Anon|Pss_File|Private_Dirty|Shared_Clean):' "/proc/$AGENT_PID/smaps_rollup" |
        tr -s ' ' | paste -sd' ' | sed 's/^/# agent smaps_rollup at start: /'
rss_by_mapping "$AGENT_PID" agent
# The library floor: every shared library mapped in the agent, preloaded into `sleep` (the
# dynamic loader maps, relocates and initialises them as at the agent's exec: libmicrohttpd's
# constructor initialises GnuTLS), no agent code. What no agent built on these libraries can
# go under. Above it: what the agent adds, its code, heap and stacks and the library pages its
# calls touch later. In the C locale, as the agent (which never calls setlocale()): sleep
# would map the locale's files. sleep's own binary, heap and stack stay in the floor.
mapped_libs() { # PID: the shared libraries mapped in it but the loader, one per line
        awk '$6 ~ /\.so(\.[0-9]+)*$/ && $6 !~ /\/ld-linux/ && $7 != "(deleted)" && !seen[$6]++ { print $6 }' \
                "/proc/$1/maps"
}
floor_libs="$(mapped_libs "$AGENT_PID" | paste -sd:)"
env -u LANG -u LANGUAGE LC_ALL=C LD_PRELOAD="$floor_libs" sleep 600 &
FLOOR_PID=$!
# Loaded and initialised once sleep's main is in its nanosleep (the loader's work comes first).
for _ in $(seq 300); do
        grep -q nanosleep "/proc/$FLOOR_PID/wchan" 2>/dev/null && break
        kill -0 "$FLOOR_PID" 2>/dev/null || { echo "FAIL: the library floor (LD_PRELOAD=$floor_libs sleep) exited"; exit 1; }
        sleep 0.1
done
grep -q nanosleep "/proc/$FLOOR_PID/wchan" ||
        { echo "FAIL: the library floor is not asleep after 30 s (wchan $(cat "/proc/$FLOOR_PID/wchan"))"; exit 1; }
floor_n="$(awk -F: '{ print NF }' <<<"$floor_libs")"
# The loader skips a library it cannot preload with a warning only: count what it mapped.
floor_mapped="$(mapped_libs "$FLOOR_PID" | wc -l)"
[ "$floor_mapped" -ge "$floor_n" ] ||
        { echo "FAIL: the library floor mapped $floor_mapped of the agent's $floor_n libraries"; exit 1; }
# Rss from smaps_rollup, which walks the page tables: VmRSS is a counter that a 6.1 kernel
# folds in from each thread only every 64 page faults (SPLIT_RSS_COUNTING), and a process that
# stopped faulting, as this one, can show MiBs less than it maps.
floor_rss="$(kib "/proc/$FLOOR_PID/smaps_rollup" Rss)"
floor_anon="$(kib "/proc/$FLOOR_PID/smaps_rollup" Anonymous)"
[[ "$floor_rss" =~ ^[0-9]+$ ]] || { echo "FAIL: no Rss for the library floor (pid $FLOOR_PID)"; exit 1; }
rss_by_mapping "$FLOOR_PID" "library floor"
kill "$FLOOR_PID" 2>/dev/null || true
wait "$FLOOR_PID" 2>/dev/null || true
FLOOR_PID=""
t0=$(date +%s)
"$CLIENT" leak --count "$TASKS" --parallel "$PARALLEL" --url "$URL" --token-file "$STATE/token" \
        --spec "$W/spec.json" --agent-pid "$AGENT_PID" --cgroup-tasks "$CGROOT/tasks" \
        --sandboxes "$STATE/sandboxes" | tee "$W/leak.txt"
wall=$(($(date +%s) - t0))
sleep 6 # one more housekeeping round for slow groups
sample 1
cmp -s "$W/fds-0.txt" "$W/fds-1.txt" || { echo "-- fds that differ (< before, > after)"; diff "$W/fds-0.txt" "$W/fds-1.txt" || true; }
known="$(api "$URL/api/v1/tasks" | jq '[.tasks[] | select(.id | startswith("leak-"))] | length')"
one="$(api "$URL/api/v1/tasks/leak-0")"
for f in id state reason exit_code timestamps.finished_ms sandbox spec.command; do
        [ "$(jq -c ".$f // empty" <<<"$one")" != "" ] || { echo "FAIL: GET /api/v1/tasks/leak-0 lost .$f: $one"; exit 1; }
done

leak() { awk -v k="$1" '$1 == "LEAK" { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$W/leak.txt"; }
deciles="$(leak rss_kib_by_decile)"
r10="$(cut -d, -f2 <<<"$deciles")"
r100="$(cut -d, -f11 <<<"$deciles")"
growth="$(awk -v a="$r10" -v b="$r100" -v n="$TASKS" 'BEGIN { printf "%.0f", (b - a) * 1024 / (n * 0.9) }')"
projected="$(awk -v r="$rss1" -v g="$growth" -v n="$TASKS" -v goal="$GOAL_TASKS" \
        'BEGIN { x = goal > n ? (goal - n) * g / 1024 : 0; printf "%.0f", r + (x > 0 ? x : 0) }')"

echo
echo "## Agent footprint: $TASKS ended tasks kept (/bin/true, no container), $PARALLEL in flight, $(uname -r) under TCG"
printf "| %-40s | %-44s |\n" metric value
printf "|%s|%s|\n" "------------------------------------------" "----------------------------------------------"
printf "| %-40s | %-44s |\n" "wall time of the tasks (s)" "$wall ($(awk -v w="$wall" -v n="$TASKS" 'BEGIN { printf "%.1f", w * 1000 / n }') ms per task)" \
        "agent VmRSS before / after (KiB)" "$rss0 / $rss1" \
        "agent Pss before / after (KiB)" "$pss0 / $pss1" \
        "agent RssAnon before / after (KiB)" "$anon0 / $anon1" \
        "agent Rss (smaps_rollup) before / after (KiB)" "$walked0 / $walked1" \
        "library floor Rss / of it anonymous (KiB)" "$floor_rss / $floor_anon ($floor_n libraries preloaded into sleep)" \
        "agent Rss above the floor, before / after (KiB)" "$((walked0 - floor_rss)) / $((walked1 - floor_rss))" \
        "VmRSS every 10% of tasks (KiB)" "$deciles" \
        "growth per ended task, 10%..100% (B)" "$growth" \
        "VmRSS at $GOAL_TASKS tasks (KiB)" "$projected$([ "$TASKS" -ge "$GOAL_TASKS" ] || echo " (extrapolated from $TASKS)")" \
        "agent fds before / after" "$fds0 / $fds1" \
        "cgroups under $CGROOT before / after" "$cg0 / $cg1" \
        "ended tasks the agent lists" "$known" \
        "shim VmRSS / Pss, /proc (KiB)" "$shim_rss_kib / $shim_pss_kib" \
        "shim_rss_bytes in the task JSON" "$reported" \
        "silo_task_shim_rss_bytes metric" "${metric:--}"
echo
bench_goal "agent VmRSS with $GOAL_TASKS ended tasks kept" "$projected" KiB "<" 10240
bench_goal "agent VmRSS growth per kept ended task" "$growth" B "<=" 1024
bench_goal "ended tasks still listed (kept by the GC settings)" "$known" tasks ">=" "$TASKS"
bench_goal "agent fds after the tasks (before: $fds0)" "$fds1" fds "<=" "$fds0"
bench_goal "cgroups under the agent's root after the tasks (before: $cg0)" "$cg1" cgroups "<=" "$cg0"
bench_goal "shim VmRSS while its task runs" "$shim_rss_kib" KiB "<=" 1024
# Reported = what /proc says, within the drift of a second apart (25 %).
bench_goal "shim_rss_bytes reported / shim VmRSS" \
        "$(awk -v r="$reported" -v k="$shim_rss_kib" 'BEGIN { if (r ~ /^[0-9]+$/ && k > 0) printf "%.2f", r / (k * 1024); else print "-" }')" \
        x ">=" 0.75
bench_goal "silo_task_shim_rss_bytes metric / shim VmRSS" \
        "$(awk -v r="${metric:-}" -v k="$shim_rss_kib" 'BEGIN { if (r ~ /^[0-9.e+]+$/ && k > 0) printf "%.2f", r / (k * 1024); else print "-" }')" \
        x ">=" 0.75
bench_done
