// The viem and ethers flows of the tool matrix: node flows.mjs RPC_URL viem|ethers default|tuned
// Prints one JSON line per step: {"tool","mode","flow","ok","ms","error"?}. "default" is each
// library as it comes; "tuned" is the chain definition the README documents (viem: defineChain
// with blockTime and experimental_preconfirmationTime; ethers: pollingInterval and cacheTimeout).
import { readFileSync } from "node:fs";

const [url, tool, mode] = process.argv.slice(2);
const counter = JSON.parse(readFileSync(new URL("./Counter.json", import.meta.url)));
// Dev accounts 5 (ethers) and 6 (viem) of the `test … junk` mnemonic.
const KEYS = {
  ethers: "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  viem: "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
};
const TO = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

async function step(flow, f) {
  const start = performance.now();
  try {
    const detail = await f();
    const ms = Math.round(performance.now() - start);
    console.log(JSON.stringify({ tool, mode, flow, ok: true, ms, ...(detail ?? {}) }));
  } catch (e) {
    const ms = Math.round(performance.now() - start);
    console.log(JSON.stringify({ tool, mode, flow, ok: false, ms, error: String(e?.shortMessage ?? e?.message ?? e).slice(0, 300) }));
  }
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

async function viemFlows() {
  const v = await import("viem");
  const { privateKeyToAccount } = await import("viem/accounts");
  const id = Number(await (await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }) })).json().then((r) => r.result));
  const chain = v.defineChain({
    id,
    name: "devnet",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [url] } },
    ...(mode === "tuned" ? { blockTime: 2_000, experimental_preconfirmationTime: 200 } : {}),
  });
  const account = privateKeyToAccount(KEYS.viem);
  const transport = v.http(url);
  const pub = v.createPublicClient({ chain, transport });
  const wallet = v.createWalletClient({ account, chain, transport });
  for (let i = 1; i <= 3; i++) {
    await step(`send + waitForTransactionReceipt #${i}`, async () => {
      const hash = await wallet.sendTransaction({ to: TO, value: 1n });
      const r = await pub.waitForTransactionReceipt({ hash });
      check(r.status === "success", `status ${r.status}`);
    });
  }
  let address;
  await step("deployContract + waitForTransactionReceipt", async () => {
    const hash = await wallet.deployContract({ abi: counter.abi, bytecode: counter.bytecode });
    const r = await pub.waitForTransactionReceipt({ hash });
    address = r.contractAddress;
    check(address, "no contract address");
  });
  await step("readContract after deploy", async () => {
    const n = await pub.readContract({ address, abi: counter.abi, functionName: "number" });
    check(n === 0n, `number ${n}`);
  });
  await step("writeContract + wait + readContract", async () => {
    const hash = await wallet.writeContract({ address, abi: counter.abi, functionName: "set", args: [7n] });
    await pub.waitForTransactionReceipt({ hash });
    const n = await pub.readContract({ address, abi: counter.abi, functionName: "number" });
    check(n === 7n, `number ${n}`);
  });
  // A contract solc >= 0.8.31 compiled for its default EVM version (Osaka) using CLZ.
  const clz = JSON.parse(readFileSync(new URL("./out/Clz.json", import.meta.url)));
  await step("deploy + read a CLZ contract (solc 0.8.31, Osaka)", async () => {
    const hash = await wallet.deployContract({ abi: clz.abi, bytecode: clz.bytecode });
    const r = await pub.waitForTransactionReceipt({ hash });
    const n = await pub.readContract({ address: r.contractAddress, abi: clz.abi, functionName: "clz", args: [1n] });
    check(n === 255n, `clz(1) ${n}`);
  });
  await step("getBlock(receipt.blockHash)", async () => {
    const hash = await wallet.sendTransaction({ to: TO, value: 1n });
    const r = await pub.waitForTransactionReceipt({ hash });
    const b = await pub.getBlock({ blockHash: r.blockHash });
    check(b.number === r.blockNumber, `block ${b.number} vs receipt ${r.blockNumber}`);
  });
  await step("sendTransactionSync", async () => {
    const r = await wallet.sendTransactionSync({ to: TO, value: 1n });
    check(r.status === "success", `status ${r.status}`);
  });
  // Berachain's PoL transaction (type 0x7e) opens every block: viem keeps its type in typeHex.
  await step("getBlock(includeTransactions) + PoL receipt", async () => {
    const b = await pub.getBlock({ blockTag: "latest", includeTransactions: true });
    const pol = b.transactions[0];
    check(pol.typeHex === "0x7e", `type ${pol.typeHex}`);
    const r = await pub.getTransactionReceipt({ hash: pol.hash });
    check(r.type === "0x7e" && r.cumulativeGasUsed === 0n && r.logs.length === 1, `receipt ${r.type}`);
  });
}

async function ethersFlows() {
  const { ethers } = await import("ethers");
  // ethers answers an identical request from a 250 ms cache (`cacheTimeout`): on a chain that
  // confirms within 200 ms, the nonce of a send right after a confirmed one comes from that cache.
  const options = mode === "tuned" ? { pollingInterval: 200, cacheTimeout: -1 } : {};
  const provider = new ethers.JsonRpcProvider(url, undefined, options);
  const wallet = new ethers.Wallet(KEYS.ethers, provider);
  for (let i = 1; i <= 3; i++) {
    await step(`sendTransaction + tx.wait() #${i}`, async () => {
      const tx = await wallet.sendTransaction({ to: TO, value: 1n });
      const r = await tx.wait();
      check(r.status === 1, `status ${r.status}`);
    });
  }
  await step("receipt.getBlock()", async () => {
    const tx = await wallet.sendTransaction({ to: TO, value: 1n });
    const r = await tx.wait();
    const b = await r.getBlock();
    check(b && b.number === r.blockNumber, `block ${b?.number} vs receipt ${r.blockNumber}`);
  });
  let contract;
  await step("ContractFactory.deploy + waitForDeployment", async () => {
    const factory = new ethers.ContractFactory(counter.abi, counter.bytecode, wallet);
    contract = await factory.deploy();
    await contract.waitForDeployment();
  });
  await step("call after deploy", async () => {
    const n = await contract.number();
    check(n === 0n, `number ${n}`);
  });
  await step("contract send + wait + call", async () => {
    const tx = await contract.set(7n);
    await tx.wait();
    const n = await contract.number();
    check(n === 7n, `number ${n}`);
  });
  await step("getBlock(prefetch) + PoL receipt", async () => {
    const b = await provider.getBlock("latest", true);
    const pol = b.prefetchedTransactions[0];
    check(pol.type === 126, `type ${pol.type}`);
    const r = await provider.getTransactionReceipt(pol.hash);
    check(r.type === 126 && r.cumulativeGasUsed === 0n && r.logs.length === 1, `receipt ${r.type}`);
  });
  provider.destroy();
}

if (tool === "viem") await viemFlows();
else if (tool === "ethers") await ethersFlows();
else throw new Error(`unknown tool ${tool}`);
