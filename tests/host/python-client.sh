#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The Python client (clients/python/silo) and its framework helper against a real silo-master
# and sim-agents on loopback: python3 -m unittest of clients/python/tests, which starts and
# restarts the daemons itself (cluster.py). Usage: python-client.sh SILO_MASTER SIM_AGENT
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/assert.sh"

PY=$(command -v python3) || skip_suite "python3 is not installed (scripts/install-deps.sh installs it)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    skip_suite "$("$PY" --version) is older than 3.11 (Debian 12's)"
export SILO_MASTER_BIN SILO_SIM_AGENT_BIN
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree
SILO_MASTER_BIN=$(realpath "$1")
SILO_SIM_AGENT_BIN=$(realpath "$2")
TESTS=$(realpath "$(dirname "${BASH_SOURCE[0]}")/../../clients/python/tests")

# -W error: a leaked socket or file (ResourceWarning) fails the run too.
if "$PY" -W error::ResourceWarning -m unittest discover -s "$TESTS" -t "$TESTS" -v; then
    pass "python3 -m unittest: clients/python/tests"
else
    fail "python3 -m unittest: clients/python/tests"
fi
assert_done
