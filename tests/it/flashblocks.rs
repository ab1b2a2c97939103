//! Flashblocks end to end, with real processes on loopback: the stream's wire format, a
//! sequencer process feeding a separate rpc process, and how an rpc node treats forged,
//! duplicated, reordered and gapped flashblocks.

use crate::support::{Proc, Ws, free_port, hex_u64, post, wait_for};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, B256, Bytes, TxKind, U64, U256, hex};
use alloy_rpc_types_engine::PayloadId;
use alloy_signer_local::PrivateKeySigner;
use preconf_core::{
    devnet::{DEVNET_CHAIN_ID, dev_signer},
    flashblock::{Flashblock, FlashblockBase, FlashblockDiff, FlashblockMetadata},
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub(crate) fn transfer(from: u32, nonce: u64, to: Address, value: u64) -> (B256, Bytes) {
    signed_transfer(&dev_signer(from), nonce, to, value)
}

fn signed_transfer(key: &PrivateKeySigner, nonce: u64, to: Address, value: u64) -> (B256, Bytes) {
    let mut tx = TxEip1559 {
        chain_id: DEVNET_CHAIN_ID,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value: U256::from(value),
        ..Default::default()
    };
    let sig = key.sign_transaction_sync(&mut tx).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    (*env.tx_hash(), env.encoded_2718().into())
}

fn is_hex(v: &Value, bytes: usize) -> bool {
    v.as_str().is_some_and(|s| {
        s.starts_with("0x") && s.len() == 2 + 2 * bytes && hex::decode(&s[2..]).is_ok()
    })
}

fn is_quantity(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.starts_with("0x") && s.len() > 2 && u128::from_str_radix(&s[2..], 16).is_ok()
    })
}

/// A plain WebSocket client reads the sequencer's stream; every field is as WIRE.md §1 says,
/// every signature recovers to the sequencer, and sequences are contiguous and closed by
/// `is_last`.
#[test]
fn stream_matches_the_wire_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("devnet.json");
    let p = Proc::start(&[
        "devnet",
        "--block-time",
        "1s",
        "--flashblocks.interval-ms",
        "100",
        "--datadir",
        dir.path().to_str().unwrap(),
        "--config-out",
        out.to_str().unwrap(),
    ]);
    let info: Value = wait_for(Duration::from_secs(10), || {
        serde_json::from_str(&std::fs::read_to_string(&out).ok()?).ok()
    })
    .expect("--config-out written");
    let sequencer: Address = serde_json::from_value(info["sequencerAddress"].clone()).unwrap();
    let (hash, raw) = transfer(3, 0, Address::repeat_byte(7), 1);
    let mut ws = Ws::connect(p.flashblocks.unwrap());
    let mut sent = false;

    let mut seen_tx = false;
    let mut closed_blocks = 0;
    let mut current: Option<(String, u64, u64)> = None; // payload id, block number, next index
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut first = true;
    while closed_blocks < 2 && Instant::now() < deadline {
        let v = ws.recv();
        // A client that connects mid-block is first sent the block so far, from its index 0.
        if std::mem::take(&mut first) {
            assert_eq!(v["index"], 0, "the first flashblock a new client gets: {v}");
        }
        if !sent {
            // Connected and streaming: now the transaction must show up in a later frame.
            assert!(p.call("eth_sendRawTransaction", json!([raw]))["result"].is_string());
            sent = true;
        }
        // Every field, with its JSON type.
        assert!(is_hex(&v["payload_id"], 8), "payload_id: {v}");
        assert!(v["index"].is_u64(), "index: {v}");
        assert!(v["metadata"]["block_number"].is_u64(), "metadata: {v}");
        assert!(is_hex(&v["signature"], 65), "signature: {v}");
        assert!(v["is_last"].is_boolean());
        assert!(v["diff"]["transactions"].is_array());
        // The PoL transaction is re-created from `base`, never listed.
        for tx in v["diff"]["transactions"].as_array().unwrap() {
            assert!(!tx.as_str().unwrap().starts_with("0x7e"), "{tx}");
        }
        assert!(v["diff"]["withdrawals"].is_array());
        let index = v["index"].as_u64().unwrap();
        let number = v["metadata"]["block_number"].as_u64().unwrap();
        let payload = v["payload_id"].as_str().unwrap().to_string();
        if index == 0 {
            let b = &v["base"];
            for key in ["parent_beacon_block_root", "parent_hash", "prev_randao"] {
                assert!(is_hex(&b[key], 32), "{key}: {b}");
            }
            assert!(is_hex(&b["fee_recipient"], 20));
            for key in ["block_number", "gas_limit", "timestamp", "base_fee_per_gas"] {
                assert!(is_quantity(&b[key]), "{key}: {b}");
            }
            assert_eq!(hex_u64(&b["block_number"]), number);
            assert!(b["extra_data"].as_str().unwrap().starts_with("0x"));
            // The devnet is on Prague1: the base names the previous proposer, whose PoL
            // transaction the block starts with.
            assert!(is_hex(&b["prev_proposer_pubkey"], 48), "{b}");
            if let Some((_, prev_number, _)) = &current {
                assert_eq!(number, prev_number + 1, "blocks follow each other");
            }
            current = Some((payload.clone(), number, 1));
        } else {
            assert!(v["base"].is_null(), "base only on index 0: {v}");
            if let Some((id, n, next)) = current.as_mut() {
                assert_eq!(&payload, id);
                assert_eq!(number, *n);
                assert_eq!(index, *next, "indices are contiguous");
                *next += 1;
            }
        }
        let fb: Flashblock = serde_json::from_value(v.clone()).unwrap();
        fb.verify(DEVNET_CHAIN_ID, sequencer)
            .expect("signed by the sequencer");
        for tx in &fb.diff.transactions {
            if alloy_primitives::keccak256(tx) == hash {
                seen_tx = true;
            }
        }
        if fb.is_last && current.is_some() {
            closed_blocks += 1;
        }
    }
    assert_eq!(closed_blocks, 2, "two complete sequences within 20 s");
    assert!(seen_tx, "the transaction went out in a flashblock");
}

