# SPDX-License-Identifier: Apache-2.0
"""silo.framework against a real silo-master with simulated agents: N tasks, a failure
resubmitted, retries running out, stop() killing what is left, and a restarted framework
taking over its tasks (list, then stream from the list's event_index)."""

import collections
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import silo  # noqa: E402
from silo.framework import Framework  # noqa: E402
from cluster import Cluster, ClusterTestCase, Executor  # noqa: E402

RES = {"cpus": 0.25, "mem": "32Mi"}


def env(task):
    return task["spec"].get("env", {})


class FrameworkTest(ClusterTestCase):
    SIMS = ("a", "b")

    def executor(self, decide):
        ex = Executor(self.cluster, self.c, decide)
        ex.start()
        self.addCleanup(ex.stop)
        return ex

    def tasks_of(self, name):
        return [t for t in self.c.list() if t["name"].startswith(name + "-")]

    def test_resubmits_the_failure(self):
        # Slot 1 fails on its first attempt only (as a task whose first run finds no marker).
        self.executor(lambda t: ("FAILED", 3) if env(t)["SILO_SLOT"] == "1" and
                      env(t)["SILO_ATTEMPT"] == "0" else ("FINISHED", 0))
        fw = Framework(self.c, "fw-retry", ["/bin/run-shard"], RES, count=4, role="fw",
                       max_retries=2)
        self.assertTrue(fw.run(handle_signals=False))
        self.assertEqual([s.state for s in fw.slots], ["FINISHED"] * 4)
        self.assertEqual([s.attempt for s in fw.slots], [0, 1, 0, 0])
        self.assertEqual(len(fw.slots[1].failures), 1)
        self.assertEqual(fw.slots[1].failures[0]["exit_code"], 3)
        tasks = self.tasks_of("fw-retry")
        self.assertEqual(len(tasks), 5, "4 tasks and one resubmission")
        self.assertEqual(collections.Counter(t["state"] for t in tasks), {"FINISHED": 4, "FAILED": 1})
        self.assertEqual({t["role"] for t in tasks}, {"fw"})
        t = tasks[0]
        self.assertEqual((t["spec"]["command"], t["spec"]["resources"]["mem"]),
                         (["/bin/run-shard"], 32 << 20))

    def test_retries_run_out(self):
        self.executor(lambda t: ("FAILED", 1) if env(t)["SILO_SLOT"] == "0" else ("FINISHED", 0))
        fw = Framework(self.c, "fw-out", ["/bin/x"], RES, count=2, max_retries=1)
        self.assertFalse(fw.run(handle_signals=False))
        self.assertEqual((fw.slots[0].state, fw.slots[0].attempt, len(fw.slots[0].failures)),
                         ("FAILED", 1, 2))
        self.assertEqual(fw.slots[1].state, "FINISHED")
        self.assertEqual(len(self.tasks_of("fw-out")), 3)

    def test_stop_kills_what_is_left(self):
        self.executor(lambda t: ("FINISHED", 0) if env(t)["SILO_SLOT"] == "0" else None)
        fw = Framework(self.c, "fw-stop", ["/bin/x"], RES, count=3)
        result = []
        th = threading.Thread(target=lambda: result.append(fw.run(handle_signals=False)))
        th.start()
        end = time.monotonic() + 10
        while time.monotonic() < end and \
                [s.state for s in fw.slots] != ["FINISHED", "RUNNING", "RUNNING"]:
            time.sleep(0.05)
        self.assertEqual([s.state for s in fw.slots], ["FINISHED", "RUNNING", "RUNNING"])
        fw.stop()
        th.join(15)
        self.assertEqual(result, [False])
        self.assertEqual(sorted(t["state"] for t in self.tasks_of("fw-stop")),
                         ["FINISHED", "KILLED", "KILLED"])

    def test_restart_takes_over(self):
        plan = {}  # task id -> end, set by the test while the framework is "down"
        ex = self.executor(lambda t: plan.get(t["id"]))
        args = (self.c, "fw-restart", ["/bin/x"], RES)
        first = Framework(*args, count=3, max_retries=2)
        first._reconcile()  # submitted, then the framework dies (no stop, no kill)
        ids = [s.task_id for s in first.slots]
        for i in ids:
            self.c.wait(i, "RUNNING", timeout=10)
        # While it is down: slot 0 finishes, slot 1 fails, slot 2 keeps running.
        self.cluster.finish(self.sim_of(ids[0]), ids[0], "FINISHED", 0)
        self.cluster.finish(self.sim_of(ids[1]), ids[1], "FAILED", 9)
        self.c.wait(ids[1], "FAILED", timeout=10)
        second = Framework(*args, count=3, max_retries=2)
        retry = second._task_id(second.slots[1], 1)
        plan[retry] = ("FINISHED", 0)
        result = []
        th = threading.Thread(target=lambda: result.append(second.run(handle_signals=False)))
        th.start()
        self.cluster.finish(self.sim_of(ids[2]), ids[2], "FINISHED", 0)
        th.join(15)
        self.assertEqual(result, [True])
        self.assertEqual([s.task_id for s in second.slots], [ids[0], retry, ids[2]],
                         "the restarted framework took over slots 0 and 2, resubmitted slot 1")
        self.assertEqual(len(self.tasks_of("fw-restart")), 4, "nothing submitted twice")
        self.assertIn(retry, [t for t, _ in ex.ended])

    def test_example_sigint(self):
        """examples/framework.py, interrupted: it kills its tasks and exits 1."""
        here = os.path.dirname(os.path.abspath(__file__))
        example = os.path.join(here, "..", "..", "..", "examples", "framework.py")
        proc = subprocess.Popen(
            [sys.executable, example, "--master", self.cluster.url, "--token-file",
             self.cluster.token_file, "--name", "fw-int", "--count", "2", "--", "/bin/sleep", "1d"],
            env=dict(os.environ, PYTHONPATH=os.path.join(here, "..")),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            end = time.monotonic() + 10
            while time.monotonic() < end and \
                    [t["state"] for t in self.tasks_of("fw-int")] != ["RUNNING", "RUNNING"]:
                time.sleep(0.05)
            self.assertEqual([t["state"] for t in self.tasks_of("fw-int")], ["RUNNING", "RUNNING"])
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=15)
        finally:
            proc.kill()
            proc.wait()
        self.assertEqual(proc.returncode, 1, out)
        self.assertEqual([t["state"] for t in self.tasks_of("fw-int")], ["KILLED", "KILLED"])
        self.assertRegex(out, r"slot 0: KILLED after 1 attempt\(s\)")

    def sim_of(self, task_id):
        agent = self.c.get(task_id)["agent_id"]
        return next(n for n in self.cluster.sims if self.cluster.sim_state(n)["agent_id"] == agent)

    def test_bad_arguments(self):
        with self.assertRaises(ValueError) as e:
            Framework(self.c, "no spaces", ["/bin/x"])
        self.assertIn("name: 'no spaces'", str(e.exception))
        with self.assertRaises(ValueError):
            Framework(self.c, "x", "/bin/x")
        with self.assertRaises(ValueError):
            Framework(self.c, "x", ["/bin/x"], count=0)
        with self.assertRaises(ValueError) as e:
            Framework(self.c, "x", ["/bin/x"], spec={"id": "y"})
        self.assertIn("spec: 'id'", str(e.exception))


