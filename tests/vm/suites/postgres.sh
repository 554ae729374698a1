#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "postgres": Debian's PostgreSQL 15 as a Silo task (examples/postgres.json) on a
# cluster of one agent in the guest (tests/vm/cluster.sh), its data on ext4 over the agent's
# disk, a throttled null_blk made through configfs (tests/lib/nn.sh), and the noisy-neighbour
# benchmark's short form (tests/bench/noisy-neighbour.sh).
#
#   start     the example's task runs as user postgres with bridge networking and the
#             example's io request; initdb on the empty data directory, then the server
#             answers on the mapped port; its limits are in the kernel (io.max, memory.max)
#   pgbench   `pgbench -i` and runs through the mapped port from the root namespace:
#             transactions done, none failed
#   noisy     the noisy-neighbour benchmark's short form (pgbench -T NN_SECONDS, default 8):
#             (a) alone, (d) next to an fio neighbour (randwrite 4k QD 32 direct) with an io
#             request within the disk's calibrated budget, both placed and limited by Silo: no
#             transaction failed; the neighbour's own write rate during (d), eBPF-measured, is
#             between half its wiops limit (it ran) and 1.1 x that limit (io.max held it:
#             unlimited it takes the disk's ~600 IOPS, (b) of tests/bench/noisy-neighbour.sh).
#             The TPS and p99 ratios are printed; their goals are the benchmark's.
#   restart   kill the task, start a new one on the same data: the tables and their row
#             counts are what the first task committed
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
# pgbench -i is the data load, not the measurement: scale 1 (100,000 accounts, 16 MB).
NN_SCALE="${NN_SCALE:-1}"
NN_SECONDS="${NN_SECONDS:-8}"
. "$(dirname "$0")/../../lib/nn.sh"
vm_require_guest
for tool in jq fio mkfs.ext4 "$PG_BIN/postgres" "$PG_BIN/pgbench" "$PG_BIN/psql"; do
    command -v "$tool" >/dev/null || fail "$tool missing (scripts/install-deps.sh installs it)"
done
getent passwd postgres >/dev/null || fail "no user postgres (the postgresql-15 package makes it)"

trap 'rc=$?; nn_noisy_stop >/dev/null 2>&1; cluster_teardown $rc' EXIT
T0=$(date +%s)

echo "== a throttled disk with ext4, one agent"
nn_disk
nn_cluster
pass "master and agent 1 up, nullb0 calibrated at $NN_WRITE_BPS B/s ($(($(date +%s) - T0)) s)"
# The example's io request, made to fit this small disk's budget (nn_pg_io).
PG_IO="$(nn_pg_io)"

echo "== start: the example's task"
nn_pg_start postgres "$PG_IO"
pass "postgres answers at $NN_PG_ADDR:$NN_PG_PORT"
cluster_agent_api 1 GET "/api/v1/tasks/$NN_PG/isolation"
json_fields "$API_BODY" 'limits.io[0].wbps'
assert_eq "io.max wbps read back from the kernel" "${JSON_FIELDS[0]}" "$NN_PG_BPS"
cluster_agent_api 1 GET "/api/v1/tasks/$NN_PG"
json_fields "$API_BODY" spec.user spec.container.network
assert_eq "the task runs as" "${JSON_FIELDS[0]}" postgres
assert_eq "its network" "${JSON_FIELDS[1]}" bridge
assert_eq "the data directory" "$(pg_sql "$NN_PG_ADDR" "$NN_PG_PORT" "select current_setting('data_directory')")" \
    /var/lib/postgresql/pgdata
assert_eq "initdb's files on the disk's filesystem belong to" \
    "$(stat -c %U "$(nn_volume_dir pg-data)/pgdata/PG_VERSION")" postgres

if [ "$NN_VOLUMES" = persistent ]; then
    cluster_api GET /api/v1/volumes/pg-data
    json_fields "$API_BODY" disk state
    assert_eq "the master's volume pg-data: disk, state" "${JSON_FIELDS[*]}" "nullb0 ready"
fi

