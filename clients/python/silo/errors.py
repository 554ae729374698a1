# SPDX-License-Identifier: Apache-2.0
"""The exceptions of the Silo client: every failure carries what the server said."""


class SiloError(Exception):
    """A request the master refused, or that no master answered.

    ``status`` is the HTTP status (None when no master answered), ``code`` the
    server's error code (``invalid_spec``, ``not_found``, ... as in
    docs/PROTOCOL.md) and ``message`` its message, which names the offending
    field and value.
    """

    def __init__(self, message, status=None, code=None, method=None, url=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.method = method
        self.url = url

    def __str__(self):
        where = f"{self.method} {self.url}: " if self.method and self.url else ""
        code = f" {self.code}" if self.code else ""
        status = f"HTTP {self.status}{code}: " if self.status else ""
        return f"{where}{status}{self.message}"


class SiloConnectionError(SiloError):
    """No master could be reached (each one tried failed to connect or answer)."""


class EventsGone(SiloError):
    """A ``since`` older than the master's event window (HTTP 410).

    The events in between are no longer kept: re-list the tasks
    (``Client.list()``), rebuild your view from that list and stream again
    from its ``event_index``.
    """


class TaskEnded(SiloError):
    """``Client.wait()``: the task ended in a state other than the ones waited for.

    ``task`` is the task as the master reports it.
    """

    def __init__(self, message, task):
        super().__init__(message)
        self.task = task
