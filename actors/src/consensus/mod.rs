//! The devnet consensus: a stand-in for CometBFT and every validator's beacon-kit, devnet only.
//! It drives nodes over the standard Engine API (HTTP + JWT) and the sequencer over the payload
//! server, exactly as those would.
//!
//! - **Slot clock**: slots of `--block-time` anchored on the genesis timestamp; height H is
//!   proposed at the first slot boundary after H − 1 was committed.
//! - **Proposer**: validator `(H + r) mod N` proposes height H in round r.
//! - **Beacon block root** of height H decided in round r: `beacon_block_root(H, r)` (see
//!   `preconf_core::preconf`); it is block H + 1's `parent_beacon_block_root` and the
//!   `parent_block_root` its proposer asks the payload server for.
//! - **Proposer logic** (beacon-kit's): fetch the payload from the sequencer with the proposer's
//!   JWT (one POST, no retry), validate it with `newPayload` on the proposer's own execution node,
//!   and on any failure build locally there (`forkchoiceUpdated` with attributes +
//!   `getPayload`: the node's own plain builder, never the flashblock builder).
//! - **Round change**: a proposer whose node gives no block costs a round: the next validator
//!   proposes after a quarter slot, and the sequencer is re-pointed at it (a fresh build).
//! - **Commit**: `newPayload` + `forkchoiceUpdated` to every node; a node that was down is caught
//!   up from the recent blocks kept here. The slot waits for the validators' nodes only: the
//!   sequencer's node (unless it is a validator's) and the rpc nodes get the block from tasks of
//!   their own, so a frozen or slow one delays no slot.
//! - **Sequencer duties**: after each commit (once the sequencer's node has the block),
//!   `preconf_trackProposer` on the sequencer's Engine API tells it the next slot's proposer and
//!   the attributes it will use (how beacon-kit's sequencer learns CometBFT's next proposer); on
//!   every round ≥ 1 it is told again. The slot never waits for the answer.

mod engine_client;
mod fetch;

pub(crate) use engine_client::EngineTarget;
pub(crate) use fetch::FetchConfig;

use crate::{api::engine::BeraPayloadAttributes, metrics as m, supervisor::TaskGuard};
use alloy_primitives::{B256, keccak256};
use alloy_rpc_types_engine::PayloadAttributes;
use engine_client::{EngineCallError, NodeHead, Proposal};
use fetch::{FetchError, SequencerClient};
use preconf_core::{
    chainspec::{ChainSpec, EthereumHardforks as _},
    jwt::JwtSecret,
    preconf::{
        PayloadRequest, PayloadResponse, Validator, ValidatorPubkey, ValidatorSet,
        beacon_block_root,
    },
};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tracing::{debug, info, warn};

/// Recent blocks kept to catch up a node that was down, while one is behind.
const RECENT_BLOCKS: usize = 1024;
/// Recent blocks kept while every node is up (one that restarts may have lost its last few).
/// Blocks are large under load (a 1,000-transaction block is ~250 KB here), so keeping 1,024
/// all the time grew the process by ~250 MB over the first 34 minutes of a 500 tx/s run.
const RECENT_BLOCKS_ALL_UP: usize = 32;
/// Time the sequencer gets to answer `preconf_trackProposer`.
const TRACK_TIMEOUT: Duration = Duration::from_millis(500);

/// Every `outcome` of `preconf_proposer_fetch_total`.
const FETCH_OUTCOMES: &[&str] = &[
    "ok",
    "unavailable",
    "not_found",
    "validation_failed",
    "other",
];
/// Every `reason` of `preconf_proposer_fallback_total`.
const FALLBACK_REASONS: &[&str] = &[
    "sequencer_unavailable",
    "payload_not_found",
    "local_validation_failed",
    "other",
];

/// Validators made unresponsive by `admin_injectFault` (devnet drills): until the given time
/// their node "does not answer" the consensus, so their rounds end in a round change.
#[derive(Debug, Clone)]
pub(crate) struct ValidatorFaults {
    count: u64,
    until: Arc<Mutex<HashMap<u64, Instant>>>,
}

