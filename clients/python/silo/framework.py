# SPDX-License-Identifier: Apache-2.0
"""A small framework helper in the spirit of a Mesos scheduler: run N copies of a command with
given resources, follow them through the event stream, resubmit the failed ones up to a limit,
stop cleanly, and pick up where it was after its own restart."""

import hashlib
import json
import logging
import re
import signal
import threading
import time
import uuid

from .client import TERMINAL_STATES
from .errors import EventsGone

log = logging.getLogger("silo.framework")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,50}")
# Task ids are uuid5 names under this namespace, so that a restarted framework finds its tasks.
_NAMESPACE = uuid.UUID("5d0f5a3c-8e1b-4b8e-9a51-7c1f0b7c2a10")


class Slot:
    """One of the N copies: its current task (``task_id``, ``attempt`` from 0), its ``state``
    (None before the first submission), ``failures`` (the terminal events of its failed
    attempts) and whether it is ``settled`` (FINISHED, out of retries, or KILLED)."""

    def __init__(self, index):
        self.index = index
        self.attempt = 0
        self.task_id = None
        self.state = None
        self.last_event = None
        self.failures = []
        self.settled = False

    def __repr__(self):
        return f"Slot({self.index}, attempt {self.attempt}, {self.state}, task {self.task_id})"


