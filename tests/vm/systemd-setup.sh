#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0
# Sourced by the VM init in systemd mode: prepare the overlay root for /lib/systemd/systemd.
#
# Writes silo-vm.service (runs stage2.sh once multi-user.target is reached) and masks units
# that would slow the boot under TCG, wait for hardware or a network the guest lacks, or fail
# on a root that is an overlay over 9p. All of it lands in the overlay's tmpfs upper layer.

r=/newroot
unitdir=$r/etc/systemd/system
mkdir -p "$unitdir/multi-user.target.wants"

# Type=exec, not oneshot: a oneshot stays "activating" while the test runs, which would keep
# `systemctl is-system-running` at "starting" for the test itself.
cat >"$unitdir/silo-vm.service" <<UNIT
[Unit]
Description=Silo VM harness test command
After=multi-user.target
DefaultDependencies=no

[Service]
Type=exec
ExecStart=/bin/sh /run/silo-vm/stage2.sh
StandardInput=null
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TTYReset=no
TTYVHangup=no

[Install]
WantedBy=multi-user.target
UNIT
ln -sf ../silo-vm.service "$unitdir/multi-user.target.wants/silo-vm.service"

for u in \
    getty@tty1.service serial-getty@ttyS0.service getty.target console-getty.service \
    systemd-timesyncd.service systemd-pstore.service systemd-networkd-wait-online.service \
    networking.service ssh.service cron.service rsyslog.service \
    postgresql.service prometheus.service remote-fs.target \
    apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
    e2scrub_reap.service fstrim.timer man-db.timer \
    systemd-remount-fs.service systemd-fsck-root.service systemd-binfmt.service \
    systemd-firstboot.service systemd-update-utmp.service systemd-update-utmp-runlevel.service \
    systemd-journal-flush.service \
    systemd-random-seed.service systemd-hwdb-update.service ldconfig.service \
    systemd-machine-id-commit.service systemd-sysusers.service \
    modprobe@drm.service modprobe@dm_mod.service modprobe@fuse.service \
    sys-fs-fuse-connections.mount
do
    ln -sf /dev/null "$unitdir/$u"
done

# Generators run at boot and at every `systemctl daemon-reload` (each package's postinst does
# one): those for hardware, encrypted disks and SysV scripts the guest has none of cost seconds
# under TCG each time. A /dev/null of the same name in /etc masks a generator.
mkdir -p "$r/etc/systemd/system-generators"
for g in postgresql-generator systemd-sysv-generator systemd-gpt-auto-generator \
    systemd-cryptsetup-generator systemd-integritysetup-generator \
    systemd-veritysetup-generator systemd-hibernate-resume-generator
do
    ln -sf /dev/null "$r/etc/systemd/system-generators/$g"
done

# A fresh machine id per boot; the host's is left alone.
: >"$r/etc/machine-id"
