#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The noisy-neighbour scenarios, shared by tests/bench/noisy-neighbour.sh (all four, in the
# systemd VM), the vm-postgres suite (its short form) and scripts/demo.sh (alone, unlimited,
# Silo): PostgreSQL (examples/postgres.json) and a fio neighbour as tasks of a one-agent cluster
# (tests/vm/cluster.sh) whose disk is a throttled null_blk with ext4 on it. Source after
# tests/vm/suites/lib.sh and agent-lib.sh; it sources cluster.sh and postgres.sh itself.
#
#   nn_disk                      null_blk nullb0 through configfs (NN_MBPS, NN_COMPLETION_NSEC,
#                                NN_QUEUE_DEPTH); refuses a device left by an earlier run
#   nn_cluster                   master + agent 1 on it (ext4, calibrated): NN_WRITE_BPS, NN_WRITE_IOPS
#   nn_noisy_io                  the neighbour's io entry, NN_LIMIT_SHARE of the calibrated disk:
#                                NN_LIMIT_BPS, NN_LIMIT_IOPS
#   nn_pg_io                     postgres's io entry, NN_PG_SHARE of the disk's bytes: NN_PG_BPS
#   nn_pg_start NAME [IO-JSON]   postgres with its data on the pg volume: NN_PG, NN_PG_ADDR/PORT
#   nn_pg_init SCALE             pgbench -i
#   nn_noisy_start NAME [IO]     the fio neighbour as a task: NN_NOISY
#   nn_noisy_systemd LIMIT       the fio neighbour in a systemd-run unit with IOWriteBandwidthMax
#   nn_noisy_stop                stop either
#   nn_measure KEY LABEL         pgbench -c NN_CLIENTS -T NN_SECONDS: NN_TPS[KEY], NN_P99[KEY]
#   nn_table KEY...              the table, ratios to the first KEY
#   nn_kill ID                   kill a task through the master and wait for its end

NN_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER_TLS="${CLUSTER_TLS:-0}"
CLUSTER_DISK_FS=ext4
# Persistent volumes (NN_VOLUMES=persistent) live on the disk's mount point, which the agent is
# then offered with its disk; NN_VOLUMES=bind bind-mounts directories of that filesystem.
NN_VOLUMES="${NN_VOLUMES:-persistent}"
CLUSTER_DISK_OFFER_MNT=
[ "$NN_VOLUMES" != persistent ] || CLUSTER_DISK_OFFER_MNT=1
. "$NN_LIB_DIR/../vm/cluster.sh"
. "$NN_LIB_DIR/postgres.sh"

NN_SECONDS="${NN_SECONDS:-30}"
NN_CLIENTS="${NN_CLIENTS:-8}"
NN_SCALE="${NN_SCALE:-8}"
# The disk (measured in the VM under TCG, see tests/bench/noisy-neighbour.sh): 24 MB/s for large
# writes, and at most NN_QUEUE_DEPTH requests in flight of NN_COMPLETION_NSEC each, i.e. 800
# IOPS. At 24 MB/s and 4 ms alone the disk did 6,000 4 KiB IOPS: fio's randwrite QD32 could not
# fill it from its one TCG core (0.5-1.1k IOPS for a full core), so CPU, not the disk, was what
# the neighbour took from postgres. At 800 IOPS the neighbour saturates the disk as on a real one.
NN_MBPS="${NN_MBPS:-24}"
NN_COMPLETION_NSEC="${NN_COMPLETION_NSEC:-10000000}"
NN_QUEUE_DEPTH="${NN_QUEUE_DEPTH:-8}"
# The neighbour's share of the calibrated disk in its io request (and in (c)'s systemd limits),
# bytes and IOPS, and postgres's share of its bytes: the master admits both only when their
# costs add up to at most the disk's budget of 1 (0.25 + 0.25 + 0.5).
NN_LIMIT_SHARE="${NN_LIMIT_SHARE:-0.25}"
NN_PG_SHARE="${NN_PG_SHARE:-0.5}"
NN_OUT="${NN_OUT:-/tmp/silo-nn}"
# Named as its disk will be: newer kernels name a configfs null_blk after its directory, 6.1
# after its index (0: the module is loaded with nr_devices=0).
NN_CFS=/sys/kernel/config/nullb/nullb0
NN_DEV=/dev/nullb0
declare -A NN_TPS NN_P99 NN_LAT NN_LABEL

