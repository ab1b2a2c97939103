//! The chain actor: owns the database and the in-memory state of recent blocks. It executes
//! payloads (`engine_newPayload`), applies forkchoice (`engine_forkchoiceUpdated`), commits blocks
//! and publishes head changes. Everything else reads through a [`ChainReader`], which shares the
//! actor's view of the chain behind a lock and opens its own database read transactions, so reads
//! never queue behind execution.

mod reader;

use crate::{metrics as m, supervisor::ActorError, vitals::Vitals};
use alloy_primitives::{Address, B256};
use preconf_core::{
    execution::{BlockError, ExecutedBlock, execute_block},
    primitives::{Header, SealedBlock},
    state::StateSnapshot,
    storage::StorageError,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tracing::{debug, info, warn};

pub use reader::{ChainReader, SealedHeader};
pub(crate) use reader::{NewHead, sender_state};

/// Why a block could not be committed.
#[derive(Debug, thiserror::Error)]
enum CommitError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("commit task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// How long a reopen of the database retries while another handle of this process still holds
/// the file (see `Store::reopen`).
const REOPEN_WAIT: Duration = Duration::from_secs(2);

/// Result of validating a payload, in Engine API terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PayloadVerdict {
    /// Executed and valid.
    Valid,
    /// Invalid: the last valid ancestor and the reason.
    Invalid {
        /// Latest valid ancestor.
        latest_valid_hash: Option<B256>,
        /// Why.
        error: String,
    },
    /// The parent is unknown: cannot validate yet.
    Syncing,
}

/// Result of a forkchoice update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ForkchoiceVerdict {
    /// The head is now the requested block (or the request named a canonical ancestor).
    Valid {
        /// The head after the update.
        head: B256,
    },
    /// The requested head is invalid.
    Invalid {
        /// Latest valid ancestor.
        latest_valid_hash: Option<B256>,
        /// Why.
        error: String,
    },
    /// The requested head is unknown or not yet connected.
    Syncing,
    /// The head is valid, but the safe or finalized block named is not on its chain (Engine
    /// API -38002).
    InvalidState(String),
}

/// Messages of the chain actor.
#[derive(Debug)]
pub(crate) enum ChainMsg {
    /// An injected fault (drills).
    Fault(crate::supervisor::Fault),
    /// Validate (execute) a block; reply with the verdict.
    NewPayload(Box<SealedBlock>, RpcReplyPort<PayloadVerdict>),
    /// An execution started by `NewPayload` finished (sent by the actor to itself): block hash,
    /// parent hash, result.
    Executed(
        B256,
        B256,
        Box<Result<ExecutedBlock, BlockError>>,
        RpcReplyPort<PayloadVerdict>,
    ),
    /// Make a block the head (committing it and any executed ancestors), and record safe and
    /// finalized hashes.
    Forkchoice {
        /// New head.
        head: B256,
        /// Safe block (zero: unchanged).
        safe: B256,
        /// Finalized block (zero: unchanged).
        finalized: B256,
        /// Where the verdict goes.
        reply: RpcReplyPort<ForkchoiceVerdict>,
    },
    /// A block our own builder executed: `newPayload` for it need not execute it again.
    Prevalidated(Box<ExecutedBlock>),
    /// Whether a block is executed and valid (canonical or waiting for forkchoice).
    IsValid(B256, u64, RpcReplyPort<bool>),
}

crate::supervisor::faultable!(ChainMsg);

/// The chain actor.
#[derive(Debug, Clone)]
pub(crate) struct ChainActor;

/// Arguments of the chain actor.
#[derive(Debug, Clone)]
pub(crate) struct ChainArgs {
    /// The shared chain view it writes.
    pub reader: ChainReader,
    /// Where it reports commits and their failures.
    pub vitals: Vitals,
}

/// The chain actor's state.
#[derive(Debug)]
pub(crate) struct ChainState {
    reader: ChainReader,
    vitals: Vitals,
    /// Executed, valid blocks not yet canonical.
    executed: HashMap<B256, ExecutedBlock>,
    /// Blocks found invalid, with the reason.
    invalid: HashMap<B256, String>,
}

