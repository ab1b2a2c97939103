#!/usr/bin/env python3
"""Memory a node holds for hostile clients, and whether it gives it back when they leave.

    scripts/bench-hostile.py [RPC_HOST:PORT] [METRICS_HOST:PORT] [CLIENTS]

(defaults 127.0.0.1:8545, 127.0.0.1:9001, 256). Three rounds against a running node, each read
off its `process_resident_memory_bytes`: CLIENTS WebSocket clients each sending all but the last
byte of a maximal message (2 MiB) and waiting; the same with frames announcing 3 MiB (over the
limit); CLIENTS HTTP clients each sending 5,000,000 bytes of a 5.2 MB body and waiting. For each:
resident memory before, while the clients hold on, and 5 s after they have gone, in MB; and what
the clients were answered. Standard library only.
"""

import base64
import json
import os
import socket
import sys
import time
import urllib.request

RPC = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8545"
METRICS = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1:9001"
CLIENTS = int(sys.argv[3]) if len(sys.argv) > 3 else 256
MAX_WS = 2 * 1024 * 1024


def rss_mb():
    text = urllib.request.urlopen(f"http://{METRICS}/metrics").read().decode()
    for line in text.splitlines():
        if line.startswith("process_resident_memory_bytes "):
            return round(float(line.split()[1]) / 1e6, 1)
    raise RuntimeError("no process_resident_memory_bytes")


def connect():
    host, port = RPC.split(":")
    s = socket.create_connection((host, int(port)))
    s.settimeout(30)
    return s


def websocket():
    s = connect()
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        f"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    return s, head.split(b"\r\n")[0].decode()


def frame_header(length):
    # Text frame, masked, 64-bit length, zero mask (payload bytes go out as they are).
    return bytes([0x81, 0x80 | 127]) + length.to_bytes(8, "big") + b"\0\0\0\0"


def round_(name, open_client, answer):
    before = rss_mb()
    clients, statuses = [], {}
    for _ in range(CLIENTS):
        try:
            s, status = open_client()
            clients.append(s)
        except OSError as e:
            status = type(e).__name__
        statuses[status] = statuses.get(status, 0) + 1
    time.sleep(3)
    holding = rss_mb()
    answers = {}
    for s in clients:
        a = answer(s)
        answers[a] = answers.get(a, 0) + 1
        s.close()
    time.sleep(5)
    after = rss_mb()
    return {
        "round": name,
        "clients": CLIENTS,
        "opened": statuses,
        "answers": answers,
        "rss_before_mb": before,
        "rss_holding_mb": holding,
        "rss_after_mb": after,
    }


def ws_held(length, sent):
    def open_client():
        s, status = websocket()
        s.sendall(frame_header(length))
        s.sendall(b" " * sent)
        return s, status

    return open_client


def no_answer(s):
    s.setblocking(False)
    try:
        data = s.recv(4096)
        return "closed" if not data else "answered"
    except BlockingIOError:
        return "waiting"
    except OSError:
        return "closed"


def http_held():
    s = connect()
    s.sendall(
        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5200000\r\n\r\n"
    )
    try:
        s.sendall(b" " * 5_000_000)
    except OSError:
        pass
    return s, "sent"


def http_status(s):
    s.setblocking(False)
    try:
        line = s.recv(64).split(b"\r\n")[0].decode()
        return line or "closed"
    except BlockingIOError:
        return "waiting"
    except OSError:
        return "closed"


results = [
    round_("websocket, maximal message (2 MiB) all but its last byte", ws_held(MAX_WS, MAX_WS - 1), no_answer),
    round_("websocket, frame announcing 3 MiB (over the limit), 1 MiB sent", ws_held(3 * 1024 * 1024, 1024 * 1024), no_answer),
    round_("http, 5,000,000 of 5,200,000 body bytes", http_held, http_status),
]
print(json.dumps(results, indent=1))
