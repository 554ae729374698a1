#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "isolator-buffered": io.max wbps=2Mi holds for buffered writes (cgroup writeback).
#
# ext4 on a memory_backed null_blk; the task's io entry names the mount point (resolved to
# nullb0); it writes 40 MiB through the page cache under memory.max 64 MiB (so its dirty
# pages are throttled and written back as the task's) and fsyncs: bytes over the whole time
# must be 2 MiB/s ± 10 %.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
vm_require_guest

helper="${SILO_BUILD_DIR:-}/tests/vm/helpers/silo-vm-isolator-test"
[ -x "$helper" ] || fail "$helper not built (SILO_BUILD_DIR='${SILO_BUILD_DIR:-}')"
dev=/dev/nullb0
mnt=/tmp/isolator-ext4
Mi=1048576

cleanup() {
    set +e
    mountpoint -q "$mnt" && umount "$mnt"
    rmdir "$mnt" 2>/dev/null
}
trap cleanup EXIT

mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$dev"
mkdir -p "$mnt"
mount -t ext4 "$dev" "$mnt"
echo "mounted $dev ($(vm_dev_majmin "$dev")) at $mnt"

"$helper" buffered "$mnt" $((2 * Mi)) $((40 * Mi)) $((64 * Mi))

left="$(find /sys/fs/cgroup/silo/tasks -mindepth 1 -maxdepth 1 -type d | wc -l)"
assert_eq "task groups left" "$left" 0
assert_done
