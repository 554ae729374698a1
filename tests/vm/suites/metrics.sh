#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "metrics": both daemons' /metrics scraped by a real Prometheus on a real kernel.
#
# silo-master and one silo-agent (tests/vm/cluster.sh), nullb0 calibrated; a
# task writes O_DIRECT to /dev/nullb0 under io.max wbps=4Mi and another stays PENDING.
#   promtool   `promtool check metrics` passes on both daemons with the task running; the
#              agent's per-task series carry id, name, role and the limits in force, its
#              per-disk latency histogram is consistent, the master's per-disk figures and
#              pending reasons are there
#   prometheus Debian's prometheus scrapes both (scrape interval 2 s, over mutual TLS with the
#              operator's certificate, tests/vm/cluster.sh's default); PromQL
#              rate() of the task's written bytes is within 10 % of its io.max wbps, and so is
#              the disk's eBPF-measured write rate
#   grafana    packaging/grafana/silo-cluster.json is valid JSON; every PromQL expression of its
#              panels and variables is accepted by Prometheus, names only metrics present in
#              the scrape, and returns data
#   bounded    a killed task's series leave the agent's /metrics
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/../cluster.sh"
vm_require_guest

B="${SILO_BUILD_DIR:?}"
S="${SILO_SOURCE_DIR:?}"
DASHBOARD="$S/packaging/grafana/silo-cluster.json"
for tool in jq promtool prometheus; do
    command -v "$tool" >/dev/null || skip_suite "$tool is missing (scripts/install-deps.sh installs it)"
done

W=/tmp/silo-metrics
rm -rf "$W"
mkdir -p "$W"
PURL=http://127.0.0.1:9090
PPID_PROM=""
T0=$(date +%s)

cleanup() {
    local rc=$?
    [ -n "$PPID_PROM" ] && kill -TERM "$PPID_PROM" 2>/dev/null && wait "$PPID_PROM" 2>/dev/null
    if [ "$rc" -ne 0 ]; then
        echo "---- prometheus log ----"; tail -n 20 "$W/prometheus.log" 2>/dev/null || true
    fi
    cluster_teardown "$rc"
}
trap cleanup EXIT

get() { curl -fsS -H "Authorization: Bearer $TOKEN" "$1$2"; }
submit() {
    local code
    code="$(curl -sS -o "$W/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' --data-binary "$1" "$MURL/api/v1/tasks")"
    [ "$code" = 201 ] || fail "submit $1: HTTP $code: $(cat "$W/body")"
    jq -r .id "$W/body"
}
mstate_is() { [ "$(get "$MURL" "/api/v1/tasks/$1" | jq -r .state)" = "$2" ]; }
# value FILE SERIES: the sample of exactly that series (name{labels} as written) in FILE.
value() { awk -v m="$2" '$1 == m {print $2}' "$1"; }
# promql QUERY: the /api/v1/query answer (JSON).
promql() { curl -fsS -G --data-urlencode "query=$1" "$PURL/api/v1/query"; }

echo "== master, agent (nullb0 calibrated at first start) and prometheus"
cluster_start 1 --calibrate-seconds 1 --calibrate-write @DISK@
MURL="$CLUSTER_MURL"
AURL="${CLUSTER_AGENT_URL[1]}"

# Prometheus starts while the agent calibrates: under TCG it takes tens of seconds. A scrape
# may take long in a loaded guest, so the timeout is the whole interval.
# Over mutual TLS (the cluster's default) Prometheus scrapes with the operator's certificate.
scrape_auth="authorization: {credentials_file: $CLUSTER_DIR/token}"
[ "$CLUSTER_TLS" != 1 ] || scrape_auth="scheme: https
    tls_config: {ca_file: $SILO_VM_CACERT, cert_file: $SILO_VM_CERT, key_file: $SILO_VM_KEY}"
cat >"$W/prometheus.yml" <<EOF
global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: silo-master
    $scrape_auth
    static_configs: [{targets: ['$CLUSTER_MADDR:5050']}]
  - job_name: silo-agent
    $scrape_auth
    static_configs: [{targets: ['${CLUSTER_AGENT_ADDR[1]}:5051']}]
EOF
promtool check config "$W/prometheus.yml" >/dev/null || fail "promtool check config refused $W/prometheus.yml"
p0=$(date +%s.%N)
prometheus --config.file="$W/prometheus.yml" --storage.tsdb.path="$W/prom" \
    --web.listen-address=127.0.0.1:9090 --log.level=warn >>"$W/prometheus.log" 2>&1 &
PPID_PROM=$!

wait_until 60 "nullb0's calibrated figures at the master" bash -c \
    "curl -fsS -H 'Authorization: Bearer $TOKEN' $MURL/api/v1/agents | jq -e '.agents[0].resources.disks[0].write_bps > 0'"
AID="${CLUSTER_AGENT_ID[1]}"

