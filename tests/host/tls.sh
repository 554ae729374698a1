#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Mutual TLS on the host: certificates made with `siloctl tls`, a master with --tls-*, a
# sim-agent registering and running a task over HTTPS both ways, siloctl over TLS, and each
# refusal with its message (another CA, expired, revoked, no certificate, plain HTTP, the token
# alone), nothing changed by a refused request; a kept-alive connection refused at its next
# request once its certificate is revoked or expired; --health-listen serves /health only.
# Usage: tls.sh SILO-MASTER SIM-AGENT SILOCTL
ASSERT_SUITE=tls
. "$(dirname "$0")/master-lib.sh"
CTL=$(realpath "$3")
command -v certtool >/dev/null || skip_suite "certtool is not installed (Debian: gnutls-bin)"
command -v python3 >/dev/null || skip_suite "python3 is not installed"

T=$WORK/tls
# assert_eq / assert_match with the name last, as these checks read best.
eq() { assert_eq "$3" "$1" "$2"; }
match() { assert_match "$3" "$1" "$2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---- certificates ----
"$CTL" tls init --dir "$T" >/dev/null || fail "siloctl tls init"
eq "$(stat -c %a "$T/ca-key.pem")" 600 "the CA key is 0600"
out=$("$CTL" tls init --dir "$T" 2>&1) && fail "a second tls init replaced the CA"
match "$out" "already holds a CA.*--force" "a second tls init keeps the CA and says why"
"$CTL" tls cert --master m1 --ip 127.0.0.1 --dir "$T" >/dev/null || fail "tls cert --master"
"$CTL" tls cert --agent node-1 --ip 127.0.0.1 --dir "$T" >/dev/null || fail "tls cert --agent"
"$CTL" tls cert --agent node-9 --dir "$T" >/dev/null || fail "tls cert --agent without --ip"
"$CTL" tls cert --agent node-2 --ip 127.0.0.1 --dir "$T" >/dev/null || fail "tls cert --agent node-2"
"$CTL" tls cert --agent node-3 --ip 127.0.0.1 --dir "$T" >/dev/null || fail "tls cert --agent node-3"
"$CTL" tls cert --client ops --operator --dir "$T" >/dev/null || fail "tls cert --client --operator"
"$CTL" tls cert --client st --role storage --dir "$T" >/dev/null || fail "tls cert --client --role"
eq "$(stat -c %a "$T/node-1-key.pem")" 600 "a certificate's key is 0600"
info=$(certtool -i --infile "$T/node-1.pem")
match "$info" "Subject: O=silo:agent,CN=node-1" "the agent's certificate names it (CN) and its kind (O)"
match "$(grep -A3 'Key Purpose' <<<"$info" | paste -sd' ')" "TLS WWW Client.*TLS WWW Server" "an agent's certificate is a client and a server one"
match "$info" "IPAddress: 127.0.0.1" "a daemon's certificate names the --ip given"
info9=$(certtool -i --infile "$T/node-9.pem")
match "$info9" "Subject: O=silo:agent,CN=node-9" "node-9's certificate is made"
grep -q "IPAddress\|DNSname" <<<"$info9" && fail "a certificate without --ip/--dns names an address: $info9"
pass "a daemon's certificate names no localhost or 127.0.0.1 unless asked"
out=$("$CTL" tls cert --agent node-1-key --force --dir "$T" 2>&1) && fail "a certificate named node-1-key was made"
match "$out" "'node-1-key' ends in -key" "a name ending in -key is refused"
eq "$(head -n1 "$T/node-1-key.pem")" "$(head -n1 "$T/node-9-key.pem")" "node-1's key file is left a key"
match "$(certtool -i --infile "$T/ca.pem")" "Certificate Authority \(CA\): TRUE" "the CA is a CA"
match "$(certtool -i --infile "$T/st.pem")" "O=silo:role:storage" "a role client's certificate carries its role"
out=$("$CTL" tls cert --client x --dir "$T" 2>&1) && fail "a client certificate without a role was made"
match "$out" "--role ROLE or --operator" "a client certificate needs a role or --operator"

# Another CA's operator, and one of ours that expired (certtool: siloctl makes none in the past).
"$CTL" tls init --dir "$WORK/other" >/dev/null
"$CTL" tls cert --client ops --operator --dir "$WORK/other" >/dev/null
cat >"$WORK/old.tmpl" <<'EOF'
cn = "old"
organization = "silo:operator"
activation_date = "2020-01-01 00:00:00 UTC"
expiration_date = "2020-02-01 00:00:00 UTC"
tls_www_client
signing_key
EOF
certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$WORK/old-key.pem" 2>/dev/null
certtool --generate-certificate --load-privkey "$WORK/old-key.pem" --load-ca-certificate "$T/ca.pem" \
    --load-ca-privkey "$T/ca-key.pem" --template "$WORK/old.tmpl" --outfile "$WORK/old.pem" 2>/dev/null ||
    fail "certtool could not make the expired certificate"

# ---- a master with TLS ----
out=$("$MASTER_BIN" --listen 127.0.0.1:0 --state-dir "$WORK/bad" --tls-cert "$T/m1.pem" --tls-ca "$T/ca.pem" 2>&1) &&
    fail "a master started with --tls-cert and no --tls-key"
match "$out" "--tls-key is required with --tls-cert" "a missing TLS file is named"

HPORT=$(free_port)
"$MASTER_BIN" --listen 127.0.0.1:0 --state-dir "$WORK/state" --log-level debug \
    --tls-ca "$T/ca.pem" --tls-cert "$T/m1.pem" --tls-key "$T/m1-key.pem" --tls-crl "$T/crl.pem" \
    --health-listen "127.0.0.1:$HPORT" >>"$WORK/master.log" 2>&1 &
MPID=$!
wait_until 10 "the master listening" grep -q 'listening on .* (port [0-9]*)' "$WORK/master.log"
PORT=$(grep -o 'listening on .* (port [0-9]*)' "$WORK/master.log" | grep -o 'port [0-9]*' | cut -d' ' -f2)
URL=https://127.0.0.1:$PORT

OPS=(--cacert "$T/ca.pem" --cert "$T/ops.pem" --key "$T/ops-key.pem")
# master-lib's helpers over TLS with the operator's certificate (no token).
api() {
    curl -sS -X "$1" "${OPS[@]}" ${3:+-H 'Content-Type: application/json' -d "$3"} -w '\n%{http_code}' "$URL$2"
}
sim() {
    curl -sS -X "$2" "${OPS[@]}" ${4:+-d "$4"} "https://127.0.0.1:${SIM_PORT[$1]}$3"
}
wait_until 10 "the master healthy over HTTPS" curl -sf --cacert "$T/ca.pem" "$URL/health"
pass "the master serves HTTPS; /health needs no certificate"

# ---- an agent over TLS both ways: registration, heartbeats, a launch ----
start_sim node-1 --tls-ca "$T/ca.pem" --tls-cert "$T/node-1.pem" --tls-key "$T/node-1-key.pem" \
    --master "$URL"
wait_until 10 "node-1 registered over TLS" sim_registered node-1
pass "a sim-agent registers over mutual TLS"
ctl() { "$CTL" --master "$URL" --ca "$T/ca.pem" --cert "$T/ops.pem" --key "$T/ops-key.pem" "$@"; }
id=$(ctl -o json run --name t1 --cpus 1 --mem 64Mi -- /bin/true | jq -r .id)
[ -n "$id" ] && [ "$id" != null ] || fail "siloctl run over TLS"
wait_until 10 "t1 RUNNING on node-1 (a launch over HTTPS)" state_is "$id" RUNNING
pass "siloctl submits over TLS, the master launches on the agent over HTTPS"
match "$(ctl tasks)" "t1" "siloctl lists the tasks over TLS"
match "$(SILO_CA=$T/ca.pem SILO_CERT=$T/ops.pem SILO_KEY=$T/ops-key.pem "$CTL" --master "$URL" agents)" \
    "node-1" "siloctl takes \$SILO_CA, \$SILO_CERT, \$SILO_KEY"
py=$(PYTHONPATH="$(dirname "$0")/../../clients/python" python3 - "$PORT" "$T" <<'PY'
import sys
import silo
port, t = sys.argv[1], sys.argv[2]
c = silo.Client(f"127.0.0.1:{port}", ca=f"{t}/ca.pem", cert=f"{t}/ops.pem", key=f"{t}/ops-key.pem")
print(" ".join(sorted(task["name"] for task in c.list())), len(c.agents()))
try:
    silo.Client(f"127.0.0.1:{port}", ca=f"{t}/ca.pem", cert=f"{t}/st.pem", key=f"{t}/nope.pem")
except ValueError as e:
    print(e)
PY
)
match "$py" "^t1 1$" "the Python client lists tasks and agents over TLS (ca=, cert=, key=)"
match "$py" "key: .*/nope.pem is not a readable file" "the Python client names a missing TLS file"
n_tasks=$(api_body GET /api/v1/tasks | jq '.tasks | length')

# ---- an agent's certificate serving as the master is refused by the clients ----
AURL=https://127.0.0.1:${SIM_PORT[node-1]}
out=$("$CTL" --master "$AURL" --ca "$T/ca.pem" --cert "$T/ops.pem" --key "$T/ops-key.pem" tasks 2>&1) &&
    fail "siloctl took node-1 (an agent) for the master: $out"
match "$out" "presented the certificate of agent:node-1, not a master \(O=silo:master\)" \
    "an agent certificate serving as the master is refused by siloctl, naming both"
py=$(PYTHONPATH="$(dirname "$0")/../../clients/python" python3 - "${SIM_PORT[node-1]}" "$T" <<'PY' 2>&1
import sys
import silo
port, t = sys.argv[1], sys.argv[2]
try:
    silo.Client(f"127.0.0.1:{port}", ca=f"{t}/ca.pem", cert=f"{t}/ops.pem", key=f"{t}/ops-key.pem").list()
    print("accepted")
except Exception as e:
    print(e)
PY
)
match "$py" "presented the certificate of agent:node-1, not a master \(O=silo:master\)" \
    "an agent certificate serving as the master is refused by the Python client"
start_sim node-2 --tls-ca "$T/ca.pem" --tls-cert "$T/node-2.pem" --tls-key "$T/node-2-key.pem" --master "$AURL"
wait_until 10 "node-2's refusal of node-1 as its master" \
    grep -q "presented the certificate of agent:node-1, not a master" "$WORK/node-2.log"
pass "an agent certificate serving as the master is refused by a sim-agent, before it sends anything"
kill_sim node-2
eq "$(api_body GET /api/v1/agents | jq '[.agents[] | select(.hostname == "node-2")] | length')" 0 \
    "node-2 registered nowhere"

# ---- refusals: each says why, is logged, and changes nothing ----
spec='{"name": "evil", "command": ["/bin/true"], "resources": {"cpus": 1, "mem": "64Mi"}}'
refused() { # refused WHAT CURL-ARGS... : POST a task, expect 401 unauthenticated; the message in $msg
    local what=$1 out; shift
    out=$(curl -sS "$@" -X POST -H 'Content-Type: application/json' -d "$spec" -w '\n%{http_code}' "$URL/api/v1/tasks")
    eq "$(tail -n1 <<<"$out")" 401 "$what: 401"
    eq "$(sed '$d' <<<"$out" | jq -r .error.code)" unauthenticated "$what: code unauthenticated"
    msg=$(sed '$d' <<<"$out" | jq -r .error.message)
}
refused "another CA's certificate" --cacert "$T/ca.pem" --cert "$WORK/other/ops.pem" --key "$WORK/other/ops-key.pem"
match "$msg" "not signed by this cluster's CA" "another CA's certificate: the message says so"
refused "an expired certificate" --cacert "$T/ca.pem" --cert "$WORK/old.pem" --key "$WORK/old-key.pem"
match "$msg" "'old' expired at 2020-02-01T00:00:00Z" "an expired certificate: the message says when"
# 17 O values: one more than the server reads, refused rather than read in part.
{
    printf 'dn = "CN=many,O=silo:operator'; for i in $(seq 1 16); do printf ',O=silo:role:r%d' "$i"; done; printf '"\n'
    printf 'expiration_days = 2\ntls_www_client\nsigning_key\n'
} >"$WORK/many.tmpl"
certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$WORK/many-key.pem" 2>/dev/null
certtool --generate-certificate --load-privkey "$WORK/many-key.pem" --load-ca-certificate "$T/ca.pem" \
    --load-ca-privkey "$T/ca-key.pem" --template "$WORK/many.tmpl" --outfile "$WORK/many.pem" 2>/dev/null ||
    fail "certtool could not make the certificate with 17 O values"
refused "17 O values" --cacert "$T/ca.pem" --cert "$WORK/many.pem" --key "$WORK/many-key.pem"
match "$msg" "certificate 'many' has more than 16 O \(organization\) values" "17 O values: the message says so"
refused "no certificate" --cacert "$T/ca.pem"
match "$msg" "no client certificate" "no certificate: the message says so"
refused "the token alone" --cacert "$T/ca.pem" -H "Authorization: Bearer $TOKEN"
match "$msg" "no client certificate" "with TLS on, a bearer token is no credential"
eq "$(curl -sS --cacert "$T/ca.pem" --cert "$T/st.pem" --key "$T/st-key.pem" -o /dev/null -w '%{http_code}' "$URL/api/v1/tasks")" 200 \
    "the storage client is accepted before its revocation"
"$CTL" tls revoke "$T/st.pem" --dir "$T" >/dev/null || fail "siloctl tls revoke"
refused "a revoked certificate" --cacert "$T/ca.pem" --cert "$T/st.pem" --key "$T/st-key.pem"
match "$msg" "'st' is revoked" "a revoked certificate (CRL re-read without a restart): the message says so"
out=$("$CTL" --master "$URL" --ca "$T/ca.pem" --cert "$T/st.pem" --key "$T/st-key.pem" tasks 2>&1) &&
    fail "siloctl with a revoked certificate succeeded"
match "$out" "401 unauthenticated: client certificate 'st' is revoked" "siloctl shows the refusal"
plain=$(curl -sS -i -X POST -d "$spec" "http://127.0.0.1:$PORT/api/v1/tasks")
match "$plain" "^HTTP/1.1 400" "plain HTTP on the HTTPS port: 400"
match "$plain" "this port speaks HTTPS only" "plain HTTP: the answer says why, in plain text"
for m in "not signed by this cluster's CA" "expired at" "no client certificate" "is revoked" \
    "plain-HTTP request from 127.0.0.1:[0-9]* on the HTTPS port"; do
    match "$(grep 'refused' "$WORK/master.log")" "$m" "the master logs the refusal: $m"
done
eq "$(api_body GET /api/v1/tasks | jq '.tasks | length')" "$n_tasks" "no refused request created a task"
eq "$(api_body GET /api/v1/tasks | jq '[.tasks[] | select(.name == "evil")] | length')" 0 "no task 'evil'"

# ---- keep-alive: one handshake for several requests ----
conns=$(curl -sS "${OPS[@]}" -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects}\n' \
    "$URL/api/v1/tasks" "$URL/api/v1/agents" "$URL/health" | paste -sd' ')
eq "$conns" "1 0 0" "three requests on one kept-alive TLS connection"

# ---- a kept-alive connection loses what a revocation or an expiry takes away ----
# kept: revoked between two requests on one connection; soon: a certificate that expires then.
"$CTL" tls cert --client kept --role storage --dir "$T" >/dev/null || fail "tls cert --client kept"
soon_s=$(($(date +%s) + 6))
soon=$(date -u -d "@$soon_s" '+%Y-%m-%d %H:%M:%S UTC')
sed -e 's/"old"/"soon"/' -e 's/^activation_date.*/activation_date = "2020-01-01 00:00:00 UTC"/' \
    -e "s/^expiration_date.*/expiration_date = \"$soon\"/" "$WORK/old.tmpl" >"$WORK/soon.tmpl"
certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$WORK/soon-key.pem" 2>/dev/null
certtool --generate-certificate --load-privkey "$WORK/soon-key.pem" --load-ca-certificate "$T/ca.pem" \
    --load-ca-privkey "$T/ca-key.pem" --template "$WORK/soon.tmpl" --outfile "$WORK/soon.pem" 2>/dev/null ||
    fail "certtool could not make the soon-expiring certificate"
kept=$(python3 - "$PORT" "$T" "$CTL" "$WORK" "$soon_s" <<'PY'
import http.client, json, ssl, subprocess, sys, time
port, t, ctl, work, soon = sys.argv[1:6]
def conn(cert, key):
    ctx = ssl.create_default_context(cafile=f"{t}/ca.pem")
    ctx.load_cert_chain(cert, key)
    return http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=10)
def get(c):
    c.request("GET", "/api/v1/tasks")
    local = c.sock.getsockname()  # the connection this request went out on
    r = c.getresponse()
    body = r.read()
    msg = json.loads(body)["error"]["message"] if r.status != 200 else ""
    return r.status, local, (r.getheader("Connection") or "").lower(), msg
a, b = conn(f"{t}/kept.pem", f"{t}/kept-key.pem"), conn(f"{work}/soon.pem", f"{work}/soon-key.pem")
s1, l1, _, _ = get(a)
s2, l2, _, _ = get(b)
subprocess.run([ctl, "tls", "revoke", f"{t}/kept.pem", "--dir", t], check=True, stdout=subprocess.DEVNULL)
# Past the verifier's one-second look at the CRL, and past soon's expiry.
time.sleep(max(1.2, int(soon) + 1.5 - time.time()))
s3, l3, c3, m3 = get(a)
s4, l4, c4, m4 = get(b)
print(f"{s1} {s3} {l1 == l3} {c3}|{m3}")
print(f"{s2} {s4} {l2 == l4} {c4}|{m4}")
PY
) || fail "the keep-alive client failed"
revoked=$(sed -n 1p <<<"$kept")
expired=$(sed -n 2p <<<"$kept")
eq "${revoked%%|*}" "200 401 True close" "a kept-alive connection: 200, revoked, then 401 on the same connection, closed"
match "${revoked#*|}" "client certificate 'kept' is revoked" "the 401 after the revocation says so"
eq "${expired%%|*}" "200 401 True close" "a kept-alive connection: 200, expired, then 401 on the same connection, closed"
match "${expired#*|}" "client certificate 'soon' expired at" "the 401 after the expiry says so"
eq "$(api_body GET /api/v1/tasks >/dev/null && echo ok)" ok "the operator's requests still pass after the CRL changed"

