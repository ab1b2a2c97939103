//! The payload builder actor, run twice on a sequencer. The node's own builder (`local-builder`,
//! every node): `engine_forkchoiceUpdated` with attributes starts a job for a payload id and
//! `engine_getPayload` builds the block from the mempool's best transactions on top of the job's
//! parent (off the actor's task) and returns it. The flashblock builder (`builder`, the sequencer
//! role): the proposer tracker starts a job that builds the block in slices on a schedule
//! (`super::flash`) and hands each slice to the sealer; the payload server's `getPayload` ends the
//! schedule and returns the block assembled from exactly those slices. A built payload is kept,
//! so repeated `getPayload` calls return the same block.

use crate::{
    chain::ChainHandle,
    exec_thread::ExecThreadError,
    mempool::MempoolHandle,
    metrics as m,
    sequencer::{SealerHandle, flash::Promises},
    supervisor::{ActorError, ChildRef, TaskGuard},
};
use alloy_consensus::transaction::Recovered;
use alloy_eips::eip7594::BlobTransactionSidecarVariant;
use alloy_primitives::{Address, B256, keccak256};
use alloy_rpc_types_engine::PayloadId;
use preconf_core::{
    chainspec::EthereumHardforks as _,
    execution::{BlockAttributes, BlockBuilder, BlockError, ExecutedBlock, next_header},
    primitives::Transaction,
    txpool::{PooledTx, encoded_len},
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// How many candidate transactions a build (or a flashblock slice) considers.
pub(super) const MAX_CANDIDATES: usize = 10_000;
/// How many payload jobs are remembered.
const MAX_JOBS: usize = 64;

/// A built payload: the executed block and the blob sidecars of its blob transactions.
#[derive(Debug, Clone)]
pub(crate) struct BuiltPayload {
    /// The block, executed.
    pub executed: ExecutedBlock,
    /// Sidecars of the blob transactions, in block order.
    pub sidecars: Vec<Arc<BlobTransactionSidecarVariant>>,
}

/// Why a payload could not be built.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum BuildError {
    /// The builder actor is not running (restarting or degraded).
    #[error("builder unavailable: {0}")]
    Unavailable(#[from] ActorError),
    /// The head moved after the job started.
    #[error("payload parent {parent} is no longer the head {head}")]
    StaleParent {
        /// The job's parent.
        parent: B256,
        /// The head now.
        head: B256,
    },
    /// Executing the block failed (top-of-block calls, sealing).
    #[error("block execution failed: {0}")]
    Block(Arc<BlockError>),
    /// The flashblock job's execution thread could not start.
    #[error("cannot start the execution thread: {0}")]
    Spawn(Arc<std::io::Error>),
    /// The flashblock job's execution thread failed.
    #[error(transparent)]
    Thread(#[from] ExecThreadError),
    /// The block being built is gone (its thread failed).
    #[error("the block being built was lost")]
    Lost,
    /// A rebuild of the same block (a new round's proposer) replaced this flashblock job.
    #[error("replaced by a rebuild of the same block")]
    Replaced,
}

impl From<BlockError> for BuildError {
    fn from(e: BlockError) -> Self {
        Self::Block(Arc::new(e))
    }
}

/// Derives the payload id from the parent and the attributes (the same inputs always give the
/// same id, as the Engine API expects).
pub(crate) fn payload_id(parent: &B256, attrs: &BlockAttributes) -> PayloadId {
    let mut buf = Vec::with_capacity(200);
    buf.extend_from_slice(parent.as_slice());
    buf.extend_from_slice(&attrs.timestamp.to_be_bytes());
    buf.extend_from_slice(attrs.prev_randao.as_slice());
    buf.extend_from_slice(attrs.fee_recipient.as_slice());
    for w in &attrs.withdrawals {
        buf.extend_from_slice(&w.index.to_be_bytes());
        buf.extend_from_slice(&w.validator_index.to_be_bytes());
        buf.extend_from_slice(w.address.as_slice());
        buf.extend_from_slice(&w.amount.to_be_bytes());
    }
    if let Some(r) = attrs.parent_beacon_block_root {
        buf.extend_from_slice(r.as_slice());
    }
    PayloadId::new(keccak256(&buf)[..8].try_into().expect("8 bytes"))
}

/// Messages of the builder actor.
#[derive(Debug)]
pub(crate) enum BuilderMsg {
    /// An injected fault (drills).
    Fault(crate::supervisor::Fault),
    /// Start a payload job.
    Start {
        /// Payload id.
        id: PayloadId,
        /// Parent block hash.
        parent: B256,
        /// What to build.
        attrs: Box<BlockAttributes>,
    },
    /// The payload of a job, built now if not yet built; `None` for an unknown id.
    Get(
        PayloadId,
        RpcReplyPort<Result<Option<Arc<BuiltPayload>>, BuildError>>,
    ),
    /// A job's build finished, a flashblock schedule or a whole-block build (sent by its task).
    Done(PayloadId, Box<Result<BuiltPayload, BuildError>>),
}

crate::supervisor::faultable!(BuilderMsg);

/// Flashblock settings of a sequencer's builder.
#[derive(Debug, Clone)]
pub(crate) struct FlashblockConfig {
    /// Time between flashblocks.
    pub interval: Duration,
    /// Length of a slot (the time between forkchoiceUpdated and getPayload).
    pub slot: Duration,
    /// Where slices go to be signed.
    pub sealer: SealerHandle,
    /// Newly pending transactions (the pool's announcements): with them a flashblock is sealed
    /// as soon as one arrives while the job is idle (`--flashblocks.early`).
    pub arrivals: Option<tokio::sync::broadcast::Sender<B256>>,
}

/// The builder actor.
#[derive(Debug, Clone)]
pub(crate) struct BuilderActor;

/// Arguments of the builder actor.
#[derive(Debug, Clone)]
pub(crate) struct BuilderArgs {
    /// The chain.
    pub chain: ChainHandle,
    /// The mempool.
    pub mempool: MempoolHandle,
    /// Build in flashblocks (the sequencer role).
    pub flashblocks: Option<FlashblockConfig>,
    /// The preconfirmed block this node holds on a parent: a whole-block build there (a
    /// proposer's fallback) starts with its transactions, in their order, so it honours what
    /// was preconfirmed.
    pub preconfirmed: Option<Preconfirmed>,
}

/// The user transactions (with their senders, in block order) of the preconfirmed block this
/// node holds on a parent, if any (the overlay's pending block, wired in by the node).
#[derive(Clone)]
pub(crate) struct Preconfirmed(pub Arc<PreconfirmedFn>);

/// Parent hash → the preconfirmed block's user transactions with their senders.
type PreconfirmedFn = dyn Fn(&B256) -> Option<Vec<(Transaction, Address)>> + Send + Sync;

impl std::fmt::Debug for Preconfirmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Preconfirmed")
    }
}

