#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Install the Debian 12 packages Silo needs to build, test and run, and only those missing.
# Runs `apt-get update` at most once. Usage: scripts/install-deps.sh
set -euo pipefail

PACKAGES=(
    # build
    meson ninja-build pkg-config gcc libc6-dev clang llvm bpftool
    liburing-dev libcgroup-dev libbpf-dev libelf-dev zlib1g-dev
    libnl-3-dev libnl-route-3-dev libnftnl-dev libmnl-dev libcmocka-dev libjansson-dev
    libmicrohttpd-dev libcurl4-gnutls-dev libssh2-1-dev libgnutls28-dev gnutls-bin libsqlite3-dev libsystemd-dev
    libseccomp-dev
    # man pages, bash completion, Debian packages (packaging/build-debs.sh) and their checks
    scdoc bash-completion dpkg-dev debhelper fakeroot lintian dh-python
    # the Python client (clients/python) and its tests
    python3
    # the system bus silo-agent talks to systemd on (its package depends on it)
    dbus
    # tests and peers
    qemu-system-x86 busybox-static kmod e2fsprogs util-linux iproute2 xz-utils
    fio crun prometheus curl cpio procps libglpk-dev jq bc sqlite3
    # the libFuzzer targets (tests/fuzz): clang 14's fuzzer and sanitizer runtimes
    libclang-rt-14-dev
    # master HA: the etcd cluster of tests/lib/etcd.sh (etcdctl reads its keys)
    etcd-server etcd-client
    strace linux-perf chromium tmux
    # the network suite checks the agent's NAT table with nft -j
    nftables
    # PostgreSQL as a task (examples/postgres.json: the vm-postgres suite, the noisy-neighbour
    # benchmark, scripts/demo.sh): the server and pgbench/psql (postgresql-client-15)
    postgresql-15
    # vm-gluster: glusterd as Silo tasks (examples/glusterfs-brick.json), the FUSE client
    glusterfs-server glusterfs-client
)

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: must run as root to install packages" >&2
    exit 1
fi

# One dpkg-query for all: each run parses dpkg's whole status file (0.1-0.3 s a package).
declare -A installed=()
while read -r name status; do
    [ "$status" = "install ok installed" ] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do
    [ -n "${installed[$p]:-}" ] || missing+=("$p")
done

export DEBIAN_FRONTEND=noninteractive
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    apt-get update -q
    touch /tmp/.silo-apt-updated
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The VM suites boot Debian's 6.1 kernel; fetch it into a cache without touching /boot.
"$(dirname "$0")/../tests/vm/fetch-kernel.sh"
