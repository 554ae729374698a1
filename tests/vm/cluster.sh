#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A Silo cluster in one VM guest, for suites that need several machines (network, storage
# services, HA): one silo-master in the guest's root network namespace and N silo-agents, each
# as if on a machine of its own: its own network namespace joined by a veth to a shared
# "fabric" bridge with its own address, its own cgroup root, state directory and null_blk disk,
# all registered with the one master. Source it after suites/lib.sh and suites/agent-lib.sh
# (it uses their fail/pass, `api` and $VM_HTTP). tests/vm/README.md documents it.
#
#   cluster_start N [AGENT-OPTION...]  bridge, master, agents 1..N; returns when all N are
#                                      registered and ACTIVE. In agent options @I@ is replaced
#                                      by the agent's number and @DISK@ by its disk (nullb<I-1>)
#   cluster_grow N [AGENT-OPTION...]   start agents up to N (the options of cluster_start first)
#   cluster_agent_start I [OPTION...]  (re)start agent I, wait for /health (not registration)
#   cluster_agent_kill9 I              kill -9 agent I (its tasks keep running)
#   cluster_master_start / cluster_master_kill9
#   cluster_wait_registered I [SEC]    until agent I is registered; sets CLUSTER_AGENT_ID[I]
#   cluster_in I COMMAND...            COMMAND in agent I's network namespace (nsenter --net)
#   cluster_json_str TEXT              TEXT quoted as a JSON string (a script in a spec)
#   cluster_api METHOD PATH [BODY]     `api` against the master (API_STATUS, API_BODY)
#   cluster_agent_api I METHOD PATH [BODY]   `api` against agent I
#   cluster_submit SPEC                POST to the master, fails unless 201; CLUSTER_TASK = its id
#   cluster_wait_state ID STATE [SEC] [I]    until the task is STATE at the master (at agent I
#                                      when given); fails on another terminal state. STATE
#                                      "ended": any terminal one (then in CLUSTER_STATE)
#   cluster_state ID [I]               CLUSTER_STATE = the task's state (master, or agent I)
#   cluster_log I ID [STREAM]          the task's stdout (or STREAM) from agent I, in API_BODY
#   cluster_teardown RC                for the EXIT trap: cluster_stop, the logs' tails on RC != 0,
#                                      then exit RC
#   cluster_stop                       stop agents (their tasks killed) and master; remove every
#                                      namespace, link, cgroup, mount and file it made
#
# Addresses: the master is $CLUSTER_NET.1 (the bridge's own address, port 5050), agent I is
# $CLUSTER_NET.$((10 + I)) (port 5051) with a default route via the master's side, so that
# traffic between agents crosses the bridge as between machines. The agents share the guest's
# mount namespace (nsenter --net only): cgroupfs, bpffs and the state directories are where a
# real machine has them. /sys/class/net, though, shows the root namespace's interfaces (sysfs
# keeps the namespace it was mounted in), so code under test reads interfaces over netlink.
#
# Mutual TLS is on by default (CLUSTER_TLS=0 before cluster_start turns it off): cluster_start
# makes a CA and certificates with `siloctl tls` in $CLUSTER_DIR/tls (the master's, with the
# bridge address; "fabricI" for agent I, with its address, which is also its agent id; an
# operator's, "operator"), every daemon runs with --tls-ca/--tls-cert/--tls-key, URLs are
# https://, and $VM_HTTP becomes silo-vm-https with the operator's certificate in
# SILO_VM_CACERT/SILO_VM_CERT/SILO_VM_KEY (and SILO_CA/SILO_CERT/SILO_KEY for siloctl, a
# .curlrc in $CURL_HOME for curl), so `api`, cluster_api and the suites' own calls are the
# operator's.
#   cluster_tls_cert ARGS...           one more certificate in $CLUSTER_TLS_DIR (siloctl tls cert)
#
# Disks with filesystems: CLUSTER_DISK_FS=ext4 before cluster_start makes an ext4 with project
# quotas on each agent's nullb<I-1> (give the suite memory_backed=1 so that it keeps its data),
# mounts it at /srv/nullb<I-1> with prjquota (CLUSTER_DISK_MNT[I]) and offers the agent its
# disk with that mount point, where its persistent volumes live; cluster_stop unmounts them,
# then runs the command CLUSTER_AFTER_STOP names, if any.

