#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Event-stream client for tests/host/master-events.sh (Debian's python3, standard library only).
#
#   consume URL TOKEN OUT SINCE UNTIL_FINISHED  follow the stream from SINCE, reconnecting with
#                           since=<last index received> when the master goes away, until
#                           UNTIL_FINISHED tasks reached FINISHED; every line to OUT (JSONL)
#   read URL TOKEN QUERY OUT    one connection: every line until the first heartbeat, to OUT
#   submit URL TOKEN PREFIX N [RATE]  submit N tasks PREFIX-<i> (8 at a time, or RATE a second
#                               from one thread; retried across restarts; odd ones in role "alpha")
#   check URL TOKEN OUT N       every index once, in order; each task's task_state events equal
#                               its history's applied states; N tasks FINISHED
#   stall URL TOKEN OUT         open a stream, never read it, then (on SIGUSR1) read what is left
#                               until the server closes it; its lines to OUT
import http.client
import json
import signal
import socket
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor


def connect(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def call(url, token, method, path, body=None):
    c = connect(url)
    try:
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        return r.status, json.loads(data) if data else None
    finally:
        c.close()


def stream(url, token, query):
    c = connect(url)
    c.request("GET", "/api/v1/events" + query, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    return c, r


def consume(url, token, out, since, until_finished):
    finished, last, reconnects = set(), since, 0
    deadline = time.monotonic() + 150
    with open(out, "w", buffering=1) as f:
        while len(finished) < until_finished and time.monotonic() < deadline:
            try:
                c, r = stream(url, token, "?since=%d" % last)
                if r.status == 503:
                    # Not elected yet (a master on etcd after its restart): reconnect.
                    c.close()
                    raise ConnectionError("503 from a master not leading yet")
                if r.status != 200:
                    sys.exit("consume: since=%d: HTTP %d: %s" % (last, r.status, r.read()))
                while len(finished) < until_finished and time.monotonic() < deadline:
                    line = r.readline()
                    if not line:
                        raise ConnectionError("end of stream")
                    e = json.loads(line)
                    if e["type"] == "heartbeat":
                        continue
                    f.write(line.decode())
                    last = e["index"]
                    if e["type"] == "task_state" and e["state"] == "FINISHED":
                        finished.add(e["task_id"])
                c.close()
            except (OSError, http.client.HTTPException, ValueError):
                reconnects += 1
                time.sleep(0.1)
    print("consumed up to index %d, %d tasks finished, %d reconnects" % (last, len(finished), reconnects))
    if len(finished) < until_finished:
        sys.exit("consume: only %d of %d tasks FINISHED" % (len(finished), until_finished))


def read_until_heartbeat(url, token, query, out):
    c, r = stream(url, token, query)
    with open(out, "w") as f:
        if r.status != 200:
            f.write(json.dumps({"status": r.status, "body": json.loads(r.read())}) + "\n")
            return
        while True:
            line = r.readline()
            if not line or json.loads(line)["type"] == "heartbeat":
                break
            f.write(line.decode())
    c.close()


def submit(url, token, prefix, n, rate=0):
    def one(i):
        spec = {"id": "%s-%d" % (prefix, i), "name": "%s-%d" % (prefix, i), "command": ["/bin/true"],
                "role": "alpha" if i % 2 else "default",
                "resources": {"cpus": 0.01, "mem": "16Mi"}}
        for _ in range(300):
            try:
                status, body = call(url, token, "POST", "/api/v1/tasks", spec)
                if status in (200, 201):
                    return
                if status == 503:
                    # A master on etcd answers 503 no_leader from its start until it is
                    # elected: a restart, as for a refused connection.
                    time.sleep(0.1)
                    continue
                sys.exit("submit %s: HTTP %d: %s" % (spec["id"], status, body))
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)  # the master is restarting
        sys.exit("submit %s: the master never answered" % spec["id"])
    if rate:
        # Paced: a steady load, so what is measured meanwhile is not a burst's queueing.
        start = time.monotonic()
        for i in range(n):
            time.sleep(max(0, start + i / rate - time.monotonic()))
            one(i)
        return
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))


def check(url, token, out, n):
    events = [json.loads(l) for l in open(out)]
    idx = [e["index"] for e in events]
    if idx != list(range(1, len(idx) + 1)):
        dup = len(idx) - len(set(idx))
        sys.exit("indexes are not 1..%d once each in order (%d duplicates)" % (len(idx), dup))
    states = {}
    for e in events:
        if e["type"] == "task_state":
            states.setdefault(e["task_id"], []).append(e["state"])
    status, body = call(url, token, "GET", "/api/v1/tasks")
    tasks = [t["id"] for t in body["tasks"]]
    finished = sum(1 for t in body["tasks"] if t["state"] == "FINISHED")
    if finished < n:
        sys.exit("%d of %d tasks FINISHED" % (finished, n))
    conn = connect(url)
    bad = 0
    for tid in tasks:
        conn.request("GET", "/api/v1/tasks/" + tid, headers={"Authorization": "Bearer " + token})
        t = json.loads(conn.getresponse().read())
        want = [h["state"] for h in t["history"] if h["applied"]]
        if states.get(tid) != want:
            bad += 1
            if bad < 4:
                print("task %s: stream %s, history %s" % (tid, states.get(tid), want))
    if bad:
        sys.exit("%d of %d tasks: the stream's states differ from the history" % (bad, len(tasks)))
    print("%d events, %d tasks, each task's states exactly once and in order" % (len(idx), len(tasks)))


def stall(url, token, out):
    u = urllib.parse.urlsplit(url)
    s = socket.socket()
    # A small receive window: the master's send path fills after a few events, not megabytes.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((u.hostname, u.port))
    s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               "Authorization: Bearer %s\r\n\r\n" % token).encode())
    print("stalled consumer at %s" % (s.getsockname(),), flush=True)
    go = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: go.set())
    go.wait(60)
    s.settimeout(10)
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except OSError as e:
        print("stall: %s" % e)
    with open(out, "wb") as f:
        f.write(data)


cmd = sys.argv[1]
if cmd == "consume":
    consume(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
elif cmd == "read":
    read_until_heartbeat(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
elif cmd == "submit":
    submit(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]),
           float(sys.argv[6]) if len(sys.argv) > 6 else 0)
elif cmd == "check":
    check(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
elif cmd == "stall":
    stall(sys.argv[2], sys.argv[3], sys.argv[4])
else:
    sys.exit("unknown command " + cmd)
