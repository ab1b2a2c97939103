//! The Engine API server (:8551, JWT HS256 with `iat` within ±60 s): how a consensus client — or
//! the devnet's own block production — drives the node. `engine_forkchoiceUpdatedV3`,
//! `engine_getPayloadV3/V4`, `engine_newPayloadV3/V4`, `engine_exchangeCapabilities`, with the
//! specification's statuses and error codes; from Berachain's Prague1 the P11 methods
//! (`engine_newPayloadV4P11`, `engine_forkchoiceUpdatedV3P11`, `engine_getPayloadV4P11`), which
//! carry the previous proposer's public key (WIRE.md §4).

use crate::{
    chain::SealedHeader,
    chain::{ChainHandle, ForkchoiceVerdict, PayloadVerdict},
    metrics as m,
    sequencer::{BuilderHandle, BuiltPayload, SequencerDuties, TrackError},
};
use alloy_eips::eip7685::Requests;
use alloy_primitives::U64;
use alloy_primitives::{B256, Bytes};
use alloy_rpc_types_engine::{
    BlobsBundleV1, BlobsBundleV2, ExecutionPayloadEnvelopeV3, ExecutionPayloadEnvelopeV4,
    ExecutionPayloadEnvelopeV5, ExecutionPayloadV3, ForkchoiceState, ForkchoiceUpdated,
    PayloadAttributes, PayloadId, PayloadStatus, PayloadStatusEnum,
};
use futures::future::BoxFuture;
use jsonrpsee::{
    RpcModule,
    core::{RegisterMethodError, async_trait},
    proc_macros::rpc,
    server::{HttpBody, HttpRequest, HttpResponse, ServerHandle},
    types::ErrorObjectOwned,
};
use preconf_core::preconf::ValidatorPubkey;
use preconf_core::{
    chainspec::EthereumHardforks,
    execution::BlockAttributes,
    jwt::{JwtSecret, bearer},
    primitives::{BlockTransaction, BlsPublicKey, SealedBlock},
};
use std::{
    net::SocketAddr,
    sync::Arc,
    task::{Context, Poll},
};
use tracing::{debug, warn};

/// The Engine API's `iat` window.
pub(crate) const ENGINE_JWT_WINDOW_SECS: u64 = 60;

/// The latest timestamp payload attributes may ask for: the last second of year 9999, far beyond
/// any real chain, but leaving room for children (and for tools' date types).
const MAX_TIMESTAMP: u64 = 253_402_300_799;

/// Engine API error codes (execution-apis `engine/common.md`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineErr {
    /// -38001
    #[error("Unknown payload")]
    UnknownPayload,
    /// -38002
    #[error("Invalid forkchoice state")]
    InvalidForkchoiceState,
    /// -38003
    #[error("Invalid payload attributes: {0}")]
    InvalidPayloadAttributes(String),
    /// -38004
    #[error("Too large request: {0}")]
    TooLargeRequest(String),
    /// -38005
    #[error("Unsupported fork")]
    UnsupportedFork,
    /// -32602
    #[error("Invalid params: {0}")]
    InvalidParams(String),
    /// -32603
    #[error("Internal error: {0}")]
    Internal(String),
}

impl EngineErr {
    /// The JSON-RPC code.
    pub fn code(&self) -> i32 {
        match self {
            Self::UnknownPayload => -38001,
            Self::InvalidForkchoiceState => -38002,
            Self::InvalidPayloadAttributes(_) => -38003,
            Self::TooLargeRequest(_) => -38004,
            Self::UnsupportedFork => -38005,
            Self::InvalidParams(_) => -32602,
            Self::Internal(_) => -32603,
        }
    }
}

impl From<EngineErr> for ErrorObjectOwned {
    fn from(e: EngineErr) -> Self {
        ErrorObjectOwned::owned(e.code(), e.to_string(), None::<()>)
    }
}