type Reply = RpcReplyPort<Result<Option<Arc<BuiltPayload>>, BuildError>>;

/// A build in progress: who waits for its block, and for a flashblock schedule how to end it.
#[derive(Debug)]
struct Running {
    stop: Option<watch::Sender<bool>>,
    waiters: Vec<Reply>,
    /// Aborted with the job (and with the actor's state).
    _task: TaskGuard,
}

#[derive(Debug)]
struct Job {
    parent: B256,
    attrs: BlockAttributes,
    built: Option<Arc<BuiltPayload>>,
    started: Instant,
    running: Option<Running>,
    /// What a flashblock job's flashblocks promised (a rebuild of its block starts with it).
    promises: Option<Promises>,
}

/// State of the builder actor.
#[derive(Debug)]
pub(crate) struct BuilderState {
    args: BuilderArgs,
    jobs: HashMap<PayloadId, Job>,
}

impl Actor for BuilderActor {
    type Msg = BuilderMsg;
    type State = BuilderState;
    type Arguments = BuilderArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<BuilderMsg>,
        args: BuilderArgs,
    ) -> Result<BuilderState, ActorProcessingErr> {
        m::zero(m::BUILDER_SKIPPED, "reason", &["not_head"]);
        Ok(BuilderState {
            args,
            jobs: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        me: ActorRef<BuilderMsg>,
        msg: BuilderMsg,
        st: &mut BuilderState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BuilderMsg::Fault(f) => f.apply().await,
            BuilderMsg::Start { id, parent, attrs } => {
                if st.jobs.contains_key(&id) {
                    return Ok(());
                }
                if st.jobs.len() >= MAX_JOBS
                    && let Some(oldest) = st
                        .jobs
                        .iter()
                        .min_by_key(|(_, j)| j.started)
                        .map(|(k, _)| *k)
                {
                    st.jobs.remove(&oldest);
                }
                let (running, promises) = match &st.args.flashblocks {
                    Some(cfg) => {
                        let prefix = end_flash_jobs(&mut st.jobs, parent);
                        if !prefix.is_empty() {
                            info!(target: "builder", %parent, preconfirmed = prefix.len(), "rebuild for a new round: keeping what was preconfirmed");
                        }
                        start_flash_job(&st.args, cfg, &me, id, parent, &attrs, prefix).unzip()
                    }
                    None => (None, None),
                };
                st.jobs.insert(
                    id,
                    Job {
                        parent,
                        attrs: *attrs,
                        built: None,
                        started: Instant::now(),
                        running,
                        promises,
                    },
                );
            }
            BuilderMsg::Done(id, result) => {
                let Some(job) = st.jobs.get_mut(&id) else {
                    return Ok(());
                };
                let waiters = job.running.take().map(|r| r.waiters).unwrap_or_default();
                let answer = match *result {
                    Ok(built) => {
                        let built = Arc::new(built);
                        metrics::counter!(m::BUILDER_BLOCKS_BUILT).increment(1);
                        let b = &built.executed.block;
                        info!(target: "builder", number = b.number(), txs = b.body.transactions.len(), gas_used = b.header.gas_used, flashblocks = st.args.flashblocks.is_some(), "built payload");
                        st.args.chain.prevalidated(built.executed.clone());
                        job.built = Some(built.clone());
                        Ok(Some(built))
                    }
                    Err(BuildError::Replaced) => Err(BuildError::Replaced),
                    Err(e) => {
                        warn!(target: "builder", error = %e, "build failed");
                        Err(e)
                    }
                };
                for w in waiters {
                    let _ = w.send(answer.clone());
                }
            }
            BuilderMsg::Get(id, reply) => {
                let Some(job) = st.jobs.get_mut(&id) else {
                    let _ = reply.send(Ok(None));
                    return Ok(());
                };
                if let Some(built) = &job.built {
                    let _ = reply.send(Ok(Some(built.clone())));
                    return Ok(());
                }
                if let Some(running) = &mut job.running {
                    if let Some(stop) = &running.stop {
                        let _ = stop.send(true);
                    }
                    running.waiters.push(reply);
                    return Ok(());
                }
                let head = st.args.chain.reader.head();
                if head.hash != job.parent {
                    let _ = reply.send(Err(BuildError::StaleParent {
                        parent: job.parent,
                        head: head.hash,
                    }));
                    return Ok(());
                }
                job.running = Some(Running {
                    stop: None,
                    waiters: vec![reply],
                    _task: start_build(&st.args, &me, id, job.parent, job.attrs.clone()),
                });
            }
        }
        Ok(())
    }
}

