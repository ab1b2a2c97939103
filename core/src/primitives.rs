//! The chain's block, transaction and receipt types, named once so the rest of the code does not
//! depend on which concrete types they are.
//!
//! They are Ethereum's with Berachain's additions (WIRE.md §5): a block's body may start with the
//! `0x7E` PoL system transaction ([`BlockTransaction::Pol`]), whose receipt is
//! [`Receipt::Pol`], and the header carries `prev_proposer_pubkey` ([`Header`]). Users only ever
//! send Ethereum transactions ([`Transaction`]): the pool, flashblocks and the journal carry those.

use crate::pol::{POL_TX_TYPE, PolTx};
use alloy_consensus::crypto::RecoveryError;
use alloy_consensus::{
    BlockBody, Eip658Value, ReceiptEnvelope, ReceiptWithBloom, Sealed, TxEnvelope, TxReceipt,
    Typed2718,
};
use alloy_eips::{
    eip2718::{Decodable2718, Eip2718Error, Eip2718Result, Encodable2718},
    eip2930::AccessList,
    eip7702::SignedAuthorization,
};
use alloy_primitives::{Address, B256, Bloom, Bytes, ChainId, Log, TxKind, U256, keccak256};
use alloy_rlp::{BufMut, Decodable, Encodable};
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

/// A signed transaction as users send it.
pub type Transaction = TxEnvelope;
pub use crate::header::{BlsPublicKey, Header};
/// A block body: transactions, ommers (always empty post-merge) and withdrawals.
pub type Body = BlockBody<BlockTransaction, Header>;
/// A full block.
pub type Block = alloy_consensus::Block<BlockTransaction, Header>;

/// A transaction as it appears in a block: a user's signed transaction, or the PoL system
/// transaction at index 0 of a Prague1 block.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every transaction is an Ethereum one: boxing it would allocate per transaction"
)]
pub enum BlockTransaction {
    /// A signed Ethereum transaction.
    Ethereum(Transaction),
    /// The PoL system transaction, with its hash.
    Pol(Sealed<PolTx>),
}

impl From<Transaction> for BlockTransaction {
    fn from(tx: Transaction) -> Self {
        Self::Ethereum(tx)
    }
}

impl From<PolTx> for BlockTransaction {
    fn from(tx: PolTx) -> Self {
        let hash = tx.hash();
        Self::Pol(Sealed::new_unchecked(tx, hash))
    }
}

impl BlockTransaction {
    /// The transaction hash.
    pub fn tx_hash(&self) -> &B256 {
        match self {
            Self::Ethereum(tx) => tx.tx_hash(),
            Self::Pol(tx) => tx.hash_ref(),
        }
    }

    /// The user transaction, unless this is the PoL transaction.
    pub fn as_ethereum(&self) -> Option<&Transaction> {
        match self {
            Self::Ethereum(tx) => Some(tx),
            Self::Pol(_) => None,
        }
    }

    /// The PoL transaction, if this is it.
    pub fn as_pol(&self) -> Option<&PolTx> {
        match self {
            Self::Pol(tx) => Some(tx.inner()),
            Self::Ethereum(_) => None,
        }
    }

    /// The sender: recovered from the signature, or the system address for the PoL transaction.
    pub fn sender_with(
        &self,
        recover: impl Fn(&Transaction) -> Result<Address, RecoveryError>,
    ) -> Result<Address, RecoveryError> {
        match self {
            Self::Ethereum(tx) => recover(tx),
            Self::Pol(tx) => Ok(tx.from),
        }
    }
}

impl Typed2718 for BlockTransaction {
    fn ty(&self) -> u8 {
        match self {
            Self::Ethereum(tx) => tx.ty(),
            Self::Pol(_) => POL_TX_TYPE,
        }
    }
}

