// Compiles src/Clz.sol with solc-js >= 0.8.31 (npm alias solc-osaka) at its default EVM version
// (Osaka) and writes out/Clz.json ({abi, bytecode}) for the flows: node clz.mjs
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const solc = createRequire(import.meta.url)("solc-osaka");
const input = {
  language: "Solidity",
  sources: { "Clz.sol": { content: readFileSync(new URL("./osaka/Clz.sol", import.meta.url), "utf8") } },
  settings: { outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors ?? []).filter((e) => e.severity === "error");
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
const c = out.contracts["Clz.sol"].Clz;
mkdirSync(new URL("./out", import.meta.url), { recursive: true });
writeFileSync(
  new URL("./out/Clz.json", import.meta.url),
  JSON.stringify({ compiler: solc.version(), abi: c.abi, bytecode: "0x" + c.evm.bytecode.object }),
);
console.log(solc.version());
