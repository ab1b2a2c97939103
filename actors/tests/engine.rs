//! The Engine API of an in-process node (real servers on 127.0.0.1:0, real JWT, real database):
//! a built payload is VALID and becomes the head; a tampered one is INVALID with the reason; the
//! specification's error codes come back for unknown payloads and bad attributes. On Berachain's
//! Prague1 (`--hardfork prague`) blocks go through the P11 methods with the previous proposer's
//! key, and the standard methods refuse them (Unsupported fork), as bera-reth does; on Osaka (the
//! devnet's default) payloads come from `engine_getPayloadV5` and V4/V4P11 refuse them.

use alloy_primitives::{Address, B256, Bytes, FixedBytes};
use alloy_rpc_types_engine::{
    ExecutionPayloadEnvelopeV4, ForkchoiceState, ForkchoiceUpdated, PayloadAttributes,
    PayloadStatus, PayloadStatusEnum,
};
use jsonrpsee::{
    core::client::ClientT,
    http_client::{HeaderMap, HeaderValue, HttpClient, HttpClientBuilder},
    rpc_params,
};
use preconf_actors::{NodeConfig, spawn};
use preconf_core::{devnet, jwt::JwtSecret};
use std::sync::Arc;

fn client(url: &str, jwt: &JwtSecret) -> HttpClient {
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {}", jwt.token())).unwrap(),
    );
    HttpClientBuilder::default()
        .set_headers(h)
        .build(url)
        .unwrap()
}

/// The previous proposer the test's blocks name.
const KEY: FixedBytes<48> = FixedBytes::repeat_byte(0x42);

/// V3 attributes (no key).
fn attrs_v3(ts: u64) -> PayloadAttributes {
    PayloadAttributes {
        timestamp: ts,
        prev_randao: B256::with_last_byte(7),
        suggested_fee_recipient: Address::with_last_byte(1),
        withdrawals: Some(Vec::new()),
        parent_beacon_block_root: Some(B256::with_last_byte(9)),
        slot_number: None,
        target_gas_limit: None,
    }
}

