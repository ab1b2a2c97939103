//! Read access to the chain, shared by every task: the head and recent states in memory (behind a
//! lock the chain actor writes), headers, blocks and receipts from the database (each read opens
//! its own read transaction, so reads never queue behind execution).

use alloy_primitives::{Address, B256, Bytes};
use preconf_core::{
    block_state::WarmCache,
    chainspec::ChainSpec,
    primitives::{Header, Receipt, SealedBlock, SenderCache},
    state::{ChainData, SnapshotProvider, StateError, StateProvider, StateSnapshot},
    storage::{StorageError, Store},
};
use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::Instant,
};
use tokio::sync::broadcast;
use tracing::info;

/// How many recent canonical states stay in memory (for reads at recent blocks and proofs).
const RECENT_STATES: u64 = 128;
/// How many recovered senders are remembered (a few blocks' worth at high load; ~10 MB).
const SENDER_CACHE: usize = 1 << 17;

/// A header with its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedHeader {
    /// Block hash.
    pub hash: B256,
    /// The header.
    pub header: Header,
}

/// What the chain looks like now; shared by the actor (writer) and readers.
#[derive(Debug, Clone)]
pub(super) struct ChainView {
    pub(super) head: SealedHeader,
    /// The head block itself (the block most reads ask for), so `latest` is never a database read.
    head_block: Arc<SealedBlock>,
    pub(super) head_state: StateSnapshot,
    pub(super) recent: BTreeMap<u64, (B256, StateSnapshot)>,
    safe: B256,
    finalized: B256,
}

/// A change of the canonical chain.
#[derive(Debug, Clone)]
pub struct NewHead {
    /// The new head block.
    pub block: Arc<SealedBlock>,
    /// Its receipts.
    pub receipts: Arc<Vec<Receipt>>,
}

/// Read access to the chain: headers, blocks, receipts, and the state at any block. Cheap to
/// clone; safe to use from any task.
#[derive(Debug, Clone)]
pub struct ChainReader {
    /// The chain specification.
    pub spec: Arc<ChainSpec>,
    /// The database.
    pub store: Store,
    /// Senders recovered so far (by the RPC, the overlay and block import), shared.
    pub senders: SenderCache,
    /// The accounts the last executed block touched, for the next block built on it.
    pub(super) warm: WarmCache,
    view: Arc<RwLock<ChainView>>,
    pub(super) events: broadcast::Sender<NewHead>,
}

impl ChainData for ChainReader {
    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StateError> {
        Ok(self.store.code(hash)?)
    }
    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        Ok(self.store.canonical_hash(number)?.unwrap_or_default())
    }
    fn warm_cache(&self) -> Option<&WarmCache> {
        Some(&self.warm)
    }
}

impl ChainReader {
    /// Opens the chain in a store (writing genesis on first use) and loads the head state.
    pub fn open(spec: Arc<ChainSpec>, store: Store) -> Result<Self, StorageError> {
        if store.init_genesis(&spec)? {
            info!(target: "chain", hash = %spec.genesis_hash(), "wrote genesis");
        }
        let head_hash = store.head_hash()?.unwrap_or(spec.genesis_hash());
        let header = store.header(&head_hash)?.ok_or(StorageError::Corrupt {
            table: "headers",
            detail: "head header missing".into(),
        })?;
        let started = Instant::now();
        let state = store.load_state(|n| info!(target: "chain", accounts = n, "loading state"))?;
        if state.root() != header.state_root {
            return Err(StorageError::Corrupt {
                table: "accounts",
                detail: format!(
                    "state root {} does not match head {} root {}",
                    state.root(),
                    header.number,
                    header.state_root
                ),
            });
        }
        info!(target: "chain", number = header.number, hash = %head_hash, elapsed = ?started.elapsed(), "head loaded");
        let safe = store.safe_hash()?.unwrap_or(head_hash);
        let finalized = store.finalized_hash()?.unwrap_or(head_hash);
        let mut recent = BTreeMap::new();
        recent.insert(header.number, (head_hash, state.clone()));
        let head_block = Arc::new(read_block(&store, &head_hash)?.ok_or(
            StorageError::Corrupt {
                table: "bodies",
                detail: "head block missing".into(),
            },
        )?);
        let view = ChainView {
            head: SealedHeader {
                hash: head_hash,
                header,
            },
            head_block,
            head_state: state,
            recent,
            safe,
            finalized,
        };
        let (events, _) = broadcast::channel(256);
        Ok(Self {
            spec,
            store,
            senders: SenderCache::new(SENDER_CACHE),
            warm: WarmCache::default(),
            view: Arc::new(RwLock::new(view)),
            events,
        })
    }

    pub(super) fn view(&self) -> std::sync::RwLockReadGuard<'_, ChainView> {
        self.view.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The head header.
    pub fn head(&self) -> SealedHeader {
        self.view().head.clone()
    }

    /// The head block's hash.
    pub fn head_hash(&self) -> B256 {
        self.view().head.hash
    }

    /// The safe block hash.
    pub fn safe_hash(&self) -> B256 {
        self.view().safe
    }

    /// The finalized block hash.
    pub fn finalized_hash(&self) -> B256 {
        self.view().finalized
    }

