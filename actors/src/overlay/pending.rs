//! The preconfirmed state the overlay publishes: one [`PendingBlock`] at a time, swapped
//! atomically, so every `pending` read sees one consistent block (state, transactions, receipts).

use crate::chain::SealedHeader;
use alloy_primitives::B256;
use alloy_rpc_types_engine::PayloadId;
use preconf_core::{
    flashblock::Flashblock,
    primitives::{Receipt, SealedBlock},
    state::SnapshotProvider,
};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};
use tokio::sync::broadcast;

/// The block being preconfirmed, as of its latest applied flashblock.
#[derive(Debug)]
pub struct PendingBlock {
    /// The payload the flashblocks belong to.
    pub payload_id: PayloadId,
    /// Index of the latest applied flashblock.
    pub index: u64,
    /// The block so far: its header carries the gas used, logs bloom and transactions, receipts
    /// and state roots of the transactions so far ([`BlockBuilder::partial_header`]), and its hash
    /// is that header's. Each flashblock makes a new hash; [`PendingView::height_of`] keeps them.
    ///
    /// [`BlockBuilder::partial_header`]: preconf_core::execution::BlockBuilder::partial_header
    pub block: Arc<SealedBlock>,
    /// Receipts of the transactions so far.
    pub receipts: Vec<Receipt>,
    /// Position of each transaction by hash.
    pub tx_index: HashMap<B256, usize>,
    /// The state after the transactions so far.
    pub state: SnapshotProvider,
}

impl PendingBlock {
    /// The pending header with its hash.
    pub fn sealed_header(&self) -> SealedHeader {
        SealedHeader {
            hash: self.block.hash,
            header: self.block.header.clone(),
        }
    }

    /// The position of a transaction in the pending block.
    pub fn position(&self, hash: &B256) -> Option<usize> {
        self.tx_index.get(hash).copied()
    }
}

/// One applied flashblock.
#[derive(Debug, Clone)]
pub struct PendingUpdate {
    /// The pending block after it.
    pub block: Arc<PendingBlock>,
    /// Index of the first transaction this flashblock added.
    pub first_new: usize,
    /// The flashblock itself.
    pub flashblock: Arc<Flashblock>,
}

/// Heights whose preconfirmed block hashes stay resolvable.
pub(crate) const SHOWN_HEIGHTS: u64 = 128;
/// Most hashes remembered for one height (a flashblock each, and again after a rebuild).
const MAX_SHOWN_PER_HEIGHT: usize = 1024;

/// Every preconfirmed block hash shown for the last [`SHOWN_HEIGHTS`] heights.
#[derive(Debug, Default)]
struct Shown {
    height: HashMap<B256, u64>,
    by_height: BTreeMap<u64, Vec<B256>>,
    /// When the latest one was published.
    last: Option<Instant>,
}

impl Shown {
    fn add(&mut self, hash: B256, number: u64) {
        self.last = Some(Instant::now());
        let hashes = self.by_height.entry(number).or_default();
        if hashes.len() < MAX_SHOWN_PER_HEIGHT {
            hashes.push(hash);
            self.height.insert(hash, number);
        }
        while let Some((&oldest, _)) = self.by_height.first_key_value() {
            if oldest + SHOWN_HEIGHTS > number {
                break;
            }
            for h in self.by_height.pop_first().into_iter().flat_map(|(_, v)| v) {
                self.height.remove(&h);
            }
        }
    }
}

/// Where and when this node saw a transaction preconfirmed (the first time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Promise {
    /// The block it was preconfirmed in.
    pub block_number: alloy_primitives::U64,
    /// Its position in that block.
    pub transaction_index: alloy_primitives::U64,
    /// The flashblock that carried it.
    pub flashblock_index: alloy_primitives::U64,
    /// When it was applied here, in milliseconds since the Unix epoch.
    pub preconfirmed_at: alloy_primitives::U64,
}

/// Most promises remembered (the oldest heights go first): about 30 MB.
const MAX_PROMISES: usize = 1 << 18;

/// Every transaction preconfirmed here, for `preconf_getPreconfirmationStatus`.
#[derive(Debug, Default)]
struct PromiseBook {
    by_hash: HashMap<B256, Promise>,
    by_height: BTreeMap<u64, Vec<B256>>,
}

impl PromiseBook {
    fn add(&mut self, hash: B256, promise: Promise) {
        let number = promise.block_number.to::<u64>();
        if self.by_hash.contains_key(&hash) {
            return;
        }
        self.by_hash.insert(hash, promise);
        self.by_height.entry(number).or_default().push(hash);
        while self.by_hash.len() > MAX_PROMISES {
            let Some((_, hashes)) = self.by_height.pop_first() else {
                break;
            };
            for h in hashes {
                self.by_hash.remove(&h);
            }
        }
    }
}

