#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Overhead of bpf/iostat: 4 KiB random reads (fio, io_uring, direct, QD 32) on a loop device
# over /dev/shm, alternating runs without the programs, with them timing requests through
# rq->io_start_time_ns (kernel-first: completion-only on a queue that stamps) and with the
# in-flight hash only, and a second run without them (A/A: the noise floor); median of the
# rounds.
#
# Usage: iostat-overhead.sh [--build DIR | --iostat PATH] [--rounds N] [--runtime SEC] [--size MiB]
#                           [--profile PAIRS]
# Prints IOPS per mode, the loss in %, each round's paired loss (and the A/A difference of the
# two detached runs of each round: a loss within it is not resolvable here), and CPU ns per I/O
# (whole system, from /proc/stat, so the loop worker threads are included; plus fio's own
# usr+sys; on a CPU-bound run that figure moves with 1/IOPS, so it does not explain a loss).
# --profile PAIRS (0: off; default 2 when `perf record -a` works): after the goal figures, PAIRS
# more detached/kernel-first pairs under `perf record -a`, and where the CPU an I/O costs goes
# in each mode: ns per I/O of the I/O's threads (fio, the loop worker, softirq, interrupts taken
# while idle; other processes left out) by kind (the BPF programs, their tracepoint dispatch,
# clock reads, map code, the rest) and the symbols that moved most (the rest's delta is the
# noise floor of the pairs); then, from the attached runs' call graphs alone, everything under
# the tracepoint's BPF dispatch as a share of those runs' I/O CPU (no other run enters it).
# Needs root, fio and BTF (perf and python3 for the profile).
# Goals (issue 19): the programs that fire per I/O cost <= 150 ns per I/O together (kernel BPF
# run-time stats, kernel-first mode, the one the agent uses) and <= 2 % IOPS loss attached,
# paired per round; exits 1 when one is missed (tests/bench/README.md).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/bench.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$here/../../build"
iostat=""
rounds=5
runtime=5
size=1024
profile=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --build) build="$2"; shift 2 ;;
        --iostat) iostat="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --runtime) runtime="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --profile) profile="$2"; shift 2 ;;
        *) echo "usage: $0 [--build DIR | --iostat PATH] [--rounds N] [--runtime SEC] [--size MiB] [--profile PAIRS]" >&2; exit 2 ;;
    esac
done
iostat="${iostat:-$build/cli/silo-iostat}"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -r /sys/kernel/btf/vmlinux ] || { echo "SKIP: no BTF"; exit 77; }
command -v fio >/dev/null || { echo "SKIP: fio not installed"; exit 77; }
[ -x "$iostat" ] || { echo "$iostat not built (--build DIR)" >&2; exit 1; }

img=""
loopdev=""
bpffs=""
work="$(mktemp -d /tmp/silo-iostat-bench-XXXXXX)"
cleanup() {
    set +e
    [ -n "$bpffs" ] && "$iostat" --detach --bpffs "$bpffs" 2>/dev/null
    [ -n "$loopdev" ] && losetup -d "$loopdev"
    if [ -n "$bpffs" ]; then
        mountpoint -q "$bpffs" && umount "$bpffs"
        rmdir "$bpffs"
    fi
    [ -n "$img" ] && rm -f "$img"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

img="$(mktemp /dev/shm/silo-iostat-bench-XXXXXX.img)"
# Real data, not a sparse file: reads of holes would skip the page cache work.
dd if=/dev/urandom of="$img" bs=1M count="$size" status=none
# Direct I/O from the loop driver to the tmpfs file (6.6+) skips its page cache copy: the
# highest IOPS the loop device gives, so the programs' share of the cost is easiest to see.
loopdev="$(losetup -f --show --direct-io=on "$img" 2>/dev/null || losetup -f --show "$img")"
echo "loop direct I/O: $(cat "/sys/block/$(basename "$loopdev")/loop/dio")"
bpffs="$(mktemp -d /tmp/silo-iostat-bpffs-XXXXXX)"
mount -t bpf bpf "$bpffs"

# Busy and total jiffies of all CPUs from /proc/stat.
cpu_ticks() {
    awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; total = busy + $5 + $6; print busy, total }' /proc/stat
}