/// A sequencer signing key in `seq_dir` and an rpc node's Engine API secret in `rpc_dir` (which
/// the sequencer uses too, to import blocks into it or push flashblocks to it): the key, the key
/// file and the secret file.
fn sequencer_and_rpc_secrets(
    seq_dir: &tempfile::TempDir,
    rpc_dir: &tempfile::TempDir,
) -> (PrivateKeySigner, std::path::PathBuf, std::path::PathBuf) {
    let key = PrivateKeySigner::random();
    let key_file = seq_dir.path().join("flashblocks.key");
    std::fs::write(&key_file, format!("0x{}", hex::encode(key.to_bytes()))).unwrap();
    let jwt = rpc_dir.path().join("jwt.hex");
    std::fs::write(&jwt, hex::encode(B256::random())).unwrap();
    (key, key_file, jwt)
}

/// A sequencer process and a separate rpc process: a transaction sent to the rpc node is
/// forwarded, preconfirmed (receipt, balance) before its block, and then in the block at the
/// same position.
#[test]
fn rpc_node_serves_preconfirmations_from_a_sequencer_process() {
    let (seq_dir, rpc_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (key, key_file, jwt) = sequencer_and_rpc_secrets(&seq_dir, &rpc_dir);
    let (seq_http, seq_ws, rpc_engine) = (free_port(), free_port(), free_port());

    let rpc = Proc::start(&[
        "node",
        "--role",
        "rpc",
        "--datadir",
        rpc_dir.path().to_str().unwrap(),
        "--authrpc.port",
        &rpc_engine.to_string(),
        "--authrpc.jwtsecret",
        jwt.to_str().unwrap(),
        "--flashblocks-url",
        &format!("ws://127.0.0.1:{seq_ws}"),
        "--flashblocks.sequencer-address",
        &key.address().to_string(),
        "--sequencer.http",
        &format!("http://127.0.0.1:{seq_http}"),
    ]);
    let seq = Proc::start(&[
        "devnet",
        "--block-time",
        "2s",
        "--datadir",
        seq_dir.path().to_str().unwrap(),
        "--http.port",
        &seq_http.to_string(),
        "--flashblocks.port",
        &seq_ws.to_string(),
        "--flashblocks.signing-key",
        key_file.to_str().unwrap(),
        "--devnet.engine-peer",
        &format!("http://127.0.0.1:{rpc_engine}"),
        "--devnet.engine-peer-jwtsecret",
        jwt.to_str().unwrap(),
    ]);
    // The rpc node follows the devnet's blocks.
    let synced = wait_for(Duration::from_secs(20), || {
        (hex_u64(&rpc.call("eth_blockNumber", json!([]))["result"]) >= 2).then_some(())
    });
    assert!(synced.is_some(), "rpc node did not follow the devnet");

    // Send right after a block so the block is still ~2 s away.
    let start = hex_u64(&rpc.call("eth_blockNumber", json!([]))["result"]);
    wait_for(Duration::from_secs(10), || {
        (hex_u64(&rpc.call("eth_blockNumber", json!([]))["result"]) > start).then_some(())
    })
    .expect("a new block");
    let recipient = Address::repeat_byte(0x99);
    let (hash, raw) = transfer(4, 0, recipient, 777);
    let sent = Instant::now();
    let r = rpc.call("eth_sendRawTransaction", json!([raw]));
    assert_eq!(r["result"], json!(hash), "{r}");
    let pending = wait_for(Duration::from_secs(5), || {
        let r = rpc.call("eth_getTransactionReceipt", json!([hash]))["result"].clone();
        (!r.is_null()).then_some(r)
    })
    .expect("preconfirmed receipt at the rpc node");
    let preconfirmed_after = sent.elapsed();
    let head = hex_u64(&rpc.call("eth_blockNumber", json!([]))["result"]);
    let pending_number = hex_u64(&pending["blockNumber"]);
    assert!(
        pending_number > head,
        "receipt for block {pending_number} seen while the head is {head} (after {preconfirmed_after:?})"
    );
    assert_eq!(pending["status"], "0x1");
    assert_eq!(
        rpc.call("eth_getBalance", json!([recipient, "pending"]))["result"],
        "0x309"
    );
    assert_eq!(
        rpc.call("eth_getBalance", json!([recipient, "latest"]))["result"],
        "0x0"
    );
    // Fee history and proofs reach the preconfirmed block too (wallets ask for `pending`).
    let fh = rpc.call("eth_feeHistory", json!(["0x2", "pending", [50]]));
    assert_eq!(
        hex_u64(&fh["result"]["oldestBlock"]) + 1,
        pending_number,
        "{fh}"
    );
    assert_eq!(
        fh["result"]["reward"].as_array().map(Vec::len),
        Some(2),
        "{fh}"
    );
    let proof = rpc.call("eth_getProof", json!([recipient, [], "pending"]));
    assert_eq!(proof["result"]["balance"], "0x309", "{proof}");
    let block = rpc.call("eth_getBlockByNumber", json!(["pending", false]))["result"].clone();
    assert!(
        block["transactions"]
            .as_array()
            .unwrap()
            .contains(&json!(hash))
    );

    // eth_sendRawTransactionSync returns the preconfirmed receipt.
    let (hash2, raw2) = transfer(4, 1, recipient, 1);
    let r = rpc.call("eth_sendRawTransactionSync", json!([raw2, 5000]));
    assert_eq!(r["result"]["transactionHash"], json!(hash2), "{r}");

    // A balance received in a preconfirmation is spendable at once: a fresh account funded by a
    // preconfirmed transfer sends its own transaction before the funding is in a block (both
    // the rpc node's pool and the sequencer's, which it forwards to, admit it).
    let fresh = PrivateKeySigner::random();
    let (_, fund) = transfer(4, 2, fresh.address(), 1_000_000_000_000_000_000);
    let r = rpc.call("eth_sendRawTransactionSync", json!([fund, 5000]));
    assert_eq!(r["result"]["status"], "0x1", "{r}");
    assert_eq!(
        rpc.call("eth_getBalance", json!([fresh.address(), "latest"]))["result"],
        "0x0",
        "the funding should still be only preconfirmed"
    );
    let (spend_hash, spend) = signed_transfer(&fresh, 0, recipient, 5);
    let r = rpc.call("eth_sendRawTransactionSync", json!([spend, 5000]));
    assert_eq!(r["result"]["transactionHash"], json!(spend_hash), "{r}");
    assert_eq!(r["result"]["status"], "0x1", "{r}");

    // The block then holds exactly what was preconfirmed, at the same position.
    let fin = wait_for(Duration::from_secs(10), || {
        let r = rpc.call("eth_getTransactionReceipt", json!([hash]))["result"].clone();
        let b = rpc.call("eth_getBlockByHash", json!([r["blockHash"], false]));
        (!b["result"].is_null()).then_some(r)
    })
    .expect("the transaction in a canonical block");
    assert_eq!(hex_u64(&fin["blockNumber"]), pending_number);
    assert_eq!(fin["transactionIndex"], pending["transactionIndex"]);
    let spent = wait_for(Duration::from_secs(10), || {
        let r = rpc.call("eth_getBalance", json!([recipient, "latest"]))["result"].clone();
        (r == "0x30f").then_some(())
    });
    assert!(
        spent.is_some(),
        "both transfers to the recipient in canonical blocks"
    );
    let honored = wait_for(Duration::from_secs(5), || {
        let n = rpc.metric("preconf_overlay_preconfirmations_honored_total");
        (n >= 4.0).then_some(n)
    });
    assert!(honored.is_some(), "honored preconfirmations counted");
    assert_eq!(
        rpc.metric("preconf_overlay_preconfirmations_reorged_total"),
        0.0
    );
    drop(seq);
}

/// `--flashblocks.push-to`: the sequencer pushes every flashblock to an rpc node's Engine API
/// port with `preconf_newPartialBlock`, authenticated with that node's JWT; the rpc node follows
/// no stream and serves the preconfirmation from the pushes alone.
#[test]
fn pushed_flashblocks_reach_an_rpc_node_over_its_engine_port() {
    let (seq_dir, rpc_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (key, key_file, jwt) = sequencer_and_rpc_secrets(&seq_dir, &rpc_dir);
    let rpc_engine = free_port();
    let rpc = Proc::start(&[
        "node",
        "--role",
        "rpc",
        "--datadir",
        rpc_dir.path().to_str().unwrap(),
        "--authrpc.port",
        &rpc_engine.to_string(),
        "--authrpc.jwtsecret",
        jwt.to_str().unwrap(),
        "--flashblocks.sequencer-address",
        &key.address().to_string(),
    ]);
    let seq = Proc::start(&[
        "devnet",
        "--datadir",
        seq_dir.path().to_str().unwrap(),
        "--flashblocks.signing-key",
        key_file.to_str().unwrap(),
        "--flashblocks.push-to",
        &format!("ws://127.0.0.1:{rpc_engine}"),
        "--flashblocks.push-jwtsecret",
        jwt.to_str().unwrap(),
        "--devnet.engine-peer",
        &format!("http://127.0.0.1:{rpc_engine}"),
        "--devnet.engine-peer-jwtsecret",
        jwt.to_str().unwrap(),
    ]);
    let (hash, raw) = transfer(3, 0, Address::repeat_byte(0x98), 5);
    assert_eq!(
        seq.call("eth_sendRawTransaction", json!([raw]))["result"],
        json!(hash)
    );
    let at_rpc = wait_for(Duration::from_secs(10), || {
        let r = rpc.call("eth_getTransactionReceipt", json!([hash]))["result"].clone();
        (!r.is_null()).then_some(r)
    });
    assert!(at_rpc.is_some(), "the rpc node has the transaction");
    assert!(rpc.metric("preconf_overlay_flashblocks_total{outcome=\"applied\"}") > 0.0);
    assert_eq!(
        seq.metric("preconf_broadcaster_push_errors_total{reason=\"connect\"}"),
        0.0
    );
}

/// An rpc node (no sequencer anywhere) that trusts `key`, and flashblocks for its block 1 built
/// and signed by hand, pushed with `preconf_newPartialBlock`.
struct PushedNode {
    p: Proc,
    key: PrivateKeySigner,
    base: FlashblockBase,
    _dir: tempfile::TempDir,
}

impl PushedNode {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKeySigner::random();
        let p = Proc::start(&[
            "node",
            "--role",
            "rpc",
            "--datadir",
            dir.path().to_str().unwrap(),
            "--flashblocks.sequencer-address",
            &key.address().to_string(),
        ]);
        let genesis = p.call("eth_getBlockByNumber", json!(["latest", false]))["result"].clone();
        let base_fee = hex_u64(&p.call("eth_gasPrice", json!([]))["result"]) - 1_000_000_000;
        let base = FlashblockBase {
            parent_beacon_block_root: B256::repeat_byte(1),
            parent_hash: serde_json::from_value(genesis["hash"].clone()).unwrap(),
            fee_recipient: Address::ZERO,
            prev_randao: B256::repeat_byte(2),
            block_number: U64::from(1),
            gas_limit: U64::from(hex_u64(&genesis["gasLimit"])),
            timestamp: U64::from(hex_u64(&genesis["timestamp"]) + 2),
            extra_data: Bytes::new(),
            base_fee_per_gas: U256::from(base_fee),
            // The devnet is on Prague1.
            prev_proposer_pubkey: Some(alloy_primitives::FixedBytes::repeat_byte(0x11)),
        };
        Self {
            p,
            key,
            base,
            _dir: dir,
        }
    }

    /// Flashblock `index` of payload `[id; 8]` for block 1, with `base` on index 0.
    fn make(&self, id: u8, index: u64, txs: Vec<Bytes>, signer: &PrivateKeySigner) -> Value {
        let mut fb = Flashblock {
            payload_id: PayloadId::new([id; 8]),
            index,
            base: (index == 0).then(|| self.base.clone()),
            diff: FlashblockDiff {
                transactions: txs,
                withdrawals: Vec::new(),
            },
            metadata: FlashblockMetadata {
                block_number: 1,
                sealed_at_us: None,
            },
            signature: Bytes::new(),
            is_last: false,
        };
        fb.sign(DEVNET_CHAIN_ID, signer).unwrap();
        serde_json::to_value(fb).unwrap()
    }

    /// A flashblock signed by the trusted key.
    fn signed(&self, id: u8, index: u64, txs: Vec<Bytes>) -> Value {
        self.make(id, index, txs, &self.key)
    }

    /// `preconf_newPartialBlock` on the node's Engine API port (its JWT from the datadir).
    fn push(&self, fb: &Value) -> Value {
        let hex = std::fs::read_to_string(self._dir.path().join("jwt.hex")).unwrap();
        let secret = preconf_core::jwt::JwtSecret::from_hex(&hex).unwrap();
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": "preconf_newPartialBlock", "params": [fb]});
        let (status, text) = post(self.p.engine, &body.to_string(), Some(&secret.token()));
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }
}

/// Flashblocks pushed with `preconf_newPartialBlock` to an rpc node (no sequencer anywhere):
/// forged ones are refused before any work, duplicates ignored, a gap clears the pending state, a
/// fresh index 0 starts again, and a replayed flashblock of an old payload changes nothing.
#[test]
fn rpc_node_rejects_forged_and_out_of_order_flashblocks() {
    let node = PushedNode::start();
    let p = &node.p;
    let push = |fb: &Value| node.push(fb);
    let recipient = Address::repeat_byte(0x55);
    let balance = || p.call("eth_getBalance", json!([recipient, "pending"]))["result"].clone();
    let (a, tx_a) = transfer(5, 0, recipient, 1);
    let (b, tx_b) = transfer(5, 1, recipient, 2);

    // Not on the public port: anybody can reach it.
    let public = p.call(
        "preconf_newPartialBlock",
        json!([node.signed(1, 0, vec![])]),
    );
    assert_eq!(public["error"]["code"], -32601, "{public}");
    // Not without the Engine API's JWT.
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "preconf_newPartialBlock", "params": [node.signed(1, 0, vec![])]});
    assert_eq!(post(p.engine, &body.to_string(), None).0, 401);

    // Forged: refused with -32602, counted, no state.
    let forged = node.make(1, 0, vec![tx_a.clone()], &PrivateKeySigner::random());
    let r = push(&forged);
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expected the sequencer")
    );
    assert_eq!(
        p.metric("preconf_overlay_signature_failures_total{reason=\"wrong_signer\"}"),
        1.0
    );
    assert_eq!(balance(), "0x0");
    // A tampered body no longer matches its signature.
    let mut tampered = node.signed(1, 0, vec![tx_a.clone()]);
    tampered["diff"]["transactions"] = json!([tx_b.clone()]);
    assert_eq!(push(&tampered)["error"]["code"], -32602);
    // Not a flashblock at all.
    assert_eq!(push(&json!({"index": 0}))["error"]["code"], -32602);

    // Index 0 without base.
    let mut no_base = node.signed(1, 0, vec![]);
    no_base["base"] = Value::Null;
    assert_eq!(push(&no_base)["error"]["code"], -32602);
    // Reordered: index 1 before its index 0 is refused.
    let one = node.signed(1, 1, vec![tx_b.clone()]);
    assert_eq!(push(&one)["error"]["code"], -32602);

    // In order: index 0 then 1; duplicates of either change nothing.
    let zero = node.signed(1, 0, vec![tx_a.clone()]);
    assert_eq!(push(&zero)["result"], true, "{}", push(&zero));
    assert_eq!(balance(), "0x1");
    assert_eq!(push(&zero)["result"], true);
    assert_eq!(push(&one)["result"], true);
    assert_eq!(push(&one)["result"], true);
    assert_eq!(balance(), "0x3");
    let pending = p.call("eth_getBlockByNumber", json!(["pending", false]))["result"].clone();
    // Prague1: the overlay re-created the PoL transaction from `base` at index 0.
    let pol = pending["transactions"][0].clone();
    assert_eq!(pending["transactions"], json!([pol, a, b]));
    let pol = p.call("eth_getTransactionByHash", json!([pol]))["result"].clone();
    assert_eq!(pol["type"], "0x7e", "{pol}");
    assert_eq!(hex_u64(&pending["number"]), 1);
    let receipt = p.call("eth_getTransactionReceipt", json!([b]))["result"].clone();
    assert_eq!(receipt["transactionIndex"], "0x2");
    assert!(p.metric("preconf_overlay_flashblocks_total{outcome=\"duplicate\"}") >= 2.0);

    // A gap is refused and touches nothing: what was applied stands.
    let three = node.signed(1, 3, vec![]);
    assert_eq!(push(&three)["error"]["code"], -32602);
    assert_eq!(
        p.metric("preconf_overlay_rejected_total{reason=\"gap\"}"),
        1.0
    );
    assert_eq!(balance(), "0x3");
    assert!(!p.call("eth_getTransactionReceipt", json!([a]))["result"].is_null());

    // A new sequence starts cleanly.
    let fresh = node.signed(2, 0, vec![tx_a, tx_b]);
    assert_eq!(push(&fresh)["result"], true);
    assert_eq!(balance(), "0x3");
    // A replayed flashblock of the superseded payload is refused and changes nothing.
    assert_eq!(push(&one)["error"]["code"], -32602);
    assert_eq!(balance(), "0x3");
    assert!(p.metric("preconf_overlay_rejected_total{reason=\"unknown_payload\"}") >= 2.0);
    assert_eq!(
        p.call(
            "eth_getTransactionCount",
            json!([dev_signer(5).address(), "pending"])
        )["result"],
        "0x2"
    );
    assert_eq!(
        p.call(
            "eth_getTransactionCount",
            json!([dev_signer(5).address(), "latest"])
        )["result"],
        "0x0"
    );
}

