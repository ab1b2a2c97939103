#!/usr/bin/env bash
# What Osaka and Osaka1 cost the flashblock latency: the 1,000 tx/s `--sync` bench (send →
# preconfirmed receipt) on the default devnet (Prague1 + Osaka + Osaka1) and on `--hardfork
# prague` (Prague1 only), alternating, each run on a fresh datadir, one build. Needs `cargo build
# --release` and python3. Usage: scripts/bench-osaka.sh [RUNS]
set -euo pipefail
runs=${1:-3}
bin="$(cd "$(dirname "$0")/.." && pwd)/target/release/preconf-node"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$((38000 + RANDOM % 20000))
run() {
  rm -rf "$work/data"
  "$bin" devnet --hardfork "$1" --gas-limit 300000000 --datadir "$work/data" --http.port $port \
    --authrpc.port $((port + 1)) --metrics.port $((port + 2)) --flashblocks.port $((port + 3)) \
    --preconf.api-port $((port + 4)) >"$work/node.log" 2>&1 &
  local pid=$!
  sleep 4
  "$bin" bench --rpc "http://127.0.0.1:$port" --rate 1000 --duration 10s --sync 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin); l=d['latency_ms']; print('$1'.ljust(7), 'p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  errors %d' % (l['p50'], l['p90'], l['p99'], l['max'], d['send_errors']))"
  kill $pid
  wait $pid 2>/dev/null || true
}
for _ in $(seq "$runs"); do
  run osaka
  run prague
done
