#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "io-throttled": silo-io inside a cgroup whose io.max throttles /dev/nullb0 (wbps 4 MiB/s,
# rbps 8 MiB/s). blk-throttle dispatches the bios it held back from its own worker; when the
# device's tags are all taken, io_uring's REQ_NOWAIT bios then complete with -EAGAIN, which
# the kernel (6.1) passes to the CQE. The engine must resubmit them, not fail (before the fix:
# "I/O failed: Resource temporarily unavailable" at QD 8 and 32). Each run must exit 0, move
# exactly the asked bytes, and measure a rate within ±10 % of the limit: a direct write at QD 8
# (with and without fixed buffers / SQPOLL), direct random reads at QD 1 and 32, and a
# buffered write to a file on ext4 (cgroup writeback, timed through the final sync).
# Booted with --null-blk "nr_devices=1 gb=1 memory_backed=1 hw_queue_depth=2": a shallow
# queue like a SATA/USB/SD device's makes tags run out (and ext4 needs the data kept).
# SILO_IO=/path/to/silo-io overrides the binary (to run the suite against another build).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
vm_require_guest

silo_io="${SILO_IO:-${SILO_BUILD_DIR:-}/io/silo-io}"
[ -x "$silo_io" ] || fail "$silo_io not built (SILO_BUILD_DIR='${SILO_BUILD_DIR:-}')"
dev=/dev/nullb0
[ -b "$dev" ] || fail "$dev missing"
Mi=1048576
wbps=$((4 * Mi))
rbps=$((8 * Mi))
cg=/sys/fs/cgroup/io-throttled
work=/tmp/io-throttled
mnt=$work/mnt
majmin="$(vm_dev_majmin "$dev")"

cleanup() {
    set +e
    mountpoint -q "$mnt" && umount "$mnt"
    # Processes of the group have exited (each run is waited for); an empty group can go.
    [ -d "$cg" ] && rmdir "$cg"
}
trap cleanup EXIT

mkdir -p "$work" "$mnt"
echo "+io +memory" > /sys/fs/cgroup/cgroup.subtree_control
mkdir "$cg"
echo "$majmin rbps=$rbps wbps=$wbps" > "$cg/io.max"
echo "io.max of $cg: $(cat "$cg/io.max")"

# in_cgroup CMD...: run CMD from a shell that joined $cg first, so every byte (and every io-wq
# worker io_uring starts for it) is charged to the group.
in_cgroup() {
    sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg" "$@"
}

# run_case NAME WANT_DIR WANT_BYTES LIMIT silo-io-args...: exit 0, exact bytes, no error, rate.
run_case() {
    local name="$1" dir="$2" bytes="$3" limit="$4" out="$work/$1.json" rc=0
    shift 4
    in_cgroup "$silo_io" "$@" --json > "$out" 2> "$work/$name.err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$out" "$work/$name.err"
        fail "$name: silo-io exited $rc: $(cat "$work/$name.err")"
    fi
    jq -M -c "{elapsed_sec, retries, $dir: {ios: .$dir.ios, bytes: .$dir.bytes, bw_bytes: .$dir.bw_bytes}}" "$out"
    assert_eq "$name: no error" "$(jq 'has("error")' "$out")" false
    assert_eq "$name: $dir bytes" "$(jq ".$dir.bytes" "$out")" "$bytes"
    assert_within "$name: $dir bytes/s" "$(jq ".$dir.bw_bytes" "$out")" "$limit" 10
    pass "$name: resubmitted $(jq '.retries.total' "$out") times" \
         "(eagain $(jq '.retries.eagain' "$out"), short $(jq '.retries.short' "$out"))"
}

# must_have_retried NAME: the run met the late -EAGAIN this suite is about (so a pass proves
# the resubmission, not a kernel that never bounced anything).
must_have_retried() {
    local n
    n="$(jq '.retries.eagain' "$work/$1.json")"
    awk -v n="$n" 'BEGIN { exit !(n > 0) }' || fail "$1: no -EAGAIN was resubmitted ($n): the suite did not reach the throttled NOWAIT path"
    pass "$1: $n -EAGAIN completions resubmitted"
}

run_case write-qd8 write $((16 * Mi)) "$wbps" \
    --filename "$dev" --rw write --bs 64k --iodepth 8 --size 16M --allow-write-device
must_have_retried write-qd8
run_case write-qd8-fixed-sqpoll write $((16 * Mi)) "$wbps" \
    --filename "$dev" --rw write --bs 64k --iodepth 8 --size 16M --allow-write-device \
    --fixedbufs 1 --sqpoll
run_case randread-qd1 read $((24 * Mi)) "$rbps" \
    --filename "$dev" --rw randread --bs 16k --iodepth 1 --size 24M
run_case randread-qd32 read $((24 * Mi)) "$rbps" \
    --filename "$dev" --rw randread --bs 16k --iodepth 32 --size 24M
must_have_retried randread-qd32
run_case randread-qd32-nofixed read $((24 * Mi)) "$rbps" \
    --filename "$dev" --rw randread --bs 16k --iodepth 32 --size 24M --fixedbufs 0 --registerfiles 0

# Buffered: the page cache absorbs the writes, so the limit shows over write + fsync. A
# memory.max of 64 MiB keeps the group's dirty pages few (memcg dirty throttling), and cgroup
# writeback charges their writeback to the group: 32 MiB over the whole time is wbps ± 10 %.
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$dev"
mount -t ext4 "$dev" "$mnt"
echo $((64 * Mi)) > "$cg/memory.max"
file="$mnt/buffered.dat"
# The write phase is timed by silo-io itself (first I/O to last completion) and the sync by
# the shell right after it: process start-up through 9p under TCG stays out of the figure.
in_cgroup sh -c '"$1" --filename "$2" --rw write --bs 64k --iodepth 8 --size 32M --direct 0 --json > "$3" || exit 1
    a="$(date +%s.%N)"; sync "$2" || exit 1; echo "$a $(date +%s.%N)" > "$4"' \
    sh "$silo_io" "$file" "$work/buffered.json" "$work/sync.times" \
    || fail "buffered write: $(cat "$work/buffered.json")"
jq -M -c '{elapsed_sec, retries, job: {direct: .job.direct}, write: {bytes: .write.bytes}}' "$work/buffered.json"
assert_eq "buffered: no error" "$(jq 'has("error")' "$work/buffered.json")" false
assert_eq "buffered: direct" "$(jq '.job.direct' "$work/buffered.json")" false
assert_eq "buffered: write bytes" "$(jq '.write.bytes' "$work/buffered.json")" $((32 * Mi))
assert_eq "buffered: file size" "$(stat -c %s "$file")" $((32 * Mi))
read -r s0 s1 < "$work/sync.times"
w="$(jq .elapsed_sec "$work/buffered.json")"
echo "buffered: write phase ${w}s, sync $(awk -v a="$s0" -v z="$s1" 'BEGIN { printf "%.3f", z - a }')s"
rate="$(awk -v b=$((32 * Mi)) -v w="$w" -v a="$s0" -v z="$s1" 'BEGIN { printf "%.0f", b / (w + z - a) }')"
assert_within "buffered: write+sync bytes/s" "$rate" "$wbps" 10
echo "io.stat of $cg: $(grep "^$majmin " "$cg/io.stat" || true)"
assert_done