/// Context of the Engine API.
#[derive(Debug, Clone)]
pub(crate) struct EngineApi {
    /// The chain.
    pub chain: ChainHandle,
    /// The pool (blobs for `engine_getBlobsV2`).
    pub mempool: crate::mempool::MempoolHandle,
    /// The node's own plain builder (`forkchoiceUpdated` with attributes, `getPayload`).
    pub builder: BuilderHandle,
}

/// Context of `preconf_trackProposer` (sequencer nodes only).
#[derive(Debug, Clone)]
pub(crate) struct SequencerApi {
    engine: EngineApi,
    duties: SequencerDuties,
}

fn status(v: PayloadVerdict) -> PayloadStatus {
    match v {
        PayloadVerdict::Valid => PayloadStatus::new(PayloadStatusEnum::Valid, None),
        PayloadVerdict::Invalid {
            latest_valid_hash,
            error,
        } => PayloadStatus::new(
            PayloadStatusEnum::Invalid {
                validation_error: error,
            },
            latest_valid_hash,
        ),
        PayloadVerdict::Syncing => PayloadStatus::new(PayloadStatusEnum::Syncing, None),
    }
}

/// Payload attributes as `engine_forkchoiceUpdatedV3` and `V3P11` take them: V3's, and from
/// Prague1 the previous proposer's key (`parentProposerPubKey`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BeraPayloadAttributes {
    /// The V3 attributes.
    #[serde(flatten)]
    pub inner: PayloadAttributes,
    /// The previous block's proposer (P11 only).
    #[serde(
        rename = "parentProposerPubKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_proposer_pub_key: Option<BlsPublicKey>,
}

/// Which family of methods a call came through: the standard ones, or Berachain's P11 ones that
/// Prague1 blocks need (each refuses the other's blocks with Unsupported fork, as bera-reth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `…V3`/`…V4`.
    Standard,
    /// `…P11`.
    P11,
}

impl Family {
    /// Unsupported fork unless this family serves a block at `timestamp`.
    fn check(self, spec: &preconf_core::chainspec::ChainSpec, ts: u64) -> Result<(), EngineErr> {
        if spec.prague1_at(ts).is_some() != (self == Self::P11) {
            return Err(EngineErr::UnsupportedFork);
        }
        Ok(())
    }
}

impl EngineApi {
    async fn new_payload(
        &self,
        payload: ExecutionPayloadV3,
        versioned_hashes: Vec<B256>,
        parent_beacon_block_root: B256,
        requests: Option<Requests>,
        prev_proposer_pubkey: Option<BlsPublicKey>,
    ) -> Result<PayloadStatus, EngineErr> {
        let spec = &self.chain.reader.spec;
        let ts = payload.payload_inner.payload_inner.timestamp;
        if !spec.is_cancun_active_at_timestamp(ts)
            || spec.is_prague_active_at_timestamp(ts) != requests.is_some()
        {
            return Err(EngineErr::UnsupportedFork);
        }
        let family = match prev_proposer_pubkey {
            Some(_) => Family::P11,
            None => Family::Standard,
        };
        family.check(spec, ts)?;
        let expected_hash = payload.payload_inner.payload_inner.block_hash;
        let parent = payload.payload_inner.payload_inner.parent_hash;
        let invalid = |e: String, latest_valid_hash: Option<B256>| {
            Ok(PayloadStatus::new(
                PayloadStatusEnum::Invalid {
                    validation_error: e,
                },
                latest_valid_hash,
            ))
        };
        // The parent is named as the latest valid block only when this node knows it as valid
        // (a payload can claim any parent).
        let number = payload.payload_inner.payload_inner.block_number;
        let valid_parent = async {
            let known = self.chain.is_valid(parent, number.saturating_sub(1)).await;
            known.then_some(parent)
        };
        let mut block = match payload.try_into_block::<BlockTransaction>() {
            Ok(b) => SealedBlock::block_from_payload(b, prev_proposer_pubkey),
            Err(e) => return invalid(format!("invalid payload: {e}"), valid_parent.await),
        };
        block.header.parent_beacon_block_root = Some(parent_beacon_block_root);
        block.header.requests_hash = requests.as_ref().map(|r| r.requests_hash());
        // A payload our own builder made (the usual case on a sequencer) was executed while it
        // was built: skip recovering and executing it again.
        if block.header.hash_slow() == expected_hash
            && self
                .chain
                .is_valid(expected_hash, block.header.number)
                .await
        {
            return Ok(PayloadStatus::new(
                PayloadStatusEnum::Valid,
                Some(expected_hash),
            ));
        }
        let senders = &self.chain.reader.senders;
        let sealed = match SealedBlock::recover_with(block, |tx| senders.recover(tx)) {
            Ok(b) => b,
            Err(e) => {
                return invalid(
                    format!("invalid transaction signature: {e}"),
                    valid_parent.await,
                );
            }
        };
        if sealed.hash != expected_hash {
            // execution-apis (Cancun): a failed block hash check has no latest valid hash.
            return invalid(
                format!(
                    "block hash mismatch: payload says {expected_hash}, header hashes to {}",
                    sealed.hash
                ),
                None,
            );
        }
        let hashes: Vec<B256> = sealed
            .body
            .transactions
            .iter()
            .filter_map(|t| alloy_consensus::Transaction::blob_versioned_hashes(t))
            .flatten()
            .copied()
            .collect();
        if hashes != versioned_hashes {
            return invalid(
                "blob versioned hashes do not match the transactions".into(),
                valid_parent.await,
            );
        }
        let verdict = self
            .chain
            .new_payload(sealed)
            .await
            .map_err(|e| EngineErr::Internal(e.to_string()))?;
        let mut s = status(verdict);
        if s.status.is_valid() {
            s.latest_valid_hash = Some(expected_hash);
        }
        Ok(s)
    }

