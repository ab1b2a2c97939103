//! The consensus side of BRIP-0007 as beacon-kit speaks it (`WIRE.md` §3): the payload server's
//! request and response bodies, the files that configure it (whitelist, validator JWTs, a
//! validator's sequencer JWT), and the devnet's validator set with its proposer rotation and
//! beacon block roots.

use crate::jwt::JwtSecret;
use alloy_primitives::{Address, B256, Bytes, FixedBytes, keccak256};
use alloy_rpc_types_engine::{BlobsBundleV1, ExecutionPayloadV3};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// A validator's 48-byte (BLS) public key.
pub type ValidatorPubkey = FixedBytes<48>;

/// The health endpoint.
pub const HEALTH_PATH: &str = "/eth/v1/preconf/health";
/// The payload endpoint.
pub const PAYLOAD_PATH: &str = "/eth/v1/preconf/payload";
/// Largest payload request body.
pub const MAX_REQUEST_BODY: usize = 2048;
/// The payload server's JWT window: `|now − iat|` at most five minutes.
pub const JWT_WINDOW_SECS: u64 = 300;

/// `POST /eth/v1/preconf/payload` body. Unknown fields are ignored; the caller's identity is the
/// JWT, not the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadRequest {
    /// The slot (block height) asked for: a quoted `0x` quantity.
    #[serde(deserialize_with = "quantity", serialize_with = "to_quantity")]
    pub slot: u64,
    /// The beacon block root the proposer builds on.
    pub parent_block_root: B256,
}

fn to_quantity<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

/// A quoted, `0x`-prefixed hex quantity without leading zeros, at most 16 nibbles.
fn quantity<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    parse_quantity(&s).map_err(serde::de::Error::custom)
}

/// Parses a `0x` hex quantity as beacon-kit's `math.U64` does.
pub fn parse_quantity(s: &str) -> Result<u64, String> {
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| format!("slot {s:?} is not 0x-prefixed"))?;
    if digits.is_empty() || digits.len() > 16 {
        return Err(format!("slot {s:?} must have 1 to 16 hex digits"));
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(format!("slot {s:?} has leading zeros"));
    }
    u64::from_str_radix(digits, 16).map_err(|_| format!("slot {s:?} is not hex"))
}

/// `GET /eth/v1/preconf/health` body (200 when ready, not syncing and the execution side is up;
/// 503 otherwise, with the same body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthBody {
    /// At least one block committed.
    pub is_ready: bool,
    /// Catching up.
    pub is_syncing: bool,
    /// The builder (the execution side of the sequencer) is up.
    pub el_connected: bool,
}

/// The payload server's 200 body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PayloadResponse {
    /// The payload's fork: Electra1 (Prague1) `0x05010000`, Electra `0x05000000`, Deneb
    /// `0x04000000`.
    pub fork_version: String,
    /// The block, as the Engine API encodes it.
    pub execution_payload: ExecutionPayloadV3,
    /// Blobs of the blob transactions (empty arrays when none).
    pub blobs_bundle: BlobsBundleV1,
    /// Fees the block pays its fee recipient, as a quoted decimal.
    pub block_value: String,
    /// Execution requests (Prague), or null.
    pub execution_requests: Option<Vec<Bytes>>,
}

/// The payload server's error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The HTTP status.
    pub code: u16,
    /// What went wrong.
    pub message: String,
}

/// Why a preconf file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileError {
    /// Not the expected JSON shape.
    #[error("not valid JSON of the expected shape: {0}")]
    Json(String),
    /// An entry is not a 48-byte `0x` public key.
    #[error("{0:?} is not a 0x-prefixed 48-byte validator public key")]
    Pubkey(String),
    /// A secret is not `0x` + 64 hex characters.
    #[error("invalid JWT secret for {0}: expected 0x followed by 64 hex characters")]
    Secret(String),
    /// The list or map is empty.
    #[error("the list is empty")]
    Empty,
}

fn pubkey(s: &str) -> Result<ValidatorPubkey, FileError> {
    let hex = s
        .strip_prefix("0x")
        .ok_or_else(|| FileError::Pubkey(s.into()))?;
    let bytes = alloy_primitives::hex::decode(hex).map_err(|_| FileError::Pubkey(s.into()))?;
    let arr: [u8; 48] = bytes.try_into().map_err(|_| FileError::Pubkey(s.into()))?;
    Ok(ValidatorPubkey::from(arr))
}

/// Parses the whitelist: a non-empty JSON array of `0x` 48-byte public keys.
pub fn parse_whitelist(text: &str) -> Result<Vec<ValidatorPubkey>, FileError> {
    let keys: Vec<String> =
        serde_json::from_str(text).map_err(|e| FileError::Json(e.to_string()))?;
    if keys.is_empty() {
        return Err(FileError::Empty);
    }
    keys.iter().map(|k| pubkey(k)).collect()
}

/// Parses the sequencer's validator JWT file: a non-empty JSON object
/// `{"0x<pubkey>": "0x<64 hex>"}`, in key order.
pub fn parse_validator_jwts(text: &str) -> Result<Vec<(ValidatorPubkey, JwtSecret)>, FileError> {
    let map: BTreeMap<String, String> =
        serde_json::from_str(text).map_err(|e| FileError::Json(e.to_string()))?;
    if map.is_empty() {
        return Err(FileError::Empty);
    }
    map.iter()
        .map(|(k, v)| {
            Ok((
                pubkey(k)?,
                parse_sequencer_jwt(v).map_err(|_| FileError::Secret(k.clone()))?,
            ))
        })
        .collect()
}