nn_disk() {
    local f
    [ -d /sys/kernel/config/nullb ] || mount -t configfs none /sys/kernel/config 2>/dev/null || true
    [ -d /sys/kernel/config/nullb ] || fail "no null_blk configfs (/sys/kernel/config/nullb)"
    # Never reuse or remove a device this run did not make: its parameters and data are not ours.
    [ -e "$NN_CFS" ] && fail "$NN_CFS exists already (left by an earlier run?): remove it first" \
        "(echo 0 > $NN_CFS/power; rmdir $NN_CFS) or boot a fresh VM"
    [ -b "$NN_DEV" ] && fail "$NN_DEV exists already (null_blk loaded with nr_devices > 0?): load" \
        "it with nr_devices=0 (run-vm.sh --null-blk nr_devices=0; rmmod null_blk first)"
    mkdir "$NN_CFS" || fail "mkdir $NN_CFS"
    CLUSTER_AFTER_STOP=nn_disk_remove
    # 3 GiB, in memory as written (a filesystem keeps what it writes; the postgres and fio
    # volumes, 1.5 GiB, fit with room), 4 KiB blocks, every request
    # completed by a timer NN_COMPLETION_NSEC after it was queued, at most NN_QUEUE_DEPTH of
    # them in flight, at most NN_MBPS MB/s.
    for f in size=3072 blocksize=4096 memory_backed=1 irqmode=2 \
             "completion_nsec=$NN_COMPLETION_NSEC" "hw_queue_depth=$NN_QUEUE_DEPTH" "mbps=$NN_MBPS" power=1; do
        echo "${f#*=}" >"$NN_CFS/${f%%=*}" || fail "null_blk configfs: ${f%%=*} = ${f#*=}"
    done
    udevadm settle 2>/dev/null || true
    for _ in $(seq 50); do [ -b "$NN_DEV" ] && break; sleep 0.1; done
    [ -b "$NN_DEV" ] || fail "$NN_DEV did not appear after powering $NN_CFS on (index $(cat "$NN_CFS/index" 2>&1); /sys/block: $(ls /sys/block | tr '\n' ' '))"
    echo "   disk: $NN_DEV, null_blk, ${NN_MBPS} MB/s, ${NN_COMPLETION_NSEC} ns per request," \
         "$NN_QUEUE_DEPTH in flight"
}

# Runs after the cluster's teardown (unmounted); says so when the device cannot be removed.
nn_disk_remove() {
    [ -d "$NN_CFS" ] || return 0
    echo 0 >"$NN_CFS/power" 2>/dev/null
    rmdir "$NN_CFS" 2>/dev/null || echo "nn: could not remove $NN_CFS (still in use?)" >&2
    return 0
}

nn_cluster() {
    local t0 re='"write_bps":([0-9]+)' rei='"write_iops":([0-9]+)' _
    t0=$(date +%s)
    mkdir -p "$NN_OUT"
    # Calibration writes a scratch file on the filesystem (the raw device holds it); 2 s a
    # figure: the budget the master checks the io requests against.
    cluster_start 1 --task-subnet '10.100.@I@.0/24' --task-ports 20000-20099 \
        --calibrate-seconds 2 --calibrate-write "@DISK@:/srv/@DISK@"
    NN_WRITE_BPS=0
    for _ in $(seq 300); do
        cluster_api GET /api/v1/agents
        if [[ "$API_BODY" =~ $re ]] && [ "${BASH_REMATCH[1]}" -gt 0 ]; then
            NN_WRITE_BPS="${BASH_REMATCH[1]}"
            break
        fi
        sleep 0.2
    done
    [ "$NN_WRITE_BPS" -gt 0 ] || fail "the agent's disk has no calibrated write_bps after 60 s: $API_BODY"
    [[ "$API_BODY" =~ $rei ]] || fail "the agent's disk has no calibrated write_iops: $API_BODY"
    NN_WRITE_IOPS="${BASH_REMATCH[1]}"
    NN_LIMIT_BPS=$(awk -v w="$NN_WRITE_BPS" -v s="$NN_LIMIT_SHARE" 'BEGIN { printf "%d", w * s }')
    NN_LIMIT_IOPS=$(awk -v w="$NN_WRITE_IOPS" -v s="$NN_LIMIT_SHARE" 'BEGIN { printf "%d", w * s }')
    NN_PG_BPS=$(awk -v w="$NN_WRITE_BPS" -v s="$NN_PG_SHARE" 'BEGIN { printf "%d", w * s }')
    echo "   cluster up in $(($(date +%s) - t0)) s; nullb0 calibrated at $NN_WRITE_BPS B/s," \
         "$NN_WRITE_IOPS IOPS written (4 KiB, QD 64)"
}

