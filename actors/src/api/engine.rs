//! The Engine API server (:8551, JWT HS256 with `iat` within ±60 s): how a consensus client — or
//! the devnet's own block production — drives the node. `engine_forkchoiceUpdatedV3`,
//! `engine_getPayloadV3/V4`, `engine_newPayloadV3/V4`, `engine_exchangeCapabilities`, with the
//! specification's statuses and error codes.

use crate::{
    chain::{ChainHandle, ForkchoiceVerdict, PayloadVerdict},
    metrics as m,
    sequencer::BuilderHandle,
};
use alloy_eips::eip7685::Requests;
use alloy_primitives::{B256, Bytes};
use alloy_rpc_types_engine::{
    BlobsBundleV1, ExecutionPayloadEnvelopeV3, ExecutionPayloadEnvelopeV4, ExecutionPayloadV3,
    ForkchoiceState, ForkchoiceUpdated, PayloadAttributes, PayloadId, PayloadStatus,
    PayloadStatusEnum,
};
use futures::future::BoxFuture;
use jsonrpsee::{
    RpcModule,
    server::{HttpBody, HttpRequest, HttpResponse, Server, ServerHandle},
    types::ErrorObjectOwned,
};
use preconf_core::{
    chainspec::EthereumHardforks,
    execution::BlockAttributes,
    jwt::{JwtSecret, bearer},
    primitives::SealedBlock,
};
use std::{
    net::SocketAddr,
    sync::Arc,
    task::{Context, Poll},
};
use tracing::debug;

/// The Engine API's `iat` window.
pub const ENGINE_JWT_WINDOW_SECS: u64 = 60;

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

impl From<ErrorObjectOwned> for EngineErr {
    fn from(e: ErrorObjectOwned) -> Self {
        Self::InvalidParams(e.message().to_string())
    }
}

