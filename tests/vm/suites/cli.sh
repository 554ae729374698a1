#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "cli": siloctl against a running cluster (silo-master + silo-agent on loopback), in a
# real terminal where it matters (tmux, 100 columns).
#
#   top       `siloctl top` in tmux: the io.max-limited writer's row shows a write rate within
#             10 % of its limit on the captured screen; `q` and Ctrl-C exit it with status 0
#   once      `top --once -o json`: the same figure from the JSON
#   fit       tasks, get, inspect, agents, agent, devices at COLUMNS=100: no line is longer
#   prefix    ids by prefix, a task by name, an agent by hostname; an unknown prefix exits 4
#   run       run with flags and -- COMMAND, logs -f follows it to its end
#   errors    run --help is help; a missing --token-file names the file and exits 3
#   framework examples/framework.py (the Python client): 3 tasks, slot 1 fails on its first run and
#             is resubmitted, all finish, exit 0
set -euo pipefail

. "$(dirname "$0")/lib.sh"
vm_require_guest

B="${SILO_BUILD_DIR:?}"
MASTER_BIN="$B/master/silo-master"
AGENT_BIN="$B/agent/silo-agent"
SILOCTL="$B/cli/siloctl"
for b in "$MASTER_BIN" "$AGENT_BIN" "$SILOCTL"; do [ -x "$b" ] || fail "$b not built"; done
command -v jq >/dev/null || fail "jq missing (scripts/install-deps.sh installs it)"
command -v tmux >/dev/null || skip_suite "tmux missing (scripts/install-deps.sh installs it)"

ip link set lo up

W=/tmp/silo-cli
rm -rf "$W"
mkdir -p "$W"
MURL=http://127.0.0.1:5050
AURL=http://127.0.0.1:5051
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$W/token"
chmod 600 "$W/token"
TOKEN="$(cat "$W/token")"
export TMUX_TMPDIR="$W"
MPID=""
APID=""
WRITER_LIMIT=8000000

