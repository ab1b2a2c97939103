//! The transaction pool's data structure (the mempool actor owns one).
//!
//! Per sender, transactions are kept by nonce. Those whose nonces run contiguously from the
//! sender's state nonce are *pending* (executable now); the rest are *queued*. Block building takes
//! [`TxPool::best`]: pending transactions ordered by effective tip, each sender's in nonce order.
//! A transaction with the same sender and nonce replaces the old one only with a price bump.
//! Caps per sender and overall evict the lowest-paying queued, then pending, transactions.

use crate::primitives::Transaction;
use alloy_consensus::{Transaction as _, Typed2718, transaction::Recovered};
use alloy_eips::{eip2718::Encodable2718, eip7594::BlobTransactionSidecarVariant};
use alloy_primitives::{Address, B256, U256};
use std::{
    collections::{BTreeMap, BinaryHeap, HashMap},
    sync::Arc,
};

/// Pool limits and policy.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Transactions per sender (pending + queued; preconfirmed ones not counted).
    pub max_per_sender: usize,
    /// Transactions in the pool overall.
    pub max_total: usize,
    /// Minimum price bump for a replacement, in percent.
    pub price_bump_percent: u128,
    /// Largest accepted encoded transaction, in bytes.
    pub max_tx_bytes: usize,
    /// Queued transactions may run at most this far ahead of the state nonce.
    pub max_nonce_gap: u64,
    /// Least effective tip (wei per gas, at the next block's base fee) a transaction must pay,
    /// whatever its type; one that cannot cover the base fee counts as paying none. 0: off.
    pub minimum_priority_fee: u128,
    /// Senders exempt from `minimum_priority_fee` (the node's own, `--txpool.locals`).
    pub locals: Vec<Address>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_per_sender: 64,
            max_total: 20_000,
            price_bump_percent: 10,
            max_tx_bytes: 128 * 1024,
            max_nonce_gap: 64,
            minimum_priority_fee: 0,
            locals: Vec::new(),
        }
    }
}

/// Why the pool refused a transaction. The messages are the ones geth and reth use, which tools
/// match on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Nonce below the sender's state nonce.
    #[error("nonce too low: next nonce {expected}, tx nonce {got}")]
    NonceTooLow {
        /// State nonce.
        expected: u64,
        /// Transaction nonce.
        got: u64,
    },
    /// Nonce too far ahead.
    #[error("nonce too high: next nonce {expected}, tx nonce {got}")]
    NonceTooHigh {
        /// State nonce.
        expected: u64,
        /// Transaction nonce.
        got: u64,
    },
    /// Balance below gas * price + value.
    #[error("insufficient funds for gas * price + value: balance {balance}, tx cost {cost}")]
    InsufficientFunds {
        /// Sender balance.
        balance: U256,
        /// Maximum cost of the transaction.
        cost: U256,
    },
    /// Gas limit below the intrinsic gas.
    #[error("intrinsic gas too low: have {have}, want {want}")]
    IntrinsicGas {
        /// Gas limit.
        have: u64,
        /// Intrinsic gas.
        want: u64,
    },
    /// Gas limit above the block gas limit.
    #[error("exceeds block gas limit")]
    GasLimit,
    /// Above the per-transaction gas cap (EIP-7825, from Osaka).
    #[error("transaction gas limit too high (cap: {cap}, tx: {got})")]
    TxGasCap {
        /// The cap.
        cap: u64,
        /// The transaction's gas limit.
        got: u64,
    },
    /// Fee cap below the base fee of the next block.
    #[error(
        "max fee per gas less than block base fee: maxFeePerGas: {max_fee}, baseFee: {base_fee}"
    )]
    FeeCapTooLow {
        /// The transaction's fee cap.
        max_fee: u128,
        /// Next block's base fee.
        base_fee: u64,
    },
    /// Tip above fee cap.
    #[error("max priority fee per gas higher than max fee per gas")]
    TipAboveFeeCap,
    /// Wrong chain id.
    #[error("invalid chain id: have {have}, want {want}")]
    ChainId {
        /// The transaction's chain id.
        have: u64,
        /// This chain's id.
        want: u64,
    },
    /// Encoded size above the limit.
    #[error("oversized data: transaction size {size}, limit {limit}")]
    Oversized {
        /// Size in bytes.
        size: usize,
        /// Limit in bytes.
        limit: usize,
    },
    /// Already in the pool.
    #[error("already known")]
    AlreadyKnown,
    /// The effective tip is below `--txpool.minimum-priority-fee` (reth's message).
    #[error("transaction priority fee below minimum required priority fee {minimum}")]
    TipBelowMinimum {
        /// The floor, in wei per gas.
        minimum: u128,
    },
    /// Replacement without enough of a price bump.
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced,
    /// Pool limit reached and the transaction pays too little to evict another.
    #[error("txpool is full")]
    PoolFull,
    /// The sender already has the most transactions the pool keeps for one account (geth's
    /// message).
    #[error("account limit exceeded: at most {limit} transactions per sender wait in the pool")]
    AccountLimit {
        /// The per-sender limit (`--txpool.max-per-sender`).
        limit: usize,
    },
    /// The node's disk is nearly full: it keeps the space for committing what it accepted.
    #[error(
        "insufficient disk space: {free_mib} MiB free, {need_mib} MiB required; new transactions are refused until space is freed"
    )]
    DiskLow {
        /// Free MiB on the datadir's file system.
        free_mib: u64,
        /// The configured minimum (`--datadir.min-free-mb`).
        need_mib: u64,
    },
    /// The transaction type is not accepted (for example a blob transaction without blobs).
    #[error("{0}")]
    Unsupported(String),
}

