#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "packages" (run-vm.sh --systemd): Silo's Debian packages installed and run as systemd
# services, the way an operator does it (issue 14).
#
# The packages come from the `debs` target (packaging/build-debs.sh, built on the host into
# $SILO_BUILD_DIR/packaging/debs); the guest installs them with `apt-get install ./*.deb`
# (offline: every Depends: is on the host root the guest runs from), and checks:
#   install   `systemd-analyze verify` passes on both installed units (lintian runs on the host,
#             tests/host/packages.sh: under TCG it took most of a minute of this suite)
#   running   both units active (Type=notify) with a current STATUS=; the agent process stays
#             in silo-agent.service (`systemctl status` lists it); tasks live in
#             silo-tasks.scope, a transient scope with Delegate=yes, with its holder
#   caps      the agent's bounding set lacks what the unit takes out (CAP_SYS_BOOT, ...) and a
#             task asking for CAP_SYS_BOOT is refused with a message naming it
#   task      a storage task run through siloctl with io.max wbps=2Mi on /dev/nullb0:
#             `siloctl inspect` reads the limit back from the kernel and an eBPF-measured rate
#             within 10 % of it; `journalctl -u silo-agent` has its start line
#   restart   `systemctl restart silo-agent`: same task processes, RUNNING, re-adopted, io.max
#             intact, the scope adopted (not made anew)
#   watchdog  `kill -STOP` of the agent (the unit's WatchdogSec=10s): systemd restarts it
#             within WatchdogSec + 10 s and the task is still RUNNING
#   exit      a task that exits (code 7) while the agent is stopped is reported with exit code
#             7 after `systemctl start`
#   config    an unknown key in agent.conf: the unit ends failed with status 78, the key named
#             in the journal, and no restart loop
#   purge     `apt-get purge` leaves no unit, no Silo cgroup and no Silo process
#
# Time: boot about 40 s, then about 470 s under a loaded 2-core host (the apt-get install of the
# five packages alone 190 s under TCG: apt and dpkg read the host root's whole package database).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
vm_require_guest
SECONDS=0

