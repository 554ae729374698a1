#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "env": prove the guest is what every other VM suite assumes, with asserted figures.
#
# cgroup v2 at /sys/fs/cgroup with cpu cpuset memory io pids available and none pre-enabled;
# enabling them works; libcgroup's C API creates a group and sets memory.max; null_blk is
# there; io.max wbps=2 MiB/s holds a direct write to within ±10 % while the same write
# unthrottled runs at least 5x faster (so the limit, not the emulator, is what held it).
# SILO_VM_SELFTEST_FAIL=1 asserts the rate against a tenth of the limit to show that a
# broken assertion fails the suite.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
vm_require_guest

cg=/sys/fs/cgroup
limit=2097152           # io.max wbps, bytes/s
bytes=$((8 * 1048576))  # 4 s at the limit: long enough that the first slice's burst is noise

echo "== cgroup v2"
assert_eq "filesystem type of $cg" "$(stat -f -c %T "$cg")" cgroup2fs
avail=" $(cat "$cg/cgroup.controllers") "
for c in cpu cpuset memory io pids; do
    [[ "$avail" == *" $c "* ]] || fail "controller $c missing from $cg/cgroup.controllers:$avail"
done
pass "available controllers:$avail"
assert_eq "$cg/cgroup.subtree_control before the suite" "$(cat "$cg/cgroup.subtree_control")" ""

echo "+cpu +cpuset +memory +io +pids" >"$cg/cgroup.subtree_control"
enabled=" $(cat "$cg/cgroup.subtree_control") "
for c in cpu cpuset memory io pids; do
    [[ "$enabled" == *" $c "* ]] || fail "controller $c not enabled: subtree_control is$enabled"
done
pass "enabled controllers:$enabled"

echo "== libcgroup"
check="${SILO_BUILD_DIR:-}/tests/vm/silo-vm-cgroup-check"
[ -x "$check" ] || fail "$check not built (SILO_BUILD_DIR='${SILO_BUILD_DIR:-}')"
"$check" create silo-vm-env memory memory.max 67108864
assert_eq "$cg/silo-vm-env/memory.max (written by libcgroup)" "$(cat "$cg/silo-vm-env/memory.max")" 67108864
[[ " $(cat "$cg/silo-vm-env/cgroup.controllers") " == *" memory "* ]] ||
    fail "memory controller not available in $cg/silo-vm-env"
"$check" delete silo-vm-env memory
[ ! -d "$cg/silo-vm-env" ] || fail "$cg/silo-vm-env still exists after libcgroup deleted it"
pass "libcgroup deleted silo-vm-env"

echo "== null_blk and io.max"
dev=/dev/nullb0
majmin="$(vm_dev_majmin "$dev")"
pass "$dev is $majmin, $(cat /sys/block/nullb0/size) sectors"

out="$(vm_timed_dd "$cg" "$dev" "$bytes" 65536)"
read -r _ free_s free_rate <<<"$out"
echo "unthrottled: $bytes bytes in ${free_s}s = $free_rate B/s"
awk -v f="$free_rate" -v l="$limit" 'BEGIN { exit !(f >= 5 * l) }' ||
    fail "unthrottled write ($free_rate B/s) is not 5x faster than the limit $limit B/s: the test could not tell the limit from the emulator"

io="$cg/silo-vm-io"
mkdir "$io"
echo "$majmin wbps=$limit" >"$io/io.max"
assert_eq "$io/io.max" "$(cat "$io/io.max")" "$majmin rbps=max wbps=$limit riops=max wiops=max"

out="$(vm_timed_dd "$io" "$dev" "$bytes" 65536)"
read -r _ lim_s lim_rate <<<"$out"
echo "io.max wbps=$limit: $bytes bytes in ${lim_s}s = $lim_rate B/s"
wbytes="$(sed -n "s/^$majmin .*wbytes=\([0-9]*\).*/\1/p" "$io/io.stat")"
assert_eq "$io/io.stat wbytes" "$wbytes" "$bytes"

expected=$limit
if [ "${SILO_VM_SELFTEST_FAIL:-0}" = 1 ]; then
    echo "SILO_VM_SELFTEST_FAIL=1: asserting against a tenth of the limit on purpose"
    expected=$((limit / 10))
fi
assert_within "direct write rate under io.max wbps=$limit (B/s)" "$lim_rate" "$expected" 10

rmdir "$io"
assert_done