/// Context of the Engine API.
#[derive(Debug, Clone)]
pub struct EngineApi {
    /// The chain.
    pub chain: ChainHandle,
    /// The payload builder.
    pub builder: BuilderHandle,
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

impl EngineApi {
    async fn new_payload(
        &self,
        payload: ExecutionPayloadV3,
        versioned_hashes: Vec<B256>,
        parent_beacon_block_root: B256,
        requests: Option<Requests>,
    ) -> Result<PayloadStatus, EngineErr> {
        let spec = &self.chain.reader.spec;
        let ts = payload.payload_inner.payload_inner.timestamp;
        if !spec.is_cancun_active_at_timestamp(ts)
            || spec.is_prague_active_at_timestamp(ts) != requests.is_some()
        {
            return Err(EngineErr::UnsupportedFork);
        }
        let expected_hash = payload.payload_inner.payload_inner.block_hash;
        let parent = payload.payload_inner.payload_inner.parent_hash;
        let invalid = |e: String| {
            Ok(PayloadStatus::new(
                PayloadStatusEnum::Invalid {
                    validation_error: e,
                },
                Some(parent),
            ))
        };
        let mut block = match payload.try_into_block::<preconf_core::primitives::Transaction>() {
            Ok(b) => b,
            Err(e) => return invalid(format!("invalid payload: {e}")),
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
            Err(e) => return invalid(format!("invalid transaction signature: {e}")),
        };
        if sealed.hash != expected_hash {
            return invalid(format!(
                "block hash mismatch: payload says {expected_hash}, header hashes to {}",
                sealed.hash
            ));
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
            return invalid("blob versioned hashes do not match the transactions".into());
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
        attrs: Option<PayloadAttributes>,
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
        let spec = &self.chain.reader.spec;
        if attrs.timestamp <= head_header.header.timestamp {
            return Err(EngineErr::InvalidPayloadAttributes(
                "timestamp must be after the head's".into(),
            ));
        }
        if !spec.is_cancun_active_at_timestamp(attrs.timestamp) {
            return Err(EngineErr::UnsupportedFork);
        }
        let (Some(withdrawals), Some(root)) =
            (attrs.withdrawals.clone(), attrs.parent_beacon_block_root)
        else {
            return Err(EngineErr::InvalidParams(
                "V3 attributes need withdrawals and parentBeaconBlockRoot".into(),
            ));
        };
        let block_attrs = BlockAttributes {
            timestamp: attrs.timestamp,
            fee_recipient: attrs.suggested_fee_recipient,
            prev_randao: attrs.prev_randao,
            withdrawals,
            parent_beacon_block_root: Some(root),
            gas_limit: head_header.header.gas_limit,
            extra_data: Bytes::from_static(b"preconf-node"),
        };
        let id = self
            .builder
            .start(head, block_attrs)
            .map_err(|e| EngineErr::Internal(e.to_string()))?;
        out.payload_id = Some(id);
        Ok(out)
    }

    async fn get_payload(
        &self,
        id: PayloadId,
        v4: bool,
    ) -> Result<ExecutionPayloadEnvelopeV4, EngineErr> {
        let built = self
            .builder
            .get(id)
            .await
            .map_err(|e| EngineErr::Internal(e.to_string()))?
            .ok_or(EngineErr::UnknownPayload)?;
        let block = &built.executed.block;
        let prague = self
            .chain
            .reader
            .spec
            .is_prague_active_at_timestamp(block.header.timestamp);
        if prague != v4 {
            return Err(EngineErr::UnsupportedFork);
        }
        let sidecars = built
            .sidecars
            .iter()
            .filter_map(|s| s.as_eip4844().cloned());
        Ok(ExecutionPayloadEnvelopeV4 {
            envelope_inner: ExecutionPayloadEnvelopeV3 {
                execution_payload: ExecutionPayloadV3::from_block_unchecked(
                    block.hash,
                    &block.to_block(),
                ),
                block_value: built.executed.fees,
                blobs_bundle: BlobsBundleV1::new(sidecars),
                should_override_builder: false,
            },
            execution_requests: built.executed.requests.clone(),
        })
    }
}

/// Registers every Engine API method.
pub fn module(
    api: EngineApi,
) -> Result<RpcModule<EngineApi>, jsonrpsee::core::RegisterMethodError> {
    crate::metrics::zero(m::ENGINE_REQUESTS, "method", CAPABILITIES);
    let mut m = RpcModule::new(api);
    m.register_method("engine_exchangeCapabilities", |_p, _c, _| {
        metrics::counter!(m::ENGINE_REQUESTS, "method" => "engine_exchangeCapabilities")
            .increment(1);
        Ok::<_, ErrorObjectOwned>(CAPABILITIES.to_vec())
    })?;
    m.register_async_method("engine_forkchoiceUpdatedV3", |p, c, _| async move {
        metrics::counter!(m::ENGINE_REQUESTS, "method" => "engine_forkchoiceUpdatedV3")
            .increment(1);
        let mut s = p.sequence();
        let state: ForkchoiceState = s.next().map_err(EngineErr::from)?;
        let attrs: Option<PayloadAttributes> = s.optional_next().map_err(EngineErr::from)?;
        c.forkchoice_updated(state, attrs)
            .await
            .map_err(ErrorObjectOwned::from)
    })?;
    m.register_async_method("engine_newPayloadV3", |p, c, _| async move {
        metrics::counter!(m::ENGINE_REQUESTS, "method" => "engine_newPayloadV3").increment(1);
        let mut s = p.sequence();
        let payload: ExecutionPayloadV3 = s.next().map_err(EngineErr::from)?;
        let hashes: Vec<B256> = s.next().map_err(EngineErr::from)?;
        let root: B256 = s.next().map_err(EngineErr::from)?;
        c.new_payload(payload, hashes, root, None)
            .await
            .map_err(ErrorObjectOwned::from)
    })?;
    m.register_async_method("engine_newPayloadV4", |p, c, _| async move {
        metrics::counter!(m::ENGINE_REQUESTS, "method" => "engine_newPayloadV4").increment(1);
        let mut s = p.sequence();
        let payload: ExecutionPayloadV3 = s.next().map_err(EngineErr::from)?;
        let hashes: Vec<B256> = s.next().map_err(EngineErr::from)?;
        let root: B256 = s.next().map_err(EngineErr::from)?;
        let requests: Vec<Bytes> = s.next().map_err(EngineErr::from)?;
        let requests = Requests::new(requests);
        c.new_payload(payload, hashes, root, Some(requests))
            .await
            .map_err(ErrorObjectOwned::from)
    })?;
    m.register_async_method("engine_getPayloadV3", |p, c, _| async move {
        metrics::counter!(m::ENGINE_REQUESTS, "method" => "engine_getPayloadV3").increment(1);
        let id: PayloadId = p.one().map_err(EngineErr::from)?;
        c.get_payload(id, false)
            .await
            .map(|e| e.envelope_inner)
            .map_err(ErrorObjectOwned::from)
    })?;
    m.register_async_method("engine_getPayloadV4", |p, c, _| async move {
        metrics::counter!(m::ENGINE_REQUESTS, "method" => "engine_getPayloadV4").increment(1);
        let id: PayloadId = p.one().map_err(EngineErr::from)?;
        c.get_payload(id, true)
            .await
            .map_err(ErrorObjectOwned::from)
    })?;
    Ok(m)
}

/// The methods `engine_exchangeCapabilities` reports.
pub const CAPABILITIES: &[&str] = &[
    "engine_exchangeCapabilities",
    "engine_forkchoiceUpdatedV3",
    "engine_getPayloadV3",
    "engine_getPayloadV4",
    "engine_newPayloadV3",
    "engine_newPayloadV4",
];

/// Tower layer that refuses HTTP requests without a valid `Authorization: Bearer <jwt>`.
#[derive(Debug, Clone)]
pub struct JwtLayer {
    secret: Arc<JwtSecret>,
}

impl JwtLayer {
    /// Authenticates with this secret.
    pub fn new(secret: JwtSecret) -> Self {
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
pub struct JwtService<S> {
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

    fn call(&mut self, req: HttpRequest) -> Self::Future {
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
pub async fn serve(
    addr: SocketAddr,
    secret: JwtSecret,
    module: RpcModule<()>,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let server = Server::builder()
        .set_config(super::rpc::server_config())
        .set_http_middleware(tower::ServiceBuilder::new().layer(JwtLayer::new(secret)))
        .set_rpc_middleware(super::rpc::rpc_middleware(&module))
        .build(addr)
        .await?;
    let bound = server.local_addr()?;
    Ok((bound, server.start(module)))
}
