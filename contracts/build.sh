#!/usr/bin/env bash
# Compiles DevnetPolDistributor.sol with solc-js 0.8.28 (tests/tools' pinned npm install; run
# `npm ci` there first) and writes its runtime bytecode to DevnetPolDistributor.bin-runtime, which
# the devnet genesis embeds at config.berachain.prague1.polDistributorAddress. `--check` compares
# instead of writing (the tool tests run it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tools="$here/../tests/tools"
out="$here/DevnetPolDistributor.bin-runtime"
code="$(cd "$tools" && node -e '
const solc = require("solc");
const fs = require("fs");
const src = fs.readFileSync(process.argv[1], "utf8");
const input = {
  language: "Solidity",
  sources: { "DevnetPolDistributor.sol": { content: src } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "prague",
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "*": { "*": ["evm.deployedBytecode.object"] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
for (const e of out.errors || []) {
  if (e.severity === "error") { console.error(e.formattedMessage); process.exit(1); }
}
process.stdout.write(out.contracts["DevnetPolDistributor.sol"].DevnetPolDistributor.evm.deployedBytecode.object);
' "$here/DevnetPolDistributor.sol")"
if [[ "${1:-}" == "--check" ]]; then
  if [[ "$code" != "$(cat "$out")" ]]; then
    echo "DevnetPolDistributor.bin-runtime is not what DevnetPolDistributor.sol compiles to: run contracts/build.sh" >&2
    exit 1
  fi
  echo "DevnetPolDistributor.bin-runtime matches its source"
else
  printf '%s\n' "$code" > "$out"
  echo "wrote $out (${#code} hex chars)"
fi
