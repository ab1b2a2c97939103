//! The JSON-RPC middleware every server runs: each call (batched or not) is counted and timed by
//! method, jsonrpsee's own parameter errors are put in the form this node uses everywhere, and
//! the size limits answer as geth does (-32003 `response too large`; a batch of more than
//! [`super::MAX_BATCH`] calls gets one -32600 `batch too large`).
//!
//! Method labels come from the served module's method names, so a client inventing method names
//! cannot grow the metrics without bound (they count as `unknown`).

use crate::metrics as m;
use jsonrpsee::{
    core::{
        middleware::{Batch, BatchEntry, Notification, Request, RpcServiceT},
        server::{BatchResponseBuilder, MethodResponse},
    },
    types::{ErrorCode, ErrorObject, error::OVERSIZED_RESPONSE_CODE},
};
use metrics::{Counter, Histogram};
use std::{collections::HashMap, future::Future, sync::Arc, time::Instant};

/// One method's series, resolved once (a registry lookup per call would cost more than a cheap
/// method itself).
#[derive(Debug)]
struct Series {
    requests: Counter,
    errors: Counter,
    latency: Histogram,
}

impl Series {
    fn new(method: &'static str) -> Self {
        let s = Self {
            requests: metrics::counter!(m::RPC_REQUESTS, "method" => method),
            errors: metrics::counter!(m::RPC_ERRORS, "method" => method),
            latency: metrics::histogram!(m::RPC_LATENCY_SECONDS, "method" => method),
        };
        s.requests.increment(0);
        s.errors.increment(0);
        s
    }
}

/// Adds [`Metrics`] to a server.
#[derive(Debug, Clone)]
pub(crate) struct MetricsLayer {
    methods: Arc<HashMap<&'static str, Series>>,
    unknown: Arc<Series>,
    max_response_bytes: usize,
}

impl MetricsLayer {
    /// A layer for a server serving exactly `methods`; every counter starts at zero.
    pub(crate) fn new(
        methods: impl IntoIterator<Item = &'static str>,
        max_response_bytes: u32,
    ) -> Self {
        Self {
            methods: Arc::new(methods.into_iter().map(|n| (n, Series::new(n))).collect()),
            unknown: Arc::new(Series::new("unknown")),
            max_response_bytes: max_response_bytes as usize,
        }
    }

    fn series(&self, method: &str) -> &Series {
        self.methods.get(method).unwrap_or(&self.unknown)
    }
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Metrics {
            inner,
            layer: self.clone(),
        }
    }
}

/// The middleware service.
#[derive(Debug, Clone)]
pub(crate) struct Metrics<S> {
    inner: S,
    layer: MetricsLayer,
}

impl<S> RpcServiceT for Metrics<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let layer = self.layer.clone();
        let id = request.id().into_owned();
        let inner = self.inner.clone();
        async move {
            let started = Instant::now();
            let series = layer.series(request.method_name());
            let response = inner.call(request).await;
            series.requests.increment(1);
            if response.is_error() {
                series.errors.increment(1);
            }
            series.latency.record(started.elapsed().as_secs_f64());
            match response.as_error_code() {
                Some(code) if code == ErrorCode::InvalidParams.code() => {
                    plain_invalid_params(response, id)
                }
                Some(OVERSIZED_RESPONSE_CODE) => response_too_large(id),
                _ => response,
            }
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        // As the server's own batch handling does, but through `call` above, so calls inside a
        // batch are counted too.
        let service = self.clone();
        async move {
            if batch.len() > super::MAX_BATCH {
                return batch_too_large(batch);
            }
            let mut responses =
                BatchResponseBuilder::new_with_limit(service.layer.max_response_bytes);
            let mut got_notification = false;
            for entry in batch.into_iter() {
                let response = match entry {
                    Ok(BatchEntry::Call(request)) => service.call(request).await,
                    Ok(BatchEntry::Notification(n)) => {
                        got_notification = true;
                        service.inner.notification(n).await;
                        continue;
                    }
                    Err(e) => {
                        let (error, id) = e.into_parts();
                        MethodResponse::error(id, error)
                    }
                };
                if responses.append(response).is_err() {
                    return response_too_large(jsonrpsee::types::Id::Null);
                }
            }
            if responses.is_empty() && got_notification {
                MethodResponse::notification()
            } else {
                MethodResponse::from_batch(responses.finish())
            }
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.inner.notification(n)
    }
}

/// geth's answer to a response over the limit (jsonrpsee: -32008 `Response is too big`).
fn response_too_large(id: jsonrpsee::types::Id<'static>) -> MethodResponse {
    MethodResponse::error(
        id,
        ErrorObject::owned(-32003, "response too large", None::<()>),
    )
}

/// geth's answer to a batch of more than [`super::MAX_BATCH`] calls: an array of one -32600
/// `batch too large` error carrying the id of the batch's first call.
fn batch_too_large(batch: Batch<'_>) -> MethodResponse {
    let id = batch
        .into_iter()
        .find_map(|entry| match entry {
            Ok(BatchEntry::Call(request)) => Some(request.id().into_owned()),
            _ => None,
        })
        .unwrap_or(jsonrpsee::types::Id::Null);
    let mut one = BatchResponseBuilder::new_with_limit(usize::MAX);
    let error = MethodResponse::error(
        id,
        ErrorObject::owned(
            ErrorCode::InvalidRequest.code(),
            "batch too large",
            None::<()>,
        ),
    );
    match one.append(error) {
        Ok(()) => MethodResponse::from_batch(one.finish()),
        Err(e) => e,
    }
}

/// jsonrpsee answers a parameter that does not parse with `"Invalid params"` and the reason in
/// `data`; this node (like geth) puts the reason in the message and sends no data.
fn plain_invalid_params(
    response: MethodResponse,
    id: jsonrpsee::types::Id<'static>,
) -> MethodResponse {
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        error: ErrorObject<'a>,
    }
    let Ok(body) = serde_json::from_str::<Body<'_>>(response.as_json().get()) else {
        return response;
    };
    let Some(reason) = body
        .error
        .data()
        .and_then(|d| serde_json::from_str::<String>(d.get()).ok())
    else {
        return response;
    };
    MethodResponse::error(
        id,
        ErrorObject::owned(
            ErrorCode::InvalidParams.code(),
            format!("invalid params: {reason}"),
            None::<()>,
        ),
    )
}
