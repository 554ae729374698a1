#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A Silo framework: run N copies of a command on the cluster until each has finished.

    examples/framework.py --master http://127.0.0.1:5050 --token-file /var/lib/silo/master/token \\
        --name scrub --count 4 --cpus 0.5 --mem 64Mi --retries 2 -- /usr/bin/scrub --all

Each copy (a "slot") is a task with SILO_SLOT and SILO_ATTEMPT in its environment. A copy that
fails is submitted again, at most --retries times. Ctrl-C (or SIGTERM) kills the copies still
running and exits; a second one exits without waiting for them to end. Started again with the
same arguments after a crash, it takes over the tasks of the run before instead of starting new
ones. Exit status: 0 when every copy finished, 1 when one failed after its retries or the run
was stopped, 2 on bad usage, 130 on a second Ctrl-C.
Needs python3-silo (or PYTHONPATH=clients/python in a checkout); docs/FRAMEWORKS.md explains it.
"""

import argparse
import logging
import sys

import silo
from silo.framework import Framework


class Scrub(Framework):
    """The callbacks a framework reacts with (as a Mesos scheduler's statusUpdate)."""

    def on_finished(self, slot, event):
        print(f"slot {slot.index}: task {slot.task_id} finished (attempt {slot.attempt})", flush=True)

    def on_failed(self, slot, event, retrying):
        how = event.get("reason") or event["state"]
        if event.get("exit_code", -1) >= 0:
            how += f", exit code {event['exit_code']}"
        print(f"slot {slot.index}: task {slot.task_id} {event['state']} ({how}); "
              + ("submitting it again" if retrying else "no retries left"), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--master", action="append", help="a master URL (repeat for several; "
                   "default $SILO_MASTER or http://127.0.0.1:5050)")
    p.add_argument("--token-file", help="the cluster token (default $SILO_TOKEN_FILE or "
                   "/var/lib/silo/master/token)")
    p.add_argument("--name", default="example", help="the framework's name (task names are NAME-SLOT)")
    p.add_argument("--role", help="the role its tasks run in")
    p.add_argument("--count", type=int, default=3, help="how many copies (default 3)")
    p.add_argument("--cpus", type=float, default=0.1, help="cpus per copy (default 0.1)")
    p.add_argument("--mem", default="32Mi", help="memory per copy (default 32Mi)")
    p.add_argument("--retries", type=int, default=2, help="resubmissions per copy (default 2)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every state change")
    p.add_argument("command", nargs="+", help="the command and its arguments (after --)")
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(name)s: %(message)s")

    try:
        client = silo.Client(args.master, token_file=args.token_file)
        fw = Scrub(client, args.name, args.command, {"cpus": args.cpus, "mem": args.mem},
                   count=args.count, role=args.role, max_retries=args.retries)
    except (ValueError, silo.SiloError) as e:
        p.error(str(e))
    try:
        ok = fw.run()
    except silo.SiloError as e:
        print(f"{p.prog}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C: the kills are sent, their end not awaited
        print(f"{p.prog}: interrupted", file=sys.stderr)
        return 130
    for s in fw.slots:
        print(f"slot {s.index}: {s.state} after {s.attempt + 1} attempt(s), task {s.task_id}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
