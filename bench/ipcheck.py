#!/usr/bin/python3
"""Loopback IP-check service for the benchmarks: answers GET / with the "public" address.

The benchmark clients (ddclient, inadyn, dynmx) must never reach a real IP-check service,
so this stands in for one inside the benchmark's network namespace. It answers the body
as a bare address plus newline (what dynmx's strict parser, inadyn's first-address scan
and ddclient's web-skip-less match all accept).

    ipcheck.py --port 0 [--tls-port 0 --cert C --key K] --port-file F
    GET /            -> "203.0.113.10\n"
    GET /set?ip=ADDR -> change the address (loopback only; the driver calls it)
    GET /stats       -> JSON {"checks": N, "set_ms": unix ms of the last change}

It prints "LISTENING http PORT" (and "LISTENING https PORT") on stdout and stops on SIGTERM.
"""
import argparse
import json
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

STATE = {"ip": "203.0.113.10", "checks": 0, "set_ms": 0}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bench-ipcheck/1"
    # One write per response, sent at once: unbuffered, http.server writes the headers and
    # the body separately, and Nagle holds the body back until the client's delayed ACK
    # (40 ms on Linux), which every client's IP check then pays. handle_one_request()
    # flushes after each response.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # quiet: the driver reads /stats instead
        pass

    def reply(self, code, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/set":
            ip = parse_qs(url.query).get("ip", [""])[0]
            with LOCK:
                STATE["ip"] = ip
                STATE["set_ms"] = int(time.time() * 1000)
            return self.reply(200, "ok\n")
        if url.path == "/stats":
            with LOCK:
                return self.reply(200, json.dumps(STATE) + "\n", "application/json")
        with LOCK:
            STATE["checks"] += 1
            ip = STATE["ip"]
        return self.reply(200, ip + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls-port", type=int, default=-1)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--ip", default="203.0.113.10")
    args = ap.parse_args()
    STATE["ip"] = args.ip

    servers = []
    plain = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    plain.daemon_threads = True
    servers.append(("http", plain))
    if args.tls_port >= 0:
        tls = ThreadingHTTPServer(("127.0.0.1", args.tls_port), Handler)
        tls.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
        servers.append(("https", tls))

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for name, srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        print(f"LISTENING {name} {srv.server_address[1]}", flush=True)
    stop.wait()
    for _, srv in servers:
        srv.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