/// Parses a validator's sequencer JWT file: `0x<64 hex>` (lowercase `0x` required), surrounding
/// whitespace trimmed.
pub fn parse_sequencer_jwt(text: &str) -> Result<JwtSecret, FileError> {
    let t = text.trim();
    let hex = t
        .strip_prefix("0x")
        .filter(|h| h.len() == 64)
        .ok_or_else(|| FileError::Secret("the sequencer".into()))?;
    JwtSecret::from_hex(hex).map_err(|_| FileError::Secret("the sequencer".into()))
}

/// One validator of the devnet (`validators.json` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validator {
    /// Position in the set.
    pub index: u64,
    /// Public key.
    pub pubkey: ValidatorPubkey,
    /// Where its blocks' fees go.
    pub fee_recipient: Address,
}

/// The devnet's validator set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ValidatorSet(pub Vec<Validator>);

impl ValidatorSet {
    /// The devnet's `n` validators. Their keys are deterministic identifiers derived from the
    /// index (`keccak256("preconf-node devnet validator" ‖ index)`, extended to 48 bytes), not
    /// BLS keys: nothing in the devnet signs beacon blocks.
    pub fn devnet(n: u64) -> Self {
        Self(
            (0..n)
                .map(|index| {
                    let seed = keccak256(
                        [
                            b"preconf-node devnet validator".as_slice(),
                            &index.to_be_bytes(),
                        ]
                        .concat(),
                    );
                    let tail = keccak256(seed);
                    let mut key = [0u8; 48];
                    key[..32].copy_from_slice(seed.as_slice());
                    key[32..].copy_from_slice(&tail[..16]);
                    Validator {
                        index,
                        pubkey: ValidatorPubkey::from(key),
                        fee_recipient: Address::from_slice(&tail[12..]),
                    }
                })
                .collect(),
        )
    }

    /// The proposer of `height` in `round`: validator `(height + round) mod n`.
    pub fn proposer(&self, height: u64, round: u64) -> &Validator {
        let n = self.0.len() as u64;
        &self.0[(height.wrapping_add(round) % n.max(1)) as usize]
    }

    /// The round in which `fee_recipient`'s validator proposes `height` (the smallest one).
    pub fn round_of(&self, height: u64, fee_recipient: Address) -> Option<u64> {
        let n = self.0.len() as u64;
        let i = self
            .0
            .iter()
            .position(|v| v.fee_recipient == fee_recipient)? as u64;
        Some((i + n - height % n) % n)
    }
}

/// The devnet's beacon block root of `height` decided in `round`:
/// `keccak256("preconf-node devnet beacon block" ‖ height ‖ round)`, both as 8-byte big-endian
/// integers. It is the `parent_beacon_block_root` of block `height + 1` and the
/// `parent_block_root` its proposer asks the payload server for.
pub fn beacon_block_root(height: u64, round: u64) -> B256 {
    keccak256(
        [
            b"preconf-node devnet beacon block".as_slice(),
            &height.to_be_bytes(),
            &round.to_be_bytes(),
        ]
        .concat(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_parse_as_beacon_kit_quantities() {
        assert_eq!(parse_quantity("0x1a"), Ok(26));
        assert_eq!(parse_quantity("0x0"), Ok(0));
        assert_eq!(parse_quantity("0xffffffffffffffff"), Ok(u64::MAX));
        for bad in ["1a", "0x", "0x01", "0x1ffffffffffffffff", "0xzz", "0X1"] {
            assert!(parse_quantity(bad).is_err(), "{bad}");
        }
        let r: PayloadRequest = serde_json::from_str(&format!(
            r#"{{"slot":"0x1a","parent_block_root":"0x{}","extra":1}}"#,
            "11".repeat(32)
        ))
        .unwrap();
        assert_eq!(r.slot, 26);
        assert!(serde_json::from_str::<PayloadRequest>(r#"{"slot":26}"#).is_err());
        assert_eq!(
            serde_json::to_value(&r).unwrap()["slot"],
            serde_json::json!("0x1a")
        );
    }

    #[test]
    fn files_are_checked() {
        let k = format!("0x{}", "ab".repeat(48));
        assert_eq!(parse_whitelist(&format!(r#"["{k}"]"#)).unwrap().len(), 1);
        assert_eq!(parse_whitelist("[]"), Err(FileError::Empty));
        assert!(matches!(
            parse_whitelist(r#"["0x12"]"#),
            Err(FileError::Pubkey(_))
        ));
        assert!(matches!(parse_whitelist("{"), Err(FileError::Json(_))));
        let s = format!("0x{}", "cd".repeat(32));
        assert_eq!(
            parse_validator_jwts(&format!(r#"{{"{k}":"{s}"}}"#)).unwrap()[0].1,
            JwtSecret::new([0xcd; 32])
        );
        assert_eq!(parse_validator_jwts("{}"), Err(FileError::Empty));
        assert!(parse_sequencer_jwt(&format!(" {s}\n")).is_ok());
        assert!(parse_sequencer_jwt(&s.replace("0x", "0X")).is_err());
        assert!(parse_sequencer_jwt(&s[2..]).is_err());
    }

    #[test]
    fn proposers_rotate_by_height_and_round() {
        let set = ValidatorSet::devnet(4);
        assert_eq!(set.proposer(5, 0).index, 1);
        assert_eq!(set.proposer(5, 2).index, 3);
        assert_eq!(set.proposer(7, 1).index, 0);
        let v = set.proposer(9, 3).fee_recipient;
        assert_eq!(set.round_of(9, v), Some(3));
        assert_ne!(set.0[0].pubkey, set.0[1].pubkey);
        assert_ne!(beacon_block_root(1, 0), beacon_block_root(1, 1));
    }
}
