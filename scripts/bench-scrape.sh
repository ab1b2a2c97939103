#!/usr/bin/env bash
# Prometheus' scrape of /metrics while the devnet takes 1,000 tx/s: a real Prometheus (Debian's
# `prometheus`) scrapes the release devnet every second while `preconf-node bench --rate 1000`
# runs for 30 s (blocks of 300 Mgas, so the rate is not capped by gas); prints the scrape
# durations it measured (p50/max over the load) and the exposition's size.
#   cargo build --release && scripts/bench-scrape.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/preconf-node
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v prometheus >/dev/null || { echo "needs Debian's prometheus" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
"$bin" devnet --gas-limit 300000000 --http.port 28545 --authrpc.port 28551 --metrics.port 29001 --flashblocks.port 28548 \
  --preconf.api-port 29090 >"$tmp/devnet.log" 2>&1 &
cat >"$tmp/prometheus.yml" <<YML
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: preconf-node
    static_configs: [{targets: ["127.0.0.1:29001"]}]
YML
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --web.listen-address=127.0.0.1:29091 >"$tmp/prometheus.log" 2>&1 &
sleep 5
"$bin" bench --rpc http://127.0.0.1:28545 --rate 1000 --duration 30s >"$tmp/bench.json" 2>"$tmp/bench.log"
q() { curl -s --data-urlencode "query=$1" http://127.0.0.1:29091/api/v1/query |
  python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")'; }
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("load: offered %.0f tx/s, included %.0f tx/s" % (d["offered_tps"], d["inclusion_tps"]))' "$tmp/bench.json"
echo "scrape duration p50 over the load: $(q 'quantile_over_time(0.5, scrape_duration_seconds[30s])') s"
echo "scrape duration max over the load: $(q 'max_over_time(scrape_duration_seconds[30s])') s"
echo "exposition: $(curl -s http://127.0.0.1:29001/metrics | wc -c) bytes, $(curl -s http://127.0.0.1:29001/metrics | grep -vc '^#') samples"
