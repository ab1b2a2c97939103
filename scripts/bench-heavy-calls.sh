#!/usr/bin/env bash
# Flashblock schedule and cheap-read latency while 8 clients loop gas-cap eth_calls (50 M gas of
# an endless loop each): the release devnet, wrk -c8 sending the calls back to back, wrk -c1
# timing eth_getBalance(latest), and the node's own schedule histogram read before and after.
#
#   cargo build --release && scripts/bench-heavy-calls.sh [seconds, default 20]
#
# Needs wrk (Debian: apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
bin=target/release/preconf-node
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
"$bin" devnet --http.port 28545 --authrpc.port 28551 --metrics.port 28601 \
  --flashblocks.port 28548 --datadir "$tmp/data" --log.level warn >"$tmp/node.log" 2>&1 &
pid=$!
url=http://127.0.0.1:28545
for _ in $(seq 100); do curl -s "$url" -H 'Content-Type: application/json' \
  --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}' | grep -q result && break; sleep 0.2; done
sleep 5

lua() { printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = '"'"'%s'"'"'\n' "$1"; }
lua '{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"from":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","data":"0x5b600056","gas":"0x2faf080"},"latest"]}' >"$tmp/call.lua"
lua '{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","latest"]}' >"$tmp/balance.lua"

deviation() { curl -s http://127.0.0.1:28601/metrics | grep '^preconf_flashblock_schedule_deviation_seconds_\(bucket\|count\)'; }
deviation >"$tmp/before"
wrk -t2 -c8 -d"${secs}s" --timeout 30s -s "$tmp/call.lua" "$url" >"$tmp/calls" &
calls=$!
wrk -t1 -c1 -d"${secs}s" --latency -s "$tmp/balance.lua" "$url" >"$tmp/balance"
wait $calls
deviation >"$tmp/after"

echo "gas-cap eth_calls completed: $(awk '/requests in/ {print $1}' "$tmp/calls") in ${secs}s"
python3 - "$tmp/before" "$tmp/after" <<'PY'
import re, sys
def read(path):
    out = {}
    for line in open(path):
        name, value = line.rsplit(" ", 1)
        m = re.search(r'le="([^"]+)"', name)
        out[m.group(1) if m else "count"] = float(value)
    return out
b, a = read(sys.argv[1]), read(sys.argv[2])
total = a["count"] - b["count"]
within = {le: a[le] - b.get(le, 0) for le in a if le != "count"}
p99 = min((float(le) for le, n in within.items() if n >= 0.99 * total), default=float("inf"))
print(f"flashblock ticks: {total:.0f}; within 5 ms: {within['0.005']:.0f} ({100 * within['0.005'] / total:.1f}%); p99 deviation <= {p99 * 1e3:g} ms (histogram bucket)")
PY
awk '/Latency Distribution/ {on=1} on && /%/ {printf "eth_getBalance(latest) %s latency %s\n", $1, $2}' "$tmp/balance"
