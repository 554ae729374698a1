#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# silo-master under connection floods from clients without a token (issue 12, findings 6 and 9).
#
#   wedge     --max-connections 16: 16 idle connections fill it; /health is still answered
#             while they are held, and again after they are all gone (the master used to
#             stop accepting for good once the limit had been reached).
#   deadline  --header-timeout-s 2: slowloris connections (a byte every 300 ms) and idle ones
#             are closed by the server within the deadline; one address holds at most
#             --max-connections-per-client (64) connections.
#   slowbody  --max-connections 16 --header-timeout-s 2: 18 connections send GET /health and
#             18 an unauthenticated POST /api/v1/tasks, each announcing a 100,000-byte body
#             and sending a byte a second, reconnecting, for 12 s; each is answered (400, 401)
#             at once without its body being read and closed, and /health and an authenticated
#             GET from 127.0.0.1 are answered within 2 s throughout (they used to be exempt
#             from eviction and deadlines: every new client timed out).
#   flood     --max-connections 1024: 1,100 idle connections from 127.0.0.2, 2,000 idle from
#             40 addresses and 1,000 slowloris from 20 addresses, all reconnecting, for 25 s;
#             /health, an authenticated GET, an agent's heartbeats and status updates from
#             127.0.0.1 are all answered within 2 s; the master's fds stay under the limit.
#   hostile   request smuggling and header abuse (issue 21): two Content-Length headers, one
#             with Transfer-Encoding, an oversized header, pipelined requests, bodies above the
#             limit, and JSON edge cases (duplicate keys, 1e309, 2^64, -0, NUL, invalid UTF-8,
#             deep nesting): each a 4xx naming the header or field, nothing created, and the
#             request smuggled behind a refused one never runs.
# FLOOD_PHASES="wedge deadline slowbody flood hostile" picks phases (default: all).
. "$(dirname "$0")/master-lib.sh"
FLOOD_BIN=$(realpath "$3")
RAW_HTTP="$(dirname "$0")/raw-http.py"
PHASES=${FLOOD_PHASES:-wedge deadline slowbody flood hostile}
FPIDS=()

has_phase() { [[ " $PHASES " == *" $1 "* ]]; }

# flood LABEL ARGS...: run conn-flood in the background against the master.
flood() {
    local label=$1; shift
    "$FLOOD_BIN" --connect "127.0.0.1:$PORT" --label "$label" --ready-file "$WORK/$label.ready" "$@" \
        >"$WORK/$label.out" 2>&1 &
    FPIDS+=("$!")
    PIDS+=("$!")
}
flood_wait_ready() { wait_until 20 "$1 connected" test -s "$WORK/$1.ready"; }
flood_wait_all() {
    local p
    for p in "${FPIDS[@]}"; do wait "$p" || fail "conn-flood $p exited with $?"; done
    FPIDS=()
}
# flood_fig LABEL KEY: a figure of conn-flood's report line.
flood_fig() { grep -o " $2=[0-9]*" "$WORK/$1.out" | cut -d= -f2; }

# timed METHOD PATH [BODY]: "<status> <ms>" of one request from 127.0.0.1 (5 s client timeout).
timed() {
    local method=$1 path=$2 body=${3:-} out
    out=$(curl -sS -o /dev/null -m 5 -X "$method" -H "Authorization: Bearer $TOKEN" \
        ${body:+-H 'Content-Type: application/json' -d "$body"} \
        -w '%{http_code} %{time_total}' "http://127.0.0.1:$PORT$path" 2>/dev/null) || true
    read -r code secs <<<"${out:-000 5}"
    echo "$code $(awk -v s="$secs" 'BEGIN { printf "%d", s * 1000 }')"
}
master_fds() { ls "/proc/$MPID/fd" | wc -l; }