/// A refused flashblock touches nothing: after a gap, and after replays of recorded flashblocks
/// (genuinely signed: an old block's, the current one's again), `pending` reads and the pool still
/// see the preconfirmed block — preconfirmed funds stay spendable.
#[test]
fn refused_flashblocks_change_nothing() {
    let node = PushedNode::start();
    let p = &node.p;
    let (a, b) = (PrivateKeySigner::random(), PrivateKeySigner::random());
    let (_, fund_a) = transfer(6, 0, a.address(), 10u64.pow(18));
    let (_, fund_b) = transfer(6, 1, b.address(), 10u64.pow(18));
    let zero = node.signed(1, 0, vec![fund_a, fund_b]);
    assert_eq!(node.push(&zero)["result"], true);
    let balance = |k: &PrivateKeySigner| {
        p.call("eth_getBalance", json!([k.address(), "pending"]))["result"].clone()
    };
    assert_eq!(balance(&b), "0xde0b6b3a7640000");

    // Preconfirmed funds are spendable while the preconfirmed block stands.
    let (_, spend_a) = signed_transfer(&a, 0, Address::repeat_byte(0x66), 1);
    let r = p.call("eth_sendRawTransaction", json!([spend_a]));
    assert!(r["result"].is_string(), "{r}");

    // A gap is refused; the block applied so far stands for reads and for the pool.
    let gap = node.signed(1, 2, vec![]);
    assert_eq!(node.push(&gap)["error"]["code"], -32602);
    // Replays: the gap again, and the index 0 already applied, many times.
    for _ in 0..20 {
        assert_eq!(node.push(&gap)["error"]["code"], -32602);
        assert_eq!(node.push(&zero)["result"], true);
    }
    assert_eq!(balance(&b), "0xde0b6b3a7640000");
    let (_, spend_b) = signed_transfer(&b, 0, Address::repeat_byte(0x66), 1);
    let r = p.call("eth_sendRawTransaction", json!([spend_b]));
    assert!(r["result"].is_string(), "{r}");
    // And the sequence goes on where it was.
    assert_eq!(node.push(&node.signed(1, 1, vec![]))["result"], true);
}

