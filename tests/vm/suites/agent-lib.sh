#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Helpers for the silo-agent VM suites (source after lib.sh): start/stop an agent, call its API
# with $VM_HTTP and the generated token, wait for task states, build a static busybox rootfs.
#
#   agent_start [ARGS...]        start silo-agent on 127.0.0.1:$AGENT_PORT with $AGENT_STATE
#   agent_stop                   SIGTERM it and wait (tasks keep running)
#   agent_teardown RC [LINES]    in a suite's EXIT trap: stop the agent, show the last LINES
#                                (40) of its log when RC != 0, kill and remove every task cgroup
#   api METHOD PATH [JSON]       sets API_STATUS and API_BODY (and API_HEADERS)
#   api_expect STATUS METHOD PATH [JSON]
#   task_field ID FIELD          prints .FIELD of GET /api/v1/tasks/ID (jq)
#   task_fields ID FIELD...      JSON_FIELDS=(the FIELDs), one GET and one jq (json_fields)
#   wait_state ID STATE [SEC]    until the task is in STATE (fails on another terminal state)
#   rootfs_build DIR             busybox (static) + /etc/passwd + empty dirs

AGENT_PORT="${AGENT_PORT:-5051}"
AGENT_STATE="${AGENT_STATE:-/var/lib/silo/agent-test}"
AGENT_URL="http://127.0.0.1:$AGENT_PORT"
AGENT_BIN="${SILO_BUILD_DIR:-}/agent/silo-agent"
AGENT_LOG="${AGENT_LOG:-/tmp/silo-agent.log}"
AGENT_PID=""
TOKEN=""
# The suites' HTTP client: silo-vm-http takes the subset of curl's options they use and links
# only libc. Under qemu TCG curl costs ~1.7 s a start (libcurl and its TLS/SSH/LDAP libraries)
# and /bin/true 0.12 s; the agent suites make hundreds of calls. curl when it is not built.
VM_HTTP="${SILO_BUILD_DIR:-}/tests/vm/helpers/silo-vm-http"
[ -x "$VM_HTTP" ] || VM_HTTP=curl

agent_start() {
    [ -x "$AGENT_BIN" ] || fail "$AGENT_BIN not built (SILO_BUILD_DIR='${SILO_BUILD_DIR:-}')"
    mkdir -p "$AGENT_STATE"
    "$AGENT_BIN" --listen "127.0.0.1:$AGENT_PORT" --state-dir "$AGENT_STATE" "$@" >>"$AGENT_LOG" 2>&1 &
    AGENT_PID=$!
    for _ in $(seq 100); do
        if "$VM_HTTP" -fsS "$AGENT_URL/health" >/dev/null 2>&1; then
            TOKEN="$(cat "$AGENT_STATE/token")"
            return 0
        fi
        kill -0 "$AGENT_PID" 2>/dev/null || { cat "$AGENT_LOG"; fail "silo-agent exited at startup"; }
        sleep 0.1
    done
    cat "$AGENT_LOG"
    fail "silo-agent did not answer /health within 10 s"
}

# agent_kill9: what a crash or the OOM killer does to the agent.
agent_kill9() {
    kill -KILL "$AGENT_PID"
    wait "$AGENT_PID" 2>/dev/null || true
    AGENT_PID=""
}

# gone PID: the process has exited (a zombie nobody reaped counts).
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

agent_stop() {
    [ -n "$AGENT_PID" ] || return 0
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
    AGENT_PID=""
}

