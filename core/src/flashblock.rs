//! Flashblocks: the signed partial blocks a sequencer seals every interval (WIRE.md §1–2).
//!
//! [`Flashblock`] is the exact JSON shape bera-reth streams (one object per WebSocket text
//! frame). [`signing_digest`] is the 32-byte message the sequencer signs with secp256k1; it keeps
//! bera-reth's domain and fields and additionally binds `base`, the withdrawals and `is_last`:
//!
//! ```text
//! domain      = keccak256("BerachainPreconf-v1" ‖ chain_id:u64)
//! tx_hash     = keccak256( for each tx in diff.transactions: len(tx):u64 ‖ tx )
//! base_hash   = 32 zero bytes when base is null, else keccak256(
//!                 parent_beacon_block_root:32 ‖ parent_hash:32 ‖ fee_recipient:20 ‖
//!                 prev_randao:32 ‖ block_number:u64 ‖ gas_limit:u64 ‖ timestamp:u64 ‖
//!                 base_fee_per_gas:u256 ‖ len(extra_data):u64 ‖ extra_data ‖
//!                 0x00 (no prev_proposer_pubkey) | 0x01 ‖ prev_proposer_pubkey:48 )
//! wd_hash     = keccak256( for each withdrawal: index:u64 ‖ validator_index:u64 ‖
//!                 address:20 ‖ amount_gwei:u64 )
//! digest      = keccak256(domain ‖ metadata.block_number:u64 ‖ payload_id:8 ‖ index:u64 ‖
//!                 tx_hash ‖ base_hash ‖ wd_hash ‖ is_last:u8)
//! ```
//!
//! Integers are big-endian. The digest is signed as is (no EIP-191 prefix); `signature` is the
//! 65-byte recoverable signature `r ‖ s ‖ v` with v = 27 or 28 (0 or 1 is accepted on input).
//! `metadata` other than `block_number` (the seal time) is not signed: it only feeds latency
//! metrics.

use alloy_eips::eip4895::Withdrawal;
use alloy_primitives::{Address, B256, Bytes, FixedBytes, Signature, U64, U256, keccak256};
use alloy_rpc_types_engine::PayloadId;
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use serde::{Deserialize, Serialize};

/// The signing domain tag shared with bera-reth.
pub const DOMAIN_TAG: &[u8] = b"BerachainPreconf-v1";

/// Block-level fields, carried by index 0 only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashblockBase {
    /// EIP-4788 parent beacon block root.
    pub parent_beacon_block_root: B256,
    /// Parent block hash.
    pub parent_hash: B256,
    /// Fee recipient (coinbase).
    pub fee_recipient: Address,
    /// prevRandao.
    pub prev_randao: B256,
    /// Block number.
    pub block_number: U64,
    /// Gas limit.
    pub gas_limit: U64,
    /// Timestamp.
    pub timestamp: U64,
    /// Extra data.
    pub extra_data: Bytes,
    /// Base fee per gas.
    pub base_fee_per_gas: U256,
    /// Previous proposer's BLS pubkey (Berachain PoL); `null` when not used.
    #[serde(default)]
    pub prev_proposer_pubkey: Option<FixedBytes<48>>,
}

/// What a flashblock adds to the block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashblockDiff {
    /// EIP-2718 encoded transactions added since the previous flashblock.
    #[serde(default)]
    pub transactions: Vec<Bytes>,
    /// The block's withdrawals (index 0 only).
    #[serde(default)]
    pub withdrawals: Vec<Withdrawal>,
}

/// Unsigned extra information.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashblockMetadata {
    /// Block number (plain JSON number).
    pub block_number: u64,
    /// When the sequencer sealed this flashblock, in microseconds since the Unix epoch (for
    /// seal → applied latency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_at_us: Option<u64>,
}

impl FlashblockMetadata {
    /// Microseconds since the Unix epoch, the clock of [`Self::sealed_at_us`].
    pub fn now_us() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0)
    }

    /// Seconds since this flashblock was sealed (`None` when it carries no seal time).
    pub fn since_sealed_secs(&self) -> Option<f64> {
        self.sealed_at_us
            .map(|sealed| Self::now_us().saturating_sub(sealed) as f64 / 1e6)
    }
}

