//! The mempool actor: owns the [`TxPool`], validates incoming transactions against the head
//! state, hands the builder the best transactions, and prunes and re-validates on every new head.

use crate::{
    chain::{ChainHandle, sender_state},
    metrics as m,
    overlay::PendingView,
    supervisor::{ActorError, ChildRef, TaskGuard},
};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256};
use preconf_core::journal::Record;
use preconf_core::txpool::{PoolConfig, PoolError, PooledTx, TxPool};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::{broadcast, watch};
use tracing::debug;

/// The pool's transactions split into (pending, queued).
pub(crate) type PoolContent = (Vec<Arc<PooledTx>>, Vec<Arc<PooledTx>>);

/// Messages of the mempool actor.
#[derive(Debug)]
pub(crate) enum MempoolMsg {
    /// An injected fault (drills).
    Fault(crate::supervisor::Fault),
    /// Validate and add a transaction; replies with its hash or the reason it was refused.
    Add(Box<PooledTx>, RpcReplyPort<Result<B256, PoolError>>),
    /// The best executable transactions, in block order, at most `n`; senders in the map start
    /// at the nonce it gives.
    Best(
        usize,
        HashMap<Address, u64>,
        RpcReplyPort<Vec<Arc<PooledTx>>>,
    ),
    /// Remove transactions (included elsewhere).
    Remove(Vec<B256>),
    /// A new head: prune and re-validate.
    NewHead,
    /// (pending, queued) transactions.
    Content(RpcReplyPort<PoolContent>),
    /// A transaction by hash.
    Get(B256, RpcReplyPort<Option<Arc<PooledTx>>>),
    /// Blobs with their cell proofs by versioned hash (all or none).
    BlobsV2(
        Vec<B256>,
        RpcReplyPort<Option<Vec<alloy_eips::eip4844::BlobAndProofV2>>>,
    ),
    /// The next nonce of a sender counting pending transactions.
    NextNonce(alloy_primitives::Address, RpcReplyPort<Option<u64>>),
    /// Hand the pool's transactions to the journal writer if they changed.
    Journal,
}

crate::supervisor::faultable!(MempoolMsg);

/// The mempool actor.
#[derive(Debug, Clone)]
pub(crate) struct MempoolActor;

/// Arguments of the mempool actor.
#[derive(Debug, Clone)]
pub(crate) struct MempoolArgs {
    /// The chain (head state for validation, head events).
    pub chain: ChainHandle,
    /// Limits.
    pub config: PoolConfig,
    /// Where hashes of newly pending transactions are announced.
    pub announce: broadcast::Sender<B256>,
    /// The datadir holding the journals (see [`crate::journal`]): read back at start, the pool's
    /// rewritten once a second when the pool changed; `None` for none.
    pub journal: Option<std::path::PathBuf>,
    /// The preconfirmed state new transactions are checked against while it builds on the head
    /// (the head's state otherwise), so a balance received in a flashblock is spendable at once:
    /// the very block `pending` reads show, cleared with it.
    pub preconf: PendingView,
}

