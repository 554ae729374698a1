#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Master HA (issue 17): three silo-masters on a 3-member etcd, three sim-agents that know them.
# Followers redirect every API call to the leader (307 + Location) and siloctl with the three
# URLs works whichever leads; then the leader is killed with -9 in the middle of a burst of 1,000
# submissions: a new leader within the lease TTL + 2 s, every acknowledged submission exists
# exactly once, every placed task was launched on exactly one agent, and no status update
# acknowledged before the kill is lost. The old leader comes back as a follower.
# Args: silo-master sim-agent siloctl
. "$(dirname "$0")/ha-lib.sh"
SILOCTL=$(realpath "$3")
N=${HA_BURST:-1000}

ha_start
L=$(ha_wait_leader 15)
E1=$(ha_epoch "$L")
pass "m$L leads, epoch $E1"
for i in 0 1 2; do
    [ "$i" = "$L" ] && continue
    h=$(ha_health "$i")
    assert_eq "m$i /health role" "$(jq -r .role <<<"$h")" follower
    assert_eq "m$i /health leader" "$(jq -r .leader <<<"$h")" "${M_URL[$L]}"
    assert_match "m$i /metrics silo_master_is_leader" \
        "$(curl -s -H "Authorization: Bearer $TOKEN" "${M_URL[$i]}/metrics" | grep '^silo_master_is_leader')" ' 0$'
    # Every API call, a read with its query, a write, an agent's call, a kill: 307 to the
    # leader, path and query kept, before any body is read.
    for call in "GET /api/v1/tasks?state=RUNNING" "POST /api/v1/tasks" "GET /api/v1/agents" \
        "POST /api/v1/agents/x/heartbeat" "DELETE /api/v1/tasks/t1" "GET /api/v1/events?since=0"; do
        read -r method path <<<"$call"
        data=()
        [ "$method" = POST ] && data=(-H 'Content-Type: application/json' --data-binary '{}')
        got=$(curl -s -o /dev/null -X "$method" -H "Authorization: Bearer $TOKEN" "${data[@]}" \
            -w '%{http_code} %{redirect_url}' "${M_URL[$i]}$path")
        assert_eq "m$i: $method $path" "$got" "307 ${M_URL[$L]}$path"
    done
done
assert_match "m$L /metrics" "$(curl -s -H "Authorization: Bearer $TOKEN" "${M_URL[$L]}/metrics" | grep -E '^silo_master_(is_leader|epoch)' | tr '\n' ' ')" \
    "silo_master_is_leader 1 .*silo_master_epoch $E1|silo_master_epoch $E1 .*silo_master_is_leader 1"

# siloctl with the three URLs, the leader last (the first two redirect).
ctl() { "$SILOCTL" -t "$WORK/token" "$@"; }
order="${M_URL[$(((L + 1) % 3))]},${M_URL[$(((L + 2) % 3))]},${M_URL[$L]}"
out=$(ctl -m "$order" run --name via-follower -- /bin/true 2>&1) || fail "siloctl run through followers: $out"
assert_eq "siloctl -m <3 URLs> tasks sees the task submitted through a follower" \
    "$(ctl -m "$order" tasks -o json 2>/dev/null | jq -r '[.tasks[] | select(.name == "via-follower")] | length')" 1

for s in s1 s2 s3; do ha_start_sim "$s" --cpus 400 --mem 1099511627776; done
wait_until 15 "3 agents registered on the leader" api_is /api/v1/agents '.agents | length' 3