impl PoolError {
    /// Every value [`Self::label`] returns.
    pub const LABELS: &[&str] = &[
        "nonce_too_low",
        "nonce_too_high",
        "insufficient_funds",
        "intrinsic_gas",
        "gas_limit",
        "fee_cap_too_low",
        "tip_above_fee_cap",
        "tip_below_minimum",
        "chain_id",
        "oversized",
        "already_known",
        "replacement_underpriced",
        "pool_full",
        "account_limit",
        "disk_low",
        "unsupported",
    ];

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::NonceTooLow { .. } => "nonce_too_low",
            Self::NonceTooHigh { .. } => "nonce_too_high",
            Self::InsufficientFunds { .. } => "insufficient_funds",
            Self::IntrinsicGas { .. } => "intrinsic_gas",
            Self::GasLimit | Self::TxGasCap { .. } => "gas_limit",
            Self::FeeCapTooLow { .. } => "fee_cap_too_low",
            Self::TipAboveFeeCap => "tip_above_fee_cap",
            Self::TipBelowMinimum { .. } => "tip_below_minimum",
            Self::ChainId { .. } => "chain_id",
            Self::Oversized { .. } => "oversized",
            Self::AlreadyKnown => "already_known",
            Self::ReplacementUnderpriced => "replacement_underpriced",
            Self::PoolFull => "pool_full",
            Self::AccountLimit { .. } => "account_limit",
            Self::DiskLow { .. } => "disk_low",
            Self::Unsupported(_) => "unsupported",
        }
    }
}

/// A transaction in the pool.
#[derive(Debug, Clone)]
pub struct PooledTx {
    /// The transaction with its sender.
    pub tx: Recovered<Transaction>,
    /// Transaction hash.
    pub hash: B256,
    /// Blobs, proofs and commitments of a blob transaction.
    pub sidecar: Option<Arc<BlobTransactionSidecarVariant>>,
    /// Encoded size.
    pub size: usize,
    /// Arrival order, to break ties.
    pub seq: u64,
}

impl PooledTx {
    /// The sender.
    pub fn sender(&self) -> Address {
        self.tx.signer()
    }
    /// The nonce.
    pub fn nonce(&self) -> u64 {
        self.tx.nonce()
    }
    fn tip(&self, base_fee: u64) -> u128 {
        self.tx.effective_tip_per_gas(base_fee).unwrap_or(0)
    }
}

/// The sender's account as the pool sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderState {
    /// State nonce at the head.
    pub nonce: u64,
    /// Balance at the head.
    pub balance: U256,
}

#[derive(Debug, Default)]
struct Sender {
    /// The account at the canonical head: where every block is built from.
    state: SenderState,
    /// The account's nonce in the preconfirmed state its last transaction was admitted on (at
    /// least the head's): nonces below it are used, whether their transactions are in this pool
    /// or not (an rpc node's pool holds only what was sent to it).
    preconfirmed_nonce: u64,
    txs: BTreeMap<u64, Arc<PooledTx>>,
}

impl Sender {
    /// The first nonce from `from` that no pooled transaction holds (contiguously).
    fn contiguous_from(&self, from: u64) -> u64 {
        let mut n = from;
        for &k in self.txs.range(from..).map(|(k, _)| k) {
            if k != n {
                break;
            }
            n += 1;
        }
        n
    }

    /// The sender's next nonce: past its pooled transactions executable from the head, or from
    /// its preconfirmed state.
    fn next_nonce(&self) -> u64 {
        self.contiguous_from(self.state.nonce)
            .max(self.contiguous_from(self.preconfirmed_nonce.max(self.state.nonce)))
    }
}

/// The pool.
#[derive(Debug)]
pub struct TxPool {
    config: PoolConfig,
    chain_id: u64,
    base_fee: u64,
    block_gas_limit: u64,
    /// EIP-7825's per-transaction gas cap for the next block (from Osaka).
    tx_gas_cap: Option<u64>,
    by_hash: HashMap<B256, Arc<PooledTx>>,
    senders: HashMap<Address, Sender>,
    seq: u64,
}

/// What [`TxPool::add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The new transaction's hash.
    pub hash: B256,
    /// A transaction it replaced.
    pub replaced: Option<B256>,
    /// Transactions evicted to make room.
    pub evicted: Vec<B256>,
    /// True when executable now (pending), false when queued behind a nonce gap.
    pub pending: bool,
}

impl TxPool {
    /// An empty pool for a chain.
    pub fn new(config: PoolConfig, chain_id: u64, base_fee: u64, block_gas_limit: u64) -> Self {
        Self {
            config,
            chain_id,
            base_fee,
            block_gas_limit,
            tx_gas_cap: None,
            by_hash: HashMap::new(),
            senders: HashMap::new(),
            seq: 0,
        }
    }

    /// Sets the per-transaction gas cap of the next block (EIP-7825 from Osaka; `None` before).
    pub fn set_tx_gas_cap(&mut self, cap: Option<u64>) {
        self.tx_gas_cap = cap;
    }

    /// The base fee of the next block, as the pool assumes it.
    pub fn base_fee(&self) -> u64 {
        self.base_fee
    }

