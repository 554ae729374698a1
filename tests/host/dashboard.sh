#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The master's web dashboard in a real browser: headless Chromium against a running cluster.
#
# A real silo-master and a sim-agent (the agent protocol, with an isolation view whose eBPF
# figures are --io-fill of each limit), real tasks (one writing to a disk, one without io) and
# one that cannot be placed. Checks the HTTP side (public shell, hashed immutable assets, the
# token on everything with data, the master relaying an agent's isolation view), then loads the
# pages in Chromium and asserts on the rendered DOM: the disk's allocated and measured figures,
# the task list, the pending task's reason, a task's limits against its usage. Screenshots go to
# the build's meson-logs ($3) as artifacts.
# Usage: dashboard.sh SILO-MASTER SIM-AGENT LOG-DIR
. "$(dirname "$0")/master-lib.sh"

LOGDIR=$3
CHROMIUM=$(command -v chromium || true)
[ -n "$CHROMIUM" ] || skip_suite "chromium is not installed (scripts/install-deps.sh installs it)"
command -v python3 >/dev/null || skip_suite "python3 is not installed (dashboard-browser.py)"
mkdir -p "$LOGDIR"

start_master --heartbeat-interval-ms 200 --agent-timeout-ms 10000
M="http://127.0.0.1:$PORT"

# ---- the cluster: node1 has 8 cpus, 16Gi and nullb0 (read 400 MB/s, write 200 MB/s) ----
start_sim node1 --cpus 8 --mem $((16 << 30)) --disk nullb0:ssd:400000000:200000000:100000:50000:$((100 << 30)) \
    --io-fill 0.9
wait_until 10 "node1 registered" sim_registered node1
AGENT=$(sim_agent_id node1)

# writer: 20 MB/s read + 40 MB/s write on nullb0 -> io cost 20/400 + 40/200 = 0.25; the sim
# measures 0.9 of each limit: 18 MB/s read, 36 MB/s write.
submit '{"id":"writer","name":"writer","role":"storage","command":["/bin/sleep","1000"],
  "resources":{"cpus":2,"mem":"1Gi","pids":100,"io":[{"disk":"nullb0","rbps":"20M","wbps":"40M"}]}}' >/dev/null
submit '{"id":"scrub","name":"scrub","command":["/bin/sleep","1000"],"resources":{"cpus":1,"mem":"512Mi"},
  "container":{"volumes":[{"name":"scrub-data","size":"2Gi","target":"/data"}]}}' >/dev/null
# 64 cpus exist nowhere: it stays PENDING with the allocator's reason.
submit '{"id":"huge","name":"huge","command":["/bin/true"],"resources":{"cpus":64,"mem":"1Gi"}}' >/dev/null
wait_until 15 "writer RUNNING" state_is writer RUNNING
wait_until 15 "scrub RUNNING" state_is scrub RUNNING
wait_until 10 "scrub-data ready" api_is /api/v1/volumes/scrub-data .state ready
wait_until 10 "huge pending with a reason" bash -c \
    "curl -s -H 'Authorization: Bearer $TOKEN' $M/api/v1/tasks/huge | jq -e '.pending_reason // \"\" | length > 0'"
REASON=$(task_field huge .pending_reason)
assert_match "huge's pending reason names the cpus it needs" "$REASON" "cpu"

# ---- HTTP: what is public, what is cached, what needs the token ----
hdr() { curl -sS -o /dev/null -D - "$@" | tr -d '\r'; }
H=$(hdr "$M/")
assert_match "GET / without a token" "$(head -1 <<<"$H")" " 200"
assert_match "/ is HTML" "$(grep -i '^content-type:' <<<"$H")" "text/html; charset=utf-8"
assert_match "/ is revalidated (names the assets of this build)" "$(grep -i '^cache-control:' <<<"$H")" "no-cache"
assert_match "/ has a CSP that allows nothing from elsewhere" "$(grep -i '^content-security-policy:' <<<"$H")" "default-src 'none'; script-src 'self'"
PAGE=$(curl -sS "$M/")
JS=$(grep -o 'ui/dashboard\.[0-9a-f]\{12\}\.js' <<<"$PAGE")
CSS=$(grep -o 'ui/dashboard\.[0-9a-f]\{12\}\.css' <<<"$PAGE")
assert_match "the page names its script by hash" "$JS" '^ui/dashboard\.[0-9a-f]{12}\.js$'
H=$(hdr "$M/$JS")
assert_match "script Content-Type" "$(grep -i '^content-type:' <<<"$H")" "text/javascript; charset=utf-8"
assert_match "hashed script cached for good" "$(grep -i '^cache-control:' <<<"$H")" "max-age=31536000, immutable"
assert_match "script nosniff" "$(grep -i '^x-content-type-options:' <<<"$H")" "nosniff"
assert_match "style sheet Content-Type" "$(hdr "$M/$CSS" | grep -i '^content-type:')" "text/css; charset=utf-8"
assert_eq "script served as built" "$(curl -sS "$M/$JS" | sha256sum | cut -c1-12)" "$(sed 's/.*dashboard\.\([0-9a-f]*\)\.js/\1/' <<<"$JS")"
assert_eq "an unknown asset" "$(curl -s -o /dev/null -w '%{http_code}' "$M/ui/dashboard.000000000000.js")" 404
assert_eq "index.html has one URL, /" "$(curl -s -o /dev/null -w '%{http_code}' "$M/ui/index.html")" 404
assert_eq "the data needs the token" "$(curl -s -o /dev/null -w '%{http_code}' "$M/api/v1/tasks")" 401
assert_eq "an isolation view needs the token" "$(curl -s -o /dev/null -w '%{http_code}' "$M/api/v1/tasks/writer/isolation")" 401
assert_match "nothing in the page's files is fetched from elsewhere" \
    "$(curl -sS "$M/" "$M/$JS" "$M/$CSS" | grep -oE '(https?:)?//[a-zA-Z0-9.-]+\.[a-z]{2,}' | grep -v 'www.w3.org' | sort -u | tr '\n' ' ')x" '^x$'