impl ValidatorFaults {
    /// No faults among `count` validators.
    pub(crate) fn new(count: u64) -> Self {
        Self {
            count,
            until: Arc::default(),
        }
    }

    /// Validator `index` stops answering for `d`; `Err(count)` when there is no such validator.
    pub(crate) fn stall(&self, index: u64, d: Duration) -> Result<(), u64> {
        if index >= self.count {
            return Err(self.count);
        }
        warn!(target: "consensus", validator = index, duration = ?d, "injected fault: the validator's node stops answering");
        self.until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(index, Instant::now() + d);
        Ok(())
    }

    fn stalled(&self, index: u64) -> bool {
        self.until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&index)
            .is_some_and(|t| Instant::now() < *t)
    }
}

/// One validator as the consensus drives it.
#[derive(Debug, Clone)]
pub(crate) struct ValidatorNode {
    /// Index, public key, fee recipient.
    pub validator: Validator,
    /// Its execution node.
    pub engine: EngineTarget,
    /// Its payload-server JWT secret.
    pub payload_jwt: JwtSecret,
}

/// How the consensus reaches the sequencer.
#[derive(Debug, Clone)]
pub(crate) struct SequencerLink {
    /// The sequencer node's Engine API (`preconf_trackProposer`).
    pub engine: EngineTarget,
    /// The payload server.
    pub fetch: FetchConfig,
}

/// Arguments of the consensus actor.
#[derive(Debug, Clone)]
pub(crate) struct ConsensusArgs {
    /// The chain (genesis timestamp, forks).
    pub spec: Arc<ChainSpec>,
    /// The validators, in index order.
    pub validators: Vec<ValidatorNode>,
    /// Other nodes that import every block (rpc nodes).
    pub followers: Vec<EngineTarget>,
    /// The sequencer, when there is one.
    pub sequencer: Option<SequencerLink>,
    /// Slot length.
    pub block_time: Duration,
    /// Injected validator faults.
    pub faults: ValidatorFaults,
}

/// Messages of the consensus actor.
#[derive(Debug)]
pub(crate) enum ConsensusMsg {
    /// An injected fault (drills).
    Fault(crate::supervisor::Fault),
    /// A slot boundary: propose and commit the next height.
    Slot,
}

crate::supervisor::faultable!(ConsensusMsg);

/// The consensus actor.
#[derive(Debug, Clone)]
pub(crate) struct ConsensusActor;

#[derive(Debug, Clone, Copy)]
struct Head {
    hash: B256,
    number: u64,
    timestamp: u64,
    beacon_root: B256,
    /// Who proposed it: the next block's PoL transaction distributes to this key (Prague1).
    proposer: ValidatorPubkey,
}

/// The next height and when (and with which timestamp) it is proposed.
#[derive(Debug, Clone, Copy)]
struct Plan {
    height: u64,
    at_ms: u64,
    timestamp: u64,
}

#[derive(Debug)]
struct NodeLink {
    target: EngineTarget,
    /// Missed a block: catch it up before the next one.
    behind: bool,
}

/// A node the slot does not wait for (the sequencer's, when it is no validator's, and the
/// followers): blocks reach it from a task of its own, so a frozen or slow one delays nothing.
#[derive(Debug)]
struct Detached {
    link: Arc<tokio::sync::Mutex<NodeLink>>,
    /// A block was skipped while it was busy with an earlier one: catch it up first.
    skipped: Arc<std::sync::atomic::AtomicBool>,
    /// It is the sequencer's: after taking the block it is told the next proposer.
    sequencer: bool,
}

/// `preconf_trackProposer` for a proposer, ready to send.
struct TrackCall {
    engine: EngineTarget,
    height: u64,
    round: u64,
    pubkey: ValidatorPubkey,
    parent: B256,
    attrs: BeraPayloadAttributes,
}

