//! The operator endpoint on the metrics port: `/metrics` (Prometheus text exposition of every
//! actor's metrics, then the process and runtime metrics) and `/healthz` (every supervised actor's
//! health and the node's vital signs as JSON; 503, with every reason under `problems`, while an
//! actor is down or degraded, blocks cannot be committed, the chain stalls or the disk is low). It runs on the same accept loop as the
//! JSON-RPC servers ([`super::listen`]), with its connection and header limits; request bodies
//! are never read.

use crate::{metrics, supervisor::HealthMap, vitals::Vitals};
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse, ServerHandle};
use std::net::SocketAddr;

fn respond(status: u16, content_type: &str, body: String) -> HttpResponse {
    HttpResponse::builder()
        .status(status)
        .header("content-type", content_type)
        .body(HttpBody::from(body))
        .expect("static response parts are valid")
}

/// Serves `/metrics` and `/healthz` on `addr` until the returned handle is stopped.
pub(crate) async fn serve(
    addr: SocketAddr,
    health: HealthMap,
    vitals: Option<Vitals>,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let handle = metrics::install();
    let service = tower::service_fn(move |req: HttpRequest| {
        let reply = match (req.method().as_str(), req.uri().path()) {
            ("GET", "/metrics") => respond(
                200,
                "text/plain; version=0.0.4",
                handle.render() + &crate::process::render(),
            ),
            ("GET", "/healthz") => {
                // Every reason the node is unhealthy, actors included (once).
                let problems = match &vitals {
                    Some(v) => v.problems(),
                    None => crate::vitals::actor_problems(&health),
                };
                let h = health.read().unwrap_or_else(|e| e.into_inner()).clone();
                let ok = problems.is_empty();
                let body = serde_json::json!({ "healthy": ok, "problems": problems, "actors": h })
                    .to_string();
                respond(if ok { 200 } else { 503 }, "application/json", body)
            }
            (_, "/metrics" | "/healthz") => respond(405, "text/plain", "GET only\n".into()),
            _ => respond(404, "text/plain", "not found: /metrics, /healthz\n".into()),
        };
        std::future::ready(Ok::<_, Box<dyn std::error::Error + Send + Sync>>(reply))
    });
    super::listen::serve(addr, move |_| (service.clone(), service.clone())).await
}
