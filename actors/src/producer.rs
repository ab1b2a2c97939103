//! The devnet's block production: a stand-in for a consensus client that drives the node over
//! the real Engine API (HTTP + JWT) every slot — `engine_forkchoiceUpdatedV3` with attributes at
//! the start of a slot, then at the next tick `engine_getPayloadV4` → `engine_newPayloadV4` →
//! `engine_forkchoiceUpdatedV3` for the new head (with the next slot's attributes). A slot whose
//! calls fail is counted as missed; the next slot tries again.
//!
//! Engine peers (`--devnet.engine-peer`) are other nodes that follow the devnet as a consensus
//! client would make them: every new block goes to them by `engine_newPayloadV4` then
//! `engine_forkchoiceUpdatedV3`, in order, from one task per peer, so a slow peer never delays a
//! slot.

use crate::metrics as m;
use alloy_primitives::{Address, B256, Bytes, keccak256};
use alloy_rpc_types_engine::{
    ExecutionPayloadEnvelopeV4, ForkchoiceState, ForkchoiceUpdated, PayloadAttributes, PayloadId,
    PayloadStatus,
};
use jsonrpsee::{
    core::client::ClientT,
    http_client::{HeaderMap, HeaderValue, HttpClient, HttpClientBuilder},
    rpc_params,
};
use preconf_core::jwt::JwtSecret;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::{debug, warn};

/// Arguments of the devnet producer.
#[derive(Debug, Clone)]
pub(crate) struct ProducerArgs {
    /// Engine API URL.
    pub engine_url: String,
    /// Engine API secret.
    pub jwt: JwtSecret,
    /// Slot length.
    pub block_time: Duration,
    /// Fee recipient of produced blocks.
    pub fee_recipient: Address,
    /// Other nodes to import every block into: (Engine API URL, JWT secret).
    pub peers: Vec<(String, JwtSecret)>,
}

/// A block for the engine peers: the payload and the newPayload side parameters.
#[derive(Debug, Clone)]
struct PeerBlock {
    payload: serde_json::Value,
    versioned: Vec<B256>,
    beacon_root: B256,
    requests: Vec<Bytes>,
    hash: B256,
}

/// Producer messages.
#[derive(Debug)]
pub(crate) enum ProducerMsg {
    /// A slot boundary.
    Tick,
}

/// The devnet producer actor.
#[derive(Debug, Clone)]
pub(crate) struct ProducerActor;

/// Producer state.
#[derive(Debug)]
pub(crate) struct ProducerState {
    args: ProducerArgs,
    head: Option<(B256, u64)>,
    pending: Option<PayloadId>,
    timer: tokio::task::JoinHandle<()>,
    peers: Vec<(
        tokio::sync::mpsc::Sender<PeerBlock>,
        tokio::task::JoinHandle<()>,
    )>,
}

