#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/) from a running devnet:

    cargo run --release -- devnet --datadir /tmp/seeds &
    python3 fuzz/seeds.py http://127.0.0.1:8545 ws://127.0.0.1:8548 /tmp/seeds

Real inputs of each kind: signed transactions of every type the dev accounts sign, flashblocks
from the stream (with and without `base`, with transactions), an execution payload rebuilt from a
stored block, payload-server bodies and files, and JSON-RPC params of the state and call methods.
Standard library only.
"""

import base64
import hashlib
import json
import os
import socket
import sys
import time
import urllib.request

RPC, WS, DATADIR = sys.argv[1], sys.argv[2], sys.argv[3]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def call(method, *params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    req = urllib.request.Request(RPC, body.encode(), {"Content-Type": "application/json"})
    reply = json.load(urllib.request.urlopen(req))
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def seed(target, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data)


def ws_frames(url, count, seconds):
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    s = socket.create_connection((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    buf = buf.split(b"\r\n\r\n", 1)[1]
    frames, deadline = [], time.time() + seconds
    s.settimeout(1)

    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError
            buf += chunk

    while len(frames) < count and time.time() < deadline:
        try:
            need(2)
        except socket.timeout:
            continue
        op, ln = buf[0] & 0x0F, buf[1] & 0x7F
        at = 2
        if ln == 126:
            need(4)
            ln, at = int.from_bytes(buf[2:4], "big"), 4
        elif ln == 127:
            need(10)
            ln, at = int.from_bytes(buf[2:10], "big"), 10
        need(at + ln)
        payload, buf = buf[at : at + ln], buf[at + ln :]
        if op == 1:
            frames.append(payload)
    return frames


accounts = call("eth_accounts")
a, b = accounts[0], accounts[1]
chain = call("eth_chainId")
nonce = int(call("eth_getTransactionCount", a, "pending"), 16)
price = call("eth_gasPrice")
for i, extra in enumerate(
    [
        {"gasPrice": price},
        {"gasPrice": price, "accessList": [{"address": b, "storageKeys": ["0x" + "00" * 31 + "01"]}]},
        {"maxFeePerGas": hex(int(price, 16) * 4), "maxPriorityFeePerGas": "0x1"},
        {"maxFeePerGas": hex(int(price, 16) * 4), "maxPriorityFeePerGas": "0x1", "input": "0x6001600055"},
    ]
):
    tx = {"from": a, "to": b, "value": "0x1", "gas": "0x186a0", "nonce": hex(nonce + i), "chainId": chain}
    tx.update(extra)
    raw = call("eth_signTransaction", tx)
    seed("transaction", bytes.fromhex(raw[2:]))
    call("eth_sendRawTransaction", raw)

for frame in ws_frames(WS, 12, 10):
    seed("flashblock", frame)

call("eth_sendTransaction", {"from": b, "to": a, "value": "0x2"})
time.sleep(4)
head = call("eth_getBlockByNumber", "finalized", True)
for n in range(max(1, int(head["number"], 16) - 8), int(head["number"], 16) + 1):
    block = call("eth_getBlockByNumber", hex(n), True)
    if not block["transactions"] and n != int(head["number"], 16):
        continue
    payload = {
        k: block[k]
        for k in [
            "parentHash", "stateRoot", "receiptsRoot", "logsBloom", "gasLimit", "gasUsed",
            "timestamp", "extraData", "baseFeePerGas", "blobGasUsed", "excessBlobGas", "withdrawals",
        ]
    }
    payload.update(
        feeRecipient=block["miner"],
        prevRandao=block["mixHash"],
        blockNumber=block["number"],
        blockHash=block["hash"],
        transactions=[call("debug_getRawTransaction", t["hash"]) for t in block["transactions"]],
        # Beside the payload in newPayload; kept here so a test can check the block hash.
        parentBeaconBlockRoot=block["parentBeaconBlockRoot"],
        requestsHash=block["requestsHash"],
    )
    seed("engine_payload", json.dumps(payload))

root = "0x" + "ab" * 32
seed("payload_request", json.dumps({"slot": "0x10", "parent_block_root": root}))
seed("payload_request", json.dumps({"slot": "0x0", "parent_block_root": root, "extra": 1}))
for name in ["whitelist.json", "validator-jwts.json"]:
    with open(os.path.join(DATADIR, "preconf", name), "rb") as f:
        seed("payload_request", f.read())
header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
claims = base64.urlsafe_b64encode(json.dumps({"iat": int(time.time())}).encode()).rstrip(b"=").decode()
seed("payload_request", f"Bearer {header}.{claims}.c2lnbmF0dXJl")

slot = "0x" + "00" * 31 + "01"
for method, params in [
    (0, [a, "latest"]),
    (0, [a, {"blockNumber": "0x1"}]),
    (0, [a, {"blockHash": head["hash"], "requireCanonical": True}]),
    (1, [a, "0x0", "pending"]),
    (2, [a, [slot], "latest"]),
    (3, [{"from": a, "to": b, "data": "0x70a08231", "gas": "0x5208"}, "latest"]),
    (3, [{"to": b, "input": "0x", "value": "0x1", "maxFeePerGas": "0x1", "accessList": []}]),
    (4, [{"fromBlock": "0x1", "toBlock": "latest", "address": [a], "topics": [[root], None]}]),
    (4, [{"blockHash": head["hash"]}]),
    (5, ["0x4", "latest", [25, 75]]),
]:
    seed("rpc_params", bytes([method]) + json.dumps(params).encode())
print("seeds written to", OUT)
