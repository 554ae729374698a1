#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# PostgreSQL as a Silo task, shared by the vm-postgres suite, the noisy-neighbour benchmark
# and scripts/demo.sh (one place for the spec, the readiness wait and pgbench's figures).
# Needs jq and Debian's postgresql-15 client tools (psql, pg_isready, pgbench).
#
#   pg_spec FILTER [JQ-ARGS...]  examples/postgres.json through jq FILTER (e.g. '.name = "pg-2"')
#   pg_wait_ready HOST PORT SEC  until the server accepts connections; 1 after SEC seconds
#   pg_sql HOST PORT SQL         one statement through psql, unaligned output
#   pg_bench HOST PORT OUT ARGS  pgbench ARGS with a per-transaction log; PG_TPS, PG_LAT_MS,
#                                PG_P99_MS, PG_FAILED from pgbench's own output and log
#
# Client connections go through the task's mapped port as a user's would, with the password
# the example's spec gives the server (env POSTGRES_PASSWORD).

PG_EXAMPLE="${PG_EXAMPLE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/examples/postgres.json}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

pg_spec() {
    local filter="$1"
    shift
    jq -c "$@" "$filter" "$PG_EXAMPLE"
}

pg_password() { jq -r '.env.POSTGRES_PASSWORD' "$PG_EXAMPLE"; }

pg_wait_ready() {
    local host="$1" port="$2" secs="$3" _
    for _ in $(seq $((secs * 2))); do
        "$PG_BIN/pg_isready" -q -h "$host" -p "$port" -t 2 && return 0
        sleep 0.5
    done
    return 1
}

pg_sql() {
    PGPASSWORD="$(pg_password)" "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$1" -p "$2" \
        -U postgres -d postgres -c "$3"
}

# pg_bench HOST PORT OUTDIR ARGS...: pgbench writes one log line per transaction (--log: client,
# transaction number, latency in µs, ...) into OUTDIR; the p99 is taken from every line of it,
# TPS and the average latency are pgbench's own summary lines. Its output is in OUTDIR/out.
pg_bench() {
    local host="$1" port="$2" out="$3" rc=0
    shift 3
    mkdir -p "$out"
    rm -f "$out"/pgbench_log.*
    (cd "$out" && PGPASSWORD="$(pg_password)" "$PG_BIN/pgbench" -h "$host" -p "$port" -U postgres \
        --log --log-prefix="$out/pgbench_log" "$@" postgres >"$out/out" 2>&1) || rc=$?
    PG_TPS="$(awk -F'[ =]+' '/^tps = / { print $2; exit }' "$out/out")"
    PG_LAT_MS="$(awk '/^latency average = / { print $4; exit }' "$out/out")"
    PG_FAILED="$(awk '/^number of failed transactions: / { print $5; exit }' "$out/out")"
    PG_P99_MS="$(cat "$out"/pgbench_log.* 2>/dev/null | awk '{ print $3 }' | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print ""; exit }
                                  i = int(NR * 0.99 + 0.999999); if (i > NR) i = NR
                                  printf "%.2f", v[i] / 1000 }')"
    rm -f "$out"/pgbench_log.*
    return "$rc"
}
