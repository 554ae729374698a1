#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# master/etcd.c (the master's etcd client) against a real one-member etcd: etcd-check.c's
# cmocka tests (fenced txns, ranges at a revision, the txn-ops limit, leases, failover, async).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/assert.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/etcd.sh"

CHECK=$1
etcd_available || skip_suite "etcd is not installed (Debian: etcd-server etcd-client)"
etcd_start_cluster 1
echo "etcd: 1 member healthy in ${ETCD_START_MS} ms at $ETCD_ENDPOINTS"
if SILO_TEST_ETCD=$ETCD_ENDPOINTS "$CHECK"; then
    pass "etcd-check: every cmocka test against $ETCD_ENDPOINTS"
else
    fail "etcd-check against $ETCD_ENDPOINTS"
fi
assert_done
