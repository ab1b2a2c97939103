//! The fork Berachain runs: the devnet is on Prague1 + Osaka + Osaka1 unless `--hardfork prague`
//! says otherwise. Both side by side, as a dApp developer would see them.

use crate::{devnet::signed, support::Proc};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use serde_json::json;

/// A valid secp256r1 signature (EIP-7951's input: hash, r, s, x, y), from the p256-verifier test
/// vectors.
const P256_VALID: &str = "0x4cee90eb86eaa050036147a12d49004b6b9c72bd725d39d4785011fe190f0b4da73bd4903f0ce3b639bbbf6e8e80d16931ff4bcf5993d58468e8fb19086e8cac36dbcd03009df8c59286b162af3bd7fcc0450c9aa81be5d10d312af6c66b1d604aebd3099c618202fcfe16ae7770b0c49ab5eadf74b754204a3bb6060e44eff37618b065f9832de4ca6ca971a7a1adc826d0f7c00181a5fb2ddf79ae00b4e10e";

/// Creation code that returns `clz(1)` as one word: PUSH1 1, CLZ, PUSH1 0, MSTORE, PUSH1 32,
/// PUSH1 0, RETURN.
const CLZ_OF_ONE: &str = "0x60011e60005260206000f3";

#[test]
fn the_devnet_runs_osaka_and_osaka1_and_prague_on_request() {
    let osaka = Proc::start(&["devnet"]);
    let prague = Proc::start(&["devnet", "--hardfork", "prague"]);
    let word = |last: u8| format!("0x{}{last:02x}", "00".repeat(31));

    // EIP-7951: P256VERIFY at 0x100 says 1 for a valid signature; before Osaka, nothing is there.
    let p256 = json!({"to": "0x0000000000000000000000000000000000000100", "data": P256_VALID});
    assert_eq!(
        osaka.call("eth_call", json!([p256, "latest"]))["result"],
        word(1)
    );
    assert_eq!(
        prague.call("eth_call", json!([p256, "latest"]))["result"],
        "0x"
    );

    // EIP-7939: CLZ; before Osaka the opcode is not there.
    let clz = json!({"data": CLZ_OF_ONE});
    assert_eq!(
        osaka.call("eth_call", json!([clz, "latest"]))["result"],
        word(255)
    );
    let r = prague.call("eth_call", json!([clz, "latest"]));
    assert!(r["result"].is_null(), "{r}");

    // EIP-7825: no transaction above 2^24 gas, refused at the door with the reason.
    let raw = signed(
        4,
        0,
        TxKind::Call(Address::repeat_byte(0x11)),
        U256::from(1),
        Bytes::new(),
        (1 << 24) + 1,
    );
    let r = osaka.call("eth_sendRawTransaction", json!([raw]));
    assert_eq!(
        r["error"]["message"], "transaction gas limit too high (cap: 16777216, tx: 16777217)",
        "{r}"
    );
    let r = prague.call("eth_sendRawTransaction", json!([raw]));
    assert!(r["result"].is_string(), "{r}");
    // An estimate never asks for more than the cap; a call is not bounded by it.
    let loop_forever = json!({"data": "0x5b5f56"});
    let r = osaka.call("eth_estimateGas", json!([loop_forever]));
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("16777216")),
        "{r}"
    );

    // eth_config (EIP-7910): what each node runs.
    let config = |p: &Proc| p.call("eth_config", json!([]))["result"]["current"].clone();
    assert_eq!(
        config(&osaka)["precompiles"]["P256VERIFY"],
        "0x0000000000000000000000000000000000000100"
    );
    assert!(config(&prague)["precompiles"]["P256VERIFY"].is_null());
    assert_eq!(config(&osaka)["blobSchedule"]["max"], 9);

    // Osaka1's floors: the blob base fee starts at 1 gwei (1 wei before).
    assert_eq!(
        osaka.call("eth_blobBaseFee", json!([]))["result"],
        "0x3b9aca00"
    );
    assert_eq!(prague.call("eth_blobBaseFee", json!([]))["result"], "0x1");
}