echo "== pgbench through the mapped port, alone and next to a neighbour placed by Silo"
nn_pg_init "$NN_SCALE"
nn_measure a "(a) alone"
assert_eq "pgbench (a): failed transactions" "$PG_FAILED" 0
awk -v t="$PG_TPS" 'BEGIN { exit !(t > 0) }' || fail "pgbench (a): tps '$PG_TPS', want > 0"
nn_noisy_start noisy "$(nn_noisy_io)"
# What makes (d) isolation and not luck: the neighbour kept writing, and no faster than the io
# request the master placed it with (io.max's wiops; unlimited it takes the disk's ~600 IOPS).
noisy_write_ios() {
    cluster_agent_api 1 GET "/api/v1/tasks/$NN_NOISY/isolation"
    json_fields "$API_BODY" 'limits.io[0].wiops' 'limits.io[0].measured.total.write_ios' \
        'limits.io[0].measured.total.time_ms'
}
noisy_write_ios
assert_eq "the neighbour's wiops read back from the kernel" "${JSON_FIELDS[0]}" "$NN_LIMIT_IOPS"
ios0="${JSON_FIELDS[1]}" ms0="${JSON_FIELDS[2]}"
nn_measure d "(d) + fio, placed by Silo"
noisy_write_ios
# The counters with their snapshot's monotonic time: a rate between two answers, exactly.
rate="$(awk -v a="$ios0" -v b="${JSON_FIELDS[1]}" -v t0="$ms0" -v t1="${JSON_FIELDS[2]}" \
    'BEGIN { if (t1 <= t0) { print "none"; exit } printf "%.0f", (b - a) * 1000 / (t1 - t0) }')"
nn_noisy_stop
awk -v r="$rate" -v l="$NN_LIMIT_IOPS" 'BEGIN { exit !(r <= 1.1 * l) }' ||
    fail "the neighbour wrote $rate IOPS during (d), over its limit of $NN_LIMIT_IOPS: io.max not enforced"
awk -v r="$rate" -v l="$NN_LIMIT_IOPS" 'BEGIN { exit !(r >= 0.5 * l) }' ||
    fail "the neighbour wrote $rate IOPS during (d), under half its limit of $NN_LIMIT_IOPS: it did not run"
pass "the neighbour wrote $rate IOPS during (d) (eBPF-measured), its limit $NN_LIMIT_IOPS"
nn_table a d
assert_eq "pgbench (d): failed transactions" "$PG_FAILED" 0
awk -v t="$PG_TPS" 'BEGIN { exit !(t > 0) }' || fail "pgbench (d): tps '$PG_TPS', want > 0"
# The issue's goals ((d) TPS >= 0.9 x (a), p99 <= 1.5 x (a)) are a benchmark's, checked by
# tests/bench/noisy-neighbour.sh (pgbench -T 30, a quiet machine): from two 8-second samples in
# a CI run they are noise (a CI run read 0.88 with the neighbour held at 160 of its 162 IOPS).
# What is isolation here is asserted above: the neighbour ran, and io.max held it.
echo "   (d) TPS $(nn_ratio d a tps) x (a), p99 $(nn_ratio d a p99) x (a): tests/bench/noisy-neighbour.sh measures the goals"

count_sql="select (select count(*) from pgbench_accounts) || ' ' || (select count(*) from pgbench_history)"
before="$(pg_sql "$NN_PG_ADDR" "$NN_PG_PORT" "$count_sql")"
assert_match "rows: pgbench_accounts, pgbench_history" "$before" "^$((NN_SCALE * 100000)) [1-9][0-9]*\$"

echo "== agent restart: kill -9 of the agent while the server runs; the restarted agent adopts it"
cluster_agent_api 1 GET "/api/v1/tasks/$NN_PG"
json_fields "$API_BODY" pid
pg_pid="${JSON_FIELDS[0]}"
cluster_agent_kill9 1
assert_eq "rows while the agent is down" "$(pg_sql "$NN_PG_ADDR" "$NN_PG_PORT" "$count_sql")" "$before"
cluster_agent_start 1
cluster_wait_registered 1
cluster_state "$NN_PG" 1
assert_eq "the task on the restarted agent" "$CLUSTER_STATE" RUNNING
cluster_agent_api 1 GET "/api/v1/tasks/$NN_PG"
json_fields "$API_BODY" pid
assert_eq "its pid (the same server, not a new one)" "${JSON_FIELDS[0]}" "$pg_pid"
assert_eq "rows after the agent's restart" "$(pg_sql "$NN_PG_ADDR" "$NN_PG_PORT" "$count_sql")" "$before"

echo "== restart: kill the task, start another on the same data"
nn_kill "$NN_PG"
pass "the first task ended $CLUSTER_STATE"
nn_pg_start postgres-2 "$PG_IO"
assert_eq "rows after the restart" "$(pg_sql "$NN_PG_ADDR" "$NN_PG_PORT" "$count_sql")" "$before"

echo "== done in $(($(date +%s) - T0)) s"
assert_done
