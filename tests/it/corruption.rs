//! A damaged database is refused or reported, never served: a devnet chain with transfers is
//! stopped cleanly (so nothing but the node's own check looks at the file again), then one byte
//! at a time is flipped in a copy of its `chain.redb` — at offsets spread over the file, where
//! a block hash, a transaction hash and an account's hashed address stand (keys of every table),
//! and in the last byte of every stored balance (the "+1 wei" a damaged history row would serve)
//! — and a node is started on each copy. Each
//! either refuses to start with an error naming the damage, or serves exactly what the intact
//! database served: every block with its transactions and two accounts' balances at every
//! height (a flip in free space changes nothing).

use crate::{
    devnet::signed,
    support::{Proc, bin, hex_u64, rpc, wait_for},
};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

/// Flipped offsets tried (spread evenly over the file).
const FLIPS: u64 = 24;

/// Starts `node` on `datadir`: its JSON-RPC address, or the error it stopped with.
fn start(datadir: &Path) -> (Option<std::process::Child>, Result<SocketAddr, String>) {
    let mut child = bin()
        .args(["node", "--datadir", datadir.to_str().unwrap()])
        .args([
            "--http.port",
            "0",
            "--authrpc.port",
            "0",
            "--metrics.port",
            "0",
        ])
        .env("RUST_LOG_STYLE", "never")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    for line in BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if line.contains("node running") {
            let addr = line
                .split("rpc=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|s| s.parse().ok())
                .expect("rpc address in the start line");
            return (Some(child), Ok(addr));
        }
        assert!(
            Instant::now() < deadline,
            "node neither started nor stopped"
        );
    }
    let _ = child.wait();
    let errors = errors.join().unwrap();
    (None, Err(errors.last().cloned().unwrap_or_default()))
}

/// What the node serves of the chain: every block with its transactions, and two accounts'
/// balances at every height.
fn served(addr: SocketAddr, head: u64) -> Vec<Value> {
    let mut out = Vec::new();
    for n in 0..=head {
        let block = rpc(
            addr,
            "eth_getBlockByNumber",
            json!([format!("{n:#x}"), true]),
        );
        out.push(block);
        for a in [
            Address::with_last_byte(0x5a),
            preconf_core::devnet::dev_signer(3).address(),
        ] {
            out.push(rpc(addr, "eth_getBalance", json!([a, format!("{n:#x}")])));
        }
    }
    out
}

fn copy_with_flip(from: &Path, to: &Path, offset: Option<u64>) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    let mut bytes = std::fs::read(from).unwrap();
    if let Some(o) = offset {
        bytes[o as usize] ^= 0x01;
    }
    std::fs::write(to.join("chain.redb"), bytes).unwrap();
}

#[test]
fn a_flipped_byte_anywhere_in_the_database_is_refused_or_changes_nothing_served() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let p = Proc::start(&[
            "devnet",
            "--block-time",
            "1s",
            "--datadir",
            data.to_str().unwrap(),
        ]);
        for nonce in 0..6 {
            let raw = signed(
                3,
                nonce,
                TxKind::Call(Address::with_last_byte(0x5a)),
                U256::from(1000 + nonce),
                Bytes::new(),
                21_000,
            );
            assert!(p.call("eth_sendRawTransaction", json!([raw]))["result"].is_string());
        }
        let head = || hex_u64(&p.call("eth_blockNumber", json!([]))["result"]);
        wait_for(Duration::from_secs(30), || (head() >= 6).then_some(())).expect("blocks");
        // A clean stop: the database is closed, so the next open trusts it without a repair
        // (after a crash redb checks every page anyway).
        let mut p = p;
        let term = std::process::Command::new("kill")
            .args(["-TERM", &p.child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let exited = wait_for(Duration::from_secs(20), || p.child.try_wait().unwrap());
        assert!(exited.is_some_and(|s| s.success()), "no clean stop");
    }
    let original = data.join("chain.redb");
    let copy = dir.path().join("copy");
    copy_with_flip(&original, &copy, None);
    let (child, addr) = start(&copy);
    let addr = addr.expect("the intact copy starts");
    let head = hex_u64(&rpc(addr, "eth_blockNumber", json!([]))["result"]);
    let reference = served(addr, head);
    drop(child.map(|mut c| c.kill()));
    assert!(reference.iter().all(|v| v.get("result").is_some()));

    // Offsets spread over the file, and the places where a block hash, a transaction hash and
    // an account's hashed address stand (the keys of the headers, bodies, receipts, canonical,
    // transaction index, accounts and history tables: their pages, for certain).
    let bytes = std::fs::read(&original).unwrap();
    let len = bytes.len() as u64;
    let mut offsets: Vec<u64> = (0..FLIPS).map(|i| len * i / FLIPS + 17).collect();
    let block = &reference[3]["result"];
    let needles: Vec<Vec<u8>> = [
        block["hash"].as_str().unwrap(),
        block["transactions"][1]["hash"]
            .as_str()
            .or_else(|| reference[6]["result"]["transactions"][1]["hash"].as_str())
            .unwrap_or(block["hash"].as_str().unwrap()),
    ]
    .iter()
    .map(|h| alloy_primitives::hex::decode(h).unwrap())
    .chain([alloy_primitives::keccak256(Address::with_last_byte(0x5a)).to_vec()])
    .collect();
    // And every balance served, as stored (32 bytes, big-endian, in the accounts and history
    // tables): a flip of its last byte is the "+1 wei" a damaged history row would serve.
    let balances: Vec<Vec<u8>> = reference
        .iter()
        .filter_map(|v| v["result"].as_str().filter(|s| s.len() < 70))
        .map(|b| b.parse::<U256>().unwrap().to_be_bytes::<32>().to_vec())
        .filter(|b| b.iter().filter(|x| **x != 0).count() > 4)
        .collect();
    for balance in &balances {
        offsets.extend(
            bytes
                .windows(32)
                .enumerate()
                .filter(|(_, w)| *w == balance.as_slice())
                .map(|(i, _)| i as u64 + 31),
        );
    }
    offsets.sort_unstable();
    offsets.dedup();
    for needle in &needles {
        let found: Vec<u64> = bytes
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle.as_slice())
            .map(|(i, _)| i as u64)
            .collect();
        assert!(!found.is_empty(), "a key is not in the file");
        offsets.extend(
            found
                .iter()
                .flat_map(|&at| [at + 5, at + needle.len() as u64 + 3]),
        );
    }
    let (mut refused, mut unchanged) = (0, 0);
    for offset in offsets.into_iter().filter(|&o| o < len) {
        copy_with_flip(&original, &copy, Some(offset));
        match start(&copy) {
            (_, Err(e)) => {
                assert!(
                    e.contains("corrupt") || e.contains("damaged"),
                    "flip at {offset}: refused without naming the damage: {e}"
                );
                refused += 1;
            }
            (Some(mut child), Ok(addr)) => {
                let got = served(addr, head);
                let _ = child.kill();
                let _ = child.wait();
                for (want, got) in reference.iter().zip(&got) {
                    // An error answer reports the damage; any other answer must be the same.
                    assert!(
                        got == want || got.get("error").is_some(),
                        "flip at {offset}: served {got} where the intact database served {want}"
                    );
                }
                unchanged += 1;
            }
            (None, Ok(_)) => unreachable!("started without a process"),
        }
    }
    // The flips at the keys' places land in live pages (or in old copies of them, which are
    // never read): most must have been caught.
    assert!(
        refused >= 2 * needles.len(),
        "only {refused} flips refused ({unchanged} changed nothing served)"
    );
}