/// `--txpool.minimum-priority-fee` (bera-reth's rule): the tip actually paid, whatever the
/// transaction type, must reach the floor; `--txpool.locals` are exempt.
#[test]
fn the_pool_holds_every_transaction_to_the_tip_floor() {
    let local = preconf_core::devnet::dev_signer(5).address().to_string();
    let p = Proc::start(&[
        "devnet",
        "--txpool.minimum-priority-fee",
        "2000000000",
        "--txpool.locals",
        &local,
    ]);
    let to = TxKind::Call(Address::repeat_byte(0x11));
    // 1 gwei of tip (the helper's) is under a 2 gwei floor.
    let raw = signed(4, 0, to, U256::from(1), Bytes::new(), 21_000);
    let r = p.call("eth_sendRawTransaction", json!([raw]));
    assert_eq!(
        r["error"]["message"],
        "transaction priority fee below minimum required priority fee 2000000000",
        "{r}"
    );
    let tipped = crate::devnet::signed_with_tip(
        4,
        0,
        to,
        U256::from(1),
        Bytes::new(),
        21_000,
        3_000_000_000,
    );
    assert!(p.call("eth_sendRawTransaction", json!([tipped]))["result"].is_string());
    let raw = signed(5, 0, to, U256::from(1), Bytes::new(), 21_000);
    let r = p.call("eth_sendRawTransaction", json!([raw]));
    assert!(r["result"].is_string(), "a local sender is exempt: {r}");
}

/// A blob transaction with one blob, in its network form with a sidecar carrying blob proofs
/// (EIP-4844) or, converted, cell proofs (EIP-7594).
fn blob_tx(key: u32, cell_proofs: bool) -> (String, alloy_primitives::B256) {
    use alloy_consensus::{SignableTransaction, TxEip4844, TxEip4844WithSidecar};
    use alloy_eips::{
        eip2718::Encodable2718, eip4844::BlobTransactionSidecar,
        eip7594::BlobTransactionSidecarVariant,
    };
    use alloy_network::TxSignerSync;
    let blob = alloy_eips::eip4844::Blob::repeat_byte(0);
    let settings = alloy_eips::eip4844::env_settings::EnvKzgSettings::Default;
    let sidecar =
        BlobTransactionSidecar::try_from_blobs_with_settings(vec![blob], settings.get()).unwrap();
    let mut tx = TxEip4844 {
        chain_id: preconf_core::devnet::DEVNET_CHAIN_ID,
        nonce: 0,
        gas_limit: 21_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: Address::repeat_byte(0x11),
        value: U256::ZERO,
        max_fee_per_blob_gas: 10_000_000_000,
        blob_versioned_hashes: sidecar.versioned_hashes().collect(),
        ..Default::default()
    };
    let signer = preconf_core::devnet::dev_signer(key);
    let sig = signer.sign_transaction_sync(&mut tx).unwrap();
    let variant = if cell_proofs {
        BlobTransactionSidecarVariant::Eip4844(sidecar)
            .try_convert_into_eip7594()
            .unwrap()
    } else {
        BlobTransactionSidecarVariant::Eip4844(sidecar)
    };
    let hash = *tx.clone().into_signed(sig).hash();
    let full = TxEip4844WithSidecar::from_tx_and_sidecar(tx, variant);
    let env = alloy_consensus::EthereumTxEnvelope::Eip4844(full.into_signed(sig));
    (
        alloy_primitives::hex::encode_prefixed(env.encoded_2718()),
        hash,
    )
}

