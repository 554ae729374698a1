#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "network": task networking (issue 15) on a cluster in one guest, each agent in a
# network namespace of its own on a shared fabric bridge, as on machines of their own
# (tests/vm/cluster.sh). Agent I is 10.99.0.(10+I), its tasks' subnet 10.100.I.0/24.
#
#   none      a "none" task has only lo, no route, and cannot reach the master
#   host      a "host" task is in its agent's namespace: the agent's address, the master
#   bridge    one agent: a task reaches another by its address, and through the other's mapped
#             port at the agent's address (hairpin); the guest's root namespace and the agent's
#             own namespace reach it through the mapped port
#   ports     one agent: a second task asking for a taken fixed host port stays PENDING with a
#             reason naming the port; the agent refuses (400, naming the port) a port outside
#             its range and one a host process listens on
#   cross     three agents: a task on agent 1 reaches a task on agent 3 at agent 3's address
#             and mapped port
#   egress    a task limited to 20 Mbit/s sends to a receiver on agent 2 for 5 s: the
#             receiver's own count is within 10 % of the limit
#   recovery  kill -9 of agent 1 with bridge tasks running, one of them ending while it is
#             down: after the restart the running ones keep address, veth and mapped ports
#             (and answer on them), the ended one's are gone; killing the rest leaves no link,
#             address, route, qdisc, nftables rule or namespace file of a task in agent 1's
#             namespace
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/../cluster.sh"
vm_require_guest
for tool in jq busybox python3 nft tc; do
    command -v "$tool" >/dev/null || fail "$tool missing (scripts/install-deps.sh installs it)"
done

trap 'cluster_teardown $?' EXIT
T0=$(date +%s)
PORTS_MIN=20000
PORTS_MAX=20099
EGRESS=20000000

# Every bridge check needs the agent's task networking (--task-subnet and friends): say which
# part is missing rather than a confusing launch error.
[[ "$("$CLUSTER_AGENT_BIN" --help 2>&1)" == *--task-subnet* ]] ||
    fail "silo-agent has no --task-subnet: bridge networking (issue 15, part netlink) has not landed"

# spec NAME SCRIPT [MEMBERS]: a task spec running /bin/sh -c SCRIPT, MEMBERS (JSON object
# members, '"container": {...}') added.
spec() {
    echo "{\"name\": \"$1\", \"command\": [\"/bin/sh\", \"-c\", $(cluster_json_str "$2")]${3:+, $3}}"
}
# host_port: the first mapping's host port in API_BODY (a task's JSON; keys are sorted).
host_port() {
    local re='\{"container":[0-9]+,"host":([0-9]+)'
    HOST_PORT=0
    if [[ "$API_BODY" =~ $re ]]; then HOST_PORT="${BASH_REMATCH[1]}"; else fail "no port mapping in $API_BODY"; fi
}
# nc_get ADDR PORT: what a TCP server there says (busybox nc, 5 s), from the root namespace.
nc_get() { busybox nc -w 5 "$1" "$2" </dev/null 2>&1 || true; }
# Ports of a task in the agent's JSON, and its address and host veth.
net_of() {
    cluster_agent_api "$1" GET "/api/v1/tasks/$2"
    [ "$API_STATUS" = 200 ] || fail "task $2 at agent $1: HTTP $API_STATUS: $API_BODY"
    json_fields "$API_BODY" network.address network.interface 'network.ports | tojson' \
        'spec.container.ports | tojson'
}

echo "== a cluster of one agent"
cluster_start 1 --calibrate false --task-subnet '10.100.@I@.0/24' --task-ports "$PORTS_MIN-$PORTS_MAX"
pass "master at $CLUSTER_MADDR, agent 1 at ${CLUSTER_AGENT_ADDR[1]} ($(($(date +%s) - T0)) s)"
# What agent 1's namespace holds before any task: the fabric's eth0 and lo.
base_links="$(cluster_in 1 ip -j link | jq -c '[.[].ifname] | sort')"