    /// Number of (pending, queued) transactions, split as [`content`](Self::content) splits them:
    /// queued are those behind a nonce gap, pending the rest (preconfirmed ones included).
    pub fn counts(&self) -> (usize, usize) {
        let queued: usize = self
            .senders
            .values()
            .map(|s| s.txs.range(s.next_nonce()..).count())
            .sum();
        (self.by_hash.len() - queued, queued)
    }

    /// A transaction by hash.
    pub fn get(&self, hash: &B256) -> Option<Arc<PooledTx>> {
        self.by_hash.get(hash).cloned()
    }

    /// `engine_getBlobsV2`: each versioned hash's blob with its cell proofs, from the pooled
    /// transactions' EIP-7594 sidecars — all of them, or `None` when any one is missing.
    pub fn blobs_v2(&self, versioned: &[B256]) -> Option<Vec<alloy_eips::eip4844::BlobAndProofV2>> {
        use alloy_eips::{eip4844::kzg_to_versioned_hash, eip7594::CELLS_PER_EXT_BLOB};
        let mut found: HashMap<B256, alloy_eips::eip4844::BlobAndProofV2> = HashMap::new();
        for s in self
            .by_hash
            .values()
            .filter_map(|t| t.sidecar.as_ref()?.as_eip7594())
        {
            for (i, (blob, commitment)) in s.blobs.iter().zip(&s.commitments).enumerate() {
                let hash = kzg_to_versioned_hash(commitment.as_slice());
                if !versioned.contains(&hash) {
                    continue;
                }
                let proofs = s
                    .cell_proofs
                    .get(i * CELLS_PER_EXT_BLOB..(i + 1) * CELLS_PER_EXT_BLOB)?
                    .to_vec();
                found.insert(
                    hash,
                    alloy_eips::eip4844::BlobAndProofV2 {
                        blob: Box::new(*blob),
                        proofs,
                    },
                );
            }
        }
        versioned.iter().map(|h| found.get(h).cloned()).collect()
    }

    /// The next nonce for a sender counting its pending transactions.
    pub fn next_nonce(&self, sender: &Address) -> Option<u64> {
        let s = self.senders.get(sender)?;
        Some(s.next_nonce())
    }

    /// Checks a transaction and adds it. `state` is the sender's account at the head, or in the
    /// preconfirmed state on top of it.
    pub fn add(&mut self, tx: PooledTx, state: SenderState) -> Result<Added, PoolError> {
        self.insert(tx, state, state, true)
    }

    /// [`Self::add`] for a node that holds preconfirmed state: the transaction is checked
    /// against the sender's account there (`preconfirmed`: a balance received in a
    /// preconfirmation is spendable, a nonce preconfirmed is used), while the pool keeps
    /// measuring the sender from its account at the canonical head (`head`), where every block
    /// is built from: a local build (a proposer's fallback) then starts at the head's nonce and
    /// takes the preconfirmed transactions first, instead of finding every later one "nonce
    /// too high".
    pub fn add_preconfirmed(
        &mut self,
        tx: PooledTx,
        head: SenderState,
        preconfirmed: SenderState,
    ) -> Result<Added, PoolError> {
        self.insert(tx, preconfirmed, head, true)
    }

    /// [`Self::add`] for a transaction the node accepted before a restart (its journal): the
    /// per-sender limit does not apply, since refusing it now would lose a transaction a client
    /// was told was accepted. Every other check does.
    pub fn readmit(&mut self, tx: PooledTx, state: SenderState) -> Result<Added, PoolError> {
        self.insert(tx, state, state, false)
    }

    /// Checks `tx` against `state` and adds it, measuring its sender from `head` from now on.
    fn insert(
        &mut self,
        tx: PooledTx,
        state: SenderState,
        head: SenderState,
        sender_cap: bool,
    ) -> Result<Added, PoolError> {
        self.validate(&tx, state)?;
        // The tip floor holds for what arrives now, not for what the journal gives back.
        let minimum = self.config.minimum_priority_fee;
        if sender_cap
            && minimum > 0
            && !self.config.locals.contains(&tx.sender())
            && tx.tx.effective_tip_per_gas(self.base_fee).unwrap_or(0) < minimum
        {
            return Err(PoolError::TipBelowMinimum { minimum });
        }
        let sender = tx.sender();
        let nonce = tx.nonce();
        let hash = tx.hash;
        let bump = self.config.price_bump_percent;
        let entry = self.senders.entry(sender).or_default();
        entry.state = head;
        entry.preconfirmed_nonce = state.nonce.max(head.nonce);
        let mut replaced = None;
        if let Some(old) = entry.txs.get(&nonce) {
            let min = |v: u128| v + v * bump / 100;
            if tx.tx.max_fee_per_gas() < min(old.tx.max_fee_per_gas())
                || tx
                    .tx
                    .max_priority_fee_per_gas()
                    .unwrap_or(tx.tx.max_fee_per_gas())
                    < min(old
                        .tx
                        .max_priority_fee_per_gas()
                        .unwrap_or(old.tx.max_fee_per_gas()))
            {
                return Err(PoolError::ReplacementUnderpriced);
            }
            replaced = Some(old.hash);
        } else if sender_cap && entry.txs.range(state.nonce..).count() >= self.config.max_per_sender
        {
            // Counted from the state nonce: transactions below it are already preconfirmed (the
            // pool keeps them until their block is sealed) and hold no place in the queue.
            return Err(PoolError::AccountLimit {
                limit: self.config.max_per_sender,
            });
        }
        let mut tx = tx;
        self.seq += 1;
        tx.seq = self.seq;
        let tx = Arc::new(tx);
        if let Some(old) = entry.txs.insert(nonce, tx.clone()) {
            self.by_hash.remove(&old.hash);
        }
        self.by_hash.insert(hash, tx);
        let pending = nonce < entry.next_nonce();
        let mut evicted = Vec::new();
        while self.by_hash.len() > self.config.max_total {
            match self.evict_one() {
                Some(h) => evicted.push(h),
                None => break,
            }
        }
        if evicted.contains(&hash) {
            return Err(PoolError::PoolFull);
        }
        Ok(Added {
            hash,
            replaced,
            evicted,
            pending,
        })
    }