    async fn forkchoice_updated(
        &self,
        state: ForkchoiceState,
        attrs: Option<BeraPayloadAttributes>,
        family: Family,
    ) -> Result<ForkchoiceUpdated, EngineErr> {
        if state.head_block_hash.is_zero() {
            return Err(EngineErr::InvalidForkchoiceState);
        }
        let verdict = self
            .chain
            .forkchoice(
                state.head_block_hash,
                state.safe_block_hash,
                state.finalized_block_hash,
            )
            .await
            .map_err(|e| EngineErr::Internal(e.to_string()))?;
        let head = match verdict {
            ForkchoiceVerdict::Valid { head } => head,
            ForkchoiceVerdict::Invalid {
                latest_valid_hash,
                error,
            } => {
                return Ok(ForkchoiceUpdated::new(PayloadStatus::new(
                    PayloadStatusEnum::Invalid {
                        validation_error: error,
                    },
                    latest_valid_hash,
                )));
            }
            ForkchoiceVerdict::Syncing => {
                return Ok(ForkchoiceUpdated::new(PayloadStatus::new(
                    PayloadStatusEnum::Syncing,
                    None,
                )));
            }
            ForkchoiceVerdict::InvalidState(reason) => {
                warn!(target: "engine", %reason, "forkchoiceUpdated refused");
                return Err(EngineErr::InvalidForkchoiceState);
            }
        };
        let mut out = ForkchoiceUpdated::new(PayloadStatus::new(
            PayloadStatusEnum::Valid,
            Some(state.head_block_hash),
        ));
        let Some(attrs) = attrs else { return Ok(out) };
        // Only build on the current head (an ancestor request does not start a build).
        let head_header = self.chain.reader.head();
        if head != state.head_block_hash || head_header.hash != head {
            return Ok(out);
        }
        let block_attrs = self.block_attributes(&attrs, &head_header, family)?;
        let id = self
            .builder
            .start(head, block_attrs)
            .map_err(|e| EngineErr::Internal(e.to_string()))?;
        out.payload_id = Some(id);
        Ok(out)
    }

