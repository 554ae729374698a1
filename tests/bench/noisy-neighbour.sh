#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The noisy-neighbour benchmark (issue 16): PostgreSQL 15 as a Silo task measured by its own
# pgbench, alone and next to a task hammering the same disk with fio, in four scenarios:
#
#   (a) alone                 postgres (examples/postgres.json without io entries), nothing else
#   (b) noisy, unlimited      plus a neighbour task `fio --rw=randwrite --bs=4k --iodepth=32
#                             --direct=1` on a file of the same filesystem, neither limited:
#                             what a Kubernetes or Nomad user gets today
#   (c) systemd-run           the same fio in a transient unit with -p IOWriteBandwidthMax="DEV
#                             BPS" -p IOWriteIOPSMax="DEV IOPS" (systemd's static answer; the
#                             same limits as (d)), postgres as in (a)
#   (d) Silo                  both submitted to the master with io requests that fit the disk's
#                             calibrated budget: postgres wbps = NN_PG_SHARE x write_bps with
#                             weight 800, the neighbour wbps and wiops = NN_LIMIT_SHARE x the
#                             calibrated write_bps and write_iops, weight 100; Silo places them
#                             and enforces io.max (and io.weight where the disk has iocost or
#                             BFQ)
#
# The disk: a null_blk device made through configfs with memory_backed=1 (a filesystem on it
# keeps its data), irqmode=2 + completion_nsec (each request takes that long, as on a real
# disk), hw_queue_depth (requests in flight) and mbps (the device's bandwidth). Why null_blk,
# not a loop device throttled with io.max or dm-delay: null_blk's limits are the device's own,
# below the block layer's cgroup controls, so io.max and io.weight act on the tasks exactly as
# on a real disk.
#
# What the figures are made of under TCG (measured with cpu.stat and io.stat in the VM, at the
# first parameters, 24 MB/s and 4 ms with no depth limit, i.e. ~6,000 IOPS): postgres alone
# used its whole 1-CPU cpu.max (1.01 cores, throttled) at 9.5 TPS, and 16.8 TPS with fsync
# off, so its commits wait on both the CPU and the disk; the unlimited fio neighbour used its
# whole CPU too (1.00 core) and wrote only 1.9-4.5 MB/s: it could not fill that disk, and what
# it took from postgres was mostly CPU (the guest at 1.96 of 2 cores). Hence the defaults:
# 10 ms per request and 8 in flight (800 IOPS; calibrated ~570 at 4 KiB), 24 MB/s, so the
# neighbour saturates the disk's IOPS from one core while large writes (mkfs, pgbench -i) keep
# the bandwidth, and the neighbour's limits cover IOPS as well as bytes. Postgres stays partly
# CPU-bound: the ratios, not the absolute TPS, are the result.
# Measured at these defaults (2026-12-05, loaded shared host, 230 s in the guest): (a) 42.9
# TPS, (b) 0.83x TPS / 1.39x p99, (c) 1.06x / 1.01x, (d) 1.07x / 0.98x: (d)'s goals met, the
# collapse goal (b) missed. Postgres at scale 8 stays mostly CPU-bound (~23 ms of its one CPU
# per transaction against ~10 ms of disk per commit), so an unlimited neighbour costs it 17 %
# only; a slower disk (completion_nsec 30-50 ms or hw_queue_depth 2-4) is the next thing to
# measure, not yet done.
#
# Figures: TPS and the average latency are pgbench's own summary lines; p99 is computed from
# pgbench's per-transaction log (--log: one line per transaction with its latency in µs), over
# every transaction of the run. Ratios are to (a).
#
# Goals: (d) TPS >= 0.9 x (a); (d) p99 <= 1.5 x (a); and the scenario itself must show the
# problem: (b) p99 >= 2 x (a) (else the disk was not the bottleneck and (d) proves nothing).
# Exit 0 when all hold, 1 on a miss or a failed run, 77 when it cannot run here.
#
# Usage: tests/bench/noisy-neighbour.sh [BUILD-DIR]      (root; boots the systemd VM)
#   env: NN_SECONDS=30 (pgbench -T), NN_CLIENTS=8 (pgbench -c), NN_SCALE=8 (pgbench -i -s),
#        NN_MBPS=24, NN_COMPLETION_NSEC=10000000, NN_QUEUE_DEPTH=8, NN_LIMIT_SHARE=0.25 (the
#        neighbour's wbps and wiops as a share of the calibrated write_bps and write_iops),
#        NN_PG_SHARE=0.5, NN_TIMEOUT=900 (VM seconds), NN_ASSERT=1 (exit 1 on a missed goal)
# Takes about 8 minutes with the VM's boot. It refuses to run over a null_blk device an
# earlier run left behind (nullb0 in configfs) and removes its own at the end.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$here/../.." && pwd)"
BUILD="$(realpath "${1:-${SILO_BUILD_DIR:-$ROOT/build}}")"
export SILO_BUILD_DIR="$BUILD"
. "$here/bench.sh"

