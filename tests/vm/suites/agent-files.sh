#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# VM suite "agent-files": who may read silo-agent's state (issue 12, finding 8).
#
#   fresh       a state dir the agent creates: 0700 (tasks/, sandboxes/, status/ too), token,
#               lock, checkpoint and status update 0600; user nobody cannot list it
#   existing    a state dir made 0755 beforehand (mkdir -p) with a 0644 token: set to 0700 and
#               0600 at start, both changes logged; a task running as nobody still runs and
#               logs; a restart finds nothing to change
#   token-file  --token-file 0600: no warning; 0644 or 0640: the agent starts and warns, naming
#               the file, its mode and the fix; 0666 or 0620 (others may write it): the agent
#               refuses to start
set -euo pipefail

here="$(dirname "$0")"
. "$here/lib.sh"
. "$here/agent-lib.sh"
vm_require_guest

ip link set lo up
AGENT_LOG=/tmp/silo-agent-files.log
COMMON=(--calibrate=false)
W=/tmp/agent-files
rm -rf "$W"
mkdir -p "$W"

cleanup() {
    local rc=$?
    set +e
    agent_teardown "$rc" 60
}
trap cleanup EXIT

mode_of() {
    stat -c %a "$1"
}

# agent_start_fresh TOKEN_FILE ARGS...: like agent_start, without creating the state directory
# first; the API token comes from TOKEN_FILE.
agent_start_fresh() {
    local tf="$1"
    shift
    "$AGENT_BIN" --listen "127.0.0.1:$AGENT_PORT" --state-dir "$AGENT_STATE" "$@" >>"$AGENT_LOG" 2>&1 &
    AGENT_PID=$!
    for _ in $(seq 100); do
        if "$VM_HTTP" -fsS "$AGENT_URL/health" >/dev/null 2>&1; then
            TOKEN="$(cat "$tf")"
            return 0
        fi
        kill -0 "$AGENT_PID" 2>/dev/null || fail "silo-agent exited at startup"
        sleep 0.1
    done
    fail "silo-agent did not answer /health within 10 s"
}

echo "== a state directory the agent creates"
AGENT_STATE=/var/lib/silo/agent-files-fresh
rm -rf "$AGENT_STATE"
agent_start_fresh "$AGENT_STATE/token" "${COMMON[@]}"
api_expect 201 POST /api/v1/tasks '{"id":"f1","name":"f1","command":["/bin/sh","-c","echo hello"]}'
wait_state f1 FINISHED 30
for d in "$AGENT_STATE" "$AGENT_STATE/tasks" "$AGENT_STATE/sandboxes" "$AGENT_STATE/status"; do
    assert_eq "mode of $d" "$(mode_of "$d")" 700