/// One flashblock, exactly as streamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flashblock {
    /// The payload (block) this flashblock belongs to.
    pub payload_id: PayloadId,
    /// Position in the block's sequence, from 0.
    pub index: u64,
    /// Block-level fields (index 0 only).
    #[serde(default)]
    pub base: Option<FlashblockBase>,
    /// What this flashblock adds.
    pub diff: FlashblockDiff,
    /// Unsigned metadata.
    pub metadata: FlashblockMetadata,
    /// Sequencer signature over [`signing_digest`].
    #[serde(default)]
    pub signature: Bytes,
    /// Whether this is the block's last flashblock.
    #[serde(default)]
    pub is_last: bool,
}

/// Why a flashblock's signature is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not 65 bytes, or a bad recovery byte.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// Recovers to another address.
    #[error("signed by {got}, expected the sequencer {expected}")]
    WrongSigner {
        /// The configured sequencer.
        expected: Address,
        /// Who signed.
        got: Address,
    },
}

impl SignatureError {
    /// Every value [`Self::reason`] returns.
    pub const REASONS: &[&str] = &["malformed", "wrong_signer"];

    /// Short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::WrongSigner { .. } => "wrong_signer",
        }
    }
}

fn domain(chain_id: u64) -> B256 {
    let mut buf = Vec::with_capacity(DOMAIN_TAG.len() + 8);
    buf.extend_from_slice(DOMAIN_TAG);
    buf.extend_from_slice(&chain_id.to_be_bytes());
    keccak256(buf)
}

fn base_hash(base: Option<&FlashblockBase>) -> B256 {
    let Some(b) = base else {
        return B256::ZERO;
    };
    let mut buf = Vec::with_capacity(300);
    buf.extend_from_slice(b.parent_beacon_block_root.as_slice());
    buf.extend_from_slice(b.parent_hash.as_slice());
    buf.extend_from_slice(b.fee_recipient.as_slice());
    buf.extend_from_slice(b.prev_randao.as_slice());
    buf.extend_from_slice(&b.block_number.to::<u64>().to_be_bytes());
    buf.extend_from_slice(&b.gas_limit.to::<u64>().to_be_bytes());
    buf.extend_from_slice(&b.timestamp.to::<u64>().to_be_bytes());
    buf.extend_from_slice(&b.base_fee_per_gas.to_be_bytes::<32>());
    buf.extend_from_slice(&(b.extra_data.len() as u64).to_be_bytes());
    buf.extend_from_slice(&b.extra_data);
    match &b.prev_proposer_pubkey {
        None => buf.push(0),
        Some(pk) => {
            buf.push(1);
            buf.extend_from_slice(pk.as_slice());
        }
    }
    keccak256(buf)
}

/// The 32-byte message a flashblock's signature covers (layout in the module docs).
pub fn signing_digest(chain_id: u64, fb: &Flashblock) -> B256 {
    let mut txs = Vec::new();
    for tx in &fb.diff.transactions {
        txs.extend_from_slice(&(tx.len() as u64).to_be_bytes());
        txs.extend_from_slice(tx);
    }
    let mut wds = Vec::with_capacity(fb.diff.withdrawals.len() * 44);
    for w in &fb.diff.withdrawals {
        wds.extend_from_slice(&w.index.to_be_bytes());
        wds.extend_from_slice(&w.validator_index.to_be_bytes());
        wds.extend_from_slice(w.address.as_slice());
        wds.extend_from_slice(&w.amount.to_be_bytes());
    }
    let mut msg = Vec::with_capacity(32 + 8 + 8 + 8 + 32 * 3 + 1);
    msg.extend_from_slice(domain(chain_id).as_slice());
    msg.extend_from_slice(&fb.metadata.block_number.to_be_bytes());
    msg.extend_from_slice(fb.payload_id.0.as_slice());
    msg.extend_from_slice(&fb.index.to_be_bytes());
    msg.extend_from_slice(keccak256(&txs).as_slice());
    msg.extend_from_slice(base_hash(fb.base.as_ref()).as_slice());
    msg.extend_from_slice(keccak256(&wds).as_slice());
    msg.push(fb.is_last as u8);
    keccak256(msg)
}

