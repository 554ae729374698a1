#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Master HA (issue 17): the leader is cut off from etcd (its tcp-proxy holds every byte, as a
# network that drops packets). It stops launching by its lease deadline, another master takes
# over, and when the partition heals the old leader's held writes are refused and it follows the
# new one; an agent that has seen the new epoch refuses a launch carrying the old one. Then a
# commit etcd refuses (another writer rewrote a task's key) steps the leader down instead of
# stopping it, and the next leader takes the request asked again.
# Args: silo-master sim-agent
. "$(dirname "$0")/ha-lib.sh"

ha_start
L=$(ha_wait_leader 15)
E1=$(ha_epoch "$L")
pass "m$L leads, epoch $E1"
for s in s1 s2; do ha_start_sim "$s" --cpus 400 --mem 1099511627776; done
wait_until 15 "2 agents registered on the leader" api_is /api/v1/agents '.agents | length' 2
spec() { printf '{"id":"%s","name":"p","command":["/bin/sleep","1000"],"resources":{"cpus":1}}' "$1"; }
T0=$(submit "$(spec before-1)")
wait_until 15 "$T0 RUNNING" state_is "$T0" RUNNING

# Partition the leader, with submissions still coming (to every master, retried until a 2xx).
T_P=$(date +%s%3N)
kill -USR1 "${PROXY_PID[$L]}"
python3 "$(dirname "$0")/ha-burst.py" --masters "$MASTERS" --token-file "$WORK/token" \
    --count 100 --threads 2 --prefix during --out "$WORK/burst.jsonl" --deadline-s 40 \
    2>"$WORK/burst.log" &
BURST=$!
PIDS+=("$BURST")
NEW=$(ha_wait_leader $((HA_TTL + 2)) "$L")
PORT=${M_PORT[$NEW]} # master-lib's helpers to the new leader
pass "m$NEW leads $(($(date +%s%3N) - T_P)) ms after m$L was partitioned (lease TTL ${HA_TTL} s)"
E2=$(ha_epoch "$NEW")
[ "$E2" -gt "$E1" ] || fail "epoch did not grow: $E1 -> $E2"
pass "epoch $E1 -> $E2"
# The old leader knows by its own clock that its lease may be gone: by the deadline it no longer
# says it leads (it cannot reach etcd to learn who does).
deadline=$((T_P + HA_TTL * 1000))
while [ "$(date +%s%3N)" -lt "$deadline" ]; do sleep 0.1; done
role=$(ha_role "$L")
[ "$role" != leader ] && pass "m$L at its lease deadline: role '$role'" ||
    fail "m$L still says it leads $(($(date +%s%3N) - T_P)) ms after the partition began"
wait "$BURST" || fail "burst during the partition: $(tail -n1 "$WORK/burst.jsonl")"
pass "100 submissions during the partition acknowledged ($(tail -n1 "$WORK/burst.jsonl" | jq -c '{retries}'))"

# No launch carried the old epoch after the old leader's lease deadline.
wait_until 30 "the 100 tasks RUNNING" bash -c \
    "curl -s -H 'Authorization: Bearer $TOKEN' '${M_URL[$NEW]}/api/v1/tasks?state=RUNNING' | jq -e '[.tasks[] | select(.id | startswith(\"during-\"))] | length == 100'"
for s in s1 s2; do sim "$s" GET /sim/launches; done | jq -s '[.[].launches[]]' >"$WORK/launches.json"
late=$(jq --argjson e "$E1" --argjson d "$deadline" '[.[] | select(.epoch == $e and .at_ms > $d)] | length' "$WORK/launches.json")
assert_eq "launches with epoch $E1 after m$L's lease deadline" "$late" 0
assert_eq "launches with the new epoch $E2 accepted" \
    "$(jq --argjson e "$E2" '[.[] | select(.epoch == $e and .status < 300)] | length > 0' "$WORK/launches.json")" true

# Heal: whatever the old leader had sent is refused (its compare on the epoch fails) and it
# becomes a follower of the new leader.
kill -USR2 "${PROXY_PID[$L]}"
wait_until $((HA_TTL + 5)) "m$L follows m$NEW after the heal" bash -c \
    "[ \"\$(curl -s '${M_URL[$L]}/health' | jq -r '\"\(.role) \(.leader)\"')\" = 'follower ${M_URL[$NEW]}' ]"
pass "m$L healed: follower of m$NEW"
assert_eq "one leader after the heal" "$(ha_leader)" "$NEW"
grep -Eq 'step(ping|ped) down' "$WORK/master$L.log" && pass "m$L's log says it stepped down" ||
    fail "m$L's log does not say it stepped down"
assert_eq "$T0 (acknowledged before the partition) on the new leader" "$(task_state "$T0")" RUNNING

# An agent that has seen the new epoch refuses a launch from the deposed one.
for s in s1 s2; do wait_until 10 "$s has seen epoch $E2" sim_is "$s" .epoch "$E2"; done
out=$(curl -s -w '\n%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" -H "Silo-Master-Epoch: $E1" \
    -H 'Content-Type: application/json' -d "$(spec stale-1)" "http://127.0.0.1:${SIM_PORT[s1]}/api/v1/tasks")
assert_eq "launch with epoch $E1 after $E2: status" "$(tail -n1 <<<"$out")" 409
assert_eq "launch with epoch $E1 after $E2: code" "$(sed '$d' <<<"$out" | jq -r .error.code)" stale_epoch
assert_eq "the stale launch created nothing" "$(sim s1 GET /sim/state | jq -r '.tasks["stale-1"] // "none"')" none

# A commit etcd refuses steps the leader down (a follower again, by re-executing itself), it
# does not stop it: another writer rewrites a task's key, so the leader's next write of that task
# fails its mod_revision compare. The kill that made the write is not acknowledged (503); asked
# again it is, by whichever master leads next, and nothing acknowledged before is lost.
etcd_ctl put "/silo/tasks/$T0" "$(etcd_ctl get --print-value-only "/silo/tasks/$T0")" >/dev/null ||
    fail "cannot rewrite /silo/tasks/$T0 in etcd"
steps_before=$(grep -c 'stepped down' "$WORK/master$NEW.log" || true)
out=$(api DELETE "/api/v1/tasks/$T0")
assert_eq "kill of $T0 after its key was rewritten: status (the commit refused)" "$(tail -n1 <<<"$out")" 503
wait_until 10 "m$NEW steps down after the refused commit" bash -c \
    "[ \$(grep -c 'stepped down' '$WORK/master$NEW.log') -gt $steps_before ]"
grep -q 'changed by another writer' "$WORK/master$NEW.log" && pass "m$NEW's log names the refused write" ||
    fail "m$NEW's log does not say another writer changed what it wrote"
assert_eq "m$NEW's process is the same (re-executed, not exited)" "$(kill -0 "${M_PID[$NEW]}" && echo alive)" alive
N3=$(ha_wait_leader $((HA_TTL + 5)))
PORT=${M_PORT[$N3]}
E3=$(ha_epoch "$N3")
[ "$E3" -gt "$E2" ] && pass "m$N3 leads after the refused commit, epoch $E2 -> $E3" ||
    fail "no new leader term after the refused commit: epoch $E2 -> $E3"
assert_eq "the kill asked again: status" "$(api_status DELETE "/api/v1/tasks/$T0")" 202
wait_until 15 "$T0 KILLED" state_is "$T0" KILLED
assert_eq "the 100 tasks acknowledged during the partition, on m$N3" \
    "$(api_body GET /api/v1/tasks | jq '[.tasks[] | select(.id | startswith("during-"))] | length')" 100
assert_done
