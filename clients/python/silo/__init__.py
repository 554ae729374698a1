# SPDX-License-Identifier: Apache-2.0
"""Silo's Python client: the master's REST API, its event stream, and a framework helper.

    import silo
    c = silo.Client(masters=["http://m1:5050", "http://m2:5050"], token_file="/etc/silo/token")
    t = c.submit({"name": "scrub", "command": ["/usr/bin/scrub"], "resources": {"cpus": 1, "mem": "512Mi"}})
    for event in c.events(since=c.list().event_index, types=["task_state"]):
        print(event["task_id"], event["state"])

Standard library only. docs/FRAMEWORKS.md has the guide, docs/PROTOCOL.md the wire format.
"""

from .client import TASK_STATES, TERMINAL_STATES, Client, TaskList
from .errors import EventsGone, SiloConnectionError, SiloError, TaskEnded
from .events import EVENT_TYPES, EventStream

__all__ = ["Client", "TaskList", "EventStream", "SiloError", "SiloConnectionError", "EventsGone",
           "TaskEnded", "TASK_STATES", "TERMINAL_STATES", "EVENT_TYPES"]
__version__ = "0.1.0"