if has_phase wedge; then
    echo "== wedge"
    # Started by hand with a soft limit of 1024: the master raises it to the hard limit (or more).
    hard=$(ulimit -Hn)
    ulimit -Sn 1024
    start_master --max-connections 16
    ulimit -Sn "$hard"
    soft=$(awk '/Max open files/ { print $4 }' "/proc/$MPID/limits")
    echo "figure: the master's soft RLIMIT_NOFILE: $soft (started with 1024, hard limit $hard)"
    [ "$soft" -ge "$hard" ] || fail "the master kept a soft RLIMIT_NOFILE of $soft below the hard limit $hard"
    for round in 1 2 3; do
        flood "wedge$round" --source 127.0.0.3 --count 16 --mode idle --duration 3
        flood_wait_ready "wedge$round"
        read -r code ms < <(timed GET /health)
        echo "figure: round $round: /health with 16 idle connections held: HTTP $code in $ms ms"
        [ "$code" = 200 ] && [ "$ms" -lt 2000 ] || fail "round $round: /health not answered while the limit is held (HTTP $code, $ms ms)"
        flood_wait_all
        echo "figure: $(cat "$WORK/wedge$round.out")"
        read -r code ms < <(timed GET /health)
        echo "figure: round $round: /health after every flood connection closed: HTTP $code in $ms ms"
        [ "$code" = 200 ] && [ "$ms" -lt 2000 ] || fail "round $round: the master no longer accepts after --max-connections was reached (HTTP $code, $ms ms)"
    done
    pass "the connection limit held and released 3 times: the master kept accepting"
    stop_master
fi

if has_phase deadline; then
    echo "== deadline"
    start_master --header-timeout-s 2
    grep -q 'max 64 per client' "$WORK/master.log" || fail "startup log lacks the connection limits: $(grep -i connection "$WORK/master.log")"
    base=$(master_fds)
    flood slow --source 127.0.0.4 --count 100 --mode slow --interval-ms 300 --duration 6
    flood idle --source 127.0.0.5 --count 50 --mode idle --duration 6
    flood percl --source 127.0.0.6 --count 200 --mode idle --duration 6
    flood_wait_ready percl
    sleep 1
    fds=$(master_fds)
    echo "figure: master fds: $base before, $fds with 100 slow + 50 idle + 200 idle from one address"
    [ "$fds" -le $((base + 100 + 50 + 64 + 8)) ] || fail "the master holds $fds fds: more than 64 connections from 127.0.0.6?"
    flood_wait_all
    for f in slow idle percl; do echo "figure: $(cat "$WORK/$f.out")"; done
    for f in slow idle; do
        assert_eq "$f: connections still open after 6 s with a 2 s header deadline" "$(flood_fig $f open_at_end)" 0
        [ "$(flood_fig $f closed_ms_max)" -le 3500 ] || fail "$f: a connection lived $(flood_fig $f closed_ms_max) ms past a 2 s header deadline"
    done
    [ "$(flood_fig percl server_closed)" -ge 136 ] || fail "percl: only $(flood_fig percl server_closed) of 200 connections from one address refused with a cap of 64"
    pass "slowloris and idle connections closed within the 2 s header deadline; one address held at most 64"
    stop_master
fi

if has_phase slowbody; then
    echo "== slowbody"
    start_master --max-connections 16 --header-timeout-s 2
    flood sbhealth --source 127.0.0.7 --count 18 --mode body --request 'GET /health' \
        --interval-ms 1000 --duration 12 --reconnect
    flood sbpost --source 127.0.0.8 --count 18 --mode body --request 'POST /api/v1/tasks' \
        --interval-ms 1000 --duration 12 --reconnect
    flood_wait_ready sbhealth
    flood_wait_ready sbpost
    sleep 1
    worst=0; n=0; bad=""
    end=$((SECONDS + 8))
    while [ $SECONDS -lt $end ]; do
        n=$((n + 1))
        for path in /health /api/v1/tasks; do
            read -r code ms < <(timed GET $path)
            [ "$code" = 200 ] && [ "$ms" -lt 2000 ] || bad="$bad $path#$n:HTTP-$code-${ms}ms"
            [ "$ms" -gt "$worst" ] && worst=$ms
        done
        sleep 0.2
    done
    echo "figure: $n rounds of /health + GET /api/v1/tasks under 36 slow-body connections (limit 16): slowest $worst ms${bad:+; failed:$bad}"
    flood_wait_all
    for f in sbhealth sbpost; do echo "figure: $(cat "$WORK/$f.out")"; done
    [ -z "$bad" ] || fail "requests from 127.0.0.1 not answered within 2 s under slow-body connections:$bad"
    for f in sbhealth sbpost; do
        [ "$(flood_fig $f server_closed)" -ge 36 ] || fail "$f: only $(flood_fig $f server_closed) slow-body connections were answered and closed in 12 s"
        [ "$(flood_fig $f closed_ms_max)" -le 2500 ] || fail "$f: a slow-body connection lived $(flood_fig $f closed_ms_max) ms"
        [ "$(flood_fig $f oldest_open_ms)" -le 2500 ] || fail "$f: a slow-body connection was open $(flood_fig $f oldest_open_ms) ms at the end"
    done
    pass "slow bodies on /health and without a token are refused at once; the master kept answering"
    stop_master