impl Encodable2718 for BlockTransaction {
    fn encode_2718_len(&self) -> usize {
        match self {
            Self::Ethereum(tx) => tx.encode_2718_len(),
            Self::Pol(tx) => 1 + tx.length(),
        }
    }

    fn encode_2718(&self, out: &mut dyn BufMut) {
        match self {
            Self::Ethereum(tx) => tx.encode_2718(out),
            Self::Pol(tx) => {
                out.put_u8(POL_TX_TYPE);
                tx.inner().encode(out);
            }
        }
    }
}

impl Decodable2718 for BlockTransaction {
    fn typed_decode(ty: u8, buf: &mut &[u8]) -> Eip2718Result<Self> {
        if ty != POL_TX_TYPE {
            return TxEnvelope::typed_decode(ty, buf).map(Self::Ethereum);
        }
        let start = *buf;
        let tx = PolTx::decode(buf)?;
        let rlp = &start[..start.len() - buf.len()];
        let hash = keccak256([&[POL_TX_TYPE][..], rlp].concat());
        Ok(Self::Pol(Sealed::new_unchecked(tx, hash)))
    }

    fn fallback_decode(buf: &mut &[u8]) -> Eip2718Result<Self> {
        TxEnvelope::fallback_decode(buf).map(Self::Ethereum)
    }
}

impl Encodable for BlockTransaction {
    fn encode(&self, out: &mut dyn BufMut) {
        self.network_encode(out)
    }

    fn length(&self) -> usize {
        self.network_len()
    }
}

impl Decodable for BlockTransaction {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        Self::network_decode(buf).map_err(|e| match e {
            Eip2718Error::RlpError(e) => e,
            _ => alloy_rlp::Error::Custom("unknown transaction type"),
        })
    }
}

/// Calls `$f` on the Ethereum transaction, or evaluates `$pol` for the PoL transaction.
macro_rules! delegate {
    ($self:ident, $tx:ident => $eth:expr, $pol:ident => $p:expr) => {
        match $self {
            BlockTransaction::Ethereum($tx) => $eth,
            BlockTransaction::Pol($pol) => $p,
        }
    };
}

impl alloy_consensus::Transaction for BlockTransaction {
    fn chain_id(&self) -> Option<ChainId> {
        delegate!(self, t => t.chain_id(), p => Some(p.chain_id))
    }
    fn nonce(&self) -> u64 {
        delegate!(self, t => t.nonce(), p => p.nonce)
    }
    fn gas_limit(&self) -> u64 {
        delegate!(self, t => t.gas_limit(), p => p.gas_limit)
    }
    fn gas_price(&self) -> Option<u128> {
        delegate!(self, t => t.gas_price(), p => Some(p.gas_price))
    }
    fn max_fee_per_gas(&self) -> u128 {
        delegate!(self, t => t.max_fee_per_gas(), p => p.gas_price)
    }
    fn max_priority_fee_per_gas(&self) -> Option<u128> {
        delegate!(self, t => t.max_priority_fee_per_gas(), _p => None)
    }
    fn max_fee_per_blob_gas(&self) -> Option<u128> {
        delegate!(self, t => t.max_fee_per_blob_gas(), _p => None)
    }
    fn priority_fee_or_price(&self) -> u128 {
        delegate!(self, t => t.priority_fee_or_price(), p => p.gas_price)
    }
    fn effective_gas_price(&self, base_fee: Option<u64>) -> u128 {
        delegate!(self, t => t.effective_gas_price(base_fee), p => p.gas_price)
    }
    fn is_dynamic_fee(&self) -> bool {
        delegate!(self, t => t.is_dynamic_fee(), _p => false)
    }
    fn kind(&self) -> TxKind {
        delegate!(self, t => t.kind(), p => TxKind::Call(p.to))
    }
    fn is_create(&self) -> bool {
        delegate!(self, t => t.is_create(), _p => false)
    }
    fn value(&self) -> U256 {
        delegate!(self, t => t.value(), _p => U256::ZERO)
    }
    fn input(&self) -> &Bytes {
        delegate!(self, t => t.input(), p => &p.input)
    }
    fn access_list(&self) -> Option<&AccessList> {
        delegate!(self, t => t.access_list(), _p => None)
    }
    fn blob_versioned_hashes(&self) -> Option<&[B256]> {
        delegate!(self, t => t.blob_versioned_hashes(), _p => None)
    }
    fn authorization_list(&self) -> Option<&[SignedAuthorization]> {
        delegate!(self, t => t.authorization_list(), _p => None)
    }
}