# run MODE [cost] [PERF-DATA] -> "iops ns_per_io_system ns_per_io_fio bpf_ns_per_io
#                     issue_ns_per_io complete_ns_per_io issue_attached device_timing"
# With PERF-DATA the fio run is recorded system-wide there (and its I/O count kept beside it).
run() {
    local mode="$1" cost="${2:-}" perfdata="${3:-}" out b0 t0 b1 t1 mon="" bpf_ns=0 issue_ns=0 \
        complete_ns=0 issue_on=- timing=- rec=()
    [ -z "$perfdata" ] || rec=(perf record -e cpu-clock -a -g -F 1999 -o "$perfdata" --)
    case "$mode" in
        # The same loader work right before fio as in the attached modes (a process that
        # parses the kernel's BTF, loads, attaches and pins, and one that detaches): a
        # detached run differs from an attached one only in the programs being attached.
        off | off2)
            "$iostat" --bpffs "$bpffs" --keep --totals >/dev/null
            "$iostat" --bpffs "$bpffs" --detach ;;
        kernel) "$iostat" --bpffs "$bpffs" --keep --totals >/dev/null ;;
        hash) "$iostat" --bpffs "$bpffs" --keep --totals --hash-timestamps >/dev/null ;;
    esac
    if [ "$mode" != off ] && [ -n "$cost" ]; then
        # The programs' own run time (kernel BPF stats) over an interval that spans the run.
        # The accounting itself costs two clock reads per program run, so these runs are kept
        # out of the IOPS figures.
        "$iostat" --bpffs "$bpffs" --prog-cost --json --interval "$((runtime + 1))" --count 1 \
            >"$work/cost.json" &
        mon=$!
        sleep 0.3
    fi
    read -r b0 t0 <<<"$(cpu_ticks)"
    "${rec[@]}" fio --name=randread --filename="$loopdev" --rw=randread --bs=4k --ioengine=io_uring \
        --direct=1 --iodepth=32 --runtime="$runtime" --time_based --norandommap \
        --output-format=json >"$work/fio.json" 2>"$work/fio.err" ||
        { cat "$work/fio.err" >&2; exit 1; }
    read -r b1 t1 <<<"$(cpu_ticks)"
    [ -z "$perfdata" ] || jq -r '.jobs[0].read.total_ios' "$work/fio.json" >"$perfdata.ios"
    if [ -n "$mon" ]; then
        wait "$mon"
        read -r bpf_ns issue_ns complete_ns issue_on <<<"$(jq -r '.bpf_cost |
            "\(.ns_per_io) \(.issue.ns_per_io) \(.complete.ns_per_io) \(.issue.attached)"' \
            "$work/cost.json")"
    fi
    if [ "$mode" = kernel ] || [ "$mode" = hash ]; then
        timing="$("$iostat" --bpffs "$bpffs" --totals --json --device "$loopdev" |
            jq -r '[.devices[] | select(.op == "read")][0].timing')"
    fi
    [ "$mode" = off ] || [ "$mode" = off2 ] || "$iostat" --bpffs "$bpffs" --detach
    local hz
    hz="$(getconf CLK_TCK)"
    jq -r --argjson db "$((b1 - b0))" --argjson hz "$hz" --argjson rt "$runtime" --argjson bpf "$bpf_ns" \
        --arg rest "$issue_ns $complete_ns $issue_on $timing" '
        .jobs[0] as $j | ($j.read.total_ios) as $n |
        "\($j.read.iops) \($db / $hz * 1e9 / $n) \(($j.usr_cpu + $j.sys_cpu) / 100 * $rt * 1e9 / $n) \($bpf) \($rest)"' \
        "$work/fio.json"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "loop device $loopdev over $img ($size MiB), fio randread 4k QD32 io_uring direct, ${runtime}s x $rounds rounds"