fi

if has_phase flood; then
    echo "== flood"
    start_master --max-connections 1024
    reg='{"hostname":"probe","address":"127.0.0.1:9","version":"t","resources":{"cpus":4,"mem":1073741824}}'
    AID=$(api_body POST /api/v1/agents "$reg" | jq -r .agent_id)
    [ -n "$AID" ] && [ "$AID" != null ] || fail "probe agent registration failed"
    base=$(master_fds)
    flood one --source 127.0.0.2 --count 1100 --mode idle --duration 25 --reconnect
    flood many --source 127.0.1.1 --sources 40 --count 2000 --mode idle --duration 25 --reconnect
    flood slowl --source 127.0.2.1 --sources 20 --count 1000 --mode slow --interval-ms 1000 --duration 25 --reconnect
    flood_wait_ready one
    sleep 2
    worst=0; n=0; maxfds=0; maxconns=0
    declare -A worst_of
    end=$((SECONDS + 16))
    while [ $SECONDS -lt $end ]; do
        n=$((n + 1))
        for probe in health tasks heartbeat status; do
            case $probe in
                health) read -r code ms < <(timed GET /health) ;;
                tasks) read -r code ms < <(timed GET /api/v1/tasks) ;;
                heartbeat) read -r code ms < <(timed POST "/api/v1/agents/$AID/heartbeat" '{"tasks":[]}') ;;
                status) read -r code ms < <(timed POST /api/v1/status \
                    "{\"update_id\":\"flood-$n\",\"task_id\":\"ghost\",\"agent_id\":\"$AID\",\"state\":\"RUNNING\",\"timestamp_ms\":1}") ;;
            esac
            [ "$code" = 200 ] || fail "$probe #$n under the flood: HTTP $code after $ms ms"
            [ "$ms" -gt "${worst_of[$probe]:-0}" ] && worst_of[$probe]=$ms
            [ "$ms" -gt "$worst" ] && worst=$ms
        done
        fds=$(master_fds)
        [ "$fds" -gt "$maxfds" ] && maxfds=$fds
        conns=$(api_body GET /metrics | awk '/^silo_master_http_connections / { print $2 }')
        [ "${conns:-0}" -gt "$maxconns" ] && maxconns=$conns
        sleep 0.2
    done
    echo "figure: $n rounds under the flood; slowest answer: health ${worst_of[health]} ms, tasks ${worst_of[tasks]} ms, heartbeat ${worst_of[heartbeat]} ms, status ${worst_of[status]} ms"
    echo "figure: master fds: $base before, at most $maxfds during the flood; at most $maxconns connections (limit 1024)"
    [ "$maxconns" -ge 900 ] || fail "the flood held at most $maxconns connections: it did not reach the limit"
    [ "$worst" -lt 2000 ] || fail "a request from 127.0.0.1 took $worst ms under the flood"
    [ "$maxfds" -le $((base + 1024 + 16)) ] || fail "the master held $maxfds fds with a limit of 1024 connections"
    flood_wait_all
    for f in one many slowl; do echo "figure: $(cat "$WORK/$f.out")"; done
    for f in one many slowl; do
        [ "$(flood_fig $f oldest_open_ms)" -le 12000 ] || fail "$f: a connection without a request stayed open $(flood_fig $f oldest_open_ms) ms (header deadline 10 s)"
    done
    assert_eq "probe agent state after the flood" "$(api_body GET "/api/v1/agents/$AID" | jq -r .state)" ACTIVE
    pass "/health, GETs, heartbeats and status updates answered within 2 s under 4,100 flooding connections"
    stop_master
