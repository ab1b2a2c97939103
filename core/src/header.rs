//! Berachain's block header (WIRE.md §5): Ethereum's header, plus from Prague1 the previous
//! proposer's 48-byte BLS public key appended to the RLP list after `requests_hash` (so it is
//! covered by the block hash). In JSON it is `parentProposerPubkey`, absent before Prague1.
//!
//! The Ethereum fields are reached through `Deref`, so `header.number` reads as before; the hash
//! is [`Header::hash_slow`], which covers the key.

use alloy_consensus::Header as EthHeader;
use alloy_primitives::{B256, FixedBytes, keccak256};
use alloy_rlp::{BufMut, Decodable, Encodable};
use serde::{Deserialize, Serialize};

/// A BLS12-381 public key (48 bytes, compressed).
pub type BlsPublicKey = FixedBytes<48>;

/// Fields of a Prague header (15 pre-London, then base fee, withdrawals root, blob gas used,
/// excess blob gas, parent beacon block root, requests hash): the key is field 22.
const PRAGUE_FIELDS: usize = 21;

/// A block header: Ethereum's, with Berachain's `prev_proposer_pubkey`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Header {
    /// The Ethereum header fields.
    #[serde(flatten)]
    pub inner: EthHeader,
    /// From Prague1: the BLS public key of the previous block's proposer.
    #[serde(
        rename = "parentProposerPubkey",
        alias = "prevProposerPubkey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub prev_proposer_pubkey: Option<BlsPublicKey>,
}

impl From<EthHeader> for Header {
    fn from(inner: EthHeader) -> Self {
        Self {
            inner,
            prev_proposer_pubkey: None,
        }
    }
}

impl std::ops::Deref for Header {
    type Target = EthHeader;
    fn deref(&self) -> &EthHeader {
        &self.inner
    }
}

impl std::ops::DerefMut for Header {
    fn deref_mut(&mut self) -> &mut EthHeader {
        &mut self.inner
    }
}

impl Header {
    /// This header naming the previous proposer (`None`: before Prague1).
    pub fn with_prev_proposer_pubkey(mut self, key: Option<BlsPublicKey>) -> Self {
        self.prev_proposer_pubkey = key;
        self
    }

    /// The block hash: keccak256 of the RLP header, the key included.
    pub fn hash_slow(&self) -> B256 {
        let mut out = Vec::with_capacity(self.length());
        self.encode(&mut out);
        keccak256(&out)
    }

    /// The Ethereum fields' RLP payload (without the list header).
    fn inner_payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.inner.length());
        self.inner.encode(&mut out);
        let mut rest = &out[..];
        let head = alloy_rlp::Header::decode(&mut rest).expect("alloy encodes a list header");
        let start = out.len() - head.payload_length;
        out.drain(..start);
        out
    }
}

impl Encodable for Header {
    fn encode(&self, out: &mut dyn BufMut) {
        let Some(key) = &self.prev_proposer_pubkey else {
            return self.inner.encode(out);
        };
        let payload = self.inner_payload();
        alloy_rlp::Header {
            list: true,
            payload_length: payload.len() + key.length(),
        }
        .encode(out);
        out.put_slice(&payload);
        key.encode(out);
    }

    fn length(&self) -> usize {
        let Some(key) = &self.prev_proposer_pubkey else {
            return self.inner.length();
        };
        let payload = inner_payload_length(self.inner.length()) + key.length();
        payload + alloy_rlp::length_of_length(payload)
    }
}

/// The payload length of an RLP list whose whole encoding is `total` bytes long (a list header
/// is 1 to 9 bytes).
fn inner_payload_length(total: usize) -> usize {
    (total.saturating_sub(9)..total)
        .find(|p| p + alloy_rlp::length_of_length(*p) == total)
        .unwrap_or(total)
}

