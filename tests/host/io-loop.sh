#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Host suite for silo-io on a loop device over /dev/shm: exact byte counts (JSON and the
# device's own stat counters), verify with a flipped byte, write refusal, mounted-device
# refusal, calibration within its time bound. Usage: io-loop.sh SILO-IO. Exit 77 when not root.
set -euo pipefail
. "$(dirname "$0")/../lib/assert.sh"
# Every check runs even after a failure, so one run shows every hole; the suite fails at the end.
ASSERT_KEEP_GOING=1

SILO_IO=${1:?usage: io-loop.sh /path/to/silo-io}
[ "$(id -u)" -eq 0 ] || skip_suite "needs root (loop devices)"
for p in losetup jq mkfs.ext4 mount umount dd; do
        command -v "$p" >/dev/null || skip_suite "$p missing"
done
[ -d /dev/shm ] || skip_suite "no /dev/shm"

IMG=/dev/shm/silo-io-test-$$.img
IMG2=/dev/shm/silo-io-test-$$-fs.img
FILE=/dev/shm/silo-io-test-$$.file
MNT=""
LOOP=""
LOOP2=""
cleanup() {
        set +e
        [ -n "$MNT" ] && mountpoint -q "$MNT" && umount "$MNT"
        [ -n "$MNT" ] && rmdir "$MNT"
        [ -n "$LOOP" ] && losetup -d "$LOOP"
        [ -n "$LOOP2" ] && losetup -d "$LOOP2"
        rm -f "$IMG" "$IMG2" "$FILE"
}
trap cleanup EXIT

truncate -s 64M "$IMG"
# direct-io=off: the loop driver then reads the backing file through its page cache (tmpfs
# pages are the data itself), so a byte flipped in the file by dd is what the next O_DIRECT
# read of the loop device sees. O_DIRECT on our side bypasses the loop device's own cache.
LOOP=$(losetup --find --show --direct-io=off "$IMG")
DEV=$(basename "$LOOP")
echo "# using $LOOP over $IMG"

# /sys/block/loopN/stat: field 3 = sectors read, field 7 = sectors written
stat_sectors() { awk -v f="$1" '{print $f}' "/sys/block/$DEV/stat"; }

run_counted() { # run_counted OUTJSON ARGS... -> sets DR DW (bytes the device saw)
        local out=$1; shift
        local r0 w0
        r0=$(stat_sectors 3); w0=$(stat_sectors 7)
        "$SILO_IO" --filename "$LOOP" --json "$@" > "$out"
        DR=$(( ($(stat_sectors 3) - r0) * 512 ))
        DW=$(( ($(stat_sectors 7) - w0) * 512 ))
}

T=$(mktemp -d /tmp/silo-io-test.XXXXXX)
trap 'cleanup; rm -rf "$T"' EXIT

# --- writes are refused without --allow-write-device, and nothing is written ---------------
w0=$(stat_sectors 7)
if "$SILO_IO" --filename "$LOOP" --rw write --size 1M 2> "$T/err"; then
        fail "write without --allow-write-device was allowed"
else
        assert_cmd "write refused without --allow-write-device" grep -q -- "--allow-write-device" "$T/err"
fi
assert_cmd "refused write wrote nothing" [ "$(stat_sectors 7)" -eq "$w0" ]

# --- sequential write: exactly the bytes asked ---------------------------------------------
run_counted "$T/w.json" --rw write --bs 4k --iodepth 16 --size 16M --allow-write-device
assert_cmd "write: JSON says 16 MiB written" [ "$(jq .write.bytes "$T/w.json")" -eq $((16 << 20)) ]
assert_cmd "write: 4096 write I/Os" [ "$(jq .write.ios "$T/w.json")" -eq 4096 ]
assert_cmd "write: device saw 16 MiB written ($DW)" [ "$DW" -eq $((16 << 20)) ]
assert_cmd "write: no reads" [ "$(jq .read.ios "$T/w.json")" -eq 0 ]

# --- sequential read ------------------------------------------------------------------------
run_counted "$T/r.json" --rw read --bs 64k --iodepth 8 --offset 1M --size 32M
assert_cmd "read: JSON says 32 MiB read" [ "$(jq .read.bytes "$T/r.json")" -eq $((32 << 20)) ]
assert_cmd "read: device saw 32 MiB read ($DR)" [ "$DR" -eq $((32 << 20)) ]
assert_cmd "read: latency percentiles ordered" jq -e '.read.lat_us | .p50 > 0 and .p50 <= .p99 and .p99 <= ."p99.9" and ."p99.9" <= .max' "$T/r.json"
assert_cmd "read: IOPS and bandwidth reported" jq -e '.read.iops > 0 and .read.bw_bytes > 0 and .cpu.sys_sec >= 0' "$T/r.json"