CLUSTER_DIR="${CLUSTER_DIR:-/tmp/silo-fabric}"
CLUSTER_BRIDGE="${CLUSTER_BRIDGE:-fabric0}"
CLUSTER_NET="${CLUSTER_NET:-10.99.0}"
CLUSTER_MADDR="$CLUSTER_NET.1"
CLUSTER_TLS="${CLUSTER_TLS:-1}"
CLUSTER_SCHEME=https
[ "$CLUSTER_TLS" = 1 ] || CLUSTER_SCHEME=http
CLUSTER_MURL="$CLUSTER_SCHEME://$CLUSTER_MADDR:5050"
CLUSTER_TLS_DIR="$CLUSTER_DIR/tls"
CLUSTER_SILOCTL="${SILO_BUILD_DIR:-}/cli/siloctl"
CLUSTER_MASTER_BIN="${SILO_BUILD_DIR:-}/master/silo-master"
CLUSTER_AGENT_BIN="${SILO_BUILD_DIR:-}/agent/silo-agent"
# Short heartbeats and retries: a lost agent or a failed launch shows within seconds.
CLUSTER_MASTER_ARGS=(--heartbeat-interval-ms 500 --agent-timeout-ms 6000 --retry-base-ms 300)
CLUSTER_N=0
CLUSTER_MPID=""
CLUSTER_AGENT_OPTS=()
CLUSTER_AGENT_PID=()
CLUSTER_AGENT_ADDR=()
CLUSTER_AGENT_URL=()
CLUSTER_AGENT_ID=()
CLUSTER_TASK=""
CLUSTER_STATE=""
CLUSTER_DISK_FS="${CLUSTER_DISK_FS:-}"
CLUSTER_DISK_MNT=()
CLUSTER_DISK_OFFER_MNT="${CLUSTER_DISK_OFFER_MNT-1}"

cluster_netns() { echo "silo-fabric-$1"; }
# cluster_json_str TEXT: TEXT as a JSON string, to build a spec around a script without a jq.
cluster_json_str() {
    local s="${1//\\/\\\\}"
    s="${s//\"/\\\"}"
    s="${s//$'\n'/\\n}"
    s="${s//$'\t'/\\t}"
    printf '"%s"' "${s//$'\r'/\\r}"
}
cluster_cgroup() { echo "/sys/fs/cgroup/silo-fabric-$1"; }

cluster_in() {
    local i="$1"
    shift
    nsenter --net="/run/netns/silo-fabric-$i" "$@"
}

cluster_api() { AGENT_URL="$CLUSTER_MURL" api "$@"; }

cluster_agent_api() {
    local i="$1"
    shift
    AGENT_URL="${CLUSTER_AGENT_URL[$i]}" api "$@"
}

# cluster_http_wait URL PID WHAT: /health answers (the daemon listens), or fail.
cluster_http_wait() {
    local _
    for _ in $(seq 300); do
        "$VM_HTTP" -fsS -m 2 -o /dev/null "$1/health" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || fail "$3 exited at startup (log: $4)"
        sleep 0.1
    done
    fail "$3 did not answer $1/health within 30 s"
}

# cluster_tls_args NAME: a daemon's TLS options for its certificate NAME (none without TLS).
cluster_tls_args() {
    CLUSTER_TLS_ARGS=()
    [ "$CLUSTER_TLS" = 1 ] || return 0
    CLUSTER_TLS_ARGS=(--tls-ca "$CLUSTER_TLS_DIR/ca.pem" --tls-cert "$CLUSTER_TLS_DIR/$1.pem"
                      --tls-key "$CLUSTER_TLS_DIR/$1-key.pem")
}

# cluster_tls_cert ARGS...: `siloctl tls cert ARGS` into the cluster's CA directory. Each
# siloctl start costs ~1.7 s under TCG (libcurl through libsilo): callers start several in
# the background and wait for them.
cluster_tls_cert() {
    "$CLUSTER_SILOCTL" tls cert --dir "$CLUSTER_TLS_DIR" --days 2 "$@" >/dev/null ||
        fail "siloctl tls cert $*"
}