/// One stream at a time: a new flashblock job ends the others. A job for the same parent (a
/// rebuild for a new round), running or done, is ended without sealing anything more, and the new
/// one starts with what the latest of them promised (which holds what earlier ones promised);
/// jobs on another parent close their schedule.
fn end_flash_jobs(jobs: &mut HashMap<PayloadId, Job>, parent: B256) -> Vec<Arc<PooledTx>> {
    let mut latest: Option<(Instant, Vec<Arc<PooledTx>>)> = None;
    for job in jobs.values_mut() {
        match &job.promises {
            Some(p) if job.parent == parent => {
                let promised = p.end();
                if latest.as_ref().is_none_or(|(t, _)| job.started > *t) {
                    latest = Some((job.started, promised));
                }
            }
            _ => {
                if let Some(stop) = job.running.as_ref().and_then(|r| r.stop.as_ref()) {
                    let _ = stop.send(true);
                }
            }
        }
    }
    latest.map(|(_, promised)| promised).unwrap_or_default()
}

/// Starts the flashblock job of a payload when its parent is our head; otherwise says why not
/// (the block is then built at getPayload, without flashblocks).
fn start_flash_job(
    args: &BuilderArgs,
    cfg: &FlashblockConfig,
    me: &ActorRef<BuilderMsg>,
    id: PayloadId,
    parent: B256,
    attrs: &BlockAttributes,
    prefix: Vec<Arc<PooledTx>>,
) -> Option<(Running, Promises)> {
    let reader = &args.chain.reader;
    let head = reader.head();
    if head.hash != parent {
        metrics::counter!(m::BUILDER_SKIPPED, "reason" => "not_head").increment(1);
        warn!(target: "builder", %parent, head = %head.hash, "not building flashblocks: the payload's parent is not our head");
        return None;
    }
    let spec = reader.spec.clone();
    let header = next_header(&spec, &head.header, attrs);
    let withdrawals = spec
        .is_shanghai_active_at_timestamp(attrs.timestamp)
        .then(|| attrs.withdrawals.clone());
    let (stop, stop_rx) = watch::channel(false);
    let promises = Promises::default();
    let until_timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|now| Duration::from_secs(attrs.timestamp).checked_sub(now));
    let ticks = super::flash::schedule_ticks(cfg.slot, cfg.interval, until_timestamp);
    let job = super::flash::FlashJob {
        id,
        interval: cfg.interval,
        ticks,
        spec,
        provider: reader.head_state(),
        header,
        withdrawals,
        mempool: args.mempool.clone(),
        sealer: cfg.sealer.clone(),
        arrivals: cfg.arrivals.as_ref().map(|a| a.subscribe()),
        stop: stop_rx,
        promises: promises.clone(),
        prefix,
    };
    let me = me.clone();
    let task = TaskGuard::spawn(async move {
        let result = job.run().await;
        let _ = me.cast(BuilderMsg::Done(id, Box::new(result)));
    });
    Some((
        Running {
            stop: Some(stop),
            waiters: Vec::new(),
            _task: task,
        },
        promises,
    ))
}

