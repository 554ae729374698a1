#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Configure (once) and build the libFuzzer targets in build-fuzz: clang, ASan + UBSan, only
# common/ and the agent's launch-file and option code (meson -Dfuzz=true).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d build-fuzz/meson-private ]; then
    CC=clang meson setup build-fuzz --werror -Dfuzz=true -Db_sanitize=address,undefined \
        -Db_lundef=false -Dtests=false -Dvm_tests=false
fi
ninja -C build-fuzz
