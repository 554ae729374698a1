#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The quick-start demo, issue 16's story: PostgreSQL as a Silo task next to a noisy neighbour.
# A local Silo cluster (one master, one agent; tests/vm/cluster.sh) whose disk is a throttled
# null_blk (tests/lib/nn.sh: a slow disk, so that the disk and not the CPU is what the tasks
# share) with ext4 on it; PostgreSQL 15 (examples/postgres.json) with its data on that disk;
# pgbench alone, next to an fio neighbour that nothing limits, and next to the same neighbour
# with an io request the master placed and the agent enforces; the TPS table, and `siloctl
# inspect` of both tasks (each limit read back from the kernel next to the eBPF-measured rate).
# Installs what is missing and builds first; on a host without cgroup v2 controllers it runs
# the cluster inside the test VM (Debian's 6.1 kernel under qemu). About 3 minutes.
#
# Usage: scripts/demo.sh            (as root, from a checkout)
#        scripts/demo.sh --inside   (the cluster part only; what runs in the VM)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SILO_BUILD_DIR:-$ROOT/build}"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (the agent creates cgroups; the VM harness needs root)"

if [ "${1:-}" != --inside ]; then
    say "Installing missing Debian packages"
    "$ROOT/scripts/install-deps.sh"
    say "Building in $BUILD"
    [ -d "$BUILD/meson-private" ] || meson setup "$BUILD" "$ROOT" >/dev/null
    ninja -C "$BUILD" | tail -n 1
    controllers="$(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null || true)"
    if [[ " $controllers " != *" io "* || " $controllers " != *" memory "* ]]; then
        say "This host has no cgroup v2 io/memory controllers (a hybrid/v1 host): Silo will not run"
        note "tasks without isolation, so the demo runs in a VM with Debian's 6.1 kernel instead"
        note "(tests/vm/run-vm.sh: qemu, TCG; a minute or two)."
        SILO_BUILD_DIR="$BUILD" exec "$ROOT/tests/vm/run-vm.sh" --timeout 600 --null-blk nr_devices=0 \
            --modules "nf_tables nft_chain_nat nf_nat nft_masq nft_nat nft_fib_ipv4 nft_ct quota_v2 quota_tree" \
            -- "$ROOT/scripts/demo.sh" --inside
    fi
    # The throttled disk is a null_blk device made through configfs (tests/lib/nn.sh).
    lsmod | grep -q '^null_blk ' || modprobe null_blk nr_devices=0 || die "modprobe null_blk"
    exec "$0" --inside
fi

# ---- the cluster ----

export SILO_BUILD_DIR="$BUILD"
SILOCTL="$BUILD/cli/siloctl"
for b in master/silo-master agent/silo-agent cli/siloctl tests/vm/helpers/silo-vm-http; do
    [ -x "$BUILD/$b" ] || die "$BUILD/$b is not built (run scripts/demo.sh without --inside)"
done
# The tests' cluster and scenario helpers (fail = die here, with the logs' tails at exit).
. "$ROOT/tests/vm/suites/lib.sh"
. "$ROOT/tests/vm/suites/agent-lib.sh"
. "$ROOT/tests/lib/nn.sh"
NN_SECONDS="${SILO_DEMO_SECONDS:-10}"
T0=$(date +%s)
trap 'rc=$?; nn_noisy_stop >/dev/null 2>&1; say "Cleaning up"; cluster_teardown $rc' EXIT

ctl() { "$SILOCTL" --master "$CLUSTER_MURL" --token-file "$CLUSTER_DIR/token" "$@"; }
show() { printf '\n\033[36m$ siloctl %s\033[0m\n' "$*"; }

say "A slow disk: null_blk at $NN_MBPS MB/s, $((NN_COMPLETION_NSEC / 1000)) µs a request, $NN_QUEUE_DEPTH in flight, ext4 on it"
nn_disk
say "A local cluster: silo-master, one silo-agent offering nullb0 (calibrated at first start)"
nn_cluster
show agents
ctl agents

say "PostgreSQL 15 as a Silo task (examples/postgres.json), its data on the persistent volume pg-data"
jq '{name, user, resources, container: (.container | {network, ports, volumes})}' "$PG_EXAMPLE" | sed 's/^/   /'
nn_pg_start postgres "$(nn_pg_io)"
note "its io request: wbps $NN_PG_BPS B/s ($NN_PG_SHARE of the disk's calibrated $NN_WRITE_BPS), weight 800"
show volumes
ctl volumes
nn_pg_init "$NN_SCALE"

say "pgbench -c $NN_CLIENTS -T $NN_SECONDS through the task's mapped port: alone"
nn_measure a "alone"
say "... next to a neighbour (fio randwrite 4k, QD 32, direct) that asked for no io limit"
nn_noisy_start noisy-unlimited
nn_measure b "+ fio, no io request"
nn_noisy_stop
say "... next to the same neighbour with an io request of $NN_LIMIT_BPS B/s and $NN_LIMIT_IOPS IOPS written ($NN_LIMIT_SHARE of the disk)"
nn_noisy_start noisy-silo "$(nn_noisy_io)"
NOISY="$NN_NOISY"
# Inspect both while pgbench runs, so the measured rates are those of this scenario.
(sleep 3; for t in "$NN_PG" "$NOISY"; do show inspect "${t:0:8}"; ctl inspect "$t"; done) >"$NN_OUT/inspect.out" 2>&1 &
INSPECT=$!
nn_measure d "+ fio, placed and limited by Silo"
wait "$INSPECT" || true
cat "$NN_OUT/inspect.out"
nn_noisy_stop

say "pgbench's figures (p99 from its per-transaction log)"
nn_table a b d
show tasks
ctl tasks
say "Done in $(($(date +%s) - T0)) s"
