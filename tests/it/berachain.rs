//! Berachain's chain rules on the devnet (Prague1 from genesis), as tools see them: every block
//! names the previous proposer and starts with the PoL transaction, whose receipt and event are
//! readable; the preconfirmed block is the sealed one; a chain exported and imported into a fresh
//! node is served byte for byte the same.

use crate::{
    devnet::{included, signed},
    support::{Proc, bin, hex_u64, wait_for},
};
use alloy_primitives::{Address, Bytes, TxKind, U256, hex, keccak256};
use preconf_core::devnet::POL_DISTRIBUTOR;
use serde_json::{Value, json};
use std::time::Duration;

fn block(p: &Proc, n: u64) -> Value {
    p.call("eth_getBlockByNumber", json!([format!("{n:#x}"), true]))["result"].clone()
}

/// Waits until block `n` is canonical (finalized: the devnet finalizes what it commits).
fn wait_canonical(p: &Proc, n: u64) {
    wait_for(Duration::from_secs(20), || {
        let f = p.call("eth_getBlockByNumber", json!(["finalized", false]));
        (f["result"]["number"].is_string() && hex_u64(&f["result"]["number"]) >= n).then_some(())
    })
    .unwrap_or_else(|| panic!("block {n} not canonical in time"));
}

#[test]
fn every_block_distributes_to_the_previous_proposer() {
    let p = Proc::start(&["devnet", "--block-time", "1s"]);
    wait_canonical(&p, 3);
    for n in 1..=3 {
        let b = block(&p, n);
        let key = b["parentProposerPubkey"].as_str().expect("Prague1 header");
        assert_eq!(key.len(), 2 + 96, "{b}");
        let pol = &b["transactions"][0];
        assert_eq!(pol["type"], "0x7e", "{pol}");
        assert_eq!(pol["from"], "0xfffffffffffffffffffffffffffffffffffffffe");
        assert_eq!(pol["to"], POL_DISTRIBUTOR.to_string().to_lowercase());
        assert_eq!(hex_u64(&pol["nonce"]), n - 1);
        assert_eq!(pol["gas"], "0x1c9c380");
        assert_eq!(pol["gasPrice"], b["baseFeePerGas"]);
        assert!(pol["input"].as_str().unwrap().contains(&key[2..]));
        // By hash, with its bytes: 0x7E ‖ rlp, hashing to the hash.
        let hash = pol["hash"].clone();
        let by_hash = p.call("eth_getTransactionByHash", json!([hash]))["result"].clone();
        assert_eq!(by_hash["blockNumber"], b["number"]);
        let raw = p.call("debug_getRawTransaction", json!([hash]))["result"].clone();
        let raw = hex::decode(raw.as_str().unwrap()).unwrap();
        assert_eq!(raw[0], 0x7e);
        assert_eq!(format!("{}", keccak256(&raw)), hash.as_str().unwrap());
        // Users cannot send one.
        let sent = p.call(
            "eth_sendRawTransaction",
            json!([hex::encode_prefixed(&raw)]),
        );
        let msg = sent["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("transaction type not supported"), "{sent}");
        // Its receipt: type 0x7e, nothing paid, the distributor's event naming the key.
        let r = p.call("eth_getTransactionReceipt", json!([hash]))["result"].clone();
        assert_eq!(r["type"], "0x7e", "{r}");
        assert_eq!(r["status"], "0x1");
        assert_eq!(r["cumulativeGasUsed"], "0x0");
        assert_eq!(r["gasUsed"], "0x0");
        assert_eq!(r["effectiveGasPrice"], "0x0");
        assert_eq!(r["transactionIndex"], "0x0");
        let log = &r["logs"][0];
        assert_eq!(log["address"], POL_DISTRIBUTOR.to_string().to_lowercase());
        assert!(log["data"].as_str().unwrap().contains(&key[2..]));
        assert_eq!(hex_u64(&log["topics"][1]), n, "indexed block number");
        assert_eq!(
            log["topics"][0],
            format!("{}", keccak256("Distributed(bytes,uint256)"))
        );
    }
    // The distributor counted one distribution per block (eth_call of distributions()).
    let head = hex_u64(&p.call("eth_blockNumber", json!([]))["result"]);
    let count = p.call(
        "eth_call",
        json!([{"to": POL_DISTRIBUTOR, "data": "0xe4e940f0"}, format!("{head:#x}")]),
    );
    assert_eq!(hex_u64(&count["result"]), head, "{count}");
    assert!(
        p.call(
            "eth_getLogs",
            json!([{"address": POL_DISTRIBUTOR, "fromBlock": "0x1", "toBlock": "0x3"}])
        )["result"]
            .as_array()
            .unwrap()
            .len()
            == 3
    );
}

/// The preconfirmed block of a quiet height (only the PoL transaction, re-created by the overlay
/// from the flashblock base) is the sealed block: same transactions root, same hash.
#[test]
fn the_preconfirmed_pol_block_is_the_sealed_block() {
    let p = Proc::start(&["devnet", "--block-time", "1s"]);
    let seen = wait_for(Duration::from_secs(20), || {
        let b = p.call("eth_getBlockByNumber", json!(["pending", false]))["result"].clone();
        let finalized = p.call("eth_getBlockByNumber", json!(["finalized", false]));
        let above = hex_u64(&b["number"]) > hex_u64(&finalized["result"]["number"]);
        (above && b["transactions"].as_array().is_some_and(|t| t.len() == 1)).then_some(b)
    })
    .expect("a preconfirmed block");
    let n = hex_u64(&seen["number"]);
    wait_canonical(&p, n);
    let sealed = block(&p, n);
    assert_eq!(seen["transactionsRoot"], sealed["transactionsRoot"]);
    assert_eq!(seen["receiptsRoot"], sealed["receiptsRoot"]);
    assert_eq!(seen["hash"], sealed["hash"], "{seen}\n{sealed}");
}

/// RLP items of a concatenated chain file.
fn rlp_items(mut buf: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let mut rest = buf;
        let head = alloy_rlp::Header::decode(&mut rest).unwrap();
        let len = buf.len() - rest.len() + head.payload_length;
        out.push(buf[..len].to_vec());
        buf = &buf[len..];
    }
    out
}

