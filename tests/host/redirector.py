#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A server that answers every request with 307 to TARGET + the request's path and query, as a
follower master does (tests/host/link-master.sh). With --refuse-one-status it is a proxy to
TARGET instead that answers the first status update 403, as the master does to an update its
certificate may not send. Writes its port to --port-file; ends on SIGTERM."""
import argparse
import http.server
import urllib.error
import urllib.request


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--refuse-one-status", action="store_true")
    args = ap.parse_args()
    refused = []

    class Redirect(http.server.BaseHTTPRequestHandler):
        def answer(self):
            n = int(self.headers.get("Content-Length") or 0)
            if args.refuse_one_status:
                return self.proxy(self.rfile.read(n) if n else None)
            if n:
                self.rfile.read(n)
            body = b'{"error": {"code": "redirect", "message": "ask the leader"}}'
            self.send_response(307)
            self.send_header("Location", args.target + self.path)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def proxy(self, data):
            if self.command == "POST" and self.path.startswith("/api/v1/status") and not refused:
                refused.append(self.path)
                status, body = 403, (b'{"error": {"code": "forbidden", "message": '
                                     b'"refused once by redirector.py"}}')
            else:
                req = urllib.request.Request(args.target + self.path, data=data, method=self.command)
                for h in ("Authorization", "Content-Type", "Silo-Master-Epoch"):
                    if self.headers.get(h):
                        req.add_header(h, self.headers[h])
                try:
                    with urllib.request.urlopen(req, timeout=10) as r:
                        status, body = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, body = e.code, e.read()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = do_PUT = answer

        def log_message(self, fmt, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