modes=(off kernel hash)
# off2 is a second detached run in each round: its paired difference to off (an A/A
# comparison) is the noise floor of the paired loss on the machine the rounds ran on.
runs=(off kernel hash off2)
: >"$work/results"
for r in $(seq "$rounds"); do
    # Rotate the order each round so drift (other load, thermal) hits every mode alike.
    for k in 0 1 2 3; do
        m="${runs[$(((k + r) % 4))]}"
        res="$(run "$m")"
        echo "round $r $m: $res"
        echo "$m $res $r" >>"$work/results"
    done
done
for r in 1 2 3; do
    for m in kernel hash; do
        res="$(run "$m" cost)"
        echo "cost run $r $m: $res"
        echo "$m $res" >>"$work/cost"
    done
done

for m in "${modes[@]}"; do
    iops="$(awk -v m="$m" '$1 == m { print $2 }' "$work/results" | median)"
    sys="$(awk -v m="$m" '$1 == m { print $3 }' "$work/results" | median)"
    fio_ns="$(awk -v m="$m" '$1 == m { print $4 }' "$work/results" | median)"
    bpf_ns="$(awk -v m="$m" '$1 == m { print $5 }' "$work/cost" 2>/dev/null | median)"
    printf -v "bpf_$m" '%s' "$bpf_ns"
    printf -v "iops_$m" '%s' "$iops"
    printf -v "sys_$m" '%s' "$sys"
    printf -v "fio_$m" '%s' "$fio_ns"
done
echo
printf '%-22s %12s %8s %18s %16s %11s\n' mode "IOPS(median)" "loss%" "sys ns/IO (delta)" "fio ns/IO (delta)" "BPF ns/IO"
for m in "${modes[@]}"; do
    i="iops_$m" s="sys_$m" f="fio_$m" p="bpf_$m"
    awk -v m="$m" -v i="${!i}" -v b="$iops_off" -v s="${!s}" -v f="${!f}" -v s0="$sys_off" -v f0="$fio_off" -v p="${!p}" 'BEGIN {
        name = m == "off" ? "detached" : (m == "kernel" ? "attached kernel-first" : "attached hash-only")
        if (m == "off")
            printf "%-22s %12.0f %8s %18.0f %16.0f %11s\n", name, i, "-", s, f, "-"
        else
            printf "%-22s %12.0f %8.2f %9.0f (%+6.0f) %8.0f (%+5.0f) %11.0f\n", name, i, (b - i) / b * 100, s, s - s0, f, f - f0, p
    }'
done
echo "(loss% > 0 means fewer IOPS attached; BPF ns/IO is the programs' own run time, issue + complete)"
echo
printf '%-22s %-8s %14s %16s %16s\n' mode timing "issue ns/IO" "complete ns/IO" "issue attached"
for m in kernel hash; do
    iss="$(awk -v m="$m" '$1 == m { print $6 }' "$work/cost" | median)"
    com="$(awk -v m="$m" '$1 == m { print $7 }' "$work/cost" | median)"
    att="$(awk -v m="$m" '$1 == m { print $8 }' "$work/cost" | tail -n1)"
    tim="$(awk -v m="$m" '$1 == m { print $9 }' "$work/cost" | tail -n1)"
    printf '%-22s %-8s %14.0f %16.0f %16s\n' "$m" "$tim" "$iss" "$com" "$att"