# ---- --health-listen: plain /health, nothing else ----
eq "$(curl -sS "http://127.0.0.1:$HPORT/health" | jq -r .status)" ok "--health-listen serves /health in plain HTTP"
eq "$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HPORT/api/v1/tasks")" 404 \
    "--health-listen serves nothing but /health"
eq "$(curl -sS -o /dev/null -w '%{http_code}' -X POST -d "$spec" "http://127.0.0.1:$HPORT/api/v1/tasks")" 404 \
    "--health-listen takes no submission"

# ---- the master's calls to the agent need the agent's certificate from our CA ----
api DELETE "/api/v1/tasks/$id" >/dev/null
wait_until 10 "t1 killed over HTTPS" state_is "$id" KILLED
pass "a kill goes to the agent over HTTPS"

# ---- the master calls an agent only if the certificate there is that agent's ----
# node-3 registers node-2's address (node-2 small, so only node-3 fits the task): the launch
# reaches node-2, whose certificate is not node-3's, and is refused before it is sent.
kill_sim node-1
rm -f "$WORK/node-2.port" # its first run's port, or start_sim would read it back
start_sim node-2 --tls-ca "$T/ca.pem" --tls-cert "$T/node-2.pem" --tls-key "$T/node-2-key.pem" \
    --master "$URL" --cpus 1
start_sim node-3 --tls-ca "$T/ca.pem" --tls-cert "$T/node-3.pem" --tls-key "$T/node-3-key.pem" \
    --master "$URL" --address "127.0.0.1:${SIM_PORT[node-2]}"
wait_until 10 "node-2 and node-3 registered" sim_registered node-3
id3=$(ctl -o json run --name t3 --cpus 3 --mem 64Mi -- /bin/true | jq -r .id)
wait_until 10 "the master's refusal of node-2 as node-3" \
    grep -q "presented the certificate of agent:node-2, not agent 'node-3' (O=silo:agent, CN=node-3)" "$WORK/master.log"
pass "the master refuses a launch at an agent's address answered by another agent's certificate"
eq "$(sim node-2 GET /sim/state | jq .launch_requests)" 0 "nothing of the refused launch reached node-2"
assert_done
