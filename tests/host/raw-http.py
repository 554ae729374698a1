#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Send raw bytes (stdin) on one TCP connection and print each HTTP response as
"<status> <connection-header> <body>" on its own line: for requests curl will not send
(two Content-Length headers, pipelining, oversized headers).
Usage: raw-http.py HOST:PORT N   (stops after N responses, at EOF, or after 5 s)"""
import socket
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
want = int(sys.argv[2])
data = sys.stdin.buffer.read()
s = socket.create_connection((host, int(port)), timeout=5)
try:
    s.sendall(data)
except OSError:
    pass  # the server answered and closed before reading everything: the answer counts
buf = b""
got = 0
deadline = time.monotonic() + 5
while got < want and time.monotonic() < deadline:
    # one complete response in buf?
    end = buf.find(b"\r\n\r\n")
    if end >= 0:
        head = buf[:end].decode("latin1").split("\r\n")
        fields = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            fields.setdefault(k.strip().lower(), v.strip())
        length = int(fields.get("content-length", "0"))
        if len(buf) >= end + 4 + length:
            body = buf[end + 4:end + 4 + length].decode("utf-8", "replace").replace("\n", " ")
            print(head[0].split(" ")[1], fields.get("connection", "-"), body)
            buf = buf[end + 4 + length:]
            got += 1
            continue
    try:
        chunk = s.recv(65536)
    except (socket.timeout, ConnectionResetError):
        break
    if not chunk:
        break
    buf += chunk
if got < want:
    print("EOF after %d responses" % got)