impl serde::Serialize for BlockTransaction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Ethereum(tx) => tx.serialize(s),
            Self::Pol(tx) => crate::pol::PolJson::new(tx.inner(), *tx.hash_ref()).serialize(s),
        }
    }
}

impl<'de> serde::Deserialize<'de> for BlockTransaction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        #[allow(clippy::large_enum_variant, reason = "short-lived, on the stack")]
        enum Either {
            Ethereum(Transaction),
            Pol(crate::pol::PolJson),
        }
        match Either::deserialize(d)? {
            Either::Ethereum(tx) => Ok(Self::Ethereum(tx)),
            Either::Pol(json) => json
                .into_tx()
                .map(Self::from)
                .ok_or_else(|| serde::de::Error::custom("unknown transaction type")),
        }
    }
}

/// A transaction receipt: Ethereum's, or the PoL transaction's (type `0x7E`, same fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// The receipt of a user transaction.
    Ethereum(ReceiptEnvelope),
    /// The receipt of the PoL transaction (its cumulative gas is the gas used before it: 0).
    Pol(ReceiptWithBloom<alloy_consensus::Receipt>),
}

impl From<ReceiptEnvelope> for Receipt {
    fn from(r: ReceiptEnvelope) -> Self {
        Self::Ethereum(r)
    }
}

impl TxReceipt for Receipt {
    type Log = Log;

    fn status_or_post_state(&self) -> Eip658Value {
        match self {
            Self::Ethereum(r) => r.status_or_post_state(),
            Self::Pol(r) => r.receipt.status,
        }
    }
    fn status(&self) -> bool {
        match self {
            Self::Ethereum(r) => r.status(),
            Self::Pol(r) => r.receipt.status.coerce_status(),
        }
    }
    fn bloom(&self) -> Bloom {
        match self {
            Self::Ethereum(r) => r.bloom(),
            Self::Pol(r) => r.logs_bloom,
        }
    }
    fn cumulative_gas_used(&self) -> u64 {
        match self {
            Self::Ethereum(r) => r.cumulative_gas_used(),
            Self::Pol(r) => r.receipt.cumulative_gas_used,
        }
    }
    fn logs(&self) -> &[Log] {
        match self {
            Self::Ethereum(r) => r.logs(),
            Self::Pol(r) => &r.receipt.logs,
        }
    }
    fn into_logs(self) -> Vec<Log> {
        match self {
            Self::Ethereum(r) => r.into_logs(),
            Self::Pol(r) => r.receipt.logs,
        }
    }
}

impl Typed2718 for Receipt {
    fn ty(&self) -> u8 {
        match self {
            Self::Ethereum(r) => r.ty(),
            Self::Pol(_) => POL_TX_TYPE,
        }
    }
}

impl Encodable2718 for Receipt {
    fn encode_2718_len(&self) -> usize {
        match self {
            Self::Ethereum(r) => r.encode_2718_len(),
            Self::Pol(r) => 1 + r.length(),
        }
    }

    fn encode_2718(&self, out: &mut dyn BufMut) {
        match self {
            Self::Ethereum(r) => r.encode_2718(out),
            Self::Pol(r) => {
                out.put_u8(POL_TX_TYPE);
                r.encode(out);
            }
        }
    }
}

