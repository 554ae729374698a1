#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A throwaway etcd cluster for the tests (Debian's etcd-server 3.4): N members on free loopback
# ports, data in a temp dir (on /dev/shm when there is one: etcd fsyncs every commit, and the
# tests measure Silo, not the disk). Source it from a suite (bash, after tests/lib/assert.sh):
#
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib/etcd.sh"
#   etcd_available || skip_suite "etcd is not installed (Debian: etcd-server)"
#   etcd_start_cluster 3          # ETCD_ENDPOINTS="http://127.0.0.1:P0,http://127.0.0.1:P1,..."
#   etcd_member_kill 1            # kill -9 member 1 (members are numbered 0..N-1)
#   etcd_member_stop 1            # SIGTERM, waited for
#   etcd_member_start 1           # start it again on its ports and data (rejoins the cluster)
#   etcd_wait_healthy [SECONDS]   # every running member answers /health true (default 20 s)
#   etcd_leader                   # prints the number of the member that is raft leader
#   etcd_ctl get --prefix /silo/  # etcdctl (API v3) against the running members
#   etcd_cleanup                  # kill every member by pid, remove the temp dir
#
# etcd_start_cluster chains etcd_cleanup into the caller's EXIT trap (keeping the caller's trap
# and its exit status), so a suite that fails half-way leaves no etcd behind; set the suite's own
# trap BEFORE starting the cluster. ETCD_PID[i], ETCD_CLIENT_URL[i], ETCD_PEER_PORT[i], ETCD_DIR
# and ETCD_START_MS (start-to-healthy of the last etcd_start_cluster) are there to read.
# ETCD_KEEP=1 keeps the temp dir (logs: $ETCD_DIR/mN.log).
# ETCD_TLS_DIR=DIR (set before etcd_start_cluster): the members' client URLs are https:// with
# mutual TLS (--client-cert-auth): DIR holds ca.pem, etcd.pem/etcd-key.pem (the members', naming
# 127.0.0.1) and etcd-client.pem/etcd-client-key.pem (the helpers' own client certificate), as
# `siloctl tls init; tls cert --master etcd --ip 127.0.0.1; tls cert --master etcd-client` make them.

ETCD_BIN="${ETCD_BIN:-$(command -v etcd || true)}"
ETCDCTL_BIN="${ETCDCTL_BIN:-$(command -v etcdctl || true)}"
ETCD_DIR=
ETCD_N=0
ETCD_ENDPOINTS=
ETCD_START_MS=
declare -a ETCD_PID=() ETCD_CLIENT_URL=() ETCD_PEER_PORT=() ETCD_CLIENT_PORT=()
ETCD_INITIAL_CLUSTER=
ETCD_TLS_DIR="${ETCD_TLS_DIR:-}"

# curl's (and etcdctl's) TLS options, one a line, when ETCD_TLS_DIR is set.
etcd__curl_tls() {
    [ -n "$ETCD_TLS_DIR" ] || return 0
    printf '%s\n' --cacert "$ETCD_TLS_DIR/ca.pem" --cert "$ETCD_TLS_DIR/etcd-client.pem" \
        --key "$ETCD_TLS_DIR/etcd-client-key.pem"
}

etcd_available() {
    [ -n "$ETCD_BIN" ] && [ -x "$ETCD_BIN" ] && [ -n "$ETCDCTL_BIN" ] && [ -x "$ETCDCTL_BIN" ]
}

etcd__now_ms() { date +%s%3N; }

# N distinct free loopback ports: all bound at once by the kernel's port 0 so they differ,
# then released for etcd (the window is milliseconds; a collision fails the start loudly).
etcd_free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# Add etcd_cleanup in front of the caller's EXIT trap, once.
etcd__chain_trap() {
    local cur=
    if [ -n "$(trap -p EXIT)" ]; then
        eval "set -- $(trap -p EXIT)"
        cur=$3
    fi
    case "$cur" in *etcd_cleanup*) return 0 ;; esac
    # errexit off first: etcd_cleanup returns the exit status it was given, so that the caller's
    # command sees it in $? (a cleanup reading $? to decide whether to print logs) instead of
    # errexit ending the trap there.
    # shellcheck disable=SC2064 # the caller's command is meant to be expanded now
    trap "etcd__trap_rc=\$?; set +e; etcd_cleanup \$etcd__trap_rc; ${cur:-:}" EXIT
}

etcd__run_member() {
    local i=$1 state=$2
    local -a tls=()
    [ -z "$ETCD_TLS_DIR" ] || tls=(--cert-file "$ETCD_TLS_DIR/etcd.pem" --key-file "$ETCD_TLS_DIR/etcd-key.pem"
        --client-cert-auth --trusted-ca-file "$ETCD_TLS_DIR/ca.pem")
    "$ETCD_BIN" "${tls[@]}" --name "m$i" --data-dir "$ETCD_DIR/m$i.data" \
        --listen-client-urls "${ETCD_CLIENT_URL[$i]}" --advertise-client-urls "${ETCD_CLIENT_URL[$i]}" \
        --listen-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT[$i]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT[$i]}" \
        --initial-cluster "$ETCD_INITIAL_CLUSTER" --initial-cluster-state "$state" \
        --initial-cluster-token "silo-test-$$" \
        --heartbeat-interval 50 --election-timeout 500 --snapshot-count 10000 \
        --logger zap --log-outputs stderr \
        >>"$ETCD_DIR/m$i.log" 2>&1 &
    ETCD_PID[$i]=$!
}

