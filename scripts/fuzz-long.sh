#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The long fuzzing run (tests/fuzz/README.md): builds the fuzz targets in build-fuzz, runs
# each on a copy of its corpus for SECONDS (default 600) at nice 19, and prints one line per
# target (executions, coverage, crashes) and the total. Benchmark-style: exits non-zero on a
# crash, a leak or a hang in any target, or when the executions in total stay under MIN
# (default 10000000).
#   scripts/fuzz-long.sh [--seconds N] [--min-execs N] [--merge] [TARGET...]
# Crashing inputs are kept in build-fuzz/fuzz-long/<target>/ (fix, then add to the corpus).
# --merge: afterwards, add to tests/fuzz/corpus/<target>/ the inputs that reach coverage the
# corpus does not (libFuzzer -merge=1), so that the bounded CI runs start from there.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=600 min=10000000 merge=
while [ $# -gt 0 ]; do
    case $1 in
    --seconds) secs=$2; shift 2 ;;
    --min-execs) min=$2; shift 2 ;;
    --merge) merge=1; shift ;;
    --*) echo "fuzz-long: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done

scripts/fuzz-build.sh || exit 1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(ls tests/fuzz/corpus))
out=build-fuzz/fuzz-long
mkdir -p "$out"
total=0 bad=0
printf '%-20s %12s %8s %8s %7s %s\n' target executions exec/s cov corpus result
for t in "${targets[@]}"; do
    dir=$out/$t
    rm -rf "$dir"; mkdir -p "$dir/corpus"
    cp tests/fuzz/corpus/"$t"/* "$dir/corpus/"
    nice -n 19 build-fuzz/tests/fuzz/fuzz-"$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 -artifact_prefix="$dir/" \
        "$dir/corpus" >"$dir/log" 2>&1
    rc=$?
    execs=$(awk '/stat::number_of_executed_units/ {n += $2} END {print n + 0}' "$dir/log")
    cov=$(grep -oE 'cov: [0-9]+' "$dir/log" | tail -1 | cut -d' ' -f2)
    crashes=$(find "$dir" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'leak-*' -o -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' | wc -l)
    crashes=$((crashes + $(grep -c 'runtime error:' "$dir/log")))
    result=ok
    if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then result="FAILED (exit $rc, $crashes inputs in $dir)"; bad=1; fi
    printf '%-20s %12s %8s %8s %7s %s\n' "$t" "$execs" "$((execs / secs))" "${cov:-?}" \
        "$(ls "$dir/corpus" | wc -l)" "$result"
    total=$((total + execs))
    if [ -n "$merge" ] && [ "$result" = ok ]; then
        build-fuzz/tests/fuzz/fuzz-"$t" -merge=1 -max_len=16384 tests/fuzz/corpus/"$t" \
            "$dir/corpus" >"$dir/merge.log" 2>&1 || { echo "$t: merge failed ($dir/merge.log)"; bad=1; }
    fi
done
echo "total: $total executions in ${#targets[@]} targets, ${secs}s each"
if [ "$total" -lt "$min" ]; then
    echo "fuzz-long: $total executions is under the goal of $min" >&2
    bad=1
fi
exit "$bad"
