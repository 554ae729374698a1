# SPDX-License-Identifier: Apache-2.0
"""silo.Client against a real silo-master with simulated agents: requests, errors, several
masters and redirects, the event stream (resumed across a master's kill -9), wait()."""

import http.server
import os
import sys
import threading
import time
import unittest
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import silo  # noqa: E402
from cluster import Cluster, ClusterTestCase  # noqa: E402

SPEC = {"command": ["/bin/true"], "resources": {"cpus": 0.5, "mem": "64Mi"}}


def spec(name, **kw):
    return dict(SPEC, name=name, **kw)


class Redirector(http.server.ThreadingHTTPServer):
    """A master that is not the leader: answers everything with a redirect to `target`."""

    def __init__(self, status, target=None):
        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self):
                self.server.requests += 1
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                self.send_response(status)
                self.send_header("Location", self.server.target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
            do_GET = do_POST = do_DELETE = _any

            def log_message(self, *a):
                pass
        self.requests = 0
        super().__init__(("127.0.0.1", 0), Handler)
        self.target = target or self.url  # none: a loop
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self):
        self.shutdown()
        self.server_close()


def dead_url():
    """A loopback port nobody listens on."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


class ClientTest(ClusterTestCase):
    MASTER_ARGS = ("--event-window", "200", "--event-heartbeat-s", "1")

    def test_requests(self):
        t = self.c.submit(spec("req"))
        self.assertEqual(t["state"], "PENDING")
        self.assertRegex(t["id"], r"^[0-9a-f-]{36}$", "submit gives the spec an id")
        again = self.c.submit(dict(spec("req"), id=t["id"]))
        self.assertEqual(again["id"], t["id"], "the same id and spec again is the same task")
        running = self.c.wait(t["id"], "RUNNING", timeout=10)
        self.assertEqual(running["state"], "RUNNING")
        got = self.c.get(t["id"])
        self.assertEqual((got["name"], got["agent_id"] is not None), ("req", True))
        listed = self.c.list()
        self.assertIn(t["id"], [x["id"] for x in listed])
        self.assertIsInstance(listed.event_index, int)
        self.assertIn(t["id"], [x["id"] for x in self.c.list(state="RUNNING")])
        self.assertEqual([a["hostname"] for a in self.c.agents()], ["n1"])
        self.assertEqual(self.c.agent(got["agent_id"])["hostname"], "n1")
        self.c.kill(t["id"])
        self.assertEqual(self.c.wait(t["id"], timeout=10)["state"], "KILLED")

    def test_errors(self):
        with self.assertRaises(silo.SiloError) as e:
            self.c.submit({"name": "bad", "command": ["/bin/true"], "resources": {"cpu": 2}})
        self.assertEqual((e.exception.status, e.exception.code), (400, "invalid_spec"))
        self.assertIn("resources: unknown key 'cpu'", e.exception.message)
        with self.assertRaises(silo.SiloError) as e:
            self.c.get("no-such-task")
        self.assertEqual((e.exception.status, e.exception.code), (404, "not_found"))
        self.assertIn("no-such-task", str(e.exception))
        t = self.c.submit(spec("conflict"))
        with self.assertRaises(silo.SiloError) as e:
            self.c.submit(dict(spec("conflict"), id=t["id"], command=["/bin/false"]))
        self.assertEqual(e.exception.status, 409)
        self.c.kill(t["id"])
        with self.assertRaises(silo.SiloError) as e:
            silo.Client(self.cluster.url, token="wrong").list()
        self.assertEqual((e.exception.status, e.exception.code), (401, "unauthorized"))
        missing = os.path.join(self.cluster.dir, "nope")
        with self.assertRaises(silo.SiloError) as e:
            silo.Client(self.cluster.url, token_file=missing)
        self.assertIn(missing, str(e.exception))
        with self.assertRaises(ValueError) as e:
            silo.Client("ftp://x")
        self.assertIn("'ftp://x' is not a master URL", str(e.exception))
        with self.assertRaises(ValueError):
            self.c.list(state="RUNING")
        with self.assertRaises(ValueError):
            self.c.events(types=["task_sate"])

    def test_masters(self):
        dead = dead_url()
        c = silo.Client([dead, self.cluster.url], token_file=self.cluster.token_file)
        self.assertIsInstance(c.list(), list)
        self.assertEqual(c.masters[c._current], self.cluster.url, "the one that answered is kept")
        with self.assertRaises(silo.SiloConnectionError) as e:
            silo.Client([dead, dead_url()], token="x").list()
        self.assertIsNone(e.exception.status)
        self.assertIn(dead, str(e.exception))
        for status in (307, 308):
            r = Redirector(status, self.cluster.url)
            try:
                c = silo.Client([r.url, self.cluster.url], token_file=self.cluster.token_file)
                t = c.submit(spec(f"redirected-{status}"))  # a POST keeps its method and body
                self.assertEqual(r.requests, 1)
                self.assertEqual(self.c.get(t["id"])["name"], f"redirected-{status}")
                self.assertEqual(c.kill(t["id"])["id"], t["id"])
            finally:
                r.close()
        # A redirect anywhere else is refused before anything (the token) is sent there: to
        # another server, and to the leader itself when it is not one of the masters given.
        other = Redirector(307)
        r = Redirector(307, other.url)
        try:
            with self.assertRaises(silo.SiloError) as e:
                silo.Client(r.url, token="secret-token").list()
            self.assertIn(f"redirected to {other.url}/api/v1/tasks, which is not one of the "
                          f"masters given ({r.url}; not followed)", str(e.exception))
            self.assertEqual((r.requests, other.requests), (1, 0))
            r.target = self.cluster.url
            n = len(self.c.list())
            with self.assertRaises(silo.SiloError) as e:
                silo.Client(r.url, token_file=self.cluster.token_file).submit(spec("not-followed"))
            self.assertIn(f"redirected to {self.cluster.url}/api/v1/tasks", str(e.exception))
            self.assertEqual(len(self.c.list()), n, "nothing was submitted")
        finally:
            r.close()
            other.close()
        loop = Redirector(307)
        try:
            with self.assertRaises(silo.SiloError) as e:
                silo.Client(loop.url, token="x").list()
            self.assertIn("more than 5 redirects", str(e.exception))
        finally:
            loop.close()

    def test_events(self):
        since = self.c.list().event_index
        ids = [self.c.submit(spec(f"ev-{i}"))["id"] for i in range(5)]
        seen = {i: [] for i in ids}
        with self.c.events(since=since, types=["task_state"]) as stream:
            stream.deadline = time.monotonic() + 20
            done = 0
            for e in stream:
                if e["task_id"] not in seen:
                    continue
                self.assertEqual(e["type"], "task_state")
                seen[e["task_id"]].append(e["state"])
                if e["state"] == "RUNNING":
                    self.cluster.finish("n1", e["task_id"], "FINISHED" if done % 2 else "FAILED",
                                        0 if done % 2 else 7)
                    done += 1
                if all(s and s[-1] in silo.TERMINAL_STATES for s in seen.values()):
                    break
        for tid, states in seen.items():
            self.assertEqual(states[0], "PENDING", f"{tid}: {states}")
            self.assertIn(states[-1], ("FINISHED", "FAILED"))
            self.assertEqual(len(states), len(set(states)), f"{tid}: each state once: {states}")
        # A filter on one task, and on the role of none of them.
        got = []
        with self.c.events(since=since, task=ids[0], types=["task_state"]) as stream:
            stream.deadline = time.monotonic() + 5
            for e in stream:
                got.append((e["task_id"], e["state"]))
                if e["state"] in silo.TERMINAL_STATES:
                    break
        self.assertEqual(got, [(ids[0], s) for s in seen[ids[0]]])
        with self.c.events(since=since, role="nobody") as stream:
            stream.deadline = time.monotonic() + 1
            self.assertEqual(list(stream), [])

    def test_heartbeats_hidden(self):
        since = self.c.list().event_index
        with self.c.events(since=since, role="nobody") as stream:
            stream.deadline = time.monotonic() + 2.5  # two heartbeats at least
            self.assertEqual(list(stream), [])
        self.assertGreaterEqual(stream.last_index, since, "a heartbeat's index is kept")

    def test_wait_errors(self):
        t = self.c.submit(spec("waiter"))
        with self.assertRaises(TimeoutError):
            self.c.wait(t["id"], "FINISHED", timeout=1)
        self.c.wait(t["id"], "RUNNING", timeout=10)
        self.cluster.finish("n1", t["id"], "FAILED", 3)
        with self.assertRaises(silo.TaskEnded) as e:
            self.c.wait(t["id"], "FINISHED", timeout=10)
        self.assertEqual(e.exception.task["state"], "FAILED")


class FakeStream(http.server.ThreadingHTTPServer):
    """An event stream that misbehaves as a network and a master may: each connection gets
    the lines of the next script, then is closed."""

    def __init__(self, scripts):
        self.scripts, self.paths = list(scripts), []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                self.server.paths.append(self.path)
                lines = self.server.scripts.pop(0)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in lines:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                self.close_connection = True  # cut: no last chunk

            def log_message(self, *a):
                pass
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self):
        self.shutdown()
        self.server_close()


class StreamTest(unittest.TestCase):
    """The iterator against a scripted server: resumption, duplicates, cut lines, the
    master's "too slow" line."""

    def test_resume(self):
        ev = lambda i: b'{"index": %d, "type": "task_state", "task_id": "t", "state": "RUNNING"}\n' % i
        fake = FakeStream([
            [ev(5), ev(6), b'{"type": "error", "message": "consumer too slow: 4 MiB behind"}\n'],
            [ev(6), ev(7), b'{"type": "heartbeat", "index": 9}\n', b'{"index": 10, "ty'],
            [ev(10), ev(11)],
        ])
        self.addCleanup(fake.close)
        c = silo.Client(f"http://127.0.0.1:{fake.server_address[1]}", token="t")
        stream = c.events(since=4, task="t", types=["task_state"])
        got = []
        for e in stream:
            got.append(e["index"])
            if e["index"] == 11:
                stream.close()
        self.assertEqual(got, [5, 6, 7, 10, 11], "each event once, a cut line never parsed")
        self.assertEqual(fake.paths, ["/api/v1/events?since=4&task=t&type=task_state",
                                      "/api/v1/events?since=6&task=t&type=task_state",
                                      "/api/v1/events?since=9&task=t&type=task_state"])
        self.assertEqual(stream.disconnect_reason, "consumer too slow: 4 MiB behind")

    def test_line_too_long(self):
        # An oversize line is an error, not a cut connection to resume from (that would read
        # the same line again, forever).
        fake = FakeStream([[b'{"index": 5, "type": "task_state", "message": "' + b"x" * 100 + b'"}\n']] * 3)
        self.addCleanup(fake.close)
        c = silo.Client(f"http://127.0.0.1:{fake.server_address[1]}", token="t")
        with mock.patch("silo.events.MAX_LINE", 64), self.assertRaises(silo.SiloError) as e:
            with c.events(since=4) as stream:
                list(stream)
        self.assertIn("the event stream sent a line longer than 64 bytes", str(e.exception))
        self.assertEqual(len(fake.paths), 1, "no reconnection")