# etcd_start_cluster N: start N members and wait until all are healthy with a leader.
etcd_start_cluster() {
    local n=$1 i ports t0
    etcd_available || { echo "etcd.sh: etcd/etcdctl not found" >&2; return 1; }
    [ -n "$ETCD_DIR" ] && { echo "etcd.sh: a cluster is already running in $ETCD_DIR" >&2; return 1; }
    etcd__chain_trap
    local base=/tmp
    [ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
    ETCD_DIR=$(mktemp -d "$base/silo-etcd.XXXXXX")
    ETCD_N=$n
    # shellcheck disable=SC2207
    ports=($(etcd_free_ports $((2 * n))))
    ETCD_INITIAL_CLUSTER=
    ETCD_ENDPOINTS=
    for ((i = 0; i < n; i++)); do
        ETCD_CLIENT_PORT[$i]=${ports[$((2 * i))]}
        ETCD_CLIENT_URL[$i]="http${ETCD_TLS_DIR:+s}://127.0.0.1:${ports[$((2 * i))]}"
        ETCD_PEER_PORT[$i]=${ports[$((2 * i + 1))]}
        ETCD_INITIAL_CLUSTER+="${ETCD_INITIAL_CLUSTER:+,}m$i=http://127.0.0.1:${ETCD_PEER_PORT[$i]}"
        ETCD_ENDPOINTS+="${ETCD_ENDPOINTS:+,}${ETCD_CLIENT_URL[$i]}"
    done
    t0=$(etcd__now_ms)
    for ((i = 0; i < n; i++)); do
        etcd__run_member "$i" new
    done
    etcd_wait_healthy 30 || return 1
    ETCD_START_MS=$(($(etcd__now_ms) - t0))
}

etcd__member_healthy() {
    # shellcheck disable=SC2046 # one option or path a line, none with spaces
    curl -sf --max-time 1 $(etcd__curl_tls) "${ETCD_CLIENT_URL[$1]}/health" 2>/dev/null | grep -q '"health":"true"'
}

# etcd_wait_healthy [SECONDS]: every running member reports healthy (which needs a raft leader
# and a quorum). Returns 1 after the timeout, naming the members that were not.
etcd_wait_healthy() {
    local timeout=${1:-20} i bad end
    end=$(($(etcd__now_ms) + timeout * 1000))
    while :; do
        bad=
        for ((i = 0; i < ETCD_N; i++)); do
            [ -n "${ETCD_PID[$i]}" ] || continue
            if ! kill -0 "${ETCD_PID[$i]}" 2>/dev/null; then
                echo "etcd.sh: member m$i (pid ${ETCD_PID[$i]}) exited; log $ETCD_DIR/m$i.log:" >&2
                tail -n 20 "$ETCD_DIR/m$i.log" >&2
                return 1
            fi
            etcd__member_healthy "$i" || bad+=" m$i"
        done
        [ -z "$bad" ] && return 0
        if [ "$(etcd__now_ms)" -ge "$end" ]; then
            echo "etcd.sh: not healthy after ${timeout}s:$bad" >&2
            return 1
        fi
        sleep 0.05
    done
}

etcd_member_kill() {
    local i=$1
    [ -n "${ETCD_PID[$i]}" ] || return 0
    kill -9 "${ETCD_PID[$i]}" 2>/dev/null || true
    wait "${ETCD_PID[$i]}" 2>/dev/null || true
    ETCD_PID[$i]=
}

etcd_member_stop() {
    local i=$1
    [ -n "${ETCD_PID[$i]}" ] || return 0
    kill -TERM "${ETCD_PID[$i]}" 2>/dev/null || true
    wait "${ETCD_PID[$i]}" 2>/dev/null || true
    ETCD_PID[$i]=
}

# Start a stopped member again on its ports and data dir; it rejoins its cluster. Does not wait:
# call etcd_wait_healthy.
etcd_member_start() {
    local i=$1
    [ -z "${ETCD_PID[$i]}" ] || { echo "etcd.sh: m$i is running (pid ${ETCD_PID[$i]})" >&2; return 1; }
    etcd__run_member "$i" existing
}

# The raft leader's member number (each running member's status through its JSON gateway:
# cheaper than an etcdctl per member), or nothing.
etcd_leader() {
    local i
    for ((i = 0; i < ETCD_N; i++)); do
        [ -n "${ETCD_PID[$i]}" ] || continue
        # shellcheck disable=SC2046
        if curl -sf --max-time 1 $(etcd__curl_tls) -X POST -d '{}' "${ETCD_CLIENT_URL[$i]}/v3/maintenance/status" 2>/dev/null |
            jq -e '.leader == .header.member_id' >/dev/null 2>&1; then
            echo "$i"
            return 0
        fi
    done
    return 1
}

# etcdctl (API v3) against the members that are running.
etcd_ctl() {
    local i eps=
    for ((i = 0; i < ETCD_N; i++)); do
        [ -n "${ETCD_PID[$i]}" ] && eps+="${eps:+,}${ETCD_CLIENT_URL[$i]}"
    done
    # shellcheck disable=SC2046
    ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints="$eps" --command-timeout=5s $(etcd__curl_tls) "$@"
}

# etcd_cleanup [STATUS]: STATUS (default $?) non-zero prints the members' last log lines; returns
# STATUS.
etcd_cleanup() {
    local rc=${1:-$?} i
    for ((i = 0; i < ETCD_N; i++)); do
        etcd_member_kill "$i"
    done
    if [ -n "$ETCD_DIR" ]; then
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
            for ((i = 0; i < ETCD_N; i++)); do
                echo "---- etcd m$i (last 5 lines) ----"
                tail -n 5 "$ETCD_DIR/m$i.log" 2>/dev/null || true
            done
        fi
        if [ -n "${ETCD_KEEP:-}" ]; then echo "kept $ETCD_DIR"; else rm -rf "$ETCD_DIR"; fi
    fi
    ETCD_DIR=
    ETCD_N=0
    return "$rc"
}
