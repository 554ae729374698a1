#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Run one libFuzzer target for a bounded time on its seed corpus (the fuzz suite's test):
#   run-fuzz.sh FUZZER CORPUS_DIR [SECONDS]   (default $SILO_FUZZ_SECONDS, else 8)
# Passes when the whole corpus runs clean and the fuzzer finds nothing in the time. New
# coverage goes to a scratch dir, never into the repository's corpus; a crashing input is kept
# under $SILO_FUZZ_ARTIFACTS (default ./fuzz-artifacts) and printed, to be fixed and added
# to the corpus as a regression input (tests/fuzz/README.md).
set -uo pipefail
fuzzer=$1 corpus=$2 secs=${3:-${SILO_FUZZ_SECONDS:-8}}
name=$(basename "$fuzzer")
artifacts=${SILO_FUZZ_ARTIFACTS:-$PWD/fuzz-artifacts}

n=$(find "$corpus" -type f 2>/dev/null | wc -l)
if [ "$n" -eq 0 ]; then
    echo "$name: no seed corpus in $corpus" >&2
    exit 1
fi
scratch=$(mktemp -d "/tmp/silo-$name.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"

# -timeout: an input that runs 10 s is a hang, a failure like a crash.
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$scratch" "$corpus" \
    >"$scratch.log" 2>&1
rc=$?
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss_mb' "$scratch.log"
if [ "$rc" -ne 0 ]; then
    tail -n 60 "$scratch.log"
    for f in "$artifacts/$name-"*; do
        [ -e "$f" ] || continue
        echo "---- $f (base64) ----"
        base64 -w 76 "$f" | head -n 40
    done
fi
rm -f "$scratch.log"
echo "$name: $n seed inputs, ${secs}s, exit $rc"
exit "$rc"
