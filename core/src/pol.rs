//! Berachain's Proof-of-Liquidity transaction (type `0x7E`, WIRE.md §5): from Prague1 every block
//! whose attributes name the previous proposer starts with one, a system call to the PoL
//! distributor's `distributeFor(bytes pubkey)`. This module is its encoding, hash and JSON; blocks
//! carry it as [`crate::primitives::BlockTransaction::Pol`], execution runs it
//! ([`crate::execution`]), and the pool refuses the type from users
//! ([`crate::txpool::decode_raw`]).

use alloy_primitives::{Address, B256, Bytes, keccak256};
use alloy_rlp::{Encodable, RlpDecodable, RlpEncodable};
use alloy_sol_types::{SolCall, sol};

/// The transaction type byte.
pub const POL_TX_TYPE: u8 = 0x7E;
/// The gas limit of every PoL transaction.
pub const POL_GAS_LIMIT: u64 = 30_000_000;

sol! {
    /// The PoL distributor's entry point.
    function distributeFor(bytes pubkey);
}

/// A PoL transaction: the RLP list `[chain_id, from, to, nonce, gas_limit, gas_price, input]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, RlpEncodable, RlpDecodable)]
pub struct PolTx {
    /// The chain id.
    pub chain_id: u64,
    /// Always the system address (`0xff…fe`).
    pub from: Address,
    /// The PoL distributor (`config.berachain.prague1.polDistributorAddress`).
    pub to: Address,
    /// The block number minus one.
    pub nonce: u64,
    /// Always [`POL_GAS_LIMIT`].
    pub gas_limit: u64,
    /// The block's base fee.
    pub gas_price: u128,
    /// `distributeFor(prev_proposer_pubkey)`, ABI-encoded (132 bytes for a 48-byte key).
    pub input: Bytes,
}

impl PolTx {
    /// The PoL transaction of block `number` with this base fee, for the previous proposer's
    /// public key.
    pub fn new(
        chain_id: u64,
        distributor: Address,
        number: u64,
        base_fee: u64,
        prev_proposer_pubkey: &[u8],
    ) -> Self {
        let input = distributeForCall {
            pubkey: Bytes::copy_from_slice(prev_proposer_pubkey),
        }
        .abi_encode();
        Self {
            chain_id,
            from: alloy_eips::eip4788::SYSTEM_ADDRESS,
            to: distributor,
            nonce: number.saturating_sub(1),
            gas_limit: POL_GAS_LIMIT,
            gas_price: base_fee.into(),
            input: input.into(),
        }
    }

    /// The EIP-2718 encoding: `0x7E ‖ rlp(fields)`.
    pub fn encoded_2718(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.length());
        out.push(POL_TX_TYPE);
        self.encode(&mut out);
        out
    }

    /// The transaction hash: keccak256 of the EIP-2718 encoding.
    pub fn hash(&self) -> B256 {
        keccak256(self.encoded_2718())
    }
}

/// The JSON-RPC shape of a PoL transaction (as bera-reth serializes it: `type` `0x7e`, `gas` for
/// the gas limit; the sender is added by the RPC layer as for any transaction), plus `value` and a
/// zero signature (`v`, `r`, `s` all `0x0`, as op-geth shows its unsigned `0x7e` deposit
/// transactions): ethers v6 cannot read a block whose transactions lack them.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PolJson {
    #[serde(rename = "type", with = "alloy_serde::quantity")]
    ty: u8,
    #[serde(with = "alloy_serde::quantity")]
    chain_id: u64,
    to: Address,
    #[serde(with = "alloy_serde::quantity")]
    nonce: u64,
    #[serde(with = "alloy_serde::quantity")]
    gas: u64,
    #[serde(with = "alloy_serde::quantity")]
    gas_price: u128,
    #[serde(default)]
    value: alloy_primitives::U256,
    input: Bytes,
    #[serde(default)]
    hash: B256,
    #[serde(default)]
    v: alloy_primitives::U256,
    #[serde(default)]
    r: alloy_primitives::U256,
    #[serde(default)]
    s: alloy_primitives::U256,
}

