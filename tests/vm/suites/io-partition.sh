#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "io-partition": silo-io refuses to write to a disk when one of its partitions is
# mounted or used as swap, even with --allow-write-device, and allows it once released. Runs in
# the VM because it needs MBR partition support (Debian's kernel has it) and the loop module.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
vm_require_guest

silo_io="${SILO_BUILD_DIR:-}/io/silo-io"
[ -x "$silo_io" ] || fail "$silo_io not built (SILO_BUILD_DIR='${SILO_BUILD_DIR:-}')"
work=/tmp/io-partition
mkdir -p "$work/mnt"
img="$work/disk.img"
truncate -s 64M "$img"
# One MBR partition (type 0x83, sectors 2048..67583).
python3 - "$img" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(446)
    f.write(struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x83, b"\0\0\0", 2048, 65536))
    f.seek(510)
    f.write(b"\x55\xaa")
PY
loop="$(losetup --find --show --partscan "$img")"
cleanup() {
    umount "$work/mnt" 2>/dev/null || true
    swapoff "${loop}p1" 2>/dev/null || true
    losetup -d "$loop" || true
}
trap cleanup EXIT
for _ in $(seq 50); do [ -b "${loop}p1" ] && break; sleep 0.1; done
[ -b "${loop}p1" ] || fail "${loop}p1 did not appear"

refused() { # refused NAME DEVICE PATTERN
    if "$silo_io" --filename "$2" --rw write --size 1M --allow-write-device 2> "$work/err"; then
        fail "$1: write was allowed"
    fi
    grep -q -- "$3" "$work/err" || fail "$1: message '$(cat "$work/err")' lacks '$3'"
    pass "$1: $(cat "$work/err")"
}

mkfs.ext4 -q -F "${loop}p1"
mount "${loop}p1" "$work/mnt"
refused "whole disk, partition mounted" "$loop" "(partition of .*) is mounted at $work/mnt"
refused "the mounted partition itself" "${loop}p1" "is mounted at $work/mnt"
if "$silo_io" --calibrate --filename "$loop" --runtime 1 --allow-write-device 2> "$work/err" >/dev/null; then
    fail "calibration with writes on a disk with a mounted partition was allowed"
fi
grep -q "is mounted at" "$work/err" || fail "calibration refusal: $(cat "$work/err")"
pass "calibration with writes refused: $(cat "$work/err")"
umount "$work/mnt"

mkswap -q "${loop}p1" >/dev/null 2>&1 || mkswap "${loop}p1" >/dev/null
swapon "${loop}p1"
refused "whole disk, partition used as swap" "$loop" "in use as swap"
swapoff "${loop}p1"

"$silo_io" --filename "$loop" --rw write --bs 64k --size 1M --allow-write-device --json > "$work/ok.json"
assert_eq "released disk: bytes written" "$(jq .write.bytes "$work/ok.json")" $((1 << 20))
assert_done
