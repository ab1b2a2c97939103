//! The JSON-RPC server on :8545 (HTTP and WebSocket on one port): `eth_`, `net_`, `web3_`,
//! `txpool_` and `debug_` raw methods. Errors are mapped to JSON-RPC codes in exactly one place,
//! [`RpcErr`]; every method is counted and timed by name.

mod admin;
mod blocks;
mod call;
mod convert;
mod debug;
mod eth;
mod fees;
mod heavy;
mod info;
mod logs;
mod middleware;
mod preconf;
mod shape;
mod state;
mod subscriptions;
mod transactions;
mod txpool;

pub(crate) use admin::{AdminApi, AdminRpcServer};
pub(crate) use blocks::BlocksApiServer;
pub(crate) use debug::DebugApiServer;
pub(crate) use eth::{DevAccounts, EthApi};
pub(crate) use fees::FeesApiServer;
pub use heavy::HeavyLimits;
pub(crate) use heavy::{HeavyPool, lower_priority};
pub(crate) use info::InfoApiServer;
pub(crate) use logs::LogsApiServer;
pub(crate) use preconf::Forwarder;
pub use preconf::MAX_SYNC_TIMEOUT;
pub(crate) use preconf::{PartialBlockApiServer, PreconfApiServer};
pub(crate) use state::StateApiServer;
pub(crate) use transactions::TransactionsApiServer;
pub(crate) use txpool::TxpoolApiServer;

use alloy_primitives::Bytes;
use jsonrpsee::{
    RpcModule,
    server::{Server, ServerHandle},
    types::ErrorObjectOwned,
};
use std::net::SocketAddr;

/// Limits of one JSON-RPC server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The largest HTTP request body (bytes; 413 beyond it).
    pub request: u32,
    /// The largest WebSocket message (bytes; the connection is closed beyond it).
    pub ws_message: u32,
    /// The largest response, single or batch (bytes; -32003 `response too large` beyond it).
    pub response: u32,
    /// WebSocket connections at once (HTTP 429 for one more).
    pub ws_connections: u32,
    /// HTTP requests being served at once (429 for one more).
    pub http_requests: u32,
    /// Bytes of HTTP request bodies held at once across all clients (503 beyond); `None` for
    /// no shared bound.
    pub body_budget: Option<usize>,
}

/// The public JSON-RPC port's limits. A request body may be 5 MiB (geth's limit; a transaction
/// with nine blobs is ~2.4 MB of hex), a WebSocket message 2 MiB (a WebSocket library reserves a
/// message's whole announced size before its bytes arrive, so this bounds what an idle hostile
/// client holds; a transaction with six blobs fits), a response 32 MiB.
pub(crate) const PUBLIC: Limits = Limits {
    request: 5 * 1024 * 1024,
    ws_message: 2 * 1024 * 1024,
    response: 32 * 1024 * 1024,
    ws_connections: 256,
    http_requests: 1024,
    body_budget: Some(64 * 1024 * 1024),
};

/// The Engine API port's limits (JWT-authenticated: every request is from the consensus client
/// or the sequencer): a whole execution payload of the largest block the chain allows
/// (`max_block_json`, [`preconf_core::chainspec::ChainSpec::max_block_json_bytes`]) must fit in a
/// request, a pushed flashblock and a response; at least geth's 128 MiB.
pub(crate) fn engine_limits(max_block_json: usize) -> Limits {
    let at_least = |floor: usize| u32::try_from(max_block_json.max(floor)).unwrap_or(u32::MAX);
    Limits {
        request: at_least(128 * 1024 * 1024),
        ws_message: at_least(128 * 1024 * 1024),
        response: at_least(256 * 1024 * 1024),
        ws_connections: 64,
        http_requests: 256,
        body_budget: None,
    }
}

/// How often a WebSocket client is pinged.
const WS_PING_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a WebSocket client may go without answering a ping before it is disconnected. The
/// server checks at each ping, before that ping's answer can have come back, so this must exceed
/// two ping intervals: with one (as before) every idle subscriber was dropped after 20 s even
/// though it answered every ping.
const WS_INACTIVE_LIMIT: std::time::Duration = std::time::Duration::from_secs(25);

/// Calls in one batch (geth's limit); more get one -32600 `batch too large`.
pub(crate) const MAX_BATCH: usize = 1000;

