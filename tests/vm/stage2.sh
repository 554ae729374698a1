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
$bb env -i /bin/sh /run/silo-vm/cmd </dev/null
status=$?
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
