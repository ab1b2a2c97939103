//! Limits that follow the protocol, not the transport: the largest block a 300 M gas devnet
//! allows (calldata-heavy transactions, ~30 MB of block, ~60 MB of JSON payload) passes every
//! internal hop — the flashblock stream and the overlay, the payload server and the proposer's
//! fetch, `engine_newPayload` — and the chain carries on, sequencer-built.

use crate::{
    devnet::signed,
    support::{Proc, hex_u64, post, wait_for},
};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use serde_json::json;
use std::time::Duration;

/// Calldata per transaction: just under the pool's 128 KiB transaction size limit.
const CALLDATA: usize = 127 * 1024;
/// Gas per transaction: EIP-7623's floor for that many zero bytes (10 gas each) and a margin.
const GAS: u64 = 21_000 + 10 * CALLDATA as u64 + 10_000;
/// Transactions per dev account (ten accounts): more than one block holds.
const PER_SENDER: u64 = 26;

#[test]
fn the_largest_block_the_gas_limit_allows_passes_every_hop_and_the_chain_carries_on() {
    // Slots long enough for a debug build, sharing two cores with other tests, to execute and
    // carry a 30 MB block several times over (a release build does it within 2 s slots:
    // `PRECONF_TEST_BIN=target/release/preconf-node PRECONF_LIMITS_BLOCK_TIME=2s`).
    // `PRECONF_LIMITS_BLOCK_TIME` sets another slot (the proposers' fetch timeout is half of it).
    let slot = std::env::var("PRECONF_LIMITS_BLOCK_TIME").unwrap_or_else(|_| "20s".into());
    let secs: f64 = slot
        .trim_end_matches('s')
        .parse()
        .expect("a slot in seconds, e.g. 2s");
    let fetch = format!("{}ms", (secs * 500.0) as u64);
    let p = Proc::start(&[
        "devnet",
        "--gas-limit",
        "300000000",
        "--block-time",
        &slot,
        "--preconf.fetch-timeout",
        &fetch,
        // Sends return at once (not when preconfirmed): the nonce-0 batch lands in one block.
        "--rpc.preconf-latest=false",
        // Before Osaka a block is bounded by its gas only: ~33 MB here. From Osaka EIP-7934
        // bounds its RLP to 8 MiB (checked in core's `an_osaka_block_stays_within…`).
        "--hardfork",
        "prague",
    ]);
    let head = || hex_u64(&p.call("eth_blockNumber", json!([]))["result"]);
    wait_for(Duration::from_secs(60), || (head() >= 2).then_some(())).expect("blocks");
    let local = "preconf_proposer_blocks_total{source=\"local\"}";
    let local_before = p.metric(local);

    // 260 transactions of 127 KiB zero calldata (~33 MB, ~1.3 M gas each) from ten accounts:
    // nonces 1–25 first (they wait in the pool behind the gap, so the sends return at once), in
    // batches under the 5 MiB request limit, then every nonce 0 in one request, which makes all
    // of them executable at once: the next block is filled to the gas limit.
    let senders: Vec<_> = (0..10u32)
        .map(|key| {
            let addr = p.rpc;
            std::thread::spawn(move || {
                let raw = |nonce: u64| {
                    signed(
                        key,
                        nonce,
                        TxKind::Call(Address::with_last_byte(0xca)),
                        U256::ZERO,
                        Bytes::from(vec![0u8; CALLDATA]),
                        GAS,
                    )
                };
                let mut hashes = Vec::new();
                for nonces in [1..14, 14..PER_SENDER] {
                    let batch: Vec<_> = nonces
                        .map(|nonce| {
                            json!({"jsonrpc": "2.0", "id": nonce, "method": "eth_sendRawTransaction", "params": [raw(nonce)]})
                        })
                        .collect();
                    let (status, body) = post(addr, &json!(batch).to_string(), None);
                    assert_eq!(status, 200, "{body}");
                    let answers: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
                    for a in answers {
                        hashes.push(
                            a["result"]
                                .as_str()
                                .unwrap_or_else(|| panic!("send refused: {a}"))
                                .to_string(),
                        );
                    }
                }
                hashes
            })
        })
        .collect();
    let mut hashes: Vec<String> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    // Then every sender's nonce 0 in one request: all 260 become executable at once.
    let firsts: Vec<_> = (0..10u32)
        .map(|key| {
            let raw = signed(
                key,
                0,
                TxKind::Call(Address::with_last_byte(0xca)),
                U256::ZERO,
                Bytes::from(vec![0u8; CALLDATA]),
                GAS,
            );
            json!({"jsonrpc": "2.0", "id": key, "method": "eth_sendRawTransaction", "params": [raw]})
        })
        .collect();
    let (status, body) = post(p.rpc, &json!(firsts).to_string(), None);
    assert_eq!(status, 200, "{body}");
    let answers: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    hashes.extend(answers.iter().map(|a| {
        a["result"]
            .as_str()
            .unwrap_or_else(|| panic!("send refused: {a}"))
            .to_string()
    }));
    assert_eq!(hashes.len(), 10 * PER_SENDER as usize);

    // Every one is included (in canonical, finalized blocks)...
    let included = wait_for(Duration::from_secs(120), || {
        let finalized = hex_u64(
            &p.call("eth_getBlockByNumber", json!(["finalized", false]))["result"]["number"],
        );
        let blocks: Option<Vec<u64>> = hashes
            .iter()
            .map(|h| {
                let r = p.call("eth_getTransactionReceipt", json!([h]))["result"].clone();
                let n = r["blockNumber"]
                    .as_str()
                    .map(|_| hex_u64(&r["blockNumber"]))?;
                (n <= finalized).then_some(n)
            })
            .collect();
        blocks
    })
    .unwrap_or_else(|| {
        panic!(
            "not every transaction was finalized; head {}; the node warned:\n{}",
            head(),
            warnings(&p)
        )
    });
    // ...one block was full to the gas limit...
    let fullest = included
        .iter()
        .map(|n| {
            let b =
                p.call("eth_getBlockByNumber", json!([format!("{n:#x}"), false]))["result"].clone();
            hex_u64(&b["gasUsed"])
        })
        .max()
        .unwrap();
    assert!(
        fullest > 300_000_000 - GAS,
        "no block was filled: the fullest used {fullest} gas"
    );
    // ...and the chain carries on past them, every block from the sequencer.
    let last = *included.iter().max().unwrap();
    wait_for(Duration::from_secs(20), || {
        (head() >= last + 3).then_some(())
    })
    .expect("the chain goes on after the largest block");
    assert_eq!(
        p.metric(local),
        local_before,
        "a proposer fell back to a local build: a hop refused the block:\n{}",
        warnings(&p)
    );
}

/// The node's warnings so far, for a failure message.
fn warnings(p: &Proc) -> String {
    p.new_output()
        .into_iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect::<Vec<_>>()
        .join("\n")
}