impl Decodable2718 for Receipt {
    fn typed_decode(ty: u8, buf: &mut &[u8]) -> Eip2718Result<Self> {
        if ty == POL_TX_TYPE {
            return Ok(Self::Pol(Decodable::decode(buf)?));
        }
        ReceiptEnvelope::typed_decode(ty, buf).map(Self::Ethereum)
    }

    fn fallback_decode(buf: &mut &[u8]) -> Eip2718Result<Self> {
        ReceiptEnvelope::fallback_decode(buf).map(Self::Ethereum)
    }
}

impl Encodable for Receipt {
    fn encode(&self, out: &mut dyn BufMut) {
        self.network_encode(out)
    }

    fn length(&self) -> usize {
        self.network_len()
    }
}

impl Decodable for Receipt {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        Self::network_decode(buf).map_err(|e| match e {
            Eip2718Error::RlpError(e) => e,
            _ => alloy_rlp::Error::Custom("unknown receipt type"),
        })
    }
}

/// A block with its hash and the recovered sender of every transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBlock {
    /// Block hash (keccak of the RLP header).
    pub hash: B256,
    /// The header.
    pub header: Header,
    /// The body.
    pub body: Body,
    /// Sender of each transaction, in order.
    pub senders: Vec<Address>,
}

impl SealedBlock {
    /// Seals a block whose senders are already known.
    pub fn new(header: Header, body: Body, senders: Vec<Address>) -> Self {
        Self {
            hash: header.hash_slow(),
            header,
            body,
            senders,
        }
    }

    /// Recovers every sender and seals; fails on an invalid signature.
    pub fn recover(block: Block) -> Result<Self, RecoveryError> {
        Self::recover_with(block, recover_sender)
    }

    /// Seals with each sender from `sender` (for example [`SenderCache::recover`]).
    pub fn recover_with(
        block: Block,
        sender: impl Fn(&Transaction) -> Result<Address, RecoveryError>,
    ) -> Result<Self, RecoveryError> {
        let senders = block
            .body
            .transactions
            .iter()
            .map(|tx| tx.sender_with(&sender))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(block.header, block.body, senders))
    }

    /// The block number.
    pub fn number(&self) -> u64 {
        self.header.number
    }

    /// A block whose header came without the proposer's key (an Engine API payload), with the key
    /// the consensus client gave alongside (`None` before Prague1).
    pub fn block_from_payload(
        block: alloy_consensus::Block<BlockTransaction>,
        prev_proposer_pubkey: Option<BlsPublicKey>,
    ) -> Block {
        Block {
            header: Header::from(block.header).with_prev_proposer_pubkey(prev_proposer_pubkey),
            body: Body {
                transactions: block.body.transactions,
                ommers: block.body.ommers.into_iter().map(Header::from).collect(),
                withdrawals: block.body.withdrawals,
            },
        }
    }

    /// The block as an Engine API payload carries it: the header without the proposer's key
    /// (which travels beside the payload).
    pub fn to_payload_block(&self) -> alloy_consensus::Block<BlockTransaction> {
        alloy_consensus::Block {
            header: self.header.inner.clone(),
            body: BlockBody {
                transactions: self.body.transactions.clone(),
                ommers: Vec::new(),
                withdrawals: self.body.withdrawals.clone(),
            },
        }
    }

    /// The unsealed block.
    pub fn to_block(&self) -> Block {
        Block {
            header: self.header.clone(),
            body: self.body.clone(),
        }
    }
}

