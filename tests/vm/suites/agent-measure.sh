#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "agent-measure": the agent's eBPF-measured I/O next to the limits in the isolation view.
#
#   measured   a task writing O_DIRECT to /dev/nullb0 under io wbps=2Mi: limits.io[0].measured
#              shows write_bps within ±15% of 2 MiB/s (mean of 5 one-second readings), write
#              IOPS and a p99 latency > 0, totals growing; no reads measured
#   siloctl    `siloctl inspect` prints the LIMIT vs MEASURED table for nullb0
#   reuse      a restarted agent reuses the pinned programs and measures again
#   degraded   without BTF (an empty tmpfs over /sys/kernel/btf) the agent warns once, keeps
#              running tasks, and the view says "measured": null with the reason
set -euo pipefail

here="$(dirname "$0")"
. "$here/lib.sh"
. "$here/agent-lib.sh"
vm_require_guest

ip link set lo up
SILOCTL="$SILO_BUILD_DIR/cli/siloctl"
IOSTAT="$SILO_BUILD_DIR/cli/silo-iostat"

cleanup() {
    local rc=$?
    set +e
    agent_teardown "$rc" 60
    # The agent leaves its programs pinned on purpose (they outlive restarts); the suite does not.
    mountpoint -q /sys/kernel/btf && umount /sys/kernel/btf
    [ -x "$IOSTAT" ] && "$IOSTAT" --detach >/dev/null 2>&1
}
trap cleanup EXIT

agent_start --kill-grace-s 2 --disk nullb0 --calibrate=false
grep -q "Measuring block I/O with eBPF" "$AGENT_LOG" || fail "agent did not attach iostat: $(cat "$AGENT_LOG")"
pass "agent attached iostat"

echo "== measured"
limit=2097152
api_expect 201 POST /api/v1/tasks '{"id":"w","name":"w",
    "command":["/bin/sh","-c","exec dd if=/dev/zero of=/dev/nullb0 bs=64k oflag=direct count=100000"],
    "container":{"devices":["/dev/nullb0"]},
    "resources":{"io":[{"disk":"nullb0","wbps":"2Mi"}]}}'
wait_state w RUNNING 20
sleep 3
sum=0
for i in 1 2 3 4 5; do
    api_expect 200 GET /api/v1/tasks/w/isolation
    m="$(jq -c '.limits.io[0].measured' <<<"$API_BODY")"
    echo "reading $i: $m"
    [ "$m" != null ] || fail "no measurement: $API_BODY"
    wbps="$(jq -r '.write_bps' <<<"$m")"
    sum="$(awk -v s="$sum" -v w="$wbps" 'BEGIN { print s + w }')"
    sleep 1
done
json_fields "$API_BODY" measured.source 'limits.io[0].wbps' 'limits.io[0].device'
assert_eq "top-level measured.source" "${JSON_FIELDS[0]}" ebpf
assert_eq "limit next to it" "${JSON_FIELDS[1]}" "$limit"
assert_eq "device" "${JSON_FIELDS[2]}" "$(vm_dev_majmin /dev/nullb0)"
mean="$(awk -v s="$sum" 'BEGIN { printf "%.0f", s / 5 }')"
assert_within "measured write_bps (mean of 5)" "$mean" "$limit" 15
m="$(jq -c '.limits.io[0].measured' <<<"$API_BODY")"
json_fields "$m" p99_us p50_us write_iops read_bps total.write_bytes
p99="${JSON_FIELDS[0]}" p50="${JSON_FIELDS[1]}"
awk -v v="$p99" 'BEGIN { exit !(v > 0) }' || fail "p99_us not > 0: $m"
awk -v v="$p50" 'BEGIN { exit !(v > 0) }' || fail "p50_us not > 0: $m"
assert_within "write_iops (64 KiB writes)" "${JSON_FIELDS[2]}" 32 20
assert_eq "no reads measured" "${JSON_FIELDS[3]}" 0
awk -v v="${JSON_FIELDS[4]}" -v l="$limit" 'BEGIN { exit !(v >= 4 * l) }' ||
    fail "total write_bytes below 4 s of writes: $m"
pass "p50 $p50 us, p99 $p99 us, totals $(jq -c .total <<<"$m")"
# null_blk on 6.1 records rq->io_start_time_ns (wbt): completion-only accounting, said so.
assert_eq "nullb0 timing in the isolation report" "$(jq -r .timing <<<"$m")" kernel

echo "== siloctl"
out="$("$SILOCTL" --agent "$AGENT_URL" --token-file "$AGENT_STATE/token" inspect w)"
echo "$out" | sed -n '/^I\/O /,$p'
grep -q '^I/O nullb0 ' <<<"$out" || fail "no I/O table for nullb0 in siloctl inspect: $out"
grep -q '^  issue times .* kernel (rq)$' <<<"$out" || fail "no issue-time mode in siloctl inspect: $out"
grep -Eq '^ +write bytes/s +2\.0 MiB/s +[0-9.]+ (KiB|MiB)/s$' <<<"$out" ||
    fail "no LIMIT vs MEASURED write row: $out"
grep -Eq '^ +latency p50/p99 .* us$' <<<"$out" || fail "no latency row: $out"
grep -Eq '^CPU: +.*weight [0-9]+' <<<"$out" || fail "no CPU limits line: $out"

echo "== reuse after restart"
agent_stop
agent_start --kill-grace-s 2 --disk nullb0 --calibrate=false
grep -q "Measuring block I/O with eBPF (reusing the programs" "$AGENT_LOG" ||
    fail "restarted agent did not reuse the pinned programs: $(tail -n 5 "$AGENT_LOG")"
sleep 2.5
api_expect 200 GET /api/v1/tasks/w/isolation
wbps="$(json_get "$API_BODY" 'limits.io[0].measured.write_bps')"
assert_within "write_bps after restart" "$wbps" "$limit" 30
api_expect 202 DELETE /api/v1/tasks/w
wait_state w KILLED 20

echo "== degraded: no BTF"
agent_stop
"$IOSTAT" --detach >/dev/null
mount -t tmpfs none /sys/kernel/btf
before="$(wc -l <"$AGENT_LOG")"
agent_start --kill-grace-s 2 --disk nullb0 --calibrate=false
umount /sys/kernel/btf
newlog="$(tail -n +"$((before + 1))" "$AGENT_LOG")"
assert_eq "one warning about the measurements" \
    "$(grep -c 'eBPF I/O measurement unavailable: .*no BTF' <<<"$newlog")" 1
api_expect 201 POST /api/v1/tasks '{"id":"s","name":"s","command":["/bin/sleep","600"],
    "resources":{"io":[{"disk":"nullb0","wbps":"2Mi"}]}}'
wait_state s RUNNING 20
sleep 1.5
api_expect 200 GET /api/v1/tasks/s/isolation
assert_eq "per-device measured is null" "$(jq -c '.limits.io[0].measured' <<<"$API_BODY")" null
grep -q 'no BTF' <<<"$(json_get "$API_BODY" measured.error)" ||
    fail "measured.error does not give the reason: $API_BODY"
pass "measured.error = $(json_get "$API_BODY" measured.error)"
out="$("$SILOCTL" --agent "$AGENT_URL" --token-file "$AGENT_STATE/token" inspect s)"
grep -q '^I/O measurements: unavailable (eBPF I/O measurement unavailable: .*no BTF' <<<"$out" ||
    fail "siloctl inspect does not say why: $out"
echo "$out" | sed -n '/^I\/O /,$p'
api_expect 202 DELETE /api/v1/tasks/s
wait_state s KILLED 20
assert_done