#[test]
fn a_prague1_chain_exports_and_imports_byte_identically() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let p = Proc::start(&[
        "devnet",
        "--block-time",
        "1s",
        "--datadir",
        a.to_str().unwrap(),
    ]);
    let raw = signed(
        4,
        0,
        TxKind::Call(Address::repeat_byte(9)),
        U256::from(5),
        Bytes::new(),
        21_000,
    );
    let hash = p.call("eth_sendRawTransaction", json!([raw]))["result"].clone();
    let r = included(&p, &hash, Duration::from_secs(20));
    wait_canonical(&p, hex_u64(&r["blockNumber"]) + 1);
    drop(p);
    let file = |name: &str| dir.path().join(name);
    let run = |args: &[&str]| {
        let status = bin().args(args).status().unwrap();
        assert!(status.success(), "{args:?}");
    };
    let exported = file("a.rlp");
    run(&[
        "export",
        exported.to_str().unwrap(),
        "--datadir",
        a.to_str().unwrap(),
    ]);
    run(&[
        "import",
        exported.to_str().unwrap(),
        "--datadir",
        b.to_str().unwrap(),
    ]);
    let again = file("b.rlp");
    run(&[
        "export",
        again.to_str().unwrap(),
        "--datadir",
        b.to_str().unwrap(),
    ]);
    let blocks = std::fs::read(&exported).unwrap();
    assert_eq!(
        blocks,
        std::fs::read(&again).unwrap(),
        "export → import → export"
    );
    let items = rlp_items(&blocks);
    assert!(items.len() >= 3);
    // The fresh node serves each block as it was built.
    let key = preconf_core::jwt::JwtSecret::random();
    let jwt = file("jwt.hex");
    std::fs::write(&jwt, key.to_hex()).unwrap();
    let node = Proc::start(&[
        "node",
        "--datadir",
        b.to_str().unwrap(),
        "--authrpc.jwtsecret",
        jwt.to_str().unwrap(),
    ]);
    for (n, item) in items.iter().enumerate() {
        let served = node.call("debug_getRawBlock", json!([format!("{n:#x}")]))["result"].clone();
        assert_eq!(served, hex::encode_prefixed(item), "block {n}");
    }
    let last = block(&node, items.len() as u64 - 1);
    assert!(last["parentProposerPubkey"].is_string(), "{last}");
}