/// Builds a whole block on the head from the pool's best transactions (no flashblocks): the pool
/// is asked from the task, not the actor's handler, and execution runs on a blocking thread.
fn start_build(
    args: &BuilderArgs,
    me: &ActorRef<BuilderMsg>,
    id: PayloadId,
    parent: B256,
    attrs: BlockAttributes,
) -> TaskGuard {
    let (reader, mempool, me) = (args.chain.reader.clone(), args.mempool.clone(), me.clone());
    let preconfirmed = args.preconfirmed.as_ref().and_then(|f| (f.0)(&parent));
    TaskGuard::spawn(async move {
        let pooled = mempool.best(MAX_CANDIDATES).await.unwrap_or_else(|e| {
            warn!(target: "builder", error = %e, "mempool unavailable: building from the preconfirmed block only");
            Vec::new()
        });
        let candidates = preconfirmed_first(preconfirmed, pooled);
        let (head, provider) = reader.head_with_state();
        if head.hash != parent {
            let stale = BuildError::StaleParent {
                parent,
                head: head.hash,
            };
            let _ = me.cast(BuilderMsg::Done(id, Box::new(Err(stale))));
            return;
        }
        let spec = reader.spec.clone();
        let result = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let header = next_header(&spec, &head.header, &attrs);
            let result = build(spec, provider, header, attrs, candidates, &mempool);
            metrics::histogram!(m::BUILDER_BUILD_SECONDS).record(started.elapsed().as_secs_f64());
            result
        })
        .await
        .unwrap_or(Err(BuildError::Lost));
        let _ = me.cast(BuilderMsg::Done(id, Box::new(result)));
    })
}

