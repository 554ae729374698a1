# SPDX-License-Identifier: Apache-2.0
"""The master's event stream (GET /api/v1/events, newline-delimited JSON) as a resumable iterator."""

import http.client
import json
import logging
import socket
import threading
import time
import urllib.parse

from .errors import EventsGone, SiloConnectionError, SiloError

log = logging.getLogger("silo")

EVENT_TYPES = ("task_state", "task_placed", "task_pending", "agent_joined", "agent_lost",
               "agent_returned")
# The master writes a heartbeat after 10 s without events: a connection silent for much longer
# is dead (a peer that vanished without a FIN), and is replaced.
READ_TIMEOUT = 35.0
MAX_LINE = 16 << 20


class EventStream:
    """An iterator over the master's events (dicts as docs/PROTOCOL.md "Events" shows them).

    ``last_index`` is the index of the last event yielded (or of the last heartbeat, which
    says every event up to it was sent); a dropped connection is resumed from there.
    ``deadline`` (a ``time.monotonic()`` value, or None) ends the iteration when reached.
    ``disconnect_reason`` is the last reason the master gave for dropping this consumer.
    Use it in a ``with`` block, or ``close()`` it: that also ends an iteration blocked in
    another thread or interrupted by a signal handler.
    """

    def __init__(self, client, since=None, role=None, task=None, types=None, reconnect_timeout=60.0):
        if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
            raise ValueError(f"since: {since!r} is not an event index (an integer >= 0)")
        if isinstance(types, str):
            types = [t for t in types.split(",") if t]
        for t in types or ():
            if t not in EVENT_TYPES:
                raise ValueError(f"types: '{t}' is not an event type ({', '.join(EVENT_TYPES)})")
        self._client = client
        self._filters = [("role", role), ("task", task),
                         ("type", ",".join(types) if types else None)]
        self.last_index = since
        self.reconnect_timeout = reconnect_timeout
        self.read_timeout = READ_TIMEOUT
        self.deadline = None
        self.disconnect_reason = None
        self._closed = False
        self._sock = None
        self._wake = threading.Event()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return self._iterate()

    def close(self):
        """End the iteration (safe from another thread or a signal handler)."""
        self._closed = True
        self._wake.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _left(self):
        return None if self.deadline is None else self.deadline - time.monotonic()

    def _done(self):
        left = self._left()
        return self._closed or (left is not None and left <= 0)

    def _path(self):
        q = [(k, v) for k, v in self._filters if v is not None]
        if self.last_index is not None:
            q.insert(0, ("since", str(self.last_index)))
        return "/api/v1/events" + ("?" + urllib.parse.urlencode(q, safe=",") if q else "")

    def _iterate(self):
        # Without a since, start from the index of "now" so that a connection dropped before
        # the first event or heartbeat still resumes without a gap.
        if self.last_index is None and not self._done():
            self.last_index = self._client.list(state="STAGING").event_index
        down_since, delay = None, 0.1
        while not self._done():
            try:
                resp, conn, url = self._client._open("GET", self._path(), None,
                                                      self._client.timeout)
            except EventsGone:
                raise
            except SiloConnectionError as e:
                now = time.monotonic()
                down_since = down_since or now
                if now - down_since >= self.reconnect_timeout:
                    raise SiloConnectionError(f"the event stream: no master for "
                                              f"{self.reconnect_timeout:g} s: {e.message}",
                                              method=e.method, url=e.url) from None
                left = self._left()
                self._wake.wait(delay if left is None else max(0, min(delay, left)))
                delay = min(delay * 2, 2.0)
                continue
            down_since, delay = None, 0.1
            try:
                yield from self._read(resp, url)
            finally:
                self._sock = None
                conn.close()
                resp.close()

    def _read(self, resp, url):
        self._sock = resp.silo_sock
        if self._closed:  # close() ran before the socket was known
            return
        while True:
            left = self._left()
            self._sock.settimeout(self.read_timeout if left is None
                                  else max(0.001, min(self.read_timeout, left)))
            try:
                line = resp.readline(MAX_LINE)
            except TimeoutError:
                if not self._done():
                    log.info("event stream from %s: silent for %g s, reconnecting", url,
                             self.read_timeout)
                return
            except (OSError, http.client.HTTPException) as e:
                if not self._done():
                    log.info("event stream from %s: %s, reconnecting", url, e)
                return
            if len(line) >= MAX_LINE and not line.endswith(b"\n"):
                # Reconnecting would only read the same line again, forever.
                raise SiloError(f"the event stream sent a line longer than {MAX_LINE} bytes: "
                                f"{line[:200]!r}...", resp.status, None, "GET", url)
            if not line.endswith(b"\n"):  # the end of the stream, or a line cut off by it
                if not self._done():
                    log.info("event stream from %s: connection closed, reconnecting", url)
                return
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                kind, index = event.get("type"), event.get("index")
            except (ValueError, AttributeError):
                raise SiloError(f"the event stream sent a line that is not a JSON object: "
                                f"{line[:200]!r}", resp.status, None, "GET", url) from None
            if kind == "heartbeat":
                if isinstance(index, int) and (self.last_index is None or index > self.last_index):
                    self.last_index = index
                continue
            if kind == "error":
                self.disconnect_reason = event.get("message")
                log.warning("event stream from %s: the master disconnects us: %s; resuming "
                            "from index %s", url, self.disconnect_reason, self.last_index)
                continue
            if not isinstance(index, int):
                raise SiloError(f"the event stream sent an event without an index: {line[:200]!r}",
                                resp.status, None, "GET", url)
            if self.last_index is not None and index <= self.last_index:
                continue  # already yielded before a reconnection
            self.last_index = index
            yield event
            if self._done():
                return