echo "== none and host (both at once)"
# Each prints its interfaces and IPv4 routes as the kernel lists them, then asks the master.
probe="cat /proc/net/dev /proc/net/route; printf 'GET /health HTTP/1.0\r\n\r\n' | busybox nc -w 3 $CLUSTER_MADDR 5050 2>&1; echo nc=\$?"
cluster_submit "$(spec none "$probe" '"container": {"network": "none"}')"
NONE="$CLUSTER_TASK"
cluster_submit "$(spec host "$probe" '"container": {"network": "host"}')"
HOST="$CLUSTER_TASK"
# interfaces TEXT: the names /proc/net/dev lists, sorted, one line.
interfaces() {
    awk -F: '/^Iface/ { exit } NR > 2 && /:/ { gsub(/ /, "", $1); print $1 }' <<<"$1" | sort | tr '\n' ' '
}
cluster_wait_state "$NONE" FINISHED 30
cluster_log 1 "$NONE"
out="$API_BODY"
assert_eq "none: interfaces" "$(interfaces "$out")" "lo "
assert_eq "none: IPv4 routes" "$(grep -c -E $'^[a-z0-9@.-]+\t[0-9A-F]{8}\t' <<<"$out" || true)" 0
assert_match "none: the master" "$(grep '^nc' <<<"$out" | tr '\n' ' ')" 'Network is unreachable nc=1 $'
cluster_wait_state "$HOST" FINISHED 30
cluster_log 1 "$HOST"
out="$API_BODY"
assert_eq "host: the agent's interfaces" "$(interfaces "$out")" "eth0 lo "
assert_eq "host: the agent's default route via $CLUSTER_MADDR" \
    "$(grep -c -E $'^eth0\t00000000\t0100630A\t' <<<"$out" || true)" 1
# (Over TLS, the cluster's default, a plain request is answered in plain text that the port
# speaks HTTPS only: an answer from the master all the same.)
reach='"status":"ok"'
[ "$CLUSTER_TLS" != 1 ] || reach='speaks HTTPS only'
assert_eq "host: the master answers /health" "$(grep -o -E "$reach|nc=[0-9]+" <<<"$out" | tr '\n' ' ')" "$reach nc=0 "

echo "== bridge: a server on agent 1, reached by address, mapped port, from the host and the root namespace"
cluster_submit "$(spec srv-a 'exec busybox nc -ll -p 8080 -e /bin/echo hello-from-a' \
    '"container": {"network": "bridge", "ports": [{"container": 8080}]}')"
A="$CLUSTER_TASK"
cluster_wait_state "$A" RUNNING 30
net_of 1 "$A"
A_ADDR="${JSON_FIELDS[0]}" A_IF="${JSON_FIELDS[1]}" A_PORTS="${JSON_FIELDS[3]}"
assert_match "srv-a: an address of agent 1's task subnet" "$A_ADDR" '^10\.100\.1\.[0-9]+$'
API_BODY="$A_PORTS" host_port
A_HP="$HOST_PORT"
[ "$A_HP" -ge "$PORTS_MIN" ] && [ "$A_HP" -le "$PORTS_MAX" ] ||
    fail "srv-a: host port $A_HP not in the agent's range $PORTS_MIN-$PORTS_MAX ($A_PORTS)"
pass "srv-a: $A_ADDR on $A_IF, container 8080 at host port $A_HP"
assert_eq "srv-a: the agent's task JSON shows the chosen port in container.ports" \
    "$A_PORTS" "[{\"container\":8080,\"host\":$A_HP,\"proto\":\"tcp\"}]"
assert_eq "srv-a: and in network.ports" "${JSON_FIELDS[2]}" "$A_PORTS"
cluster_api GET "/api/v1/tasks/$A"
host_port
assert_eq "srv-a: the master's task JSON shows the same host port" "$HOST_PORT" "$A_HP"
# A client task on the same agent: by address, then hairpin through the agent's mapped port.
cluster_submit "$(spec cli-b "busybox nc -w 5 $A_ADDR 8080 </dev/null; busybox nc -w 5 ${CLUSTER_AGENT_ADDR[1]} $A_HP </dev/null" \
    '"container": {"network": "bridge"}')"
B="$CLUSTER_TASK"
assert_eq "root namespace -> agent 1 $CLUSTER_NET.11:$A_HP" "$(nc_get "${CLUSTER_AGENT_ADDR[1]}" "$A_HP")" hello-from-a
assert_eq "agent 1's own namespace -> its mapped port" \
    "$(cluster_in 1 busybox nc -w 5 "${CLUSTER_AGENT_ADDR[1]}" "$A_HP" </dev/null 2>&1 || true)" hello-from-a
cluster_wait_state "$B" FINISHED 30
cluster_log 1 "$B"
assert_eq "cli-b: by address, then through the mapped port" "$API_BODY" $'hello-from-a\nhello-from-a'

