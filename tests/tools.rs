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
