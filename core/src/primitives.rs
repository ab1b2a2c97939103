//! The chain's block, transaction and receipt types, named once so the rest of the code does not
//! depend on which concrete types they are.
//!
//! Today they are Ethereum's. Berachain's additions (WIRE.md §5: the `0x7E` PoL system
//! transaction and its receipt, and `prev_proposer_pubkey` appended to the header after
//! `requests_hash`) slot in by changing these definitions to enums/structs that wrap the Ethereum
//! ones; callers go through these names and the traits alloy defines on them.

use alloy_consensus::crypto::RecoveryError;
use alloy_consensus::{BlockBody, Header as EthHeader, ReceiptEnvelope, TxEnvelope};
use alloy_primitives::{Address, B256};
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

/// A signed transaction as it appears in a block.
pub type Transaction = TxEnvelope;
/// A transaction receipt.
pub type Receipt = ReceiptEnvelope;
/// A block header.
pub type Header = EthHeader;
/// A block body: transactions, ommers (always empty post-merge) and withdrawals.
pub type Body = BlockBody<Transaction, Header>;
/// A full block.
pub type Block = alloy_consensus::Block<Transaction, Header>;

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
            .map(sender)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(block.header, block.body, senders))
    }

    /// The block number.
    pub fn number(&self) -> u64 {
        self.header.number
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
                transactions: txs,
                ..Default::default()
            },
        };
        let sealed = SealedBlock::recover_with(block, |tx| cache.recover(tx)).unwrap();
        assert_eq!(sealed.senders, vec![sender; 3]);
    }
}
