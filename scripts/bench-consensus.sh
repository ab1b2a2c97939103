#!/usr/bin/env bash
# The consensus side's figures on a multi-process devnet (release build, loopback, 2 s slots):
#
#  1. payload fetch + validation on the proposer's node, for blocks full of transfers (the
#     bench tool keeps the sequencer's 30 M-gas blocks full): p50 / p99 / max;
#  2. kill -9 of the sequencer → the next block;
#  3. block intervals over the next 100 slots, built locally: p50 / p99 / max.
#
#   cargo build --release && scripts/bench-consensus.sh [slots after the kill, default 100]
#
# Everything is read from the consensus' "committed" log lines (timestamps, source, fetch_ms,
# validate_ms); nothing is estimated.
set -euo pipefail
cd "$(dirname "$0")/.."
slots=${1:-100}
bin=target/release/preconf-node
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
base=${BASE_PORT:-23000}

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

"$bin" init --out "$tmp/net" --base-port "$base" >/dev/null
start() { "$bin" "$@" >"$tmp/$(basename "${!#}" .toml).log" 2>&1 & pids+=($!); }
for n in sequencer validator-0 validator-1 validator-2 validator-3 rpc-0; do
  start node --config "$tmp/net/$n.toml"
done
sleep 2
start consensus --config "$tmp/net/consensus.toml"
seq_pid=${pids[0]}
rpc=http://127.0.0.1:$((base + 60))
for _ in $(seq 100); do curl -s "$rpc" -H 'Content-Type: application/json' \
  --data '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' | grep -q '"0x[2-9a-f]' && break; sleep 0.5; done

echo "load: 900 transfers/s for 40 s through the rpc node (a full block holds 1428)"
"$bin" bench --rpc "$rpc" --rate 900 --duration 40s --senders 400 --wait 5s >"$tmp/bench.json" 2>&1 || true
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d=d[0] if isinstance(d,list) else d; print("  load:", {k: d[k] for k in d if k in ("sent","send_errors","seen","included","inclusion_tps","latency_ms")})' "$tmp/bench.json" 2>/dev/null || head -c 600 "$tmp/bench.json"

load_end=$(date -u +%s.%N)
echo "backlog drains for 12 s (full blocks, no new load)"
sleep 12
echo "kill -9 the sequencer, then $slots slots"
killed=$(date -u +%s.%N)
kill -9 "$seq_pid"
wait "$seq_pid" 2>/dev/null || true
sleep $((2 * slots + 3))

python3 - "$tmp/consensus.log" "$killed" "$slots" "$load_end" <<'EOF'
import re, sys, datetime
log, killed, slots, load_end = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ansi = re.compile(r"\x1b\[[0-9;]*m")
rows = []
for line in open(log):
    line = ansi.sub("", line)
    if " committed" not in line:
        continue
    ts = datetime.datetime.strptime(line[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    f = {k: v.strip('"') for k, v in re.findall(r"(\w+)=(\S+)", line)}
    rows.append((ts, f))
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
fetched = [(ts, int(f["txs"]), float(f["fetch_ms"]), float(f["validate_ms"])) for ts, f in rows
           if f.get("source") == "sequencer"]
if fetched:
    print(f"fetched blocks: {len(fetched)}, transactions per block max {max(r[1] for r in fetched)}")
for label, sel in (("under load", lambda ts: ts <= load_end),
                   ("after the load stopped", lambda ts: ts > load_end + 1)):
    full = [r for r in fetched if r[1] >= 1000 and sel(r[0])]
    if not full:
        print(f"{label}: no full blocks")
        continue
    tot = [r[2] + r[3] for r in full]
    print(f"fetch + validate, full blocks {label} ({len(full)}): p50 {pct(tot, 50):.1f} ms, "
          f"p99 {pct(tot, 99):.1f} ms, max {max(tot):.1f} ms "
          f"(fetch p50 {pct([r[2] for r in full], 50):.1f}, validate p50 {pct([r[3] for r in full], 50):.1f})")
after = [ts for ts, f in rows if ts > killed]
last_before = max(ts for ts, f in rows if ts <= killed)
if after:
    print(f"kill -9 → next block: {after[0] - killed:.3f} s "
          f"(the slot spanning the kill: {after[0] - last_before:.3f} s)")
else:
    print("no block after the kill")
times = [last_before] + after[:slots]
gaps = [b - a for a, b in zip(times, times[1:])]
if gaps:
    print(f"block interval over {len(gaps)} slots without the sequencer: "
          f"p50 {pct(gaps, 50):.3f} s, p99 {pct(gaps, 99):.3f} s, max {max(gaps):.3f} s")
local = sum(1 for ts, f in rows if ts > killed and f.get("source") == "local")
print(f"blocks after the kill built locally: {local} of {len(after)}")
EOF
