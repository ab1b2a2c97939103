//! Metric names (one place, Prometheus base units, one `preconf_` prefix), their descriptions,
//! the recorder, and the HTTP endpoint that serves `/metrics` and `/healthz`.

use crate::supervisor::HealthMap;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::{net::SocketAddr, sync::OnceLock};
use warp::Filter;

/// Blocks committed to the canonical chain.
pub const CHAIN_BLOCKS_IMPORTED: &str = "preconf_chain_blocks_imported_total";
/// Blocks rejected as invalid.
pub const CHAIN_INVALID_BLOCKS: &str = "preconf_chain_invalid_blocks_total";
/// Seconds to execute and validate a block.
pub const CHAIN_EXECUTION_SECONDS: &str = "preconf_chain_block_execution_seconds";
/// Seconds to commit a block to the database.
pub const CHAIN_COMMIT_SECONDS: &str = "preconf_chain_block_commit_seconds";
/// Gas used by committed blocks.
pub const CHAIN_GAS_USED: &str = "preconf_chain_gas_used_total";
/// Head block number.
pub const CHAIN_HEAD_NUMBER: &str = "preconf_chain_head_number";
/// Blocks built by the payload builder.
pub const BUILDER_BLOCKS_BUILT: &str = "preconf_builder_blocks_built_total";
/// Seconds to build a payload.
pub const BUILDER_BUILD_SECONDS: &str = "preconf_builder_build_seconds";
/// Transactions in the pool by state (`pending`, `queued`).
pub const MEMPOOL_SIZE: &str = "preconf_mempool_transactions";
/// Transactions accepted into the pool.
pub const MEMPOOL_ADDED: &str = "preconf_mempool_added_total";
/// Transactions rejected by the pool, by reason.
pub const MEMPOOL_REJECTED: &str = "preconf_mempool_rejected_total";
/// Transactions evicted or dropped from the pool.
pub const MEMPOOL_DROPPED: &str = "preconf_mempool_dropped_total";
/// JSON-RPC requests, by method.
pub const RPC_REQUESTS: &str = "preconf_rpc_requests_total";
/// JSON-RPC request errors, by method.
pub const RPC_ERRORS: &str = "preconf_rpc_errors_total";
/// JSON-RPC request latency, by method.
pub const RPC_LATENCY_SECONDS: &str = "preconf_rpc_request_seconds";
/// Engine API requests refused for authentication.
pub const ENGINE_AUTH_FAILURES: &str = "preconf_engine_auth_failures_total";
/// Engine API calls by method.
pub const ENGINE_REQUESTS: &str = "preconf_engine_requests_total";
/// Devnet slots produced, by outcome (`block`, `missed`).
pub const DEVNET_SLOTS: &str = "preconf_devnet_slots_total";
/// Actor failures seen by the supervisor, by actor.
pub const SUPERVISOR_FAILURES: &str = "preconf_supervisor_failures_total";
/// Actor restarts, by actor.
pub const SUPERVISOR_RESTARTS: &str = "preconf_supervisor_restarts_total";
/// 1 when an actor exhausted its restart budget.
pub const SUPERVISOR_DEGRADED: &str = "preconf_supervisor_degraded";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder (once per process) and describes every metric.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ],
                )
                .expect("bucket list is non-empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        CHAIN_BLOCKS_IMPORTED,
        "Blocks committed to the canonical chain"
    );
    describe_counter!(CHAIN_INVALID_BLOCKS, "Blocks rejected as invalid");
    describe_histogram!(
        CHAIN_EXECUTION_SECONDS,
        Unit::Seconds,
        "Block execution and validation time"
    );
    describe_histogram!(CHAIN_COMMIT_SECONDS, Unit::Seconds, "Block commit time");
    describe_counter!(CHAIN_GAS_USED, "Gas used by committed blocks");
    describe_gauge!(CHAIN_HEAD_NUMBER, "Head block number");
    describe_counter!(BUILDER_BLOCKS_BUILT, "Payloads built");
    describe_histogram!(BUILDER_BUILD_SECONDS, Unit::Seconds, "Payload build time");
    describe_gauge!(MEMPOOL_SIZE, "Pool size by state");
    describe_counter!(MEMPOOL_ADDED, "Transactions accepted into the pool");
    describe_counter!(MEMPOOL_REJECTED, "Transactions rejected by reason");
    describe_counter!(MEMPOOL_DROPPED, "Transactions evicted or dropped");
    describe_counter!(RPC_REQUESTS, "JSON-RPC requests by method");
    describe_counter!(RPC_ERRORS, "JSON-RPC errors by method");
    describe_histogram!(
        RPC_LATENCY_SECONDS,
        Unit::Seconds,
        "JSON-RPC latency by method"
    );
    describe_counter!(
        ENGINE_AUTH_FAILURES,
        "Engine API requests refused for authentication"
    );
    describe_counter!(ENGINE_REQUESTS, "Engine API requests by method");
    describe_counter!(DEVNET_SLOTS, "Devnet slots by outcome");
    describe_counter!(SUPERVISOR_FAILURES, "Actor failures by actor");
    describe_counter!(SUPERVISOR_RESTARTS, "Actor restarts by actor");
    describe_gauge!(
        SUPERVISOR_DEGRADED,
        "1 when an actor exhausted its restart budget"
    );
    // Zero-initialise the counters so dashboards show them before the first event.
    for name in [
        CHAIN_BLOCKS_IMPORTED,
        CHAIN_INVALID_BLOCKS,
        CHAIN_GAS_USED,
        BUILDER_BLOCKS_BUILT,
        MEMPOOL_ADDED,
        ENGINE_AUTH_FAILURES,
    ] {
        metrics::counter!(name).increment(0);
    }
}

/// Serves `/metrics` (Prometheus text) and `/healthz` (JSON of every actor's health; 503 when
/// one is degraded) until the returned task is aborted.
pub async fn serve(
    addr: SocketAddr,
    health: HealthMap,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let handle = install();
    let metrics = warp::path("metrics")
        .and(warp::path::end())
        .map(move || handle.render());
    let healthz = warp::path("healthz").and(warp::path::end()).map(move || {
        let h = health.read().unwrap_or_else(|e| e.into_inner()).clone();
        let ok = h.values().all(|c| c.running && !c.degraded);
        let status = if ok {
            warp::http::StatusCode::OK
        } else {
            warp::http::StatusCode::SERVICE_UNAVAILABLE
        };
        warp::reply::with_status(
            warp::reply::json(&serde_json::json!({ "healthy": ok, "actors": h })),
            status,
        )
    });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let server = warp::serve(metrics.or(healthz)).incoming(listener);
    Ok((bound, tokio::spawn(server.run())))
}
