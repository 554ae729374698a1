#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Stage 2 of the VM harness: run the test command in the final root, print the exit marker.
#
# Plain mode: PID 1 (busybox sh) after switch_root. Systemd mode: ExecStart of silo-vm.service.
# The command gets a clean environment (only what run-vm.sh put in /run/silo-vm/cmd) and
# /dev/null as stdin. The markers carry a per-run token so command output cannot fake them.

. /run/silo-vm/config
bb=/run/silo-vm/busybox

if [ "$SILO_VM_MODE" = systemd ]; then
    exec >/dev/ttyS0 2>&1
fi

echo "SILO-VM-START-$SILO_VM_TOKEN"
# A command about to hit run-vm.sh's --timeout says what the guest is doing first, while the
# guest can still print it: qemu's end by timeout leaves only a console that stopped (seen
# once in CI: vm-packages silent for 560 s after one line, not reproduced). The boot took part
# of --timeout already (the guest's uptime, about), hence 25 s before what is left of it. The
# watchdog runs in the background, not the command: sh starts a background job with SIGINT
# and SIGQUIT ignored, which the command and all it starts would inherit.
watchdog=
uptime_s=$($bb cut -d. -f1 /proc/uptime)
watch_s=$(( ${SILO_VM_TIMEOUT:-0} - uptime_s - 25 ))
if [ "$watch_s" -gt 30 ]; then
    (
        $bb sleep "$watch_s"
        echo "---- run-vm watchdog: COMMAND still runs $watch_s s after its start (--timeout $SILO_VM_TIMEOUT): the guest's processes ----"
        if [ -x /usr/bin/ps ]; then      # procps (wchan), else busybox's
            /usr/bin/ps -eo pid,ppid,stat,wchan:26,etime,args --sort=start_time | $bb grep -v ' \[' | $bb tail -n 60
        else
            $bb ps -o pid,ppid,stat,args | $bb grep -v ' \[' | $bb tail -n 60
        fi
        echo "-- kernel stacks of the processes in uninterruptible sleep (D)"
        for d in /proc/[0-9]*; do
            $bb grep -q '^State:.D' "$d/status" 2>/dev/null || continue
            echo "${d#/proc/} $($bb cat "$d/comm" 2>/dev/null)"
            $bb head -n 12 "$d/stack" 2>/dev/null
        done 2>/dev/null | $bb head -n 60
        echo "-- kernel log (last 20 lines)"
        $bb dmesg | $bb tail -n 20
        echo "---- run-vm watchdog: end ----"
    ) &
    watchdog=$!
fi
$bb env -i /bin/sh /run/silo-vm/cmd </dev/null
status=$?
[ -z "$watchdog" ] || kill "$watchdog" 2>/dev/null
echo "SILO-VM-EXIT-$SILO_VM_TOKEN $status"
# After the marker, so it reaches only the console log, which run-vm.sh prints on failure.
if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
    echo "---- guest kernel log (last 50 lines) ----"
    $bb dmesg | $bb tail -n 50
    if [ "$SILO_VM_MODE" = systemd ]; then
        echo "---- guest journal, warnings and worse (last 50 lines) ----"
        journalctl -b -p warning -n 50 --no-pager
    fi
fi
sync

if [ "$SILO_VM_MODE" = systemd ]; then
    # Forced: the test is over and nothing in this throw-away root needs an orderly stop.
    systemctl poweroff --force --force
fi
$bb poweroff -f
