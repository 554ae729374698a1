#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Host suite "agent-refuses": on a host without cgroup v2 controllers (this machine's hybrid v1
# setup) silo-agent must exit with a clear message and create nothing. It only reads the
# cgroup hierarchy, so it is safe on the host. Skips (77) where cgroup v2 is usable.
# Usage: agent-refuses.sh /path/to/silo-agent
set -euo pipefail
. "$(dirname "$0")/../lib/assert.sh"

agent="$1"
controllers=""
if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
    controllers="$(cat /sys/fs/cgroup/cgroup.controllers)"
fi
if grep -qw memory <<<"$controllers" && grep -qw io <<<"$controllers"; then
    skip_suite "this host has cgroup v2 controllers ($controllers); the VM suites test the agent"
fi

state="$(mktemp -d)/state"
trap 'rm -rf "$(dirname "$state")"' EXIT
set +e
out="$("$agent" --listen 127.0.0.1:0 --state-dir "$state" --calibrate=false 2>&1)"
rc=$?
set -e
echo "silo-agent said: $out (exit $rc)"
[ "$rc" -ne 0 ] || fail "silo-agent started on a host without cgroup v2 controllers"
grep -q "Refusing to start" <<<"$out" || fail "no 'Refusing to start' in the message"
grep -q "cgroup v2" <<<"$out" || fail "the message does not mention cgroup v2"
[ ! -e "$state" ] || fail "$state was created by an agent that refused to run"
pass "refused with exit $rc, nothing created"

# Option errors name the option and exit 78 (EX_CONFIG, docs/OPERATIONS.md) before any check.
set +e
out="$("$agent" --log-files 0 2>&1)"
rc=$?
set -e
[ "$rc" -eq 78 ] && grep -q -- "log-files" <<<"$out" || fail "bad --log-files: $out ($rc)"
pass "bad option: $out"
# Read whole before grep: `--help | grep -q` under pipefail fails when grep exits at its match
# while the agent still writes (the help is over one 4 KiB stdio buffer) and gets SIGPIPE.
help="$("$agent" --help)"
grep -q -- "--kill-grace-s" <<<"$help" || fail "--help lacks --kill-grace-s"
pass "--help"
assert_done
