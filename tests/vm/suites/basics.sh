#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "basics": the small plain-mode suites that need no VM options of their own, one
# after the other in one guest, because each boot under TCG costs about as much as one of
# them: env, isolator, isolator-iocost, io-partition, agent-files. Each stays a suite of its
# own (runnable alone: tests/vm/run-vm.sh -- tests/vm/suites/env.sh) and runs here unchanged,
# in a process of its own, with its header and exit status printed. env runs first: it
# checks the guest's cgroup root as booted (no controller enabled yet).
# Exit status as a suite's (tests/lib/assert.sh): 1 when any of them failed, else 77 when any
# was skipped in whole or in part (a skip is never a silent pass), else 0.
set -uo pipefail

here="$(dirname "$0")"
. "$here/lib.sh"
vm_require_guest

failed="" skipped=""
for s in env isolator isolator-iocost io-partition agent-files; do
    echo "=== basics: $s ($here/$s.sh)"
    start=$SECONDS
    bash "$here/$s.sh"
    rc=$?
    echo "=== basics: $s: exit status $rc after $((SECONDS - start)) s"
    case $rc in
    0) ;;
    77) skipped="$skipped $s" ;;
    *) failed="$failed $s" ;;
    esac
done

if [ -n "$failed" ]; then
    echo "basics: failed:$failed${skipped:+; skipped:$skipped}"
    exit 1
fi
if [ -n "$skipped" ]; then
    echo "SKIP: basics: skipped in whole or in part:$skipped (the others passed)"
    exit 77
fi
echo "basics: all 5 suites passed"