impl Decodable for Header {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        let mut rest = *buf;
        let head = alloy_rlp::Header::decode(&mut rest)?;
        if !head.list {
            return Err(alloy_rlp::Error::UnexpectedString);
        }
        if rest.len() < head.payload_length {
            return Err(alloy_rlp::Error::InputTooShort);
        }
        let payload = &rest[..head.payload_length];
        // Find the 22nd item: a 48-byte string there is the proposer's key.
        let mut items = payload;
        let mut count = 0;
        let mut key_at = None;
        while !items.is_empty() {
            let start = payload.len() - items.len();
            let mut item = items;
            let item_head = alloy_rlp::Header::decode(&mut item)?;
            if item.len() < item_head.payload_length {
                return Err(alloy_rlp::Error::InputTooShort);
            }
            items = &item[item_head.payload_length..];
            count += 1;
            if count == PRAGUE_FIELDS + 1 && !item_head.list && item_head.payload_length == 48 {
                key_at = Some(start);
            }
        }
        let header = match key_at.filter(|_| count == PRAGUE_FIELDS + 1) {
            None => Self::from(EthHeader::decode(buf)?),
            Some(at) => {
                let mut inner = Vec::with_capacity(at + 9);
                alloy_rlp::Header {
                    list: true,
                    payload_length: at,
                }
                .encode(&mut inner);
                inner.extend_from_slice(&payload[..at]);
                let eth = EthHeader::decode(&mut &inner[..])?;
                let key = BlsPublicKey::decode(&mut &payload[at..])?;
                *buf = &rest[head.payload_length..];
                Self {
                    inner: eth,
                    prev_proposer_pubkey: Some(key),
                }
            }
        };
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Bytes, hex};

    fn prague() -> Header {
        Header::from(EthHeader {
            number: 7,
            gas_limit: 30_000_000,
            timestamp: 1_700_000_000,
            extra_data: Bytes::from_static(b"preconf"),
            base_fee_per_gas: Some(1_000_000_000),
            withdrawals_root: Some(B256::repeat_byte(1)),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(B256::repeat_byte(2)),
            requests_hash: Some(B256::repeat_byte(3)),
            ..Default::default()
        })
    }

    #[test]
    fn without_a_key_the_header_is_ethereums() {
        let h = prague();
        assert_eq!(alloy_rlp::encode(&h), alloy_rlp::encode(&h.inner));
        assert_eq!(h.hash_slow(), h.inner.hash_slow());
        assert_eq!(Header::decode(&mut &alloy_rlp::encode(&h)[..]).unwrap(), h);
    }

    #[test]
    fn the_key_is_appended_after_requests_hash_and_changes_the_hash() {
        let mut h = prague();
        h.prev_proposer_pubkey = Some(BlsPublicKey::repeat_byte(0xab));
        let rlp = alloy_rlp::encode(&h);
        assert_eq!(rlp.len(), h.length());
        // The list ends with the requests hash, then the key as a 48-byte string.
        let tail = [&[0xa0][..], &[3; 32], &[0xb0], &[0xab; 48]].concat();
        assert!(rlp.ends_with(&tail), "{}", hex::encode(&rlp));
        assert_ne!(h.hash_slow(), h.inner.hash_slow());
        assert_eq!(h.hash_slow(), keccak256(&rlp));
        let mut slice = &rlp[..];
        assert_eq!(Header::decode(&mut slice).unwrap(), h);
        assert!(slice.is_empty());
        // A 32-byte item in that place is an Ethereum field, read as alloy reads it.
        let mut later = prague();
        later.inner.block_access_list_hash = Some(B256::ZERO);
        assert_eq!(
            Header::decode(&mut &alloy_rlp::encode(&later)[..]).unwrap(),
            later
        );
    }

    #[test]
    fn json_names_the_key_parent_proposer_pubkey() {
        let mut h = prague();
        let plain = serde_json::to_value(&h).unwrap();
        assert!(plain.get("parentProposerPubkey").is_none());
        h.prev_proposer_pubkey = Some(BlsPublicKey::repeat_byte(1));
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(
            json["parentProposerPubkey"],
            format!("0x{}", "01".repeat(48))
        );
        assert_eq!(json["number"], "0x7");
        assert_eq!(serde_json::from_value::<Header>(json).unwrap(), h);
    }
}