fi
if has_phase hostile; then
    echo "== hostile"
    start_master
    SPEC='{"name": "smuggled", "command": ["/bin/true"]}'
    # raw N: send stdin on one connection, print the first N responses ("<status> <Connection> <body>").
    # Debian's python3 first: a pyenv shim in PATH takes 2 s to start.
    PY=$(command -v /usr/bin/python3 || command -v python3)
    raw() { "$PY" "$RAW_HTTP" "127.0.0.1:$PORT" "$1"; }
    req_head() { printf 'POST /api/v1/tasks HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer %s\r\n' "$TOKEN"; }
    # A complete task submission, smuggled in as the body of a refused request.
    smuggled="$(req_head)Content-Length: ${#SPEC}"$'\r\n\r\n'"$SPEC"
    out=$( { req_head; printf 'Content-Length: 2\r\nContent-Length: %d\r\n\r\n{}%s' $(( ${#smuggled} + 2 )) "$smuggled"; } | raw 2)
    assert_match "two Content-Length headers" "$out" '^400 close .*header Content-Length: sent more than once'
    out=$( { req_head; printf 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n%s' "$smuggled"; } | raw 2)
    assert_match "Content-Length with Transfer-Encoding" "$out" '^400 close .*headers Content-Length and Transfer-Encoding: both sent'
    out=$(printf 'GET /health HTTP/1.1\r\nHost: m\r\nX-Big: %s\r\n\r\n' "$(head -c 40000 /dev/zero | tr '\0' a)" | raw 1)
    assert_match "a 40,000-byte header" "$out" '^431 '
    out=$(printf 'GET /health HTTP/1.1\r\nHost: m\r\n\r\nGET /api/v1/tasks HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer %s\r\n\r\nGET /health HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n' "$TOKEN" | raw 3)
    assert_eq "three pipelined requests, answered in order" "$(cut -d' ' -f1 <<<"$out" | tr '\n' ' ')" "200 200 200 "
    out=$( { req_head; printf 'Content-Length: 2000000\r\n\r\n{}'; } | raw 1)
    assert_match "a body announced above the limit" "$out" '^413 .*exceeds the limit of 1048576 bytes'
    chunk=$(head -c 65536 /dev/zero | tr '\0' ' ')
    out=$( { req_head; printf 'Transfer-Encoding: chunked\r\n\r\n'; for i in $(seq 20); do printf '10000\r\n%s\r\n' "$chunk"; done; printf '0\r\n\r\n'; } | raw 1)
    assert_match "a chunked body above the limit" "$out" '^413 .*exceeds the limit of 1048576 bytes'
    json_case() {
        local what=$1 body=$2 want=$3 out
        out=$(api POST /api/v1/tasks "$body")
        assert_match "$what" "$(tail -n1 <<<"$out") $(sed '$d' <<<"$out" | jq -r .error.message)" "$want"
    }
    json_case "a duplicate key" '{"name": "a", "command": ["/bin/true"], "name": "b"}' \
        "^400 invalid JSON at line 1, column [0-9]+: duplicate object key near '\"name\"'"
    json_case "1e309" '{"name": "a", "command": ["/bin/true"], "resources": {"mem": 1e309}}' \
        "^400 invalid JSON .*real number overflow near '1e309'"
    json_case "2^64 as a number" '{"name": "a", "command": ["/bin/true"], "resources": {"mem": 18446744073709551616}}' \
        "^400 invalid JSON .*too big integer near '18446744073709551616'"
    json_case "2^64 as a quantity" '{"name": "a", "command": ["/bin/true"], "resources": {"mem": "18446744073709551616"}}' \
        "^400 resources.mem: '18446744073709551616' is out of range"
    json_case "16384Pi" '{"name": "a", "command": ["/bin/true"], "resources": {"io": [{"disk": "any", "rbps": "16384Pi"}]}}' \
        "^400 resources.io\[0\].rbps: '16384Pi' is out of range"
    json_case "-0 memory" '{"name": "a", "command": ["/bin/true"], "resources": {"mem": -0}}' \
        "^400 resources.mem: 0 must be positive"
    json_case "-0.0 cpus" '{"name": "a", "command": ["/bin/true"], "resources": {"cpus": -0.0}}' \
        "^400 resources.cpus: -0 must be positive"
    json_case "NUL in a string" '{"name": "a", "command": ["/bin/true"], "user": "ro\u0000ot"}' \
        "^400 invalid JSON .*u0000 is not allowed"
    json_case "invalid UTF-8" "$(printf '{"name": "a", "command": ["/bin/\xff"]}')" \
        "^400 invalid JSON .*unable to decode byte 0xff"
    json_case "3,000 nested arrays" "{\"name\": \"a\", \"command\": [\"/bin/true\"], \"env\": $(printf '[%.0s' $(seq 3000))$(printf ']%.0s' $(seq 3000))}" \
        "^400 invalid JSON .*maximum parsing depth reached"
    assert_eq "tasks after every refusal" "$(api_body GET /health | jq .tasks)" 0
    assert_eq "tasks named smuggled" "$(api_body GET /api/v1/tasks | jq '[.tasks[] | select(.name == "smuggled")] | length')" 0
    stop_master
fi
assert_done