# ---- the master relays the agent's isolation view ----
ISO=$(api_body GET /api/v1/tasks/writer/isolation)
assert_eq "relayed: write limit in force" "$(jq -r '.limits.io[0].wbps' <<<"$ISO")" 40000000
assert_eq "relayed: measured write rate" "$(jq -r '.limits.io[0].measured.write_bps' <<<"$ISO")" 36000000
assert_eq "a pending task has no isolation view (409)" "$(api_status GET /api/v1/tasks/huge/isolation)" 409
assert_match "... and says why" "$(api_body GET /api/v1/tasks/huge/isolation | jq -r .error.message)" "PENDING: it is not placed"
assert_eq "an unknown task (404)" "$(api_status GET /api/v1/tasks/nosuch/isolation)" 404

# ---- the pages in Chromium ----
# One browser, one tab, over the DevTools protocol (dashboard-browser.py): each page is captured
# when what the check needs is on it, not after a fixed time. The first page has a wrong token;
# the next ones carry the right one in the URL fragment, as a user's link would.
el() { printf "document.getElementById('%s')" "$1"; }
BROWSER_START=$SECONDS
"$(dirname "$0")/dashboard-browser.py" "$CHROMIUM" "$WORK/profile" "$WORK" "$LOGDIR" \
    badtoken "$M/#token=wrong" "$(el error)" \
    overview "$M/#token=$TOKEN" "$(el tasks) && $(el pending) && $(el disks)" \
    disk "$M/#/disk/$AGENT/nullb0?token=$TOKEN" "+$(el disk-chart).dataset.samples >= 3" \
    task "$M/#/task/writer?token=$TOKEN" "/[0-9] %\$/.test($(el usage-cpu).textContent)" \
    pending "$M/#/task/huge?token=$TOKEN" "$(el task-pending-reason)" 2>>"$WORK/chromium.log" ||
    fail "a page did not show what it should: $(grep dashboard-browser "$WORK/chromium.log" | tr '\n' ' ')"
pass "Chromium rendered 5 pages in $((SECONDS - BROWSER_START)) s"
for s in badtoken overview disk task pending; do
    assert_match "screenshot $LOGDIR/dashboard-$s.png is a PNG" \
        "$(head -c 8 "$LOGDIR/dashboard-$s.png" | od -An -c | tr -d ' ')" '^211PNG\\r\\n032\\n$'
done

# text PAGE ID: the text of the element with that id on a captured page, as rendered.
text() { awk -F'\t' -v id="$2" '$1 == id { print $2; exit }' "${1%.html}.ids"; }
attr() { grep -o "id=\"$2\"[^>]*" "$1" | grep -o "$3=\"[^\"]*\"" | head -1 | cut -d'"' -f2; }

assert_match "without a good token the page asks for one" "$(grep -c 'id="token"' "$WORK/badtoken.html")" '^1$'
assert_match "a wrong token is refused in words" "$(text "$WORK/badtoken.html" error)" "refused the token: GET /api/v1/.*: 401"