/// Blob transactions reach a block on either fork: from Osaka the sidecar travels with cell
/// proofs (one sent with blob proofs is converted, as geth does) and the proposers' payloads carry
/// them; before Osaka cell proofs are refused.
#[test]
fn blob_transactions_land_on_osaka_and_on_prague() {
    let osaka = Proc::start(&["devnet"]);
    let prague = Proc::start(&["devnet", "--hardfork", "prague"]);
    for (p, key, cells) in [(&osaka, 6, false), (&osaka, 7, true), (&prague, 6, false)] {
        let (raw, hash) = blob_tx(key, cells);
        let r = p.call("eth_sendRawTransaction", json!([raw]));
        assert_eq!(r["result"], json!(hash), "{r}");
        let landed = crate::support::wait_for(std::time::Duration::from_secs(10), || {
            let r = p.call("eth_getTransactionReceipt", json!([hash]))["result"].clone();
            let sealed =
                r["blockNumber"].as_str().is_some_and(|n| {
                    crate::support::hex_u64(&json!(n))
                        <= crate::support::hex_u64(
                            &p.call("eth_getBlockByNumber", json!(["finalized", false]))["result"]
                                ["number"],
                        )
                });
            (sealed && r["blobGasUsed"] == "0x20000").then_some(r)
        });
        assert!(
            landed.is_some(),
            "blob transaction {hash} (cell proofs: {cells}) did not land"
        );
    }
    assert!(osaka.metric("preconf_proposer_blocks_total{source=\"sequencer\"}") > 0.0);
    let (raw, _) = blob_tx(7, true);
    let r = prague.call("eth_sendRawTransaction", json!([raw]));
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cell proofs (EIP-7594) are for Osaka")),
        "{r}"
    );
}

/// A chain built on a plain-Ethereum genesis with Osaka from block 0 — transfers, a create that
/// runs CLZ, a P256VERIFY call, a blob transaction with cell proofs — is accepted block by block
/// by the Ethereum execution specification (EELS, PyPI `ethereum-execution`, fork `osaka`):
/// `scripts/eels-check.py`.
#[test]
fn a_plain_osaka_chain_passes_the_execution_specification() {
    let pythonpath = crate::support::python_path("ethereum.forks.osaka");
    let dir = tempfile::tempdir().unwrap();
    let mut genesis =
        serde_json::to_value(preconf_core::devnet::devnet_genesis(30_000_000)).unwrap();
    genesis["config"]
        .as_object_mut()
        .unwrap()
        .remove("berachain");
    let path = dir.path().join("genesis.json");
    std::fs::write(&path, genesis.to_string()).unwrap();
    let p = Proc::start(&[
        "devnet",
        "--genesis",
        path.to_str().unwrap(),
        "--block-time",
        "1s",
    ]);
    let to = TxKind::Call(Address::repeat_byte(0x11));
    let bytes = |hex: &str| Bytes::from(alloy_primitives::hex::decode(hex).unwrap());
    let p256 = TxKind::Call(alloy_primitives::address!(
        "0000000000000000000000000000000000000100"
    ));
    let mut raws: Vec<String> = (0..3)
        .map(|n| signed(1, n, to, U256::from(1 + n), Bytes::new(), 21_000))
        .collect();
    raws.push(signed(
        2,
        0,
        TxKind::Create,
        U256::ZERO,
        bytes(CLZ_OF_ONE),
        100_000,
    ));
    raws.push(signed(2, 1, p256, U256::ZERO, bytes(P256_VALID), 100_000));
    let (blob, _) = std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(|| blob_tx(6, true))
        .unwrap()
        .join()
        .unwrap();
    raws.push(blob);
    let mut hashes = Vec::new();
    for raw in raws {
        let r = p.call("eth_sendRawTransaction", json!([raw]));
        hashes.push(
            r["result"]
                .as_str()
                .unwrap_or_else(|| panic!("{r}"))
                .to_string(),
        );
    }
    let finalized = || {
        crate::support::hex_u64(
            &p.call("eth_getBlockByNumber", json!(["finalized", false]))["result"]["number"],
        )
    };
    crate::support::wait_for(std::time::Duration::from_secs(20), || {
        hashes
            .iter()
            .all(|h| {
                let r = p.call("eth_getTransactionReceipt", json!([h]))["result"].clone();
                r["status"] == "0x1" && crate::support::hex_u64(&r["blockNumber"]) <= finalized()
            })
            .then_some(())
    })
    .expect("every transaction in a finalized block, successful");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/eels-check.py");
    let out = std::process::Command::new("python3")
        .args([script, &format!("http://{}", p.rpc), "osaka"])
        .arg(&path)
        .env("PYTHONPATH", &pythonpath)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("blocks accepted"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
}