    /// Checks payload attributes against the head they build on and the method they came by.
    fn block_attributes(
        &self,
        attrs: &BeraPayloadAttributes,
        head: &SealedHeader,
        family: Family,
    ) -> Result<BlockAttributes, EngineErr> {
        let key = attrs.parent_proposer_pub_key;
        let attrs = &attrs.inner;
        let spec = &self.chain.reader.spec;
        if attrs.timestamp <= head.header.timestamp {
            return Err(EngineErr::InvalidPayloadAttributes(
                "timestamp must be after the head's".into(),
            ));
        }
        if attrs.timestamp > MAX_TIMESTAMP {
            // A block at 2^64 − 1 would leave no timestamp for its child: the chain would halt.
            return Err(EngineErr::InvalidPayloadAttributes(format!(
                "timestamp {} is after 9999-12-31T23:59:59Z ({MAX_TIMESTAMP})",
                attrs.timestamp
            )));
        }
        if !self
            .chain
            .reader
            .spec
            .is_cancun_active_at_timestamp(attrs.timestamp)
        {
            return Err(EngineErr::UnsupportedFork);
        }
        let (Some(withdrawals), Some(root)) =
            (attrs.withdrawals.clone(), attrs.parent_beacon_block_root)
        else {
            return Err(EngineErr::InvalidParams(
                "V3 attributes need withdrawals and parentBeaconBlockRoot".into(),
            ));
        };
        family.check(spec, attrs.timestamp)?;
        match (family, key) {
            (Family::P11, None) => {
                return Err(EngineErr::InvalidParams(
                    "Prague1 attributes need parentProposerPubKey".into(),
                ));
            }
            (Family::Standard, Some(_)) => {
                return Err(EngineErr::InvalidPayloadAttributes(
                    "parentProposerPubKey before Prague1".into(),
                ));
            }
            _ => {}
        }
        Ok(BlockAttributes {
            timestamp: attrs.timestamp,
            fee_recipient: attrs.suggested_fee_recipient,
            prev_randao: attrs.prev_randao,
            withdrawals,
            parent_beacon_block_root: Some(root),
            gas_limit: head.header.gas_limit,
            extra_data: Bytes::from_static(b"preconf-node"),
            prev_proposer_pubkey: key,
        })
    }

    /// A built payload, if `version` is the one for its fork: V3 Cancun, V4 Prague, V5 Osaka
    /// (Unsupported fork otherwise, as the specification says). V5 serves both families, as in
    /// bera-reth (Berachain has no `getPayloadV5P11`).
    async fn get_payload(
        &self,
        id: PayloadId,
        version: u8,
        family: Family,
    ) -> Result<Arc<BuiltPayload>, EngineErr> {
        let built = self
            .builder
            .get(id)
            .await
            .map_err(|e| EngineErr::Internal(e.to_string()))?
            .ok_or(EngineErr::UnknownPayload)?;
        let spec = &self.chain.reader.spec;
        let ts = built.executed.block.header.timestamp;
        if payload_version(spec, ts) != version {
            return Err(EngineErr::UnsupportedFork);
        }
        if version < 5 {
            family.check(spec, ts)?;
        }
        Ok(built)
    }
}

/// The `getPayload` version of a block at `ts`: 5 from Osaka, 4 from Prague, else 3.
pub(crate) fn payload_version(spec: &preconf_core::chainspec::ChainSpec, ts: u64) -> u8 {
    if spec.is_osaka_active_at_timestamp(ts) {
        5
    } else if spec.is_prague_active_at_timestamp(ts) {
        4
    } else {
        3
    }
}

/// A built payload as `engine_getPayloadV4` (and the preconf payload server) return it.
pub(crate) fn envelope(built: &BuiltPayload) -> ExecutionPayloadEnvelopeV4 {
    let block = &built.executed.block;
    let sidecars = built
        .sidecars
        .iter()
        .filter_map(|s| s.as_eip4844().cloned());
    ExecutionPayloadEnvelopeV4 {
        envelope_inner: ExecutionPayloadEnvelopeV3 {
            execution_payload: ExecutionPayloadV3::from_block_unchecked(
                block.hash,
                &block.to_payload_block(),
            ),
            block_value: built.executed.fees,
            blobs_bundle: BlobsBundleV1::new(sidecars),
            should_override_builder: false,
        },
        execution_requests: built.executed.requests.clone(),
    }
}