impl PolJson {
    pub(crate) fn new(tx: &PolTx, hash: B256) -> Self {
        Self {
            ty: POL_TX_TYPE,
            chain_id: tx.chain_id,
            to: tx.to,
            nonce: tx.nonce,
            gas: tx.gas_limit,
            gas_price: tx.gas_price,
            value: alloy_primitives::U256::ZERO,
            input: tx.input.clone(),
            hash,
            v: alloy_primitives::U256::ZERO,
            r: alloy_primitives::U256::ZERO,
            s: alloy_primitives::U256::ZERO,
        }
    }

    /// The transaction (its sender is always the system address), if the type is PoL's.
    pub(crate) fn into_tx(self) -> Option<PolTx> {
        (self.ty == POL_TX_TYPE).then(|| PolTx {
            chain_id: self.chain_id,
            from: alloy_eips::eip4788::SYSTEM_ADDRESS,
            to: self.to,
            nonce: self.nonce,
            gas_limit: self.gas,
            gas_price: self.gas_price,
            input: self.input,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256};

    /// bera-reth's PoL hash test, whose value comes from bera-geth (WIRE.md §5); the encoding
    /// was computed with pyrlp by `scripts/pol-vector.py`, independently of this code.
    #[test]
    fn the_hash_matches_bera_geths() {
        let mut pubkey = b"test_pubkey_for_consistent_hash_validation__".to_vec();
        pubkey.extend_from_slice(&[0; 4]);
        assert_eq!(pubkey.len(), 48);
        let tx = PolTx::new(
            80087,
            address!("4200000000000000000000000000000000000042"),
            10,
            1_000_000_000,
            &pubkey,
        );
        assert_eq!(tx.nonce, 9);
        assert_eq!(tx.input.len(), 132);
        assert_eq!(&tx.input[..4], &[0x60, 0x64, 0x4a, 0x6b]);
        assert_eq!(
            tx.hash(),
            b256!("b25ddbd12759e62bb51e3feb91afb88f3528578c72f469ca0793bfd4d4c1ff08")
        );
        assert_eq!(
            alloy_primitives::hex::encode(tx.encoded_2718()),
            concat!(
                "7ef8bf830138d794fffffffffffffffffffffffffffffffffffffffe944200000000000000000000",
                "000000000000000042098401c9c380843b9aca00b88460644a6b0000000000000000000000000000",
                "00000000000000000000000000000000002000000000000000000000000000000000000000000000",
                "00000000000000000030746573745f7075626b65795f666f725f636f6e73697374656e745f686173",
                "685f76616c69646174696f6e5f5f0000000000000000000000000000000000000000",
            )
        );
        // Blocks carry it: it decodes back, with the same hash.
        use alloy_eips::eip2718::{Decodable2718, Encodable2718};
        let in_block =
            crate::primitives::BlockTransaction::decode_2718(&mut tx.encoded_2718().as_slice())
                .unwrap();
        assert_eq!(in_block.as_pol(), Some(&tx));
        assert_eq!(*in_block.tx_hash(), tx.hash());
        assert_eq!(in_block.encoded_2718(), tx.encoded_2718());
        // Its JSON as bera-reth shows it.
        let json = serde_json::to_value(&in_block).unwrap();
        assert_eq!(json["type"], "0x7e");
        assert_eq!(json["gas"], "0x1c9c380");
        assert_eq!(json["nonce"], "0x9");
        assert_eq!(json["hash"], format!("{}", tx.hash()));
        let back: crate::primitives::BlockTransaction = serde_json::from_value(json).unwrap();
        assert_eq!(back, in_block);
        // Users cannot send one.
        let refused = crate::txpool::decode_raw(&tx.encoded_2718(), true).unwrap_err();
        assert!(
            refused.starts_with("transaction type not supported"),
            "{refused}"
        );
    }
}