done
assert_eq "mode of the generated token" "$(mode_of "$AGENT_STATE/token")" 600
assert_eq "mode of the lock" "$(mode_of "$AGENT_STATE/lock")" 600
assert_eq "mode of f1's checkpoint" "$(mode_of "$AGENT_STATE/tasks/f1.json")" 600
n=0
for f in "$AGENT_STATE"/status/*.json; do
    assert_eq "mode of status update $(basename "$f")" "$(mode_of "$f")" 600 >/dev/null
    n=$((n + 1))
done
[ "$n" -ge 2 ] || fail "only $n status updates in $AGENT_STATE/status"
pass "$n status updates 0600"
if setpriv --reuid=65534 --regid=65534 --clear-groups ls "$AGENT_STATE" >/dev/null 2>&1; then
    fail "user nobody can list $AGENT_STATE"
fi
pass "user nobody cannot list $AGENT_STATE"
agent_stop

echo "== a state directory that existed with mode 0755"
AGENT_STATE=/var/lib/silo/agent-files-existing
rm -rf "$AGENT_STATE"
(umask 022 && mkdir -p "$AGENT_STATE" && echo "0123456789abcdef0123456789abcdef" >"$AGENT_STATE/token" &&
    chmod 0644 "$AGENT_STATE/token")
assert_eq "mode before the start" "$(mode_of "$AGENT_STATE")" 755
: >"$AGENT_LOG"
agent_start "${COMMON[@]}"
assert_eq "state dir after the start" "$(mode_of "$AGENT_STATE")" 700
assert_eq "token after the start" "$(mode_of "$AGENT_STATE/token")" 600
grep -q "State directory $AGENT_STATE had mode 0755, set to 0700" "$AGENT_LOG" ||
    fail "the state directory's mode change is not logged"
grep -q "Token file $AGENT_STATE/token had mode 0644, set to 0600" "$AGENT_LOG" ||
    fail "the token's mode change is not logged"
pass "$(grep -m 1 -o 'State directory .*' "$AGENT_LOG")"
if setpriv --reuid=65534 --regid=65534 --clear-groups ls "$AGENT_STATE" >/dev/null 2>&1; then
    fail "user nobody can list $AGENT_STATE"
fi
# Tasks do not need to see the state directory: one running as nobody starts, writes, ends.
api_expect 201 POST /api/v1/tasks '{"id":"n1","name":"n1","user":"nobody","command":["/bin/sh","-c","id -u; echo out"]}'
wait_state n1 FINISHED 30
api_expect 200 GET "/api/v1/tasks/n1/logs?stream=stdout"
assert_eq "n1's stdout" "$(tr '\n' ' ' <<<"$API_BODY")" "65534 out "
pass "a task running as nobody ran and logged under the 0700 state directory"
agent_stop
: >"$AGENT_LOG"
agent_start "${COMMON[@]}"
if grep -q "had mode" "$AGENT_LOG"; then
    fail "a restart changed modes again: $(grep 'had mode' "$AGENT_LOG")"
fi
pass "a restart finds nothing to change"
agent_stop

echo "== --token-file permissions"
AGENT_STATE=/var/lib/silo/agent-files-token
rm -rf "$AGENT_STATE"
TF="$W/token"
echo "0123456789abcdef0123456789abcdef" >"$TF"
for mode in 600 400 644 640; do
    chmod "$mode" "$TF"
    : >"$AGENT_LOG"
    agent_start_fresh "$TF" "${COMMON[@]}" --token-file "$TF"
    api_expect 200 GET /api/v1/tasks
    case "$mode" in
        600|400)
            if grep -q "token file" "$AGENT_LOG"; then
                fail "--token-file $mode: unexpected warning: $(grep 'token file' "$AGENT_LOG")"
            fi
            pass "--token-file mode $mode: no warning" ;;
        *)
            who="every local user"
            [ "$mode" = 640 ] && who="its group"
            grep -q "token file $TF: mode 0$mode lets $who read it.*chmod 0600 $TF" "$AGENT_LOG" ||
                fail "--token-file $mode: no warning naming the file and its mode: $(cat "$AGENT_LOG")"
            pass "--token-file mode $mode: $(grep -o "token file $TF: .*" "$AGENT_LOG")" ;;
    esac
    agent_stop
done
for mode in 666 620; do
    chmod "$mode" "$TF"
    set +e
    out="$(timeout 20 "$AGENT_BIN" --listen "127.0.0.1:$AGENT_PORT" --state-dir "$AGENT_STATE" \
        "${COMMON[@]}" --token-file "$TF" 2>&1)"
    rc=$?
    set -e
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "--token-file $mode: exit status $rc, want a refusal: $out"
    who="every local user"
    [ "$mode" = 620 ] && who="its group"
    grep -q "Refusing to start: token file $TF: mode 0$mode lets $who write it" <<<"$out" ||
        fail "--token-file $mode: the refusal does not name the file and its mode: $out"
    pass "--token-file mode $mode: exit $rc: $(grep -o 'Refusing.*' <<<"$out")"
done
assert_done
