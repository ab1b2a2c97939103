#!/usr/bin/env bash
# The tool matrix side by side: the same flows (tests/tools: cast, forge, viem, ethers, web3.py,
# back to back, no sleeps) against `preconf-node devnet`, anvil --block-time 2 and anvil (instant
# mining), in one run. Prints a markdown table of each step's time in ms (FAIL when it failed).
#   scripts/bench-tools.sh            (builds the release binary; installs the tools if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
TOOLS=tests/tools
[ -f $TOOLS/node_modules/.package-lock.json ] || (cd $TOOLS && npm ci --no-audit --no-fund)
export PYTHONPATH=$PWD/$TOOLS/.python
python3 -c 'import web3' 2>/dev/null || python3 -m pip install --quiet --target "$PYTHONPATH" -r $TOOLS/requirements.txt
ANVIL=$(ls $TOOLS/node_modules/@foundry-rs/anvil-*/bin/anvil | head -1)
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$OUT"' EXIT

flows() { # URL NAME
  (bash $TOOLS/flows.sh "$1"
    for m in default tuned; do node $TOOLS/flows.mjs "$1" viem $m; node $TOOLS/flows.mjs "$1" ethers $m; done
    python3 $TOOLS/flows.py "$1") | sed "s/^{/{\"target\":\"$2\",/" >>"$OUT/lines.json"
}
wait_rpc() {
  for _ in $(seq 100); do
    curl -sf -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$1" >/dev/null && return
    sleep 0.1
  done
  echo "no node at $1" >&2
  exit 1
}

./target/release/preconf-node devnet --http.port 18545 --authrpc.port 18551 --metrics.port 19001 \
  --flashblocks.port 18548 --preconf.api-port 19090 >"$OUT/devnet.log" 2>&1 &
wait_rpc http://127.0.0.1:18545
flows http://127.0.0.1:18545 "preconf-node devnet"
"$ANVIL" --port 18645 --block-time 2 --silent &
wait_rpc http://127.0.0.1:18645
flows http://127.0.0.1:18645 "anvil --block-time 2"
"$ANVIL" --port 18745 --silent &
wait_rpc http://127.0.0.1:18745
flows http://127.0.0.1:18745 "anvil (instant)"

python3 - "$OUT/lines.json" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
targets = list(dict.fromkeys(l["target"] for l in lines))
rows = list(dict.fromkeys((l["tool"], l["mode"], l["flow"]) for l in lines))
cell = {(l["target"], l["tool"], l["mode"], l["flow"]): l for l in lines}
print("| tool | settings | flow | " + " | ".join(targets) + " |")
print("|---|---|---|" + "---|" * len(targets))
for tool, mode, flow in rows:
    out = []
    for t in targets:
        l = cell.get((t, tool, mode, flow))
        out.append("–" if l is None else (f"{l['ms']}" if l["ok"] else "FAIL"))
    print(f"| {tool} | {mode} | {flow} | " + " | ".join(out) + " |")
fails = [l for l in lines if not l["ok"]]
if fails:
    print("\nFailures:")
    for l in fails:
        print(f"- {l['target']}: {l['tool']} {l['mode']} {l['flow']}: {l.get('error', '')[:160]}")
PY
