//! The accept loop of the node's HTTP servers (JSON-RPC, the Engine API, the metrics port), with
//! the limits jsonrpsee's own loop does not set: at most [`MAX_CONNECTIONS`] connections being served
//! over HTTP (more wait in the kernel's backlog), request headers of at most
//! [`MAX_HEADER_BYTES`] received within [`HEADER_TIMEOUT`] (slowloris; also how long an idle
//! keep-alive connection is kept), and separate services for plain HTTP and for WebSocket
//! upgrades, so a WebSocket message can have a smaller limit than an HTTP body (a WebSocket
//! library reserves the whole announced frame before its bytes arrive).

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use jsonrpsee::server::{
    HttpBody, HttpRequest, HttpResponse, ServerHandle, StopHandle, stop_channel,
};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{net::TcpListener, sync::Semaphore};
use tracing::{debug, warn};

/// Connections served at once (a WebSocket connection leaves this count once upgraded; the
/// WebSocket service has its own cap).
pub(crate) const MAX_CONNECTIONS: usize = 1024;
/// Largest request header block.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Time to receive a request's headers, and how long an idle keep-alive connection is kept.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether a request asks to become a WebSocket.
pub(crate) fn is_websocket<B>(req: &hyper::Request<B>) -> bool {
    req.headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Binds `addr` and serves each connection with the services `make` returns for it: the first
/// for plain HTTP requests, the second for WebSocket upgrades. Stops accepting, and shuts every
/// connection down gracefully, when the returned handle is stopped.
pub(crate) async fn serve<S, M>(
    addr: SocketAddr,
    make: M,
) -> std::io::Result<(SocketAddr, ServerHandle)>
where
    M: Fn(StopHandle) -> (S, S) + Send + 'static,
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let (stop, handle) = stop_channel();
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p,
                _ = stop.clone().shutdown() => return,
            };
            let Ok(permit) = permit else { return };
            let stream = tokio::select! {
                r = listener.accept() => r,
                _ = stop.clone().shutdown() => return,
            };
            let stream = match stream {
                Ok((s, _)) => s,
                Err(e) => {
                    warn!(target: "server", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let (http, ws) = make(stop.clone());
            let stopped = stop.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: HttpRequest<Incoming>| {
                    let mut service = if is_websocket(&req) {
                        ws.clone()
                    } else {
                        http.clone()
                    };
                    let req = req.map(HttpBody::new);
                    async move {
                        let response = tower::Service::call(&mut service, req)
                            .await
                            .unwrap_or_else(|e| {
                                debug!(target: "server", error = %e, "request failed");
                                jsonrpsee::server::http::response::internal_error()
                            });
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .max_buf_size(MAX_HEADER_BYTES)
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                tokio::pin!(conn);
                let result = tokio::select! {
                    r = conn.as_mut() => r,
                    _ = stopped.shutdown() => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                };
                if let Err(e) = result {
                    debug!(target: "server", error = %e, "connection ended");
                }
                drop(permit);
            });
        }
    });
    Ok((bound, handle))
}