impl ChainState {
    /// The parent's header and state when the parent is the head, an executed block, or a
    /// recent canonical block whose state is still in memory.
    fn parent_of(&self, block: &SealedBlock) -> Option<(Header, StateSnapshot)> {
        let parent = block.header.parent_hash;
        if let Some(e) = self.executed.get(&parent) {
            return Some((e.block.header.clone(), e.state.clone()));
        }
        let state = {
            let v = self.reader.view();
            if parent == v.head.hash {
                return Some((v.head.header.clone(), v.head_state.clone()));
            }
            let (hash, state) = v.recent.get(&block.number().checked_sub(1)?)?;
            (*hash == parent).then(|| state.clone())?
        };
        Some((self.reader.store.header(&parent).ok()??, state))
    }

    /// Commits `executed` (whose parent must be the head) and updates the shared view. On
    /// failure the block comes back, to be committed when forkchoice names it again.
    async fn commit(
        &mut self,
        executed: ExecutedBlock,
    ) -> Result<(), (Option<ExecutedBlock>, CommitError)> {
        let store = self.reader.store.clone();
        let started = Instant::now();
        let (executed, written) = tokio::task::spawn_blocking(move || {
            let written = store.commit_block(&executed.block, &executed.receipts, &executed.diff);
            (executed, written)
        })
        .await
        .map_err(|e| (None, e.into()))?;
        if let Err(e) = written {
            return Err((Some(executed), e.into()));
        }
        self.vitals.committed();
        metrics::histogram!(m::CHAIN_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        let block = Arc::new(executed.block);
        self.reader.set_head(block.clone(), executed.state);
        metrics::counter!(m::CHAIN_BLOCKS_IMPORTED).increment(1);
        metrics::counter!(m::CHAIN_GAS_USED).increment(block.header.gas_used);
        metrics::gauge!(m::CHAIN_HEAD_NUMBER).set(block.number() as f64);
        metrics::gauge!(m::CHAIN_WARM_ACCOUNTS).set(self.reader.warm.len() as f64);
        metrics::gauge!(m::CHAIN_DB_CACHE_BYTES).set(self.reader.store.cache_bytes() as f64);
        info!(target: "chain", number = block.number(), hash = %block.hash, txs = block.body.transactions.len(), gas_used = block.header.gas_used, "new head");
        let _ = self.reader.events.send(NewHead {
            block,
            receipts: Arc::new(executed.receipts),
        });
        Ok(())
    }

    /// The safe and finalized marks a forkchoice update may set: each must be a canonical block
    /// (the head was just applied); a mark older than the one recorded is ignored (a replayed
    /// update never moves finality back). Zero leaves a mark unchanged.
    fn marks(&self, safe: B256, finalized: B256) -> Result<(B256, B256), String> {
        let check = |hash: B256, current: B256, what: &str| -> Result<B256, String> {
            if hash.is_zero() || hash == current {
                return Ok(B256::ZERO);
            }
            let number = self
                .reader
                .header_by_hash(&hash)
                .ok()
                .flatten()
                .map(|h| h.header.number)
                .filter(|n| self.reader.is_canonical(&hash, *n).unwrap_or(false))
                .ok_or_else(|| format!("{what} block {hash} is not on the head's chain"))?;
            let known = self
                .reader
                .header_by_hash(&current)
                .ok()
                .flatten()
                .map_or(0, |h| h.header.number);
            Ok(if number < known { B256::ZERO } else { hash })
        };
        Ok((
            check(safe, self.reader.safe_hash(), "safe")?,
            check(finalized, self.reader.finalized_hash(), "finalized")?,
        ))
    }

    /// After a failed write redb refuses every operation until its file is opened again: do that
    /// now, so the next attempt (the next forkchoice) can succeed once the cause is gone.
    async fn reopen_store(&self) {
        let store = self.reader.store.clone();
        let reopened = tokio::task::spawn_blocking(move || store.reopen(REOPEN_WAIT)).await;
        metrics::counter!(m::CHAIN_DB_REOPENS).increment(1);
        match reopened {
            Ok(Ok(())) => info!(target: "chain", "database reopened after a failed write"),
            Ok(Err(e)) => {
                warn!(target: "chain", error = %e, "database could not be reopened yet; retrying at the next forkchoice")
            }
            Err(e) => warn!(target: "chain", error = %e, "database reopen task failed"),
        }
    }
}

impl Actor for ChainActor {
    type Msg = ChainMsg;
    type State = ChainState;
    type Arguments = ChainArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<ChainMsg>,
        ChainArgs { reader, vitals }: ChainArgs,
    ) -> Result<ChainState, ActorProcessingErr> {
        metrics::gauge!(m::CHAIN_HEAD_NUMBER).set(reader.head().header.number as f64);
        Ok(ChainState {
            reader,
            vitals,
            executed: HashMap::new(),
            invalid: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        me: ActorRef<ChainMsg>,
        msg: ChainMsg,
        st: &mut ChainState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ChainMsg::Fault(f) => f.apply().await,
            ChainMsg::NewPayload(block, reply) => {
                let hash = block.hash;
                if st.executed.contains_key(&hash)
                    || st
                        .reader
                        .is_canonical(&hash, block.number())
                        .unwrap_or(false)
                {
                    let _ = reply.send(PayloadVerdict::Valid);
                    return Ok(());
                }
                if let Some(error) = st.invalid.get(&hash) {
                    let _ = reply.send(PayloadVerdict::Invalid {
                        latest_valid_hash: Some(block.header.parent_hash),
                        error: error.clone(),
                    });
                    return Ok(());
                }
                if let Some(error) = st.invalid.get(&block.header.parent_hash) {
                    let _ = reply.send(PayloadVerdict::Invalid {
                        latest_valid_hash: None,
                        error: format!("invalid ancestor: {error}"),
                    });
                    return Ok(());
                }
                let Some((parent, state)) = st.parent_of(&block) else {
                    debug!(target: "chain", %hash, "parent unknown: syncing");
                    let _ = reply.send(PayloadVerdict::Syncing);
                    return Ok(());
                };
                let parent_hash = block.header.parent_hash;
                let spec = st.reader.spec.clone();
                let provider = st.reader.provider(state);
                tokio::task::spawn_blocking(move || {
                    let started = Instant::now();
                    let result = execute_block(spec, &parent, provider, *block);
                    metrics::histogram!(m::CHAIN_EXECUTION_SECONDS)
                        .record(started.elapsed().as_secs_f64());
                    let _ = me.cast(ChainMsg::Executed(
                        hash,
                        parent_hash,
                        Box::new(result),
                        reply,
                    ));
                });
            }
            ChainMsg::Executed(hash, parent_hash, result, reply) => match *result {
                Ok(executed) => {
                    st.executed.insert(hash, executed);
                    let _ = reply.send(PayloadVerdict::Valid);
                }
                Err(error) => {
                    let error = error.to_string();
                    warn!(target: "chain", %hash, %error, "invalid payload");
                    metrics::counter!(m::CHAIN_INVALID_BLOCKS).increment(1);
                    st.invalid.insert(hash, error.clone());
                    let _ = reply.send(PayloadVerdict::Invalid {
                        latest_valid_hash: Some(parent_hash),
                        error,
                    });
                }
            },
            ChainMsg::Forkchoice {
                head,
                safe,
                finalized,
                reply,
            } => {
                let mut verdict = forkchoice(st, head).await;
                if matches!(verdict, ForkchoiceVerdict::Valid { .. }) {
                    let (safe, finalized) = match st.marks(safe, finalized) {
                        Ok(marks) => marks,
                        Err(e) => {
                            verdict = ForkchoiceVerdict::InvalidState(e);
                            (B256::ZERO, B256::ZERO)
                        }
                    };
                    st.reader.set_safe_finalized(safe, finalized);
                    let store = st.reader.store.clone();
                    let written = tokio::task::spawn_blocking(move || {
                        store.set_safe_finalized(safe, finalized)
                    })
                    .await;
                    // The head moved; the safe/finalized marks are written again with the next
                    // forkchoice, so a failure here only delays them.
                    if let Ok(Err(e)) = written {
                        warn!(target: "chain", error = %e, "could not record safe/finalized");
                    }
                }
                let _ = reply.send(verdict);
            }
            ChainMsg::Prevalidated(executed) => {
                let head = st.reader.head().header.number;
                if executed.block.number() > head {
                    st.executed.insert(executed.block.hash, *executed);
                }
            }
            ChainMsg::IsValid(hash, number, reply) => {
                let valid = st.executed.contains_key(&hash)
                    || st.reader.is_canonical(&hash, number).unwrap_or(false);
                let _ = reply.send(valid);
            }
        }
        Ok(())
    }
}

async fn forkchoice(st: &mut ChainState, head: B256) -> ForkchoiceVerdict {
    let current = st.reader.head();
    if head == current.hash {
        return ForkchoiceVerdict::Valid { head };
    }
    if let Some(error) = st.invalid.get(&head) {
        return ForkchoiceVerdict::Invalid {
            latest_valid_hash: None,
            error: error.clone(),
        };
    }
    // Walk back through executed blocks to the current head.
    let mut path = Vec::new();
    let mut cursor = head;
    while cursor != current.hash {
        match st.executed.get(&cursor) {
            Some(e) => {
                path.push(cursor);
                cursor = e.block.header.parent_hash;
            }
            None => break,
        }
    }
    if cursor == current.hash {
        if !st.reader.store.is_open() {
            st.reopen_store().await;
        }
        for hash in path.into_iter().rev() {
            let executed = st.executed.remove(&hash).expect("on the path");
            let number = executed.block.number();
            if let Err((kept, e)) = st.commit(executed).await {
                warn!(target: "chain", %hash, error = %e, "commit failed: the block is kept and committed when forkchoice names it again");
                st.vitals.commit_failed(e.to_string());
                if let Some(kept) = kept {
                    st.executed.insert(hash, kept);
                }
                let store = st.reader.store.clone();
                if tokio::task::spawn_blocking(move || store.needs_reopen())
                    .await
                    .unwrap_or(true)
                {
                    st.reopen_store().await;
                }
                return ForkchoiceVerdict::Syncing;
            }
            // Executed siblings at this height can no longer become canonical without a reorg.
            st.executed.retain(|_, e| e.block.number() > number);
        }
        return ForkchoiceVerdict::Valid { head };
    }
    // A canonical ancestor of the head: nothing to do (the spec allows skipping the update).
    if let Ok(Some(h)) = st.reader.header_by_hash(&head) {
        if st
            .reader
            .is_canonical(&head, h.header.number)
            .unwrap_or(false)
        {
            return ForkchoiceVerdict::Valid { head: current.hash };
        }
        warn!(target: "chain", %head, "forkchoice to a non-canonical stored block: reorgs are not supported");
    }
    ForkchoiceVerdict::Syncing
}

/// Typed access to the chain actor.
#[derive(Debug, Clone)]
pub(crate) struct ChainHandle {
    actor: crate::supervisor::ChildRef<ChainMsg>,
    /// Reads.
    pub reader: ChainReader,
    /// The node's vital signs (disk space for the pool's admission).
    pub vitals: Vitals,
}

/// The chain actor could not be reached or did not answer in time.
#[derive(Debug, Clone, thiserror::Error)]
#[error("chain actor unavailable: {0}")]
pub(crate) struct ChainUnavailable(#[from] pub ActorError);

const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl ChainHandle {
    /// A handle over the supervised actor's reference.
    pub(crate) fn new(
        actor: crate::supervisor::ChildRef<ChainMsg>,
        reader: ChainReader,
        vitals: Vitals,
    ) -> Self {
        Self {
            actor,
            reader,
            vitals,
        }
    }

    /// Hands over a block our builder executed, so `newPayload` for it is answered without
    /// executing it again.
    pub(crate) fn prevalidated(&self, executed: ExecutedBlock) {
        let _ = self.actor.cast(ChainMsg::Prevalidated(Box::new(executed)));
    }

    /// Whether a block is known valid (executed by us, or canonical).
    pub(crate) async fn is_valid(&self, hash: B256, number: u64) -> bool {
        self.actor
            .call(|r| ChainMsg::IsValid(hash, number, r), CALL_TIMEOUT)
            .await
            .unwrap_or(false)
    }

    /// `engine_newPayload`.
    pub(crate) async fn new_payload(
        &self,
        block: SealedBlock,
    ) -> Result<PayloadVerdict, ChainUnavailable> {
        self.actor
            .call(|r| ChainMsg::NewPayload(Box::new(block), r), CALL_TIMEOUT)
            .await
            .map_err(ChainUnavailable)
    }

    /// `engine_forkchoiceUpdated`.
    pub(crate) async fn forkchoice(
        &self,
        head: B256,
        safe: B256,
        finalized: B256,
    ) -> Result<ForkchoiceVerdict, ChainUnavailable> {
        self.actor
            .call(
                |reply| ChainMsg::Forkchoice {
                    head,
                    safe,
                    finalized,
                    reply,
                },
                CALL_TIMEOUT,
            )
            .await
            .map_err(ChainUnavailable)
    }

    /// The account state of an address at the head (for the mempool).
    pub(crate) fn head_account(&self, address: &Address) -> preconf_core::txpool::SenderState {
        sender_state(&self.reader.view().head_state, address)
    }
}
