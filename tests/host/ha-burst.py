#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Submit COUNT tasks to a set of masters through the Python client (clients/python), as fast as
THREADS callers can, and record every acknowledged one.

    ha-burst.py --masters URL,URL,URL --token-file F --count N --out FILE [--threads T]
                [--prefix P] [--spec JSON] [--deadline-s S]

Task i has id "<prefix>-<i>": a submission whose answer was lost (a master killed mid-request,
503 while no leader is known) is sent again with the same id, which the master treats as the same
task (docs/TASK-SPEC.md), until a 2xx or the deadline. Each 2xx is one line of FILE, written as
it comes: {"id", "at_ms" (wall clock), "state" (as answered), "master" (the one that answered,
redirects followed)}. The last
line is a summary: {"done": true, "acked": N, "retries": N, "errors": {message: count}}.
Exits 1 when some submission was never acknowledged.
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "clients", "python"))
import silo  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--masters", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--prefix", default="burst")
    ap.add_argument("--spec", default='{"name": "burst", "command": ["/bin/sleep", "1000"], '
                                      '"resources": {"cpus": 1}}')
    ap.add_argument("--deadline-s", type=float, default=60)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    spec = json.loads(args.spec)
    lock = threading.Lock()
    out = open(args.out, "w", buffering=1)
    next_i = [0]
    retries = [0]
    errors = {}
    missing = []
    end = time.monotonic() + args.deadline_s

    def worker():
        client = silo.Client(masters=args.masters, token_file=args.token_file, timeout=5)
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= args.count:
                return
            tid = f"{args.prefix}-{i:05d}"
            while True:
                try:
                    # The client's request path, to know which master answered after
                    # redirects (submit() keeps only the body).
                    resp, conn, url = client._open("POST", "/api/v1/tasks", dict(spec, id=tid),
                                                   client.timeout)
                    try:
                        t = json.loads(resp.read() or b"{}")
                    except (OSError, http.client.HTTPException, ValueError) as e:
                        raise silo.SiloConnectionError(f"the answer was cut off: {e}") from None
                    finally:
                        conn.close()
                    u = urllib.parse.urlsplit(url)
                    with lock:
                        out.write(json.dumps({"id": tid, "at_ms": int(time.time() * 1000),
                                              "state": t.get("state"),
                                              "master": f"{u.scheme}://{u.netloc}"}) + "\n")
                    break
                except silo.SiloError as e:
                    if e.status is not None and e.status not in (503,) and e.status < 500:
                        # Refused for good (400/409): an answer, but not an acknowledgement.
                        with lock:
                            errors[f"{e.status} {e.code}"] = errors.get(f"{e.status} {e.code}", 0) + 1
                        missing.append(tid)
                        break
                    with lock:
                        retries[0] += 1
                        key = str(e).split(" (")[0][:80]
                        errors[key] = errors.get(key, 0) + 1
                    if time.monotonic() > end:
                        missing.append(tid)
                        break
                    time.sleep(0.05)

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    acked = args.count - len(missing)
    out.write(json.dumps({"done": True, "acked": acked, "retries": retries[0],
                          "errors": errors, "missing": missing[:20]}) + "\n")
    out.close()
    return 0 if not missing else 1


if __name__ == "__main__":
    sys.exit(main())