/// A built Osaka payload as `engine_getPayloadV5` returns it: the blobs with their EIP-7594 cell
/// proofs (a blob transaction whose sidecar has only the pre-Osaka proof is not in an Osaka
/// block: the pool converts or refuses it).
pub(crate) fn envelope_v5(built: &BuiltPayload) -> ExecutionPayloadEnvelopeV5 {
    let v4 = envelope(built);
    let sidecars = built
        .sidecars
        .iter()
        .filter_map(|s| s.as_eip7594().cloned());
    ExecutionPayloadEnvelopeV5 {
        execution_payload: v4.envelope_inner.execution_payload,
        block_value: v4.envelope_inner.block_value,
        blobs_bundle: BlobsBundleV2::new(sidecars),
        should_override_builder: false,
        execution_requests: v4.execution_requests,
    }
}

/// The Engine API (execution-apis `engine/`), as the consensus client calls it.
#[rpc(server, namespace = "engine")]
pub trait EngineRpc {
    /// The methods this node serves (the caller's list is not needed).
    #[method(name = "exchangeCapabilities")]
    async fn exchange_capabilities(
        &self,
        theirs: Option<Vec<String>>,
    ) -> Result<Vec<&'static str>, EngineErr>;
    /// Sets the head (committing it), and with attributes starts building a payload on it.
    #[method(name = "forkchoiceUpdatedV3")]
    async fn forkchoice_updated_v3(
        &self,
        state: ForkchoiceState,
        attributes: Option<BeraPayloadAttributes>,
    ) -> Result<ForkchoiceUpdated, EngineErr>;
    /// `forkchoiceUpdatedV3` for Prague1 blocks: the attributes name the previous proposer.
    #[method(name = "forkchoiceUpdatedV3P11")]
    async fn forkchoice_updated_v3_p11(
        &self,
        state: ForkchoiceState,
        attributes: Option<BeraPayloadAttributes>,
    ) -> Result<ForkchoiceUpdated, EngineErr>;
    /// Validates (executes) a Cancun payload.
    #[method(name = "newPayloadV3")]
    async fn new_payload_v3(
        &self,
        payload: ExecutionPayloadV3,
        versioned_hashes: Vec<B256>,
        parent_beacon_block_root: B256,
    ) -> Result<PayloadStatus, EngineErr>;
    /// Validates (executes) a Prague payload with its execution requests.
    #[method(name = "newPayloadV4")]
    async fn new_payload_v4(
        &self,
        payload: ExecutionPayloadV3,
        versioned_hashes: Vec<B256>,
        parent_beacon_block_root: B256,
        requests: Vec<Bytes>,
    ) -> Result<PayloadStatus, EngineErr>;
    /// `newPayloadV4` for Prague1 blocks, with the previous proposer's key (it is part of the
    /// header, so of the block hash, but not of the payload).
    #[method(name = "newPayloadV4P11")]
    async fn new_payload_v4_p11(
        &self,
        payload: ExecutionPayloadV3,
        versioned_hashes: Vec<B256>,
        parent_beacon_block_root: B256,
        requests: Vec<Bytes>,
        parent_proposer_pub_key: BlsPublicKey,
    ) -> Result<PayloadStatus, EngineErr>;
    /// A built Cancun payload.
    #[method(name = "getPayloadV3")]
    async fn get_payload_v3(&self, id: PayloadId) -> Result<ExecutionPayloadEnvelopeV3, EngineErr>;
    /// A built Prague payload with its execution requests.
    #[method(name = "getPayloadV4")]
    async fn get_payload_v4(&self, id: PayloadId) -> Result<ExecutionPayloadEnvelopeV4, EngineErr>;
    /// A built Prague1 payload.
    #[method(name = "getPayloadV4P11")]
    async fn get_payload_v4_p11(
        &self,
        id: PayloadId,
    ) -> Result<ExecutionPayloadEnvelopeV4, EngineErr>;
    /// A built Osaka payload, its blobs with cell proofs (Prague1 or not).
    #[method(name = "getPayloadV5")]
    async fn get_payload_v5(&self, id: PayloadId) -> Result<ExecutionPayloadEnvelopeV5, EngineErr>;
    /// The pool's blobs with their cell proofs by versioned hash (at most 128): all of them, or
    /// null when any one is missing.
    #[method(name = "getBlobsV2")]
    async fn get_blobs_v2(
        &self,
        versioned_hashes: Vec<B256>,
    ) -> Result<Option<Vec<alloy_eips::eip4844::BlobAndProofV2>>, EngineErr>;
}

