#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A server that answers every request with 307 to TARGET + the request's path and query, as a
follower master does (tests/host/link-master.sh). Writes its port to --port-file; ends on SIGTERM."""
import argparse
import http.server


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()

    class Redirect(http.server.BaseHTTPRequestHandler):
        def answer(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            body = b'{"error": {"code": "redirect", "message": "ask the leader"}}'
            self.send_response(307)
            self.send_header("Location", args.target + self.path)
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