/// The one owner of the preconfirmed state: written only by the overlay, read by the RPC (`pending`
/// reads) and the mempool (admission), cleared for all of them at once.
#[derive(Debug, Clone)]
pub struct PendingView {
    current: Arc<RwLock<Option<Arc<PendingBlock>>>>,
    shown: Arc<Mutex<Shown>>,
    events: broadcast::Sender<PendingUpdate>,
    /// Proof of the sequencer's equivocations.
    pub(crate) evidence: super::EvidenceLog,
    promises: Arc<Mutex<PromiseBook>>,
}

impl Default for PendingView {
    fn default() -> Self {
        Self {
            current: Default::default(),
            shown: Default::default(),
            events: broadcast::channel(1024).0,
            evidence: Default::default(),
            promises: Default::default(),
        }
    }
}

impl PendingView {
    /// The pending block if it builds on `head` (a pending block on an older head is stale).
    pub fn on(&self, head: &B256) -> Option<Arc<PendingBlock>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|p| p.block.header.parent_hash == *head)
    }

    /// Applied flashblocks, as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<PendingUpdate> {
        self.events.subscribe()
    }

    /// The height of a preconfirmed block this view has shown (one of the last
    /// [`SHOWN_HEIGHTS`] heights), by its hash.
    pub fn height_of(&self, hash: &B256) -> Option<u64> {
        let shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        shown.height.get(hash).copied()
    }

    /// Whether a flashblock was applied within `within`: the sequencer is live.
    pub fn live(&self, within: Duration) -> bool {
        let shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        shown.last.is_some_and(|t| t.elapsed() <= within)
    }

    /// Where and when a transaction was preconfirmed here (the last [`MAX_PROMISES`]).
    pub fn promise(&self, hash: &B256) -> Option<Promise> {
        let promises = self.promises.lock().unwrap_or_else(|e| e.into_inner());
        promises.by_hash.get(hash).copied()
    }

    pub(crate) fn publish(&self, update: PendingUpdate) {
        let block = &update.block.block;
        self.shown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(block.hash, block.number());
        let now = preconf_core::flashblock::FlashblockMetadata::now_us() / 1000;
        let mut promises = self.promises.lock().unwrap_or_else(|e| e.into_inner());
        for (i, tx) in block
            .body
            .transactions
            .iter()
            .enumerate()
            .skip(update.first_new)
        {
            // The PoL transaction is the block's own, not a user's.
            if tx.as_ethereum().is_some() {
                let promise = Promise {
                    block_number: alloy_primitives::U64::from(block.number()),
                    transaction_index: alloy_primitives::U64::from(i),
                    flashblock_index: alloy_primitives::U64::from(update.flashblock.index),
                    preconfirmed_at: alloy_primitives::U64::from(now),
                };
                promises.add(*tx.tx_hash(), promise);
            }
        }
        drop(promises);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(update.block.clone());
        let _ = self.events.send(update);
    }

    pub(crate) fn clear(&self) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_promise_is_kept_and_the_oldest_heights_go_first() {
        let mut promises = PromiseBook::default();
        let promise = |n: u64, i: u64| Promise {
            block_number: alloy_primitives::U64::from(n),
            transaction_index: alloy_primitives::U64::from(i),
            flashblock_index: alloy_primitives::U64::ZERO,
            preconfirmed_at: alloy_primitives::U64::ZERO,
        };
        let hash = |i: u64| B256::left_padding_from(&i.to_be_bytes());
        promises.add(hash(0), promise(1, 0));
        promises.add(hash(0), promise(2, 5));
        assert_eq!(promises.by_hash[&hash(0)], promise(1, 0));
        for i in 1..=MAX_PROMISES as u64 {
            promises.add(hash(i), promise(2 + i / 1000, i));
        }
        assert!(promises.by_hash.len() <= MAX_PROMISES);
        assert!(!promises.by_hash.contains_key(&hash(0)));
        assert!(promises.by_hash.contains_key(&hash(MAX_PROMISES as u64)));
    }

    #[test]
    fn shown_hashes_are_kept_for_the_last_heights_only() {
        let mut shown = Shown::default();
        let hash = |n: u64, i: u64| B256::left_padding_from(&[(n * 16 + i) as u8, n as u8]);
        for n in 1..=200 {
            for i in 0..3 {
                shown.add(hash(n, i), n);
            }
        }
        assert_eq!(shown.by_height.len(), SHOWN_HEIGHTS as usize);
        assert_eq!(shown.height.len(), 3 * SHOWN_HEIGHTS as usize);
        assert_eq!(shown.height.get(&hash(200, 2)), Some(&200));
        assert_eq!(shown.height.get(&hash(73, 0)), Some(&73));
        assert_eq!(shown.height.get(&hash(72, 0)), None);
    }
}
