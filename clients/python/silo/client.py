# SPDX-License-Identifier: Apache-2.0
"""The Silo master's REST API from Python (standard library only): tasks, agents, events."""

import http.client
import json
import os
import ssl
import time
import urllib.parse
import uuid

from .errors import EventsGone, SiloConnectionError, SiloError, TaskEnded
from .events import EventStream

DEFAULT_MASTER = "http://127.0.0.1:5050"
DEFAULT_TOKEN_FILE = "/var/lib/silo/master/token"

TASK_STATES = ("PENDING", "STAGING", "STARTING", "RUNNING", "FINISHED", "FAILED", "KILLED", "LOST")
# The states a task ends in (docs/PROTOCOL.md "Task states"). LOST is one, although a returning
# agent may still turn it into RUNNING or its true outcome.
TERMINAL_STATES = frozenset(("FINISHED", "FAILED", "KILLED", "LOST"))

# A master that moved its API (a leader elsewhere) answers 307/308; more hops than this is a loop.
MAX_REDIRECTS = 5


class TaskList(list):
    """The tasks of ``Client.list()``, with ``event_index``: the last event committed when the
    list was taken, the ``since`` to stream from to miss nothing after it (None from a master
    without an event stream)."""

    def __init__(self, tasks, event_index):
        super().__init__(tasks)
        self.event_index = event_index


def _read_token(path, source):
    try:
        with open(path, encoding="utf-8") as f:
            token = f.read().strip()
    except OSError as e:
        raise SiloError(f"cannot read the token file {path} (from {source}): {e.strerror}") from None
    if not token:
        raise SiloError(f"the token file {path} (from {source}) is empty")
    return token


def _parse_master(url, source):
    u = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError(f"{source}: '{url}' is not a master URL (http://HOST:PORT)")
    try:
        u.port
    except ValueError:
        raise ValueError(f"{source}: '{url}' has a bad port") from None
    return urllib.parse.urlunsplit((u.scheme, u.netloc, u.path.rstrip("/"), "", ""))


def _tls_context(ca, cert, key):
    """The SSL context of mutual TLS from the arguments or $SILO_CA/$SILO_CERT/$SILO_KEY; None
    without any. All three are needed; a missing or unreadable file is named."""
    given = {"ca": ca, "cert": cert, "key": key}
    for name in given:
        if given[name] is None and os.environ.get("SILO_" + name.upper()):
            given[name] = os.environ["SILO_" + name.upper()]
    if not any(given.values()):
        return None
    for name, path in given.items():
        if not path:
            raise ValueError(f"{name}: mutual TLS needs ca, cert and key (the {name} is missing)")
        if not os.access(path, os.R_OK):
            raise ValueError(f"{name}: {path} is not a readable file")
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=given["ca"])
    ctx.load_cert_chain(given["cert"], given["key"])
    return ctx


def _peer_check(sock, method, url):
    """Only a master's certificate (O=silo:master) answers as the master: another daemon's
    from the same CA (an agent's) is refused before the request is sent."""
    subject = (sock.getpeercert() or {}).get("subject", ())
    attrs = [(k, v) for rdn in subject for k, v in rdn]
    orgs = [v for k, v in attrs if k == "organizationName"]
    if "silo:master" in orgs:
        return
    cn = next((v for k, v in attrs if k == "commonName"), "?")
    kind = ("agent" if "silo:agent" in orgs else "operator" if "silo:operator" in orgs
            else "client" if any(o.startswith("silo:role:") for o in orgs) else "unknown")
    raise SiloError(f"the server presented the certificate of {kind}:{cn}, not a master "
                    "(O=silo:master): refused", None, None, method, url)