# Status updates acknowledged before the kill: three tasks end with exit code 3, each update
# acknowledged (the sims' queues empty) before the leader dies.
pre=()
for i in 1 2 3; do pre+=("$(submit "{\"id\":\"pre-$i\",\"name\":\"pre\",\"command\":[\"/bin/true\"],\"resources\":{\"cpus\":1}}")"); done
for t in "${pre[@]}"; do wait_until 15 "$t RUNNING" state_is "$t" RUNNING; done
for t in "${pre[@]}"; do
    a=$(task_field "$t" .agent_id)
    for s in s1 s2 s3; do
        [ "$(sim_agent_id $s)" = "$a" ] && sim "$s" POST "/sim/finish/$t" '{"state":"FAILED","exit_code":3}' >/dev/null
    done
done
for t in "${pre[@]}"; do wait_until 15 "$t FAILED" state_is "$t" FAILED; done
for s in s1 s2 s3; do wait_until 10 "$s acknowledged everything" sim_is "$s" .unacked 0; done
pass "3 FAILED (exit 3) updates acknowledged before the kill"

# The burst, the leader killed with -9 a third of the way in.
python3 "$(dirname "$0")/ha-burst.py" --masters "$MASTERS" --token-file "$WORK/token" \
    --count "$N" --threads 4 --out "$WORK/burst.jsonl" --deadline-s 60 2>"$WORK/burst.log" &
BURST=$!
PIDS+=("$BURST")
wait_until 30 "a third of the burst acknowledged" bash -c "[ \$(wc -l <'$WORK/burst.jsonl') -ge $((N / 3)) ]"
# etcd's own view of the takeover: when the old leader's key goes (its lease expires) and the new
# one's comes. Followers watch the key and campaign on its deletion: the gap is one campaign (a
# lease grant and a txn), where a poll every TTL/4 added up to that much again.
python3 "$(dirname "$0")/etcd-watch-times.py" "${ETCD_CLIENT_URL[0]}" /silo/leader >"$WORK/leader-key.log" 2>&1 &
WATCH=$!
PIDS+=("$WATCH")
wait_until 10 "the leader key's watch open" grep -q CREATED "$WORK/leader-key.log"
T_KILL=$(date +%s%3N)
acked_before=$(wc -l <"$WORK/burst.jsonl")
# Frozen first, so that what etcd holds is the last the old leader committed: the tasks STAGING
# there are the only ones the new leader may launch again (it resends STAGING from etcd).
kill -STOP "${M_PID[$L]}"
etcd_ctl get --prefix /silo/tasks/ --print-value-only |
    jq -r 'select(.state == "STAGING") | .id' | sort >"$WORK/staging-at-kill.ids" ||
    fail "cannot read the tasks from etcd"
ha_kill9_master "$L"
NEW=$(ha_wait_leader $((HA_TTL + 2)) "$L")
T_LEAD=$(date +%s%3N)
PORT=${M_PORT[$NEW]} # master-lib's helpers to the new leader ($(...) kept ha_wait_leader's to itself)
pass "m$L killed after $acked_before acknowledgements; m$NEW leads $((T_LEAD - T_KILL)) ms later (lease TTL ${HA_TTL} s)"
E2=$(ha_epoch "$NEW")
# A figure, not a check (the takeover's checks are above and below): printed when the watcher saw
# both changes, else what it saw.
for _ in $(seq 50); do grep -q "PUT $E2\$" "$WORK/leader-key.log" && break; sleep 0.1; done
t_del=$(awk '$2 == "DELETE" {print $1; exit}' "$WORK/leader-key.log")
t_put=$(awk -v e="$E2" '$2 == "PUT" && $3 == e {print $1; exit}' "$WORK/leader-key.log")
if [ -n "$t_del" ] && [ -n "$t_put" ]; then
    echo "figure: etcd: the old leader's key expired $((t_del - T_KILL)) ms after the kill, the new leader's key $((t_put - t_del)) ms after that"
else
    echo "figure: etcd's view of the takeover not seen; the watcher's log: $(tail -n 5 "$WORK/leader-key.log" | tr '\n' ' ')"
fi
kill "$WATCH" 2>/dev/null || true
[ "$E2" -gt "$E1" ] && pass "epoch $E1 -> $E2" || fail "epoch did not grow: $E1 -> $E2"
wait "$BURST" && rc=0 || rc=$?
summary=$(tail -n1 "$WORK/burst.jsonl")
assert_eq "burst: every submission acknowledged (exit $rc, $(jq -c '{retries, errors}' <<<"$summary"))" \
    "$(jq -r .acked <<<"$summary")" "$N"
# Answers of the old leader still in the client's hands at the kill do not count: the first
# acknowledgement the new leader gave.
first_new=$(jq -s --arg m "${M_URL[$NEW]}" '[.[] | select(.master? == $m) | .at_ms] | min' "$WORK/burst.jsonl")
gap=$((first_new - T_KILL))
if [ "$gap" -le $(((HA_TTL + 2) * 1000)) ]; then
    pass "the new leader's first acknowledgement ${gap} ms after the kill (<= TTL + 2 s)"
else
    fail "the new leader's first acknowledgement ${gap} ms after the kill (> TTL + 2 s = $(((HA_TTL + 2) * 1000)) ms)"
fi

# Every acknowledged submission exists exactly once on the new leader.
api_body GET /api/v1/tasks >"$WORK/tasks.json"
assert_eq "burst tasks on the new leader, each id once" \
    "$(jq '[.tasks[] | select(.id | startswith("burst-")) | .id] | [length, (unique | length)]' -c "$WORK/tasks.json")" \
    "[$N,$N]"
jq -r '.id? // empty' "$WORK/burst.jsonl" | sort >"$WORK/acked.ids"
missing=$(jq -r '.tasks[].id' "$WORK/tasks.json" | sort | comm -23 "$WORK/acked.ids" - | head -5)
assert_eq "acknowledged ids missing on the new leader" "$missing" ""

# Every task placed, on exactly one agent, launched there (the sims' own records).
wait_until 40 "all $N burst tasks RUNNING" bash -c \
    "curl -s -H 'Authorization: Bearer $TOKEN' '${M_URL[$NEW]}/api/v1/tasks?state=RUNNING' | jq -e '[.tasks[] | select(.id | startswith(\"burst-\"))] | length == $N'"
sims_state s1 s2 s3 >"$WORK/sims.jsonl"
assert_eq "burst tasks held by the sims, each by one sim" \
    "$(jq -s '[.[].s.tasks | keys[] | select(startswith("burst-"))] | [length, (unique | length)]' -c "$WORK/sims.jsonl")" \
    "[$N,$N]"
# Launched exactly once: no leader sent a task's launch twice, and only a task STAGING in etcd
# at the kill (its launch sent, STARTING not yet committed) was sent again by the new leader.
for s in s1 s2 s3; do sim "$s" GET /sim/launches; done |
    jq -s '[.[].launches[] | select(.id | startswith("burst-"))]' >"$WORK/launches.json"
assert_eq "tasks launched twice by the same leader (epoch)" \
    "$(jq -c '[group_by([.id, .epoch])[] | select(length > 1) | .[0].id] | .[:5]' "$WORK/launches.json")" "[]"
jq -r 'group_by(.id)[] | select(length > 1) | .[0].id' "$WORK/launches.json" | sort >"$WORK/resent.ids"
resent=$(wc -l <"$WORK/resent.ids")
assert_eq "tasks launched again that were not STAGING at the kill ($resent resent, $(wc -l <"$WORK/staging-at-kill.ids") STAGING)" \
    "$(comm -23 "$WORK/resent.ids" "$WORK/staging-at-kill.ids" | head -5 | paste -sd' ')" ""
for t in "${pre[@]}"; do
    assert_eq "$t after the failover (state exit_code)" "$(task_field "$t" '"\(.state) \(.exit_code)"')" "FAILED 3"
done

# The old leader comes back as a follower of the new one.
ha_start_master "$L"
wait_until 10 "m$L follows m$NEW" bash -c "[ \"\$(curl -s '${M_URL[$L]}/health' | jq -r '\"\(.role) \(.leader)\"')\" = 'follower ${M_URL[$NEW]}' ]"
pass "m$L restarted: follower of m$NEW"
assert_done