agent_teardown() {
    local rc="$1" lines="${2:-40}" t
    agent_stop
    if [ "$rc" -ne 0 ]; then
        echo "---- silo-agent log (last $lines lines) ----"
        tail -n "$lines" "$AGENT_LOG"
    fi
    for t in /sys/fs/cgroup/silo/tasks/*/; do
        [ -d "$t" ] && { echo 1 >"$t/cgroup.kill"; sleep 0.2; rmdir "$t"; }
    done
    return 0
}

# api METHOD PATH [BODY] [extra $VM_HTTP args...]
# One $VM_HTTP and no other process per call: under TCG every exec costs 0.1 s or more and
# the suites make hundreds of calls. The headers go to a file of this (sub)shell's own, so
# calls made in parallel from subshells do not mix them.
api() {
    local method="$1" path="$2" body="${3:-}" resp
    shift 3 2>/dev/null || shift $#
    local args=(-sS -D "${TMPDIR:-/tmp}/silo-api-headers.$BASHPID" -w '\n%{http_code}' -X "$method"
                -H "Authorization: Bearer $TOKEN")
    [ -z "$body" ] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
    API_HEADERS="${TMPDIR:-/tmp}/silo-api-headers.$BASHPID"
    resp="$("$VM_HTTP" "${args[@]}" "$@" "$AGENT_URL$path")"
    API_STATUS="${resp##*$'\n'}"
    API_BODY="${resp%$'\n'*}"
    # As $(...) would: no trailing newlines.
    while [ "${API_BODY%$'\n'}" != "$API_BODY" ]; do API_BODY="${API_BODY%$'\n'}"; done
}

api_expect() {
    local want="$1"
    shift
    api "$@"
    [ "$API_STATUS" = "$want" ] || fail "$1 $2: HTTP $API_STATUS, want $want: $API_BODY"
}

api_header() {
    tr -d '\r' <"$API_HEADERS" | awk -v h="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' \
        'tolower($1) == h { print $2 }'
}

# json_get JSON FILTER: a jq path without the leading dot ("timestamps.finished_ms");
# prints "" for null or absent.
json_get() {
    jq -r ".$2 | select(. != null)" <<<"$1"
}

# json_fields JSON FILTER...: several json_get filters in one jq (a jq start costs ~0.7 s under
# TCG); sets the array JSON_FIELDS in their order. For values that print on one line.
json_fields() {
    local json="$1" f filter="" out
    shift
    for f in "$@"; do filter+="${filter:+, }(.$f | if . == null then \"\" else . end)"; done
    # The "." line keeps empty last fields from $(...)'s trimming.
    out="$(jq -r "$filter, \".\"" <<<"$json")"
    mapfile -t JSON_FIELDS <<<"$out"
    [ "${#JSON_FIELDS[@]}" -eq $(($# + 1)) ] || fail "json_fields $*: not one line per field: $out"
    unset 'JSON_FIELDS[-1]'
}

task_field() {
    api_expect 200 GET "/api/v1/tasks/$1"
    json_get "$API_BODY" "$2"
}

# task_fields ID FIELD...: one GET and one jq for several fields; sets JSON_FIELDS.
task_fields() {
    api_expect 200 GET "/api/v1/tasks/$1"
    shift
    json_fields "$API_BODY" "$@"
}

wait_state() {
    local id="$1" want="$2" secs="${3:-30}" state=""
    for _ in $(seq $((secs * 10))); do
        api GET "/api/v1/tasks/$id"
        state="$(json_get "$API_BODY" state)"
        [ "$state" = "$want" ] && return 0
        case "$state" in
            FINISHED|FAILED|KILLED|LOST)
                fail "task $id ended $state, want $want: $API_BODY" ;;
        esac
        sleep 0.1
    done
    fail "task $id still $state after ${secs}s, want $want: $API_BODY"
}

rootfs_build() {
    local dir="$1" bb
    bb="$(command -v busybox)"
    file -L "$bb" 2>/dev/null | grep -q 'statically linked' ||
        ldd "$bb" 2>&1 | grep -q 'not a dynamic executable' ||
        fail "$bb is not static (install busybox-static)"
    mkdir -p "$dir"/{bin,etc,proc,sys,dev,tmp,root,home,ro-vol,rw-vol}
    cp "$bb" "$dir/bin/busybox"
    # One process for all ~270 applet links: under TCG an `ln -s` each took 84-150 s an image
    # on a busy host, this 2-3 s.
    (cd "$dir/bin" && perl -e 'for (@ARGV) { next if -e; symlink("busybox", $_) or
        die "rootfs_build: symlink $_ -> busybox: $!\n" }' $("$bb" --list))
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' \
        >"$dir/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
    echo "image" >"$dir/etc/image-marker"
}
