//! The overlay actor (the rpc role): turns a sequencer's flashblocks into preconfirmed state.
//!
//! Flashblocks arrive as JSON text from the stream (`--flashblocks-url`), from
//! `preconf_newPartialBlock`, or in process from a local sequencer; all take the same path:
//!
//! 1. parse, then verify the signature against `--flashblocks.sequencer-address` — anything else
//!    is rejected and counted before any other work;
//! 2. order ([`ordering`], a pure function): index 0 must carry `base` and build on the local
//!    head; later indices must be contiguous within the same payload; duplicates are ignored;
//!    anything else (a gap, a wrong parent, an old block, an unknown payload) is refused without
//!    touching the pending state;
//!    a sequence for the block after a head we have not imported yet is parked and replayed when
//!    that head arrives;
//! 3. re-execute the transactions on the head state (with the same top-of-block calls) and
//!    publish one new [`PendingBlock`] atomically through the [`PendingView`].
//!
//! When a canonical block arrives, what was preconfirmed for its height is compared with its
//! transactions (honored or reorged, counted per transaction) and the pending state is cleared.

mod equivocation;
mod ordering;
pub(crate) mod pending;
mod stream;

pub(crate) use pending::{PendingBlock, PendingUpdate, PendingView};

use equivocation::{Contradiction, HeightLog};
pub(crate) use equivocation::{Evidence, EvidenceLog};
pub(crate) use ordering::OutOfOrder;
use ordering::{Arrival, Current, Parked, Verdict};