#[async_trait]
impl EngineRpcServer for EngineApi {
    async fn exchange_capabilities(
        &self,
        _theirs: Option<Vec<String>>,
    ) -> Result<Vec<&'static str>, EngineErr> {
        count("engine_exchangeCapabilities");
        Ok(CAPABILITIES.to_vec())
    }

    async fn forkchoice_updated_v3(
        &self,
        state: ForkchoiceState,
        attributes: Option<BeraPayloadAttributes>,
    ) -> Result<ForkchoiceUpdated, EngineErr> {
        count("engine_forkchoiceUpdatedV3");
        self.forkchoice_updated(state, attributes, Family::Standard)
            .await
    }

    async fn forkchoice_updated_v3_p11(
        &self,
        state: ForkchoiceState,
        attributes: Option<BeraPayloadAttributes>,
    ) -> Result<ForkchoiceUpdated, EngineErr> {
        count("engine_forkchoiceUpdatedV3P11");
        self.forkchoice_updated(state, attributes, Family::P11)
            .await
    }

    async fn new_payload_v3(
        &self,
        payload: ExecutionPayloadV3,
        versioned_hashes: Vec<B256>,
        parent_beacon_block_root: B256,
    ) -> Result<PayloadStatus, EngineErr> {
        count("engine_newPayloadV3");
        self.new_payload(
            payload,
            versioned_hashes,
            parent_beacon_block_root,
            None,
            None,
        )
        .await
    }

    async fn new_payload_v4(
        &self,
        payload: ExecutionPayloadV3,
        versioned_hashes: Vec<B256>,
        parent_beacon_block_root: B256,
        requests: Vec<Bytes>,
    ) -> Result<PayloadStatus, EngineErr> {
        count("engine_newPayloadV4");
        let requests = Some(Requests::new(requests));
        self.new_payload(
            payload,
            versioned_hashes,
            parent_beacon_block_root,
            requests,
            None,
        )
        .await
    }

    async fn new_payload_v4_p11(
        &self,
        payload: ExecutionPayloadV3,
        versioned_hashes: Vec<B256>,
        parent_beacon_block_root: B256,
        requests: Vec<Bytes>,
        parent_proposer_pub_key: BlsPublicKey,
    ) -> Result<PayloadStatus, EngineErr> {
        count("engine_newPayloadV4P11");
        let requests = Some(Requests::new(requests));
        self.new_payload(
            payload,
            versioned_hashes,
            parent_beacon_block_root,
            requests,
            Some(parent_proposer_pub_key),
        )
        .await
    }

    async fn get_payload_v3(&self, id: PayloadId) -> Result<ExecutionPayloadEnvelopeV3, EngineErr> {
        count("engine_getPayloadV3");
        let built = self.get_payload(id, 3, Family::Standard).await?;
        Ok(envelope(&built).envelope_inner)
    }

    async fn get_payload_v4(&self, id: PayloadId) -> Result<ExecutionPayloadEnvelopeV4, EngineErr> {
        count("engine_getPayloadV4");
        Ok(envelope(&*self.get_payload(id, 4, Family::Standard).await?))
    }

    async fn get_payload_v4_p11(
        &self,
        id: PayloadId,
    ) -> Result<ExecutionPayloadEnvelopeV4, EngineErr> {
        count("engine_getPayloadV4P11");
        Ok(envelope(&*self.get_payload(id, 4, Family::P11).await?))
    }

    async fn get_payload_v5(&self, id: PayloadId) -> Result<ExecutionPayloadEnvelopeV5, EngineErr> {
        count("engine_getPayloadV5");
        Ok(envelope_v5(
            &*self.get_payload(id, 5, Family::Standard).await?,
        ))
    }

    async fn get_blobs_v2(
        &self,
        versioned_hashes: Vec<B256>,
    ) -> Result<Option<Vec<alloy_eips::eip4844::BlobAndProofV2>>, EngineErr> {
        count("engine_getBlobsV2");
        const MAX_HASHES: usize = 128;
        if versioned_hashes.len() > MAX_HASHES {
            return Err(EngineErr::TooLargeRequest(format!(
                "{} versioned hashes, at most {MAX_HASHES}",
                versioned_hashes.len()
            )));
        }
        self.mempool
            .blobs_v2(versioned_hashes)
            .await
            .map_err(|e| EngineErr::Internal(e.to_string()))
    }
}

