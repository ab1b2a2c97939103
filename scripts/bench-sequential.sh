#!/usr/bin/env bash
# One client sending pre-signed transactions one after another on one connection (each send
# returns once the transaction is preconfirmed, as on the devnet): the time from the first send
# to the last receipt, for 50 transactions, with early flashblocks (the devnet's default) and
# with the strict 200 ms cadence (--flashblocks.early=false), alternating, one release build;
# then the 1,000 tx/s --sync latency bench both ways; and the same 50 sends on anvil
# --block-time 2 (npm's anvil 1.7.1 in tests/tools). Needs `cargo build --release`, python3 and
# eth-account and anvil (tests/tools/.python and node_modules, installed by `cargo test --test tools`).
# Usage: scripts/bench-sequential.sh [RUNS]
set -euo pipefail
runs=${1:-2}
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/release/preconf-node"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$((38000 + RANDOM % 20000))
cat >"$work/seq.py" <<'PY'
import http.client, json, sys, time
from eth_account import Account
acct = Account.from_key("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
def call(m, p):
    c.request("POST", "/", json.dumps({"jsonrpc": "2.0", "id": 1, "method": m, "params": p}),
              {"Content-Type": "application/json"})
    return json.loads(c.getresponse().read())
nonce = int(call("eth_getTransactionCount", [acct.address, "pending"])["result"], 16)
chain = int(call("eth_chainId", [])["result"], 16)
raws = ["0x" + acct.sign_transaction({"chainId": chain, "nonce": nonce + i, "type": 2,
        "to": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "value": 1, "gas": 21000,
        "maxFeePerGas": 20 * 10**9, "maxPriorityFeePerGas": 10**9}).raw_transaction.hex().removeprefix("0x")
        for i in range(50)]
start = time.time()
hashes = [call("eth_sendRawTransaction", [r])["result"] for r in raws]
while not call("eth_getTransactionReceipt", [hashes[-1]])["result"]:
    time.sleep(0.005)
print(f"{sys.argv[2]:<6} 50 sequential sends: last receipt after {(time.time() - start) * 1000:.0f} ms")
PY
run() {
  rm -rf "$work/data"
  "$bin" devnet --flashblocks.early="$1" --gas-limit 300000000 --datadir "$work/data" \
    --http.port $port --authrpc.port $((port + 1)) --metrics.port $((port + 2)) \
    --flashblocks.port $((port + 3)) --preconf.api-port $((port + 4)) >"$work/node.log" 2>&1 &
  local pid=$!
  sleep 4
  PYTHONPATH="$root/tests/tools/.python" python3 "$work/seq.py" $port "$1"
  "$bin" bench --rpc "http://127.0.0.1:$port" --rate 1000 --duration 10s --sync 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin); l=d['latency_ms']; print('$1'.ljust(6), '1,000 tx/s --sync: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  errors %d' % (l['p50'], l['p90'], l['p99'], l['max'], d['send_errors']))"
  kill $pid
  wait $pid 2>/dev/null || true
}
anvil() {
  "$(ls "$root"/tests/tools/node_modules/@foundry-rs/anvil-*/bin/anvil | head -1)" \
    --block-time 2 --port $((port + 5)) --silent &
  local pid=$!
  sleep 2
  PYTHONPATH="$root/tests/tools/.python" python3 "$work/seq.py" $((port + 5)) "anvil --block-time 2"
  kill $pid
  wait $pid 2>/dev/null || true
}
for _ in $(seq "$runs"); do
  run true
  run false
  anvil
done