class Client:
    """A handle on a Silo cluster through its master(s).

    ``masters``: one URL or a list (default ``$SILO_MASTER``, else http://127.0.0.1:5050). A
    request goes to the master that answered last; when it cannot be reached, to the next one.
    A 307/308 answer is followed (same method, body and token) only to one of the masters
    (same scheme, host and port; never from https to http): any other target raises
    ``SiloError`` naming it, with nothing sent there. ``token`` or ``token_file`` (default
    ``$SILO_TOKEN_FILE``, else /var/lib/silo/master/token when it exists) is the cluster token.
    ``timeout`` (seconds) bounds connecting and each read of a plain request.

    ``ca``, ``cert``, ``key`` (default ``$SILO_CA``, ``$SILO_CERT``, ``$SILO_KEY``): mutual TLS
    with a cluster that runs it (``siloctl tls``): the masters' certificates must come from the
    CA ``ca``, name the host of their URL and be a master's (``O=silo:master``: an agent's is
    refused, naming it), and this client presents ``cert`` (PEM, with its
    key ``key``); every master URL is then an https one, and no token is needed.

    Every refusal raises ``SiloError`` with the HTTP status, the server's code and message;
    ``SiloConnectionError`` when no master answered.
    """

    def __init__(self, masters=None, token=None, token_file=None, timeout=30.0, ca=None,
                 cert=None, key=None):
        if masters is None:
            env = os.environ.get("SILO_MASTER")
            masters, source = (env, "$SILO_MASTER") if env else (DEFAULT_MASTER, "the default")
        else:
            source = "masters"
        if isinstance(masters, str):
            masters = [m for m in masters.split(",") if m.strip()]
        if not masters:
            raise ValueError("masters: at least one master URL is needed")
        self.masters = [_parse_master(m.strip(), source) for m in masters]
        self._ssl = _tls_context(ca, cert, key)
        if self._ssl is not None:
            # A cluster with TLS speaks HTTPS only.
            self.masters = [("https://" + m[len("http://"):]) if m.startswith("http://") else m
                            for m in self.masters]
        self._origins = frozenset(_origin(m) for m in self.masters)
        self._current = 0
        if token is not None and token_file is not None:
            raise ValueError("give token or token_file, not both")
        if token is None:
            if token_file is not None:
                token = _read_token(token_file, "token_file")
            elif os.environ.get("SILO_TOKEN_FILE"):
                token = _read_token(os.environ["SILO_TOKEN_FILE"], "$SILO_TOKEN_FILE")
            elif os.path.exists(DEFAULT_TOKEN_FILE):
                token = _read_token(DEFAULT_TOKEN_FILE, "the default path")
        self._token = token
        self.timeout = timeout

    # ---- tasks and agents ----

    def submit(self, spec):
        """Submit a task spec (a dict, docs/TASK-SPEC.md); returns the task as the master
        recorded it (``id``, ``state``, ...). A spec without ``id`` is given a fresh UUID here,
        so that a retry after a lost answer (or on the next master) cannot start it twice."""
        if not isinstance(spec, dict):
            raise TypeError(f"spec: a task spec is a dict, not {type(spec).__name__}")
        if "id" not in spec:
            spec = dict(spec, id=str(uuid.uuid4()))
        return self._call("POST", "/api/v1/tasks", spec)

    def get(self, task_id):
        """One task with its ``history``."""
        return self._call("GET", "/api/v1/tasks/" + _quote(task_id, "task_id"))

    def list(self, state=None):
        """Every task (or those in ``state``) in submission order, as a ``TaskList`` that also
        carries the ``event_index`` to stream from."""
        if state is not None and state not in TASK_STATES:
            raise ValueError(f"state: '{state}' is not a task state ({', '.join(TASK_STATES)})")
        path = "/api/v1/tasks" + ("?state=" + state if state else "")
        body = self._call("GET", path)
        return TaskList(body.get("tasks", []), body.get("event_index"))

    def kill(self, task_id):
        """Kill a task: a pending one ends KILLED at once, a placed one through its agent (the
        answer comes before it has stopped: ``wait()`` for KILLED). Returns the task."""
        return self._call("DELETE", "/api/v1/tasks/" + _quote(task_id, "task_id"))

    def agents(self):
        """The agents, their resources, what is free and their live tasks."""
        return self._call("GET", "/api/v1/agents").get("agents", [])

    def agent(self, agent_id):
        """One agent."""
        return self._call("GET", "/api/v1/agents/" + _quote(agent_id, "agent_id"))

    # ---- events ----

    def events(self, since=None, role=None, task=None, types=None, reconnect_timeout=60.0):
        """The master's event stream (docs/PROTOCOL.md "Events") as an iterator of dicts.

        ``since``: yield the events after that index (None: from now on). ``role``, ``task``
        and ``types`` (a list of event types) filter on the server. Heartbeats are not
        yielded. A dropped connection (or a master disconnecting a slow consumer) is resumed
        from the last index seen, on the next master if this one is gone, so nothing is lost
        or yielded twice; ``reconnect_timeout`` seconds without any master raises
        ``SiloConnectionError``. A ``since`` older than the master keeps raises ``EventsGone``, a
        line longer than 16 MiB ``SiloError``.
        The returned ``EventStream`` has ``last_index`` and ``close()`` (callable from another
        thread or a signal handler: the iteration then ends)."""
        return EventStream(self, since=since, role=role, task=task, types=types,
                           reconnect_timeout=reconnect_timeout)

    def wait(self, task_id, states=TERMINAL_STATES, timeout=None):
        """Wait until the task is in one of ``states`` (default: any terminal state) and return
        it. Raises ``TaskEnded`` when it ends in another state, ``TimeoutError`` after
        ``timeout`` seconds. Follows the event stream, so it does not poll."""
        states = frozenset([states] if isinstance(states, str) else states)
        unknown = sorted(states - set(TASK_STATES))
        if unknown:
            raise ValueError(f"states: '{unknown[0]}' is not a task state")
        deadline = None if timeout is None else time.monotonic() + timeout
        # The index first, then the task: every change after the index is in the stream, so a
        # change between the two reads is seen twice at worst, never missed. The list of a
        # state no task stays in long keeps that request small.
        since = self.list(state="STAGING").event_index
        task = self.get(task_id)
        if self._wait_done(task, states):
            return task
        if since is None:
            raise SiloError("this master has no event stream (GET /api/v1/tasks has no event_index)")
        with self.events(since=since, task=task_id, types=["task_state"]) as stream:
            stream.deadline = deadline
            for event in stream:
                task = dict(task, state=event["state"], reason=event.get("reason"),
                            exit_code=event.get("exit_code"), signal=event.get("signal"),
                            message=event.get("message"))
                if self._wait_done(task, states):
                    return task
        raise TimeoutError(f"task {task_id} is still {task['state']} after {timeout} s "
                           f"(waiting for {'/'.join(sorted(states))})")

    @staticmethod
    def _wait_done(task, states):
        if task["state"] in states:
            return True
        # LOST may still turn into RUNNING or the task's true outcome: keep waiting.
        if task["state"] in TERMINAL_STATES - {"LOST"}:
            raise TaskEnded(f"task {task['id']} ended {task['state']} while waiting for "
                            f"{'/'.join(sorted(states))}", task)
        return False

    # ---- HTTP ----

    def _headers(self, has_body):
        h = {"Accept": "application/json"}
        if self._token:
            h["Authorization"] = "Bearer " + self._token
        if has_body:
            h["Content-Type"] = "application/json"
        return h

    def _call(self, method, path, body=None):
        resp, conn, url = self._open(method, path, body, self.timeout)
        try:
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise SiloConnectionError(f"{method} {url}: the answer was cut off: {e}") from None
        finally:
            conn.close()
        try:
            return json.loads(data) if data else {}
        except ValueError:
            raise SiloError(f"the answer is not JSON: {data[:200]!r}", resp.status,
                            None, method, url) from None

    def _open(self, method, path, body, timeout):
        """Send one request to the first master that answers, following redirects; returns
        (response, connection, url) of a 2xx answer and raises SiloError otherwise."""
        data = json.dumps(body).encode() if body is not None else None
        failures = []
        n = len(self.masters)
        for i in range(n):
            k = (self._current + i) % n
            url = self.masters[k] + path
            try:
                resp, conn, url = self._send(method, url, data, timeout)
            except (OSError, http.client.HTTPException) as e:
                failures.append(f"{self.masters[k]}: {e or type(e).__name__}")
                continue
            if resp.status < 300:
                self._current = k
                return resp, conn, url
            try:
                err = _error_from(resp, method, url)
            finally:
                conn.close()
            if resp.status != 503:
                self._current = k
                raise err
            failures.append(f"{self.masters[k]}: {err}")  # stopping: the next one may serve
        raise SiloConnectionError("no master answered (" + "; ".join(failures) + ")",
                                  method=method, url=path)

    def _send(self, method, url, data, timeout):
        for _ in range(MAX_REDIRECTS + 1):
            u = urllib.parse.urlsplit(url)
            cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
            if cls is http.client.HTTPSConnection:
                conn = cls(u.hostname, u.port, timeout=timeout, context=self._ssl)
            else:
                conn = cls(u.hostname, u.port, timeout=timeout)
            try:
                target = u.path + ("?" + u.query if u.query else "")
                if self._ssl is not None and cls is http.client.HTTPSConnection:
                    conn.connect()
                    _peer_check(conn.sock, method, url)
                conn.request(method, target, body=data, headers=self._headers(data is not None))
                sock = conn.sock  # getresponse() may drop it from conn; EventStream.close() needs it
                resp = conn.getresponse()
                resp.silo_sock = sock
            except BaseException:
                conn.close()
                raise
            if resp.status not in (307, 308):
                return resp, conn, url
            location = resp.getheader("Location")
            conn.close()
            if not location:
                raise SiloError(f"{resp.status} without a Location header", resp.status, None,
                                method, url)
            target = urllib.parse.urljoin(url, location)
            self._redirect_check(method, url, target, resp.status)
            url = target
        raise SiloError(f"more than {MAX_REDIRECTS} redirects (last to {url})", resp.status,
                        None, method, url)

    def _redirect_check(self, method, url, target, status):
        """The token goes with a redirect: follow it only to one of the masters given (anything
        that can answer a 307, a proxy or a misconfigured master, would otherwise get the
        token), and never from https to plain http."""
        if urllib.parse.urlsplit(url).scheme == "https" and \
                urllib.parse.urlsplit(target).scheme != "https":
            raise SiloError(f"redirected to {target}, which is not https (not followed)", status,
                            None, method, url)
        if _origin(target) not in self._origins:
            raise SiloError(f"redirected to {target}, which is not one of the masters given "
                            f"({', '.join(self.masters)}; not followed)", status, None, method, url)


def _origin(url):
    """(scheme, host, port) of a URL, the port filled in from the scheme; None when it has none."""
    u = urllib.parse.urlsplit(url)
    try:
        port = u.port or {"http": 80, "https": 443}.get(u.scheme)
    except ValueError:
        return None
    return (u.scheme, u.hostname, port) if u.hostname else None


def _quote(value, what):
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what}: {value!r} is not an id")
    return urllib.parse.quote(value, safe="")


def _error_from(resp, method, url):
    raw = resp.read(65536)
    code, message = None, None
    try:
        err = json.loads(raw).get("error", {})
        code, message = err.get("code"), err.get("message")
    except (ValueError, AttributeError):
        pass
    if message is None:
        message = raw.decode("utf-8", "replace").strip() or resp.reason
    cls = EventsGone if resp.status == 410 else SiloError
    return cls(message, resp.status, code, method, url)