impl Flashblock {
    /// Signs the flashblock in place.
    pub fn sign(&mut self, chain_id: u64, key: &PrivateKeySigner) -> Result<(), String> {
        let sig = key
            .sign_hash_sync(&signing_digest(chain_id, self))
            .map_err(|e| e.to_string())?;
        self.signature = Bytes::from(sig.as_bytes().to_vec());
        Ok(())
    }

    /// The address that signed this flashblock.
    pub fn signer(&self, chain_id: u64) -> Result<Address, SignatureError> {
        let sig = Signature::from_raw(&self.signature)
            .map_err(|e| SignatureError::Malformed(e.to_string()))?;
        sig.recover_address_from_prehash(&signing_digest(chain_id, self))
            .map_err(|e| SignatureError::Malformed(e.to_string()))
    }

    /// Checks that the flashblock was signed by `sequencer`.
    pub fn verify(&self, chain_id: u64, sequencer: Address) -> Result<(), SignatureError> {
        let got = self.signer(chain_id)?;
        if got != sequencer {
            return Err(SignatureError::WrongSigner {
                expected: sequencer,
                got,
            });
        }
        Ok(())
    }

    /// The block number this flashblock belongs to.
    pub fn block_number(&self) -> u64 {
        self.metadata.block_number
    }
}