# The port mappings' nftables NAT (the agent's `ip silo` table), ext4's quota format.
NN_MODULES="nf_tables nft_chain_nat nf_nat nft_masq nft_nat nft_fib_ipv4 nft_ct quota_v2 quota_tree"
if [ "${SILO_IN_VM:-}" != 1 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (qemu)"; exit 77; }
    for p in qemu-system-x86_64 fio jq /usr/lib/postgresql/15/bin/pgbench; do
        command -v "$p" >/dev/null || { echo "SKIP: $p missing (scripts/install-deps.sh)"; exit 77; }
    done
    # The guest's environment is clean but for SILO_* (run-vm.sh): the NN_* settings above go in
    # through env(1), or the guest would run the defaults whatever the caller set.
    mapfile -t nn_env < <(env | grep '^NN_' || true)
    exec "$ROOT/tests/vm/run-vm.sh" --systemd --timeout "${NN_TIMEOUT:-900}" --mem 2048 \
        --null-blk "nr_devices=0" --modules "$NN_MODULES" -- \
        env "${nn_env[@]}" "$here/noisy-neighbour.sh" "$BUILD"
fi

# ---------------------------------------------------------------- in the guest
. "$ROOT/tests/vm/suites/lib.sh"
. "$ROOT/tests/vm/suites/agent-lib.sh"
. "$ROOT/tests/lib/nn.sh"
for p in fio jq mkfs.ext4 systemd-run "$PG_BIN/postgres" "$PG_BIN/pgbench"; do
    command -v "$p" >/dev/null || { echo "SKIP: $p missing in the guest"; exit 77; }
done
[ "$(cat /proc/1/comm)" = systemd ] || { echo "SKIP: (c) needs systemd as PID 1 (run-vm.sh --systemd)"; exit 77; }
T0=$(date +%s)
trap 'rc=$?; nn_noisy_stop >/dev/null 2>&1; cluster_teardown $rc' EXIT

echo "== the disk and a cluster of one agent"
nn_disk
nn_cluster
echo "   the neighbour's limits in (c) and (d): $NN_LIMIT_BPS B/s and $NN_LIMIT_IOPS IOPS written" \
     "($NN_LIMIT_SHARE x the calibrated figures)"

echo "== (a), (b), (c): postgres without io limits"
nn_pg_start pg-plain
nn_pg_init "$NN_SCALE"
nn_measure a "(a) alone"
nn_noisy_start noisy-plain
nn_measure b "(b) + fio, neither limited"
nn_noisy_stop
nn_noisy_systemd
nn_measure c "(c) + fio, systemd-run IO*Max"
nn_noisy_stop
nn_kill "$NN_PG"

echo "== (d): both through the master with io requests within the disk's budget"
nn_pg_start pg-silo "$(nn_pg_io)"
nn_noisy_start noisy-silo "$(nn_noisy_io)"
cluster_agent_api 1 GET "/api/v1/tasks/$NN_NOISY/isolation"
json_fields "$API_BODY" 'limits.io | tojson'
echo "   the neighbour's limits read back: ${JSON_FIELDS[0]}"
nn_measure d "(d) + fio, both placed by Silo"
nn_noisy_stop

nn_table a b c d
echo "run: $(($(date +%s) - T0)) s in the guest"
if [ "${NN_ASSERT:-1}" = 1 ]; then
    bench_goal "(d) TPS / (a) TPS" "$(nn_ratio d a tps)" x ">=" 0.9
    bench_goal "(d) p99 / (a) p99" "$(nn_ratio d a p99)" x "<=" 1.5
    bench_goal "(b) p99 / (a) p99 (the neighbour hurts without limits)" "$(nn_ratio b a p99)" x ">=" 2
fi
bench_done
