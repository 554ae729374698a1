#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "iostat": per-cgroup figures of bpf/iostat on Debian's 6.1 kernel against io.stat
# and io.max, across a SIGKILLed and restarted loader.
#
# Two cgroups write to /dev/nullb0 at the same time under different io.max wbps limits. The
# loader (silo-iostat --keep) that attached the programs is SIGKILLed while they write and a
# second one started: it must reuse the pinned programs (no second copy: bytes would double)
# and the counters must not restart (bytes would fall short). Then, per cgroup:
#   BPF bytes       == io.stat wbytes     within 1 %
#   BPF write rate  == the io.max limit   within 10 % (from the restarted loader's intervals)
# Then: every completion timed, a removed cgroup's counters folded into "(removed)" with device
# totals unchanged, --detach leaves nothing pinned, and the hash-only timing works on 6.1 too.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
vm_require_guest

cg=/sys/fs/cgroup
dev=/dev/nullb0
bpffs=/sys/fs/bpf
iostat="${SILO_BUILD_DIR:-}/cli/silo-iostat"
[ -x "$iostat" ] || fail "$iostat not built (SILO_BUILD_DIR='${SILO_BUILD_DIR:-}')"
majmin="$(vm_dev_majmin "$dev")"
pins="$bpffs/silo/iostat"

# name  io.max wbps (B/s)  bytes to write (about 10 s at the limit)
groups=("a 1048576 10485760" "b 2097152 20971520")

work=/tmp/iostat-vm
mkdir -p "$work"
loader1=""
loader2=""
cleanup() {
    set +e
    for p in $loader1 $loader2; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    "$iostat" --detach
    mountpoint -q "$work/bpffs" 2>/dev/null && { "$iostat" --bpffs "$work/bpffs" --detach; umount "$work/bpffs"; }
    for g in "${groups[@]}"; do
        read -r name _ <<<"$g"
        [ -d "$cg/silo-iostat-$name" ] && rmdir "$cg/silo-iostat-$name"
    done
}
trap cleanup EXIT

echo "+io" >"$cg/cgroup.subtree_control"
for g in "${groups[@]}"; do
    read -r name limit _ <<<"$g"
    mkdir "$cg/silo-iostat-$name"
    echo "$majmin wbps=$limit" >"$cg/silo-iostat-$name/io.max"
done

wait_path() { # PATH SECONDS
    for _ in $(seq $(($2 * 10))); do
        [ -e "$1" ] && return 0
        sleep 0.1
    done
    fail "$1 did not appear within $2 s"
}

echo "== first loader attaches and pins"
"$iostat" --keep --interval 1 --json >"$work/loader1.json" 2>"$work/loader1.err" &
loader1=$!
wait_path "$pins/link_complete" 60
# link_issue is pinned only once a queue without rq->io_start_time_ns completes I/O (below).
for p in stats start overflow link_complete link_requeue abi-4; do
    [ -e "$pins/$p" ] || fail "$pins/$p not pinned"
done
pass "programs pinned under $pins"

echo "== writers start"
pids=()
for g in "${groups[@]}"; do
    read -r name limit bytes <<<"$g"
    (vm_timed_dd "$cg/silo-iostat-$name" "$dev" "$bytes" 65536 >"$work/dd-$name") &
    pids+=($!)
done

sleep 3
echo "== SIGKILL the first loader mid-write, start a second one"
kill -KILL "$loader1"
wait "$loader1" 2>/dev/null || true
loader1=""
[ -e "$pins/link_complete" ] || fail "pins vanished with the killed loader"
"$iostat" --keep --interval 1 --json >"$work/loader2.json" 2>"$work/loader2.err" &
loader2=$!

for p in "${pids[@]}"; do
    wait "$p" || fail "a writer failed: $(cat "$work"/dd-* 2>/dev/null)"
done
sleep 1.5
kill -TERM "$loader2"
wait "$loader2" || fail "second loader failed: $(cat "$work/loader2.err")"
loader2=""
[ -e "$pins/link_complete" ] || fail "second loader detached programs it did not attach"

# The second loader reused the pins instead of loading its own copy: exactly one
# iostat_complete program in the kernel.
if command -v bpftool >/dev/null; then
    progs="$(bpftool prog show | grep -c 'name iostat_complete' || true)"
    assert_eq "iostat_complete programs loaded" "$progs" 1
else
    skip_part "bpftool is not installed: the reuse of the pinned programs is not counted"
fi

"$iostat" --totals --json --device "$majmin" >"$work/totals.json" ||
    fail "silo-iostat --totals failed"