F=$WORK/overview.html
assert_eq "overview: active agents" "$(text "$F" agents-ACTIVE)" "1 ACTIVE"
assert_eq "overview: running tasks" "$(text "$F" tasks-RUNNING)" "2 RUNNING"
assert_eq "overview: pending tasks" "$(text "$F" tasks-PENDING)" "1 PENDING"
assert_match "overview: cpus total / allocated / idle" "$(text "$F" resources)" "CPUs 8\.00 3\.00 5\.00"
assert_match "overview: memory total / allocated / idle" "$(text "$F" resources)" "Memory 16\.0 GiB 1\.5 GiB 14\.5 GiB"
ROW=$(text "$F" "disk-row-$AGENT-nullb0")
assert_match "overview: the disk's capacity" "$ROW" "node1:nullb0 ssd 400 MB/s / 200 MB/s"
assert_match "overview: the disk's allocated io cost" "$ROW" "25\.0 %"
assert_match "overview: the disk's allocated bandwidth" "$ROW" "20\.0 MB/s / 40\.0 MB/s"
assert_match "overview: the disk's idle share" "$ROW" "75\.0 % ≈ 150 MB/s of writes"
assert_match "overview: task list has writer" "$(text "$F" task-writer)" "^writer writer storage RUNNING node1 2\.00 1\.0 GiB nullb0 rbps 20\.0 MB/s, wbps 40\.0 MB/s"
assert_match "overview: task list has scrub" "$(text "$F" task-scrub)" "^scrub scrub default RUNNING node1 1\.00 512 MiB"
assert_match "overview: the volume, where it is and who mounts it" "$(text "$F" volume-scrub-data)" \
    "^scrub-data node1 nullb0 2\.0 GiB 4\.0 KiB ready scrub$"
assert_eq "overview: the pending task's reason, as the API has it" \
    "$(text "$F" pending-huge | sed -E 's/^huge huge default [0-9]+[smhd] //')" "$(tr -s ' \n' ' ' <<<"$REASON" | sed 's/ $//')"
assert_eq "the token left the address bar (and the history)" "$(text "$F" location)" "$M/#/"
assert_eq "... of every page" "$(text "$WORK/disk.html" location)" "$M/#/disk/$AGENT/nullb0"

F=$WORK/disk.html
assert_match "disk: calibrated capacity" "$(text "$F" disk-capacity)" "^read 400 MB/s, write 200 MB/s, 100 k IOPS read, 50\.0 k IOPS write$"
assert_match "disk: allocated io cost" "$(text "$F" disk-alloc-cost)" "^25\.0 %$"
assert_match "disk: allocated bandwidth" "$(text "$F" disk-alloc)" "^read 20\.0 MB/s, write 40\.0 MB/s, .* to 1 task"
assert_match "disk: eBPF-measured rates" "$(text "$F" disk-measured)" "^read 18\.0 MB/s, write 36\.0 MB/s"
assert_match "disk: the writer's limit against its measured rate" "$(text "$F" disk-task-writer)" \
    "^writer RUNNING 20\.0 MB/s 18\.0 MB/s 40\.0 MB/s 36\.0 MB/s 1\.8 ms"
SAMPLES=$(attr "$F" disk-chart data-samples)
assert_match "disk: the chart has polled history ($SAMPLES samples)" "$SAMPLES" '^([2-9]|[1-9][0-9]+)$'
assert_match "disk: the chart draws the measured write line" "$(grep -o '<polyline class="write" points="[^"]*"' "$F" | wc -l)" '^1$'

F=$WORK/task.html
assert_match "task: memory asked / in force / used" "$(text "$F" usage-mem)" "^Memory 1\.0 GiB 1\.0 GiB 922 MiB 90\.0 %$"
assert_match "task: pids" "$(text "$F" usage-pids)" "^PIDs 100 100 3 3\.0 %$"
assert_match "task: write limit against measured" "$(text "$F" usage-io-0-wbps)" "^nullb0 wbps 40\.0 MB/s 40\.0 MB/s 36\.0 MB/s 90\.0 %$"
CPU=$(text "$F" usage-cpu)
assert_match "task: cpu asked / in force / used / of the limit" "$CPU" "^CPUs 2\.00 2\.00 [0-9.]+ [0-9.]+ %$"
# The sim's CPU time grows at 0.9 of 2 cpus; the page derives the rate from two of its polls.
assert_within "task: cpus used, from two polls" "$(cut -d' ' -f4 <<<"$CPU")" 1.8 15
assert_eq "task page of the pending task: its reason" "$(text "$WORK/pending.html" task-pending-reason)" \
    "$(tr -s ' \n' ' ' <<<"$REASON" | sed 's/ $//')"

# ---- an agent that stops answering: the relay says so (502) ----
kill_sim node1
assert_eq "isolation of a task on a dead agent (502)" "$(api_status GET /api/v1/tasks/writer/isolation)" 502
assert_match "... naming the agent" "$(api_body GET /api/v1/tasks/writer/isolation | jq -r .error.code,.error.message | tr '\n' ' ')" \
    "^agent_unreachable task writer: its agent $AGENT did not answer"

assert_done