# The neighbour's io request: NN_LIMIT_SHARE of the disk's written bytes and operations (a
# byte limit alone leaves 4 KiB random writes free to take every IOPS the disk has).
nn_noisy_io() {
    printf '[{"disk": "any", "wbps": "%s", "wiops": "%s", "weight": 100}]' "$NN_LIMIT_BPS" "$NN_LIMIT_IOPS"
}
nn_pg_io() { printf '[{"disk": "any", "wbps": "%s", "weight": 800}]' "$NN_PG_BPS"; }

# nn_volume NAME SIZE TARGET: the container.volumes entry of the persistent volume NAME
# (NN_VOLUMES=persistent), or of a bind mount of the directory NAME of the disk's filesystem,
# owned by postgres (NN_VOLUMES=bind).
nn_volume() {
    local src
    if [ "$NN_VOLUMES" = persistent ]; then
        printf '{"name": "%s", "size": "%s", "target": "%s"}' "$1" "$2" "$3"
        return 0
    fi
    src="$(nn_volume_dir "$1")"
    mkdir -p "$src"
    chown postgres: "$src"
    printf '{"source": "%s", "target": "%s"}' "$src" "$3"
}
# nn_volume_dir NAME: where the volume's data is on the agent's filesystem.
nn_volume_dir() {
    if [ "$NN_VOLUMES" = persistent ]; then echo "${CLUSTER_DISK_MNT[1]}/silo-volumes/$1"
    else echo "${CLUSTER_DISK_MNT[1]}/$1"; fi
}

nn_pg_start() {
    local name="$1" io="${2:-null}" re='"host":([0-9]+)' t1 vol
    t1=$(date +%s)
    vol="$(nn_volume pg-data 1Gi /var/lib/postgresql)"
    cluster_submit "$(pg_spec '.name = $n | .container.volumes = [$v]
        | if $io == null then del(.resources.io) else .resources.io = $io end' \
        --arg n "$name" --argjson v "$vol" --argjson io "$io")"
    NN_PG="$CLUSTER_TASK"
    cluster_wait_state "$NN_PG" RUNNING 60
    cluster_api GET "/api/v1/tasks/$NN_PG"
    [[ "$API_BODY" =~ $re ]] || fail "no host port in task $NN_PG: $API_BODY"
    NN_PG_PORT="${BASH_REMATCH[1]}"
    NN_PG_ADDR="${CLUSTER_AGENT_ADDR[1]}"
    pg_wait_ready "$NN_PG_ADDR" "$NN_PG_PORT" 90 || {
        cluster_log 1 "$NN_PG" stderr
        fail "postgres ($name) did not accept connections at $NN_PG_ADDR:$NN_PG_PORT within 90 s: $API_BODY"
    }
    echo "   $name: task $NN_PG answers at $NN_PG_ADDR:$NN_PG_PORT ($(($(date +%s) - t1)) s)"
}

nn_pg_init() {
    local t1
    t1=$(date +%s)
    PGPASSWORD="$(pg_password)" "$PG_BIN/pgbench" -i -q -s "$1" -h "$NN_PG_ADDR" -p "$NN_PG_PORT" \
        -U postgres postgres >"$NN_OUT/init.out" 2>&1 || { cat "$NN_OUT/init.out"; fail "pgbench -i -s $1"; }
    # The load's dirty pages written now: else the first scenario pays for the checkpoint of
    # the data load and the later ones (after a restart's shutdown checkpoint) do not.
    pg_sql "$NN_PG_ADDR" "$NN_PG_PORT" checkpoint || fail "CHECKPOINT after pgbench -i"
    echo "   pgbench -i -s $1: $(($(date +%s) - t1)) s"
}

# The neighbour: 4 KiB random direct writes at queue depth 32 on a 256 MiB file of the same
# filesystem, until stopped. Each scenario starts from a new (fallocated) file: writes into
# unwritten extents cost ext4 journal commits that overwrites do not, and postgres's commits
# wait on that journal too, so a file reused from an earlier scenario would favour the later one.
NN_FIO_SH='rm -f /mnt/noisy.dat && exec fio --name=noisy --filename=/mnt/noisy.dat --size=256M --rw=randwrite --bs=4k --iodepth=32 --ioengine=libaio --direct=1 --time_based --runtime=3600'
NN_FIO=(sh -c "$NN_FIO_SH")