impl TrackCall {
    /// Sends it; the answer is only logged (a sequencer that does not take it builds nothing for
    /// the slot, and the proposer falls back).
    async fn send(self) {
        let (height, round) = (self.height, self.round);
        match self
            .engine
            .track(
                height,
                round,
                self.pubkey,
                self.parent,
                &self.attrs,
                TRACK_TIMEOUT,
            )
            .await
        {
            Ok(id) => {
                debug!(target: "consensus", height, round, payload = ?id, "sequencer tracking the proposer")
            }
            Err(e) => {
                debug!(target: "consensus", height, round, error = %e, "sequencer did not take the proposer")
            }
        }
    }
}

/// State of the consensus actor.
#[derive(Debug)]
pub(crate) struct ConsensusState {
    args: ConsensusArgs,
    set: ValidatorSet,
    head: Option<Head>,
    next: Option<Plan>,
    recent: VecDeque<Arc<Proposal>>,
    /// The validators' nodes: a block is committed once they took it.
    nodes: Vec<NodeLink>,
    detached: Vec<Detached>,
    /// Deliveries to detached nodes and track calls in flight.
    tasks: Vec<TaskGuard>,
    client: Option<SequencerClient>,
    last_commit: Option<Instant>,
}

/// Where a proposal came from: the sequencer (with the fetch and validation times) or a local
/// build.
type Source = Option<(Duration, Duration)>;