class MasterRestartTest(unittest.TestCase):
    """A framework running through a kill -9 of the master: the stream resumes, nothing is
    missed or submitted twice."""

    def test_framework_through_master_kill9(self):
        cluster = Cluster()
        self.addCleanup(cluster.close)
        cluster.start_master()
        cluster.start_sim("n1")
        c = silo.Client(cluster.url, token_file=cluster.token_file, timeout=5)
        # Slot 2 ends only once the master is back.
        ex = Executor(cluster, c, lambda t: None if env(t)["SILO_SLOT"] == "2" else ("FINISHED", 0))
        ex.start()
        self.addCleanup(ex.stop)
        fw = Framework(c, "fw-m", ["/bin/x"], RES, count=3, max_retries=1)
        result = []
        th = threading.Thread(target=lambda: result.append(fw.run(handle_signals=False)))
        th.start()
        end = time.monotonic() + 10
        while time.monotonic() < end and [s.state for s in fw.slots] != ["FINISHED", "FINISHED", "RUNNING"]:
            time.sleep(0.05)
        self.assertEqual([s.state for s in fw.slots], ["FINISHED", "FINISHED", "RUNNING"])
        cluster.kill9_master()
        time.sleep(0.5)  # the framework's stream is down meanwhile
        cluster.start_master()
        cluster.finish("n1", fw.slots[2].task_id)
        th.join(30)
        self.assertEqual(result, [True])
        self.assertEqual([s.attempt for s in fw.slots], [0, 0, 0])
        self.assertEqual(sorted(t["state"] for t in c.list() if t["name"].startswith("fw-m-")),
                         ["FINISHED"] * 3, "nothing submitted twice")


if __name__ == "__main__":
    unittest.main()