# The CA, the master's and the operator's certificates; the operator's is the suites'.
cluster_tls_init() {
    local pids
    [ "$CLUSTER_TLS" = 1 ] || return 0
    [ -x "$CLUSTER_SILOCTL" ] || fail "$CLUSTER_SILOCTL not built (SILO_BUILD_DIR='${SILO_BUILD_DIR:-}')"
    [ -x "${SILO_BUILD_DIR:-}/tests/vm/helpers/silo-vm-https" ] ||
        fail "silo-vm-https not built (GnuTLS development files missing?)"
    "$CLUSTER_SILOCTL" tls init --dir "$CLUSTER_TLS_DIR" --days 2 >/dev/null || fail "siloctl tls init"
    # (wait by pid: a bare wait would wait for the daemons too)
    cluster_tls_cert --master master --ip "$CLUSTER_MADDR" &
    pids=("$!")
    cluster_tls_cert --client operator --operator &
    wait "${pids[0]}" "$!"
    [ -s "$CLUSTER_TLS_DIR/master.pem" ] && [ -s "$CLUSTER_TLS_DIR/operator.pem" ] ||
        fail "the master's or the operator's certificate is missing in $CLUSTER_TLS_DIR"
    export SILO_VM_CACERT="$CLUSTER_TLS_DIR/ca.pem" SILO_VM_CERT="$CLUSTER_TLS_DIR/operator.pem"
    export SILO_VM_KEY="$CLUSTER_TLS_DIR/operator-key.pem"
    export SILO_CA="$SILO_VM_CACERT" SILO_CERT="$SILO_VM_CERT" SILO_KEY="$SILO_VM_KEY"
    # And for the suites' own curl calls (curl reads $CURL_HOME/.curlrc).
    printf 'cacert = "%s"\ncert = "%s"\nkey = "%s"\n' "$SILO_VM_CACERT" "$SILO_VM_CERT" "$SILO_VM_KEY" \
        >"$CLUSTER_TLS_DIR/.curlrc"
    export CURL_HOME="$CLUSTER_TLS_DIR"
    VM_HTTP="$SILO_BUILD_DIR/tests/vm/helpers/silo-vm-https"
}

cluster_master_start() {
    [ -x "$CLUSTER_MASTER_BIN" ] || fail "$CLUSTER_MASTER_BIN not built (SILO_BUILD_DIR='${SILO_BUILD_DIR:-}')"
    cluster_tls_args master
    "$CLUSTER_MASTER_BIN" --listen "$CLUSTER_MADDR:5050" --state-dir "$CLUSTER_DIR/master" \
        --token-file "$CLUSTER_DIR/token" "${CLUSTER_TLS_ARGS[@]}" "${CLUSTER_MASTER_ARGS[@]}" \
        >>"$CLUSTER_DIR/master.log" 2>&1 &
    CLUSTER_MPID=$!
    cluster_http_wait "$CLUSTER_MURL" "$CLUSTER_MPID" silo-master "$CLUSTER_DIR/master.log"
}

cluster_master_kill9() {
    [ -n "$CLUSTER_MPID" ] || return 0
    kill -9 "$CLUSTER_MPID" 2>/dev/null || true
    wait "$CLUSTER_MPID" 2>/dev/null || true
    CLUSTER_MPID=""
}

# Agent I's namespace, its veth on the bridge, its addresses: one `ip` for the root side and
# one in the namespace (each process start costs 0.1 s+ under TCG).
cluster_fabric_add() {
    local i="$1" ns addr
    ns="$(cluster_netns "$i")"
    addr="$CLUSTER_NET.$((10 + i))"
    ip -b - <<EOF || fail "fabric for agent $i: namespace $ns or veth fab$i"
netns add $ns
link add fab$i type veth peer name eth0 netns $ns
link set fab$i master $CLUSTER_BRIDGE up
EOF
    ip -n "$ns" -b - <<EOF || fail "fabric for agent $i: addresses in $ns"
link set lo up
link set eth0 up
addr add $addr/24 dev eth0
route add default via $CLUSTER_MADDR
EOF
    CLUSTER_AGENT_ADDR[$i]="$addr"
    CLUSTER_AGENT_URL[$i]="$CLUSTER_SCHEME://$addr:5051"
}