/// Why a round produced no block.
#[derive(Debug, thiserror::Error)]
enum ProposeError {
    #[error("the proposer's node did not answer: {0}")]
    Engine(#[from] EngineCallError),
    #[error("the proposer's node started no build: {0}")]
    NoBuild(String),
    #[error("the proposer's node did not answer within {0:?} (injected fault)")]
    Stalled(Duration),
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl ConsensusState {
    /// Timeout of one Engine API call to a proposer's node: half a slot (at least 200 ms), so
    /// a longer slot also gives a slower node, or a larger block, more time.
    fn el_timeout(&self) -> Duration {
        (self.args.block_time / 2).max(Duration::from_millis(200))
    }

    /// The first slot boundary after now for the height after `head`.
    fn plan(&self, head: &Head) -> Plan {
        let slot = self.args.block_time.as_millis().max(1) as u64;
        let genesis = self
            .args
            .spec
            .genesis_header()
            .timestamp
            .saturating_mul(1000);
        let now = now_ms();
        let at_ms = genesis + (now.saturating_sub(genesis) / slot + 1) * slot;
        Plan {
            height: head.number + 1,
            at_ms,
            timestamp: (at_ms / 1000).max(head.timestamp + 1),
        }
    }

    fn attributes(&self, head: &Head, plan: &Plan, round: u64) -> BeraPayloadAttributes {
        BeraPayloadAttributes {
            inner: PayloadAttributes {
                timestamp: plan.timestamp,
                prev_randao: keccak256(beacon_block_root(plan.height, round)),
                suggested_fee_recipient: self.set.proposer(plan.height, round).fee_recipient,
                withdrawals: Some(Vec::new()),
                parent_beacon_block_root: Some(head.beacon_root),
                slot_number: None,
                target_gas_limit: None,
            },
            parent_proposer_pub_key: self.parent_proposer(head, plan),
        }
    }

    /// From Prague1, the key the block after `head` names: `head`'s proposer.
    fn parent_proposer(&self, head: &Head, plan: &Plan) -> Option<ValidatorPubkey> {
        self.args
            .spec
            .prague1_at(plan.timestamp)
            .map(|_| head.proposer)
    }

    /// The highest head any validator's node reports.
    async fn find_head(&self) -> Result<Head, EngineCallError> {
        let mut best: Option<NodeHead> = None;
        let mut last_err = None;
        for node in &self.nodes {
            match node.target.head(self.el_timeout()).await {
                Ok(h) if best.is_none_or(|b| h.number > b.number) => best = Some(h),
                Ok(_) => {}
                Err(e) => last_err = Some(e),
            }
        }
        let Some(h) = best else {
            return Err(last_err.unwrap_or(EngineCallError::NoNodes));
        };
        let round = if h.number == 0 {
            0
        } else {
            self.set.round_of(h.number, h.fee_recipient).unwrap_or(0)
        };
        Ok(Head {
            hash: h.hash,
            number: h.number,
            timestamp: h.timestamp,
            beacon_root: beacon_block_root(h.number, round),
            proposer: self.set.proposer(h.number, round).pubkey,
        })
    }

    /// The call that points the sequencer at the proposer of (plan.height, round) with its
    /// attributes.
    fn track_call(&self, head: &Head, plan: &Plan, round: u64) -> Option<TrackCall> {
        let seq = self.args.sequencer.as_ref()?;
        Some(TrackCall {
            engine: seq.engine.clone(),
            height: plan.height,
            round,
            pubkey: self.set.proposer(plan.height, round).pubkey,
            parent: head.hash,
            attrs: self.attributes(head, plan, round),
        })
    }

    /// Points the sequencer at the proposer of (plan.height, round), without waiting for it.
    fn track(&mut self, head: &Head, plan: &Plan, round: u64) {
        if let Some(call) = self.track_call(head, plan, round) {
            self.tasks.push(TaskGuard::spawn(call.send()));
        }
    }

    /// After a commit: the detached nodes get the block from tasks of their own (a node still
    /// busy with an earlier one is caught up with the next), and the sequencer, once it has the
    /// block, is pointed at the next height's proposer. The slot waits for none of it.
    fn spread(&mut self, head: &Head, next: &Plan) {
        self.tasks.retain(|t| !t.is_finished());
        let Some(block) = self.recent.back().cloned() else {
            return;
        };
        let mut track = self.track_call(head, next, 0);
        let recent = Arc::new(self.recent.clone());
        let timeout = self.el_timeout();
        for d in &self.detached {
            let then = if d.sequencer { track.take() } else { None };
            let Ok(mut link) = d.link.clone().try_lock_owned() else {
                d.skipped.store(true, std::sync::atomic::Ordering::Relaxed);
                continue;
            };
            let (block, recent, skipped) = (block.clone(), recent.clone(), d.skipped.clone());
            self.tasks.push(TaskGuard::spawn(async move {
                if skipped.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    link.behind = true;
                }
                deliver(&mut link, &block, &recent, timeout).await;
                if let Some(call) = then {
                    call.send().await;
                }
            }));
        }
        // The sequencer is a validator's node (one process): it already has the block.
        if let Some(call) = track {
            self.tasks.push(TaskGuard::spawn(call.send()));
        }
    }

    /// The proposer logic of the validator proposing (plan.height, round).
    async fn propose(
        &self,
        head: &Head,
        plan: &Plan,
        round: u64,
    ) -> Result<(Proposal, Source), ProposeError> {
        let v = self.set.proposer(plan.height, round);
        if self.args.faults.stalled(v.index) {
            tokio::time::sleep(self.el_timeout()).await;
            return Err(ProposeError::Stalled(self.el_timeout()));
        }
        let node = &self.args.validators[v.index as usize];
        let prague = self.args.spec.is_prague_active_at_timestamp(plan.timestamp);
        if let Some(client) = &self.client {
            match self.fetch(client, node, head, plan, prague).await {
                Ok((p, times)) => return Ok((p, Some(times))),
                Err(reason) => {
                    metrics::counter!(m::PROPOSER_FALLBACK, "reason" => reason).increment(1);
                }
            }
        }
        let attrs = self.attributes(head, plan, round);
        let timeout = self.el_timeout();
        let p11 = attrs.parent_proposer_pub_key.is_some();
        let fcu = node
            .engine
            .forkchoice(head.hash, Some(&attrs), p11, timeout)
            .await?;
        let id = fcu
            .payload_id
            .ok_or_else(|| ProposeError::NoBuild(format!("{:?}", fcu.payload_status.status)))?;
        let version = crate::api::engine::payload_version(&self.args.spec, plan.timestamp);
        let env = node.engine.get_payload(id, version, p11, timeout).await?;
        metrics::counter!(m::PROPOSER_BLOCKS, "source" => "local").increment(1);
        let key = attrs.parent_proposer_pub_key;
        Ok((
            Proposal::from_envelope(env, head.beacon_root, prague, key),
            None,
        ))
    }

    /// Fetches and validates the sequencer's payload; on failure, the fallback reason.
    async fn fetch(
        &self,
        client: &SequencerClient,
        node: &ValidatorNode,
        head: &Head,
        plan: &Plan,
        prague: bool,
    ) -> Result<(Proposal, (Duration, Duration)), &'static str> {
        let who = node.validator.index;
        if !client.available() {
            return Err("sequencer_unavailable");
        }
        let request = PayloadRequest {
            slot: plan.height,
            parent_block_root: head.beacon_root,
        };
        let started = Instant::now();
        let fetched = client.fetch(&node.payload_jwt, &request).await;
        let fetch_time = started.elapsed();
        metrics::histogram!(m::PROPOSER_FETCH_SECONDS).record(fetch_time.as_secs_f64());
        let (outcome, reason) = match fetched {
            Ok(resp) => {
                let key = self.parent_proposer(head, plan);
                let p = proposal(resp, head.beacon_root, prague, key);
                let started = Instant::now();
                let status = node.engine.new_payload(&p, self.el_timeout()).await;
                let validate_time = started.elapsed();
                metrics::histogram!(m::PROPOSER_VALIDATE_SECONDS)
                    .record(validate_time.as_secs_f64());
                match status {
                    Ok(s) if s.status.is_valid() => {
                        metrics::counter!(m::PROPOSER_FETCH, "outcome" => "ok").increment(1);
                        metrics::counter!(m::PROPOSER_BLOCKS, "source" => "sequencer").increment(1);
                        return Ok((p, (fetch_time, validate_time)));
                    }
                    Ok(s) => {
                        warn!(target: "consensus", validator = who, height = plan.height, status = ?s.status, "sequencer payload failed validation: building locally");
                    }
                    Err(e) => {
                        warn!(target: "consensus", validator = who, height = plan.height, error = %e, "could not validate the sequencer payload: building locally");
                    }
                }
                ("validation_failed", "local_validation_failed")
            }
            Err(FetchError::Transport(_)) => ("unavailable", "sequencer_unavailable"),
            Err(FetchError::Status { status, message }) if status.as_u16() == 404 => {
                debug!(target: "consensus", validator = who, height = plan.height, %message, "no payload from the sequencer");
                ("not_found", "payload_not_found")
            }
            Err(e) => {
                warn!(target: "consensus", validator = who, height = plan.height, error = %e, "sequencer payload refused: building locally");
                ("other", "other")
            }
        };
        metrics::counter!(m::PROPOSER_FETCH, "outcome" => outcome).increment(1);
        Err(reason)
    }

