#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The master's etcd state backend against a real one-member etcd:
#   - master/etcd.c: etcd-check.c's cmocka tests (fenced txns, ranges at a revision, the txn-ops
#     limit, leases, endpoint failover, blocking and async);
#   - the master's in-process unit tests (tests/unit/test-master-*) with their state in etcd
#     ($SILO_TEST_ETCD, honoured by tests/unit/master-util.h), as they pass on SQLite;
#   - silo-master --migrate-to etcd: a SQLite state copied into etcd and served from there;
#   - mutual TLS to etcd (--etcd-ca/--etcd-cert/--etcd-key): an etcd with --client-cert-auth
#     serves test-master-state's blocking store calls and a master's election (asynchronous
#     keepalives); without a client certificate, or to an http:// endpoint, the master refuses.
# Usage: etcd-store.sh SILO_MASTER SIM_AGENT ETCD_CHECK SILOCTL TEST-MASTER-...
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/assert.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/etcd.sh"

MASTER=$1 SIM=$2 CHECK=$3 CTL=$4
shift 4
etcd_available || skip_suite "etcd is not installed (Debian: etcd-server etcd-client)"
etcd_start_cluster 1
echo "etcd: 1 member healthy in ${ETCD_START_MS} ms at $ETCD_ENDPOINTS"

if SILO_TEST_ETCD=$ETCD_ENDPOINTS "$CHECK"; then
    pass "etcd-check: master/etcd.c against $ETCD_ENDPOINTS"
else
    fail "etcd-check against $ETCD_ENDPOINTS"
fi

for t in "$@"; do
    start=$(date +%s%3N)
    if SILO_TEST_ETCD=$ETCD_ENDPOINTS "$t"; then
        pass "$(basename "$t") on etcd ($(($(date +%s%3N) - start)) ms)"
    else
        fail "$(basename "$t") on etcd"
    fi
done

# ---- mutual TLS to etcd ----
state_t=
for t in "$@"; do case "$t" in */test-master-state) state_t=$t ;; esac; done
TD=$(mktemp -d)
MPID=
tls_cleanup() {
    [ -z "$MPID" ] || { kill "$MPID" 2>/dev/null; wait "$MPID" 2>/dev/null; }
    rm -rf "$TD"
}
trap 'rc=$?; tls_cleanup; exit $rc' EXIT
etcd_cleanup 0
"$CTL" tls init --dir "$TD" >/dev/null || fail "siloctl tls init"
for n in etcd etcd-client m1; do
    "$CTL" tls cert --master "$n" --ip 127.0.0.1 --dir "$TD" >/dev/null || fail "siloctl tls cert --master $n"
done
ETCD_TLS_DIR=$TD
etcd_start_cluster 1 || fail "etcd with --client-cert-auth did not start"
echo "etcd over TLS: healthy in ${ETCD_START_MS} ms at $ETCD_ENDPOINTS"
assert_match "etcd's client URL is https" "$ETCD_ENDPOINTS" "^https://"
if SILO_TEST_ETCD=$ETCD_ENDPOINTS SILO_TEST_ETCD_TLS=$TD "$state_t"; then
    pass "test-master-state on etcd over mutual TLS (the store's blocking calls)"
else
    fail "test-master-state on etcd over mutual TLS"
fi
PORT=$(etcd_free_ports 1)
"$MASTER" --listen "127.0.0.1:$PORT" --state-dir "$TD/state" --store etcd --etcd "$ETCD_ENDPOINTS" \
    --etcd-ca "$TD/ca.pem" --etcd-cert "$TD/m1.pem" --etcd-key "$TD/m1-key.pem" \
    --lease-ttl-s 3 --name m1 >"$TD/m1.log" 2>&1 &
MPID=$!
role=
for _ in $(seq 50); do
    role=$(curl -s -m 1 "http://127.0.0.1:$PORT/health" | jq -r .role 2>/dev/null || true)
    [ "$role" = leader ] && break
    sleep 0.2
done
assert_eq "a master elected over mutual TLS to etcd" "$role" leader
sleep 4 # longer than the 3 s lease: only keepalives over TLS keep it the leader
role=$(curl -s -m 1 "http://127.0.0.1:$PORT/health" | jq -r .role 2>/dev/null || true)
assert_eq "its lease kept over TLS past its TTL" "$role" leader
kill "$MPID"
wait "$MPID" 2>/dev/null || true
MPID=
rc=0
out=$(timeout 3 "$MASTER" --listen "127.0.0.1:$PORT" --state-dir "$TD/state2" --store etcd \
    --etcd "$ETCD_ENDPOINTS" --lease-ttl-s 3 --name m2 2>&1) || rc=$?
# libcurl's GnuTLS build words it so (the OpenSSL build said "SSL certificate problem").
assert_match "without the etcd TLS options, the master reaches nothing and says why" "$out" \
    "reading the leader key: etcd https://.*server certificate verification failed"
case "$out" in *"leading"* | *"elected"*) fail "a master without etcd's TLS options led" ;; esac
rc=0
out=$("$MASTER" --listen "127.0.0.1:$PORT" --state-dir "$TD/state3" --store etcd \
    --etcd "http://127.0.0.1:1" --etcd-ca "$TD/ca.pem" --etcd-cert "$TD/m1.pem" \
    --etcd-key "$TD/m1-key.pem" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "--etcd-cert with an http:// endpoint was accepted"
assert_match "--etcd-cert with an http:// endpoint: refused, naming it" "$out" "etcd endpoint http://127.0.0.1:1: not https://"
rc=0
out=$("$MASTER" --listen "127.0.0.1:$PORT" --state-dir "$TD/state3" --store etcd \
    --etcd "$ETCD_ENDPOINTS" --etcd-cert "$TD/m1.pem" 2>&1) || rc=$?
assert_eq "--etcd-cert without --etcd-ca: EX_CONFIG" "$rc" 78
assert_match "it names the missing option" "$out" "--etcd-ca is required with --etcd-cert"
assert_done