/// `preconf_trackProposer` parameters: the proposer of a slot's round and the attributes it
/// builds with.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TrackRequest {
    /// The slot (block height).
    pub slot: U64,
    /// The round.
    pub round: U64,
    /// The proposer's public key.
    pub pubkey: ValidatorPubkey,
    /// The head the slot builds on.
    pub head_block_hash: B256,
    /// The proposer's payload attributes (from Prague1 with `parentProposerPubKey`).
    pub attributes: BeraPayloadAttributes,
}

/// `preconf_trackProposer` result.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TrackReply {
    /// The proposer is whitelisted.
    pub whitelisted: bool,
    /// The optimistic build started for it (null when not whitelisted, the head differs or the
    /// builder is down).
    pub payload_id: Option<PayloadId>,
}

/// The sequencer's beacon-kit duties as the devnet consensus reaches them (on the Engine API
/// port, so behind its JWT).
#[rpc(server, namespace = "preconf")]
pub trait SequencerRpc {
    /// Points the proposer tracker at a slot's (round's) proposer and, when it is whitelisted,
    /// starts the optimistic flashblock build with its attributes (a new round rebuilds).
    #[method(name = "trackProposer")]
    async fn track_proposer(&self, request: TrackRequest) -> Result<TrackReply, EngineErr>;
}

#[async_trait]
impl SequencerRpcServer for SequencerApi {
    async fn track_proposer(&self, request: TrackRequest) -> Result<TrackReply, EngineErr> {
        count("preconf_trackProposer");
        let duties = &self.duties;
        let head = self.engine.chain.reader.head();
        let family = match request.attributes.parent_proposer_pub_key {
            Some(_) => Family::P11,
            None => Family::Standard,
        };
        let attrs = self
            .engine
            .block_attributes(&request.attributes, &head, family)?;
        let whitelisted = duties.whitelist.contains(&request.pubkey);
        let root = attrs.parent_beacon_block_root.unwrap_or_default();
        // Not at that head (yet): the proposer is tracked (others get 403) but nothing is built.
        let build = (head.hash == request.head_block_hash).then_some((head.hash, attrs));
        let payload_id = match duties.track(
            request.slot.to(),
            request.round.to(),
            request.pubkey,
            root,
            build,
        ) {
            Ok(id) => id,
            Err(e @ TrackError::Stale { .. }) => {
                return Err(EngineErr::InvalidParams(e.to_string()));
            }
            Err(TrackError::Build(e)) => {
                warn!(target: "engine", error = %e, "optimistic build not started");
                None
            }
        };
        Ok(TrackReply {
            whitelisted,
            payload_id,
        })
    }
}

