#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Helpers for VM suites (source it): skip outside the VM, assertions on figures, timed direct I/O.
#
#   . "$SILO_SOURCE_DIR/tests/vm/suites/lib.sh"
#   vm_require_guest                       # exit 77 unless run by run-vm.sh inside the guest
#   vm_assert_within NAME MEASURED EXPECTED PCT   # |measured - expected| <= PCT % of expected
#   vm_assert_eq NAME GOT WANT
#   vm_dev_majmin /dev/nullb0              # prints "254:0"
#   vm_timed_dd CGROUP_DIR DEV BYTES BS    # direct write from a process inside CGROUP_DIR;
#                                          # prints "bytes seconds bytes_per_second" (dd's
#                                          # byte count and time)
#   vm_dd_parse TEXT                       # same figures from dd output captured elsewhere
# Failures print "FAIL: ..." and exit 1; passing assertions print "ok: ..." with the figures,
# so the test log always shows the numbers that were checked.

vm_require_guest() {
    if [ "${SILO_IN_VM:-}" != 1 ]; then
        echo "SKIP: $(basename "$0") runs inside the VM only (tests/vm/run-vm.sh -- $0)"
        exit 77
    fi
}

vm_fail() {
    echo "FAIL: $*"
    exit 1
}

vm_assert_eq() {
    if [ "$2" != "$3" ]; then
        vm_fail "$1: got '$2', want '$3'"
    fi
    echo "ok: $1 = '$2'"
}

vm_assert_within() {
    local name="$1" measured="$2" expected="$3" pct="$4"
    if awk -v m="$measured" -v e="$expected" -v p="$pct" \
        'BEGIN { d = m - e; if (d < 0) d = -d; exit !(d <= e * p / 100) }'; then
        echo "ok: $name measured $measured, expected $expected ±$pct% ($(vm_ratio "$measured" "$expected"))"
    else
        vm_fail "$name measured $measured, expected $expected ±$pct% ($(vm_ratio "$measured" "$expected"))"
    fi
}

vm_ratio() {
    awk -v m="$1" -v e="$2" 'BEGIN { printf "%.3f of expected", m / e }'
}

vm_dev_majmin() {
    local dev="$1" name
    [ -b "$dev" ] || vm_fail "$dev is not a block device in the guest"
    name="$(basename "$(readlink -f "$dev")")"
    cat "/sys/class/block/$name/dev"
}

# Parse dd's summary line ("8388608 bytes (8.4 MB, 8.0 MiB) copied, 4.01604 s, 2.1 MB/s", C
# locale) from TEXT into "bytes seconds bytes_per_second". dd's time runs from its first write to
# its last, which leaves out process start-up through 9p (slow under TCG); the rate is computed
# here because dd's printed one is rounded and decimal.
vm_dd_parse() {
    awk '/ bytes .* copied, / { s = $0; sub(/.* copied, /, "", s); sub(/ s,.*/, "", s);
                                printf "%d %.3f %.0f\n", $1, s, $1 / s; found = 1 }
         END { exit !found }' <<<"$1" || vm_fail "cannot parse dd output: $1"
}

# Moves a child shell into the group first, so the write is charged to CGROUP_DIR from its
# first byte.
vm_timed_dd() {
    local cg="$1" dev="$2" bytes="$3" bs="$4" out
    out="$(LC_ALL=C sh -c 'echo $$ >"$1/cgroup.procs" && exec dd if=/dev/zero of="$2" bs="$3" count="$4" oflag=direct 2>&1' \
        sh "$cg" "$dev" "$bs" "$((bytes / bs))")" || vm_fail "dd to $dev from $cg failed: $out"
    vm_dd_parse "$out"
}
