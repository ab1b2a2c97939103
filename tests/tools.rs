//! The tool matrix: cast, forge, viem, ethers and web3.py — installed from npm and PyPI
//! (`tests/tools/`) — run ordinary scripts against the default devnet, back to back with no
//! sleeps. Every flow must pass as the tool comes or with the setting the README documents;
//! the two runs that a client-side cache breaks (ethers' 250 ms request cache, forge's fork cache
//! keyed by block number) are run and printed too, not asserted.
//!
//! Its own test binary, so cargo runs it alone (test binaries run one after another): the tools'
//! processes load both cores, which the timing-sensitive tests in `it` must not share.

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::Command,
};
use support::Proc;

fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools")
}

/// Installs the tools when they are missing: `npm ci` (the lock file's exact versions) and
/// web3.py ([`support::python_path`]). Returns the PYTHONPATH to use.
fn install() -> String {
    let dir = tools_dir();
    if !dir.join("node_modules/.package-lock.json").exists() {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm (Node.js) is needed for the tool matrix")
            .success();
        assert!(ok, "npm ci in tests/tools failed");
    }
    support::python_path("web3")
}

/// Runs one flow script; its JSON lines.
fn run(cmd: &mut Command) -> Vec<Value> {
    let out = cmd
        .current_dir(tools_dir())
        .output()
        .expect("run a flow script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn cast_forge_viem_ethers_and_web3py_work_back_to_back() {
    let pythonpath = install();
    // With the same tools: the devnet's PoL distributor bytecode is what its source compiles to
    // (solc-js), and the PoL test vector comes out of pyrlp as core/src/pol.rs pins it.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let check = Command::new("bash")
        .arg(root.join("contracts/build.sh"))
        .arg("--check")
        .status()
        .unwrap();
    assert!(check.success(), "contracts/build.sh --check");
    let vector = Command::new("python3")
        .arg(root.join("scripts/pol-vector.py"))
        .env("PYTHONPATH", &pythonpath)
        .output()
        .unwrap();
    let vector = String::from_utf8_lossy(&vector.stdout);
    assert!(
        vector.contains("0xb25ddbd12759e62bb51e3feb91afb88f3528578c72f469ca0793bfd4d4c1ff08"),
        "{vector}"
    );
    // The CLZ contract the flows deploy, compiled by solc-js 0.8.31 for its default EVM version.
    let built = Command::new("node")
        .arg("clz.mjs")
        .current_dir(tools_dir())
        .status()
        .unwrap();
    assert!(built.success(), "node clz.mjs");
    let p = Proc::start(&["devnet"]);
    let url = format!("http://{}", p.rpc);
    let mut lines = run(Command::new("bash").args(["flows.sh", &url]));
    for (tool, mode) in [
        ("viem", "default"),
        ("viem", "tuned"),
        ("ethers", "tuned"),
        ("ethers", "default"),
    ] {
        lines.extend(run(Command::new("node").args([
            "flows.mjs",
            &url,
            tool,
            mode,
        ])));
    }
    lines.extend(run(Command::new("python3")
        .args(["flows.py", &url])
        .env("PYTHONPATH", &pythonpath)));
    let cache_bound =
        |l: &Value| l["mode"] == "default" && (l["tool"] == "ethers" || l["tool"] == "forge");
    let mut failed = Vec::new();
    for l in &lines {
        println!("{l}");
        if l["ok"] != true && !cache_bound(l) {
            failed.push(l.clone());
        }
    }
    for tool in ["cast", "forge", "viem", "ethers", "web3.py"] {
        assert!(
            lines.iter().any(|l| l["tool"] == tool && l["ok"] == true),
            "no passing {tool} flow"
        );
    }
    assert!(failed.is_empty(), "flows failed: {failed:#?}");
}

/// Kills anvil when the test ends, however it ends.
struct Anvil(std::process::Child, std::net::SocketAddr);

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// anvil 1.7.1 from npm, on its default hardfork (Osaka), on a free port.
fn anvil() -> Anvil {
    let bin = std::fs::read_dir(tools_dir().join("node_modules/@foundry-rs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin/anvil"))
        .find(|p| p.exists())
        .expect("anvil from npm (@foundry-rs/anvil)");
    let port = support::free_port();
    let child = Command::new(bin)
        .args(["--port", &port.to_string(), "--silent"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start anvil");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let anvil = Anvil(child, addr);
    support::wait_for(std::time::Duration::from_secs(20), || {
        std::net::TcpStream::connect(addr).ok()
    })
    .expect("anvil listens");
    anvil
}

/// What one call and one transaction with the same request give on a node: the call's output
/// (or that it failed) and the transaction's status and gas used.
fn outcome(addr: std::net::SocketAddr, req: &Value) -> (Value, Value, Value) {
    let call = support::rpc(addr, "eth_call", serde_json::json!([req, "latest"]));
    let output = if call["error"].is_null() {
        call["result"].clone()
    } else {
        Value::String("error".into())
    };
    let sent = support::rpc(addr, "eth_sendTransaction", serde_json::json!([req]));
    let hash = sent["result"].clone();
    assert!(hash.is_string(), "{sent}");
    let receipt = support::wait_for(std::time::Duration::from_secs(10), || {
        let r = support::rpc(addr, "eth_getTransactionReceipt", serde_json::json!([hash]));
        (!r["result"].is_null()).then(|| r["result"].clone())
    })
    .expect("a receipt");
    (
        output,
        receipt["status"].clone(),
        receipt["gasUsed"].clone(),
    )
}

/// The Osaka execution changes side by side with anvil 1.7.1 on its default hardfork:
/// P256VERIFY (EIP-7951) with valid and invalid inputs, CLZ (EIP-7939) over a spread of values,
/// MODEXP (EIP-7823 bounds, EIP-7883 prices) over a spread of sizes: the same output from
/// `eth_call`, and the same status and gas used for the same transaction.
#[test]
fn osaka_answers_as_anvil_does() {
    install();
    let anvil = anvil();
    let p = Proc::start(&["devnet"]);
    let from = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
    let p256_valid = "4cee90eb86eaa050036147a12d49004b6b9c72bd725d39d4785011fe190f0b4da73bd4903f0ce3b639bbbf6e8e80d16931ff4bcf5993d58468e8fb19086e8cac36dbcd03009df8c59286b162af3bd7fcc0450c9aa81be5d10d312af6c66b1d604aebd3099c618202fcfe16ae7770b0c49ab5eadf74b754204a3bb6060e44eff37618b065f9832de4ca6ca971a7a1adc826d0f7c00181a5fb2ddf79ae00b4e10e";
    let mut p256_bad = p256_valid.to_string();
    p256_bad.replace_range(0..2, "00");
    let word = |n: usize| format!("{n:064x}");
    let modexp = |base: &str, exp: &str, modulus: &str| {
        format!(
            "0x{}{}{}{base}{exp}{modulus}",
            word(base.len() / 2),
            word(exp.len() / 2),
            word(modulus.len() / 2)
        )
    };
    let call = |to: &str, data: String| serde_json::json!({"from": from, "to": to, "data": data, "gas": "0xf4240"});
    let create = |data: String| serde_json::json!({"from": from, "data": data, "gas": "0x186a0"});
    let mut cases: Vec<(String, Value)> = Vec::new();
    let p256 = "0x0000000000000000000000000000000000000100";
    for (name, input) in [
        ("valid", format!("0x{p256_valid}")),
        ("bad hash", format!("0x{p256_bad}")),
        ("short", format!("0x{}", &p256_valid[..200])),
        ("empty", "0x".to_string()),
    ] {
        cases.push((format!("P256VERIFY {name}"), call(p256, input)));
    }
    for x in [
        "00".repeat(32),
        word(1),
        word(0xff),
        format!("{}1{}", "0".repeat(31), "0".repeat(32)),
        format!("8{}", "0".repeat(63)),
        "ff".repeat(32),
    ] {
        // PUSH32 x, CLZ, PUSH1 0, MSTORE, PUSH1 32, PUSH1 0, RETURN
        cases.push((
            format!("CLZ 0x{x}"),
            create(format!("0x7f{x}1e60005260206000f3")),
        ));
    }
    let modexp_at = "0x0000000000000000000000000000000000000005";
    for (name, input) in [
        ("3^5 mod 7", modexp("03", "05", "07")),
        (
            "2^(2^256-1) mod p",
            modexp("02", &"ff".repeat(32), &format!("{}fb", "ff".repeat(31))),
        ),
        ("1024-byte base", modexp(&"01".repeat(1024), "03", "0b")),
        ("1025-byte base", modexp(&"01".repeat(1025), "03", "0b")),
        ("zero modulus length", modexp("02", "03", "")),
        (
            "64-byte exponent",
            modexp("05", &"07".repeat(64), &"0d".repeat(32)),
        ),
    ] {
        cases.push((format!("MODEXP {name}"), call(modexp_at, input)));
    }
    let mut differ = Vec::new();
    for (name, req) in &cases {
        let (a, d) = (outcome(anvil.1, req), outcome(p.rpc, req));
        println!("{name}: anvil {a:?}, devnet {d:?}");
        if a != d {
            differ.push(format!("{name}: anvil {a:?}, devnet {d:?}"));
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
}
