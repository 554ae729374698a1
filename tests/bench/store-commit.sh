#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The master's cost per commit on etcd against SQLite (store-commit.c): a one-member etcd
# (tests/lib/etcd.sh, data on /dev/shm) and the SQLite file on the same filesystem, in one run.
#   tests/bench/store-commit.sh STORE-COMMIT
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/assert.sh"
. "$HERE/../lib/etcd.sh"
BIN=$(realpath "$1")
etcd_available || skip_suite "etcd is not installed (Debian: etcd-server etcd-client)"
DIR=$(mktemp -d "${ETCD_TMP:-/dev/shm}/store-commit.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
etcd_start_cluster 1
"$BIN" "$DIR" "$ETCD_ENDPOINTS"
