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

/// The one owner of the preconfirmed state: written only by the overlay, read by the RPC (`pending`
/// reads) and the mempool (admission), cleared for all of them at once.
#[derive(Debug, Clone)]
pub struct PendingView {
    current: Arc<RwLock<Option<Arc<PendingBlock>>>>,
    shown: Arc<Mutex<Shown>>,
    events: broadcast::Sender<PendingUpdate>,
}

impl Default for PendingView {
    fn default() -> Self {
        Self {
            current: Default::default(),
            shown: Default::default(),
            events: broadcast::channel(1024).0,
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

    pub(crate) fn publish(&self, update: PendingUpdate) {
        let block = &update.block.block;
        self.shown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(block.hash, block.number());
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