    fn validate(&self, tx: &PooledTx, state: SenderState) -> Result<(), PoolError> {
        if self.by_hash.contains_key(&tx.hash) {
            return Err(PoolError::AlreadyKnown);
        }
        if tx.size > self.config.max_tx_bytes {
            return Err(PoolError::Oversized {
                size: tx.size,
                limit: self.config.max_tx_bytes,
            });
        }
        if let Some(id) = tx.tx.chain_id()
            && id != self.chain_id
        {
            return Err(PoolError::ChainId {
                have: id,
                want: self.chain_id,
            });
        }
        if tx
            .tx
            .authorization_list()
            .is_some_and(|list| list.is_empty())
        {
            // geth's message; such a transaction is invalid in any block (EIP-7702).
            return Err(PoolError::Unsupported(
                "EIP-7702 transaction with empty auth list".into(),
            ));
        }
        if tx.tx.is_eip4844() && tx.sidecar.is_none() {
            return Err(PoolError::Unsupported(
                "blob transactions must be sent with their blobs".into(),
            ));
        }
        if let Some(cap) = self.tx_gas_cap
            && tx.tx.gas_limit() > cap
        {
            return Err(PoolError::TxGasCap {
                cap,
                got: tx.tx.gas_limit(),
            });
        }
        if tx.tx.gas_limit() > self.block_gas_limit {
            return Err(PoolError::GasLimit);
        }
        if let Some(tip) = tx.tx.max_priority_fee_per_gas()
            && tip > tx.tx.max_fee_per_gas()
        {
            return Err(PoolError::TipAboveFeeCap);
        }
        let want = intrinsic_gas(tx.tx.inner());
        if tx.tx.gas_limit() < want {
            return Err(PoolError::IntrinsicGas {
                have: tx.tx.gas_limit(),
                want,
            });
        }
        if tx.tx.max_fee_per_gas() < self.base_fee as u128 {
            return Err(PoolError::FeeCapTooLow {
                max_fee: tx.tx.max_fee_per_gas(),
                base_fee: self.base_fee,
            });
        }
        let nonce = tx.nonce();
        if nonce < state.nonce {
            return Err(PoolError::NonceTooLow {
                expected: state.nonce,
                got: nonce,
            });
        }
        if nonce > state.nonce + self.config.max_nonce_gap {
            return Err(PoolError::NonceTooHigh {
                expected: state.nonce,
                got: nonce,
            });
        }
        let blob_cost = tx
            .tx
            .max_fee_per_blob_gas()
            .map(|f| U256::from(f) * U256::from(tx.tx.blob_gas_used().unwrap_or(0)))
            .unwrap_or_default();
        let cost = U256::from(tx.tx.gas_limit()) * U256::from(tx.tx.max_fee_per_gas())
            + tx.tx.value()
            + blob_cost;
        if state.balance < cost {
            return Err(PoolError::InsufficientFunds {
                balance: state.balance,
                cost,
            });
        }
        Ok(())
    }

    /// Removes the worst transaction: the highest-nonce transaction of the sender whose last
    /// transaction pays the least tip.
    fn evict_one(&mut self) -> Option<B256> {
        let base_fee = self.base_fee;
        let (&sender, _) = self
            .senders
            .iter()
            .filter(|(_, s)| !s.txs.is_empty())
            .min_by_key(|(_, s)| s.txs.values().next_back().map(|t| t.tip(base_fee)))?;
        let s = self.senders.get_mut(&sender)?;
        let (_, tx) = s.txs.pop_last()?;
        if s.txs.is_empty() {
            self.senders.remove(&sender);
        }
        self.by_hash.remove(&tx.hash);
        Some(tx.hash)
    }

    /// Removes transactions by hash (for example those a flashblock included).
    pub fn remove(&mut self, hashes: &[B256]) {
        for h in hashes {
            if let Some(tx) = self.by_hash.remove(h) {
                let sender = tx.sender();
                if let Some(s) = self.senders.get_mut(&sender) {
                    s.txs.remove(&tx.nonce());
                    if s.txs.is_empty() {
                        self.senders.remove(&sender);
                    }
                }
            }
        }
    }