    /// `newPayload` + `forkchoiceUpdated` to every node, then the block is the head.
    async fn commit(&mut self, p: Proposal, round: u64, source: Source) {
        let p = Arc::new(p);
        let timeout = self.el_timeout();
        let recent = &self.recent;
        futures::future::join_all(
            self.nodes
                .iter_mut()
                .map(|n| deliver(n, &p, recent, timeout)),
        )
        .await;
        let number = p.number();
        self.head = Some(Head {
            hash: p.hash(),
            number,
            timestamp: p.timestamp(),
            beacon_root: beacon_block_root(number, round),
            proposer: self.set.proposer(number, round).pubkey,
        });
        if let Some(last) = self.last_commit.replace(Instant::now()) {
            metrics::histogram!(m::CONSENSUS_SLOT_INTERVAL).record(last.elapsed().as_secs_f64());
        }
        metrics::gauge!(m::CONSENSUS_HEIGHT).set(number as f64);
        let txs = p.payload.payload_inner.payload_inner.transactions.len();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        match source {
            Some((fetch, validate)) => {
                info!(target: "consensus", number, round, hash = %p.hash(), txs, source = "sequencer", fetch_ms = ms(fetch), validate_ms = ms(validate), "committed")
            }
            None => {
                info!(target: "consensus", number, round, hash = %p.hash(), txs, source = "local", "committed")
            }
        }
        self.recent.push_back(p);
        let keep = if self.nodes.iter().any(|n| n.behind) {
            RECENT_BLOCKS
        } else {
            RECENT_BLOCKS_ALL_UP
        };
        while self.recent.len() > keep {
            self.recent.pop_front();
        }
    }

