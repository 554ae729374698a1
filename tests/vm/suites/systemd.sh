#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "systemd" (run-vm.sh --systemd): systemd is PID 1, boots, and enforces IOWriteBandwidthMax.
#
# Asserts that PID 1 is the host's systemd, that the system reaches "running" or "degraded",
# and that `systemd-run --wait -p IOWriteBandwidthMax="/dev/nullb0 1M"` writes io.max
# wbps=1000000 (systemd's M is decimal) into the unit's cgroup and holds a direct write to
# within ±10 % of 1 MB/s.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
vm_require_guest

echo "== systemd as PID 1"
assert_eq "/proc/1/comm" "$(cat /proc/1/comm)" systemd
state="$(timeout 120 systemctl is-system-running --wait || true)"
case "$state" in
    running) pass "system state is running" ;;
    degraded)
        pass "system state is degraded; failed units (the test does not depend on them):"
        systemctl --failed --no-legend --plain | sed 's/^/    /'
        ;;
    *) fail "system state is '$state', want running or degraded" ;;
esac
echo "systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p'), $(systemd-analyze time 2>/dev/null | head -n1 || true)"

echo "== IOWriteBandwidthMax through systemd-run"
dev=/dev/nullb0
majmin="$(vm_dev_majmin "$dev")"
limit=1000000
bytes=$((64 * 65536))   # about 4.2 s at the limit

# Inside the transient unit: report its io.max, write, report its io.stat. The rate comes from
# dd's own timing, which excludes the unit's start-up.
# shellcheck disable=SC2016 # expanded by the unit's shell
inner='cg=/sys/fs/cgroup$(sed -n "s/^0:://p" /proc/self/cgroup)
echo "iomax $(cat "$cg/io.max")"
LC_ALL=C dd if=/dev/zero of="$1" bs=65536 count="$2" oflag=direct 2>&1 || exit 1
echo "wbytes $(sed -n "s/^$3 .*wbytes=\([0-9]*\).*/\1/p" "$cg/io.stat")"'
out="$(systemd-run --wait --pipe --quiet --collect \
    -p IOWriteBandwidthMax="$dev 1M" \
    /bin/sh -c "$inner" sh "$dev" "$((bytes / 65536))" "$majmin")" ||
    fail "systemd-run with IOWriteBandwidthMax failed: $out"
echo "$out" | sed 's/^/    unit: /'

iomax="$(sed -n 's/^iomax //p' <<<"$out")"
assert_eq "io.max of the transient unit" "$iomax" "$majmin rbps=max wbps=$limit riops=max wiops=max"
assert_eq "io.stat wbytes of the transient unit" "$(sed -n 's/^wbytes //p' <<<"$out")" "$bytes"
figures="$(vm_dd_parse "$out")"
read -r _ secs rate <<<"$figures"
echo "IOWriteBandwidthMax=1M: $bytes bytes in ${secs}s = $rate B/s"
assert_within "direct write rate under IOWriteBandwidthMax=1M (B/s)" "$rate" "$limit" 10

assert_done
