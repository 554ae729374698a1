# SPDX-License-Identifier: Apache-2.0
"""A real silo-master and simulated agents (tests/host/sim-agent) on loopback for the client's
tests: $SILO_MASTER_BIN and $SILO_SIM_AGENT_BIN name the binaries (tests/host/python-client.sh
sets them from the build)."""

import json
import os
import sys
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import silo  # noqa: E402


def _wait(what, check, timeout=10.0, interval=0.05):
    end = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Cluster:
    """One master (restartable on its port, with its state) and named sim-agents."""

    def __init__(self, master_args=()):
        self.master_bin = os.environ.get("SILO_MASTER_BIN")
        self.sim_bin = os.environ.get("SILO_SIM_AGENT_BIN")
        if not self.master_bin or not self.sim_bin:
            raise unittest.SkipTest("SILO_MASTER_BIN and SILO_SIM_AGENT_BIN are not set "
                                    "(run tests/host/python-client.sh)")
        self.dir = tempfile.mkdtemp(prefix="silo-py-test.")
        self.token = secrets.token_hex(32)
        self.token_file = os.path.join(self.dir, "token")
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.token + "\n")
        self.master_args = list(master_args)
        self.master = None
        self.port = 0
        self.sims = {}
        self._logs = []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start_master(self):
        log = open(os.path.join(self.dir, "master.log"), "a")
        self._logs.append(log)
        start = log.tell()
        self.master = subprocess.Popen(
            [self.master_bin, "--listen", f"127.0.0.1:{self.port}", "--state-dir",
             os.path.join(self.dir, "state"), "--token-file", self.token_file,
             "--heartbeat-interval-ms", "200"] + self.master_args,
            stdout=log, stderr=subprocess.STDOUT)

        def up():
            if self.master.poll() is not None:
                raise AssertionError(f"silo-master exited with {self.master.returncode}:\n"
                                     + self.log_tail("master.log"))
            if not self.port:
                with open(os.path.join(self.dir, "master.log")) as f:
                    f.seek(start)
                    m = re.search(r"listening on .* \(port (\d+)\)", f.read())
                if not m:
                    return False
                self.port = int(m.group(1))
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        _wait("silo-master to answer /health", up)

    def kill9_master(self):
        self.master.send_signal(signal.SIGKILL)
        self.master.wait()
        self.master = None

    def start_sim(self, name, *args):
        port_file = os.path.join(self.dir, name + ".port")
        log = open(os.path.join(self.dir, name + ".log"), "a")
        self._logs.append(log)
        p = subprocess.Popen([self.sim_bin, "--master", self.url, "--token-file", self.token_file,
                              "--hostname", name, "--port-file", port_file] + list(args),
                             stdout=log, stderr=subprocess.STDOUT)
        self.sims[name] = {"proc": p}
        _wait(f"sim-agent {name}'s port", lambda: os.path.exists(port_file) and os.path.getsize(port_file))
        with open(port_file) as f:
            self.sims[name]["url"] = f"http://127.0.0.1:{int(f.read())}"
        _wait(f"sim-agent {name} registered", lambda: self.sim_state(name).get("agent_id"))

    def sim(self, name, method, path, body=None):
        req = urllib.request.Request(self.sims[name]["url"] + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def sim_state(self, name):
        return self.sim(name, "GET", "/sim/state")

    def finish(self, name, task_id, state="FINISHED", exit_code=0):
        self.sim(name, "POST", "/sim/finish/" + task_id, {"state": state, "exit_code": exit_code})

    def log_tail(self, name, n=30):
        try:
            with open(os.path.join(self.dir, name)) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def close(self):
        for s in self.sims.values():
            s["proc"].kill()
            s["proc"].wait()
        if self.master is not None:
            self.master.kill()
            self.master.wait()
        for f in self._logs:
            f.close()
        if os.environ.get("KEEP_WORK"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class Executor(threading.Thread):
    """Plays the tasks on the sim-agents: each task RUNNING there ends after `delay` s as
    `decide(task)` says (a (state, exit_code) pair; task is the master's view, with its spec)."""

    def __init__(self, cluster, client, decide, delay=0.05):
        super().__init__(daemon=True)
        self.cluster, self.client, self.decide, self.delay = cluster, client, decide, delay
        self.done = set()
        self.ended = []
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stopping.is_set():
                for name in list(self.cluster.sims):
                    for tid, state in self.cluster.sim_state(name)["tasks"].items():
                        if state != "RUNNING" or tid in self.done:
                            continue
                        try:
                            task = self.client.get(tid)
                        except silo.SiloConnectionError:
                            continue  # the master is restarting: next round
                        self.done.add(tid)
                        end = self.decide(task)
                        if end is None:
                            continue
                        time.sleep(self.delay)
                        self.cluster.finish(name, tid, *end)
                        self.ended.append((tid, end[0]))
                self.stopping.wait(0.05)
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.error = e

    def stop(self):
        self.stopping.set()
        self.join(10)
        if self.error:
            raise self.error


class ClusterTestCase(unittest.TestCase):
    """Tests sharing one cluster: a master with MASTER_ARGS and one sim-agent per name in SIMS;
    self.c is a client of it."""

    MASTER_ARGS = ()
    SIMS = ("n1",)

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(master_args=cls.MASTER_ARGS)
        try:
            cls.cluster.start_master()
            for name in cls.SIMS:
                cls.cluster.start_sim(name)
        except BaseException:
            cls.cluster.close()
            raise
        cls.c = silo.Client(cls.cluster.url, token_file=cls.cluster.token_file, timeout=10)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()