for g in "${groups[@]}"; do
    read -r name limit bytes <<<"$g"
    path="/silo-iostat-$name"
    bpf_bytes="$(jq -r --arg c "$path" \
        '[.cgroups[] | select(.cgroup == $c and .op == "write") | .bytes] | add // 0' \
        "$work/totals.json")"
    wbytes="$(sed -n "s/^$majmin .*wbytes=\([0-9]*\).*/\1/p" "$cg/silo-iostat-$name/io.stat")"
    echo "cgroup $path: BPF write bytes $bpf_bytes, io.stat wbytes $wbytes, dd wrote $bytes"
    assert_within "BPF write bytes of $path vs io.stat wbytes" "$bpf_bytes" "$wbytes" 1
    assert_eq "io.stat wbytes of $path" "$wbytes" "$bytes"

    # Rate from the restarted loader: the intervals in which this cgroup wrote, without the
    # first and the last (partial) one.
    read -r rb rs n <<<"$(jq -r --arg c "$path" '
        [.interval_s as $s | .cgroups[] | select(.cgroup == $c and .op == "write" and .bytes > 0)
         | {b: .bytes, s: $s}] | select(length > 0) | .[0] | "\(.b) \(.s)"' \
        "$work/loader2.json" | awk 'NR > 0 { lines[NR] = $0 } END {
            b = 0; s = 0; n = 0
            for (i = 2; i < NR; i++) { split(lines[i], f, " "); b += f[1]; s += f[2]; n++ }
            printf "%d %.3f %d\n", b, s, n }')"
    [ "$n" -ge 3 ] || fail "only $n full intervals of $path in the second loader's output"
    rate="$(awk -v b="$rb" -v s="$rs" 'BEGIN { printf "%.0f", b / s }')"
    echo "cgroup $path: $rb bytes in $n intervals ($rs s) = $rate B/s"
    assert_within "BPF write rate of $path vs io.max wbps" "$rate" "$limit" 10
done

# Latency histograms were filled and are ordered.
jq -e '[.devices[] | select(.op == "write")][0] | .lat_us
       | (.p50 > 0 and .p50 <= .p90 and .p90 <= .p99 and .p99 <= ."p99.9")' \
    "$work/totals.json" >/dev/null || fail "write latency percentiles missing or out of order: $(jq -c '.devices' "$work/totals.json")"
pass "write latency percentiles $(jq -c '[.devices[] | select(.op == "write")][0].lat_us' "$work/totals.json")"

# Every completion was timed (from rq->io_start_time_ns or the in-flight hash).
read -r kts untimed <<<"$(jq -r '[.devices[] | select(.op == "write")][0] | "\(.kernel_timestamps) \(.untimed)"' "$work/totals.json")"
echo "nullb0 timing: $([ "$kts" = true ] && echo "rq->io_start_time_ns (kernel)" || echo "in-flight hash")"
assert_eq "write completions without an issue time" "$untimed" 0
# Completion-only accounting: where every queue stamps, no program runs at issue.
if [ "$kts" = true ] && [ "$(jq -r .unstamped "$work/totals.json")" = 0 ]; then
    [ ! -e "$pins/link_issue" ] || fail "issue program attached though every completion was stamped"
    pass "completion-only: no issue program attached"
fi

echo "== a removed cgroup's counters move to (removed), device totals unchanged"
a_bytes="$(jq -r '[.cgroups[] | select(.cgroup == "/silo-iostat-a" and .op == "write") | .bytes] | add' "$work/totals.json")"
dev_before="$(jq -r '[.devices[] | select(.op == "write") | .bytes] | add' "$work/totals.json")"
rmdir "$cg/silo-iostat-a"
# Any loader prunes on each refresh.
"$iostat" --interval 0.2 --count 1 >/dev/null || fail "silo-iostat refresh failed"
"$iostat" --totals --json --device "$majmin" >"$work/totals2.json"
left="$(jq -r '[.cgroups[] | select(.cgroup == "/silo-iostat-a")] | length' "$work/totals2.json")"
assert_eq "rows left for the removed cgroup /silo-iostat-a" "$left" 0
removed="$(jq -r '[.cgroups[] | select(.cgroup == "(removed)" and .op == "write") | .bytes] | add // 0' "$work/totals2.json")"
assert_eq "write bytes of (removed)" "$removed" "$a_bytes"
assert_eq "device write bytes after pruning" \
    "$(jq -r '[.devices[] | select(.op == "write") | .bytes] | add' "$work/totals2.json")" "$dev_before"

"$iostat" --detach
[ ! -e "$pins" ] || fail "$pins still there after --detach"
pass "--detach removed $pins"

echo "== hash-only timing on this kernel (a private bpffs)"
priv="$work/bpffs"
mkdir -p "$priv"
mount -t bpf bpf "$priv"
"$iostat" --bpffs "$priv" --keep --hash-timestamps --totals >/dev/null ||
    fail "attaching with --hash-timestamps failed"
out="$(LC_ALL=C dd if=/dev/zero of="$dev" bs=65536 count=32 oflag=direct 2>&1)" || fail "dd: $out"
"$iostat" --bpffs "$priv" --totals --json --device "$majmin" >"$work/hash.json"
"$iostat" --bpffs "$priv" --detach
umount "$priv"
read -r hbytes huntimed hkts hp50 <<<"$(jq -r '[.devices[] | select(.op == "write")][0] | "\(.bytes) \(.untimed) \(.kernel_timestamps) \(.lat_us.p50)"' "$work/hash.json")"
assert_eq "write bytes counted with hash timing" "$hbytes" $((32 * 65536))
assert_eq "untimed completions with hash timing" "$huntimed" 0
assert_eq "kernel timestamps used in hash-only mode" "$hkts" false
awk -v p="$hp50" 'BEGIN { exit !(p > 0) }' || fail "hash-timed p50 is $hp50"
pass "hash-timed write p50 ${hp50} us"
assert_done