# --- randrw with a 70% read mix -------------------------------------------------------------
run_counted "$T/rw.json" --rw randrw --rwmixread 70 --bs 4k --iodepth 32 --size 32M --allow-write-device
RB=$(jq .read.bytes "$T/rw.json"); WB=$(jq .write.bytes "$T/rw.json")
assert_cmd "randrw: read+write = 32 MiB ($RB + $WB)" [ $((RB + WB)) -eq $((32 << 20)) ]
assert_cmd "randrw: device saw the same reads ($DR)" [ "$DR" -eq "$RB" ]
assert_cmd "randrw: device saw the same writes ($DW)" [ "$DW" -eq "$WB" ]
assert_cmd "randrw: read share near 70% ($((RB * 100 / (RB + WB)))%)" [ $((RB * 100 / (RB + WB))) -ge 65 -a $((RB * 100 / (RB + WB))) -le 75 ]

# --- numjobs x io_size ----------------------------------------------------------------------
run_counted "$T/nj.json" --rw randread --bs 4k --iodepth 8 --numjobs 2 --io_size 8M --size 32M
assert_cmd "numjobs 2 x io_size 8M = 16 MiB read" [ "$(jq .read.bytes "$T/nj.json")" -eq $((16 << 20)) ]
assert_cmd "numjobs: device saw 16 MiB ($DR)" [ "$DR" -eq $((16 << 20)) ]

# --- rate limit -----------------------------------------------------------------------------
"$SILO_IO" --filename "$LOOP" --json --rw read --bs 64k --iodepth 4 --size 4M --rate 8m > "$T/rate.json"
assert_cmd "rate 8 MiB/s: 4 MiB take ~0.5 s ($(jq .elapsed_sec "$T/rate.json") s)" jq -e '.elapsed_sec > 0.4 and .elapsed_sec < 0.8' "$T/rate.json"

# --- runtime --------------------------------------------------------------------------------
"$SILO_IO" --filename "$LOOP" --json --rw randread --bs 4k --iodepth 16 --runtime 1 > "$T/rt.json"
assert_cmd "runtime 1s: elapsed $(jq .elapsed_sec "$T/rt.json") s" jq -e '.elapsed_sec >= 1.0 and .elapsed_sec < 1.5 and .read.ios > 0' "$T/rt.json"

# --- SIGINT ends a run early: in-flight I/O drained, partial figures reported, exit 130 ------
"$SILO_IO" --filename "$LOOP" --json --rw randread --bs 4k --iodepth 8 --runtime 60 > "$T/int.json" &
pid=$!
sleep 1
kill -INT "$pid"
set +e; wait "$pid"; rc=$?; set -e
assert_cmd "SIGINT: exit 130 (got $rc)" [ "$rc" -eq 130 ]
assert_cmd "SIGINT: cancelled after $(jq .elapsed_sec "$T/int.json") s with figures" jq -e '.cancelled and .elapsed_sec < 5 and .read.ios > 0' "$T/int.json"

# --- verify: clean pass, then flipped bytes -------------------------------------------------
"$SILO_IO" --filename "$LOOP" --json --rw randwrite --bs 4k --iodepth 16 --size 16M --seed 7 --verify --allow-write-device > "$T/v.json"
assert_cmd "verify: write+verify pass is clean" jq -e '.verify.ok and .verify.blocks_checked == 4096 and .write.bytes == 16777216' "$T/v.json"
"$SILO_IO" --filename "$LOOP" --json --rw read --bs 4k --iodepth 16 --size 16M --seed 7 --verify-only > "$T/v2.json"
assert_cmd "verify-only: clean data passes" jq -e '.verify.ok and .verify.blocks_bad == 0' "$T/v2.json"