/// Why a transaction was not added.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MempoolError {
    /// The pool refused it (geth's message).
    #[error(transparent)]
    Refused(#[from] PoolError),
    /// The pool actor is not available.
    #[error("mempool unavailable: {0}")]
    Unavailable(#[from] ActorError),
}

/// State of the mempool actor.
#[derive(Debug)]
pub(crate) struct MempoolState {
    pool: TxPool,
    args: MempoolArgs,
    /// Aborted with the state.
    _forwarder: TaskGuard,
    sizes_published: Option<Instant>,
    /// The journal writer's input and tasks (writer, ticker), when journaling.
    journal: Option<(watch::Sender<Vec<Record>>, [TaskGuard; 2])>,
    /// Whether the pool changed since it was last journaled.
    changed: bool,
}

/// How often the pool's journal is rewritten (when the pool changed).
const JOURNAL_EVERY: Duration = Duration::from_secs(1);

/// How often the size gauges are refreshed while transactions stream in (counting walks the
/// whole pool, so it is not done for every transaction).
const SIZES_EVERY: Duration = Duration::from_millis(250);

impl MempoolState {
    /// Refreshes the size gauges: always when `now`, otherwise at most every [`SIZES_EVERY`].
    fn publish_sizes(&mut self, now: bool) {
        if !now
            && self
                .sizes_published
                .is_some_and(|t| t.elapsed() < SIZES_EVERY)
        {
            return;
        }
        self.sizes_published = Some(Instant::now());
        let (pending, queued) = self.pool.counts();
        metrics::gauge!(m::MEMPOOL_SIZE, "state" => "pending").set(pending as f64);
        metrics::gauge!(m::MEMPOOL_SIZE, "state" => "queued").set(queued as f64);
    }
}

impl Actor for MempoolActor {
    type Msg = MempoolMsg;
    type State = MempoolState;
    type Arguments = MempoolArgs;

    async fn pre_start(
        &self,
        me: ActorRef<MempoolMsg>,
        args: MempoolArgs,
    ) -> Result<MempoolState, ActorProcessingErr> {
        m::zero(m::MEMPOOL_REJECTED, "reason", PoolError::LABELS);
        let reader = &args.chain.reader;
        let head = reader.head().header;
        let mut pool = TxPool::new(
            args.config.clone(),
            reader.spec.chain_id(),
            reader.spec.next_base_fee(&head),
            head.gas_limit,
        );
        pool.set_tx_gas_cap(reader.spec.tx_gas_limit_cap(head.timestamp + 1));
        if let Some(datadir) = &args.journal {
            crate::journal::readmit(datadir, &args.chain, &mut pool);
        }
        let mut heads = reader.subscribe();
        let journal = args.journal.as_deref().map(|datadir| {
            let (input, writer) = crate::journal::pool_writer(crate::journal::pool_path(datadir));
            let me = me.clone();
            let ticker = TaskGuard::spawn(async move {
                let mut every = tokio::time::interval(JOURNAL_EVERY);
                loop {
                    every.tick().await;
                    if me.cast(MempoolMsg::Journal).is_err() {
                        break;
                    }
                }
            });
            (input, [writer, ticker])
        });
        let forwarder = TaskGuard::spawn(async move {
            // A lagged receiver still means "the head moved": re-validate once.
            while let Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) = heads.recv().await {
                if me.cast(MempoolMsg::NewHead).is_err() {
                    break;
                }
            }
        });
        Ok(MempoolState {
            pool,
            args,
            _forwarder: forwarder,
            sizes_published: None,
            journal,
            changed: true,
        })
    }

    async fn handle(
        &self,
        _me: ActorRef<MempoolMsg>,
        msg: MempoolMsg,
        st: &mut MempoolState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            MempoolMsg::Fault(f) => f.apply().await,
            MempoolMsg::Add(tx, reply) => {
                st.changed = true;
                let head = st.args.chain.reader.head_hash();
                let at_head = st.args.chain.head_account(&tx.sender());
                let account = match st.args.preconf.on(&head) {
                    Some(p) => sender_state(&p.state.snapshot, &tx.sender()),
                    None => at_head,
                };
                let vitals = &st.args.chain.vitals;
                let result = match vitals.disk_low() {
                    Some(free) => Err(PoolError::DiskLow {
                        free_mib: free / (1024 * 1024),
                        need_mib: vitals.min_free_bytes() / (1024 * 1024),
                    }),
                    None => st.pool.add_preconfirmed(*tx, at_head, account),
                };
                match &result {
                    Ok(added) => {
                        metrics::counter!(m::MEMPOOL_ADDED).increment(1);
                        metrics::counter!(m::MEMPOOL_DROPPED).increment(
                            added.evicted.len() as u64 + added.replaced.is_some() as u64,
                        );
                        if added.pending {
                            let _ = st.args.announce.send(added.hash);
                        }
                        debug!(target: "mempool", hash = %added.hash, pending = added.pending, "added");
                    }
                    Err(e) => {
                        metrics::counter!(m::MEMPOOL_REJECTED, "reason" => e.label()).increment(1);
                        debug!(target: "mempool", error = %e, "rejected");
                    }
                }
                let _ = reply.send(result.map(|a| a.hash));
                st.publish_sizes(false);
            }
            MempoolMsg::Best(n, after, reply) => {
                let _ = reply.send(st.pool.best_after(&after).take(n).collect());
            }
            MempoolMsg::Remove(hashes) => {
                st.changed = true;
                st.pool.remove(&hashes);
                st.publish_sizes(false);
            }
            MempoolMsg::NewHead => {
                st.changed = true;
                let reader = st.args.chain.reader.clone();
                let head = reader.head().header;
                let chain = st.args.chain.clone();
                st.pool
                    .set_tx_gas_cap(reader.spec.tx_gas_limit_cap(head.timestamp + 1));
                let dropped = st
                    .pool
                    .on_new_head(reader.spec.next_base_fee(&head), |a| chain.head_account(a));
                if !dropped.is_empty() {
                    metrics::counter!(m::MEMPOOL_DROPPED).increment(dropped.len() as u64);
                    debug!(target: "mempool", dropped = dropped.len(), number = head.number, "pruned on new head");
                }
                st.publish_sizes(true);
            }
            MempoolMsg::Content(reply) => {
                let _ = reply.send(st.pool.content());
            }
            MempoolMsg::Get(hash, reply) => {
                let _ = reply.send(st.pool.get(&hash));
            }
            MempoolMsg::BlobsV2(hashes, reply) => {
                let _ = reply.send(st.pool.blobs_v2(&hashes));
            }
            MempoolMsg::NextNonce(addr, reply) => {
                let _ = reply.send(st.pool.next_nonce(&addr));
            }
            MempoolMsg::Journal => {
                if let Some((input, _)) = &st.journal
                    && std::mem::take(&mut st.changed)
                {
                    let (pending, queued) = st.pool.content();
                    let records = pending
                        .iter()
                        .chain(&queued)
                        .map(|t| Record {
                            block: 0,
                            tx: t.tx.inner().encoded_2718().into(),
                        })
                        .collect();
                    let _ = input.send(records);
                }
            }
        }
        Ok(())
    }
}