    /// After a new head: sets the next base fee, drops what the head made stale (nonces below the
    /// new state nonce) and re-checks balances. `state_of` returns a sender's account at the new
    /// head. Returns the hashes dropped.
    pub fn on_new_head(
        &mut self,
        base_fee: u64,
        mut state_of: impl FnMut(&Address) -> SenderState,
    ) -> Vec<B256> {
        self.base_fee = base_fee;
        let mut dropped = Vec::new();
        let senders: Vec<Address> = self.senders.keys().copied().collect();
        for addr in senders {
            let state = state_of(&addr);
            let Some(s) = self.senders.get_mut(&addr) else {
                continue;
            };
            s.state = state;
            // The next block's preconfirmations are learnt again as transactions arrive.
            s.preconfirmed_nonce = state.nonce;
            let stale: Vec<u64> = s.txs.range(..state.nonce).map(|(k, _)| *k).collect();
            for n in stale {
                if let Some(tx) = s.txs.remove(&n) {
                    dropped.push(tx.hash);
                }
            }
            // A sender whose balance no longer covers a transaction loses it and every later one.
            let mut budget = state.balance;
            let mut cut = None;
            for (n, tx) in &s.txs {
                let cost = U256::from(tx.tx.gas_limit()) * U256::from(tx.tx.max_fee_per_gas())
                    + tx.tx.value();
                if budget < cost {
                    cut = Some(*n);
                    break;
                }
                budget -= cost;
            }
            if let Some(n) = cut {
                for (_, tx) in s.txs.split_off(&n) {
                    dropped.push(tx.hash);
                }
            }
            if s.txs.is_empty() {
                self.senders.remove(&addr);
            }
        }
        for h in &dropped {
            self.by_hash.remove(h);
        }
        dropped
    }

    /// Pending transactions, best first: highest effective tip, each sender's in nonce order.
    /// Transactions whose fee cap is below the base fee are skipped.
    pub fn best(&self) -> BestTransactions {
        self.best_after(&HashMap::new())
    }

    /// Like [`best`](Self::best), but each sender in `next` starts at that nonce: a block being
    /// built names where its senders stand, so transactions it already holds (and which stay in
    /// the pool until the block is imported) are not offered again.
    pub fn best_after(&self, next: &HashMap<Address, u64>) -> BestTransactions {
        let mut heap = BinaryHeap::new();
        let mut queues = HashMap::new();
        for (addr, s) in &self.senders {
            let mut q = Vec::new();
            let mut n = next
                .get(addr)
                .map_or(s.state.nonce, |&n| n.max(s.state.nonce));
            while let Some(tx) = s.txs.get(&n) {
                q.push(tx.clone());
                n += 1;
            }
            q.reverse();
            if let Some(first) = q.pop() {
                heap.push(Ranked::new(first, self.base_fee));
                queues.insert(*addr, q);
            }
        }
        BestTransactions {
            heap,
            queues,
            base_fee: self.base_fee,
        }
    }

    /// Every transaction: (pending, queued), grouped by sender and nonce.
    pub fn content(&self) -> (Vec<Arc<PooledTx>>, Vec<Arc<PooledTx>>) {
        let mut pending = Vec::new();
        let mut queued = Vec::new();
        for s in self.senders.values() {
            let cut = s.next_nonce();
            for (n, tx) in &s.txs {
                if *n < cut {
                    pending.push(tx.clone())
                } else {
                    queued.push(tx.clone())
                }
            }
        }
        (pending, queued)
    }
}

#[derive(Debug)]
struct Ranked {
    tip: u128,
    seq: u64,
    tx: Arc<PooledTx>,
}

impl Ranked {
    fn new(tx: Arc<PooledTx>, base_fee: u64) -> Self {
        Self {
            tip: tx.tip(base_fee),
            seq: tx.seq,
            tx,
        }
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.tip == other.tip && self.seq == other.seq
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Higher tip first; on a tie, earlier arrival first.
        self.tip
            .cmp(&other.tip)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Iterator over the pool's executable transactions in the order a block should take them.
#[derive(Debug)]
pub struct BestTransactions {
    heap: BinaryHeap<Ranked>,
    queues: HashMap<Address, Vec<Arc<PooledTx>>>,
    base_fee: u64,
}

impl Iterator for BestTransactions {
    type Item = Arc<PooledTx>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Ranked { tx, .. } = self.heap.pop()?;
            let sender = tx.sender();
            if let Some(next) = self.queues.get_mut(&sender).and_then(Vec::pop) {
                self.heap.push(Ranked::new(next, self.base_fee));
            }
            if tx.tx.max_fee_per_gas() < self.base_fee as u128 {
                self.queues.remove(&sender);
                continue;
            }
            return Some(tx);
        }
    }
}

/// Intrinsic gas of a transaction under Prague rules (EIP-2028 calldata, EIP-2930 access list,
/// EIP-3860 initcode, EIP-7623 calldata floor, EIP-7702 authorizations).
pub fn intrinsic_gas(tx: &impl alloy_consensus::Transaction) -> u64 {
    let input = tx.input();
    let zeros = input.iter().filter(|b| **b == 0).count() as u64;
    let tokens = zeros + (input.len() as u64 - zeros) * 4;
    let mut gas = 21_000 + tokens * 4;
    if tx.kind().is_create() {
        gas += 32_000 + 2 * input.len().div_ceil(32) as u64;
    }
    if let Some(al) = tx.access_list() {
        gas += al.0.len() as u64 * 2400
            + al.0
                .iter()
                .map(|i| i.storage_keys.len() as u64)
                .sum::<u64>()
                * 1900;
    }
    if let Some(auth) = tx.authorization_list() {
        gas += auth.len() as u64 * 25_000;
    }
    // EIP-7623: the gas limit must also cover the calldata floor.
    gas.max(21_000 + tokens * 10)
}

