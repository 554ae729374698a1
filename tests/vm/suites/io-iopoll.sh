#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "io-iopoll": silo-io with IORING_SETUP_IOPOLL (--hipri) on a null_blk device with
# poll queues (booted with --null-blk "nr_devices=1 poll_queues=2 ..."): the run completes with
# the asked bytes and IOPOLL in its ring flags (and no IOPOLL without --hipri); SQPOLL with
# IOPOLL works; a time-based polled randrw completes both directions.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
vm_require_guest

silo_io="${SILO_BUILD_DIR:-}/io/silo-io"
[ -x "$silo_io" ] || fail "$silo_io not built (SILO_BUILD_DIR='${SILO_BUILD_DIR:-}')"
dev=/dev/nullb0
[ -b "$dev" ] || fail "$dev missing: boot with --null-blk 'nr_devices=1 poll_queues=2'"
assert_eq "io_poll enabled on nullb0" "$(cat /sys/block/nullb0/queue/io_poll)" 1

work=/tmp/io-iopoll
mkdir -p "$work"

# Bytes-based: exactly 32 MiB in 4 KiB reads, polled. (Debian's 6.1 exposes no per-hctx poll
# counters in debugfs; the proof of polling is the kernel accepting IOPOLL on the ring, which
# the reported flags come from, and the reads completing through io_uring_enter's polling.)
"$silo_io" --filename "$dev" --rw randread --bs 4k --iodepth 16 --size 32M --hipri --json > "$work/poll.json"
jq -M -c '{job, elapsed_sec, read: {ios: .read.ios, bytes: .read.bytes, iops: .read.iops, lat_us: .read.lat_us}}' "$work/poll.json"
assert_eq "polled run: bytes read" "$(jq .read.bytes "$work/poll.json")" $((32 << 20))
assert_eq "polled run: no error" "$(jq 'has("error")' "$work/poll.json")" false
assert_eq "polled run: IOPOLL in ring flags" \
    "$(jq -r '.job.ring_flags | split("|") | index("IOPOLL") != null' "$work/poll.json")" true
iops="$(jq '.read.iops' "$work/poll.json")"
awk -v i="$iops" 'BEGIN { exit !(i > 0) }' || fail "polled run reported $iops IOPS"
pass "polled randread 4k QD16: $iops IOPS, p99 $(jq '.read.lat_us.p99' "$work/poll.json") us"

# The same without --hipri: no IOPOLL flag.
"$silo_io" --filename "$dev" --rw randread --bs 4k --iodepth 16 --size 8M --json > "$work/irq.json"
assert_eq "interrupt-driven run: bytes read" "$(jq .read.bytes "$work/irq.json")" $((8 << 20))
assert_eq "interrupt-driven run: IOPOLL in ring flags" \
    "$(jq -r '.job.ring_flags | split("|") | index("IOPOLL") != null' "$work/irq.json")" false

# Polled and SQPOLL together: the kernel thread submits and polls.
"$silo_io" --filename "$dev" --rw read --bs 64k --iodepth 8 --size 16M --hipri --sqpoll --json > "$work/sq.json"
assert_eq "SQPOLL+IOPOLL run: bytes read" "$(jq .read.bytes "$work/sq.json")" $((16 << 20))
assert_eq "SQPOLL+IOPOLL ring flags" "$(jq -r .job.ring_flags "$work/sq.json")" "IOPOLL|SQPOLL"

# Time-based polled run with writes (allowed: nothing on nullb0 is mounted).
"$silo_io" --filename "$dev" --rw randrw --bs 4k --iodepth 32 --runtime 2 --hipri \
    --allow-write-device --json > "$work/rw.json"
jq -e '.read.ios > 0 and .write.ios > 0 and (has("error") | not) and .elapsed_sec >= 2' \
    "$work/rw.json" > /dev/null || fail "polled randrw run: $(cat "$work/rw.json")"
pass "polled randrw for 2 s: $(jq .read.ios "$work/rw.json") reads, $(jq .write.ios "$work/rw.json") writes"
assert_done
