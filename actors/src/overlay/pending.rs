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
    collections::HashMap,
    sync::{Arc, RwLock},
};
use tokio::sync::broadcast;

/// The block being preconfirmed, as of its latest applied flashblock.
#[derive(Debug)]
pub struct PendingBlock {
    /// The payload the flashblocks belong to.
    pub payload_id: PayloadId,
    /// Index of the latest applied flashblock.
    pub index: u64,
    /// The block so far. Its header carries the block's fields and the gas used so far; roots are
    /// not computed (they are only known once the block is complete), so its hash is provisional.
    pub block: Arc<SealedBlock>,
    /// Receipts of the transactions so far.
    pub receipts: Vec<Receipt>,
    /// Position of each transaction by hash.
    pub tx_index: HashMap<B256, usize>,
    /// The state after the transactions so far.
    pub state: SnapshotProvider,
}

impl PendingBlock {
    /// The pending header with its provisional hash.
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

/// The one owner of the preconfirmed state: written only by the overlay, read by the RPC (`pending`
/// reads) and the mempool (admission), cleared for all of them at once.
#[derive(Debug, Clone)]
pub struct PendingView {
    current: Arc<RwLock<Option<Arc<PendingBlock>>>>,
    events: broadcast::Sender<PendingUpdate>,
}

impl Default for PendingView {
    fn default() -> Self {
        Self {
            current: Default::default(),
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

    pub(crate) fn publish(&self, update: PendingUpdate) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(update.block.clone());
        let _ = self.events.send(update);
    }

    pub(crate) fn clear(&self) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