/// A rebuild (a new payload for the same block, as after a round change) that starts with what
/// was preconfirmed replaces the sequence and is counted; replaying the replaced payload's index 0
/// afterwards changes nothing. `preconf_getPreconfirmationStatus` says where each transaction was
/// preconfirmed.
#[test]
fn a_rebuild_replaces_the_sequence_and_the_old_one_cannot_return() {
    let node = PushedNode::start();
    let p = &node.p;
    let recipient = Address::repeat_byte(0x66);
    let balance = || p.call("eth_getBalance", json!([recipient, "pending"]))["result"].clone();
    let (a, tx_a) = transfer(6, 0, recipient, 1);
    let (b, tx_b) = transfer(7, 0, recipient, 2);
    let old = node.signed(1, 0, vec![tx_a.clone()]);
    assert!(node.push(&old)["error"].is_null());
    assert_eq!(balance(), "0x1");
    assert!(node.push(&node.signed(2, 0, vec![tx_a, tx_b]))["error"].is_null());
    assert_eq!(balance(), "0x3");
    assert_eq!(p.metric("preconf_overlay_sequences_replaced_total"), 1.0);
    let r = node.push(&old);
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert_eq!(balance(), "0x3", "the replaced payload took over again");
    assert_eq!(
        p.metric("preconf_overlay_equivocations_total{kind=\"broken_promise\"}"),
        0.0
    );

    let status = |h: B256| p.call("preconf_getPreconfirmationStatus", json!([h]))["result"].clone();
    let sa = status(a);
    assert_eq!(sa["status"], "pending", "{sa}");
    // Prague1: the PoL transaction is at position 0.
    assert_eq!(sa["preconfirmed"]["blockNumber"], "0x1", "{sa}");
    assert_eq!(sa["preconfirmed"]["transactionIndex"], "0x1", "{sa}");
    assert_eq!(sa["preconfirmed"]["flashblockIndex"], "0x0", "{sa}");
    assert!(sa["included"].is_null(), "{sa}");
    assert_eq!(status(b)["preconfirmed"]["transactionIndex"], "0x2");
    assert!(status(B256::repeat_byte(9)).is_null());
}