# cluster_agent_spawn I [OPTION...]: start agent I (the options of cluster_start, then these)
# without waiting for it.
cluster_agent_spawn() {
    local i="$1" o args=()
    shift
    [ -x "$CLUSTER_AGENT_BIN" ] || fail "$CLUSTER_AGENT_BIN not built (SILO_BUILD_DIR='${SILO_BUILD_DIR:-}')"
    [ -b "/dev/nullb$((i - 1))" ] ||
        fail "agent $i needs /dev/nullb$((i - 1)): give the suite --null-blk 'nr_devices=N gb=1' (tests/vm/meson.build)"
    for o in "${CLUSTER_AGENT_OPTS[@]}" "$@"; do
        o="${o//@I@/$i}"
        args+=("${o//@DISK@/nullb$((i - 1))}")
    done
    mkdir -p "$CLUSTER_DIR/agent$i"
    cluster_disk_fs "$i"
    cluster_tls_args "fabric$i"
    # nsenter execs the agent itself: $! is the agent's pid.
    nsenter --net="/run/netns/$(cluster_netns "$i")" "$CLUSTER_AGENT_BIN" \
        --listen "${CLUSTER_AGENT_ADDR[$i]}:5051" --advertise "${CLUSTER_AGENT_ADDR[$i]}:5051" \
        --hostname "fabric$i" --state-dir "$CLUSTER_DIR/agent$i" --token-file "$CLUSTER_DIR/token" \
        --master "$CLUSTER_MURL" --cgroup-root "$(cluster_cgroup "$i")" \
        --disk "nullb$((i - 1))${CLUSTER_DISK_OFFER_MNT:+${CLUSTER_DISK_MNT[$i]:+:${CLUSTER_DISK_MNT[$i]}}}" \
        "${CLUSTER_TLS_ARGS[@]}" "${args[@]}" >>"$CLUSTER_DIR/agent$i.log" 2>&1 &
    CLUSTER_AGENT_PID[$i]=$!
}

# cluster_disk_fs I: with CLUSTER_DISK_FS, agent I's disk gets its filesystem once (a restarted
# agent finds it mounted, with its volumes).
cluster_disk_fs() {
    local i="$1" dev="/dev/nullb$(($1 - 1))" mnt="/srv/nullb$(($1 - 1))"
    [ -n "$CLUSTER_DISK_FS" ] && [ -z "${CLUSTER_DISK_MNT[$i]:-}" ] || return 0
    [ "$CLUSTER_DISK_FS" = ext4 ] || fail "CLUSTER_DISK_FS: '$CLUSTER_DISK_FS' is not a filesystem cluster.sh makes (ext4)"
    # Inode tables and journal written now: ext4lazyinit zeroing them in the background would be
    # a writer on the disk that no task accounts for.
    mkfs.ext4 -q -F -O quota,project -E lazy_itable_init=0,lazy_journal_init=0 "$dev" ||
        fail "mkfs.ext4 -O quota,project $dev"
    mkdir -p "$mnt"
    mount -o prjquota "$dev" "$mnt" || fail "mount -o prjquota $dev $mnt"
    CLUSTER_DISK_MNT[$i]="$mnt"
}

cluster_agent_wait() {
    cluster_http_wait "${CLUSTER_AGENT_URL[$1]}" "${CLUSTER_AGENT_PID[$1]}" "silo-agent $1" \
        "$CLUSTER_DIR/agent$1.log"
}

cluster_agent_start() {
    cluster_agent_spawn "$@"
    cluster_agent_wait "$1"
}

cluster_agent_kill9() {
    local pid="${CLUSTER_AGENT_PID[$1]:-}"
    [ -n "$pid" ] || return 0
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    CLUSTER_AGENT_PID[$1]=""
}

