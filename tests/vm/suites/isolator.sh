#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "isolator": libsilo-isolator on Debian's 6.1 kernel, each check with a measured figure.
#
# Through tests/vm/helpers/isolator-test.c (which calls the library the agent uses):
#   readback   every spec field written via libcgroup and parsed back from the files,
#              freeze/thaw, cgroup.kill
#   errors     user errors name the field and value; a failed create leaves no group
#   killwalk   the SIGKILL walk used where cgroup.kill does not exist empties the group
#   cpu        cpus 0.5: cpu.stat usage_usec over wall time = 0.5 ± 0.05
#   oom        mem 64Mi: a 128 MiB allocation is OOM-killed with its sibling (oom.group),
#              reported through the events fd (OOM_KILL, EMPTY) and memory.events
#   memupdate  live update of memory.max takes effect
#   pids       pids 32: a fork loop stops at 32 tasks
#   devices    /dev/nullb0 is EPERM unless listed, opens when listed, and is still refused
#              after the process that attached the allow-list has exited
# and at the end no task group is left under the Silo root.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
vm_require_guest

helper="${SILO_BUILD_DIR:-}/tests/vm/helpers/silo-vm-isolator-test"
[ -x "$helper" ] || fail "$helper not built (SILO_BUILD_DIR='${SILO_BUILD_DIR:-}')"
root=/sys/fs/cgroup/silo
dev=/dev/nullb0

cleanup() {
    set +e
    for id in dev-denied dev-allowed; do
        [ -d "$root/tasks/$id" ] && "$helper" destroy "$id" >/dev/null
    done
}
trap cleanup EXIT

echo "== hierarchy"
"$helper" readback "$dev"
for d in agent shims tasks; do
    [ -d "$root/$d" ] || fail "$root/$d was not created"
done
enabled=" $(cat "$root/tasks/cgroup.subtree_control") "
for c in cpu cpuset memory io pids; do
    [[ "$enabled" == *" $c "* ]] || fail "controller $c not enabled in $root/tasks:$enabled"
done
pass "$root/{agent,shims,tasks}, controllers enabled in tasks:$enabled"

echo "== errors"
"$helper" errors

echo "== kill fallback"
"$helper" killwalk

echo "== cpu"
"$helper" cpu 0.5

echo "== memory"
"$helper" oom $((64 << 20)) $((128 << 20))
"$helper" memupdate

echo "== pids"
"$helper" pids 32

echo "== devices"
# Each create runs in its own process that exits right after attaching the program.
"$helper" devices-create dev-denied
"$helper" devices-create dev-allowed "$dev"
"$helper" devices-check dev-denied "$dev" EPERM
"$helper" devices-check dev-allowed "$dev" ok
"$helper" destroy dev-denied
"$helper" destroy dev-allowed

echo "== nothing left"
left="$(find "$root/tasks" -mindepth 1 -maxdepth 1 -type d | wc -l)"
assert_eq "task groups left under $root/tasks" "$left" 0
assert_done