LIMIT=4194304
WRITER="$(submit '{"name":"writer","role":"batch","command":["/bin/sh","-c","exec dd if=/dev/zero of=/dev/nullb0 bs=256k oflag=direct count=4000"],
    "container":{"devices":["/dev/nullb0"]},
    "resources":{"cpus":1,"mem":"64Mi","io":[{"disk":"nullb0","wbps":"4Mi","rbps":"8Mi","riops":1000,"wiops":1000}]}}')"
BIG="$(submit '{"name":"too-big","command":["/bin/true"],"resources":{"cpus":64}}')"
wait_until 30 "writer RUNNING" mstate_is "$WRITER" RUNNING
w0=$(date +%s)
for _ in $(seq 900); do
    curl -fsS "$PURL/-/ready" >/dev/null 2>&1 && break
    kill -0 "$PPID_PROM" 2>/dev/null || fail "prometheus exited at startup"
    sleep 0.1
done
curl -fsS "$PURL/-/ready" >/dev/null 2>&1 || fail "prometheus not ready within 90 s"
echo "   figure: prometheus ready $(awk -v a="$p0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s after its start"

echo "== promtool check metrics on both daemons, a task running"
sleep 2 # two eBPF snapshots and some writes behind the figures
get "$AURL" /metrics >"$W/agent.prom"
get "$MURL" /metrics >"$W/master.prom"
promtool check metrics <"$W/agent.prom" || fail "promtool check metrics refused the agent's /metrics"
promtool check metrics <"$W/master.prom" || fail "promtool check metrics refused the master's /metrics"
pass "promtool check metrics: agent $(grep -vc '^#' "$W/agent.prom") samples, master $(grep -vc '^#' "$W/master.prom") samples"

TL="id=\"$WRITER\",name=\"writer\",role=\"batch\""
TD="$TL,device=\"nullb0\""
assert_eq "writer's wbps limit" "$(value "$W/agent.prom" "silo_container_spec_io_write_bytes_per_second{$TD}")" "$LIMIT"
assert_eq "writer's riops limit" "$(value "$W/agent.prom" "silo_container_spec_io_read_iops{$TD}")" 1000
assert_eq "writer's memory limit" "$(value "$W/agent.prom" "silo_container_spec_memory_limit_bytes{$TL}")" 67108864
assert_eq "writer's cpu quota" "$(value "$W/agent.prom" "silo_container_spec_cpu_quota{$TL}")" 100000
[ "$(value "$W/agent.prom" "silo_container_fs_writes_bytes_total{$TD}")" -gt 0 ] || fail "writer wrote nothing per io.stat"
[ "$(value "$W/agent.prom" "silo_container_threads{$TL}")" -ge 1 ] || fail "writer has no pids"
awk -v s="$(value "$W/agent.prom" "silo_container_memory_working_set_bytes{$TL}")" \
    -v u="$(value "$W/agent.prom" "silo_container_memory_usage_bytes{$TL}")" 'BEGIN {exit !(s > 0 && s <= u)}' ||
    fail "writer's working set is not within (0, usage]"
pass "per-task series: labels id, name, role; limits in force; usage"
count="$(value "$W/agent.prom" 'silo_disk_io_latency_seconds_count{device="nullb0",operation="write"}')"
[ "${count:-0}" -gt 0 ] || fail "no write latency observed on nullb0"
assert_eq "+Inf bucket = count" "$(value "$W/agent.prom" 'silo_disk_io_latency_seconds_bucket{device="nullb0",operation="write",le="+Inf"}')" "$count"
awk '$1 ~ /^silo_disk_io_latency_seconds_bucket\{device="nullb0",operation="write"/ {if ($2 < prev) exit 1; prev = $2}' "$W/agent.prom" ||
    fail "nullb0's write latency buckets are not cumulative"
assert_eq "eBPF measuring" "$(value "$W/agent.prom" silo_agent_ebpf_measuring)" 1
grep -q '^process_open_fds [1-9]' "$W/agent.prom" || fail "agent: no process_open_fds"
grep -q '^silo_build_info{version="' "$W/agent.prom" || fail "agent: no silo_build_info"
pass "per-disk eBPF histogram ($count writes timed), process_*, silo_build_info"
DL="$(get "$MURL" /api/v1/agents | jq -r --arg a "$AID" \
    '.agents[0] | "agent=\"\($a)\",hostname=\"\(.hostname)\",disk=\"nullb0\",class=\"\(.resources.disks[0].class)\""')"
assert_eq "master: wbps booked on nullb0" "$(value "$W/master.prom" "silo_master_disk_allocated_write_bytes_per_second{$DL}")" "$LIMIT"
[ -n "$(value "$W/master.prom" "silo_master_disk_io_cost_free{$DL}")" ] || fail "master: no io cost free for nullb0"
assert_eq "master: pending for cpus" "$(value "$W/master.prom" 'silo_master_pending_tasks{reason="cpus"}')" 1
pass "master: per-disk allocation and pending reasons"

