#!/usr/bin/env python3
"""Resident memory of Bulwark under slow readers of large answers (issue #17).

Starts an upstream (in this process) that answers every tools/call with a result of --size
bytes, as JSON or as one SSE event, and Bulwark in front of it; then --clients raw sockets
(4 KiB receive buffer) each send one tools/call and read nothing for --hold seconds, while a
normal client is served. Reports Bulwark's peak resident memory during the hold (VmHWM) and its
resident memory after the slow clients left. Loopback only.

  tests/bench/slow_readers.py --bulwark build/dev/proxy/bulwark --mode sse
  tests/bench/slow_readers.py --bulwark build/dev/proxy/bulwark --mode json --max-rss-mib 64

With --max-rss-mib, exits 1 when the peak is above it (a check, not only a measurement).
"""
import argparse
import http.server
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_upstream(mode, size):
    filler = (b"0123456789" * (size // 10 + 1))[:size]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            request = json.loads(body)
            small = request.get("params", {}).get("name") == "small"
            text = b"ok" if small else filler
            answer = (b'{"jsonrpc":"2.0","id":' + json.dumps(request.get("id")).encode() +
                      b',"result":{"content":[{"type":"text","text":"' + text + b'"}]}}')
            try:
                if mode == "json" or small:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                else:
                    event = b"event: message\ndata: " + answer + b"\n\n"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for at in range(0, len(event), 65536):
                        piece = event[at:at + 65536]
                        self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # Bulwark closed: its client left

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        request_queue_size = 128
        allow_reuse_address = True

    return Server(("127.0.0.1", 0), Handler)


def call(tool, rpc_id):
    body = json.dumps({"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call",
                       "params": {"name": tool, "arguments": {}}}).encode()
    return (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Accept: application/json, text/event-stream\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bulwark", default="build/dev/proxy/bulwark")
    parser.add_argument("--mode", choices=["json", "sse"], default="sse")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--size", type=int, default=20 * 1000 * 1000)
    parser.add_argument("--hold", type=float, default=8.0)
    parser.add_argument("--config", help="a Bulwark config file (else --upstream)")
    parser.add_argument("--max-rss-mib", type=float)
    args = parser.parse_args()

    upstream = make_upstream(args.mode, args.size)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    listen, admin = free_port(), free_port()
    command = [args.bulwark, "--listen", f"127.0.0.1:{listen}", "--admin", f"127.0.0.1:{admin}"]
    command += (["--config", args.config] if args.config else
                ["--upstream", f"http://127.0.0.1:{upstream.server_address[1]}/mcp"])
    proxy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        idle = status_kib(proxy.pid, "VmRSS")
        slow = []
        for i in range(args.clients):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", listen))
            s.sendall(call("big", i + 1))
            slow.append(s)
        started = time.monotonic()
        normal_ok = 0
        while time.monotonic() - started < args.hold:
            with socket.create_connection(("127.0.0.1", listen), timeout=30) as s:
                s.sendall(call("small", 1000).replace(b"Host:", b"Connection: close\r\nHost:"))
                reply = b""
                while chunk := s.recv(65536):
                    reply += chunk
                ok = reply.startswith(b"HTTP/1.1 200") and b'"text":"ok"' in reply
                normal_ok += ok
                if not ok:
                    print("normal client:", reply[:300], file=sys.stderr)
            time.sleep(0.5)
        peak = status_kib(proxy.pid, "VmHWM")
        during = status_kib(proxy.pid, "VmRSS")
        for s in slow:
            s.close()
        time.sleep(2.0)
        after = status_kib(proxy.pid, "VmRSS")
        print(f"mode={args.mode} clients={args.clients} size={args.size} "
              f"idle={idle / 1024:.1f}MiB peak={peak / 1024:.1f}MiB "
              f"end_of_hold={during / 1024:.1f}MiB after={after / 1024:.1f}MiB "
              f"normal_client_answers={normal_ok}")
        if args.max_rss_mib is not None and peak / 1024 > args.max_rss_mib:
            return 1
        return 0 if normal_ok > 0 else 1
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        upstream.shutdown()


if __name__ == "__main__":
    sys.exit(main())