# The agent's link state from its own status (no jq: a start costs 0.7 s under TCG; the link
# object is the only one with "state" and "agent_id" in GET /api/v1/status).
cluster_wait_registered() {
    local i="$1" secs="${2:-30}" re='"agent_id": *"([^"]+)"' _
    for _ in $(seq $((secs * 10))); do
        cluster_agent_api "$i" GET /api/v1/status
        if [[ "$API_BODY" == *'"state":"registered"'* ]] && [[ "$API_BODY" =~ $re ]]; then
            CLUSTER_AGENT_ID[$i]="${BASH_REMATCH[1]}"
            return 0
        fi
        sleep 0.1
    done
    fail "agent $i not registered with $CLUSTER_MURL after ${secs}s: $API_BODY"
}

cluster_grow() {
    local n="$1" first=$((CLUSTER_N + 1)) i pids=()
    shift
    CLUSTER_AGENT_OPTS+=("$@")
    # All start at once: under TCG an agent's start (eBPF loading, its first registration)
    # takes seconds, mostly waiting. CLUSTER_N counts each agent as soon as it has a
    # namespace, so that cluster_stop removes it whatever fails next.
    for ((i = first; i <= n; i++)); do
        CLUSTER_N="$i"
        cluster_fabric_add "$i"
        # The agent's id is its certificate's CN.
        if [ "$CLUSTER_TLS" = 1 ]; then
            cluster_tls_cert --agent "fabric$i" --ip "${CLUSTER_AGENT_ADDR[$i]}" &
            pids+=("$!")
        fi
    done
    [ "${#pids[@]}" = 0 ] || wait "${pids[@]}"
    for ((i = first; i <= n; i++)); do
        [ "$CLUSTER_TLS" != 1 ] || [ -s "$CLUSTER_TLS_DIR/fabric$i.pem" ] ||
            fail "no certificate for agent $i in $CLUSTER_TLS_DIR"
        cluster_agent_spawn "$i"
    done
    for ((i = first; i <= n; i++)); do cluster_agent_wait "$i"; done
    for ((i = first; i <= n; i++)); do cluster_wait_registered "$i"; done
}

cluster_start() {
    local n="$1"
    shift
    command -v nsenter >/dev/null || fail "nsenter (util-linux) missing"
    [ "$CLUSTER_N" = 0 ] || fail "cluster_start: a cluster of $CLUSTER_N agents is running"
    rm -rf "$CLUSTER_DIR"
    mkdir -p "$CLUSTER_DIR"
    ip link set lo up
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$CLUSTER_DIR/token"
    chmod 600 "$CLUSTER_DIR/token"
    TOKEN="$(cat "$CLUSTER_DIR/token")"
    CLUSTER_AGENT_OPTS=()
    # The bridge is the fabric's switch; its own address is the master's.
    ip -b - <<EOF || fail "fabric bridge $CLUSTER_BRIDGE"
link add $CLUSTER_BRIDGE type bridge
addr add $CLUSTER_MADDR/24 dev $CLUSTER_BRIDGE
link set $CLUSTER_BRIDGE up
EOF
    cluster_tls_init
    cluster_master_start
    cluster_grow "$n" "$@"
}

# cluster_state ID [I]: the task's state without jq (a start costs 0.7 s under TCG). The API
# writes keys sorted (common/http-json.c): the task's own "state" is the last one in the
# object, after "history" (master) and "network"/"spec" (agent), before "timestamps" and
# "updated_ms", which hold none.
cluster_state() {
    local re='.*"state":"([A-Z_]+)"'
    if [ -n "${2:-}" ]; then cluster_agent_api "$2" GET "/api/v1/tasks/$1"; else cluster_api GET "/api/v1/tasks/$1"; fi
    CLUSTER_STATE=""
    [ "$API_STATUS" = 200 ] || return 0
    [[ "$API_BODY" =~ $re ]] && CLUSTER_STATE="${BASH_REMATCH[1]}"
    return 0
}

# cluster_wait_state ID STATE [SEC] [I]: STATE "ended" is any terminal state.
cluster_wait_state() {
    local id="$1" want="$2" secs="${3:-30}" at="${4:-}" _
    for _ in $(seq $((secs * 5))); do
        cluster_state "$id" "$at"
        [ "$CLUSTER_STATE" = "$want" ] && return 0
        case "$CLUSTER_STATE" in
            FINISHED | FAILED | KILLED | LOST)
                [ "$want" = ended ] && return 0
                # (With ASSERT_KEEP_GOING fail returns: the suite goes on after this one.)
                fail "task $id ended $CLUSTER_STATE, want $want${at:+ (agent $at)}: $API_BODY"
                return 0 ;;
        esac
        sleep 0.2
    done
    fail "task $id still ${CLUSTER_STATE:-unknown} after ${secs}s, want $want${at:+ (agent $at)}: $API_BODY"
}