class Framework:
    """Run ``count`` tasks of ``command`` (a list of strings) with ``resources`` (a task spec's
    ``resources`` dict: ``{"cpus": 0.5, "mem": "64Mi"}``) in ``role``, until each has FINISHED.

    A task that fails (FAILED, or LOST with its agent) is submitted again, at most
    ``max_retries`` times per slot; a task killed by someone else is left so. Each task gets
    ``SILO_FRAMEWORK``, ``SILO_SLOT`` and ``SILO_ATTEMPT`` in its environment; ``spec`` (a dict)
    adds other task-spec keys (``container``, ``env``, ``priority``, ...).

    The tasks' ids derive from the framework's ``name``, its spec, the slot and the attempt, so
    a framework restarted with the same arguments takes over the tasks of the one before: it
    lists the tasks, resumes each slot where it was, and streams the events from the list's
    ``event_index`` (nothing in between is missed). A different command or spec is a new run.

    Override ``task_spec()`` to build each task differently and ``on_update()``,
    ``on_finished()``, ``on_failed()`` to react (they log by default).
    """

    def __init__(self, client, name, command, resources=None, count=1, role=None,
                 max_retries=3, spec=None, kill_timeout=30.0):
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"name: '{name}' must be 1-51 of [A-Za-z0-9._-], starting with a "
                             "letter or digit (task names add '-SLOT')")
        if not command or not all(isinstance(a, str) for a in command) or isinstance(command, str):
            raise ValueError(f"command: {command!r} must be a non-empty list of strings")
        if not isinstance(count, int) or not 1 <= count <= 10000:
            raise ValueError(f"count: {count!r} must be an integer from 1 to 10000")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries: {max_retries!r} must be an integer >= 0")
        self.client = client
        self.name = name
        self.command = list(command)
        self.resources = dict(resources or {})
        self.count = count
        self.role = role
        self.max_retries = max_retries
        self.extra = dict(spec or {})
        for key in ("id", "name", "command", "resources", "role"):
            if key in self.extra:
                raise ValueError(f"spec: '{key}' is set by the framework, give it as an argument")
        self.kill_timeout = kill_timeout
        self.slots = [Slot(i) for i in range(count)]
        self._by_task = {}
        self._stopping = False
        self._stream = None
        # The spec without slot and attempt: part of every id, so a changed spec is a new run.
        self._fingerprint = hashlib.sha256(json.dumps(
            [name, role, self.command, self.resources, self.extra], sort_keys=True).encode()).hexdigest()

    # ---- what a subclass may override ----

    def task_spec(self, slot, attempt):
        """The task spec of ``slot``'s attempt ``attempt`` (id, name and role are set after)."""
        spec = json.loads(json.dumps(self.extra))  # a deep copy
        spec["command"] = list(self.command)
        if self.resources:
            spec["resources"] = dict(self.resources)
        env = dict(spec.get("env") or {})
        env.update(SILO_FRAMEWORK=self.name, SILO_SLOT=str(slot.index), SILO_ATTEMPT=str(attempt))
        spec["env"] = env
        return spec

    def on_update(self, slot, event):
        """Every state change of a slot's current task (a ``task_state`` event)."""
        log.debug("%s-%d: task %s %s", self.name, slot.index, event["task_id"], event["state"])

    def on_finished(self, slot, event):
        log.info("%s-%d: task %s finished (attempt %d)", self.name, slot.index, slot.task_id,
                 slot.attempt)

    def on_failed(self, slot, event, retrying):
        log.warning("%s-%d: task %s %s (%s%s)%s", self.name, slot.index, event["task_id"],
                    event["state"], event.get("reason") or "no reason",
                    f", exit code {event['exit_code']}" if event.get("exit_code", -1) >= 0 else "",
                    f"; attempt {slot.attempt + 1} of {self.max_retries + 1} follows" if retrying
                    else "; no retries left")

    # ---- running ----

    @property
    def succeeded(self):
        """Whether every slot FINISHED."""
        return all(s.settled and s.state == "FINISHED" for s in self.slots)

    def stop(self):
        """Ask ``run()`` to kill what is left and return (safe from a signal handler or another
        thread)."""
        self._stopping = True
        stream = self._stream
        if stream is not None:
            stream.close()

    def run(self, handle_signals=True):
        """Run until every slot is settled or ``stop()`` (SIGINT or SIGTERM with
        ``handle_signals`` in the main thread; a second one raises KeyboardInterrupt without
        waiting for the kills); returns ``succeeded``."""
        previous = {}
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            since = self._reconcile()
            while not self._stopping and not all(s.settled for s in self.slots):
                try:
                    since = self._follow(since)
                except EventsGone as e:
                    log.warning("%s: %s; listing the tasks again", self.name, e.message)
                    since = self._reconcile()
            if self._stopping:
                self._kill_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.succeeded

    def _on_signal(self, signum, frame):
        # The first one stops cleanly (kills, then waits up to kill_timeout); a second one
        # gives up waiting, as a second Ctrl-C does for docker stop.
        if self._stopping:
            raise KeyboardInterrupt
        self.stop()

    def _task_id(self, slot, attempt):
        return str(uuid.uuid5(_NAMESPACE, f"{self._fingerprint}/{slot.index}/{attempt}"))

    def _reconcile(self):
        """Rebuild each slot from the master's task list; returns the list's event_index."""
        tasks = self.client.list()
        if tasks.event_index is None:
            raise RuntimeError("this master has no event stream (no event_index in its task list)")
        known = {t["id"]: t for t in tasks}
        self._by_task.clear()
        for slot in self.slots:
            found = None
            for attempt in range(self.max_retries + 1):
                t = known.get(self._task_id(slot, attempt))
                if t is not None:
                    found = (attempt, t)
            if found is None:
                if slot.task_id is None:
                    self._submit(slot, 0)
                elif not slot.settled:  # gone from the master (its retention): keep our view
                    self._by_task[slot.task_id] = slot
                continue
            attempt, t = found
            slot.attempt, slot.task_id, slot.state = attempt, t["id"], t["state"]
            slot.settled = False
            self._by_task[slot.task_id] = slot
            if t["state"] in TERMINAL_STATES:
                self._ended(slot, {"task_id": t["id"], "state": t["state"],
                                   "reason": t.get("reason"), "exit_code": t.get("exit_code", -1),
                                   "signal": t.get("signal", 0), "message": t.get("message")})
        log.info("%s: %d slots, %d settled; following events after index %d", self.name,
                 len(self.slots), sum(s.settled for s in self.slots), tasks.event_index)
        return tasks.event_index

    def _follow(self, since):
        """Follow task_state events from ``since`` until every slot is settled or stop()."""
        with self.client.events(since=since, role=self.role, types=["task_state"]) as stream:
            self._stream = stream
            if self._stopping:  # stop() came before the stream existed
                return since
            for event in stream:
                slot = self._by_task.get(event.get("task_id"))
                if slot is None or slot.settled:
                    continue
                slot.state, slot.last_event = event["state"], event
                self.on_update(slot, event)
                if event["state"] in TERMINAL_STATES:
                    self._ended(slot, event)
                    if all(s.settled for s in self.slots):
                        break
            self._stream = None
            return stream.last_index

    def _submit(self, slot, attempt):
        spec = self.task_spec(slot, attempt)
        spec.update(id=self._task_id(slot, attempt), name=f"{self.name}-{slot.index}")
        if self.role is not None:
            spec["role"] = self.role
        slot.attempt, slot.task_id, slot.state = attempt, spec["id"], None
        self._by_task[slot.task_id] = slot
        task = self.client.submit(spec)
        slot.state = task.get("state")
        log.info("%s-%d: submitted task %s (attempt %d)", self.name, slot.index, slot.task_id,
                 attempt)

    def _ended(self, slot, event):
        state = event["state"]
        if state == "FINISHED":
            slot.settled = True
            self.on_finished(slot, event)
            return
        if state == "KILLED":  # by an operator, or by our stop(): not ours to undo
            slot.settled = True
            log.info("%s-%d: task %s was killed", self.name, slot.index, slot.task_id)
            return
        slot.failures.append(event)
        retrying = not self._stopping and slot.attempt < self.max_retries
        self.on_failed(slot, event, retrying)
        if state == "LOST":
            # Its agent may come back with the task still running: kill it so that the new
            # attempt is the only copy.
            try:
                self.client.kill(slot.task_id)
            except Exception as e:  # noqa: BLE001 - best effort, the master may have forgotten it
                log.info("%s-%d: killing lost task %s: %s", self.name, slot.index, slot.task_id, e)
        if retrying:
            del self._by_task[slot.task_id]
            self._submit(slot, slot.attempt + 1)
        else:
            slot.settled = True

    def _kill_all(self):
        """stop(): kill every unsettled slot's task and wait (kill_timeout) for them to end."""
        live = [s for s in self.slots if not s.settled and s.task_id]
        if not live:
            return
        since = self.client.list(state="STAGING").event_index
        for s in live:
            try:
                task = self.client.kill(s.task_id)
                s.state = task.get("state", s.state)
            except Exception as e:  # noqa: BLE001 - one refusal must not stop the others
                log.warning("%s-%d: kill %s: %s", self.name, s.index, s.task_id, e)
        waiting = {s.task_id: s for s in live if s.state not in TERMINAL_STATES}
        # Every change after `since` comes in the stream; a task that had ended before it (our
        # view of it lagging) has none to come: read each once.
        for tid, s in list(waiting.items()):
            s.state = self.client.get(tid)["state"]
            if s.state in TERMINAL_STATES:
                del waiting[tid]
        if waiting:
            with self.client.events(since=since, role=self.role, types=["task_state"]) as stream:
                stream.deadline = time.monotonic() + self.kill_timeout
                for event in stream:
                    s = waiting.get(event.get("task_id"))
                    if s is not None and event["state"] in TERMINAL_STATES:
                        s.state = event["state"]
                        del waiting[s.task_id]
                        if not waiting:
                            break
        for s in live:
            s.settled = s.state in TERMINAL_STATES
        if waiting:
            log.warning("%s: %d tasks had not ended %g s after their kill: %s", self.name,
                        len(waiting), self.kill_timeout, ", ".join(waiting))
