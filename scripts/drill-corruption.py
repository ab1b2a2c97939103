#!/usr/bin/env python3
"""The corruption drill by hand (stdlib only): a release devnet carries 50 tx/s for 8 s and is
stopped cleanly; then, N times (default 40), one byte at an offset spread evenly over a copy of
its chain.redb is flipped and a node started on the copy. Each either refuses to start (counted
`refused`, with the first line of its reason) or serves exactly what the intact copy served:
every block with its transactions and two accounts' balances at every height (`unchanged`), or
an error for the damaged part (`errors`). Anything else is counted `WRONG` (must stay 0).

    cargo build --release && python3 scripts/drill-corruption.py 40
"""
import json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request

BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "preconf-node")
PORTS = ["--http.port", "48545", "--authrpc.port", "48551", "--metrics.port", "49001"]
ACCOUNTS = ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"]


def call(method, params):
    req = urllib.request.Request("http://127.0.0.1:48545", json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(),
        {"content-type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=10).read())


def start(datadir):
    p = subprocess.Popen([BIN, "node", "--datadir", datadir] + PORTS, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in p.stdout:
        lines.append(line)
        if "node running" in line:
            return p, lines
    p.wait()
    return None, lines


def served():
    head = int(call("eth_blockNumber", [])["result"], 16)
    out = []
    for n in range(head + 1):
        out.append(call("eth_getBlockByNumber", [hex(n), True]))
        out += [call("eth_getBalance", [a, hex(n)]) for a in ACCOUNTS]
    return out


def copy(src, flip=None):
    d = tempfile.mkdtemp(prefix="drill-corruption-")
    shutil.copy(src, os.path.join(d, "chain.redb"))
    if flip is not None:
        with open(os.path.join(d, "chain.redb"), "r+b") as f:
            f.seek(flip)
            b = f.read(1)
            f.seek(flip)
            f.write(bytes([b[0] ^ 1]))
    return d


def main():
    flips = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    work = tempfile.mkdtemp(prefix="drill-corruption-")
    data = os.path.join(work, "data")
    dev = subprocess.Popen([BIN, "devnet", "--datadir", data, "--flashblocks.port", "48548",
                            "--preconf.api-port", "49090"] + PORTS, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    for _ in range(300):
        if dev.poll() is not None:
            sys.exit("the devnet stopped at once: are ports 48545, 48548, 48551, 49001, 49090 free?")
        try:
            if int(call("eth_blockNumber", [])["result"], 16) >= 1:
                break
        except OSError:
            pass
        time.sleep(0.1)
    subprocess.run([BIN, "bench", "--rpc", "http://127.0.0.1:48545", "--rate", "50", "--duration",
                    "8s", "--senders", "5", "--wait", "3s"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    dev.send_signal(signal.SIGTERM)
    dev.wait()
    src = os.path.join(data, "chain.redb")
    intact = copy(src)
    p, _ = start(intact)
    reference = served()
    p.kill(); p.wait()
    shutil.rmtree(intact)
    size = os.path.getsize(src)
    counts = {"refused": 0, "unchanged": 0, "errors": 0, "WRONG": 0}
    for i in range(flips):
        offset = size * i // flips + 17
        flipped = copy(src, offset)
        p, lines = start(flipped)
        if p is None:
            shutil.rmtree(flipped)
            counts["refused"] += 1
            print(f"{offset}: refused: {lines[-1].strip()[:120]}")
            continue
        got = served()
        p.kill(); p.wait()
        shutil.rmtree(flipped)
        diff = [(a, b) for a, b in zip(reference, got) if a != b]
        if not diff:
            counts["unchanged"] += 1
        elif all("error" in b for _, b in diff):
            counts["errors"] += 1
        else:
            counts["WRONG"] += 1
            print(f"{offset}: WRONG: served {diff[0][1]} for {diff[0][0]}")
    shutil.rmtree(work)
    print(f"{size} bytes, {flips} flips:", ", ".join(f"{k} {v}" for k, v in counts.items()))
    sys.exit(1 if counts["WRONG"] else 0)


if __name__ == "__main__":
    main()
