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

/// The largest request body accepted (bytes).
pub(crate) const MAX_REQUEST_BYTES: u32 = 15 * 1024 * 1024;
/// The largest response body sent (bytes); a larger one is refused with -32603 as jsonrpsee
/// does it.
const MAX_RESPONSE_BYTES: u32 = u32::MAX / 2;

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

/// CORS setting: `None` for no CORS headers, or a list of allowed origins (`*` for any).
fn cors_layer(domains: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    if domains.is_empty() {
        return None;
    }
    let origin = if domains.iter().any(|d| d == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(domains.iter().filter_map(|d| d.parse().ok()))
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

/// The JSON-RPC middleware of a server serving `module` (see [`middleware`]).
pub(crate) fn rpc_middleware<C>(
    module: &RpcModule<C>,
) -> jsonrpsee::server::middleware::rpc::RpcServiceBuilder<
    tower::layer::util::Stack<middleware::MetricsLayer, tower::layer::util::Identity>,
> {
    jsonrpsee::server::middleware::rpc::RpcServiceBuilder::new().layer(
        middleware::MetricsLayer::new(module.method_names(), MAX_RESPONSE_BYTES),
    )
}

/// Limits shared by the JSON-RPC and Engine API servers.
pub(crate) fn server_config() -> jsonrpsee::server::ServerConfig {
    jsonrpsee::server::ServerConfig::builder()
        .max_request_body_size(MAX_REQUEST_BYTES)
        .max_response_body_size(MAX_RESPONSE_BYTES)
        .max_connections(1024)
        .set_id_provider(HexIdProvider)
        .build()
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
        .layer(shape::ShapeLayer {
            max_body: MAX_REQUEST_BYTES as usize,
            origins: origins.map(std::sync::Arc::new),
        });
    let server = Server::builder()
        .set_config(server_config())
        .set_http_middleware(http)
        .set_rpc_middleware(rpc_middleware(&module))
        .build(addr)
        .await?;
    let bound = server.local_addr()?;
    Ok((bound, server.start(module)))
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