/// P11 attributes: V3's with `parentProposerPubKey`.
fn attrs(ts: u64) -> serde_json::Value {
    let mut v = serde_json::to_value(attrs_v3(ts)).unwrap();
    v["parentProposerPubKey"] = serde_json::to_value(KEY).unwrap();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_lifecycle_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let jwt = JwtSecret::random();
    let spec = Arc::new(devnet::devnet_chainspec_at(
        devnet::DEFAULT_GAS_LIMIT,
        devnet::DevnetFork::Prague,
    ));
    let node = spawn(NodeConfig::local(
        spec.clone(),
        dir.path().to_path_buf(),
        jwt.clone(),
    ))
    .await
    .unwrap();
    let c = client(&format!("http://{}", node.authrpc_addr), &jwt);
    let genesis = spec.genesis_hash();
    let fc = ForkchoiceState {
        head_block_hash: genesis,
        safe_block_hash: genesis,
        finalized_block_hash: genesis,
    };

    // A wrong secret is refused at the HTTP layer.
    let bad = client(
        &format!("http://{}", node.authrpc_addr),
        &JwtSecret::random(),
    );
    assert!(
        bad.request::<Vec<String>, _>(
            "engine_exchangeCapabilities",
            rpc_params![Vec::<String>::new()]
        )
        .await
        .is_err()
    );

    let caps: Vec<String> = c
        .request(
            "engine_exchangeCapabilities",
            rpc_params![Vec::<String>::new()],
        )
        .await
        .unwrap();
    for m in [
        "engine_newPayloadV4P11",
        "engine_forkchoiceUpdatedV3P11",
        "engine_getPayloadV4P11",
    ] {
        assert!(caps.iter().any(|c| c == m), "{m} in {caps:?}");
    }
    // Prague1 blocks need the P11 methods and the key: V3 attributes are an unsupported fork
    // (-38005), P11 attributes without the key invalid params (-32602).
    let e = c
        .request::<serde_json::Value, _>(
            "engine_forkchoiceUpdatedV3",
            rpc_params![fc, attrs_v3(100)],
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("-38005"), "{e}");
    let e = c
        .request::<serde_json::Value, _>(
            "engine_forkchoiceUpdatedV3P11",
            rpc_params![fc, attrs_v3(100)],
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("InvalidParams"), "{e}");
    let fcu: ForkchoiceUpdated = c
        .request("engine_forkchoiceUpdatedV3P11", rpc_params![fc, attrs(100)])
        .await
        .unwrap();
    assert!(fcu.payload_status.status.is_valid());
    let id = fcu.payload_id.expect("a payload id");
    let e = c
        .request::<serde_json::Value, _>("engine_getPayloadV4", rpc_params![id])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("-38005"), "{e}");
    let env: ExecutionPayloadEnvelopeV4 = c
        .request("engine_getPayloadV4P11", rpc_params![id])
        .await
        .unwrap();
    let payload = env.envelope_inner.execution_payload.clone();
    let root = B256::with_last_byte(9);
    let requests: Vec<Bytes> = env.execution_requests.clone().take();

    // Tampered: a different state root, with the block hash recomputed so only execution can tell.
    let block = payload
        .clone()
        .try_into_block::<preconf_core::primitives::BlockTransaction>()
        .unwrap();
    let mut block = preconf_core::primitives::SealedBlock::block_from_payload(block, Some(KEY));
    block.header.parent_beacon_block_root = Some(root);
    block.header.requests_hash = Some(env.execution_requests.requests_hash());
    block.header.state_root = B256::repeat_byte(0xab);
    let mut bad_payload = payload.clone();
    bad_payload.payload_inner.payload_inner.state_root = block.header.state_root;
    bad_payload.payload_inner.payload_inner.block_hash = block.header.hash_slow();
    let status: PayloadStatus = c
        .request(
            "engine_newPayloadV4P11",
            rpc_params![bad_payload, Vec::<B256>::new(), root, requests.clone(), KEY],
        )
        .await
        .unwrap();
    match &status.status {
        PayloadStatusEnum::Invalid { validation_error } => {
            assert!(validation_error.contains("stateRoot"), "{validation_error}")
        }
        other => panic!("expected INVALID, got {other:?}"),
    }
    assert_eq!(status.latest_valid_hash, Some(genesis));

    // A wrong block hash is INVALID too.
    let mut wrong_hash = payload.clone();
    wrong_hash.payload_inner.payload_inner.block_hash = B256::repeat_byte(1);
    let status: PayloadStatus = c
        .request(
            "engine_newPayloadV4P11",
            rpc_params![wrong_hash, Vec::<B256>::new(), root, requests.clone(), KEY],
        )
        .await
        .unwrap();
    assert!(matches!(status.status, PayloadStatusEnum::Invalid { .. }));
    // The spec: a failed block hash check names no latest valid hash, and a made-up parent is
    // never echoed back as valid.
    assert_eq!(status.latest_valid_hash, None);
    let mut fake_parent = payload.clone();
    fake_parent.payload_inner.payload_inner.parent_hash = B256::repeat_byte(2);
    let status: PayloadStatus = c
        .request(
            "engine_newPayloadV4P11",
            rpc_params![fake_parent, Vec::<B256>::new(), root, requests.clone(), KEY],
        )
        .await
        .unwrap();
    assert!(matches!(status.status, PayloadStatusEnum::Invalid { .. }));
    assert_eq!(status.latest_valid_hash, None);

    // The key is part of the block hash: another key makes it INVALID; the standard method
    // refuses a Prague1 block.
    let status: PayloadStatus = c
        .request(
            "engine_newPayloadV4P11",
            rpc_params![
                payload.clone(),
                Vec::<B256>::new(),
                root,
                requests.clone(),
                FixedBytes::<48>::repeat_byte(1)
            ],
        )
        .await
        .unwrap();
    match &status.status {
        PayloadStatusEnum::Invalid { validation_error } => {
            assert!(
                validation_error.contains("block hash mismatch"),
                "{validation_error}"
            )
        }
        other => panic!("expected INVALID, got {other:?}"),
    }
    let e = c
        .request::<serde_json::Value, _>(
            "engine_newPayloadV4",
            rpc_params![payload.clone(), Vec::<B256>::new(), root, requests.clone()],
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("-38005"), "{e}");

    // The real one is VALID and becomes the head.
    let hash = payload.payload_inner.payload_inner.block_hash;
    let status: PayloadStatus = c
        .request(
            "engine_newPayloadV4P11",
            rpc_params![payload, Vec::<B256>::new(), root, requests, KEY],
        )
        .await
        .unwrap();
    assert!(status.status.is_valid(), "{status:?}");
    let fc2 = ForkchoiceState {
        head_block_hash: hash,
        safe_block_hash: hash,
        finalized_block_hash: genesis,
    };
    let fcu: ForkchoiceUpdated = c
        .request(
            "engine_forkchoiceUpdatedV3",
            rpc_params![fc2, Option::<PayloadAttributes>::None],
        )
        .await
        .unwrap();
    assert!(fcu.payload_status.status.is_valid());
    assert_eq!(node.chain.head().hash, hash);

    // Error codes: unknown payload (-38001), attributes not after the head (-38003), unknown head
    // (SYNCING).
    let e = c
        .request::<serde_json::Value, _>(
            "engine_getPayloadV4P11",
            rpc_params!["0x0102030405060708"],
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("-38001"), "{e}");
    let e = c
        .request::<serde_json::Value, _>(
            "engine_forkchoiceUpdatedV3P11",
            rpc_params![fc2, attrs(50)],
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("-38003"), "{e}");
    let unknown = ForkchoiceState {
        head_block_hash: B256::repeat_byte(5),
        ..fc2
    };
    let fcu: ForkchoiceUpdated = c
        .request(
            "engine_forkchoiceUpdatedV3",
            rpc_params![unknown, Option::<PayloadAttributes>::None],
        )
        .await
        .unwrap();
    assert!(fcu.payload_status.status.is_syncing());

    // A timestamp that leaves no room for a child block is refused (-38003), not built.
    let e = c
        .request::<serde_json::Value, _>(
            "engine_forkchoiceUpdatedV3P11",
            rpc_params![fc2, attrs(u64::MAX)],
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("-38003"), "{e}");

    // Finality: a finalized hash on the head's chain moves the mark; a replayed older update does
    // not move it back; a hash that is not on the chain is -38002 and changes nothing.
    let finalize = |finalized: B256| ForkchoiceState {
        head_block_hash: hash,
        safe_block_hash: hash,
        finalized_block_hash: finalized,
    };
    let fcu: ForkchoiceUpdated = c
        .request(
            "engine_forkchoiceUpdatedV3",
            rpc_params![finalize(hash), Option::<PayloadAttributes>::None],
        )
        .await
        .unwrap();
    assert!(fcu.payload_status.status.is_valid());
    assert_eq!(node.chain.finalized_hash(), hash);
    let fcu: ForkchoiceUpdated = c
        .request(
            "engine_forkchoiceUpdatedV3",
            rpc_params![finalize(genesis), Option::<PayloadAttributes>::None],
        )
        .await
        .unwrap();
    assert!(fcu.payload_status.status.is_valid());
    assert_eq!(
        node.chain.finalized_hash(),
        hash,
        "a replayed update moved finality back"
    );
    let e = c
        .request::<serde_json::Value, _>(
            "engine_forkchoiceUpdatedV3",
            rpc_params![
                finalize(B256::repeat_byte(0x77)),
                Option::<PayloadAttributes>::None
            ],
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("-38002"), "{e}");
    assert_eq!(node.chain.finalized_hash(), hash);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osaka_payloads_come_from_get_payload_v5() {
    let dir = tempfile::tempdir().unwrap();
    let jwt = JwtSecret::random();
    let spec = Arc::new(devnet::devnet_chainspec(devnet::DEFAULT_GAS_LIMIT));
    let node = spawn(NodeConfig::local(
        spec.clone(),
        dir.path().to_path_buf(),
        jwt.clone(),
    ))
    .await
    .unwrap();
    let c = client(&format!("http://{}", node.authrpc_addr), &jwt);
    let caps: Vec<String> = c
        .request(
            "engine_exchangeCapabilities",
            rpc_params![Vec::<String>::new()],
        )
        .await
        .unwrap();
    assert!(caps.iter().any(|c| c == "engine_getPayloadV5"), "{caps:?}");
    let genesis = spec.genesis_hash();
    let fc = ForkchoiceState {
        head_block_hash: genesis,
        safe_block_hash: genesis,
        finalized_block_hash: genesis,
    };
    let fcu: ForkchoiceUpdated = c
        .request("engine_forkchoiceUpdatedV3P11", rpc_params![fc, attrs(100)])
        .await
        .unwrap();
    let id = fcu.payload_id.expect("a payload id");
    for old in ["engine_getPayloadV4", "engine_getPayloadV4P11"] {
        let e = c
            .request::<serde_json::Value, _>(old, rpc_params![id])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("-38005"), "{old}: {e}");
    }
    let env: alloy_rpc_types_engine::ExecutionPayloadEnvelopeV5 = c
        .request("engine_getPayloadV5", rpc_params![id])
        .await
        .unwrap();
    assert!(env.blobs_bundle.commitments.is_empty());
    let payload = env.execution_payload;
    let requests: Vec<Bytes> = env.execution_requests.take();
    let status: PayloadStatus = c
        .request(
            "engine_newPayloadV4P11",
            rpc_params![
                payload.clone(),
                Vec::<B256>::new(),
                B256::with_last_byte(9),
                requests,
                KEY
            ],
        )
        .await
        .unwrap();
    assert_eq!(status.status, PayloadStatusEnum::Valid, "{status:?}");

    // engine_getBlobsV2: a pooled blob transaction's blob with its 128 cell proofs (a sidecar
    // sent with blob proofs is converted on arrival); null when any hash is unknown; at most 128.
    // (A blob is 128 KiB: built on a thread with room for a debug build's copies of it.)
    let (raw, versioned) = std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(blob_tx)
        .unwrap()
        .join()
        .unwrap();
    let rpc = HttpClientBuilder::default()
        .build(format!("http://{}", node.http_addr))
        .unwrap();
    let _: B256 = rpc
        .request("eth_sendRawTransaction", rpc_params![raw])
        .await
        .unwrap();
    // Read as JSON: a typed blob is 128 KiB on the test thread's stack, several times over in a
    // debug build.
    let blobs: serde_json::Value = c
        .request("engine_getBlobsV2", rpc_params![vec![versioned]])
        .await
        .unwrap();
    assert_eq!(blobs.as_array().map(Vec::len), Some(1), "the pooled blob");
    assert_eq!(blobs[0]["proofs"].as_array().map(Vec::len), Some(128));
    assert_eq!(
        blobs[0]["blob"].as_str().map(str::len),
        Some(2 + 2 * 131_072)
    );
    let none: serde_json::Value = c
        .request(
            "engine_getBlobsV2",
            rpc_params![vec![versioned, B256::repeat_byte(1)]],
        )
        .await
        .unwrap();
    assert!(none.is_null());
    let e = c
        .request::<serde_json::Value, _>("engine_getBlobsV2", rpc_params![vec![versioned; 129]])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("-38004"), "{e}");
}

