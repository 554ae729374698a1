#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "isolator-iocost": io.weight 100 vs 300 under iocost shares /dev/nullb0 about 1:3.
#
# iocost is enabled on nullb0 with a deliberately small user cost model (8 MiB/s of 64 KiB
# writes) and a fixed vrate, so the model, not the emulator, is the bottleneck; two tasks
# (4 direct writers each) write as fast as they can for 10 s: their rates must be 1:3 ±25 %.
# The read-back must say the weight is enforced by iocost.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
vm_require_guest

helper="${SILO_BUILD_DIR:-}/tests/vm/helpers/silo-vm-isolator-test"
[ -x "$helper" ] || fail "$helper not built (SILO_BUILD_DIR='${SILO_BUILD_DIR:-}')"
dev=/dev/nullb0
cg=/sys/fs/cgroup
majmin="$(vm_dev_majmin "$dev")"

echo "$majmin ctrl=user model=linear rbps=8388608 rseqiops=2000 rrandiops=2000 wbps=8388608 wseqiops=2000 wrandiops=2000" >"$cg/io.cost.model"
echo "$majmin enable=1 ctrl=user rpct=0 rlat=0 wpct=0 wlat=0 min=100 max=100" >"$cg/io.cost.qos"
echo "io.cost.qos: $(cat "$cg/io.cost.qos")"
echo "io.cost.model: $(cat "$cg/io.cost.model")"

"$helper" weight "$dev" 100 300 10 enforced

echo "$majmin enable=0" >"$cg/io.cost.qos"
left="$(find "$cg/silo/tasks" -mindepth 1 -maxdepth 1 -type d | wc -l)"
assert_eq "task groups left" "$left" 0
assert_done
