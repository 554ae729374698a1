#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A TCP proxy the test controls, to cut one process off from others (a master from etcd).

    tcp-proxy.py --port-file FILE TARGET_HOST:PORT [TARGET_HOST:PORT ...]

listens on one free loopback port per target (written to FILE, space-separated, in the targets'
order, once all are listening) and forwards each connection to its target. Signals switch it:

    SIGUSR1  partition, held: nothing is forwarded in either direction any more and new
             connections are accepted but not connected on; the peers see silence, as when a
             network drops packets (TCP connections stay open, requests time out).
    SIGHUP   partition, refused: every open connection is reset and new ones are reset at once,
             as when the far side's host answers with RSTs.
    SIGUSR2  heal: held connections go on where they stopped, new ones are forwarded again.
    SIGTERM  exit.

Each switch is logged on stderr with the number of connections it affected. The test starts and
ends it by pid.
"""

import argparse
import os
import asyncio
import signal
import socket
import sys
import time

FORWARD, HELD, REFUSED = "forward", "held", "refused"


class Proxy:
    def __init__(self):
        self.mode = FORWARD
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.conns = set()  # (reader, writer) pairs' writers, to reset them

    def log(self, msg):
        print(f"tcp-proxy {time.strftime('%H:%M:%S')}: {msg}", file=sys.stderr, flush=True)

    def switch(self, mode):
        self.mode = mode
        if mode == FORWARD:
            self.flowing.set()
        else:
            self.flowing.clear()
        if mode == REFUSED:
            for w in list(self.conns):
                reset(w)
        self.log(f"{mode} ({len(self.conns)} open connections)")

    async def pipe(self, reader, writer):
        try:
            while True:
                await self.flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                # A partition that began while this read waited: the bytes stay here until it
                # heals, never delivered across it.
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except OSError:
                pass

    async def handle(self, client_r, client_w, target):
        if self.mode == REFUSED:
            reset(client_w)
            return
        self.conns.add(client_w)
        try:
            await self.flowing.wait()
            if self.mode == REFUSED:
                reset(client_w)
                return
            try:
                up_r, up_w = await asyncio.open_connection(*target)
            except OSError as e:
                self.log(f"cannot connect to {target[0]}:{target[1]}: {e}")
                reset(client_w)
                return
            self.conns.add(up_w)
            try:
                await asyncio.gather(self.pipe(client_r, up_w), self.pipe(up_r, client_w))
            finally:
                self.conns.discard(up_w)
        finally:
            self.conns.discard(client_w)


def reset(writer):
    """Close with an RST (SO_LINGER 0), not a FIN: the peer sees the connection fail."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()
    except OSError:
        pass


def parse_target(s):
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"target '{s}' is not HOST:PORT")
    return host, int(port)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("targets", nargs="+", type=parse_target)
    args = ap.parse_args()

    proxy = Proxy()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, proxy.switch, HELD)
    loop.add_signal_handler(signal.SIGHUP, proxy.switch, REFUSED)
    loop.add_signal_handler(signal.SIGUSR2, proxy.switch, FORWARD)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    servers, ports = [], []
    for t in args.targets:
        srv = await asyncio.start_server(
            lambda r, w, t=t: proxy.handle(r, w, t), "127.0.0.1", 0)
        servers.append(srv)
        ports.append(srv.sockets[0].getsockname()[1])
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(" ".join(map(str, ports)) + "\n")
    os.rename(tmp, args.port_file)
    proxy.log("forwarding " + ", ".join(
        f"{p} -> {h}:{tp}" for p, (h, tp) in zip(ports, args.targets)))
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