cluster_submit() {
    # Keys are sorted: "agent_id" and "history" come first but neither is "id".
    local re='"id":"([^"]+)"'
    cluster_api POST /api/v1/tasks "$1"
    [ "$API_STATUS" = 201 ] || fail "submit $1: HTTP $API_STATUS: $API_BODY"
    [[ "$API_BODY" =~ $re ]] || fail "submit: no id in the answer: $API_BODY"
    CLUSTER_TASK="${BASH_REMATCH[1]}"
}

cluster_log() {
    cluster_agent_api "$1" GET "/api/v1/tasks/$2/logs?stream=${3:-stdout}"
    [ "$API_STATUS" = 200 ] || fail "logs of $2 on agent $1: HTTP $API_STATUS: $API_BODY"
}

cluster_stop() {
    local i pid cg m batch
    for ((i = 1; i <= CLUSTER_N; i++)); do
        pid="${CLUSTER_AGENT_PID[$i]:-}"
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    done
    for ((i = 1; i <= CLUSTER_N; i++)); do
        pid="${CLUSTER_AGENT_PID[$i]:-}"
        [ -n "$pid" ] && wait "$pid" 2>/dev/null
        CLUSTER_AGENT_PID[$i]=""
    done
    if [ -n "$CLUSTER_MPID" ]; then
        kill -TERM "$CLUSTER_MPID" 2>/dev/null
        wait "$CLUSTER_MPID" 2>/dev/null
        CLUSTER_MPID=""
    fi
    # The agents leave their tasks running (as on a restart): kill every process of their
    # cgroup trees at once, then remove the groups deepest first.
    for ((i = 1; i <= CLUSTER_N; i++)); do
        cg="$(cluster_cgroup "$i")"
        [ -d "$cg" ] || continue
        echo 1 >"$cg/cgroup.kill" 2>/dev/null
        for _ in $(seq 50); do
            [ -z "$(find "$cg" -name cgroup.procs -size +0 -print -quit 2>/dev/null)" ] && break
            sleep 0.1
        done
        find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
        [ -d "$cg" ] && echo "cluster_stop: $cg is left (busy)" >&2
    done
    # Task network namespaces are bind mounts under the agents' state directories.
    # (No <(...): the plain guest has no /dev/fd.)
    for m in $(awk -v d="$CLUSTER_DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null
    done
    # The veths by name: a namespace no longer named still lives (and keeps its end of the
    # pair) until the kernel's asynchronous cleanup has released it. One `ip`, -force: go on
    # past what is already gone.
    batch=""
    for ((i = 1; i <= CLUSTER_N; i++)); do
        batch+="link del fab$i"$'\n'"netns del $(cluster_netns "$i")"$'\n'
    done
    ip -force -b - <<<"${batch}link del $CLUSTER_BRIDGE" >/dev/null 2>&1
    rm -rf "$CLUSTER_DIR" "${API_HEADERS:-}"
    for m in "${CLUSTER_DISK_MNT[@]}"; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
    CLUSTER_DISK_MNT=()
    # What the suite made below the cluster (a disk through configfs, say) goes last.
    [ -z "${CLUSTER_AFTER_STOP:-}" ] || "$CLUSTER_AFTER_STOP"
    CLUSTER_N=0
    return 0
}

cluster_teardown() {
    local rc="$1" i
    set +e
    if [ "$rc" -ne 0 ] && [ -d "$CLUSTER_DIR" ]; then
        echo "---- master log ----"
        tail -n 30 "$CLUSTER_DIR/master.log" 2>/dev/null
        for ((i = 1; i <= CLUSTER_N; i++)); do
            echo "---- agent $i log ----"
            tail -n 40 "$CLUSTER_DIR/agent$i.log" 2>/dev/null
        done
    fi
    cluster_stop
    exit "$rc"
}
