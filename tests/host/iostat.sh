#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Host suite for bpf/iostat: a loop device over a /dev/shm file and a private bpffs, then
# iostat-check (exact bytes, I/O counts vs /sys/block/loopX/stat, histograms, reuse).
# Then silo-iostat's operator-facing errors: no bpffs, no privileges.
# Usage: iostat.sh PATH/TO/iostat-check [MiB [PATH/TO/silo-iostat]]. Exits 77 when not root or
# without BTF.
set -euo pipefail
. "$(dirname "$0")/../lib/assert.sh"

check=${1:?usage: iostat.sh PATH/TO/iostat-check [MiB [PATH/TO/silo-iostat]]}
mib=${2:-16}
cli=${3:-}

if [ "$(id -u)" -ne 0 ]; then
    skip_suite "iostat host suite needs root"
fi
if [ ! -r /sys/kernel/btf/vmlinux ]; then
    skip_suite "kernel has no BTF (/sys/kernel/btf/vmlinux)"
fi

img=""
loopdev=""
bpffs=""
plain=""
cleanup() {
    set +e
    [ -n "$plain" ] && rmdir "$plain"
    [ -n "$loopdev" ] && losetup -d "$loopdev"
    if [ -n "$bpffs" ]; then
        mountpoint -q "$bpffs" && umount "$bpffs"
        rmdir "$bpffs"
    fi
    [ -n "$img" ] && rm -f "$img"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

img=$(mktemp /dev/shm/silo-iostat-XXXXXX.img)
truncate -s $((mib + 8))M "$img"
loopdev=$(losetup -f --show "$img")
# A private bpffs: the test neither sees nor disturbs programs an agent pinned in /sys/fs/bpf.
bpffs=$(mktemp -d /tmp/silo-iostat-bpffs-XXXXXX)
mount -t bpf bpf "$bpffs"

echo "loop device $loopdev over $img, bpffs $bpffs"
"$check" -d "$loopdev" -m "$mib" -b "$bpffs"

if [ -z "$cli" ]; then
    skip_part "silo-iostat's errors: no PATH/TO/silo-iostat argument"
    assert_done
fi
expect_error() { # NAME PATTERN COMMAND...
    local name="$1" pattern="$2" out rc=0
    shift 2
    out="$("$@" 2>&1)" || rc=$?
    [ "$rc" -ne 0 ] || fail "$name: exit status 0, output: $out"
    grep -q -- "$pattern" <<<"$out" || fail "$name: message '$out' lacks '$pattern'"
    pass "$name: $out"
}
plain=$(mktemp -d /tmp/silo-iostat-plain-XXXXXX)
expect_error "no bpffs" "bpffs is not mounted at $plain" "$cli" --bpffs "$plain" --totals
[ -z "$(ls -A "$plain")" ] || fail "the loader wrote into $plain although it is not bpffs"
if command -v setpriv >/dev/null; then
    expect_error "unprivileged" "needs root" \
        setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$cli" \
        --bpffs "$bpffs" --totals
else
    skip_part "unprivileged: setpriv is not installed"
fi
expect_error "bad interval" "--interval: 'x' is not a number" "$cli" --interval x
expect_error "bad device" "--device: '/nonexistent' is not a block device" \
    "$cli" --device /nonexistent
assert_done