/// Typed access to the mempool actor.
#[derive(Debug, Clone)]
pub(crate) struct MempoolHandle {
    actor: ChildRef<MempoolMsg>,
}

const TIMEOUT: Duration = Duration::from_secs(5);

impl MempoolHandle {
    /// A handle over the supervised actor's reference.
    pub(crate) fn new(actor: ChildRef<MempoolMsg>) -> Self {
        Self { actor }
    }

    /// Adds a transaction.
    pub(crate) async fn add(&self, tx: PooledTx) -> Result<B256, MempoolError> {
        Ok(self
            .actor
            .call(|r| MempoolMsg::Add(Box::new(tx), r), TIMEOUT)
            .await??)
    }

    /// The best `n` executable transactions.
    pub(crate) async fn best(&self, n: usize) -> Result<Vec<Arc<PooledTx>>, ActorError> {
        self.best_after(n, HashMap::new()).await
    }

    /// The best `n` executable transactions, each sender in `after` starting at that nonce
    /// (see [`TxPool::best_after`]).
    pub(crate) async fn best_after(
        &self,
        n: usize,
        after: HashMap<Address, u64>,
    ) -> Result<Vec<Arc<PooledTx>>, ActorError> {
        self.actor
            .call(|r| MempoolMsg::Best(n, after, r), TIMEOUT)
            .await
    }

    /// Removes transactions.
    pub(crate) fn remove(&self, hashes: Vec<B256>) {
        let _ = self.actor.cast(MempoolMsg::Remove(hashes));
    }

    /// (pending, queued).
    pub(crate) async fn content(&self) -> Result<PoolContent, ActorError> {
        self.actor.call(MempoolMsg::Content, TIMEOUT).await
    }

    /// A pooled transaction by hash.
    pub(crate) async fn get(&self, hash: B256) -> Result<Option<Arc<PooledTx>>, ActorError> {
        self.actor.call(|r| MempoolMsg::Get(hash, r), TIMEOUT).await
    }

    /// Blobs with their cell proofs by versioned hash (`None` when any is missing).
    pub(crate) async fn blobs_v2(
        &self,
        hashes: Vec<B256>,
    ) -> Result<Option<Vec<alloy_eips::eip4844::BlobAndProofV2>>, ActorError> {
        self.actor
            .call(|r| MempoolMsg::BlobsV2(hashes, r), TIMEOUT)
            .await
    }

    /// The sender's next nonce counting pending transactions.
    pub(crate) async fn next_nonce(
        &self,
        addr: alloy_primitives::Address,
    ) -> Result<Option<u64>, ActorError> {
        self.actor
            .call(|r| MempoolMsg::NextNonce(addr, r), TIMEOUT)
            .await
    }
}