flip() { # flip BYTE-OFFSET: xor one byte of the backing file with 0x5a
        local off=$1 b
        b=$(dd if="$IMG" bs=1 skip="$off" count=1 status=none | od -An -tu1 | tr -d ' ')
        printf "$(printf '\\%03o' $((b ^ 0x5a)))" | dd of="$IMG" bs=1 seek="$off" conv=notrunc status=none
}
flip $((2000 * 4096 + 9))       # header of block 2000: the offset field (bytes 8-15)
flip $((1234 * 4096 + 1000))    # payload of block 1234
set +e
"$SILO_IO" --filename "$LOOP" --json --rw read --bs 4k --iodepth 16 --size 16M --seed 7 --verify-only > "$T/v3.json" 2> "$T/v3.err"
rc=$?
set -e
assert_cmd "verify-only after flips exits 3 (got $rc)" [ "$rc" -eq 3 ]
assert_cmd "verify: first bad offset is block 1234 ($(jq .verify.first_bad_offset "$T/v3.json"))" jq -e '.verify.first_bad_offset == 1234 * 4096' "$T/v3.json"
assert_cmd "verify: reason is checksum mismatch" jq -e '.verify.reason == "checksum mismatch"' "$T/v3.json"
assert_cmd "verify: exactly 2 bad blocks" jq -e '.verify.blocks_bad == 2' "$T/v3.json"
assert_cmd "verify: stderr names the offset" grep -q "offset 5054464: checksum mismatch" "$T/v3.err"
"$SILO_IO" --filename "$LOOP" --json --rw read --bs 4k --size 4M --offset $((2000 * 4096)) --seed 7 --verify-only > "$T/v4.json" || true
assert_cmd "verify: flipped header byte reads as wrong offset" jq -e '.verify.first_bad_offset == 2000 * 4096 and .verify.reason == "wrong offset"' "$T/v4.json"
"$SILO_IO" --filename "$LOOP" --json --rw read --bs 4k --size 1M --seed 8 --verify-only > "$T/v5.json" || true
assert_cmd "verify: another seed reads as wrong seed at 0" jq -e '.verify.first_bad_offset == 0 and .verify.reason == "wrong seed" and .verify.expected == 8 and .verify.found == 7' "$T/v5.json"
"$SILO_IO" --filename "$LOOP" --json --rw read --bs 4k --offset 40M --size 1M --seed 7 --verify-only > "$T/v6.json" || true
assert_cmd "verify: never-written area reads as bad magic" jq -e '.verify.reason == "bad magic" and .verify.blocks_bad == 256' "$T/v6.json"

# --- verify on a regular file, buffered -----------------------------------------------------
"$SILO_IO" --filename "$FILE" --json --rw write --bs 16k --iodepth 4 --size 8M --verify > "$T/f.json"
assert_cmd "file: buffered write+verify clean" jq -e '.verify.ok and .job.direct == false and .job.blockdev == false and .write.bytes == 8388608' "$T/f.json"

# --- a mounted device is refused even with --allow-write-device ----------------------------
truncate -s 64M "$IMG2"
LOOP2=$(losetup --find --show "$IMG2")
mkfs.ext4 -q -F "$LOOP2"
MNT=$(mktemp -d /tmp/silo-io-mnt.XXXXXX)
mount "$LOOP2" "$MNT"
if "$SILO_IO" --filename "$LOOP2" --rw write --size 1M --allow-write-device 2> "$T/m.err"; then
        fail "write to a mounted device was allowed"
else
        assert_cmd "mounted device refused: $(cat "$T/m.err")" grep -q "is mounted at $MNT" "$T/m.err"
fi
assert_cmd "calibration with writes refuses a mounted device" bash -c "! '$SILO_IO' --calibrate --filename '$LOOP2' --runtime 1 --allow-write-device 2>/dev/null"
umount "$MNT"

# A disk whose partition is mounted is refused too: the VM suite io-partition proves it on
# Debian's kernel; loop devices here may have no partition scanning at all (this container's
# kernel makes no loopNp1), and a host suite must not pass by skipping it.

# --- calibration: non-zero figures within the time bound ------------------------------------
s=$(date +%s.%N)
"$SILO_IO" --calibrate --json --filename "$LOOP" --runtime 1 > "$T/c.json"
e=$(echo "$(date +%s.%N) - $s" | bc)
echo "# calibration figures: $(jq -c '[.read_bps, .read_iops] | map([.method, (.value | floor), .seconds, .unwritten_data])' "$T/c.json")"
assert_cmd "calibration (reads, 1 s per figure) took $e s (< 3)" [ "$(echo "$e < 3" | bc)" -eq 1 ]
assert_cmd "calibration: read_bps and read_iops non-zero, methods recorded" jq -e '
        .read_bps.measured and .read_bps.value > 0 and .read_bps.method == "seqread" and .read_bps.bs == 1048576 and .read_bps.iodepth == 32 and
        .read_iops.measured and .read_iops.value > 0 and .read_iops.method == "randread" and .read_iops.bs == 4096 and .read_iops.iodepth == 64 and
        .read_bps.seconds <= 1.0 and .read_iops.seconds <= 1.0 and .read_bps.unwritten_data and
        (.write_bps.measured | not)' "$T/c.json"
s=$(date +%s.%N)
"$SILO_IO" --calibrate --json --filename "$LOOP2" --runtime 1 --allow-write-device > "$T/c2.json"
e=$(echo "$(date +%s.%N) - $s" | bc)
assert_cmd "calibration (4 figures, unmounted device, writes allowed) took $e s (< 5.5)" [ "$(echo "$e < 5.5" | bc)" -eq 1 ]
echo "# calibration figures: $(jq -c '[.read_bps, .read_iops, .write_bps, .write_iops] | map([.method, (.value | floor), .seconds, .unwritten_data])' "$T/c2.json")"
assert_cmd "calibration with writes: 4 non-zero figures, reads on written data" jq -e '
        [.read_bps, .read_iops, .write_bps, .write_iops] | all(.measured and .value > 0 and .seconds <= 1.0) and
        (.[0].unwritten_data | not)' "$T/c2.json"
assert_done