class RedirectRuleTest(unittest.TestCase):
    """Which redirect targets are followed: the masters' own scheme, host and port only."""

    def test_rule(self):
        c = silo.Client(["http://m1:5050", "https://M2", "m3"], token="t")
        for target in ("http://m1:5050/api/v1/tasks", "https://m2:443/x", "http://m3:80/x",
                       "HTTP://M1:5050/x"):
            c._redirect_check("GET", "http://m1:5050/x", target, 307)  # followed
        for src, target in (("http://m1:5050/x", "http://m1:5051/x"),
                            ("http://m1:5050/x", "https://m1:5050/x"),
                            ("http://m1:5050/x", "http://evil:5050/x"),
                            ("http://m1:5050/x", "ftp://m1:5050/x"),
                            ("http://m1:5050/x", "http://m2:443/x"),
                            ("https://m2/x", "http://m1:5050/x")):  # a downgrade, even to a master
            with self.assertRaises(silo.SiloError, msg=target) as e:
                c._redirect_check("GET", src, target, 307)
            self.assertIn(f"redirected to {target}, which is", str(e.exception))


class RestartTest(unittest.TestCase):
    """The stream resumed across a kill -9 of the master, and a since older than the window."""

    def setUp(self):
        self.cluster = Cluster(master_args=["--event-window", "20"])
        self.addCleanup(self.cluster.close)
        self.cluster.start_master()
        self.cluster.start_sim("n1")
        self.c = silo.Client(self.cluster.url, token_file=self.cluster.token_file, timeout=5)

    def test_resume_after_master_kill9(self):
        since = self.c.list().event_index
        first = [self.c.submit(spec(f"r-{i}"))["id"] for i in range(3)]
        stream = self.c.events(since=since, reconnect_timeout=30)
        stream.deadline = time.monotonic() + 40
        indexes, states = [], {}
        restarted = False
        for e in stream:
            indexes.append(e["index"])
            if e["type"] == "task_state":
                states.setdefault(e["task_id"], []).append(e["state"])
            running = [t for t in first if states.get(t, [None])[-1] == "RUNNING"]
            if not restarted and len(running) == len(first):
                self.cluster.kill9_master()
                self.cluster.start_master()
                restarted = True
                later = [self.c.submit(spec(f"r2-{i}"))["id"] for i in range(2)]
                for t in first:
                    self.cluster.finish("n1", t)
            if restarted and all(states.get(t, [None])[-1] == "FINISHED" for t in first) and \
                    all(states.get(t, [None])[-1] == "RUNNING" for t in later):
                break
        stream.close()
        self.assertTrue(restarted)
        self.assertEqual(indexes, list(range(since + 1, since + 1 + len(indexes))),
                         "every event once, in order, across the restart")
        for t in first:
            self.assertEqual(states[t][0], "PENDING")
            self.assertEqual(states[t][-1], "FINISHED")

    def test_gone(self):
        since = self.c.list().event_index
        for i in range(15):  # PENDING, placed, STAGING, ... : more than the window of 20
            t = self.c.submit(spec(f"g-{i}"))
            self.c.kill(t["id"])
        # The master trims the window on its tick: ask until it has.
        gone, end = None, time.monotonic() + 5
        while gone is None and time.monotonic() < end:
            try:
                with self.c.events(since=since) as stream:
                    stream.deadline = time.monotonic() + 0.2
                    for _ in stream:
                        pass
            except silo.EventsGone as e:
                gone = e
        self.assertIsNotNone(gone, f"since={since} is answered 410 once the window moved past it")
        self.assertEqual((gone.status, gone.code), (410, "gone"))
        self.assertIn("re-list", gone.message)
        # The remedy the message names works.
        tasks = self.c.list()
        with self.c.events(since=tasks.event_index) as stream:
            stream.deadline = time.monotonic() + 0.5
            after = [e["index"] for e in stream]
        self.assertEqual(after, list(range(tasks.event_index + 1, tasks.event_index + 1 + len(after))))


if __name__ == "__main__":
    unittest.main()