done
# Runs of one round are seconds apart and see the same background load; the median of the
# per-round ratios is steadier than the ratio of medians on a shared machine.
for m in kernel hash off2; do
    loss="$(awk -v m="$m" '$1 == "off" { off[$NF] = $2 } $1 == m { on[$NF] = $2 }
        END { for (r in on) if (off[r] > 0) print (off[r] - on[r]) / off[r] * 100 }' "$work/results" |
        median | awk '{ printf "%.2f", $1 }')"
    printf -v "loss_$m" '%s' "$loss"
    # Each round's figure too: their spread says how far the median can be trusted here.
    per="$(awk -v m="$m" '$1 == "off" { off[$NF] = $2 } $1 == m { on[$NF] = $2 }
        END { for (r = 1; r in on; r++) if (off[r] > 0) printf " %.1f", (off[r] - on[r]) / off[r] * 100 }' \
        "$work/results")"
    if [ "$m" = off2 ]; then
        echo "paired difference detached vs detached again (A/A, the noise floor): $loss% (rounds:$per)"
        # The noise of a paired median here: the A/A median's own size, or the A/A rounds'
        # interquartile range over sqrt(rounds) (about the standard error of a median),
        # whichever is larger.
        aa_noise="$(tr ' ' '\n' <<<"$per" | grep . | sort -g | awk '{ v[NR] = $1 + 0 }
            function q(p,   x, i) { x = 1 + (NR - 1) * p; i = int(x); return v[i] + (x - i) * (v[(i + 1 < NR) ? i + 1 : NR] - v[i]) }
            END { if (NR == 0) { print "nan"; exit } m = q(0.5); if (m < 0) m = -m
                  e = (q(0.75) - q(0.25)) / sqrt(NR); printf "%.2f", (m > e) ? m : e }')"
    else
        echo "paired loss (median of per-round ratios), $m: $loss% (rounds:$per)"
    fi
done
# What the programs' own run time is of all the CPU an I/O costs with them detached: the IOPS
# loss a CPU-bound run would see, and a figure that other load on the machine moves far less
# than the paired IOPS loss (printed for comparison, not a goal).
awk -v b="$bpf_kernel" -v s="$sys_off" 'BEGIN { if (s > 0) printf "BPF share of the CPU per I/O (kernel-first): %.0f ns of %.0f ns = %.2f %%\n", b, s, b / s * 100 }'
timing_kernel="$(awk '$1 == "kernel" { print $9 }' "$work/cost" | tail -n1)"
echo "kernel-first mode on $loopdev: $timing_kernel timing (kernel = completion-only)"

# Where the CPU of an I/O goes, detached vs kernel-first (see --profile in the header).
if [ -z "$profile" ]; then
    profile=0
    command -v perf >/dev/null && command -v python3 >/dev/null &&
        perf record -a -o "$work/probe.data" -- true >/dev/null 2>&1 && profile=2
fi
if [ "$profile" -gt 0 ]; then
    for r in $(seq "$profile"); do
        # Alternate which mode goes first, as the rounds do.
        if [ $((r % 2)) -eq 1 ]; then order="off kernel"; else order="kernel off"; fi
        for m in $order; do
            run "$m" "" "$work/prof-$m-$r.data" >/dev/null
        done
    done
    echo
    echo "profile: $profile pairs under perf record -a, CPU ns per I/O of the I/O's threads"
    python3 - "$work" "$profile" <<'PY'
import collections, re, subprocess, sys
work, pairs = sys.argv[1], int(sys.argv[2])
# The threads that do an I/O's work; everything else on the machine is left out. Idle-loop
# samples count only outside the halt itself (interrupt and softirq work taken while idle).
THREADS = re.compile(r'^(fio|kworker/|ksoftirqd/|swapper|irq/)')
IDLE = re.compile(r'halt|default_idle|cpuidle|mwait|poll_idle|intel_idle|acpi_idle')
KINDS = [('BPF programs', re.compile(r'^bpf_prog_')),
         ('tracepoint -> BPF dispatch', re.compile(r'^(bpf_trace_run\d|__bpf_trace_|__traceiter_|migrate_(en|dis)able|__bpf_prog_(enter|exit))')),
         ('clock reads', re.compile(r'ktime_get|clocksource|pvclock|kvm_clock|read_tsc|native_sched_clock|hpet')),
         ('BPF map code', re.compile(r'htab|lookup_nulls|bpf_map_|jhash|percpu_array'))]
def load(path):
    ios = int(open(path + '.ios').read())
    out = subprocess.run(['perf', 'report', '-i', path, '--stdio', '-g', 'none', '--sort', 'comm,sym',
                          '-F', 'period,comm,sym'], capture_output=True, text=True).stdout
    syms = collections.Counter()
    for line in out.splitlines():
        m = re.match(r'\s*(\d+)\s+(\S.*?)\s{2,}\[.\]\s+(.*)$', line)
        if not m or not THREADS.match(m.group(2)) or IDLE.search(m.group(3)):
            continue
        syms[m.group(3).strip()] += int(m.group(1))  # cpu-clock period: ns
    return ios, syms