echo "== bridge: the task's /etc/hosts names its address (under its name), its resolv.conf the host's resolvers"
cluster_submit "$(spec etc-d 'busybox ip -o -4 addr show dev eth0; getent hosts etc-d; grep "^nameserver" /etc/resolv.conf' \
    '"container": {"network": "bridge"}')"
ETC="$CLUSTER_TASK"
cluster_wait_state "$ETC" FINISHED 30
cluster_log 1 "$ETC"
D_ADDR="$(sed -n 's|.* inet \([0-9.]*\)/.*|\1|p' <<<"$API_BODY")"
assert_match "etc-d: eth0 has an address of agent 1's task subnet" "$D_ADDR" '^10\.100\.1\.[0-9]+$'
assert_match "etc-d: its name resolves to that address through /etc/hosts" \
    "$(grep -E '^[0-9.]+ +etc-d' <<<"$API_BODY" | tr -s ' ')" "^${D_ADDR//./\\.} etc-d"
# The guest's resolvers, less any loopback stub (the task's own loopback is not the host's).
want_ns="$(grep '^nameserver' /etc/resolv.conf | grep -v -E '^nameserver +(127\.|::1)' || true)"
[ -n "$want_ns" ] || fail "the guest's /etc/resolv.conf names no resolver but loopback ones"
assert_eq "etc-d: resolv.conf names the host's resolvers" "$(grep '^nameserver' <<<"$API_BODY")" "$want_ns"

echo "== ports: a fixed host port taken on the only agent; the agent's own refusals"
# A process of agent 1's host listens on 20090: waited for, the "held" check below needs it.
cluster_in 1 busybox nc -l -p 20090 </dev/null >/dev/null 2>&1 &
HOLDER=$!
for _ in $(seq 50); do
    [ -n "$(cluster_in 1 ss -Hltn 'sport = :20090')" ] && break
    sleep 0.1
