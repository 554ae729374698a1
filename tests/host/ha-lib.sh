#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Shared part of the master HA host suites (tests/host/ha-*.sh): a 3-member etcd
# (tests/lib/etcd.sh), three silo-masters on it (--store etcd), each reaching etcd through its own
# tcp-proxy.py (so that one master can be cut off from etcd alone), and sim-agents that know the
# three masters. Sourced with "$1" = silo-master, "$2" = sim-agent; brings master-lib.sh's helpers
# (api, sim, wait_until, ...), which talk to the master in $PORT: ha_use_leader points them at the
# leader.
. "$(dirname "${BASH_SOURCE[0]}")/master-lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/etcd.sh"

HA_DIR=$(dirname "${BASH_SOURCE[0]}")
etcd_available || skip_suite "etcd is not installed (Debian: etcd-server etcd-client)"
MASTER_HELP=$("$MASTER_BIN" --help 2>&1 || true) # whole: see master-lib.sh
for opt in --store --lease-ttl-s --advertise; do
    grep -q -- "$opt" <<<"$MASTER_HELP" ||
        skip_suite "silo-master has no $opt option (master HA, issue 17, is not in this build)"
done

HA_TTL=${HA_TTL:-3} # the leader lease, s: short so that a failover fits the suite's time
declare -a M_PID=() M_PORT=() M_URL=() PROXY_PID=() PROXY_PORTS=()
MASTERS=

ha_cleanup() {
    local p
    for p in "${M_PID[@]}" "${PROXY_PID[@]}"; do
        [ -n "$p" ] || continue
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
# Masters and proxies are ours to kill, then master-lib's cleanup (sims, logs) with the exit
# status it expects; etcd_start_cluster later chains etcd's cleanup in front of this.
trap 'ha_rc=$?; set +e; ha_cleanup; (exit $ha_rc); cleanup' EXIT

# ha_start: the etcd cluster, three proxies, three masters (extra options to every master).
ha_start() {
    local i ports targets=()
    if [ -z "$ETCD_DIR" ]; then # tests/bench/master-ha.sh starts it earlier
        etcd_start_cluster 3 || fail "etcd did not start"
        pass "3-member etcd healthy in ${ETCD_START_MS} ms"
    fi
    for ((i = 0; i < ETCD_N; i++)); do targets+=("127.0.0.1:${ETCD_CLIENT_PORT[$i]}"); done
    # shellcheck disable=SC2207
    ports=($(etcd_free_ports 3))
    for i in 0 1 2; do
        M_PORT[$i]=${ports[$i]}
        M_URL[$i]="http://127.0.0.1:${ports[$i]}"
        MASTERS+="${MASTERS:+,}${M_URL[$i]}"
        python3 "$HA_DIR/tcp-proxy.py" --port-file "$WORK/proxy$i.ports" "${targets[@]}" \
            2>>"$WORK/proxy$i.log" &
        PROXY_PID[$i]=$!
    done
    for i in 0 1 2; do
        wait_until 10 "proxy $i listening" test -s "$WORK/proxy$i.ports"
        PROXY_PORTS[$i]=$(sed 's/\([0-9]*\)/http:\/\/127.0.0.1:\1/g; s/ /,/g' "$WORK/proxy$i.ports")
    done
    for i in 0 1 2; do ha_start_master "$i" "$@"; done
    ha_wait_leader 15 >/dev/null
}

# ha_start_master I [options]: (re)start master I on its port, through its proxy to etcd.
ha_start_master() {
    local i=$1; shift
    "$MASTER_BIN" --listen "127.0.0.1:${M_PORT[$i]}" --state-dir "$WORK/state$i" \
        --token-file "$WORK/token" --store etcd --etcd "${PROXY_PORTS[$i]}" \
        --lease-ttl-s "$HA_TTL" --name "m$i" --advertise "${M_URL[$i]}" --log-level debug \
        --heartbeat-interval-ms 200 --agent-timeout-ms 20000 "$@" >>"$WORK/master$i.log" 2>&1 &
    M_PID[$i]=$!
    wait_until 10 "master m$i answers /health" curl -sf "${M_URL[$i]}/health"
}

ha_kill9_master() {
    kill -9 "${M_PID[$1]}" 2>/dev/null || true
    wait "${M_PID[$1]}" 2>/dev/null || true
    M_PID[$1]=
}

ha_health() { curl -s --max-time 2 "${M_URL[$1]}/health"; }
ha_role() { ha_health "$1" | jq -r '.role // empty' 2>/dev/null; }

# The index of the one master that says it is leader (and all others say follower with the same
# leader URL), else nothing and status 1.
ha_leader() {
    local i role leader=
    for i in 0 1 2; do
        [ -n "${M_PID[$i]}" ] || continue
        role=$(ha_role "$i")
        if [ "$role" = leader ]; then
            [ -z "$leader" ] || return 1
            leader=$i
        fi
    done
    [ -n "$leader" ] || return 1
    echo "$leader"
}

# ha_wait_leader SECONDS [NOT]: wait for a leader (other than NOT); prints its index and points
# master-lib's helpers (PORT) at it, which in X=$(ha_wait_leader ...) stays in the subshell: set
# PORT=${M_PORT[$X]} there.
ha_wait_leader() {
    local timeout=$1 not=${2:-} end l
    end=$(($(date +%s%3N) + timeout * 1000))
    while :; do
        l=$(ha_leader || true)
        if [ -n "$l" ] && [ "$l" != "$not" ]; then
            PORT=${M_PORT[$l]}
            echo "$l"
            return 0
        fi
        [ "$(date +%s%3N)" -lt "$end" ] || fail "no leader${not:+ other than m$not} within ${timeout}s"
        sleep 0.05
    done
}

# ha_start_sim NAME [options]: a sim-agent that knows the three masters.
ha_start_sim() { SIM_MASTERS=$MASTERS start_sim "$@"; }

# The sims' view, pooled: tasks and launch requests per task over every sim given.
sims_state() {
    local n
    for n in "$@"; do sim "$n" GET /sim/state | jq -c --arg n "$n" '{sim: $n, s: .}'; done
}

ha_epoch() { ha_health "$1" | jq -r '.epoch // empty'; }