cleanup() {
    local rc=$?
    set +e
    tmux kill-server 2>/dev/null
    [ -n "$APID" ] && kill -TERM "$APID" 2>/dev/null && wait "$APID" 2>/dev/null
    [ -n "$MPID" ] && kill -TERM "$MPID" 2>/dev/null && wait "$MPID" 2>/dev/null
    for t in /sys/fs/cgroup/silo/tasks/*/; do
        [ -d "$t" ] && { echo 1 >"$t/cgroup.kill"; sleep 0.2; rmdir "$t"; }
    done
    if [ "$rc" -ne 0 ]; then
        echo "---- master log ----"; tail -n 30 "$W/master.log" 2>/dev/null
        echo "---- agent log ----"; tail -n 40 "$W/agent.log" 2>/dev/null
    fi
    exit "$rc"
}
trap cleanup EXIT

get() { curl -fsS -H "Authorization: Bearer $TOKEN" "$1$2"; }
ctl() { "$SILOCTL" --master "$MURL" --token-file "$W/token" "$@"; }
# A screen of a tmux pane, wrapped lines joined (so a line longer than the pane shows).
screen() { tmux capture-pane -p -J -t "$1"; }

echo "== start: master, agent with nullb0 (calibrated: the master places I/O by its figures)"
"$MASTER_BIN" --listen 127.0.0.1:5050 --state-dir "$W/master" --token-file "$W/token" \
    --heartbeat-interval-ms 500 >"$W/master.log" 2>&1 &
MPID=$!
wait_until 30 "master up" curl -fsS "$MURL/health"
"$AGENT_BIN" --listen 127.0.0.1:5051 --state-dir "$W/agent" --token-file "$W/token" \
    --master "$MURL" --disk nullb0 --calibrate-seconds 1 --calibrate-write nullb0 \
    --kill-grace-s 2 --hostname cli-node >"$W/agent.log" 2>&1 &
APID=$!
wait_until 30 "agent up" curl -fsS "$AURL/health"
wait_until 60 "the master has nullb0's calibrated figures" \
    bash -c "[ \"\$(curl -fsS -H 'Authorization: Bearer $TOKEN' $MURL/api/v1/agents | jq -r '.agents[0].resources.disks[0].write_bps // 0')\" -gt $WRITER_LIMIT ]"
pass "cluster up: $(ctl agents | tail -n 1)"

echo "== run: a spec file with flags over it (the writer), and flags with -- COMMAND"
cat >"$W/writer.json" <<EOF
{"command": ["/bin/dd", "if=/dev/zero", "of=/dev/nullb0", "bs=64k", "oflag=direct", "count=100000"],
 "container": {"devices": ["/dev/nullb0"]}}
EOF
WRITER="$(ctl -o json run "$W/writer.json" --name writer --mem 64Mi --io "nullb0:wbps=$WRITER_LIMIT" | jq -r .id)"
[ -n "$WRITER" ] && [ "$WRITER" != null ] || fail "the master did not accept the writer"
out="$(ctl run --name talker --cpus 0.5 --mem 32Mi -- /bin/sh -c 'echo one; sleep 2; echo two; echo err >&2')"
echo "$out"
TALKER="$(sed -n 's/^ID: *//p' <<<"$out")"
assert_match "run prints the task's summary" "$(head -n 1 <<<"$out")" '^ID: +[0-9a-f-]{36}$'
assert_match "run --cpus/--mem reached the spec" "$out" 'Resources: cpus 0.5, mem 32.0 MiB'
wait_until 30 "writer RUNNING" bash -c "[ \"\$(curl -fsS -H 'Authorization: Bearer $TOKEN' $MURL/api/v1/tasks/$WRITER | jq -r .state)\" = RUNNING ]"

echo "== logs -f: follows the talker until it ends"
logs="$(timeout 60 "$SILOCTL" --master "$MURL" logs "${TALKER:0:8}" -f --token-file "$W/token")"
assert_eq "logs -f printed both lines and returned" "$logs" $'one\ntwo'
assert_eq "logs --stderr" "$(ctl logs --stderr "${TALKER:0:8}")" err

echo "== top in tmux (100x30): the writer's row against its limit"
tmux new-session -d -s top -x 100 -y 30 \
    "$SILOCTL --master $MURL --token-file $W/token top -d 1; echo \$? >$W/top.rc"
ok=""
for try in $(seq 10); do
    sleep 1.5
    s="$(screen top)"
    row="$(grep -E "^${WRITER:0:8} " <<<"$s" || true)"
    [ -n "$row" ] || continue
    # The WRITE/s column (found by its header): "7.6M/7.6M", compact binary units.
    col="$(awk '/^ID / { for (i = 1; i <= NF; i++) if ($i == "WRITE/s") print i; exit }' <<<"$s")"
    cell="$(awk -v c="$col" '{ print $c }' <<<"$row")"
    bytes() { awk -v v="$1" 'BEGIN { m = 1; u = substr(v, length(v)); if (u == "K") m = 1024;
        else if (u == "M") m = 1048576; else if (u == "G") m = 1073741824; if (m > 1) v = substr(v, 1, length(v) - 1);
        printf "%.0f", v * m }'; }
    used="$(bytes "${cell%%/*}")"
    limit="$(bytes "${cell##*/}")"
    if awk -v u="$used" -v l="$limit" 'BEGIN { d = u - l; if (d < 0) d = -d; exit !(l > 0 && d <= l * 0.1) }'; then
        ok=1
        break
    fi
    echo "   refresh $try: WRITE/s $cell"
done
echo "$s"
[ -n "$row" ] || fail "no row for the writer ${WRITER:0:8} on the top screen"
assert_eq "WRITE/s header found" "$([ -n "$col" ] && echo yes)" yes
assert_within "top screen: writer's write rate (limit $cell)" "$used" "$WRITER_LIMIT" 10
assert_match "top screen: the writer's name and a p99 latency" "$row" "^${WRITER:0:8} +writer .*[0-9.]+(us|ms|s)$"
assert_eq "top fits the pane (no line over 100 columns)" "$(awk 'length > 100' <<<"$s" | wc -l)" 0
tmux send-keys -t top q
wait_until 20 "top exits on q" test -s "$W/top.rc"
assert_eq "top exit status after q" "$(cat "$W/top.rc")" 0
tmux new-session -d -s top2 -x 100 -y 30 \
    "$SILOCTL --master $MURL --token-file $W/token top --sort cpu; echo \$? >$W/top2.rc"
wait_until 20 "top draws" bash -c "tmux capture-pane -p -t top2 | grep -q '^ID '"
tmux send-keys -t top2 C-c
wait_until 20 "top exits on Ctrl-C" test -s "$W/top2.rc"
assert_eq "top exit status after Ctrl-C" "$(cat "$W/top2.rc")" 0

echo "== top --once -o json"
# As on the screen, a figure is the agent's last second; under TCG one second may dip (a
# throttled writer catches up in the next), so a few tries.
for try in $(seq 5); do
    j="$(ctl top --once -o json -d 1)"
    w="$(jq -c --arg id "$WRITER" '.[] | select(.id == $id)' <<<"$j")"
    echo "   try $try: $w"
    awk -v u="$(jq -r '.write_bps // 0' <<<"$w")" -v l="$WRITER_LIMIT" \
        'BEGIN { d = u - l; if (d < 0) d = -d; exit !(d <= l * 0.1) }' && break
done
assert_eq "writer's limit in the JSON" "$(jq -r .wbps_max <<<"$w")" "$WRITER_LIMIT"
assert_within "top --once -o json: writer's write_bps" "$(jq -r .write_bps <<<"$w")" "$WRITER_LIMIT" 10
assert_eq "name and node" "$(jq -r '.name + " " + (.node != null | tostring)' <<<"$w")" "writer true"

echo "== the views fit 100 columns (COLUMNS=100, as a terminal of that width)"
AID8="$(get "$MURL" /api/v1/agents | jq -r '.agents[0].id' | cut -c1-8)"
for c in "tasks" "get ${WRITER:0:8}" "inspect ${WRITER:0:6}" "inspect writer" "agents" "agent $AID8" \
    "agent cli-node" "--agent $AURL devices"; do
    # shellcheck disable=SC2086  # c is words
    s="$(COLUMNS=100 ctl $c)"
    echo "$s" | head -n 4 | sed 's/^/   | /'
    assert_eq "siloctl $c: no line over 100 columns" "$(awk 'length > 100' <<<"$s" | wc -l)" 0
done
out="$(ctl inspect "${WRITER:0:8}")"
assert_match "inspect: the task's processes" "$out" '^Task: +[0-9a-f-]{36} \(running\)'
assert_match "inspect: limits line" "$out" '^Memory: +limit 64.0 MiB, high max'
assert_match "inspect: pressure on one line" "$out" '^Pressure: +avg10 +cpu ([0-9.]+%|-) +memory ([0-9.]+%|-).* +io ([0-9.]+%|-)'
assert_match "inspect: LIMIT vs MEASURED" "$out" '^ +write bytes/s +7.6 MiB/s +[0-9.]+ (KiB|MiB)/s$'
assert_eq "inspect: short (lines)" "$(($(wc -l <<<"$out") <= 20))" 1
out="$(ctl tasks)"
assert_match "tasks: short ids and AGE" "$out" "^ID +NAME +ROLE +STATE +AGE"
assert_match "tasks: the writer" "$out" "^${WRITER:0:8} +writer +default +RUNNING +[0-9ms]+ "

echo "== prefixes, errors, exit codes"
set +e
ctl get zzzz >/dev/null 2>"$W/err"; rc=$?
set -e
assert_eq "unknown prefix: exit 4" "$rc:$(cat "$W/err")" "4:siloctl: no task with an id starting with 'zzzz' or named so"
set +e
"$SILOCTL" --master "$MURL" --token-file "$W/nope" tasks >/dev/null 2>"$W/err"; rc=$?
set -e
assert_eq "missing --token-file: exit 3" "$rc" 3
assert_file_contains "the error names the file" "$W/err" "$W/nope"
assert_match "run --help is help" "$("$SILOCTL" run --help)" '^Usage: siloctl run'
for bin in "$SILOCTL" "$B/cli/silo-iostat" "$B/io/silo-io" "$MASTER_BIN" "$AGENT_BIN"; do
    assert_match "$(basename "$bin") --version" "$("$bin" --version)" "^$(basename "$bin") [0-9]+\.[0-9]+"
done
ctl kill "${WRITER:0:8}" >/dev/null
wait_until 20 "writer KILLED" bash -c "[ \"\$(curl -fsS -H 'Authorization: Bearer $TOKEN' $MURL/api/v1/tasks/$WRITER | jq -r .state)\" = KILLED ]"

echo "== framework: examples/framework.py follows its tasks through the event stream"
SRC="$(cd "$(dirname "$0")/../../.." && pwd)"
if command -v python3 >/dev/null; then
    t0=$SECONDS
    # Slot 1 fails on its first run only (exit 3), as a task whose first attempt finds no data.
    set +e
    PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$SRC/clients/python" timeout 60 python3 "$SRC/examples/framework.py" \
        --master "$MURL" --token-file "$W/token" --name fw --count 3 --retries 2 -- \
        /bin/sh -c '[ "$SILO_SLOT" = 1 ] && [ "$SILO_ATTEMPT" = 0 ] && exit 3; echo "slot $SILO_SLOT ran"' \
        >"$W/fw.out" 2>&1
    rc=$?
    set -e
    sed 's/^/   | /' "$W/fw.out"
    assert_eq "framework.py exit status" "$rc" 0
    assert_file_contains "slot 1's failure seen and resubmitted" "$W/fw.out" "(EXIT_NONZERO, exit code 3); submitting it again"
    assert_eq "each slot's outcome (the example's summary)" \
        "$(grep -E '^slot [0-9]+: [A-Z]+ after' "$W/fw.out" | sed 's/, task .*//')" \
        "slot 0: FINISHED after 1 attempt(s)
slot 1: FINISHED after 2 attempt(s)
slot 2: FINISHED after 1 attempt(s)"
    assert_eq "the master's tasks of the framework (name: state)" \
        "$(get "$MURL" /api/v1/tasks | jq -r '[.tasks[] | select(.name | startswith("fw-")) | "\(.name):\(.state)"] | sort | join(" ")')" \
        "fw-0:FINISHED fw-1:FAILED fw-1:FINISHED fw-2:FINISHED"
    assert_eq "slot 1's output on its second run" "$(ctl logs "$(get "$MURL" /api/v1/tasks | jq -r '[.tasks[] | select(.name == "fw-1" and .state == "FINISHED")][0].id')")" "slot 1 ran"
    echo "   framework section: $((SECONDS - t0)) s"
else
    skip_part "python3 missing (scripts/install-deps.sh installs it)"
fi
assert_done
