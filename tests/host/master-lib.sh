# SPDX-License-Identifier: Apache-2.0
# Shared helpers of the master's host tests: a real silo-master and sim-agents on loopback.
# Sourced by tests/host/master-*.sh with "$1" = silo-master and "$2" = sim-agent; brings the
# assertion library (tests/lib/assert.sh: pass, fail, assert_eq, ..., assert_done).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/assert.sh"

MASTER_BIN=$(realpath "$1")
SIM_BIN=$(realpath "$2")
for tool in curl jq; do
    command -v "$tool" >/dev/null || skip_suite "$tool is not installed"
done

WORK=$(mktemp -d /tmp/silo-master-test.XXXXXX)
PIDS=()
MPID=
PORT=0
TOKEN=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
printf '%s\n' "$TOKEN" > "$WORK/token"
chmod 600 "$WORK/token"
declare -A SIM_PID SIM_PORT

cleanup() {
    local rc=$?
    for p in "${PIDS[@]}" $MPID; do
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        echo "---- master log (last 60 lines) ----"
        tail -n 60 "$WORK/master.log" 2>/dev/null || true
        for f in "$WORK"/*.log; do
            [ -e "$f" ] || continue # no log yet: the glob stays unexpanded
            [ "$f" = "$WORK/master.log" ] && continue
            echo "---- $(basename "$f") ----"; tail -n 10 "$f"
        done
    fi
    if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# SILO_TEST_STORE=etcd runs the suite's master on a 1-member etcd (tests/lib/etcd.sh) with
# --store etcd instead of SQLite: the same checks hold for both stores.
STORE_OPTS=()
if [ "${SILO_TEST_STORE:-sqlite}" = etcd ]; then
    . "$(dirname "${BASH_SOURCE[0]}")/../lib/etcd.sh"
    etcd_available || skip_suite "SILO_TEST_STORE=etcd: etcd is not installed (Debian: etcd-server)"
    # The help whole in a variable: under pipefail, grep -q leaving at its match would make the
    # master's next write a SIGPIPE, and the pipeline fail.
    MASTER_HELP=$("$MASTER_BIN" --help 2>&1 || true)
    grep -q -- '--store' <<<"$MASTER_HELP" ||
        skip_suite "SILO_TEST_STORE=etcd: silo-master has no --store option"
    # The default lease (10 s): a master restarted after kill -9 revokes its previous life's
    # lease rather than wait for it, and a short one (2 s) made a leader busy with a burst of
    # submissions on a loaded machine miss its own deadline and step down mid-suite.
    # SILO_TEST_LEASE_TTL_S=2 by hand: a short lease under load (does a busy leader keep it?).
    # SILO_TEST_ETCD=ENDPOINTS: an etcd that is already running (master-suites-etcd.sh shares
    # one among suites run side by side), each suite under its own SILO_TEST_ETCD_PREFIX.
    ETCD_PREFIX=${SILO_TEST_ETCD_PREFIX:-/silo-test/}
    STORE_OPTS=(--store etcd --etcd-prefix "$ETCD_PREFIX" ${SILO_TEST_LEASE_TTL_S:+--lease-ttl-s "$SILO_TEST_LEASE_TTL_S"})
    [ -z "${SILO_TEST_ETCD:-}" ] || STORE_OPTS+=(--etcd "$SILO_TEST_ETCD")
    ASSERT_SUITE="$ASSERT_SUITE (etcd)"
fi
# etcdctl (API v3) on the suite's etcd, its own or the shared one.
store_etcdctl() {
    if [ -n "${SILO_TEST_ETCD:-}" ]; then
        ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints="$SILO_TEST_ETCD" --command-timeout=5s "$@"
    else
        etcd_ctl "$@"
    fi
}

# Start the master; the first start picks a free port, later ones reuse it.
start_master() {
    if [ "${SILO_TEST_STORE:-sqlite}" = etcd ] && [ -z "$ETCD_DIR" ] && [ -z "${SILO_TEST_ETCD:-}" ]; then
        etcd_start_cluster 1 || fail "etcd did not start"
        STORE_OPTS+=(--etcd "$ETCD_ENDPOINTS")
    fi
    "$MASTER_BIN" --listen "127.0.0.1:$PORT" --state-dir "$WORK/state" --token-file "$WORK/token" \
        --log-level debug "${STORE_OPTS[@]}" "$@" >>"$WORK/master.log" 2>&1 &
    MPID=$!
    local i
    for i in $(seq 300); do
        if [ "$PORT" = 0 ]; then
            PORT=$(grep -o 'listening on .* (port [0-9]*)' "$WORK/master.log" | tail -1 | grep -o 'port [0-9]*' | cut -d' ' -f2 || true)
            PORT=${PORT:-0}
        fi
        # On etcd, healthy is not enough: it serves once it leads (after a kill -9, once the
        # dead one's lease has expired).
        if [ "$PORT" != 0 ] && curl -sf "http://127.0.0.1:$PORT/health" 2>/dev/null |
            jq -e '.role != "follower"' >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$MPID" 2>/dev/null || fail "silo-master exited at startup"
        sleep 0.05
    done
    fail "silo-master did not become healthy"
}

kill9_master() {
    kill -9 "$MPID"
    wait "$MPID" 2>/dev/null || true
    MPID=
}

stop_master() {
    kill -TERM "$MPID"
    wait "$MPID" || fail "silo-master exited with $? after SIGTERM"
    MPID=
}

# start_sim NAME [sim-agent options...]; $SIM_MASTERS (a URL list) instead of the one master.
start_sim() {
    local name=$1; shift
    "$SIM_BIN" --master "${SIM_MASTERS:-http://127.0.0.1:$PORT}" --token-file "$WORK/token" --hostname "$name" \
        --port-file "$WORK/$name.port" "$@" >>"$WORK/$name.log" 2>&1 &
    SIM_PID[$name]=$!
    PIDS+=("$!")
    local i
    for i in $(seq 100); do
        [ -s "$WORK/$name.port" ] && break
        sleep 0.05
    done
    SIM_PORT[$name]=$(cat "$WORK/$name.port")
}

kill_sim() {
    kill -9 "${SIM_PID[$1]}" 2>/dev/null || true
    wait "${SIM_PID[$1]}" 2>/dev/null || true
}

# HTTP to the master: api METHOD PATH [JSON]; prints the body, HTTP status on the last line.
api() {
    local method=$1 path=$2 body=${3:-}
    if [ -n "$body" ]; then
        curl -sS -X "$method" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            -d "$body" -w '\n%{http_code}' "http://127.0.0.1:$PORT$path"
    else
        curl -sS -X "$method" -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}' "http://127.0.0.1:$PORT$path"
    fi
}
# Body only / status only.
api_body() { api "$@" | sed '$d'; }
api_status() { api "$@" | tail -n1; }

sim() {
    local name=$1 method=$2 path=$3 body=${4:-}
    curl -sS -X "$method" -H "Authorization: Bearer $TOKEN" ${body:+-d "$body"} \
        "http://127.0.0.1:${SIM_PORT[$name]}$path"
}

task_field() { api_body GET "/api/v1/tasks/$1" | jq -r "$2"; }
task_state() { task_field "$1" .state; }

submit() {
    local out status
    out=$(api POST /api/v1/tasks "$1")
    status=$(tail -n1 <<<"$out")
    [ "$status" = 201 ] || fail "submit $1: HTTP $status: $(sed '$d' <<<"$out")"
    sed '$d' <<<"$out" | jq -r .id
}

state_is() { [ "$(task_state "$1")" = "$2" ]; }
agent_state_is() { [ "$(api_body GET "/api/v1/agents/$1" | jq -r .state)" = "$2" ]; }
sim_agent_id() { sim "$1" GET /sim/state | jq -r '.agent_id // empty'; }
sim_registered() { [ -n "$(sim_agent_id "$1")" ]; }

# sim_is NAME JQ VALUE / api_is PATH JQ VALUE: for wait_until.
sim_is() { [ "$(sim "$1" GET /sim/state | jq -r "$2")" = "$3" ]; }
api_is() { [ "$(api_body GET "$1" | jq -r "$2")" = "$3" ]; }
