#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0
# Stage 1 of the VM harness (PID 1 in the initramfs): load modules, build the root, switch to it.
#
# The root is an overlayfs whose lower layer is the host root (read-only 9p, tag "hostroot")
# and whose upper layer is a tmpfs, so the guest may create files anywhere (e.g.
# /var/lib/silo) without the host root ever being written. Writable 9p shares listed in
# /silo/shares are mounted at their host paths on top. In plain mode the test runs from
# /run/silo-vm/stage2.sh as PID 1; in systemd mode /lib/systemd/systemd becomes PID 1 and a
# unit written into the overlay runs stage2.sh.

/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Where KASLR put the kernel: run-vm.sh prints the vCPUs' instruction pointers of a guest that
# stopped answering, and this base relates them to a System.map (linux-image-*-dbg).
awk '$3 == "_stext" { print "silo-vm: kernel _stext " $1; exit }' /proc/kallsyms

# Any failure here is a boot failure: say what broke on the console, then power off without
# printing the exit marker, so that run-vm.sh reports it with the console tail.
die() {
    echo "silo-vm init: $*"
    echo "---- guest kernel log (last 30 lines) ----"
    dmesg | tail -n 30
    poweroff -f
    sleep 60
}

. /silo/config || die "cannot read /silo/config"

while read -r ko params; do
    [ -n "$ko" ] || continue
    # shellcheck disable=SC2086 # params are space-separated key=value words
    insmod "/modules/$ko" $params || die "insmod $ko $params failed"
done </modules/order

# 9p over virtio: a large msize cuts round trips, which dominate under TCG.
p9opts="trans=virtio,version=9p2000.L,msize=512000"
mkdir -p /lower /rw /newroot
mount -t 9p -o "$p9opts,ro,cache=loose" hostroot /lower || die "cannot mount the host root over 9p"
mount -t tmpfs -o mode=0755 tmpfs /rw || die "cannot mount the overlay's tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
    die "cannot mount the overlay root"

mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp || die "cannot mount /tmp"
mount -t tmpfs -o mode=0755 tmpfs /newroot/run || die "cannot mount /run"
mkdir -p /newroot/var/lib/silo
mount -t tmpfs -o mode=0755 tmpfs /newroot/var/lib/silo || die "cannot mount /var/lib/silo"

# After the tmpfs mounts, so that a tree under /tmp (a CI clone, say) stays visible.
while read -r tag path; do
    [ -n "$tag" ] || continue
    mkdir -p "/newroot$path"
    mount -t 9p -o "$p9opts" "$tag" "/newroot$path" || die "cannot mount share $tag at $path"
done </silo/shares

# modprobe in the guest (ours, systemd's, the kernel's request_module via /sbin/modprobe)
# looks in /lib/modules/$(uname -r): give it the cached tree the kernel came from.
kver="$(uname -r)"
mkdir -p "/newroot/lib/modules/$kver"
mount --bind "/newroot${SILO_VM_MODULES_DIR%/}" "/newroot/lib/modules/$kver" ||
    die "cannot bind the kernel modules at /lib/modules/$kver"

# The host may itself be a container: its marker files would make systemd and other tools in
# the guest believe they run in one (systemd then ignores the kernel command line).
rm -f /newroot/.dockerenv /newroot/run/.containerenv

# The host's fstab names the host's disks; the guest has none of them.
echo "# silo-vm: no filesystems beyond those mounted by the initramfs" >/newroot/etc/fstab

mkdir -p /newroot/run/silo-vm
cp /silo/* /newroot/run/silo-vm/
cp /bin/busybox /newroot/run/silo-vm/busybox

if [ "$SILO_VM_MODE" = systemd ]; then
    . /silo/systemd-setup.sh || die "cannot prepare the systemd root"
    mount --move /proc /newroot/proc
    mount --move /sys /newroot/sys
    mount --move /dev /newroot/dev
    exec switch_root /newroot /lib/systemd/systemd
    die "switch_root to /lib/systemd/systemd failed"
fi

mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
mount -t cgroup2 -o nsdelegate cgroup2 /newroot/sys/fs/cgroup || die "cannot mount cgroup2"
mount -t bpf bpf /newroot/sys/fs/bpf || die "cannot mount bpffs"
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /newroot/dev/pts || die "cannot mount devpts"
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm || die "cannot mount /dev/shm"
[ -e /newroot/dev/ptmx ] || ln -s pts/ptmx /newroot/dev/ptmx

exec switch_root /newroot /run/silo-vm/busybox sh /run/silo-vm/stage2.sh
die "switch_root failed"
