#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Helpers for VM suites (source it): the assertion library (tests/lib/assert.sh: pass, fail,
# assert_eq, assert_within, ..., assert_done), skip outside the VM, timed direct I/O.
#
#   . "$(dirname "$0")/lib.sh"
#   vm_require_guest                       # skip (77) unless run by run-vm.sh inside the guest
#   vm_dev_majmin /dev/nullb0              # prints "254:0"
#   vm_timed_dd CGROUP_DIR DEV BYTES BS    # direct write from a process inside CGROUP_DIR;
#                                          # prints "bytes seconds bytes_per_second" (dd's
#                                          # byte count and time)
#   vm_dd_parse TEXT                       # same figures from dd output captured elsewhere
# The guest sees this source tree at the same path as the host (run-vm.sh), so the library is
# found next to the suites.

. "$(dirname "${BASH_SOURCE[0]}")/../../lib/assert.sh"
# wait_until (assert.sh) polls every 0.2 s in the guest: two TCG vCPUs are easily kept busy.
WAIT_UNTIL_INTERVAL=0.2

vm_require_guest() {
    [ "${SILO_IN_VM:-}" = 1 ] || skip_suite "runs inside the VM only (tests/vm/run-vm.sh -- $0)"
}

vm_dev_majmin() {
    local dev="$1" name
    [ -b "$dev" ] || fail "$dev is not a block device in the guest"
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
         END { exit !found }' <<<"$1" || fail "cannot parse dd output: $1"
}

# Moves a child shell into the group first, so the write is charged to CGROUP_DIR from its
# first byte.
vm_timed_dd() {
    local cg="$1" dev="$2" bytes="$3" bs="$4" out
    out="$(LC_ALL=C sh -c 'echo $$ >"$1/cgroup.procs" && exec dd if=/dev/zero of="$2" bs="$3" count="$4" oflag=direct 2>&1' \
        sh "$cg" "$dev" "$bs" "$((bytes / bs))")" || fail "dd to $dev from $cg failed: $out"
    vm_dd_parse "$out"
}
