//! What jsonrpsee answers badly at the HTTP level, answered as geth does, before it reaches
//! jsonrpsee: a request whose `id` is not a string, a number or null gets -32600 `invalid
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
};

/// The layer; see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct ShapeLayer {
    /// The largest body read (the server's own limit answers 413 beyond it).
    pub max_body: usize,
    /// The browser origins a WebSocket may be opened from (`--http.corsdomain`); `None` for any.
    pub origins: Option<Arc<Vec<String>>>,
}

impl<S> tower::Layer<S> for ShapeLayer {
    type Service = ShapeService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ShapeService {
            inner,
            max_body: self.max_body,
            origins: self.origins.clone(),
        }
    }
}

/// The service [`ShapeLayer`] makes.
#[derive(Debug, Clone)]
pub(crate) struct ShapeService<S> {
    inner: S,
    max_body: usize,
    origins: Option<Arc<Vec<String>>>,
}

/// Whether a WebSocket upgrade comes from an origin it may come from: no `Origin` header (not a
/// browser), or one of `origins`.
fn origin_allowed(req: &HttpRequest, origins: &[String]) -> bool {
    let upgrade = req
        .headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    match req.headers().get("origin").and_then(|v| v.to_str().ok()) {
        Some(origin) if upgrade => origins.iter().any(|o| o == origin),
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
                let resp = HttpResponse::builder()
                    .status(403)
                    .header("content-type", "text/plain")
                    .body(HttpBody::from("Origin not allowed (--http.corsdomain).\n"))
                    .expect("static response parts are valid");
                return Box::pin(async move { Ok(resp) });
            }
            return Box::pin(inner.call(req));
        }
        let max_body = self.max_body;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let bytes = match http_body_util::Limited::new(body, max_body).collect().await {
                Ok(collected) => collected.to_bytes(),
                // As the server itself answers: 413 past the limit, 400 for a broken body.
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return Ok(response::too_large(max_body as u32));
                }
                Err(_) => return Ok(response::malformed()),
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
