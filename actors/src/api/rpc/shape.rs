//! The HTTP layer in front of jsonrpsee. It reads each request body itself — at most
//! `max_body` bytes (413 however the body is framed), within [`BODY_TIMEOUT`] (408), and within a
//! byte budget shared by every connection (503 when hostile clients hold it all) — and answers
//! what jsonrpsee answers badly as geth does: a request whose `id` is not a string, a number or null gets -32600 `invalid
//! request` (jsonrpsee sends a `null` body), and `eth_subscribe` / `eth_unsubscribe` over plain HTTP
//! get -32601 `notifications not supported` (jsonrpsee: -32603). Only single requests are looked
//! at, and only when a cheap byte scan says they might need it; everything else passes through
//! untouched. A WebSocket upgrade from a browser `Origin` not in `--http.corsdomain` (unless `*`)
//! gets 403, as geth's `--ws.origins`.

use futures::future::BoxFuture;
use http_body_util::BodyExt;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse, http::response};
use serde_json::{Value, json};
use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Time to receive a whole request body (after its headers).
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(15);

/// The layer; see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct ShapeLayer {
    /// The largest body read (413 beyond it).
    pub max_body: usize,
    /// The browser origins a WebSocket may be opened from (`--http.corsdomain`, see
    /// [`origin_matches`]); `None` for any.
    pub origins: Option<Arc<Vec<String>>>,
    /// Bytes of request bodies held at once, across all connections; past it a request gets 503.
    /// `None` for no shared bound (the authenticated Engine API).
    pub budget: Option<Arc<Semaphore>>,
}

impl<S> tower::Layer<S> for ShapeLayer {
    type Service = ShapeService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ShapeService {
            inner,
            max_body: self.max_body,
            origins: self.origins.clone(),
            budget: self.budget.clone(),
        }
    }
}

/// The service [`ShapeLayer`] makes.
#[derive(Debug, Clone)]
pub(crate) struct ShapeService<S> {
    inner: S,
    max_body: usize,
    origins: Option<Arc<Vec<String>>>,
    budget: Option<Arc<Semaphore>>,
}

/// Whether a browser `Origin` is allowed by `--http.corsdomain` entries: `*` allows any, an
/// origin is allowed as written, and `localhost` allows every page served from this machine
/// (`http` or `https` on `localhost`, `*.localhost`, `127.0.0.1` or `[::1]`, any port).
pub(crate) fn origin_matches(origin: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|a| match a.as_str() {
        "*" => true,
        "localhost" => from_this_machine(origin),
        exact => exact == origin,
    })
}

fn from_this_machine(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")),
        None => rest.split(':').next().map(str::to_string),
    };
    let port_ok = |after: &str| after.is_empty() || after[1..].bytes().all(|b| b.is_ascii_digit());
    match host {
        Some(h) => {
            let Some(after) = rest.strip_prefix(h.as_str()) else {
                return false;
            };
            (after.is_empty() || after.starts_with(':') && port_ok(after))
                && (h == "localhost"
                    || h.ends_with(".localhost")
                    || h == "127.0.0.1"
                    || h == "[::1]")
        }
        None => false,
    }
}

/// Whether a WebSocket upgrade comes from an origin it may come from: no `Origin` header (not a
/// browser), or one `origins` allows.
fn origin_allowed(req: &HttpRequest, origins: &[String]) -> bool {
    match req.headers().get("origin").and_then(|v| v.to_str().ok()) {
        Some(origin) if crate::api::listen::is_websocket(req) => origin_matches(origin, origins),
        _ => true,
    }
}

/// The answer for a request jsonrpsee would mishandle, if this is one.
fn answer(body: &[u8]) -> Option<Value> {
    let suspicious =
        contains(body, b"eth_subscribe") || contains(body, b"eth_unsubscribe") || odd_id(body);
    if !suspicious {
        return None;
    }
    let request: Value = serde_json::from_slice(body).ok()?;
    let object = request.as_object()?;
    let id = object.get("id").cloned().unwrap_or(Value::Null);
    if !matches!(id, Value::Null | Value::String(_) | Value::Number(_)) {
        return Some(
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "invalid request"}}),
        );
    }
    match object.get("method").and_then(Value::as_str) {
        Some("eth_subscribe" | "eth_unsubscribe") => Some(
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "notifications not supported"}}),
        ),
        _ => None,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether an `"id"` key is followed by an object, an array or a boolean.
fn odd_id(body: &[u8]) -> bool {
    let mut rest = body;
    while let Some(at) = rest.windows(4).position(|w| w == b"\"id\"") {
        rest = &rest[at + 4..];
        let value = rest
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .skip_while(|b| **b == b':')
            .find(|b| !b.is_ascii_whitespace());
        if matches!(value, Some(b'{' | b'[' | b't' | b'f')) {
            return true;
        }
    }
    false
}

/// Why a body was not read.
enum Refused {
    TooLarge,
    Timeout,
    Busy,
    Malformed,
}