/// Decodes a transaction as `eth_sendRawTransaction` takes it (EIP-2718, a blob transaction in
/// its network form with the sidecar, which is checked against its commitments), with geth's
/// messages: `failed to decode transaction: …`, `invalid blob sidecar: …`, and `only
/// replay-protected (EIP-155) transactions allowed over RPC` for a legacy transaction without a
/// chain id. A blob transaction's sidecar must fit the next block's fork (`osaka`): before Osaka
/// blob proofs (EIP-4844), from Osaka cell proofs (EIP-7594) — a sidecar with blob proofs is
/// converted then (the cell proofs computed here), as geth does, so tools that still send the
/// old form keep working.
pub fn decode_raw(
    raw: &[u8],
    osaka: bool,
) -> Result<(Transaction, Option<Arc<BlobTransactionSidecarVariant>>), String> {
    type Pooled = alloy_consensus::EthereumTxEnvelope<
        alloy_consensus::TxEip4844WithSidecar<BlobTransactionSidecarVariant>,
    >;
    if raw.first() == Some(&crate::pol::POL_TX_TYPE) {
        // Berachain's PoL transaction is a system transaction: blocks carry it, users cannot.
        return Err(
            "transaction type not supported: PoL (0x7e) transactions are made by the block builder"
                .into(),
        );
    }
    let mut buf = raw;
    let pooled = <Pooled as alloy_eips::eip2718::Decodable2718>::decode_2718(&mut buf)
        .map_err(|e| format!("failed to decode transaction: {e}"))?;
    if !buf.is_empty() {
        return Err("failed to decode transaction: trailing bytes".into());
    }
    Ok(match pooled {
        Pooled::Eip4844(signed) => {
            let (tx, sig, hash) = signed.into_parts();
            let settings = alloy_eips::eip4844::env_settings::EnvKzgSettings::Default;
            tx.validate_blob(settings.get())
                .map_err(|e| format!("invalid blob sidecar: {e}"))?;
            let sidecar = match (tx.sidecar, osaka) {
                (s @ BlobTransactionSidecarVariant::Eip4844(_), false) => s,
                (s @ BlobTransactionSidecarVariant::Eip4844(_), true) => s
                    .try_convert_into_eip7594_with_settings(settings.get())
                    .map_err(|e| format!("invalid blob sidecar: {e}"))?,
                (s @ BlobTransactionSidecarVariant::Eip7594(_), true) => s,
                (BlobTransactionSidecarVariant::Eip7594(_), false) => {
                    return Err(
                        "invalid blob sidecar: cell proofs (EIP-7594) are for Osaka blocks; send blob proofs (EIP-4844)"
                            .into(),
                    );
                }
            };
            let inner = alloy_consensus::TxEip4844Variant::TxEip4844(tx.tx);
            (
                Transaction::Eip4844(alloy_consensus::Signed::new_unchecked(inner, sig, hash)),
                Some(Arc::new(sidecar)),
            )
        }
        Pooled::Legacy(s) if s.tx().chain_id.is_none() => {
            return Err("only replay-protected (EIP-155) transactions allowed over RPC".into());
        }
        Pooled::Legacy(s) => (Transaction::Legacy(s), None),
        Pooled::Eip2930(s) => (Transaction::Eip2930(s), None),
        Pooled::Eip1559(s) => (Transaction::Eip1559(s), None),
        Pooled::Eip7702(s) => (Transaction::Eip7702(s), None),
    })
}

