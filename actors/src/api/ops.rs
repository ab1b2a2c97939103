//! The operator endpoint on the metrics port: `/metrics` (Prometheus text exposition of every
//! actor's metrics, then the process and runtime metrics) and `/healthz` (every supervised actor's health as JSON; 503 while one is down
//! or degraded).

use crate::{metrics, supervisor::HealthMap};
use std::net::SocketAddr;
use warp::Filter;

/// Serves `/metrics` (Prometheus text) and `/healthz` (JSON of every actor's health; 503 when
/// one is degraded) until the returned task is aborted.
pub(crate) async fn serve(
    addr: SocketAddr,
    health: HealthMap,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let handle = metrics::install();
    let metrics = warp::path("metrics")
        .and(warp::path::end())
        .map(move || handle.render() + &crate::process::render());
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
