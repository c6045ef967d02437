#!/usr/bin/env python3
"""Checks that an HTTP echo benchmark server answers correctly under the conditions the
benchmark creates and a few harder ones: pipelined requests of mixed kinds sent in odd-sized
pieces (1 byte to 100 KB, so heads and bodies split anywhere), 64 KiB+ bodies, and a client
that does not read while it sends (so the server's writes are partial and it must apply
backpressure without losing or reordering answers).

    bench/http_echo/check_server.py PORT [--host 127.0.0.1] [--requests N] [--seed S]

Start the server first (khz-http-limit or khz-echo-server, --port P). Exit status 0 when every
answer matched, 1 on a mismatch (with the request index), 2 on a setup error. Every socket
operation has a timeout, so it cannot hang. Python 3 standard library only.
"""
import argparse
import os
import random
import socket
import sys
import threading
import time


def build_requests(rng, count):
    """Returns (bytes of all requests, [(status, expected body)])."""
    parts, expected = [], []
    for _ in range(count):
        kind = rng.randrange(3)
        if kind == 0:
            parts.append(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
            expected.append((200, b"Hello, World!"))
        elif kind == 1:
            body = os.urandom(rng.choice([0, 1, 1024, 4096, 16384, 65536, 70000]))
            name = rng.choice([b"Content-Length", b"content-length", b"CONTENT-LENGTH"])
            parts.append(b"POST /echo HTTP/1.1\r\nHost: bench\r\n%s: %d\r\ntest-header: %s\r\n\r\n"
                         % (name, len(body), b"v" * 1024) + body)
            expected.append((200, body))
        else:
            parts.append(b"POST /elsewhere HTTP/1.1\r\nHost: bench\r\nContent-Length: 3\r\n\r\nabc")
            expected.append((404, None))
    return b"".join(parts), expected


def read_response(f):
    """Reads one response from a buffered socket file: (status, headers, body)."""
    status_line = f.readline()
    if not status_line:
        raise EOFError("the server closed the connection")
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        name, value = line.split(b":", 1)
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get(b"content-length", b"0"))
    body = f.read(length)
    if len(body) != length:
        raise EOFError("short body")
    return status, headers, body


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    data, expected = build_requests(rng, args.requests)

    try:
        sock = socket.create_connection((args.host, args.port), timeout=10)
    except OSError as e:
        print(f"check_server: cannot connect to {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    sock.settimeout(30)
    send_error = []

    def sender():
        try:
            pos = 0
            while pos < len(data):
                n = rng.choice([1, 7, 777, 5000, 100000])
                sock.sendall(data[pos:pos + n])
                pos += n
        except OSError as e:
            send_error.append(e)

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    time.sleep(1.0)  # let the server's send buffer fill: its writes become partial
    f = sock.makefile("rb")
    try:
        for i, (status, body) in enumerate(expected):
            got_status, headers, got_body = read_response(f)
            if got_status != status or (body is not None and got_body != body):
                print(f"check_server: answer {i}: status {got_status} (expected {status}), "
                      f"{len(got_body)} body bytes (expected {len(body) if body is not None else 'any'})",
                      file=sys.stderr)
                return 1
            if b"date" not in headers:
                print(f"check_server: answer {i} has no Date header", file=sys.stderr)
                return 1
    except (OSError, EOFError, ValueError, IndexError) as e:
        print(f"check_server: reading answers: {e}", file=sys.stderr)
        return 1
    thread.join(timeout=30)
    if send_error:
        print(f"check_server: sending: {send_error[0]}", file=sys.stderr)
        return 1
    sock.close()
    print(f"check_server: ok, {len(expected)} pipelined requests ({len(data)} bytes) answered in order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