nn_noisy_start() {
    local name="$1" io="${2:-null}" vol cmd
    vol="$(nn_volume noisy 512Mi /mnt)"
    cmd="$(jq -n -c --arg s "$NN_FIO_SH" '["sh", "-c", $s]')"
    cluster_submit "$(jq -n -c --arg n "$name" --argjson c "$cmd" --argjson v "$vol" --argjson io "$io" '
        {name: $n, role: "batch", command: $c,
         resources: ({cpus: 1, mem: "256Mi", pids: 64} + if $io == null then {} else {io: $io} end),
         container: {volumes: [$v]}}')"
    NN_NOISY="$CLUSTER_TASK"
    NN_NOISY_UNIT=""
    cluster_wait_state "$NN_NOISY" RUNNING 60
    # fio lays its file out first (fallocate) and then writes: let it reach its steady state.
    sleep 3
    echo "   $name: task $NN_NOISY running fio randwrite QD32 on the same disk"
}

# The same limits as the neighbour's io request in (d), set statically on a transient unit.
nn_noisy_systemd() {
    local limits=(-p "IOWriteBandwidthMax=$NN_DEV $NN_LIMIT_BPS" -p "IOWriteIOPSMax=$NN_DEV $NN_LIMIT_IOPS")
    NN_NOISY=""
    NN_NOISY_UNIT=nn-noisy
    # The directory of the neighbour's volume (made by the task of (b)).
    systemd-run --quiet --collect --unit "$NN_NOISY_UNIT" "${limits[@]}" \
        -p BindPaths="$(nn_volume_dir noisy):/mnt" "${NN_FIO[@]}" ||
        fail "systemd-run ${limits[*]} fio"
    sleep 3
    systemctl is-active --quiet "$NN_NOISY_UNIT" || fail "the systemd-run unit $NN_NOISY_UNIT is not active"
    echo "   unit $NN_NOISY_UNIT running the same fio, ${limits[*]}" \
         "(io.max: $(cat "/sys/fs/cgroup/system.slice/$NN_NOISY_UNIT.service/io.max" 2>/dev/null))"
}

nn_kill() {
    cluster_api DELETE "/api/v1/tasks/$1"
    case "$API_STATUS" in 200 | 202) ;; *) fail "kill $1: HTTP $API_STATUS: $API_BODY" ;; esac
    cluster_wait_state "$1" ended 60
}

nn_noisy_stop() {
    if [ -n "${NN_NOISY_UNIT:-}" ]; then
        systemctl stop "$NN_NOISY_UNIT" 2>/dev/null
        NN_NOISY_UNIT=""
    fi
    if [ -n "${NN_NOISY:-}" ]; then
        nn_kill "$NN_NOISY"
        NN_NOISY=""
    fi
    return 0
}

nn_measure() {
    local key="$1"
    NN_LABEL[$key]="$2"
    pg_bench "$NN_PG_ADDR" "$NN_PG_PORT" "$NN_OUT/$key" -c "$NN_CLIENTS" -j 2 -T "$NN_SECONDS" ||
        { cat "$NN_OUT/$key/out"; fail "pgbench ($2)"; }
    NN_TPS[$key]="$PG_TPS" NN_P99[$key]="$PG_P99_MS" NN_LAT[$key]="$PG_LAT_MS"
    printf '   %-34s %9.1f tps  avg %8.2f ms  p99 %8.2f ms  (failed %s)\n' "$2" "$PG_TPS" "$PG_LAT_MS" \
        "$PG_P99_MS" "$PG_FAILED"
}

nn_table() {
    local base="$1" k
    printf '\n%-36s %10s %8s %10s %8s\n' "pgbench -c $NN_CLIENTS -T $NN_SECONDS" TPS "x (${base})" "p99 ms" "x (${base})"
    for k in "$@"; do
        awk -v l="${NN_LABEL[$k]}" -v t="${NN_TPS[$k]}" -v p="${NN_P99[$k]}" -v bt="${NN_TPS[$base]}" \
            -v bp="${NN_P99[$base]}" 'BEGIN { printf "%-36s %10.1f %8.2f %10.2f %8.2f\n", l, t, t / bt, p, p / bp }'
    done
    echo
}

# nn_ratio KEY BASE WHAT: the ratio of two scenarios' TPS or P99.
nn_ratio() {
    local a b
    if [ "$3" = tps ]; then a="${NN_TPS[$1]}" b="${NN_TPS[$2]}"; else a="${NN_P99[$1]}" b="${NN_P99[$2]}"; fi
    awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'
}