[ "$(cat /proc/1/comm)" = systemd ] || skip_suite "PID 1 is not systemd (run-vm.sh --systemd)"
debs_dir="${SILO_BUILD_DIR:?}/packaging/debs"
mapfile -t debs < <(ls "$debs_dir"/*.deb 2>/dev/null)
[ "${#debs[@]}" -gt 0 ] ||
    fail "no packages in $debs_dir: build them first (ninja -C BUILD packaging/debs)"

mark() { echo "   [${SECONDS}s] $*"; }
prop() { systemctl show -P "$2" "$1"; }
task_json() { siloctl get "$1" -o json; }
task_state() { task_json "$1" | jq -r .state; }
state_is() { [ "$(task_state "$1")" = "$2" ]; }
unit_active() { [ "$(prop "$1" ActiveState)" = active ] && [ "$(prop "$1" SubState)" = running ]; }
SCOPE=/sys/fs/cgroup/system.slice/silo-tasks.scope
# The cluster token, for siloctl's calls to the master and (inspect) to the agent.
export SILO_TOKEN_FILE=/var/lib/silo/master/token

echo "== install (${#debs[@]} packages)"
mkdir -p /run/debs
cp "${debs[@]}" /run/debs/
cd /run/debs
# No network in the guest: apt-get resolves every Depends: from what is installed. The host
# root's apt sources and hooks (PackageKit, debconf preconfiguration) cost a minute under TCG
# and are not what is tested: the guest's apt runs without them.
printf '#clear DPkg::Pre-Install-Pkgs;\n#clear DPkg::Post-Invoke;\n#clear APT::Update::Post-Invoke-Success;\n' \
    >/etc/apt/apt.conf.d/99silo-vm
# This machine's image carries Docker's /usr/sbin/policy-rc.d ("exit 101"), which makes
# deb-systemd-invoke refuse every start and stop: the prerm's stop on removal was skipped, the
# daemons outlived their unit files and died by the watchdog once systemd stopped listening to
# a unit that no longer existed. A Debian 12 machine has no policy-rc.d; neither has the guest
# (its / is an overlay, the host keeps its file).
rm -f /usr/sbin/policy-rc.d
# man-db's trigger re-indexes every manual page of the host root: most of three minutes under
# TCG, and not what is tested (`man -w` and systemd-analyze verify find pages without it).
rm -f /var/lib/man-db/auto-update
APT=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/run/debs -o Dpkg::Use-Pty=0)
DEBIAN_FRONTEND=noninteractive apt-get install -y "${APT[@]}" ./*.deb \
    >/run/apt.out 2>&1 || fail "apt-get install: $(tail -n 20 /run/apt.out)"
pass "apt-get install ./*.deb"
units=(/lib/systemd/system/silo-master.service /lib/systemd/system/silo-agent.service)
if out="$(systemd-analyze verify "${units[@]}" 2>&1)"; then
    pass "systemd-analyze verify on the installed units"
else
    fail "systemd-analyze verify: $out"
fi
mark "installed"
echo "== enable --now"
cat >/etc/silo/agent.conf <<EOF
master = http://127.0.0.1:5050
token-file = /var/lib/silo/master/token
disk = nullb0
disk-read-bps = nullb0:1G
disk-write-bps = nullb0:1G
disk-read-iops = nullb0:100000
disk-write-iops = nullb0:100000
kill-grace-s = 2
EOF
# The suite stops the agent on purpose (an exit while it is down, a config error, the scope's
# stop) for longer than the default 15 s under a loaded TCG guest: the master must wait for it
# rather than give its tasks up as LOST, so that their real end is what gets reported.
echo 'agent-timeout-ms = 120000' >>/etc/silo/master.conf
systemctl enable --now silo-master >/dev/null 2>&1 || fail "enable --now silo-master: $(systemctl status silo-master 2>&1 | tail)"
wait_until 20 "the master's token" test -s /var/lib/silo/master/token
systemctl enable --now silo-agent >/dev/null 2>&1 || fail "enable --now silo-agent: $(journalctl -u silo-agent --no-pager | tail)"
wait_until 30 "the agent registered" sh -c 'siloctl agents -o json | jq -e "length == 1"'
pass "silo-master and silo-agent active (Type=notify: started means READY=1)"
mark "running"

echo "== the agent in its unit, the tasks in silo-tasks.scope"
apid="$(prop silo-agent MainPID)"
assert_eq "the agent's cgroup" "$(cut -d: -f3 "/proc/$apid/cgroup")" /system.slice/silo-agent.service
st="$(systemctl status --no-pager --lines 0 silo-agent 2>&1 || true)"
assert_match "systemctl status silo-agent lists the agent process" "$(grep -E "^ +└─$apid |^ +[├└]─$apid " <<<"$st" || true)" "$apid .*silo-agent"
assert_eq "silo-tasks.scope Delegate" "$(prop silo-tasks.scope Delegate)" yes
assert_eq "silo-tasks.scope slice" "$(prop silo-tasks.scope Slice)" system.slice
holder="$(cat "$SCOPE/holder/cgroup.procs")"
assert_eq "the scope's holder" "$(tr '\0' ' ' <"/proc/$holder/cmdline")" "silo-tasks-holder "
assert_eq "the agent's STATUS" "$(prop silo-agent StatusText)" "tasks: none"
wait_until 10 "the master's STATUS counts the agent" sh -c 'systemctl show -P StatusText silo-master | grep -q "^agents: 1 active"'
assert_eq "the master's STATUS" "$(prop silo-master StatusText)" "agents: 1 active, 0 lost; tasks: none"

echo "== a storage task through siloctl, io.max wbps=2Mi on /dev/nullb0"
limit=2097152
cat >/run/w.json <<'EOF'
{"name": "writer", "command": ["/bin/sh", "-c", "exec dd if=/dev/zero of=/dev/nullb0 bs=64k oflag=direct count=1000000"],
 "resources": {"cpus": 0.2, "mem": "32Mi", "io": [{"disk": "nullb0", "wbps": "2Mi"}]},
 "container": {"devices": ["/dev/nullb0"]}}
EOF
W="$(siloctl run /run/w.json -o json | jq -r .id)"
[ -n "$W" ] && [ "$W" != null ] || fail "siloctl run printed no task id"   # (fail exits)
wait_until 30 "task $W RUNNING" state_is "$W" RUNNING
pass "task $W RUNNING"
wcg="$SCOPE/tasks/$W"
assert_eq "io.max of the task's cgroup in the scope" "$(cat "$wcg/io.max")" "$(vm_dev_majmin /dev/nullb0) rbps=max wbps=$limit riops=max wiops=max"
sleep 2
i1="$(siloctl inspect "$W" -o json)"
sleep 6
i2="$(siloctl inspect "$W" -o json)"
assert_eq "siloctl inspect: wbps read back" "$(jq -r '.limits.io[0].wbps' <<<"$i2")" "$limit"
assert_eq "siloctl inspect: measured by" "$(jq -r '.measured.source' <<<"$i2")" ebpf
# The agent's counters move once per measurement tick: divide by the ticks' own times
# (total.time_ms), not by when siloctl answered, or the rate is off by up to a tick in 6 s.
rate="$(jq -n --argjson a "$i1" --argjson b "$i2" \
    '$a.limits.io[0].measured.total as $x | $b.limits.io[0].measured.total as $y
     | (($y.write_bytes - $x.write_bytes) * 1000 / ($y.time_ms - $x.time_ms)) | floor')"
assert_within "eBPF-measured write rate (B/s, over 6 s)" "$rate" "$limit" 10
siloctl inspect "$W" | sed -n '/^I\/O /,/write bytes/p' | sed 's/^/    /'
assert_cmd "journalctl -u silo-agent has the task's start line" \
    sh -c "journalctl -u silo-agent --no-pager -o cat | grep -q 'task $W: STARTING'"
wait_until 10 "the agent's STATUS counts the task" sh -c '[ "$(systemctl show -P StatusText silo-agent)" = "tasks: 1 running" ]'
pass "the agent's STATUS: tasks: 1 running"
wait_until 10 "the master's STATUS counts the task" sh -c 'systemctl show -P StatusText silo-master | grep -q "1 running"'
pass "the master's STATUS: $(prop silo-master StatusText)"
mark "task measured"

echo "== the agent unit's capability bounding set (CapabilityBoundingSet=~CAP_SYS_BOOT ...)"
capbnd=$((16#$(sed -n 's/^CapBnd:[[:space:]]*//p' "/proc/$(prop silo-agent MainPID)/status")))
assert_eq "CAP_SYS_BOOT (22) and CAP_SYS_MODULE (16) out of the agent's bounding set" \
    "$(( (capbnd >> 22 & 1) + (capbnd >> 16 & 1) ))" 0
assert_eq "CAP_SYS_ADMIN (21) and CAP_BPF (39) still in it" "$(( (capbnd >> 21 & 1) + (capbnd >> 39 & 1) ))" 2
echo '{"name": "booter", "command": ["sleep", "60"], "capabilities": ["CAP_SYS_BOOT"]}' >/run/b.json
B="$(siloctl run /run/b.json -o json | jq -r .id)"
wait_until 30 "the agent's refusal of CAP_SYS_BOOT in the master's journal" sh -c \
    "journalctl -u silo-master -o cat | grep 'task $B: ' | grep -q 'capabilities: CAP_SYS_BOOT is not in this node.s capability bounding set'"
pass "the agent refused task $B asking for CAP_SYS_BOOT, naming the capability"
siloctl kill "$B" >/dev/null 2>&1 || true

echo "== systemctl restart silo-agent"
procs="$(sort "$wcg/cgroup.procs" | tr '\n' ' ')"
since="$(date '+%Y-%m-%d %H:%M:%S')"
systemctl restart silo-agent || fail "restart: $(journalctl -u silo-agent --no-pager | tail)"
assert_eq "the task's processes after the restart" "$(sort "$wcg/cgroup.procs" | tr '\n' ' ')" "$procs"
assert_cmd "the restarted agent adopted the scope and re-adopted the task" sh -c \
    "journalctl -u silo-agent --since '$since' -o cat | grep -q 'Adopted silo-tasks.scope' &&
     journalctl -u silo-agent --since '$since' -o cat | grep -q 'task $W: re-adopted'"
assert_eq "io.max after the restart" "$(siloctl inspect "$W" -o json | jq -r '.limits.io[0].wbps')" "$limit"
assert_eq "task state after the restart" "$(task_state "$W")" RUNNING
mark "restarted"

echo "== kill -STOP: the watchdog (WatchdogSec=10s, as packaged)"
assert_eq "the agent unit's WatchdogSec" "$(prop silo-agent WatchdogUSec)" 10s
apid="$(prop silo-agent MainPID)"
kill -STOP "$apid"
t0=$SECONDS
wait_until 30 "a new agent process" sh -c "[ \"\$(systemctl show -P MainPID silo-agent)\" != $apid ] && [ \"\$(systemctl show -P SubState silo-agent)\" = running ]"
took=$((SECONDS - t0))
if [ "$took" -le 20 ]; then
    pass "watchdog restart ${took}s after SIGSTOP (<= WatchdogSec + 10 s)"
else
    fail "watchdog restart took ${took}s, want <= 20"
fi
assert_cmd "the journal names the watchdog" sh -c "journalctl -u silo-agent -o cat | grep -q 'Watchdog timeout'"
assert_eq "the task's processes after the watchdog restart" "$(sort "$wcg/cgroup.procs" | tr '\n' ' ')" "$procs"
wait_until 15 "task $W RUNNING after the watchdog" state_is "$W" RUNNING
pass "task $W still RUNNING"
mark "watchdog"

echo "== a task's exit while the agent is stopped"
cat >/run/e.json <<'EOF'
{"name": "exiter", "command": ["/bin/sh", "-c", "trap 'exit 7' USR1; while :; do sleep 1; done"],
 "resources": {"cpus": 0.1, "mem": "16Mi"}}
EOF
E="$(siloctl run /run/e.json -o json | jq -r .id)"
wait_until 30 "task $E RUNNING" state_is "$E" RUNNING
systemctl stop silo-agent
# USR1 reaches the shell (and its sleep) and the init, which forwards it: the shell exits 7.
for p in $(cat "$SCOPE/tasks/$E/cgroup.procs"); do kill -USR1 "$p" 2>/dev/null || true; done
wait_until 15 "task $E's processes gone" sh -c "[ -z \"\$(cat $SCOPE/tasks/$E/cgroup.procs)\" ]"
pass "task $E exited while the agent was stopped"
systemctl start silo-agent
wait_until 30 "task $E reported ended" sh -c "siloctl get $E -o json | jq -e '.exit_code != null and .exit_code >= 0'"
assert_eq "exit code reported after systemctl start" "$(task_json "$E" | jq -r .exit_code)" 7
assert_eq "its state" "$(task_state "$E")" FAILED
mark "exit"

echo "== a configuration error: an unknown key"
cp /etc/silo/agent.conf /run/agent.conf.good
echo "bogus-key = 1" >>/etc/silo/agent.conf
restarts="$(prop silo-agent NRestarts)"
systemctl restart silo-agent 2>/dev/null && fail "silo-agent started with an unknown key"
sleep 5   # more than RestartSec=2s: a restart loop would show here
assert_eq "unit state" "$(prop silo-agent ActiveState)/$(prop silo-agent Result)" failed/exit-code
assert_eq "exit status" "$(prop silo-agent ExecMainStatus)" 78
assert_eq "automatic restarts after the config error" "$(prop silo-agent NRestarts)" "$restarts"
assert_cmd "the journal names the key" sh -c "journalctl -u silo-agent -o cat | grep -q 'bogus-key'"
journalctl -u silo-agent -o cat | grep 'bogus-key' | tail -n 1 | sed 's/^/    /'
assert_eq "task $W's processes meanwhile" "$(sort "$wcg/cgroup.procs" | tr '\n' ' ')" "$procs"
mark "config"

echo "== stopping every task of the node: systemctl stop silo-tasks.scope (docs/OPERATIONS.md)"
cp /run/agent.conf.good /etc/silo/agent.conf
systemctl reset-failed silo-agent
systemctl stop silo-tasks.scope
assert_eq "task $W's cgroup after the scope's stop" "$(test -d "$wcg" && echo exists || echo gone)" gone
systemctl start silo-agent || fail "start after the scope's stop: $(journalctl -u silo-agent --no-pager | tail)"
assert_cmd "the agent started a new scope" sh -c "journalctl -u silo-agent -o cat | tail -n 30 | grep -q 'Started silo-tasks.scope'"
wait_until 30 "task $W reported ended" sh -c "siloctl get $W -o json | jq -e '.state | IN(\"FAILED\", \"KILLED\")'"
pass "task $W: $(task_json "$W" | jq -r '[.state, .reason, .message] | join(" ")')"
mark "scope stopped"

echo "== apt-get purge"
mapfile -t pkgs < <(for d in /run/debs/*.deb; do dpkg-deb -f "$d" Package; done)
DEBIAN_FRONTEND=noninteractive apt-get purge -y "${APT[@]}" "${pkgs[@]}" >/run/apt.out 2>&1 ||
    fail "apt-get purge: $(tail -n 20 /run/apt.out)"
pass "apt-get purge ${pkgs[*]}"
systemctl daemon-reload
# silo-vm.service is the harness's unit running this script.
assert_eq "Silo unit files left" "$(systemctl list-unit-files --no-legend 'silo*' | grep -cv '^silo-vm\.service' || true)" 0
assert_eq "Silo units loaded" "$(systemctl list-units --all --no-legend --plain 'silo*' | grep -v '^silo-vm\.service' | tee /run/units-left | wc -l)" 0
sed 's/^/    /' /run/units-left
# silo-vm.service is the harness's unit running this script.
assert_eq "Silo cgroups left" "$(find /sys/fs/cgroup -name 'silo*' ! -name silo-vm.service | wc -l)" 0
assert_eq "Silo processes left" "$(pgrep -c '^silo' || true)" 0
assert_eq "task $W's processes" "$( (cat /proc/${procs%% *}/cmdline 2>/dev/null || true) | wc -c)" 0
mark "purged"

assert_done