use crate::{
    chain::ChainReader,
    exec_thread::{ExecThread, ExecThreadError},
    metrics as m,
    sequencer::FlashblockText,
    supervisor::{ActorError, ChildRef, TaskGuard},
};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256};
use alloy_rpc_types_engine::PayloadId;
use preconf_core::{
    chainspec::EthereumHardforks as _,
    execution::{BlockAttributes, BlockBuilder, TxOutcome, next_header},
    flashblock::{Flashblock, SignatureError, signing_digest},
    primitives::{Body, SealedBlock, SenderCache, Transaction},
    state::SnapshotProvider,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::broadcast;
use tracing::{debug, info, warn};

/// Messages of the overlay.
#[derive(Debug)]
pub(crate) enum OverlayMsg {
    /// An injected fault (drills).
    Fault(crate::supervisor::Fault),
    /// A flashblock as received (JSON text); the reply, if any, says whether it was accepted.
    Flashblock(FlashblockText, Option<RpcReplyPort<Result<(), Reject>>>),
    /// A new canonical head.
    NewHead(Arc<SealedBlock>),
}

crate::supervisor::faultable!(OverlayMsg);

/// Arguments of the overlay.
#[derive(Debug, Clone)]
pub(crate) struct OverlayArgs {
    /// The chain (head, head state, spec).
    pub chain: ChainReader,
    /// The only address whose flashblocks are accepted.
    pub sequencer: Address,
    /// Where the preconfirmed state is published.
    pub view: PendingView,
    /// Flashblock streams to follow.
    pub urls: Vec<String>,
    /// A sequencer in the same process.
    pub local: Option<broadcast::Sender<FlashblockText>>,
}

/// Why a flashblock was not applied.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Reject {
    /// Not a flashblock (JSON that does not parse as one).
    #[error("not a flashblock: {0}")]
    Parse(String),
    /// The signature is missing, malformed or not the sequencer's.
    #[error(transparent)]
    Signature(SignatureError),
    /// Out of order ([`ordering`]).
    #[error(transparent)]
    Order(#[from] OutOfOrder),
    /// `base` does not follow the local head (base fee, timestamp) or its top-of-block calls fail.
    #[error("{0}")]
    BadBase(String),
    /// A transaction does not decode, recover or execute.
    #[error("invalid transaction {index}: {reason}")]
    InvalidTransaction {
        /// Position in the block.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The re-execution thread failed.
    #[error("overlay failure: {0}")]
    Thread(#[from] ExecThreadError),
    /// The block being preconfirmed is gone (its thread was replaced after a failure).
    #[error("overlay failure: the block being preconfirmed was lost")]
    Lost,
    /// Assembling the preconfirmed block failed.
    #[error("overlay failure: {0}")]
    Internal(String),
    /// The sequencer signed contradicting flashblocks for this block
    /// (`preconf_getEquivocationEvidence`): nothing more of it is applied.
    #[error("the sequencer equivocated on block {number}: {reason}")]
    Equivocation {
        /// The block.
        number: u64,
        /// What contradicts what.
        reason: String,
    },
}

/// Why `preconf_newPartialBlock` did not apply a flashblock.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum SubmitError {
    /// The overlay refused it.
    #[error("flashblock rejected: {0}")]
    Rejected(#[from] Reject),
    /// The overlay is not running.
    #[error("overlay unavailable: {0}")]
    Unavailable(#[from] ActorError),
}

impl Reject {
    fn reason(&self) -> &'static str {
        match self {
            Self::Parse(_) => "malformed",
            Self::Signature(e) => e.reason(),
            Self::Order(e) => e.reason(),
            Self::BadBase(_) => "bad_base",
            Self::InvalidTransaction { .. } => "invalid_transaction",
            Self::Thread(_) | Self::Lost | Self::Internal(_) => "internal",
            Self::Equivocation { .. } => "equivocation",
        }
    }
}

/// Every `reason` of the overlay's rejection counter: [`Reject::reason`]'s values, and the
/// stream-level ones (`lagged`: the in-process stream overran the overlay; `bad_frame`: a binary
/// frame that is not brotli JSON).
const REJECT_REASONS: &[&str] = &[
    "malformed",
    "wrong_signer",
    "missing_base",
    "bad_number",
    "stale",
    "wrong_parent",
    "unknown_payload",
    "gap",
    "after_last",
    "bad_base",
    "invalid_transaction",
    "internal",
    "equivocation",
    "lagged",
    "bad_frame",
];

/// What happened to an accepted flashblock.
enum Outcome {
    Applied,
    Duplicate,
    Parked,
}

/// The flashblocks of the block being preconfirmed.
struct Sequence {
    payload_id: PayloadId,
    number: u64,
    next_index: u64,
    finished: bool,
    block: Option<Arc<PendingBlock>>,
}

/// Most payloads remembered as replaced per block (a rebuild per round; rounds are few).
const MAX_SUPERSEDED: usize = 64;

/// State of the overlay.
pub(crate) struct OverlayState {
    args: OverlayArgs,
    seq: Option<Sequence>,
    parked: Vec<Arc<Flashblock>>,
    /// Every flashblock applied for the block being preconfirmed, to hold later ones to.
    height: Option<HeightLog>,
    /// A block the sequencer equivocated on: nothing more of it is applied.
    equivocated: Option<u64>,
    /// Preconfirmed transaction hashes by block number, until that block arrives.
    preconfirmed: BTreeMap<u64, Vec<B256>>,
    /// Transactions preconfirmed by a sequence the sequencer replaced (a rebuild for a new
    /// round's proposer), by block number: each must still be in that block.
    replaced: BTreeMap<u64, Vec<B256>>,
    /// Payloads replaced by a rebuild, by block number: their index 0 is refused from then on.
    superseded: BTreeMap<u64, Vec<PayloadId>>,
    /// Where the sequence's block is re-executed (it holds the block being preconfirmed).
    exec: ExecThread,
    /// Stream followers and the chain listener, aborted with the state.
    _tasks: Vec<TaskGuard>,
}

impl OverlayState {
    /// What was applied for block `number`, if that is the block being preconfirmed.
    fn height_log(&mut self, number: u64) -> Option<&mut HeightLog> {
        self.height.as_mut().filter(|h| h.number() == number)
    }

    fn clear(&mut self) {
        self.seq = None;
        self.args.view.clear();
        metrics::gauge!(m::OVERLAY_PENDING_INDEX).set(-1.0);
    }
}

/// The overlay actor.
#[derive(Debug, Clone)]
pub(crate) struct OverlayActor;

impl Actor for OverlayActor {
    type Msg = OverlayMsg;
    type State = OverlayState;
    type Arguments = OverlayArgs;

    async fn pre_start(
        &self,
        me: ActorRef<OverlayMsg>,
        args: OverlayArgs,
    ) -> Result<OverlayState, ActorProcessingErr> {
        m::zero(m::OVERLAY_REJECTED, "reason", REJECT_REASONS);
        m::zero(
            m::OVERLAY_SIGNATURE_FAILURES,
            "reason",
            SignatureError::REASONS,
        );
        m::zero(
            m::OVERLAY_FLASHBLOCKS,
            "outcome",
            &["applied", "duplicate", "parked", "rejected"],
        );
        m::zero(m::OVERLAY_EQUIVOCATIONS, "kind", equivocation::KINDS);
        m::zero(
            m::OVERLAY_STREAM_RECONNECTS,
            "reason",
            stream::RECONNECT_REASONS,
        );
        let mut tasks = Vec::new();
        let mut heads = args.chain.subscribe();
        let to_me = me.clone();
        tasks.push(TaskGuard::spawn(async move {
            loop {
                match heads.recv().await {
                    Ok(h) => {
                        if to_me.cast(OverlayMsg::NewHead(h.block)).is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }));
        if let Some(local) = &args.local {
            let mut rx = local.subscribe();
            let to_me = me.clone();
            tasks.push(TaskGuard::spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok(text) => {
                            if to_me.cast(OverlayMsg::Flashblock(text, None)).is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            metrics::counter!(m::OVERLAY_REJECTED, "reason" => "lagged")
                                .increment(n);
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            }));
        }
        let max_bytes = args.chain.spec.max_block_json_bytes();
        for url in &args.urls {
            tasks.push(TaskGuard::spawn(stream::follow(
                url.clone(),
                max_bytes,
                me.clone(),
            )));
        }
        info!(target: "overlay", sequencer = %args.sequencer, streams = args.urls.len(), "serving preconfirmed state");
        // A restarted overlay starts from nothing: the next index 0 rebuilds the pending state.
        args.view.clear();
        Ok(OverlayState {
            args,
            seq: None,
            parked: Vec::new(),
            height: None,
            equivocated: None,
            preconfirmed: BTreeMap::new(),
            replaced: BTreeMap::new(),
            superseded: BTreeMap::new(),
            exec: ExecThread::spawn("overlay")?,
            _tasks: tasks,
        })
    }

    async fn handle(
        &self,
        _me: ActorRef<OverlayMsg>,
        msg: OverlayMsg,
        st: &mut OverlayState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            OverlayMsg::Fault(f) => f.apply().await,
            OverlayMsg::Flashblock(text, reply) => {
                let result = match serde_json::from_str::<Flashblock>(text.as_str()) {
                    Ok(fb) => match fb.verify(st.args.chain.spec.chain_id(), st.args.sequencer) {
                        Ok(()) => accept(st, Arc::new(fb)).await,
                        Err(e) => {
                            metrics::counter!(m::OVERLAY_SIGNATURE_FAILURES, "reason" => e.reason())
                                .increment(1);
                            Err(Reject::Signature(e))
                        }
                    },
                    Err(e) => Err(Reject::Parse(e.to_string())),
                };
                let answer = match result {
                    Ok(outcome) => {
                        let label = match outcome {
                            Outcome::Applied => "applied",
                            Outcome::Duplicate => "duplicate",
                            Outcome::Parked => "parked",
                        };
                        metrics::counter!(m::OVERLAY_FLASHBLOCKS, "outcome" => label).increment(1);
                        Ok(())
                    }
                    Err(e) => {
                        metrics::counter!(m::OVERLAY_FLASHBLOCKS, "outcome" => "rejected")
                            .increment(1);
                        metrics::counter!(m::OVERLAY_REJECTED, "reason" => e.reason()).increment(1);
                        debug!(target: "overlay", error = %e, "flashblock rejected");
                        Err(e)
                    }
                };
                if let Some(r) = reply {
                    let _ = r.send(answer);
                }
            }
            OverlayMsg::NewHead(block) => on_new_head(st, block).await,
        }
        Ok(())
    }
}

/// Holds a verified flashblock to what the sequencer already signed for its block
/// ([`equivocation`]), orders it (see [`ordering`]) and applies it.
async fn accept(st: &mut OverlayState, fb: Arc<Flashblock>) -> Result<Outcome, Reject> {
    let number = fb.metadata.block_number;
    if st.equivocated == Some(number) {
        return Err(Reject::Equivocation {
            number,
            reason: "an earlier equivocation on this block".into(),
        });
    }
    let digest = signing_digest(st.args.chain.spec.chain_id(), &fb);
    if let Some(c) = st.height_log(number).and_then(|h| h.conflict(&fb, digest)) {
        return Err(equivocate(st, number, c));
    }
    let head = st.args.chain.head();
    let arrival = Arrival {
        payload_id: fb.payload_id,
        index: fb.index,
        base: fb
            .base
            .as_ref()
            .map(|b| (b.parent_hash, b.block_number.to::<u64>())),
        metadata_number: number,
        superseded: st
            .superseded
            .get(&number)
            .is_some_and(|ids| ids.contains(&fb.payload_id)),
    };
    let current = st.seq.as_ref().map(|s| Current {
        payload_id: s.payload_id,
        number: s.number,
        next_index: s.next_index,
        finished: s.finished,
    });
    let parked = st.parked.first().map(|p| Parked {
        payload_id: p.payload_id,
        len: st.parked.len(),
    });
    match ordering::order(arrival, (head.hash, head.header.number), current, parked) {
        Verdict::Duplicate => return Ok(Outcome::Duplicate),
        Verdict::ParkFirst => {
            st.parked = vec![fb];
            return Ok(Outcome::Parked);
        }
        Verdict::ParkNext => {
            st.parked.push(fb);
            return Ok(Outcome::Parked);
        }
        Verdict::Refuse(e @ OutOfOrder::UnknownPayload { .. }) => {
            // The replaced payload's next flashblock, arriving after its rebuild: the rebuild
            // must carry what it preconfirms.
            if let Some(h) = st.height_log(number) {
                match h.check_late(&fb, digest) {
                    Ok(true) => return Ok(Outcome::Duplicate),
                    Ok(false) => {}
                    Err(c) => return Err(equivocate(st, number, c)),
                }
            }
            return Err(e.into());
        }
        // A refusal touches nothing (see `ordering`): replays cannot switch preconfirmations off.
        Verdict::Refuse(e) => return Err(e.into()),
        Verdict::Start => {
            // A rebuild (another payload for a block already preconfirmed here) must start with
            // everything preconfirmed for it.
            if let Some(c) = st.height_log(number).and_then(|h| h.check_rebuild(&fb)) {
                return Err(equivocate(st, number, c));
            }
            if let Some(old) = st
                .seq
                .as_ref()
                .filter(|s| s.number == head.header.number + 1)
            {
                // The sequencer rebuilt this block (a round change): what the old sequence
                // preconfirmed is checked against the canonical block when it arrives.
                metrics::counter!(m::OVERLAY_SEQUENCES_REPLACED).increment(1);
                info!(target: "overlay", number = old.number, old = %old.payload_id, new = %fb.payload_id, "sequence replaced by a rebuild");
                let number = old.number;
                let ids = st.superseded.entry(number).or_default();
                if ids.len() < MAX_SUPERSEDED {
                    ids.push(old.payload_id);
                }
                if let Some(txs) = st.preconfirmed.remove(&number) {
                    st.replaced.entry(number).or_default().extend(txs);
                }
            }
            start_sequence(st, &fb).await.inspect_err(|_| st.clear())?;
            if st.height.as_ref().is_none_or(|h| h.number() != number) {
                st.height = Some(HeightLog::new(number));
            }
        }
        Verdict::Next => {}
    }
    apply(st, fb.clone()).await.inspect_err(|_| st.clear())?;
    if let Some(h) = st.height_log(number) {
        h.applied(fb, digest);
    }
    Ok(Outcome::Applied)
}

/// The sequencer signed two flashblocks for block `number` that contradict each other: the pair
/// is kept as evidence, counted, and the sequencer's state for the block is no longer served.
fn equivocate(st: &mut OverlayState, number: u64, c: Contradiction) -> Reject {
    metrics::counter!(m::OVERLAY_EQUIVOCATIONS, "kind" => c.kind).increment(1);
    warn!(target: "overlay", number, kind = c.kind, reason = %c.reason, "the sequencer equivocated: its preconfirmations for this block are no longer served (preconf_getEquivocationEvidence)");
    let reason = c.reason.clone();
    st.args.view.evidence.add(number, c);
    st.equivocated = Some(number);
    if st.seq.as_ref().is_some_and(|s| s.number == number) {
        st.clear();
    }
    st.parked.retain(|p| p.metadata.block_number != number);
    Reject::Equivocation { number, reason }
}

/// Starts the sequence of a new payload on the head: the block's header from `base`, the
/// top-of-block system calls applied.
async fn start_sequence(st: &mut OverlayState, fb: &Flashblock) -> Result<(), Reject> {
    let base = fb
        .base
        .as_ref()
        .ok_or(Reject::Order(OutOfOrder::MissingBase))?;
    let reader = &st.args.chain;
    let head = reader.head();
    let spec = reader.spec.clone();
    let attrs = BlockAttributes {
        timestamp: base.timestamp.to(),
        fee_recipient: base.fee_recipient,
        prev_randao: base.prev_randao,
        withdrawals: fb.diff.withdrawals.clone(),
        parent_beacon_block_root: Some(base.parent_beacon_block_root),
        gas_limit: base.gas_limit.to(),
        extra_data: base.extra_data.clone(),
        prev_proposer_pubkey: base.prev_proposer_pubkey,
    };
    let header = next_header(&spec, &head.header, &attrs);
    if header.base_fee_per_gas.map(alloy_primitives::U256::from) != Some(base.base_fee_per_gas) {
        return Err(Reject::BadBase(format!(
            "base fee {} does not follow the parent (expected {:?})",
            base.base_fee_per_gas, header.base_fee_per_gas
        )));
    }
    if header.timestamp <= head.header.timestamp {
        return Err(Reject::BadBase("timestamp not after the parent's".into()));
    }
    let withdrawals = spec
        .is_shanghai_active_at_timestamp(attrs.timestamp)
        .then(|| attrs.withdrawals.clone());
    let provider = reader.head_state();
    st.exec
        .run(move |slot| {
            *slot = None;
            BlockBuilder::new(spec, provider, header, withdrawals).map(|b| *slot = Some(b))
        })
        .await?
        .map_err(|e| Reject::BadBase(e.to_string()))?;
    st.seq = Some(Sequence {
        payload_id: fb.payload_id,
        number: base.block_number.to(),
        next_index: 0,
        finished: false,
        block: None,
    });
    Ok(())
}

/// Re-executes a flashblock's transactions and publishes the new pending block.
async fn apply(st: &mut OverlayState, fb: Arc<Flashblock>) -> Result<(), Reject> {
    let started = Instant::now();
    let seq = st.seq.as_mut().ok_or(Reject::Lost)?;
    let prev = seq.block.clone();
    let chain = st.args.chain.head_state().chain;
    let senders = st.args.chain.senders.clone();
    let job = fb.clone();
    let result = st
        .exec
        .run(move |slot| match slot.as_mut() {
            Some(builder) => execute(builder, &job, prev.as_deref(), chain, &senders),
            None => Err(Reject::Lost),
        })
        .await;
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            // The thread died (a panic in execution): start a fresh one.
            if let Ok(fresh) = ExecThread::spawn("overlay") {
                st.exec = fresh;
            }
            Err(Reject::Thread(e))
        }
    };
    let (block, first_new) = result?;
    let block = Arc::new(block);
    let seq = st.seq.as_mut().ok_or(Reject::Lost)?;
    seq.block = Some(block.clone());
    seq.next_index = fb.index + 1;
    seq.finished = fb.is_last;
    // What users were promised: their transactions (the PoL transaction is the block's own).
    st.preconfirmed.insert(
        seq.number,
        user_transactions(&block.block)
            .map(|t| *t.tx_hash())
            .collect(),
    );
    metrics::histogram!(m::OVERLAY_APPLY_SECONDS).record(started.elapsed().as_secs_f64());
    if let Some(secs) = fb.metadata.since_sealed_secs() {
        metrics::histogram!(m::OVERLAY_SEAL_TO_APPLIED_SECONDS).record(secs);
    }
    metrics::gauge!(m::OVERLAY_PENDING_NUMBER).set(seq.number as f64);
    metrics::gauge!(m::OVERLAY_PENDING_INDEX).set(fb.index as f64);
    debug!(target: "overlay", number = seq.number, index = fb.index, txs = block.block.body.transactions.len() - first_new, "flashblock applied");
    st.args.view.publish(PendingUpdate {
        block,
        first_new,
        flashblock: fb,
    });
    Ok(())
}

/// Decodes, recovers (a sender this node already recovered, for example of a transaction it
/// received over RPC, comes from the cache) and executes a flashblock's transactions; assembles
/// the pending block.
fn execute(
    builder: &mut BlockBuilder,
    fb: &Flashblock,
    prev: Option<&PendingBlock>,
    chain: Arc<dyn preconf_core::state::ChainData>,
    senders: &SenderCache,
) -> Result<(PendingBlock, usize), Reject> {
    let before = builder.transactions().len();
    // The first flashblock's block starts with what the builder put there itself (from Prague1
    // the PoL transaction, re-created from `base`): new too.
    let first_new = if prev.is_none() { 0 } else { before };
    for (i, raw) in fb.diff.transactions.iter().enumerate() {
        let index = before + i;
        let invalid = |reason: String| Reject::InvalidTransaction { index, reason };
        let mut buf = raw.as_ref();
        let tx = Transaction::decode_2718(&mut buf).map_err(|e| invalid(e.to_string()))?;
        if !buf.is_empty() {
            return Err(invalid("trailing bytes".into()));
        }
        let sender = senders
            .recover(&tx)
            .map_err(|_| invalid("signature does not recover".into()))?;
        match builder.execute(alloy_consensus::transaction::Recovered::new_unchecked(
            tx, sender,
        )) {
            TxOutcome::Included { .. } => {}
            TxOutcome::DoesNotFit => return Err(invalid("exceeds the block's gas".into())),
            TxOutcome::NotYet(reason) | TxOutcome::Invalid(reason) => {
                return Err(invalid(reason));
            }
        }
    }
    let (snapshot, code) = builder.pending_state();
    let header = builder
        .partial_header(&snapshot)
        .map_err(|e| Reject::Internal(e.to_string()))?;
    let receipts = builder.receipts().to_vec();
    let transactions = builder.transactions().to_vec();
    let mut tx_index = prev.map(|p| p.tx_index.clone()).unwrap_or_default();
    for (i, tx) in transactions.iter().enumerate().skip(first_new) {
        tx_index.insert(*tx.tx_hash(), i);
    }
    let withdrawals = prev
        .and_then(|p| p.block.body.withdrawals.clone())
        .unwrap_or_else(|| fb.diff.withdrawals.clone().into());
    let block = Arc::new(SealedBlock::new(
        header,
        Body {
            transactions,
            ommers: Vec::new(),
            withdrawals: Some(withdrawals),
        },
        builder.senders().to_vec(),
    ));
    let state = SnapshotProvider {
        snapshot,
        chain,
        extra_code: Arc::new(code),
    };
    Ok((
        PendingBlock {
            payload_id: fb.payload_id,
            index: fb.index,
            block,
            receipts,
            tx_index,
            state,
        },
        first_new,
    ))
}

/// A block's transactions sent by users (all but the PoL transaction), in order.
fn user_transactions(block: &SealedBlock) -> impl Iterator<Item = &Transaction> {
    block
        .body
        .transactions
        .iter()
        .filter_map(|t| t.as_ethereum())
}

/// A canonical block arrived: account for what was preconfirmed at its height, clear the pending
/// state, and replay flashblocks parked for the block after it.
async fn on_new_head(st: &mut OverlayState, block: Arc<SealedBlock>) {
    let number = block.number();
    if let Some(preconfirmed) = st.preconfirmed.remove(&number) {
        let honored = preconfirmed
            .iter()
            .zip(user_transactions(&block))
            .filter(|(p, tx)| *p == tx.tx_hash())
            .count();
        let reorged = preconfirmed.len() - honored;
        metrics::counter!(m::OVERLAY_PRECONF_HONORED).increment(honored as u64);
        if reorged > 0 {
            metrics::counter!(m::OVERLAY_PRECONF_REORGED).increment(reorged as u64);
            warn!(target: "overlay", number, honored, reorged, "block differs from what was preconfirmed");
        }
    }
    if let Some(promised) = st.replaced.remove(&number) {
        let included: std::collections::HashSet<B256> = block
            .body
            .transactions
            .iter()
            .map(|t| *t.tx_hash())
            .collect();
        let lost = promised.iter().filter(|h| !included.contains(*h)).count();
        if lost > 0 {
            metrics::counter!(m::OVERLAY_PRECONF_REORGED).increment(lost as u64);
            warn!(target: "overlay", number, lost, "transactions preconfirmed before a rebuild are not in the block");
        }
    }
    st.preconfirmed.retain(|n, _| *n > number);
    st.replaced.retain(|n, _| *n > number);
    st.superseded.retain(|n, _| *n > number);
    if st.height.as_ref().is_some_and(|h| h.number() <= number) {
        st.height = None;
    }
    if st.equivocated.is_some_and(|n| n <= number) {
        st.equivocated = None;
    }
    if st.seq.as_ref().is_some_and(|s| s.number <= number) {
        st.clear();
    }
    let parked = std::mem::take(&mut st.parked);
    let Some(first) = parked.first() else {
        return;
    };
    if first.base.as_ref().map(|b| b.parent_hash) != Some(block.hash) {
        if first.metadata.block_number > number + 1 {
            st.parked = parked;
        }
        return;
    }
    for fb in parked {
        if let Err(e) = accept(st, fb).await {
            metrics::counter!(m::OVERLAY_REJECTED, "reason" => e.reason()).increment(1);
            debug!(target: "overlay", error = %e, "parked flashblock rejected");
            break;
        }
    }
}

/// Typed access to the overlay.
#[derive(Debug, Clone)]
pub(crate) struct OverlayHandle {
    actor: ChildRef<OverlayMsg>,
}

impl OverlayHandle {
    /// A handle over the supervised actor's reference.
    pub(crate) fn new(actor: ChildRef<OverlayMsg>) -> Self {
        Self { actor }
    }

    /// Hands a flashblock (JSON text) to the overlay and waits for the verdict.
    pub(crate) async fn submit(&self, text: FlashblockText) -> Result<(), SubmitError> {
        Ok(self
            .actor
            .call(
                |r| OverlayMsg::Flashblock(text, Some(r)),
                Duration::from_secs(5),
            )
            .await??)
    }
}