done
[ -n "$(cluster_in 1 ss -Hltn 'sport = :20090')" ] || fail "busybox nc does not listen on 20090 after 5 s"
FIXED='"container": {"network": "bridge", "ports": [{"container": 80, "host": 20080}]}'
cluster_submit "$(spec fixed-1 'exec sleep 600' "$FIXED")"
P1="$CLUSTER_TASK"
cluster_submit "$(spec fixed-2 'exec sleep 600' "$FIXED")"
P2="$CLUSTER_TASK"
cluster_wait_state "$P1" RUNNING 30
reason=""
for _ in $(seq 25); do
    cluster_api GET "/api/v1/tasks/$P2"
    [[ "$API_BODY" =~ \"pending_reason\":\"([^\"]*)\" ]] && reason="${BASH_REMATCH[1]}" && break
    sleep 0.2
done
cluster_state "$P2"
assert_eq "fixed-2 with fixed-1's host port" "$CLUSTER_STATE" PENDING
assert_match "fixed-2's pending reason names the port" "$reason" '20080'
echo "   pending reason: $reason"
cluster_api DELETE "/api/v1/tasks/$P2"
cluster_wait_state "$P2" KILLED 10
# Straight to the agent (the master would not place these): outside the range, held by a
# process of the agent's host. Sent as the master: only it launches at an agent that has one.
as_master() { SILO_VM_CERT="$CLUSTER_TLS_DIR/master.pem" SILO_VM_KEY="$CLUSTER_TLS_DIR/master-key.pem" "$@"; }
as_master cluster_agent_api 1 POST /api/v1/tasks "$(spec out-of-range 'exec sleep 1' \
    '"id": "out-of-range", "container": {"network": "bridge", "ports": [{"container": 80, "host": 40000}]}')"
assert_eq "a host port outside the range: status" "$API_STATUS" 400
assert_match "a host port outside the range: the message names it" "$API_BODY" '40000'
as_master cluster_agent_api 1 POST /api/v1/tasks "$(spec held 'exec sleep 1' \
    '"id": "held", "container": {"network": "bridge", "ports": [{"container": 80, "host": 20090}]}')"
kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null || true
assert_eq "a host port a host process listens on: status" "$API_STATUS" 400
assert_match "a host port a host process listens on: the message names it" "$API_BODY" '20090'

echo "== cross: agents 2 and 3 join; a task on agent 1 reaches a task on agent 3"
t=$(date +%s)
cluster_grow 3
pass "agents 2 and 3 registered ($(($(date +%s) - t)) s)"
cluster_submit "$(spec srv-3 'exec busybox nc -ll -p 9000 -e /bin/echo hello-from-3' \
    '"container": {"network": "bridge", "ports": [{"container": 9000}]}, "constraints": {"hostname": "fabric3"}')"
C="$CLUSTER_TASK"
# The receiver of the egress check starts meanwhile (python3 takes seconds under TCG). It
# counts what arrives in 5 s, from the first byte 1 s into the stream (after TCP's slow start
# and the qdisc's burst), timed by its own clock.
recv_py='
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", 7000)); s.listen(1)
c, _ = s.accept()
c.recv(65536); t0 = time.monotonic(); n = 0; start = None
while True:
    d = c.recv(65536)
    if not d:
        break
    now = time.monotonic()
    if start is None:
        if now - t0 >= 1: start = now
        continue
    n += len(d); last = now
    if now - start >= 5:
        break
print("bytes=%d seconds=%.3f" % (n, last - start))
'
cluster_submit "{\"name\": \"receiver\", \"command\": [\"python3\", \"-c\", $(cluster_json_str "$recv_py")],
    \"container\": {\"network\": \"bridge\", \"ports\": [{\"container\": 7000}]}, \"constraints\": {\"hostname\": \"fabric2\"}}"
R="$CLUSTER_TASK"
cluster_wait_state "$C" RUNNING 30
cluster_api GET "/api/v1/tasks/$C"
host_port
C_HP="$HOST_PORT"
cluster_submit "$(spec cli-d "busybox nc -w 5 ${CLUSTER_AGENT_ADDR[3]} $C_HP </dev/null" \
    '"container": {"network": "bridge"}, "constraints": {"hostname": "fabric1"}')"
D="$CLUSTER_TASK"
cluster_wait_state "$D" FINISHED 30
cluster_log 1 "$D"
assert_eq "cli-d on agent 1 -> agent 3 ${CLUSTER_AGENT_ADDR[3]}:$C_HP" "$API_BODY" hello-from-3

echo "== egress: 20 Mbit/s from agent 1 to a receiver on agent 2"
cluster_wait_state "$R" RUNNING 30
cluster_api GET "/api/v1/tasks/$R"
host_port
R_HP="$HOST_PORT"
# Give python3 time to listen: the sender retries until it connects.
cluster_submit "$(spec sender "for i in \$(seq 50); do busybox nc ${CLUSTER_AGENT_ADDR[2]} $R_HP </dev/zero && exit 0; sleep 0.2; done; exit 1" \
    "\"container\": {\"network\": \"bridge\"}, \"resources\": {\"net_egress\": \"$EGRESS\"}, \"constraints\": {\"hostname\": \"fabric1\"}")"
S="$CLUSTER_TASK"
cluster_wait_state "$S" RUNNING 30
# The sender's isolation view once it sends: the limit read back from its qdisc and the tx
# rate its interface counters measured, taken from the second one-second sample in a row
# that saw traffic (the first may cover the connection's start). Polled once a second:
# under TCG every request takes CPU time from the traffic.
iso="" sending=0
for _ in $(seq 15); do
    cluster_agent_api 1 GET "/api/v1/tasks/$S/isolation"
    if [[ "$API_BODY" =~ \"tx_bits_per_s\":([0-9.]+) ]] && awk -v r="${BASH_REMATCH[1]}" 'BEGIN { exit !(r > 0) }'; then
        sending=$((sending + 1))
    else
        sending=0
    fi
    if [ "$sending" = 2 ]; then
        iso="$API_BODY"
        break
    fi
    sleep 1
done
[ -n "$iso" ] || fail "the sender's isolation view measured no traffic in two samples in a row within 15 s: $API_BODY"
cluster_wait_state "$R" FINISHED 60
cluster_log 2 "$R"
echo "   receiver: $API_BODY"
[[ "$API_BODY" =~ bytes=([0-9]+)\ seconds=([0-9.]+) ]] || fail "receiver printed no count: $API_BODY"
rate="$(awk -v b="${BASH_REMATCH[1]}" -v s="${BASH_REMATCH[2]}" 'BEGIN { printf "%.0f", b * 8 / s }')"
assert_within "egress measured by the receiver (bits/s)" "$rate" "$EGRESS" 10
[[ "$iso" =~ \"network\":\{.*\"egress_bits_per_s\":([0-9]+) ]] || fail "no network.egress_bits_per_s in the sender's isolation view: $iso"
assert_eq "the sender's isolation view: the limit in force" "${BASH_REMATCH[1]}" "$EGRESS"
[[ "$iso" =~ \"tx_bits_per_s\":([0-9.]+) ]] || fail "no measured tx_bits_per_s in the sender's isolation view: $iso"
# One second's rate from the counters (L2 bytes): noisier under TCG than the 5 s count.
assert_within "the sender's isolation view: the measured tx rate" "${BASH_REMATCH[1]%.*}" "$EGRESS" 25
cluster_api DELETE "/api/v1/tasks/$S"

echo "== recovery: kill -9 of agent 1 with bridge tasks, one ending while it is down"
cluster_submit "$(spec ends 'exec sleep 600' '"container": {"network": "bridge", "ports": [{"container": 81}]}, "constraints": {"hostname": "fabric1"}')"
E="$CLUSTER_TASK"
cluster_wait_state "$E" RUNNING 30
# The sender ends by itself when the receiver closes, before or after the DELETE above.
cluster_wait_state "$S" ended 30
net_of 1 "$E"
E_IF="${JSON_FIELDS[1]}"
net_of 1 "$A"
before_a="${JSON_FIELDS[*]}"
net_of 1 "$P1"
before_p1="${JSON_FIELDS[*]}"
cluster_agent_kill9 1
echo 1 >"$(cluster_cgroup 1)/tasks/$E/cgroup.kill"
cluster_agent_start 1
cluster_wait_registered 1
net_of 1 "$A"
assert_eq "srv-a after the restart: address, veth, ports" "${JSON_FIELDS[*]}" "$before_a"
net_of 1 "$P1"
assert_eq "fixed-1 after the restart: address, veth, ports" "${JSON_FIELDS[*]}" "$before_p1"
assert_eq "srv-a's mapped port after the restart" "$(nc_get "${CLUSTER_AGENT_ADDR[1]}" "$A_HP")" hello-from-a
cluster_wait_state "$E" ended 30 1
pass "the task killed while agent 1 was down: $CLUSTER_STATE at the restarted agent"
links="$(cluster_in 1 ip -j link | jq -c '[.[].ifname]')"
assert_eq "the ended task's veth $E_IF is gone" "$(jq --arg i "$E_IF" 'index($i)' <<<"$links")" null
assert_match "srv-a's veth $A_IF is kept" "$links" "\"$A_IF\""
assert_eq "the ended task's namespace file" "$([ -e "$CLUSTER_DIR/agent1/netns/$E" ] && echo present || echo gone)" gone

echo "== teardown: kill agent 1's tasks, nothing of theirs left in its namespace"
cluster_api DELETE "/api/v1/tasks/$A"
cluster_api DELETE "/api/v1/tasks/$P1"
cluster_wait_state "$A" KILLED 30
cluster_wait_state "$P1" KILLED 30
cluster_in 1 sh -c 'ip -j link; ip -j addr; ip -j route; tc -j qdisc; nft -j list ruleset' >"$CLUSTER_DIR/after.json"
# What a task could leave: a link (its veth), an address or route of the task subnet other
# than the bridge's own, a shaping qdisc, a rule of the ports chain or a DNAT anywhere. The
# bridge silo0 with its gateway address and the table's fixed rules stay, as docker0 does.
left="$(jq -sc --argjson base "$base_links" --arg sub '10.100.1.' '
    (.[0] | map(.ifname) - $base - ["silo0"]) as $links
    | (.[1] | map(select(.ifname != "silo0") | .addr_info[] | select(.local | startswith($sub))
                  | .local)) as $addrs
    | (.[2] | map(select(.dev != "silo0" and ((.dst // "") | startswith($sub))) | .dst)) as $routes
    | (.[3] | map(select(.kind | IN("tbf", "htb", "hfsc", "ingress", "clsact", "netem"))
                  | "\(.dev):\(.kind)")) as $qdiscs
    | (.[4].nftables | map(select(.rule) | .rule
                           | select(.chain == "ports" or any(.expr[]; has("dnat"))))
       | length) as $rules
    | {links: $links, addrs: $addrs, routes: $routes, qdiscs: $qdiscs, nft_port_rules: $rules}' \
    "$CLUSTER_DIR/after.json")"
assert_eq "left in agent 1's namespace" "$left" '{"links":[],"addrs":[],"routes":[],"qdiscs":[],"nft_port_rules":0}'
assert_eq "namespace files left" "$(ls "$CLUSTER_DIR/agent1/netns" 2>/dev/null | wc -l)" 0

echo "network: $(($(date +%s) - T0)) s in the guest"
assert_done
