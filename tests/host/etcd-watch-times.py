#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Print when each change of one etcd key arrives ("<unix ms> PUT|DELETE <create_revision>", after
# "<unix ms> CREATED 0" once the watch is open),
# watching it on etcd's JSON gateway: the HA suites time a failover from etcd's own view (the
# old leader's key deleted at its lease's expiry, the new leader's key created).
# Usage: etcd-watch-times.py http://127.0.0.1:2379 /silo/leader
import base64
import json
import sys
import time
import urllib.request

url, key = sys.argv[1], sys.argv[2]
body = json.dumps({"create_request": {"key": base64.b64encode(key.encode()).decode()}})
with urllib.request.urlopen(urllib.request.Request(url + "/v3/watch", data=body.encode())) as r:
    for line in r:
        now = time.time_ns() // 1000000
        result = json.loads(line).get("result", {})
        if result.get("created"):
            print(now, "CREATED", 0, flush=True)  # watching from here on
        for ev in result.get("events", []):
            kind = ev.get("type", "PUT")
            print(now, kind, ev.get("kv", {}).get("create_revision", "0"), flush=True)