    /// Subscribes to head changes.
    pub fn subscribe(&self) -> broadcast::Receiver<NewHead> {
        self.events.subscribe()
    }

    /// The head state.
    pub fn head_state(&self) -> SnapshotProvider {
        self.provider(self.view().head_state.clone())
    }

    /// The head and the state after it, read together (one consistent pair even while a new head
    /// is being published).
    pub fn head_with_state(&self) -> (SealedHeader, SnapshotProvider) {
        let (head, state) = {
            let v = self.view();
            (v.head.clone(), v.head_state.clone())
        };
        (head, self.provider(state))
    }

    /// Wraps a snapshot with this chain's code and block hashes.
    pub fn provider(&self, snapshot: StateSnapshot) -> SnapshotProvider {
        SnapshotProvider {
            snapshot,
            chain: Arc::new(self.clone()),
            extra_code: Default::default(),
        }
    }

    /// The in-memory state of a recent canonical block, if still held.
    pub fn recent_state(&self, number: u64) -> Option<StateSnapshot> {
        self.view().recent.get(&number).map(|(_, s)| s.clone())
    }

    /// The state after canonical block `number`: in memory when recent, else from history.
    pub fn state_at(&self, number: u64) -> Result<Arc<dyn StateProvider>, StorageError> {
        if let Some(s) = self.recent_state(number) {
            return Ok(Arc::new(self.provider(s)));
        }
        Ok(Arc::new(self.store.historical_state(number)?))
    }

    /// A canonical header by number.
    pub fn header_by_number(&self, number: u64) -> Result<Option<SealedHeader>, StorageError> {
        let Some(hash) = self.store.canonical_hash(number)? else {
            return Ok(None);
        };
        Ok(self
            .store
            .header(&hash)?
            .map(|header| SealedHeader { hash, header }))
    }

    /// A header by hash (canonical or not).
    pub fn header_by_hash(&self, hash: &B256) -> Result<Option<SealedHeader>, StorageError> {
        Ok(self.store.header(hash)?.map(|header| SealedHeader {
            hash: *hash,
            header,
        }))
    }

    /// True when the block with this hash is on the canonical chain.
    pub fn is_canonical(&self, hash: &B256, number: u64) -> Result<bool, StorageError> {
        Ok(self.store.canonical_hash(number)?.as_ref() == Some(hash))
    }

    /// A stored block by hash with its senders (as recorded at import; recovered again only for a
    /// block stored without them).
    pub fn block(&self, hash: &B256) -> Result<Option<SealedBlock>, StorageError> {
        read_block(&self.store, hash)
    }

    /// A block by hash, shared: the head from memory, any other from the database.
    pub fn block_shared(&self, hash: &B256) -> Result<Option<Arc<SealedBlock>>, StorageError> {
        let head = self.view().head_block.clone();
        if head.hash == *hash {
            return Ok(Some(head));
        }
        Ok(self.block(hash)?.map(Arc::new))
    }

    pub(super) fn set_head(&self, block: Arc<SealedBlock>, state: StateSnapshot) {
        let mut v = self.view.write().unwrap_or_else(|e| e.into_inner());
        let number = block.number();
        v.head = SealedHeader {
            hash: block.hash,
            header: block.header.clone(),
        };
        v.recent.insert(number, (block.hash, state.clone()));
        v.head_state = state;
        v.head_block = block;
        while v.recent.len() as u64 > RECENT_STATES {
            v.recent.pop_first();
        }
    }

    pub(super) fn set_safe_finalized(&self, safe: B256, finalized: B256) {
        let mut v = self.view.write().unwrap_or_else(|e| e.into_inner());
        if !safe.is_zero() {
            v.safe = safe;
        }
        if !finalized.is_zero() {
            v.finalized = finalized;
        }
    }
}

/// A stored block by hash with its senders (as recorded at import; recovered again only for a
/// block stored without them).
fn read_block(store: &Store, hash: &B256) -> Result<Option<SealedBlock>, StorageError> {
    let (Some(header), Some(body)) = (store.header(hash)?, store.body(hash)?) else {
        return Ok(None);
    };
    // The header was checked against its hash; the body is checked against the header, so a
    // damaged record is an error rather than a changed transaction served.
    if alloy_consensus::proofs::calculate_transaction_root(&body.transactions)
        != header.transactions_root
    {
        return Err(StorageError::Corrupt {
            table: "bodies",
            detail: format!("the body stored for {hash} does not match its transactions root"),
        });
    }
    if let Some(senders) = store.senders(hash)?
        && senders.len() == body.transactions.len()
    {
        return Ok(Some(SealedBlock::new(header, body, senders)));
    }
    let block = preconf_core::primitives::Block { header, body };
    SealedBlock::recover(block)
        .map(Some)
        .map_err(|e| StorageError::Corrupt {
            table: "bodies",
            detail: e.to_string(),
        })
}

/// An account's nonce and balance in a state (for the mempool).
pub(crate) fn sender_state(
    state: &StateSnapshot,
    address: &Address,
) -> preconf_core::txpool::SenderState {
    state
        .account(address)
        .map(|a| preconf_core::txpool::SenderState {
            nonce: a.nonce,
            balance: a.balance,
        })
        .unwrap_or_default()
}