/// Two validly signed flashblocks for one block that contradict each other: the second is
/// refused, counted by kind, both are served as evidence (each verifiable on its own), and the
/// node stops serving the sequencer's state for that block: nothing of it is applied any more.
#[test]
fn an_equivocating_sequencer_is_caught_with_proof() {
    let recipient = Address::repeat_byte(0x77);
    let (_, tx_a) = transfer(6, 0, recipient, 1);
    let (_, tx_b) = transfer(7, 0, recipient, 2);
    let check = |node: &PushedNode, kind: &str, first: &Value, second: &Value| {
        let p = &node.p;
        let balance = p.call("eth_getBalance", json!([recipient, "pending"]))["result"].clone();
        assert_eq!(balance, "0x0", "the contradicted state is still served");
        assert_eq!(
            p.metric(&format!(
                "preconf_overlay_equivocations_total{{kind=\"{kind}\"}}"
            )),
            1.0
        );
        let evidence = p.call("preconf_getEquivocationEvidence", json!([]))["result"].clone();
        assert_eq!(evidence.as_array().map(Vec::len), Some(1), "{evidence}");
        let e = &evidence[0];
        assert_eq!(
            (e["kind"].as_str(), e["blockNumber"].as_str()),
            (Some(kind), Some("0x1"))
        );
        assert_eq!(&e["first"], first, "{e}");
        assert_eq!(&e["second"], second, "{e}");
        for fb in [&e["first"], &e["second"]] {
            let fb: Flashblock = serde_json::from_value(fb.clone()).unwrap();
            fb.verify(DEVNET_CHAIN_ID, node.key.address()).unwrap();
        }
        let other = p.call("preconf_getEquivocationEvidence", json!(["0x2"]))["result"].clone();
        assert_eq!(other, json!([]));
        // Nothing more of the block is applied, not even what the sequencer sends next.
        let (_, tx_c) = transfer(8, 0, recipient, 4);
        let r = node.push(&node.signed(1, 1, vec![tx_c]));
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("equivocated"),
            "{r}"
        );
        assert_eq!(
            p.call("eth_getBalance", json!([recipient, "pending"]))["result"],
            "0x0"
        );
    };

    // The same flashblock signed twice with other contents.
    let node = PushedNode::start();
    let first = node.signed(1, 0, vec![tx_a.clone()]);
    assert_eq!(node.push(&first)["result"], true);
    let second = node.signed(1, 0, vec![tx_b.clone()]);
    let r = node.push(&second);
    assert_eq!(r["error"]["code"], -32602, "{r}");
    check(&node, "conflicting_flashblock", &first, &second);

    // A second index 0 for the block that drops what the first preconfirmed: it does not take
    // the node over.
    let node = PushedNode::start();
    let first = node.signed(1, 0, vec![tx_a]);
    assert_eq!(node.push(&first)["result"], true);
    let second = node.signed(2, 0, vec![tx_b]);
    let r = node.push(&second);
    assert_eq!(r["error"]["code"], -32602, "{r}");
    check(&node, "broken_promise", &first, &second);
}
