#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The master's etcd state backend against a real one-member etcd:
#   - master/etcd.c: etcd-check.c's cmocka tests (fenced txns, ranges at a revision, the txn-ops
#     limit, leases, endpoint failover, blocking and async);
#   - the master's in-process unit tests (tests/unit/test-master-*) with their state in etcd
#     ($SILO_TEST_ETCD, honoured by tests/unit/master-util.h), as they pass on SQLite;
#   - silo-master --migrate-to etcd: a SQLite state copied into etcd and served from there.
# Usage: etcd-store.sh SILO_MASTER SIM_AGENT ETCD_CHECK TEST-MASTER-...
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/assert.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/etcd.sh"

MASTER=$1 SIM=$2 CHECK=$3
shift 3
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
assert_done