/// Every error an RPC method can return, with its JSON-RPC code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcErr {
    /// -32602: the parameters are not what the method takes.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// -32000: the request is well-formed but cannot be served (unknown block, pool refusal,
    /// failed execution), with geth's messages.
    #[error("{0}")]
    Server(String),
    /// 3: execution reverted, with the revert data.
    #[error("{message}")]
    Reverted {
        /// `execution reverted` or `execution reverted: <reason>`.
        message: String,
        /// The revert output.
        data: Bytes,
    },
    /// -32001: a resource (for example historical state) is not available.
    #[error("{0}")]
    NotFound(String),
    /// -32005: a limit was exceeded.
    #[error("{0}")]
    Limit(String),
    /// -32603: an internal failure.
    #[error("internal error: {0}")]
    Internal(String),
    /// 4 (EIP-7966): no receipt within the timeout; the data is the transaction hash.
    #[error("{message}")]
    SyncTimeout {
        /// What happened.
        message: String,
        /// The transaction hash.
        hash: alloy_primitives::B256,
    },
    /// 5 (EIP-7966): accepted but cannot execute yet (nonce gap); the data is the hash.
    #[error("{message}")]
    NotReady {
        /// What happened.
        message: String,
        /// The transaction hash.
        hash: alloy_primitives::B256,
    },
}

impl RpcErr {
    /// The JSON-RPC error code.
    pub fn code(&self) -> i32 {
        match self {
            Self::InvalidParams(_) => -32602,
            Self::Server(_) => -32000,
            Self::Reverted { .. } => 3,
            Self::NotFound(_) => -32001,
            Self::Limit(_) => -32005,
            Self::Internal(_) => -32603,
            Self::SyncTimeout { .. } => 4,
            Self::NotReady { .. } => 5,
        }
    }

    /// An error for a revert with this output.
    pub fn revert(output: Bytes) -> Self {
        let message = match revert_reason(&output) {
            Some(reason) => format!("execution reverted: {reason}"),
            None => "execution reverted".to_string(),
        };
        Self::Reverted {
            message,
            data: output,
        }
    }
}

/// The reason in revert output, as geth words it: the string of `Error(string)`, or for
/// `Panic(uint256)` what the code means.
fn revert_reason(output: &[u8]) -> Option<String> {
    use alloy_sol_types::{Panic, Revert, SolError};
    if let Ok(revert) = Revert::abi_decode(output) {
        return Some(revert.reason);
    }
    let code = Panic::abi_decode(output).ok()?.code;
    let reason = match code.to::<u64>() {
        0x00 => "generic panic",
        0x01 => "assert(false)",
        0x11 => "arithmetic underflow or overflow",
        0x12 => "division or modulo by zero",
        0x21 => "enum overflow",
        0x22 => "invalid encoded storage byte array accessed",
        0x31 => "out-of-bounds array access; popping on an empty array",
        0x32 => "out-of-bounds access of an array or bytesN",
        0x41 => "out of memory",
        0x51 => "uninitialized function",
        _ => return Some(format!("unknown panic code: {code:#x}")),
    };
    Some(reason.to_string())
}

impl From<RpcErr> for ErrorObjectOwned {
    fn from(e: RpcErr) -> Self {
        match &e {
            RpcErr::Reverted { message, data } => {
                ErrorObjectOwned::owned(3, message.clone(), Some(data.clone()))
            }
            RpcErr::SyncTimeout { message, hash } | RpcErr::NotReady { message, hash } => {
                ErrorObjectOwned::owned(e.code(), message.clone(), Some(*hash))
            }
            other => ErrorObjectOwned::owned(other.code(), other.to_string(), None::<()>),
        }
    }
}