/// Reads a whole body: at most `max` bytes, within [`BODY_TIMEOUT`], and (with a budget) only
/// while the bytes held by all requests being read or served stay within it. The permit returned
/// holds this body's share until dropped.
async fn read_body(
    body: HttpBody,
    max: usize,
    budget: Option<&Arc<Semaphore>>,
) -> Result<(hyper::body::Bytes, Option<OwnedSemaphorePermit>), Refused> {
    let read = async {
        let mut body = std::pin::pin!(body);
        let mut buf = Vec::new();
        let mut held: Option<OwnedSemaphorePermit> = None;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(|_| Refused::Malformed)?.into_data() else {
                continue;
            };
            if buf.len() + data.len() > max {
                return Err(Refused::TooLarge);
            }
            if let Some(budget) = budget {
                let n = u32::try_from(data.len()).map_err(|_| Refused::TooLarge)?;
                let permit = budget
                    .clone()
                    .try_acquire_many_owned(n)
                    .map_err(|_| Refused::Busy)?;
                match &mut held {
                    Some(h) => h.merge(permit),
                    None => held = Some(permit),
                }
            }
            buf.extend_from_slice(&data);
        }
        Ok((hyper::body::Bytes::from(buf), held))
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .unwrap_or(Err(Refused::Timeout))
}

/// A plain-text HTTP answer.
fn plain(status: u16, text: &'static str) -> HttpResponse {
    HttpResponse::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(HttpBody::from(text))
        .expect("static response parts are valid")
}

fn refused(reason: &'static str) {
    metrics::counter!(crate::metrics::RPC_HTTP_REFUSED, "reason" => reason).increment(1);
}

impl<S> tower::Service<HttpRequest> for ShapeService<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<HttpResponse, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        // The clone that was polled ready serves this request; the fresh one waits for the next.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        if req.method() != hyper::Method::POST {
            if let Some(origins) = &self.origins
                && !origin_allowed(&req, origins)
            {
                refused("origin");
                let resp = plain(403, "Origin not allowed (--http.corsdomain).\n");
                return Box::pin(async move { Ok(resp) });
            }
            return Box::pin(inner.call(req));
        }
        let (max_body, budget) = (self.max_body, self.budget.clone());
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let (bytes, _held) = match read_body(body, max_body, budget.as_ref()).await {
                Ok(read) => read,
                // As the server itself answers: 413 past the limit, 400 for a broken body.
                Err(Refused::TooLarge) => {
                    refused("too_large");
                    return Ok(response::too_large(max_body as u32));
                }
                Err(Refused::Malformed) => {
                    refused("malformed");
                    return Ok(response::malformed());
                }
                Err(Refused::Timeout) => {
                    refused("timeout");
                    return Ok(plain(408, "Request body not received in time.\n"));
                }
                Err(Refused::Busy) => {
                    refused("busy");
                    return Ok(plain(
                        503,
                        "Server busy: too much request data in flight; retry.\n",
                    ));
                }
            };
            if let Some(v) = answer(&bytes) {
                let resp = HttpResponse::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(HttpBody::from(v.to_string()))
                    .expect("static response parts are valid");
                return Ok(resp);
            }
            let body = HttpBody::new(http_body_util::Full::new(bytes));
            inner.call(HttpRequest::from_parts(parts, body)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_allows_pages_of_this_machine_only() {
        let allowed = ["localhost".to_string()];
        for ok in [
            "http://localhost:3000",
            "http://localhost",
            "https://app.localhost:5173",
            "http://127.0.0.1:8080",
            "http://[::1]:3000",
        ] {
            assert!(origin_matches(ok, &allowed), "{ok}");
        }
        for refused in [
            "http://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.evil.example:80",
            "http://localhost:3000@evil.example",
            "file://",
            "null",
            "chrome-extension://abc",
            "http://[",
            "https://",
        ] {
            assert!(!origin_matches(refused, &allowed), "{refused}");
        }
        assert!(origin_matches("http://evil.example", &["*".to_string()]));
        let exact = ["https://remix.ethereum.org".to_string()];
        assert!(origin_matches("https://remix.ethereum.org", &exact));
        assert!(!origin_matches("https://remix.ethereum.org.evil", &exact));
    }

    #[test]
    fn only_what_jsonrpsee_mishandles_is_answered() {
        let bad_id = br#"{"jsonrpc":"2.0","id":{"a":1},"method":"eth_chainId","params":[]}"#;
        assert_eq!(answer(bad_id).unwrap()["error"]["code"], -32600);
        let bool_id = br#"{"jsonrpc":"2.0","id" : true,"method":"eth_chainId"}"#;
        assert_eq!(answer(bool_id).unwrap()["error"]["code"], -32600);
        let sub = br#"{"jsonrpc":"2.0","id":7,"method":"eth_subscribe","params":["newHeads"]}"#;
        let a = answer(sub).unwrap();
        assert_eq!(
            (a["error"]["code"].clone(), a["id"].clone()),
            (json!(-32601), json!(7))
        );
        for fine in [
            &br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#[..],
            br#"{"jsonrpc":"2.0","id":"x","method":"eth_call","params":[{"data":"0x"}]}"#,
            br#"[{"jsonrpc":"2.0","id":{},"method":"eth_subscribe"}]"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"topics":[]}]}"#,
        ] {
            assert_eq!(answer(fine), None, "{}", String::from_utf8_lossy(fine));
        }
    }
}