/// The sender of a signed transaction, with the EIP-2 low-`s` rule. Uses libsecp256k1 (several
/// times faster than the pure-Rust backend alloy's `recover_signer` picks), which matters when
/// an rpc node re-verifies every preconfirmed transaction.
pub fn recover_sender(tx: &Transaction) -> Result<Address, RecoveryError> {
    use alloy_consensus::transaction::SignableTransaction;
    let sig = tx.signature();
    if sig.s() > alloy_consensus::crypto::SECP256K1N_HALF {
        return Err(RecoveryError::new());
    }
    let hash = match tx {
        Transaction::Legacy(t) => t.tx().signature_hash(),
        Transaction::Eip2930(t) => t.tx().signature_hash(),
        Transaction::Eip1559(t) => t.tx().signature_hash(),
        Transaction::Eip4844(t) => t.tx().signature_hash(),
        Transaction::Eip7702(t) => t.tx().signature_hash(),
    };
    sig.recover_address_from_prehash(&hash)
        .map_err(|_| RecoveryError::new())
}

/// Senders already recovered, by transaction hash, so a transaction met again (a raw transaction
/// received over RPC, then in a flashblock, then in a block) has its signature recovered once.
/// Sound because the hash is the keccak of the whole signed encoding: the same hash means the same
/// signature over the same payload. Bounded; the oldest entries go first. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct SenderCache {
    inner: Arc<Mutex<CacheInner>>,
}

#[derive(Debug)]
struct CacheInner {
    capacity: usize,
    senders: HashMap<B256, Address>,
    order: VecDeque<B256>,
}

impl SenderCache {
    /// A cache of at most `capacity` senders.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(CacheInner {
                capacity,
                senders: HashMap::with_capacity(capacity.min(1 << 16)),
                order: VecDeque::with_capacity(capacity.min(1 << 16)),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sender of the transaction with this hash, if recovered before.
    pub fn get(&self, hash: &B256) -> Option<Address> {
        self.lock().senders.get(hash).copied()
    }

    /// Remembers a transaction's sender.
    pub fn insert(&self, hash: B256, sender: Address) {
        let mut c = self.lock();
        if c.capacity == 0 || c.senders.insert(hash, sender).is_some() {
            return;
        }
        c.order.push_back(hash);
        while c.order.len() > c.capacity {
            if let Some(old) = c.order.pop_front() {
                c.senders.remove(&old);
            }
        }
    }

    /// The sender of `tx`: from the cache, or recovered (and then remembered).
    pub fn recover(&self, tx: &Transaction) -> Result<Address, RecoveryError> {
        let hash = *tx.tx_hash();
        if let Some(sender) = self.get(&hash) {
            return Ok(sender);
        }
        let sender = recover_sender(tx)?;
        self.insert(hash, sender);
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devnet::dev_signer;
    use alloy_consensus::{SignableTransaction, TxEip1559};
    use alloy_primitives::TxKind;
    use alloy_signer::SignerSync;

    fn signed(nonce: u64) -> Transaction {
        let t = TxEip1559 {
            chain_id: 1,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 100,
            to: TxKind::Call(Address::ZERO),
            ..Default::default()
        };
        let sig = dev_signer(3).sign_hash_sync(&t.signature_hash()).unwrap();
        t.into_signed(sig).into()
    }

    #[test]
    fn sender_cache_recovers_once_and_stays_bounded() {
        let cache = SenderCache::new(2);
        let txs: Vec<_> = (0..3).map(signed).collect();
        let sender = dev_signer(3).address();
        assert_eq!(cache.get(txs[0].tx_hash()), None);
        assert_eq!(cache.recover(&txs[0]).unwrap(), sender);
        assert_eq!(cache.get(txs[0].tx_hash()), Some(sender));
        cache.recover(&txs[1]).unwrap();
        cache.recover(&txs[2]).unwrap();
        // The oldest entry made room for the newest.
        assert_eq!(cache.get(txs[0].tx_hash()), None);
        assert_eq!(cache.get(txs[2].tx_hash()), Some(sender));
        let block = Block {
            header: Header::default(),
            body: Body {
                transactions: txs.into_iter().map(Into::into).collect(),
                ..Default::default()
            },
        };
        let sealed = SealedBlock::recover_with(block, |tx| cache.recover(tx)).unwrap();
        assert_eq!(sealed.senders, vec![sender; 3]);
    }
}