impl From<preconf_core::storage::StorageError> for RpcErr {
    fn from(e: preconf_core::storage::StorageError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<preconf_core::state::StateError> for RpcErr {
    fn from(e: preconf_core::state::StateError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<crate::supervisor::ActorError> for RpcErr {
    fn from(e: crate::supervisor::ActorError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<crate::mempool::MempoolError> for RpcErr {
    fn from(e: crate::mempool::MempoolError) -> Self {
        match e {
            crate::mempool::MempoolError::Refused(e) => Self::Server(e.to_string()),
            crate::mempool::MempoolError::Unavailable(e) => e.into(),
        }
    }
}

impl From<jsonrpsee::types::ErrorObjectOwned> for RpcErr {
    fn from(e: ErrorObjectOwned) -> Self {
        Self::InvalidParams(e.message().to_string())
    }
}

/// Result type of RPC methods.
pub(crate) type RpcResult<T> = Result<T, RpcErr>;

/// Every `eth_`, `net_`, `web3_`, `txpool_` and `debug_` method, `eth_sendRawTransactionSync`
/// and the subscriptions, on one module (`preconf_newPartialBlock` is the Engine API port's).
pub(crate) fn module(api: EthApi) -> Result<RpcModule<()>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::new(());
    m.merge(InfoApiServer::into_rpc(api.clone()))?;
    m.merge(StateApiServer::into_rpc(api.clone()))?;
    m.merge(BlocksApiServer::into_rpc(api.clone()))?;
    m.merge(TransactionsApiServer::into_rpc(api.clone()))?;
    m.merge(FeesApiServer::into_rpc(api.clone()))?;
    m.merge(LogsApiServer::into_rpc(api.clone()))?;
    m.merge(TxpoolApiServer::into_rpc(api.clone()))?;
    m.merge(DebugApiServer::into_rpc(api.clone()))?;
    m.merge(PreconfApiServer::into_rpc(api.clone()))?;
    m.merge(subscriptions::module(api)?)?;
    Ok(m)
}

/// CORS setting: `None` for no CORS headers, or the allowed origins (`*` for any, `localhost` for
/// pages of this machine: [`shape::origin_matches`]).
fn cors_layer(domains: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    if domains.is_empty() {
        return None;
    }
    let origin = if domains.iter().any(|d| d == "*") {
        AllowOrigin::any()
    } else {
        let domains = domains.to_vec();
        AllowOrigin::predicate(move |origin, _| {
            origin
                .to_str()
                .is_ok_and(|o| shape::origin_matches(o, &domains))
        })
    };
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods(Any)
            .allow_headers(Any),
    )
}

/// Subscription ids as geth makes them (`0x` + 32 hex digits): tools expect strings.
#[derive(Debug)]
struct HexIdProvider;

impl jsonrpsee::core::traits::IdProvider for HexIdProvider {
    fn next_id(&self) -> jsonrpsee::types::SubscriptionId<'static> {
        jsonrpsee::types::SubscriptionId::Str(alloy_primitives::B128::random().to_string().into())
    }
}

/// Serves `module` on `addr` behind the HTTP layers `http` (outermost first), with `limits`:
/// jsonrpsee answers the calls, [`listen`](super::listen) accepts the connections.
pub(crate) async fn serve_module<L>(
    addr: SocketAddr,
    http: tower::ServiceBuilder<L>,
    limits: Limits,
    module: RpcModule<()>,
) -> std::io::Result<(SocketAddr, ServerHandle)>
where
    L: tower::Layer<
            jsonrpsee::server::TowerServiceNoHttp<
                tower::layer::util::Stack<middleware::MetricsLayer, tower::layer::util::Identity>,
            >,
        > + Clone
        + Send
        + Sync
        + 'static,
    L::Service: tower::Service<
            jsonrpsee::server::HttpRequest,
            Response = jsonrpsee::server::HttpResponse,
            Error = Box<dyn std::error::Error + Send + Sync>,
        > + Clone
        + Send
        + 'static,
    <L::Service as tower::Service<jsonrpsee::server::HttpRequest>>::Future: Send + 'static,
{
    crate::metrics::zero(
        crate::metrics::RPC_HTTP_REFUSED,
        "reason",
        crate::metrics::RPC_HTTP_REFUSED_REASONS,
    );
    let rpc = jsonrpsee::server::middleware::rpc::RpcServiceBuilder::new().layer(
        middleware::MetricsLayer::new(module.method_names(), limits.response),
    );
    let config = |message: u32, connections: u32| {
        jsonrpsee::server::ServerConfig::builder()
            .max_request_body_size(message)
            .max_response_body_size(limits.response)
            .max_connections(connections)
            // Batches are limited by the middleware, which answers as geth does.
            .set_batch_request_config(jsonrpsee::server::BatchRequestConfig::Unlimited)
            // A WebSocket client that answers no ping for 25 s (one stuck in the middle of a
            // frame cannot) is disconnected, at the next check (30 s): the read timeout of
            // WebSocket connections. One that answers stays, however long it is idle.
            .enable_ws_ping(
                jsonrpsee::server::PingConfig::new()
                    .ping_interval(WS_PING_EVERY)
                    .inactive_limit(WS_INACTIVE_LIMIT),
            )
            .set_id_provider(HexIdProvider)
            .build()
    };
    let builder = |message, connections| {
        Server::builder()
            .set_config(config(message, connections))
            .set_http_middleware(http.clone())
            .set_rpc_middleware(rpc.clone())
            .to_service_builder()
    };
    let http_service = builder(limits.request, limits.http_requests);
    let ws_service = builder(limits.ws_message, limits.ws_connections);
    let methods: jsonrpsee::Methods = module.into();
    super::listen::serve(addr, move |stop| {
        (
            http_service.clone().build(methods.clone(), stop.clone()),
            ws_service.clone().build(methods.clone(), stop),
        )
    })
    .await
}

/// The `Host` filter: `vhosts` as host names on any port, or none with `*`.
fn host_filter(
    vhosts: &[String],
) -> std::io::Result<Option<jsonrpsee::server::middleware::http::HostFilterLayer>> {
    if vhosts.iter().any(|h| h == "*") {
        return Ok(None);
    }
    let patterns: Vec<String> = vhosts.iter().map(|h| format!("{h}:*")).collect();
    jsonrpsee::server::middleware::http::HostFilterLayer::new(patterns)
        .map(Some)
        .map_err(|e| std::io::Error::other(format!("--http.vhosts: {e}")))
}

/// Starts a JSON-RPC server (HTTP and WebSocket) for `module` on `addr`.
pub(crate) async fn serve(
    addr: SocketAddr,
    cors: &[String],
    vhosts: &[String],
    module: RpcModule<()>,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let origins = (!cors.iter().any(|d| d == "*")).then(|| cors.to_vec());
    let http = tower::ServiceBuilder::new()
        .option_layer(host_filter(vhosts)?)
        .option_layer(cors_layer(cors))
        .layer(shape_layer(PUBLIC, origins));
    serve_module(addr, http, PUBLIC, module).await
}

/// The body-reading layer for a server with `limits` (see [`shape`]).
pub(crate) fn shape_layer(limits: Limits, origins: Option<Vec<String>>) -> shape::ShapeLayer {
    shape::ShapeLayer {
        max_body: limits.request as usize,
        origins: origins.map(std::sync::Arc::new),
        budget: limits
            .body_budget
            .map(|b| std::sync::Arc::new(tokio::sync::Semaphore::new(b))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{mempool::MempoolError, supervisor::ActorError};
    use alloy_primitives::B256;
    use preconf_core::txpool::PoolError;

    fn object(e: RpcErr) -> serde_json::Value {
        serde_json::to_value(ErrorObjectOwned::from(e)).unwrap()
    }

    #[test]
    fn every_error_has_its_code_and_data() {
        let hash = B256::repeat_byte(7);
        let cases = [
            (RpcErr::InvalidParams("x".into()), -32602, None),
            (RpcErr::Server("header not found".into()), -32000, None),
            (RpcErr::NotFound("gone".into()), -32001, None),
            (RpcErr::Limit("busy".into()), -32005, None),
            (RpcErr::Internal("oops".into()), -32603, None),
            (
                RpcErr::revert(Bytes::from_static(&[1, 2])),
                3,
                Some(serde_json::json!("0x0102")),
            ),
            (
                RpcErr::SyncTimeout {
                    message: "late".into(),
                    hash,
                },
                4,
                Some(serde_json::json!(hash)),
            ),
            (
                RpcErr::NotReady {
                    message: "gap".into(),
                    hash,
                },
                5,
                Some(serde_json::json!(hash)),
            ),
        ];
        for (err, code, data) in cases {
            assert_eq!(err.code(), code);
            let o = object(err);
            assert_eq!(o["code"], code);
            assert_eq!(o.get("data").cloned(), data, "{o}");
        }
    }

    #[test]
    fn reverts_carry_geths_message() {
        // Error(string) "nope".
        let data = alloy_sol_types::SolError::abi_encode(&alloy_sol_types::Revert::from("nope"));
        let o = object(RpcErr::revert(data.into()));
        assert_eq!(o["message"], "execution reverted: nope");
        let panic = alloy_sol_types::SolError::abi_encode(&alloy_sol_types::Panic {
            code: alloy_primitives::U256::from(1),
        });
        assert_eq!(
            object(RpcErr::revert(panic.into()))["message"],
            "execution reverted: assert(false)"
        );
        assert_eq!(
            object(RpcErr::revert(Bytes::new()))["message"],
            "execution reverted"
        );
    }

    #[test]
    fn actor_and_pool_errors_map_to_their_codes() {
        let refused = RpcErr::from(MempoolError::Refused(PoolError::AlreadyKnown));
        assert_eq!(
            (refused.code(), refused.to_string().as_str()),
            (-32000, "already known")
        );
        let down = RpcErr::from(MempoolError::Unavailable(ActorError::NotRunning));
        assert_eq!(down.code(), -32603);
        assert_eq!(RpcErr::from(ActorError::Dropped).code(), -32603);
    }
}
