#!/usr/bin/env bash
# Read throughput side by side with anvil: wrk -t2 -c32 JSON-RPC POSTs against an idle
# `preconf-node devnet` and an idle anvil (--block-time 2), one method at a time, in one run.
# Prints requests/s for each (the median of three alternating runs) and our ratio to anvil.
#
#   cargo build --release && scripts/bench-reads.sh [seconds per run, default 5]
#
# Needs wrk (Debian: apt-get install wrk) and npx (anvil from npm: @foundry-rs/anvil).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
bin=target/release/preconf-node
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }

ours_port=28545 anvil_port=28645
tmp=$(mktemp -d)
# Each node runs in its own process group (npx starts anvil as a child), killed whole.
cleanup() { for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
pids=()
trap cleanup EXIT

setsid "$bin" devnet --http.port $ours_port --authrpc.port 28551 --metrics.port 28601 \
  --flashblocks.port 28548 --datadir "$tmp/data" --log.level warn >"$tmp/ours.log" 2>&1 &
pids+=($!)
setsid npx --yes @foundry-rs/anvil --port $anvil_port --block-time 2 --silent >"$tmp/anvil.log" 2>&1 &
pids+=($!)

rpc() { curl -s -X POST -H 'Content-Type: application/json' --data "$2" "http://127.0.0.1:$1"; }
for port in $ours_port $anvil_port; do
  for _ in $(seq 100); do rpc $port '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}' | grep -q result && break; sleep 0.2; done
done
sleep 3 # a block or two on both

account=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
# Warm both up (connections, allocator, caches) so the first method is not measured cold.
printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = '"'"'%s'"'"'\n' \
  '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' >"$tmp/warm.lua"
for port in $ours_port $anvil_port; do wrk -t2 -c32 -d3s -s "$tmp/warm.lua" "http://127.0.0.1:$port" >/dev/null; done
printf '%-36s %12s %12s %8s\n' method ours/s anvil/s ratio
run() { # name body
  printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = '"'"'%s'"'"'\n' "$2" >"$tmp/body.lua"
  local port ours=() theirs=()
  for port in $ours_port $anvil_port; do
    rpc $port "$2" | grep -q '"result"' || { echo "$1 failed on :$port: $(rpc $port "$2")" >&2; exit 1; }
  done
  # Three rounds, alternating the nodes (they share the cores with wrk); the median of each.
  for _ in 1 2 3; do
    for port in $ours_port $anvil_port; do
      rate=$(wrk -t2 -c32 -d"${secs}s" -s "$tmp/body.lua" "http://127.0.0.1:$port" | awk '/Requests\/sec/ {print $2}')
      if [ $port = $ours_port ]; then ours+=("$rate"); else theirs+=("$rate"); fi
    done
  done
  ours=$(printf '%s\n' "${ours[@]}" | sort -n | sed -n 2p)
  theirs=$(printf '%s\n' "${theirs[@]}" | sort -n | sed -n 2p)
  printf '%-36s %12.0f %12.0f %7.2fx\n' "$1" "$ours" "$theirs" "$(awk -v a="$ours" -v b="$theirs" 'BEGIN {print a / b}')"
}
run 'eth_getBalance(latest)' "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getBalance\",\"params\":[\"$account\",\"latest\"]}"
run 'eth_getBalance(pending)' "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getBalance\",\"params\":[\"$account\",\"pending\"]}"
run 'eth_getBlockByNumber(latest)' '{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["latest",false]}'
run 'eth_chainId' '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