def per_io(mode):
    ios, syms = 0, collections.Counter()
    for r in range(1, pairs + 1):
        i, s = load('%s/prof-%s-%d.data' % (work, mode, r))
        ios += i
        syms.update(s)
    return {k: v / ios for k, v in syms.items()}
off, on = per_io('off'), per_io('kernel')
def kind(sym):
    return next((name for name, rx in KINDS if rx.search(sym)), 'the rest')
print('%-28s %12s %14s %8s' % ('kind', 'detached', 'kernel-first', 'delta'))
for name in [k for k, _ in KINDS] + ['the rest', 'total']:
    a = sum(v for k, v in off.items() if name == 'total' or kind(k) == name)
    b = sum(v for k, v in on.items() if name == 'total' or kind(k) == name)
    print('%-28s %12.0f %14.0f %+8.0f' % (name, a, b, b - a))
total = sum(off.values())
if total:
    print('delta of the total: %.2f %% of the detached CPU per I/O' % ((sum(on.values()) - total) / total * 100))
# Within the attached runs alone, so unlike the deltas above no other run's conditions enter:
# everything sampled under the tracepoint's BPF dispatch (call graphs: the programs, their
# helpers, clock reads and map lookups) against all the CPU of the I/O's threads in those runs.
# On a CPU-bound run it is the IOPS loss to expect; if completions land on the busiest CPU the
# loss can reach about twice that.
def under_dispatch(path):
    out = subprocess.run(['perf', 'report', '-i', path, '--stdio', '--children', '-g', 'none',
                          '--sort', 'sym'], capture_output=True, text=True).stdout
    count = int(re.search(r'Event count \(approx\.\): (\d+)', out).group(1))
    pct = sum(float(m.group(1)) for m in re.finditer(r'^\s*([\d.]+)%\s+[\d.]+%\s+\[k\] bpf_trace_run\d\s*$', out, re.M))
    return pct / 100 * count
ios = sum(int(open('%s/prof-kernel-%d.data.ios' % (work, r)).read()) for r in range(1, pairs + 1))
bpf = sum(under_dispatch('%s/prof-kernel-%d.data' % (work, r)) for r in range(1, pairs + 1)) / ios
if on:
    print('under the BPF dispatch, attached runs: %.0f ns per I/O = %.2f %% of the I/O threads\' %.0f ns' %
          (bpf, bpf / sum(on.values()) * 100, sum(on.values())))
print('symbols that moved most (ns per I/O, detached -> kernel-first):')
for k in sorted(set(off) | set(on), key=lambda k: -abs(on.get(k, 0) - off.get(k, 0)))[:12]:
    print('  %+7.1f  %7.1f -> %7.1f  %s' % (on.get(k, 0) - off.get(k, 0), off.get(k, 0), on.get(k, 0), k))
PY
fi
bench_goal "BPF cost per I/O (kernel-first: the programs that fire per I/O)" "$bpf_kernel" "ns" "<=" 150
# The loss is decided only when its noise (from the A/A rounds) keeps it on one side of the
# goal: loss + noise <= 2 is met, loss - noise > 2 is missed, anything between is unresolved
# here, and the profile's share under the BPF dispatch above is the figure to read.
echo "noise of the paired median (from the A/A rounds): +-$aa_noise %"
if awk -v l="$loss_kernel" -v n="$aa_noise" 'BEGIN { exit !(n != "nan" && (l + n <= 2 || l - n > 2)) }'; then
    bench_goal "IOPS loss attached (kernel-first), paired median" "$loss_kernel" "%" "<=" 2
else
    bench_unresolved "IOPS loss attached (kernel-first), paired median" "$loss_kernel" "%" "<=" 2 \
        "its noise is +-$aa_noise %, so the loss may lie on either side of the goal"
fi
bench_done
