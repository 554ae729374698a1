#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "isolator-io": block I/O limits of libsilo-isolator on /dev/nullb0, measured.
#
#   io.max wbps=2Mi and rbps=4Mi: direct I/O within ±10 % of each; wiops=200 likewise
#   live update of io.max (wbps 2Mi -> 4Mi) takes effect
#   two tasks with different wbps on the same disk hold their own limit at the same time
#   io.weight without a proportional controller: the read-back says it is not enforced
set -euo pipefail

. "$(dirname "$0")/lib.sh"
vm_require_guest

helper="${SILO_BUILD_DIR:-}/tests/vm/helpers/silo-vm-isolator-test"
[ -x "$helper" ] || fail "$helper not built (SILO_BUILD_DIR='${SILO_BUILD_DIR:-}')"
dev=/dev/nullb0
Mi=1048576

echo "scheduler of nullb0: $(cat /sys/block/nullb0/queue/scheduler)"
"$helper" io "$dev" wbps $((2 * Mi)) $((4 * Mi))
"$helper" io "$dev" rbps $((4 * Mi))
"$helper" io "$dev" wiops 200
"$helper" two "$dev" $((1 * Mi)) $((3 * Mi))
"$helper" weight "$dev" 100 300 0 not-enforced

left="$(find /sys/fs/cgroup/silo/tasks -mindepth 1 -maxdepth 1 -type d | wc -l)"
assert_eq "task groups left" "$left" 0
assert_done
