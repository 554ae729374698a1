#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The tools the master HA suites stand on, checked on their own so that a broken tool is not
# mistaken for a broken master: tests/lib/etcd.sh (a 3-member cluster that survives its raft
# leader's kill -9 and takes it back), tcp-proxy.py (held: nothing passes; refused: reset at
# once; healed: passes again), sim-agent's master list (a dead master, then a 307 to the live
# one) and its epoch rule, and ha-burst.py across a kill -9 of a (SQLite) master: every
# submission acknowledged once.
# Args: silo-master sim-agent
. "$(dirname "$0")/master-lib.sh"
. "$(dirname "$0")/../lib/etcd.sh"
etcd_available || skip_suite "etcd is not installed (Debian: etcd-server etcd-client)"
HERE=$(dirname "$0")
now() { date +%s%3N; }

# etcd.sh: three members, the raft leader killed, a write still commits, the member rejoins.
etcd_start_cluster 3 || fail "etcd did not start"
pass "3-member etcd healthy in ${ETCD_START_MS} ms ($ETCD_ENDPOINTS)"
l=$(etcd_leader) || fail "no raft leader among the members"
etcd_member_kill "$l"
t=$(now)
wait_until 10 "a write with m$l killed" etcd_ctl --command-timeout=1s put /h/k v1
pass "etcd m$l (raft leader) killed -9: a write committed $(($(now) - t)) ms later"
etcd_member_start "$l"
etcd_wait_healthy 20 || fail "m$l did not rejoin"
assert_eq "m$l rejoined and has the write" \
    "$(ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints="${ETCD_CLIENT_URL[$l]}" get --print-value-only /h/k)" v1

# tcp-proxy.py in front of etcd member 0.
python3 "$HERE/tcp-proxy.py" --port-file "$WORK/proxy.port" "127.0.0.1:${ETCD_CLIENT_PORT[0]}" 2>"$WORK/proxy.log" &
PROXY=$!
PIDS+=("$PROXY")
wait_until 10 "the proxy listening" test -s "$WORK/proxy.port"
PURL="http://127.0.0.1:$(cat "$WORK/proxy.port")"
assert_match "through the proxy" "$(curl -s --max-time 2 "$PURL/health")" '"health":"true"'
kill -USR1 "$PROXY"
sleep 0.2
t=$(now)
rc=0; curl -s --max-time 1 "$PURL/health" >/dev/null || rc=$?
assert_eq "held: a request gets no answer (curl exit, 28 = timed out after $(($(now) - t)) ms)" "$rc" 28
kill -HUP "$PROXY"
sleep 0.2
t=$(now)
rc=0; curl -s --max-time 1 "$PURL/health" >/dev/null || rc=$?
[ "$rc" != 0 ] && [ $(($(now) - t)) -lt 900 ] && pass "refused: curl exit $rc after $(($(now) - t)) ms" ||
    fail "refused: curl exit $rc after $(($(now) - t)) ms (want a failure before the 1 s timeout)"
kill -USR2 "$PROXY"
sleep 0.2
assert_match "healed" "$(curl -s --max-time 2 "$PURL/health")" '"health":"true"'
etcd_cleanup

# sim-agent: a dead master first, then a redirector answering 307 to the live master.
start_master --heartbeat-interval-ms 200
python3 - "$WORK/redir.port" "http://127.0.0.1:$PORT" >"$WORK/redir.log" 2>&1 <<'PY' &
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def go(self):
        self.send_response(307)
        self.send_header("Location", sys.argv[2] + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_POST = do_DELETE = go
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_port))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PY
PIDS+=("$!")
wait_until 10 "the redirector listening" test -s "$WORK/redir.port"
# Port 1 (tcpmux): nothing listens there.
SIM_MASTERS="http://127.0.0.1:1,http://127.0.0.1:$(cat "$WORK/redir.port"),http://127.0.0.1:$PORT" start_sim s1
wait_until 10 "s1 registered" sim_registered s1
assert_eq "s1 talks to the live master after a dead one and a 307" \
    "$(sim s1 GET /sim/state | jq -r '"\(.master) \(.redirects_refused)"')" "http://127.0.0.1:$PORT 0"
for e in 5 3 7; do
    st=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $TOKEN" \
        -H "Silo-Master-Epoch: $e" "http://127.0.0.1:${SIM_PORT[s1]}/api/v1/tasks/none")
    echo "epoch $e: $st"
    printf '%s ' "$st" >>"$WORK/epochs"
done
assert_eq "sim kills with epochs 5, 3, 7 (404: no such task, 409: stale)" "$(cat "$WORK/epochs")" "404 409 404 "

# ha-burst.py across a kill -9 and restart of the master: all acknowledged, each once.
python3 "$HERE/ha-burst.py" --masters "http://127.0.0.1:$PORT" --token-file "$WORK/token" --count 300 \
    --out "$WORK/burst.jsonl" --deadline-s 30 2>"$WORK/burst.log" &
B=$!
PIDS+=("$B")
wait_until 20 "100 acknowledged" bash -c "[ \$(wc -l <'$WORK/burst.jsonl') -ge 100 ]"
kill9_master
sleep 0.3
start_master --heartbeat-interval-ms 200
wait "$B" || fail "ha-burst: $(tail -n1 "$WORK/burst.jsonl")"
assert_eq "ha-burst across a kill -9: acknowledged" "$(tail -n1 "$WORK/burst.jsonl" | jq .acked)" 300
assert_eq "burst tasks on the master, each once" \
    "$(api_body GET /api/v1/tasks | jq -c '[.tasks[] | select(.id | startswith("burst-")) | .id] | [length, (unique | length)]')" "[300,300]"
assert_done
