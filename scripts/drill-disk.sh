#!/usr/bin/env bash
# The full-disk drill by hand (root: it mounts a tmpfs). A release devnet keeps its datadir on a
# 48 MiB tmpfs; `preconf-node bench` sends 100 tx/s for 40 s; at 10 s a filler takes every free
# byte, at 30 s it is removed. Prints what /healthz said while full, the chain's heads, the
# node's counters and the bench's summary (sent, included, missing: nothing accepted is lost).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin="$PWD/target/release/preconf-node"
mnt=$(mktemp -d)
mount -t tmpfs -o size=48m tmpfs "$mnt"
trap 'pkill -f "devnet --datadir $mnt/data" || true; sleep 1; umount -l "$mnt"; rmdir "$mnt"' EXIT
"$bin" devnet --datadir "$mnt/data" --datadir.min-free-mb 8 --http.port 18545 --authrpc.port 18551 \
  --metrics.port 19001 --flashblocks.port 18548 --preconf.api-port 19090 >"$mnt/../drill-disk.log" 2>&1 &
sleep 3
head() { curl -s localhost:18545 -H 'content-type: application/json' \
  -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' | sed 's/.*"result":"\(0x[0-9a-f]*\)".*/\1/'; }
"$bin" bench --rpc http://127.0.0.1:18545 --rate 100 --duration 40s --senders 10 --wait 30s \
  >"$mnt/../drill-disk-bench.json" 2>/dev/null &
bench=$!
sleep 10
echo "head before the disk filled: $(( $(head) ))"
dd if=/dev/zero of="$mnt/filler" bs=1M 2>/dev/null || true
sleep 12
echo "/healthz while full: $(curl -s -o /dev/null -w '%{http_code}' localhost:19001/healthz)"
curl -s localhost:19001/healthz | python3 -c 'import json,sys; [print("  problem:", p) for p in json.load(sys.stdin)["problems"]]'
echo "head while full: $(( $(head) ))"
sleep 8
rm "$mnt/filler"
sleep 6
echo "/healthz 6 s after freeing: $(curl -s -o /dev/null -w '%{http_code}' localhost:19001/healthz), head $(( $(head) ))"
wait "$bench"
curl -s localhost:19001/metrics | grep -E '^preconf_(chain_commit_failures_total|chain_db_reopens_total|mempool_rejected_total\{reason="disk_low"\}) '
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print("bench: sent", b["sent"], "included", b["included"], "missing", b["missing"], "refused", b["send_errors"])' \
  "$mnt/../drill-disk-bench.json"
ls "$mnt/data/journal" | grep -q '\.tmp$' && echo "a .tmp journal file was left behind" || echo "no .tmp journal file left"