    /// One height: rounds until a proposer gives a block (at most one per validator).
    async fn height(&mut self, head: Head, plan: Plan) {
        let rounds = self.set.0.len() as u64;
        for round in 0..rounds {
            if round > 0 {
                metrics::counter!(m::CONSENSUS_ROUND_CHANGES).increment(1);
                self.track(&head, &plan, round);
                tokio::time::sleep(self.args.block_time / 4).await;
            }
            match self.propose(&head, &plan, round).await {
                Ok((p, source)) => {
                    self.commit(p, round, source).await;
                    return;
                }
                Err(e) => {
                    let v = self.set.proposer(plan.height, round).index;
                    warn!(target: "consensus", height = plan.height, round, validator = v, error = %e, "round change: the proposer gave no block");
                }
            }
        }
        warn!(target: "consensus", height = plan.height, "no validator gave a block this slot; trying again next slot");
    }
}

/// A fetched payload as a proposal.
fn proposal(
    resp: PayloadResponse,
    beacon_root: B256,
    prague: bool,
    parent_proposer_pubkey: Option<ValidatorPubkey>,
) -> Proposal {
    Proposal {
        versioned: engine_client::versioned_hashes(&resp.blobs_bundle),
        payload: resp.execution_payload,
        beacon_root,
        requests: prague.then(|| resp.execution_requests.unwrap_or_default()),
        parent_proposer_pubkey,
    }
}