/// Why a slot (or a peer import) failed.
#[derive(Debug, thiserror::Error)]
enum ProducerError {
    #[error(transparent)]
    Rpc(#[from] jsonrpsee::core::ClientError),
    #[error("invalid authorization header: {0}")]
    Header(#[from] warp::http::header::InvalidHeaderValue),
    #[error("unexpected response: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{what} not valid: {status:?}")]
    NotValid {
        what: &'static str,
        status: alloy_rpc_types_engine::PayloadStatusEnum,
    },
}

fn client(url: &str, jwt: &JwtSecret) -> Result<HttpClient, ProducerError> {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {}", jwt.token()))?;
    headers.insert("authorization", value);
    Ok(HttpClientBuilder::default()
        .set_headers(headers)
        .request_timeout(Duration::from_secs(10))
        .build(url)?)
}

/// Imports blocks into one engine peer, in order.
async fn follow_peer(
    url: String,
    jwt: JwtSecret,
    mut blocks: tokio::sync::mpsc::Receiver<PeerBlock>,
) {
    while let Some(b) = blocks.recv().await {
        let result: Result<(), ProducerError> = async {
            let c = client(&url, &jwt)?;
            let status: PayloadStatus = c
                .request(
                    "engine_newPayloadV4",
                    rpc_params![b.payload, b.versioned, b.beacon_root, b.requests],
                )
                .await?;
            if status.status.is_invalid() {
                return Err(ProducerError::NotValid {
                    what: "block",
                    status: status.status,
                });
            }
            let state = ForkchoiceState {
                head_block_hash: b.hash,
                safe_block_hash: b.hash,
                finalized_block_hash: b.hash,
            };
            let _: ForkchoiceUpdated = c
                .request("engine_forkchoiceUpdatedV3", rpc_params![state])
                .await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            metrics::counter!(m::DEVNET_PEER_ERRORS).increment(1);
            warn!(target: "devnet", peer = %url, error = %e, "engine peer did not take the block");
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The stand-in beacon block root of a block built on `parent` (there is no beacon chain here;
/// it only has to be the same in the attributes and in `newPayload`).
fn beacon_root(parent: B256) -> B256 {
    keccak256([parent.as_slice(), b"beacon"].concat())
}

impl ProducerState {
    fn attributes(&self, parent: B256, parent_ts: u64) -> PayloadAttributes {
        PayloadAttributes {
            timestamp: now().max(parent_ts + 1),
            prev_randao: keccak256(parent),
            suggested_fee_recipient: self.args.fee_recipient,
            withdrawals: Some(Vec::new()),
            parent_beacon_block_root: Some(beacon_root(parent)),
            slot_number: None,
            target_gas_limit: None,
        }
    }

    async fn slot(&mut self) -> Result<(), ProducerError> {
        let c = client(&self.args.engine_url, &self.args.jwt)?;
        let (head, head_ts) = match self.head {
            Some(h) => h,
            None => {
                let block: serde_json::Value = c
                    .request("eth_getBlockByNumber", rpc_params!["latest", false])
                    .await?;
                let hash: B256 = serde_json::from_value(block["hash"].clone())?;
                let ts = u64::from_str_radix(
                    block["timestamp"]
                        .as_str()
                        .unwrap_or("0x0")
                        .trim_start_matches("0x"),
                    16,
                )
                .unwrap_or(0);
                (hash, ts)
            }
        };
        let mut new_head = (head, head_ts);
        if let Some(id) = self.pending.take() {
            let env: ExecutionPayloadEnvelopeV4 =
                c.request("engine_getPayloadV4", rpc_params![id]).await?;
            let payload = env.envelope_inner.execution_payload;
            let hash = payload.payload_inner.payload_inner.block_hash;
            let ts = payload.payload_inner.payload_inner.timestamp;
            let versioned: Vec<B256> = env
                .envelope_inner
                .blobs_bundle
                .commitments
                .iter()
                .map(|c| alloy_eips::eip4844::kzg_to_versioned_hash(c.as_slice()))
                .collect();
            let root = beacon_root(head);
            let requests: Vec<Bytes> = env.execution_requests.take();
            let payload_json = serde_json::to_value(&payload)?;
            let status: PayloadStatus = c
                .request(
                    "engine_newPayloadV4",
                    rpc_params![&payload_json, &versioned, root, &requests],
                )
                .await?;
            if !status.status.is_valid() {
                return Err(ProducerError::NotValid {
                    what: "own payload",
                    status: status.status,
                });
            }
            let block = PeerBlock {
                payload: payload_json,
                versioned,
                beacon_root: root,
                requests,
                hash,
            };
            for (peer, _) in &self.peers {
                if peer.try_send(block.clone()).is_err() {
                    metrics::counter!(m::DEVNET_PEER_ERRORS).increment(1);
                }
            }
            new_head = (hash, ts);
        }
        let state = ForkchoiceState {
            head_block_hash: new_head.0,
            safe_block_hash: new_head.0,
            finalized_block_hash: new_head.0,
        };
        let attrs = self.attributes(new_head.0, new_head.1);
        let fcu: ForkchoiceUpdated = c
            .request("engine_forkchoiceUpdatedV3", rpc_params![state, attrs])
            .await?;
        if !fcu.payload_status.status.is_valid() {
            return Err(ProducerError::NotValid {
                what: "forkchoice",
                status: fcu.payload_status.status,
            });
        }
        self.head = Some(new_head);
        self.pending = fcu.payload_id;
        Ok(())
    }
}

impl Actor for ProducerActor {
    type Msg = ProducerMsg;
    type State = ProducerState;
    type Arguments = ProducerArgs;

    async fn pre_start(
        &self,
        me: ActorRef<ProducerMsg>,
        args: ProducerArgs,
    ) -> Result<ProducerState, ActorProcessingErr> {
        m::zero(m::DEVNET_SLOTS, "outcome", &["block", "missed"]);
        let period = args.block_time;
        let timer = tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                interval.tick().await;
                if me.cast(ProducerMsg::Tick).is_err() {
                    break;
                }
            }
        });
        let peers = args
            .peers
            .iter()
            .map(|(url, jwt)| {
                let (tx, rx) = tokio::sync::mpsc::channel(64);
                (tx, tokio::spawn(follow_peer(url.clone(), jwt.clone(), rx)))
            })
            .collect();
        Ok(ProducerState {
            args,
            head: None,
            pending: None,
            timer,
            peers,
        })
    }

    async fn post_stop(
        &self,
        _me: ActorRef<ProducerMsg>,
        st: &mut ProducerState,
    ) -> Result<(), ActorProcessingErr> {
        st.timer.abort();
        for (_, t) in &st.peers {
            t.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        _me: ActorRef<ProducerMsg>,
        _msg: ProducerMsg,
        st: &mut ProducerState,
    ) -> Result<(), ActorProcessingErr> {
        match st.slot().await {
            Ok(()) => {
                metrics::counter!(m::DEVNET_SLOTS, "outcome" => "block").increment(1);
                debug!(target: "devnet", head = ?st.head, "slot done");
            }
            Err(e) => {
                metrics::counter!(m::DEVNET_SLOTS, "outcome" => "missed").increment(1);
                warn!(target: "devnet", error = %e, "slot missed");
                // Start over from the node's view of the head.
                st.head = None;
                st.pending = None;
            }
        }
        Ok(())
    }
}