/// Counts an Engine API call (`preconf_engine_requests_total`, beside the per-method JSON-RPC
/// series every server keeps).
fn count(method: &'static str) {
    metrics::counter!(m::ENGINE_REQUESTS, "method" => method).increment(1);
}

/// Every Engine API method, on one module (their counters start at zero).
/// On a sequencer, `preconf_trackProposer` too.
pub(crate) fn module(
    api: EngineApi,
    duties: Option<SequencerDuties>,
) -> Result<RpcModule<EngineApi>, RegisterMethodError> {
    crate::metrics::zero(m::ENGINE_REQUESTS, "method", CAPABILITIES);
    let mut module = EngineRpcServer::into_rpc(api.clone());
    if let Some(duties) = duties {
        crate::metrics::zero(m::ENGINE_REQUESTS, "method", &["preconf_trackProposer"]);
        module.merge(SequencerRpcServer::into_rpc(SequencerApi {
            engine: api,
            duties,
        }))?;
    }
    Ok(module)
}

/// The methods `engine_exchangeCapabilities` reports.
pub(crate) const CAPABILITIES: &[&str] = &[
    "engine_exchangeCapabilities",
    "engine_forkchoiceUpdatedV3",
    "engine_forkchoiceUpdatedV3P11",
    "engine_getPayloadV3",
    "engine_getPayloadV4",
    "engine_getPayloadV4P11",
    "engine_getBlobsV2",
    "engine_getPayloadV5",
    "engine_newPayloadV3",
    "engine_newPayloadV4",
    "engine_newPayloadV4P11",
];

/// Tower layer that refuses HTTP requests without a valid `Authorization: Bearer <jwt>`.
#[derive(Debug, Clone)]
pub(crate) struct JwtLayer {
    secret: Arc<JwtSecret>,
}

impl JwtLayer {
    /// Authenticates with this secret.
    pub(crate) fn new(secret: JwtSecret) -> Self {
        Self {
            secret: Arc::new(secret),
        }
    }
}

impl<S> tower::Layer<S> for JwtLayer {
    type Service = JwtService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        JwtService {
            inner,
            secret: self.secret.clone(),
        }
    }
}

/// The service [`JwtLayer`] makes.
#[derive(Debug, Clone)]
pub(crate) struct JwtService<S> {
    inner: S,
    secret: Arc<JwtSecret>,
}

impl<S> tower::Service<HttpRequest> for JwtService<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse> + Send,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<HttpResponse, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: HttpRequest) -> Self::Future {
        // The server's trace log prints requests with their headers: the token shows there as
        // "Sensitive", never in the clear.
        if let Some(v) = req.headers_mut().get_mut("authorization") {
            v.set_sensitive(true);
        }
        let verdict = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .ok_or_else(|| "missing bearer token".to_string())
            .and_then(|t| {
                self.secret
                    .verify(t, ENGINE_JWT_WINDOW_SECS)
                    .map_err(|e| e.to_string())
            });
        match verdict {
            Ok(()) => Box::pin(self.inner.call(req)),
            Err(why) => {
                metrics::counter!(m::ENGINE_AUTH_FAILURES).increment(1);
                debug!(target: "engine", %why, "refused request");
                let resp = HttpResponse::builder()
                    .status(401)
                    .header("content-type", "application/json")
                    .body(HttpBody::from(format!(
                        r#"{{"error":"unauthorized: {why}"}}"#
                    )))
                    .expect("static response parts are valid");
                Box::pin(async move { Ok(resp) })
            }
        }
    }
}

/// Starts the Engine API server on `addr`.
pub(crate) async fn serve(
    addr: SocketAddr,
    secret: JwtSecret,
    module: RpcModule<()>,
    limits: super::rpc::Limits,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    // The token is checked on the headers, before any body is read.
    let http = tower::ServiceBuilder::new()
        .layer(JwtLayer::new(secret))
        .layer(super::rpc::shape_layer(limits, None));
    super::rpc::serve_module(addr, http, limits, module).await
}
