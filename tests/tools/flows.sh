#!/usr/bin/env bash
# The cast and forge flows of the tool matrix: flows.sh RPC_URL
# Prints one JSON line per step: {"tool","mode","flow","ok","ms","error"?}. Each command runs as
# a user types it: back to back, no sleeps, nonces and fees filled by the tool.
set -uo pipefail
cd "$(dirname "$0")"
URL=$1
bin() { ls node_modules/@foundry-rs/"$1"-*/bin/"$1" | head -1; }
CAST=$(bin cast)
FORGE=$(bin forge)
# Dev accounts 0 (cast), 2 (unlocked) and 3 (forge) of the `test ... junk` mnemonic.
KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
UNLOCKED=0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC
FORGE_KEY=0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
TO=0x70997970C51812dc3A010C7d01b50e0d17dc79C8
MODE=default
BYTECODE=$(python3 -c 'import json; print(json.load(open("Counter.json"))["bytecode"])')

# step TOOL FLOW CMD...: runs CMD, prints its line; the command's stdout is kept in $OUT.
step() {
  local tool=$1 flow=$2
  shift 2
  local start end err
  start=$(date +%s%N)
  if OUT=$("$@" 2>/tmp/flows.$$.err); then
    end=$(date +%s%N)
    printf '{"tool":"%s","mode":"%s","flow":"%s","ok":true,"ms":%d}\n' "$tool" "$MODE" "$flow" $(((end - start) / 1000000))
  else
    end=$(date +%s%N)
    err=$(tr -d '"\\' </tmp/flows.$$.err | tr '\n' ' ' | cut -c1-300)
    printf '{"tool":"%s","mode":"%s","flow":"%s","ok":false,"ms":%d,"error":"%s"}\n' "$tool" "$MODE" "$flow" $(((end - start) / 1000000)) "$err"
    OUT=
  fi
}

for i in 1 2 3; do
  step cast "send #$i" "$CAST" send "$TO" --value 1 --private-key "$KEY" --rpc-url "$URL"
done
step cast "send --create" "$CAST" send --private-key "$KEY" --rpc-url "$URL" --json --create "$BYTECODE"
ADDR=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["contractAddress"])' 2>/dev/null)
step cast "call after --create" "$CAST" call "${ADDR:-0x}" "number()(uint256)" --rpc-url "$URL"
[ "$OUT" = 0 ] || echo '{"tool":"cast","mode":"default","flow":"call after --create returns 0","ok":false,"ms":0,"error":"got '"$OUT"'"}'
step cast "send to the new contract" "$CAST" send "${ADDR:-0x}" "set(uint256)" 7 --private-key "$KEY" --rpc-url "$URL"
step cast "call after send" "$CAST" call "${ADDR:-0x}" "number()(uint256)" --rpc-url "$URL"
[ "$OUT" = 7 ] || echo '{"tool":"cast","mode":"default","flow":"call after send returns 7","ok":false,"ms":0,"error":"got '"$OUT"'"}'
step cast "send --unlocked" "$CAST" send --unlocked --from "$UNLOCKED" "$TO" --value 1 --rpc-url "$URL"
for i in 1 2 3; do
  step cast "send --async #$i" "$CAST" send --async "$TO" --value 1 --private-key "$KEY" --rpc-url "$URL"
done
for i in 1 2 3; do
  step cast "send --unlocked --async #$i" "$CAST" send --unlocked --async --from "$UNLOCKED" "$TO" --value 1 --rpc-url "$URL"
done
# Berachain's PoL transaction (type 0x7e) opens every block; its distributor logs each call.
step cast "block + PoL receipt" bash -c '"$1" receipt "$("$1" block latest --json --rpc-url "$2" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"transactions\"][0])")" type --rpc-url "$2"' _ "$CAST" "$URL"
[ "$OUT" = 126 ] || echo '{"tool":"cast","mode":"default","flow":"PoL receipt type is 0x7e","ok":false,"ms":0,"error":"got '"$OUT"'"}'
step cast "logs of the PoL distributor" "$CAST" logs --address 0x4200000000000000000000000000000000000042 --from-block latest "Distributed(bytes,uint256)" --rpc-url "$URL"
# forge caches fork state on disk by chain id and block number (every chain id but 99, 1337 and
# 31337); a preconfirmed block's state changes under its number, so the documented setting turns
# that cache off. Both are run; "tuned" is the documented one.
for i in 1 2; do
  step forge "script --broadcast #$i" env PRIVATE_KEY=$FORGE_KEY "$FORGE" script script/Counter.s.sol:CounterScript \
    --use ./solc --rpc-url "$URL" --broadcast
done
# A contract solc >= 0.8.31 compiled for its default EVM version (Osaka) using CLZ.
step forge "create a CLZ contract (solc 0.8.31, Osaka)" "$FORGE" create osaka/Clz.sol:Clz --use ./solc-osaka \
  --private-key "$FORGE_KEY" --rpc-url "$URL" --broadcast --json
CLZ=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["deployedTo"])' 2>/dev/null)
step forge "call the CLZ contract" "$CAST" call "${CLZ:-0x}" "clz(uint256)(uint256)" 1 --rpc-url "$URL"
[ "$OUT" = 255 ] || echo '{"tool":"forge","mode":"default","flow":"clz(1) returns 255","ok":false,"ms":0,"error":"got '"$OUT"'"}'
MODE=tuned
for i in 1 2; do
  step forge "script --broadcast --no-storage-caching #$i" env PRIVATE_KEY=$FORGE_KEY "$FORGE" script \
    script/Counter.s.sol:CounterScript --use ./solc --rpc-url "$URL" --broadcast --no-storage-caching
done
rm -f /tmp/flows.$$.err
