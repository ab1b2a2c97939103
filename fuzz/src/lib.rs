//! The bodies of the fuzz targets: each takes arbitrary bytes as the node receives them from the
//! network and runs the node's own decoding on them. None may panic; where a value decodes, what
//! is derived from it must be consistent (re-encoding gives the same bytes, a hash is the hash of
//! the encoding). The targets in `fuzz_targets/` call these; `tests/it/fuzz.rs` runs them over the
//! seed corpus on the stable toolchain.

use alloy_consensus::transaction::SignerRecoverable;
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, U64, keccak256};
use alloy_rpc_types_eth::{BlockId, BlockNumberOrTag, Filter, TransactionRequest};
use jsonrpsee_types::Params;
use preconf_core::{
    flashblock::{Flashblock, signing_digest},
    jwt::{JwtSecret, bearer},
    preconf::{PayloadRequest, parse_quantity, parse_validator_jwts, parse_whitelist},
    primitives::{BlockTransaction, SealedBlock, Transaction},
    txpool::{decode_raw, encoded_len, intrinsic_gas},
};

/// `eth_sendRawTransaction` bytes: the pool's decoding, signer recovery, intrinsic gas.
pub fn transaction(data: &[u8]) {
    let Ok((tx, _sidecar)) = decode_raw(data, true) else {
        return;
    };
    let encoded = tx.encoded_2718();
    assert_eq!(encoded.len(), encoded_len(&tx));
    let again = Transaction::decode_2718(&mut encoded.as_slice()).expect("re-encoding decodes");
    assert_eq!(again, tx);
    if !tx.is_eip4844() {
        // Without a sidecar the network form is the consensus form.
        assert_eq!(*tx.tx_hash(), keccak256(&encoded));
    }
    let _ = tx.recover_signer();
    let _ = intrinsic_gas(&tx);
}

/// A flashblock as streamed or pushed: JSON, then its signer under the devnet's chain id.
pub fn flashblock(data: &[u8]) {
    let Ok(fb) = serde_json::from_slice::<Flashblock>(data) else {
        return;
    };
    let _ = fb.block_number();
    let digest = signing_digest(80087, &fb);
    let _ = fb.signer(80087);
    let _ = fb.verify(80087, Address::ZERO);
    let text = serde_json::to_vec(&fb).expect("a parsed flashblock serializes");
    let back: Flashblock = serde_json::from_slice(&text).expect("its JSON parses");
    assert_eq!(signing_digest(80087, &back), digest);
}

/// `engine_newPayloadV3/V4/V4P11`'s payload: JSON, the block it describes, its senders and hash.
pub fn engine_payload(data: &[u8]) {
    let Ok(payload) = serde_json::from_slice::<alloy_rpc_types_engine::ExecutionPayloadV3>(data)
    else {
        return;
    };
    let Ok(block) = payload.try_into_block::<BlockTransaction>() else {
        return;
    };
    let block = SealedBlock::block_from_payload(block, None);
    let _ = block.header.hash_slow();
    let _ = SealedBlock::recover(block);
}

/// The payload server's inputs: the request body, the bearer header with its JWT, and the
/// whitelist and secret files it reloads.
pub fn payload_request(data: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<PayloadRequest>(data) {
        let text = serde_json::to_string(&req).expect("serializes");
        assert_eq!(
            serde_json::from_str::<PayloadRequest>(&text).ok(),
            Some(req)
        );
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_quantity(text);
    let _ = parse_whitelist(text);
    let _ = parse_validator_jwts(text);
    if let Some(token) = bearer(text) {
        let secret = JwtSecret::from_hex(&"11".repeat(32)).expect("a valid secret");
        let _ = secret.verify(token, 60);
    }
}

/// JSON-RPC params of the state and call methods, decoded as the server decodes them (the
/// first byte picks the method, the rest is the `params` array).
pub fn rpc_params(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(json) = std::str::from_utf8(rest) else {
        return;
    };
    let params = Params::new(Some(json));
    let mut seq = params.sequence();
    let _ = match which % 6 {
        // eth_getBalance, eth_getCode, eth_getTransactionCount
        0 => seq
            .next::<Address>()
            .and_then(|_| seq.optional_next::<BlockId>())
            .map(drop),
        // eth_getStorageAt
        1 => seq
            .next::<Address>()
            .and_then(|_| seq.next::<String>())
            .and_then(|_| seq.optional_next::<BlockId>())
            .map(drop),
        // eth_getProof
        2 => seq
            .next::<Address>()
            .and_then(|_| seq.next::<Vec<String>>())
            .and_then(|_| seq.optional_next::<BlockId>())
            .map(drop),
        // eth_call, eth_estimateGas, eth_createAccessList
        3 => seq
            .next::<TransactionRequest>()
            .and_then(|_| seq.optional_next::<BlockId>())
            .map(drop),
        // eth_getLogs
        4 => seq.next::<Filter>().map(|f| {
            let _ = f.get_block_hash();
            let _ = f.block_option.get_from_block();
        }),
        // eth_feeHistory
        _ => seq
            .next::<U64>()
            .and_then(|_| seq.next::<BlockNumberOrTag>())
            .and_then(|_| seq.optional_next::<Vec<f64>>())
            .map(drop),
    };
}