/// The build's candidates: the transactions of the preconfirmed block on the same parent first,
/// in the order they were preconfirmed (the pool's copy when it has one: it carries a blob
/// transaction's sidecar; a blob transaction the pool no longer has is left out, its blobs are
/// not here), then the pool's others in its order.
fn preconfirmed_first(
    preconfirmed: Option<Vec<(Transaction, Address)>>,
    pooled: Vec<Arc<PooledTx>>,
) -> Vec<Arc<PooledTx>> {
    let Some(preconfirmed) = preconfirmed else {
        return pooled;
    };
    let mut rest: HashMap<B256, Arc<PooledTx>> =
        pooled.iter().map(|t| (t.hash, t.clone())).collect();
    let mut out = Vec::with_capacity(pooled.len() + preconfirmed.len());
    for (tx, sender) in preconfirmed {
        let hash = *tx.tx_hash();
        match rest.remove(&hash) {
            Some(pooled) => out.push(pooled),
            None if tx.is_eip4844() => {}
            None => out.push(Arc::new(PooledTx {
                size: encoded_len(&tx),
                tx: Recovered::new_unchecked(tx, sender),
                hash,
                sidecar: None,
                seq: 0,
            })),
        }
    }
    if !out.is_empty() {
        debug!(target: "builder", preconfirmed = out.len(), "building on the preconfirmed transactions first");
    }
    out.extend(pooled.into_iter().filter(|t| rest.contains_key(&t.hash)));
    out
}

fn build(
    spec: Arc<preconf_core::chainspec::ChainSpec>,
    provider: preconf_core::state::SnapshotProvider,
    header: preconf_core::primitives::Header,
    attrs: BlockAttributes,
    candidates: Vec<Arc<PooledTx>>,
    mempool: &MempoolHandle,
) -> Result<BuiltPayload, BuildError> {
    let withdrawals = spec
        .is_shanghai_active_at_timestamp(attrs.timestamp)
        .then(|| attrs.withdrawals.clone());
    let mut builder = BlockBuilder::new(spec, provider, header, withdrawals)?;
    let gas_limit = builder.header().gas_limit;
    let done = super::flash::slice(&mut builder, Default::default(), candidates, gas_limit);
    if !done.invalid.is_empty() {
        mempool.remove(done.invalid);
    }
    let executed = builder.finish()?;
    Ok(BuiltPayload {
        executed,
        sidecars: done.included.sidecars,
    })
}

/// Typed access to the builder actor.
#[derive(Debug, Clone)]
pub(crate) struct BuilderHandle {
    actor: ChildRef<BuilderMsg>,
}

impl BuilderHandle {
    /// A handle over the supervised actor's reference.
    pub(crate) fn new(actor: ChildRef<BuilderMsg>) -> Self {
        Self { actor }
    }

    /// Starts a job; returns its id.
    pub(crate) fn start(
        &self,
        parent: B256,
        attrs: BlockAttributes,
    ) -> Result<PayloadId, BuildError> {
        let id = payload_id(&parent, &attrs);
        self.actor.cast(BuilderMsg::Start {
            id,
            parent,
            attrs: Box::new(attrs),
        })?;
        Ok(id)
    }

    /// Whether the actor runs (not restarting, not degraded).
    pub(crate) fn is_running(&self) -> bool {
        self.actor.is_running()
    }

    /// The payload of a job (`None` when unknown).
    pub(crate) async fn get(&self, id: PayloadId) -> Result<Option<Arc<BuiltPayload>>, BuildError> {
        self.actor
            .call(|r| BuilderMsg::Get(id, r), Duration::from_secs(10))
            .await?
    }
}