/// Imports `p` into one node, first catching it up from `recent` when it missed blocks.
async fn deliver(
    node: &mut NodeLink,
    p: &Proposal,
    recent: &VecDeque<Arc<Proposal>>,
    timeout: Duration,
) {
    let result: Result<(), String> = async {
        if node.behind {
            let head = node.target.head(timeout).await.map_err(|e| e.to_string())?;
            for b in recent
                .iter()
                .filter(|b| b.number() > head.number && b.number() < p.number())
            {
                node.target
                    .new_payload(b, timeout)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        let status = node
            .target
            .new_payload(p, timeout)
            .await
            .map_err(|e| e.to_string())?;
        if !status.status.is_valid() {
            return Err(format!("newPayload: {:?}", status.status));
        }
        let fcu = node
            .target
            .forkchoice(p.hash(), None, p.parent_proposer_pubkey.is_some(), timeout)
            .await
            .map_err(|e| e.to_string())?;
        if !fcu.payload_status.status.is_valid() {
            return Err(format!(
                "forkchoiceUpdated: {:?}",
                fcu.payload_status.status
            ));
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            if node.behind {
                info!(target: "consensus", node = %node.target.name, number = p.number(), "node caught up");
            }
            node.behind = false;
        }
        Err(e) => {
            metrics::counter!(m::CONSENSUS_NODE_ERRORS, "node" => node.target.name.clone())
                .increment(1);
            if !node.behind {
                warn!(target: "consensus", node = %node.target.name, number = p.number(), error = %e, "node did not take the block; it will be caught up");
            }
            node.behind = true;
        }
    }
}

fn schedule(me: &ActorRef<ConsensusMsg>, at_ms: u64) {
    let delay = Duration::from_millis(at_ms.saturating_sub(now_ms()));
    me.send_after(delay, || ConsensusMsg::Slot);
}

impl Actor for ConsensusActor {
    type Msg = ConsensusMsg;
    type State = ConsensusState;
    type Arguments = ConsensusArgs;

    async fn pre_start(
        &self,
        me: ActorRef<ConsensusMsg>,
        args: ConsensusArgs,
    ) -> Result<ConsensusState, ActorProcessingErr> {
        m::zero(m::PROPOSER_FETCH, "outcome", FETCH_OUTCOMES);
        m::zero(m::PROPOSER_FALLBACK, "reason", FALLBACK_REASONS);
        m::zero(m::PROPOSER_BLOCKS, "source", &["sequencer", "local"]);
        metrics::counter!(m::CONSENSUS_ROUND_CHANGES).increment(0);
        let mut nodes: Vec<NodeLink> = Vec::new();
        let mut detached: Vec<Detached> = Vec::new();
        let link = |t: &EngineTarget| {
            metrics::counter!(m::CONSENSUS_NODE_ERRORS, "node" => t.name.clone()).increment(0);
            NodeLink {
                target: t.clone(),
                behind: false,
            }
        };
        // One link per node: a URL seen once (a validator's node that is also the sequencer's,
        // in one process) is not linked again.
        let mut seen = std::collections::HashSet::new();
        for t in args.validators.iter().map(|v| &v.engine) {
            if seen.insert(t.url.clone()) {
                nodes.push(link(t));
            }
        }
        let others = args
            .sequencer
            .iter()
            .map(|s| (&s.engine, true))
            .chain(args.followers.iter().map(|f| (f, false)));
        for (t, sequencer) in others {
            if seen.insert(t.url.clone()) {
                detached.push(Detached {
                    link: Arc::new(tokio::sync::Mutex::new(link(t))),
                    skipped: Default::default(),
                    sequencer,
                });
            }
        }
        let set = ValidatorSet(
            args.validators
                .iter()
                .map(|v| v.validator.clone())
                .collect(),
        );
        info!(target: "consensus", validators = set.0.len(), slot = ?args.block_time, sequencer = ?args.sequencer.as_ref().map(|s| &s.fetch.url), nodes = nodes.len(),
            "devnet consensus started: a stand-in for CometBFT and every validator's beacon-kit (proposer of height H in round r = validator (H + r) mod N)");
        me.send_message(ConsensusMsg::Slot)?;
        Ok(ConsensusState {
            client: args
                .sequencer
                .as_ref()
                .map(|s| SequencerClient::new(s.fetch.clone())),
            args,
            set,
            head: None,
            next: None,
            recent: VecDeque::new(),
            nodes,
            detached,
            tasks: Vec::new(),
            last_commit: None,
        })
    }

    async fn handle(
        &self,
        me: ActorRef<ConsensusMsg>,
        msg: ConsensusMsg,
        st: &mut ConsensusState,
    ) -> Result<(), ActorProcessingErr> {
        if let ConsensusMsg::Fault(f) = msg {
            f.apply().await;
            return Ok(());
        }
        let head = match st.head {
            Some(h) => h,
            None => match st.find_head().await {
                Ok(h) => h,
                Err(e) => {
                    warn!(target: "consensus", error = %e, "no node answers with its head; retrying next slot");
                    schedule(&me, now_ms() + st.args.block_time.as_millis() as u64);
                    return Ok(());
                }
            },
        };
        let plan = match st.next.take() {
            Some(p) if p.height == head.number + 1 => p,
            _ => {
                // First slot (or after a slot without a block): tell the sequencer now.
                let p = Plan {
                    at_ms: now_ms(),
                    ..st.plan(&head)
                };
                st.track(&head, &p, 0);
                p
            }
        };
        st.height(head, plan).await;
        let head = st.head.unwrap_or(head);
        let next = st.plan(&head);
        if next.height > plan.height {
            st.spread(&head, &next);
            st.next = Some(next);
        }
        schedule(&me, next.at_ms);
        Ok(())
    }
}