echo "== Prometheus scrapes the cluster; PromQL sees the task's rate"
wait_until 20 "both targets up" bash -c "curl -fsS -G --data-urlencode 'query=sum(up)' $PURL/api/v1/query | jq -e '.data.result[0].value[1] == \"2\"'"
# A 30 s window, all of it while the task writes at its limit, evaluated at the latest sample
# so that rate() extrapolates at one end only (a loaded guest may delay scrapes).
sel="silo_container_fs_writes_bytes_total{id=\"$WRITER\",device=\"nullb0\"}"
left=$((w0 + 32 - $(date +%s)))
[ "$left" -le 0 ] || sleep "$left"
wait_until 30 "12 of the writer's samples in 30 s" bash -c "curl -fsS -G --data-urlencode 'query=count_over_time($sel[30s])' $PURL/api/v1/query | jq -e '.data.result[0].value[1] | tonumber >= 12'"
at="$(promql "timestamp($sel)" | jq -r '.data.result[0].value[1]')"
promql_at() { curl -fsS -G --data-urlencode "query=$1" --data-urlencode "time=$at" "$PURL/api/v1/query"; }
rate="$(promql_at "rate($sel[30s])" | jq -r '.data.result[0].value[1]')"
disk="$(promql_at 'rate(silo_disk_written_bytes_total{device="nullb0"}[30s])' | jq -r '.data.result[0].value[1]')"
echo "   figure: PromQL rate of the task's writes $rate B/s, of nullb0's writes (eBPF) $disk B/s;" \
    "io.max wbps $LIMIT; $(promql_at "count_over_time($sel[30s])" | jq -r '.data.result[0].value[1]') samples in 30 s;" \
    "slowest agent scrape $(promql_at 'max_over_time(scrape_duration_seconds{job="silo-agent"}[30s])' | jq -r '.data.result[0].value[1]') s"
assert_within "task write rate (PromQL) against its io.max" "$rate" "$LIMIT" 10
assert_within "disk write rate (PromQL, eBPF) against the task's io.max" "$disk" "$LIMIT" 10

echo "== the Grafana dashboard's expressions against this scrape"
jq -e '.schemaVersion >= 36 and (.panels | length) > 0 and
       ([.templating.list[] | select(.type == "datasource" and .query == "prometheus")] | length) == 1' \
    "$DASHBOARD" >/dev/null || fail "$DASHBOARD: not a dashboard with a Prometheus datasource variable"
curl -fsS "$PURL/api/v1/label/__name__/values" | jq -r '.data[]' >"$W/names"
jq -r '.panels[].targets[]?.expr, (.templating.list[] | select(.type == "query") | .definition)' \
    "$DASHBOARD" >"$W/exprs"
n=0
while IFS= read -r expr; do
    [ -n "$expr" ] || continue
    n=$((n + 1))
    for name in $(grep -oE '\b(silo|process)_[a-z0-9_]+' <<<"$expr" | sort -u); do
        grep -qx "$name" "$W/names" || fail "dashboard expression names $name, which the scrape lacks: $expr"
    done
    case "$expr" in label_values*) continue ;; esac
    q="${expr//\$__rate_interval/30s}"
    q="${q//\$device/.*}"
    q="${q//\$task/.*}"
    ans="$(promql "$q")" || fail "Prometheus refused the dashboard expression: $q"
    jq -e '.status == "success" and (.data.result | length) > 0' <<<"$ans" >/dev/null ||
        fail "dashboard expression returns no data: $q: $ans"
done <"$W/exprs"
[ "$n" -ge 20 ] || fail "only $n expressions found in $DASHBOARD"
pass "all $n dashboard expressions are valid PromQL over metrics in the scrape and return data"

echo "== ended tasks leave the agent's output"
curl -fsS -o /dev/null -X DELETE -H "Authorization: Bearer $TOKEN" "$MURL/api/v1/tasks/$WRITER"
curl -fsS -o /dev/null -X DELETE -H "Authorization: Bearer $TOKEN" "$MURL/api/v1/tasks/$BIG"
wait_until 30 "writer KILLED" mstate_is "$WRITER" KILLED
get "$AURL" /metrics >"$W/agent-after.prom"
promtool check metrics <"$W/agent-after.prom" || fail "promtool check metrics refused the agent's /metrics after the kill"
! grep -q "id=\"$WRITER\"" "$W/agent-after.prom" || fail "the killed task's series are still in /metrics"
assert_eq "killed tasks counted" "$(value "$W/agent-after.prom" 'silo_agent_tasks{state="KILLED"}')" 1
pass "the killed task's series are gone"
echo "   figure: suite body $(($(date +%s) - T0)) s (boot not included)"
assert_done
