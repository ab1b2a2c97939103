//! The devnet consensus' side of the Engine API: one node's authenticated endpoint, called the way
//! a consensus client calls it (a fresh HS256 token per call, a timeout per call).

use crate::api::engine::BeraPayloadAttributes;
use alloy_primitives::{B256, Bytes};
use alloy_rpc_types_engine::{
    ExecutionPayloadEnvelopeV4, ExecutionPayloadV3, ForkchoiceState, ForkchoiceUpdated, PayloadId,
    PayloadStatus,
};
use jsonrpsee::{
    core::client::ClientT,
    http_client::{HeaderMap, HeaderValue, HttpClient, HttpClientBuilder},
    rpc_params,
};
use preconf_core::{jwt::JwtSecret, preconf::ValidatorPubkey};
use std::time::Duration;

/// A node's Engine API.
#[derive(Debug, Clone)]
pub(crate) struct EngineTarget {
    /// Name in logs and metrics (`sequencer`, `validator-0`, an URL).
    pub name: String,
    /// `http://host:port`.
    pub url: String,
    /// The node's Engine API secret.
    pub jwt: JwtSecret,
    /// The largest request or response (a whole payload of the largest block the chain allows).
    pub max_message: usize,
}

/// Why an Engine API call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EngineCallError {
    /// Transport, timeout or JSON-RPC error.
    #[error(transparent)]
    Rpc(#[from] jsonrpsee::core::ClientError),
    /// The token did not fit in a header (cannot happen with our tokens).
    #[error("invalid authorization header: {0}")]
    Header(#[from] hyper::header::InvalidHeaderValue),
    /// A reply that is not what the method returns.
    #[error("unexpected reply: {0}")]
    Json(#[from] serde_json::Error),
    /// No node was asked (an empty list).
    #[error("no node to ask")]
    NoNodes,
}

/// A block as the consensus hands it to every node: the payload and `newPayload`'s side
/// parameters.
#[derive(Debug, Clone)]
pub(crate) struct Proposal {
    /// The block.
    pub payload: ExecutionPayloadV3,
    /// Versioned hashes of its blobs.
    pub versioned: Vec<B256>,
    /// Its parent beacon block root.
    pub beacon_root: B256,
    /// Execution requests (Prague), `None` before Prague.
    pub requests: Option<Vec<Bytes>>,
    /// The previous proposer (Prague1), `None` before: part of the block hash, not the payload.
    pub parent_proposer_pubkey: Option<ValidatorPubkey>,
}

impl Proposal {
    /// The block hash.
    pub(crate) fn hash(&self) -> B256 {
        self.payload.payload_inner.payload_inner.block_hash
    }

    /// The block number.
    pub(crate) fn number(&self) -> u64 {
        self.payload.payload_inner.payload_inner.block_number
    }

    /// The block timestamp.
    pub(crate) fn timestamp(&self) -> u64 {
        self.payload.payload_inner.payload_inner.timestamp
    }

    /// A built payload (from `getPayload` or the payload server) with the root it was built for.
    pub(crate) fn from_envelope(
        env: ExecutionPayloadEnvelopeV4,
        beacon_root: B256,
        prague: bool,
        parent_proposer_pubkey: Option<ValidatorPubkey>,
    ) -> Self {
        let inner = env.envelope_inner;
        Self {
            versioned: versioned_hashes(&inner.blobs_bundle),
            payload: inner.execution_payload,
            beacon_root,
            requests: prague.then(|| env.execution_requests.take()),
            parent_proposer_pubkey,
        }
    }
}

/// The versioned hashes of a payload's blobs, as `newPayload` takes them.
pub(crate) fn versioned_hashes(bundle: &alloy_rpc_types_engine::BlobsBundleV1) -> Vec<B256> {
    bundle
        .commitments
        .iter()
        .map(|c| alloy_eips::eip4844::kzg_to_versioned_hash(c.as_slice()))
        .collect()
}

/// The head as a node reports it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeHead {
    pub hash: B256,
    pub number: u64,
    pub timestamp: u64,
    pub fee_recipient: alloy_primitives::Address,
}

impl EngineTarget {
    fn client(&self, timeout: Duration) -> Result<HttpClient, EngineCallError> {
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.jwt.token()))?;
        // Never in the clear in a debug or trace log.
        auth.set_sensitive(true);
        headers.insert("authorization", auth);
        let max = u32::try_from(self.max_message).unwrap_or(u32::MAX);
        Ok(HttpClientBuilder::default()
            .set_headers(headers)
            .request_timeout(timeout)
            .max_request_size(max)
            .max_response_size(max)
            .build(&self.url)?)
    }

    /// `engine_newPayloadV4P11` from Prague1, `engine_newPayloadV4` before (V3 before Prague).
    pub(crate) async fn new_payload(
        &self,
        p: &Proposal,
        timeout: Duration,
    ) -> Result<PayloadStatus, EngineCallError> {
        let c = self.client(timeout)?;
        Ok(match (&p.requests, p.parent_proposer_pubkey) {
            (Some(requests), Some(key)) => {
                c.request(
                    "engine_newPayloadV4P11",
                    rpc_params![&p.payload, &p.versioned, p.beacon_root, requests, key],
                )
                .await?
            }
            (Some(requests), None) => {
                c.request(
                    "engine_newPayloadV4",
                    rpc_params![&p.payload, &p.versioned, p.beacon_root, requests],
                )
                .await?
            }
            (None, _) => {
                c.request(
                    "engine_newPayloadV3",
                    rpc_params![&p.payload, &p.versioned, p.beacon_root],
                )
                .await?
            }
        })
    }

    /// `engine_forkchoiceUpdatedV3` (`V3P11` from Prague1) making `head` the head (safe and
    /// finalized too: the devnet finalizes every block it commits), with attributes to start a
    /// build on it.
    pub(crate) async fn forkchoice(
        &self,
        head: B256,
        attrs: Option<&BeraPayloadAttributes>,
        p11: bool,
        timeout: Duration,
    ) -> Result<ForkchoiceUpdated, EngineCallError> {
        let state = ForkchoiceState {
            head_block_hash: head,
            safe_block_hash: head,
            finalized_block_hash: head,
        };
        let c = self.client(timeout)?;
        let method = if p11 {
            "engine_forkchoiceUpdatedV3P11"
        } else {
            "engine_forkchoiceUpdatedV3"
        };
        Ok(c.request(method, rpc_params![state, attrs]).await?)
    }

    /// `engine_getPayloadV5` from Osaka, `V4` (`V4P11` from Prague1) from Prague, V3 before;
    /// re-wrapped as a V4 envelope (of the blobs bundle only the commitments are used here).
    pub(crate) async fn get_payload(
        &self,
        id: PayloadId,
        version: u8,
        p11: bool,
        timeout: Duration,
    ) -> Result<ExecutionPayloadEnvelopeV4, EngineCallError> {
        let c = self.client(timeout)?;
        let prague = version >= 4;
        if version >= 5 {
            let v5: alloy_rpc_types_engine::ExecutionPayloadEnvelopeV5 =
                c.request("engine_getPayloadV5", rpc_params![id]).await?;
            return Ok(ExecutionPayloadEnvelopeV4 {
                envelope_inner: alloy_rpc_types_engine::ExecutionPayloadEnvelopeV3 {
                    execution_payload: v5.execution_payload,
                    block_value: v5.block_value,
                    blobs_bundle: alloy_rpc_types_engine::BlobsBundleV1 {
                        commitments: v5.blobs_bundle.commitments,
                        proofs: Vec::new(),
                        blobs: v5.blobs_bundle.blobs,
                    },
                    should_override_builder: v5.should_override_builder,
                },
                execution_requests: v5.execution_requests,
            });
        }
        if p11 {
            return Ok(c.request("engine_getPayloadV4P11", rpc_params![id]).await?);
        }
        if prague {
            return Ok(c.request("engine_getPayloadV4", rpc_params![id]).await?);
        }
        let v3 = c.request("engine_getPayloadV3", rpc_params![id]).await?;
        Ok(ExecutionPayloadEnvelopeV4 {
            envelope_inner: v3,
            execution_requests: Default::default(),
        })
    }

    /// The node's head block (`eth_getBlockByNumber("latest")`, served on the Engine port).
    pub(crate) async fn head(&self, timeout: Duration) -> Result<NodeHead, EngineCallError> {
        let c = self.client(timeout)?;
        let block: serde_json::Value = c
            .request("eth_getBlockByNumber", rpc_params!["latest", false])
            .await?;
        let quantity = |k: &str| -> Result<u64, EngineCallError> {
            let v: alloy_primitives::U64 = serde_json::from_value(block[k].clone())?;
            Ok(v.to())
        };
        Ok(NodeHead {
            hash: serde_json::from_value(block["hash"].clone())?,
            number: quantity("number")?,
            timestamp: quantity("timestamp")?,
            fee_recipient: serde_json::from_value(block["miner"].clone())?,
        })
    }

    /// `preconf_trackProposer`: points the sequencer's tracker at the proposer of `slot` in
    /// `round` and, when whitelisted, starts its optimistic build with `attrs` on `head`.
    pub(crate) async fn track(
        &self,
        slot: u64,
        round: u64,
        pubkey: ValidatorPubkey,
        head: B256,
        attrs: &BeraPayloadAttributes,
        timeout: Duration,
    ) -> Result<Option<PayloadId>, EngineCallError> {
        let c = self.client(timeout)?;
        let req = serde_json::json!({
            "slot": format!("{slot:#x}"),
            "round": format!("{round:#x}"),
            "pubkey": pubkey,
            "headBlockHash": head,
            "attributes": attrs,
        });
        let reply: serde_json::Value = c.request("preconf_trackProposer", rpc_params![req]).await?;
        Ok(serde_json::from_value(reply["payloadId"].clone())?)
    }
}