/// Encoded length of a transaction (EIP-2718).
pub fn encoded_len(tx: &Transaction) -> usize {
    tx.encode_2718_len()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_refusal_label_is_listed_once() {
        let all = [
            PoolError::NonceTooLow {
                expected: 1,
                got: 0,
            },
            PoolError::NonceTooHigh {
                expected: 0,
                got: 1,
            },
            PoolError::InsufficientFunds {
                balance: U256::ZERO,
                cost: U256::from(1),
            },
            PoolError::IntrinsicGas {
                have: 0,
                want: 21_000,
            },
            PoolError::GasLimit,
            PoolError::FeeCapTooLow {
                max_fee: 0,
                base_fee: 1,
            },
            PoolError::TipAboveFeeCap,
            PoolError::TipBelowMinimum { minimum: 1 },
            PoolError::ChainId { have: 1, want: 2 },
            PoolError::Oversized { size: 2, limit: 1 },
            PoolError::AlreadyKnown,
            PoolError::ReplacementUnderpriced,
            PoolError::PoolFull,
            PoolError::AccountLimit { limit: 1 },
            PoolError::DiskLow {
                free_mib: 0,
                need_mib: 1,
            },
            PoolError::Unsupported(String::new()),
        ];
        let labels: Vec<_> = all.iter().map(PoolError::label).collect();
        assert_eq!(labels, PoolError::LABELS);
    }

    use super::*;
    use crate::devnet::dev_signer;
    use alloy_consensus::{SignableTransaction, TxEip1559};
    use alloy_primitives::TxKind;
    use alloy_signer::SignerSync;

    fn tx(signer: u32, nonce: u64, tip: u128) -> PooledTx {
        let key = dev_signer(signer);
        let t = TxEip1559 {
            chain_id: 1,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 100,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(Address::ZERO),
            ..Default::default()
        };
        let sig = key.sign_hash_sync(&t.signature_hash()).unwrap();
        let env: Transaction = t.into_signed(sig).into();
        let size = encoded_len(&env);
        let hash = *env.tx_hash();
        PooledTx {
            tx: Recovered::new_unchecked(env, key.address()),
            hash,
            sidecar: None,
            size,
            seq: 0,
        }
    }

    fn nonces(best: BestTransactions) -> Vec<(Address, u64)> {
        best.map(|t| (t.sender(), t.nonce())).collect()
    }

    fn rich(nonce: u64) -> SenderState {
        SenderState {
            nonce,
            balance: U256::from(10u64).pow(U256::from(20)),
        }
    }

    #[test]
    fn orders_by_tip_and_nonce_and_queues_gaps() {
        let mut pool = TxPool::new(PoolConfig::default(), 1, 10, 30_000_000);
        pool.add(tx(0, 0, 1), rich(0)).unwrap();
        pool.add(tx(0, 1, 50), rich(0)).unwrap();
        pool.add(tx(1, 0, 5), rich(0)).unwrap();
        let gap = pool.add(tx(2, 3, 90), rich(0)).unwrap();
        assert!(!gap.pending);
        assert_eq!(pool.counts(), (3, 1));
        let order: Vec<(Address, u64)> = pool.best().map(|t| (t.sender(), t.nonce())).collect();
        let a = dev_signer(0).address();
        let b = dev_signer(1).address();
        assert_eq!(order, vec![(b, 0), (a, 0), (a, 1)]);
    }

    #[test]
    fn the_tip_floor_counts_the_tip_actually_paid_and_spares_locals() {
        let cfg = PoolConfig {
            minimum_priority_fee: 5,
            locals: vec![dev_signer(2).address()],
            ..Default::default()
        };
        // Base fee 96: max fee 100 leaves at most 4 of any tip cap.
        let mut pool = TxPool::new(cfg, 1, 96, 30_000_000);
        let e = pool.add(tx(0, 0, 50), rich(0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "transaction priority fee below minimum required priority fee 5"
        );
        assert_eq!(e.label(), "tip_below_minimum");
        pool.add(tx(2, 0, 50), rich(0)).unwrap();
        let mut cheap = TxPool::new(
            PoolConfig {
                minimum_priority_fee: 5,
                ..Default::default()
            },
            1,
            10,
            30_000_000,
        );
        assert!(cheap.add(tx(0, 0, 4), rich(0)).is_err());
        cheap.add(tx(0, 0, 5), rich(0)).unwrap();
        // What the journal gives back is not held to it.
        cheap.readmit(tx(1, 0, 1), rich(0)).unwrap();
    }

    #[test]
    fn osaka_caps_a_transactions_gas() {
        let mut pool = TxPool::new(PoolConfig::default(), 1, 10, 30_000_000);
        pool.set_tx_gas_cap(Some(20_999));
        let e = pool.add(tx(0, 0, 1), rich(0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "transaction gas limit too high (cap: 20999, tx: 21000)"
        );
        assert_eq!(e.label(), "gas_limit");
        pool.set_tx_gas_cap(None);
        pool.add(tx(0, 0, 1), rich(0)).unwrap();
    }

    #[test]
    fn rejects_with_the_standard_messages() {
        let mut pool = TxPool::new(PoolConfig::default(), 1, 10, 30_000_000);
        let t = tx(0, 0, 1);
        pool.add(t.clone(), rich(0)).unwrap();
        assert_eq!(
            pool.add(t, rich(0)).unwrap_err().to_string(),
            "already known"
        );
        assert_eq!(
            pool.add(tx(0, 0, 2), rich(1)).unwrap_err().label(),
            "nonce_too_low"
        );
        let poor = SenderState {
            nonce: 0,
            balance: U256::from(1),
        };
        assert!(
            pool.add(tx(3, 0, 1), poor)
                .unwrap_err()
                .to_string()
                .starts_with("insufficient funds")
        );
        let mut under = TxPool::new(PoolConfig::default(), 1, 1000, 30_000_000);
        assert!(
            under
                .add(tx(0, 0, 1), rich(0))
                .unwrap_err()
                .to_string()
                .starts_with("max fee per gas less than block base fee")
        );
        let mut other_chain = TxPool::new(PoolConfig::default(), 2, 10, 30_000_000);
        assert_eq!(
            other_chain.add(tx(0, 0, 1), rich(0)).unwrap_err().label(),
            "chain_id"
        );
    }

    #[test]
    fn replacement_needs_a_bump_and_head_prunes() {
        let mut pool = TxPool::new(PoolConfig::default(), 1, 10, 30_000_000);
        pool.add(tx(0, 0, 10), rich(0)).unwrap();
        // Same fee cap: underpriced even with a higher tip.
        assert_eq!(
            pool.add(tx(0, 0, 20), rich(0)).unwrap_err(),
            PoolError::ReplacementUnderpriced
        );
        pool.add(tx(0, 1, 10), rich(0)).unwrap();
        let dropped = pool.on_new_head(10, |_| rich(1));
        assert_eq!(dropped.len(), 1);
        assert_eq!(pool.counts(), (1, 0));
    }

    #[test]
    fn best_after_skips_what_a_block_already_holds() {
        let mut pool = TxPool::new(PoolConfig::default(), 1, 10, 30_000_000);
        for nonce in 0..4 {
            pool.add(tx(0, nonce, 10), rich(0)).unwrap();
        }
        pool.add(tx(1, 0, 5), rich(0)).unwrap();

        let (a, b) = (dev_signer(0).address(), dev_signer(1).address());
        assert_eq!(nonces(pool.best()).len(), 5);
        let after = HashMap::from([(a, 2), (b, 1)]);
        assert_eq!(nonces(pool.best_after(&after)), vec![(a, 2), (a, 3)]);
        // A nonce below the sender's state changes nothing.
        let after = HashMap::from([(a, 0)]);
        assert_eq!(nonces(pool.best_after(&after)).len(), 5);
    }

    #[test]
    fn preconfirmed_transactions_hold_no_place_in_the_per_sender_cap() {
        let cfg = PoolConfig {
            max_per_sender: 4,
            ..Default::default()
        };
        let mut pool = TxPool::new(cfg, 1, 10, 30_000_000);
        for nonce in 0..4 {
            pool.add(tx(0, nonce, 10), rich(0)).unwrap();
        }
        let limit = Err(PoolError::AccountLimit { limit: 4 });
        assert_eq!(pool.add(tx(0, 4, 10), rich(0)), limit);
        // The first three were preconfirmed: the account's nonce in the preconfirmed state is 3.
        for nonce in 4..7 {
            pool.add(tx(0, nonce, 10), rich(3)).unwrap();
        }
        assert_eq!(pool.add(tx(0, 7, 10), rich(3)), limit);
        // The preconfirmed ones are pending, as `txpool_content` lists them, not queued.
        assert_eq!(pool.counts(), (7, 0));
        let (pending, queued) = pool.content();
        assert_eq!((pending.len(), queued.len()), pool.counts());
        // What a journal brings back after a restart was accepted once: the cap does not lose it.
        pool.readmit(tx(0, 7, 10), rich(3)).unwrap();
        assert_eq!(pool.counts(), (8, 0));
    }

    #[test]
    fn a_build_on_the_head_gets_the_preconfirmed_transactions_first_and_then_the_rest() {
        let mut pool = TxPool::new(PoolConfig::default(), 1, 10, 30_000_000);
        let head = rich(0);
        // Nonces 0–2 were preconfirmed (the preconfirmed state's nonce is 3); 3 and 4 come after.
        for nonce in 0..3 {
            pool.add_preconfirmed(tx(0, nonce, 10), head, rich(nonce))
                .unwrap();
        }
        for nonce in 3..5 {
            let added = pool
                .add_preconfirmed(tx(0, nonce, 10), head, rich(3))
                .unwrap();
            assert!(added.pending);
        }
        // A local build starts from the head: every one, in nonce order.
        let a = dev_signer(0).address();
        assert_eq!(
            nonces(pool.best()),
            (0..5).map(|n| (a, n)).collect::<Vec<_>>()
        );
        assert_eq!(pool.next_nonce(&a), Some(5));
        // The sequencer's block, holding 0–2 already, continues at 3.
        let after = HashMap::from([(a, 3)]);
        assert_eq!(nonces(pool.best_after(&after)), vec![(a, 3), (a, 4)]);
    }

    #[test]
    fn a_sender_whose_preconfirmed_transactions_are_elsewhere_keeps_its_next_nonce() {
        // An rpc node's pool holds only what was sent to it: nonces 0–2 went through another
        // node and are preconfirmed; 3 arrives here.
        let mut pool = TxPool::new(PoolConfig::default(), 1, 10, 30_000_000);
        let added = pool
            .add_preconfirmed(tx(0, 3, 10), rich(0), rich(3))
            .unwrap();
        assert!(added.pending);
        let a = dev_signer(0).address();
        assert_eq!(pool.next_nonce(&a), Some(4));
        // Nothing is executable on the head yet: a build there takes nothing from this sender.
        assert!(nonces(pool.best()).is_empty());
        // Its block sealed, the head has the sender at 3.
        pool.on_new_head(10, |_| rich(3));
        assert_eq!(nonces(pool.best()), vec![(a, 3)]);
    }

    #[test]
    fn an_eip7702_transaction_without_authorizations_is_refused() {
        use alloy_consensus::TxEip7702;
        let key = dev_signer(0);
        let t = TxEip7702 {
            chain_id: 1,
            gas_limit: 50_000,
            max_fee_per_gas: 100,
            authorization_list: Vec::new(),
            ..Default::default()
        };
        let sig = key.sign_hash_sync(&t.signature_hash()).unwrap();
        let env: Transaction = t.into_signed(sig).into();
        let pooled = PooledTx {
            tx: Recovered::new_unchecked(env.clone(), key.address()),
            hash: *env.tx_hash(),
            sidecar: None,
            size: encoded_len(&env),
            seq: 0,
        };
        let mut pool = TxPool::new(PoolConfig::default(), 1, 10, 30_000_000);
        assert_eq!(
            pool.add(pooled, rich(0)).unwrap_err().to_string(),
            "EIP-7702 transaction with empty auth list"
        );
    }

    #[test]
    fn caps_evict_the_lowest_payer() {
        let cfg = PoolConfig {
            max_total: 2,
            ..Default::default()
        };
        let mut pool = TxPool::new(cfg, 1, 10, 30_000_000);
        pool.add(tx(0, 0, 1), rich(0)).unwrap();
        pool.add(tx(1, 0, 50), rich(0)).unwrap();
        let added = pool.add(tx(2, 0, 60), rich(0)).unwrap();
        assert_eq!(added.evicted.len(), 1);
        assert_eq!(pool.counts(), (2, 0));
        assert!(pool.best().all(|t| t.sender() != dev_signer(0).address()));
    }
}
