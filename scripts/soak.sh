#!/usr/bin/env bash
# The memory soak: a release devnet (100 M gas, so 500 transfers/s stay under the gas target)
# under `preconf-node bench --rate 500` for DURATION (default 1800s). Every 10 s it records the
# node's resident memory and the allocator's figures from /metrics to $OUT/rss.txt
# (seconds, resident MB, heap in use MB, heap free MB, heap mapped MB), then prints the curve at
# the minutes the README's table uses, the bench's summary and the heap trim timings.
# Uses ports 28545–28551 and 29001; build first with `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-1800s}"
OUT="${OUT:-$(mktemp -d /tmp/preconf-soak.XXXXXX)}"
BIN=target/release/preconf-node
mkdir -p "$OUT"
rm -rf "$OUT/data"
"$BIN" devnet --gas-limit 100000000 --datadir "$OUT/data" --http.port 28545 --authrpc.port 28551 \
  --metrics.port 29001 --flashblocks.port 28546 --preconf.api-port 28547 >"$OUT/node.log" 2>&1 &
NODE=$!
trap 'kill $NODE 2>/dev/null || true' EXIT
until curl -s -o /dev/null 127.0.0.1:29001/metrics; do sleep 0.2; done
start=$(date +%s)
(
  while kill -0 $NODE 2>/dev/null; do
    heap=$(curl -s 127.0.0.1:29001/metrics | awk '
      /^preconf_heap_in_use_bytes /{u=$2} /^preconf_heap_free_bytes /{f=$2} /^preconf_heap_mapped_bytes /{m=$2}
      END{printf "%d %d %d", u/1048576, f/1048576, m/1048576}')
    echo "$(($(date +%s) - start)) $(awk '/VmRSS/{print int($2/1024)}' /proc/$NODE/status) $heap"
    sleep 10
  done
) >"$OUT/rss.txt" &
"$BIN" bench --rpc http://127.0.0.1:28545 --rate 500 --duration "$DURATION" >"$OUT/bench.json" 2>"$OUT/bench.err"
curl -s 127.0.0.1:29001/metrics | grep '^preconf_heap_trim_seconds' >"$OUT/trim.txt" || true
echo "minute resident_MB heap_in_use_MB heap_free_MB heap_mapped_MB  ($OUT/rss.txt)"
for m in 1 2 3 4 5 6 8 10 12 15 18 20 22 25 28 30; do
  awk -v t=$((m * 60)) 'BEGIN{best=-1} {d=$1-t; if (d<0) d=-d; if (best<0 || d<best) {best=d; line=$0}}
    END{split(line, f, " "); if (best >= 0 && best <= 10) print "'$m'", f[2], f[3], f[4], f[5]}' "$OUT/rss.txt"
done
python3 - "$OUT/bench.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
lat = d["latency_ms"]
print("sent %d, errors %d, seen %d, p50 %.1f ms, p99 %.1f ms"
      % (d["sent"], d["send_errors"], d["seen"], lat["p50"], lat["p99"]))
PY
cat "$OUT/trim.txt"