/// Reads a secp256k1 signing key from a file holding its hex (with or without `0x`), or creates
/// the file with a fresh random key when it does not exist.
pub fn load_or_create_key(path: &std::path::Path) -> Result<PrivateKeySigner, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .trim_start_matches("0x")
            .parse::<PrivateKeySigner>()
            .map_err(|e| format!("invalid signing key in {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = PrivateKeySigner::random();
            let text = format!("0x{}\n", alloy_primitives::hex::encode(key.to_bytes()));
            crate::secret_file::write_new(path, &text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256, bytes};

    fn sample() -> Flashblock {
        Flashblock {
            payload_id: PayloadId::new([1, 2, 3, 4, 5, 6, 7, 8]),
            index: 0,
            base: Some(FlashblockBase {
                parent_beacon_block_root: B256::repeat_byte(0x11),
                parent_hash: B256::repeat_byte(0x22),
                fee_recipient: address!("0x3333333333333333333333333333333333333333"),
                prev_randao: B256::repeat_byte(0x44),
                block_number: U64::from(7),
                gas_limit: U64::from(30_000_000),
                timestamp: U64::from(1_700_000_000),
                extra_data: bytes!("0xbeef"),
                base_fee_per_gas: U256::from(1_000_000_000u64),
                prev_proposer_pubkey: None,
            }),
            diff: FlashblockDiff {
                transactions: vec![bytes!("0x02f8"), bytes!("0x01")],
                withdrawals: vec![Withdrawal {
                    index: 1,
                    validator_index: 2,
                    address: Address::repeat_byte(0x55),
                    amount: 3,
                }],
            },
            metadata: FlashblockMetadata {
                block_number: 7,
                sealed_at_us: Some(1),
            },
            signature: Bytes::new(),
            is_last: false,
        }
    }

    /// Pins the digest layout: any change to it breaks every deployed verifier. The expected
    /// value was computed independently (Python, pycryptodome keccak) from the layout in the
    /// module docs.
    #[test]
    fn digest_test_vector() {
        let fb = sample();
        assert_eq!(
            signing_digest(80087, &fb),
            b256!("0x9e5fb95854e5eb34fdf5ee998f4a465c30e8c0b0df269be93fdba8eb4aecd794")
        );
        // Signatures are deterministic (RFC 6979): the devnet's first dev key gives this one.
        let mut signed = fb.clone();
        signed.sign(80087, &crate::devnet::dev_signer(0)).unwrap();
        assert_eq!(
            signed.signature,
            bytes!(
                "0x86a61664f5abda0c719440c85cae7721c108d6cdbea0b3e023231caf52038e643af50010be54611ed44c73168aa22417214fbd5e94b206f8536fdfacdeb0d16f1b"
            )
        );
    }

    #[test]
    fn every_signed_field_changes_the_digest() {
        let fb = sample();
        let d = signing_digest(80087, &fb);
        assert_ne!(signing_digest(80094, &fb), d);
        type Mutation = Box<dyn Fn(&mut Flashblock)>;
        let mutations: Vec<Mutation> = vec![
            Box::new(|f| f.index = 1),
            Box::new(|f| f.is_last = true),
            Box::new(|f| f.metadata.block_number = 8),
            Box::new(|f| f.payload_id = PayloadId::new([0; 8])),
            Box::new(|f| f.diff.transactions.reverse()),
            Box::new(|f| f.diff.transactions = vec![bytes!("0x02f801")]),
            Box::new(|f| f.diff.withdrawals.clear()),
            Box::new(|f| f.base = None),
            Box::new(|f| f.base.as_mut().unwrap().timestamp = U64::from(1)),
            Box::new(|f| f.base.as_mut().unwrap().extra_data = Bytes::new()),
            Box::new(|f| f.base.as_mut().unwrap().prev_proposer_pubkey = Some(FixedBytes::ZERO)),
        ];
        for m in mutations {
            let mut f = fb.clone();
            m(&mut f);
            assert_ne!(signing_digest(80087, &f), d);
        }
        // Unsigned metadata does not change it.
        let mut f = fb.clone();
        f.metadata.sealed_at_us = Some(99);
        assert_eq!(signing_digest(80087, &f), d);
    }

    #[test]
    fn sign_and_verify() {
        let key = PrivateKeySigner::random();
        let mut fb = sample();
        fb.sign(80087, &key).unwrap();
        assert_eq!(fb.signature.len(), 65);
        fb.verify(80087, key.address()).unwrap();
        let other = PrivateKeySigner::random().address();
        assert!(matches!(
            fb.verify(80087, other),
            Err(SignatureError::WrongSigner { .. })
        ));
        let mut tampered = fb.clone();
        tampered.diff.transactions.push(bytes!("0x00"));
        assert!(tampered.verify(80087, key.address()).is_err());
        let mut short = fb.clone();
        short.signature = bytes!("0x1234");
        assert_eq!(
            short.verify(80087, key.address()).unwrap_err().reason(),
            "malformed"
        );
        // v as 0/1 is accepted too.
        let mut low_v = fb.clone();
        let mut raw = low_v.signature.to_vec();
        raw[64] -= 27;
        low_v.signature = raw.into();
        low_v.verify(80087, key.address()).unwrap();
    }

    #[test]
    fn json_shape_matches_the_wire_format() {
        let mut fb = sample();
        fb.sign(80087, &PrivateKeySigner::random()).unwrap();
        let v = serde_json::to_value(&fb).unwrap();
        assert_eq!(v["payload_id"], "0x0102030405060708");
        assert_eq!(v["index"], 0);
        assert_eq!(v["base"]["block_number"], "0x7");
        assert_eq!(v["base"]["gas_limit"], "0x1c9c380");
        assert_eq!(v["base"]["base_fee_per_gas"], "0x3b9aca00");
        assert_eq!(v["base"]["extra_data"], "0xbeef");
        assert!(v["base"]["prev_proposer_pubkey"].is_null());
        assert_eq!(v["diff"]["transactions"][0], "0x02f8");
        assert_eq!(v["diff"]["withdrawals"][0]["validatorIndex"], "0x2");
        assert_eq!(v["metadata"]["block_number"], 7);
        assert_eq!(v["signature"].as_str().unwrap().len(), 132);
        assert_eq!(v["is_last"], false);
        let back: Flashblock = serde_json::from_value(v).unwrap();
        assert_eq!(back, fb);
        let mut later = fb.clone();
        later.base = None;
        later.index = 1;
        assert!(serde_json::to_value(&later).unwrap()["base"].is_null());
    }
}