/// A signed blob transaction with one (zero) blob, in its network form with blob proofs, and
/// the blob's versioned hash.
fn blob_tx() -> (Bytes, B256) {
    use alloy_consensus::{SignableTransaction, TxEip4844, TxEip4844WithSidecar};
    use alloy_eips::{eip2718::Encodable2718, eip4844::BlobTransactionSidecar};
    use alloy_network::TxSignerSync;
    let settings = alloy_eips::eip4844::env_settings::EnvKzgSettings::Default;
    let blob = alloy_eips::eip4844::Blob::repeat_byte(0);
    let sidecar =
        BlobTransactionSidecar::try_from_blobs_with_settings(vec![blob], settings.get()).unwrap();
    let versioned = sidecar.versioned_hashes().next().unwrap();
    let mut tx = TxEip4844 {
        chain_id: devnet::DEVNET_CHAIN_ID,
        gas_limit: 21_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: Address::repeat_byte(0x11),
        max_fee_per_blob_gas: 10_000_000_000,
        blob_versioned_hashes: vec![versioned],
        ..Default::default()
    };
    let sig = devnet::dev_signer(6)
        .sign_transaction_sync(&mut tx)
        .unwrap();
    let full = TxEip4844WithSidecar::from_tx_and_sidecar(tx, sidecar);
    let env = alloy_consensus::EthereumTxEnvelope::Eip4844(full.into_signed(sig));
    (env.encoded_2718().into(), versioned)
}
