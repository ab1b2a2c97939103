//! The validators' client of the sequencer's payload server (beacon-kit's `client.go`, `WIRE.md`
//! §3): one POST per proposal with the validator's JWT, no retries, a timeout; a transport error
//! (a timeout is one) marks the sequencer unavailable and starts a `/health` monitor that probes
//! every health-check interval until it answers 200. While unavailable, fetches are skipped.
//!
//! The validators of one consensus process reach the sequencer over the same network, so they
//! share this client and its view of the sequencer's availability ("offline" and "healthy again"
//! are logged once per outage).

use crate::{metrics as m, supervisor::TaskGuard};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, StatusCode, Uri, body::Bytes};
use hyper_util::rt::TokioIo;
use preconf_core::{
    jwt::JwtSecret,
    preconf::{ErrorBody, HEALTH_PATH, PAYLOAD_PATH, PayloadRequest, PayloadResponse},
};
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tracing::{info, warn};

/// Why a fetch gave no payload.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    /// Connection refused or reset, or no answer in time: the sequencer is unavailable.
    #[error("sequencer unreachable: {0}")]
    Transport(String),
    /// An HTTP error status, with the server's message.
    #[error("{status}: {message}")]
    Status {
        /// The status.
        status: StatusCode,
        /// Its message.
        message: String,
    },
    /// The response is larger than `--preconf.max-response-size` or not a payload.
    #[error("unusable response: {0}")]
    Body(String),
}

/// Settings of the client.
#[derive(Debug, Clone)]
pub(crate) struct FetchConfig {
    /// `http://host:port` of the payload server.
    pub url: String,
    /// Timeout of one fetch.
    pub timeout: Duration,
    /// Time between `/health` probes while the sequencer is unavailable.
    pub health_interval: Duration,
    /// Largest response accepted.
    pub max_response: usize,
}

/// The payload-server client shared by a consensus process' validators.
#[derive(Debug, Clone)]
pub(crate) struct SequencerClient {
    config: Arc<FetchConfig>,
    available: Arc<AtomicBool>,
    monitor: Arc<Mutex<Option<TaskGuard>>>,
}

impl SequencerClient {
    /// A client that starts out considering the sequencer available.
    pub(crate) fn new(config: FetchConfig) -> Self {
        metrics::gauge!(m::PROPOSER_SEQUENCER_AVAILABLE).set(1.0);
        Self {
            config: Arc::new(config),
            available: Arc::new(AtomicBool::new(true)),
            monitor: Arc::default(),
        }
    }

    /// Whether fetching is on (no transport error since the last healthy probe).
    pub(crate) fn available(&self) -> bool {
        self.available.load(Ordering::Relaxed)
    }

    /// Asks for the payload of `slot` on `parent_block_root` as the validator owning `jwt`.
    pub(crate) async fn fetch(
        &self,
        jwt: &JwtSecret,
        request: &PayloadRequest,
    ) -> Result<PayloadResponse, FetchError> {
        let body = serde_json::to_vec(request).map_err(|e| FetchError::Body(e.to_string()))?;
        let result = tokio::time::timeout(
            self.config.timeout,
            send(
                &self.config.url,
                Method::POST,
                PAYLOAD_PATH,
                Some((jwt, body)),
                self.config.max_response,
            ),
        )
        .await
        .unwrap_or_else(|_| {
            Err(FetchError::Transport(format!(
                "no answer within {:?}",
                self.config.timeout
            )))
        });
        let (status, bytes) = match result {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, FetchError::Transport(_)) {
                    self.mark_unavailable(&e);
                }
                return Err(e);
            }
        };
        if status != StatusCode::OK {
            let message = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|e| e.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            return Err(FetchError::Status { status, message });
        }
        serde_json::from_slice(&bytes).map_err(|e| FetchError::Body(e.to_string()))
    }

    /// Stops fetching and probes `/health` every interval until it answers 200.
    fn mark_unavailable(&self, why: &FetchError) {
        if !self.available.swap(false, Ordering::Relaxed) {
            return;
        }
        metrics::gauge!(m::PROPOSER_SEQUENCER_AVAILABLE).set(0.0);
        warn!(target: "consensus", url = %self.config.url, error = %why, retry_every = ?self.config.health_interval, "sequencer offline: proposers build locally until its health check passes");
        let (config, available) = (self.config.clone(), self.available.clone());
        let task = TaskGuard::spawn(async move {
            loop {
                tokio::time::sleep(config.health_interval).await;
                let probe = tokio::time::timeout(
                    config.timeout,
                    send(&config.url, Method::GET, HEALTH_PATH, None, 4096),
                )
                .await;
                if let Ok(Ok((StatusCode::OK, _))) = probe {
                    available.store(true, Ordering::Relaxed);
                    metrics::gauge!(m::PROPOSER_SEQUENCER_AVAILABLE).set(1.0);
                    info!(target: "consensus", url = %config.url, "sequencer healthy again: fetching payloads");
                    return;
                }
            }
        });
        *self.monitor.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }
}

/// One HTTP/1.1 request on a new connection; the body read is capped at `max`.
async fn send(
    base: &str,
    method: Method,
    path: &str,
    auth_body: Option<(&JwtSecret, Vec<u8>)>,
    max: usize,
) -> Result<(StatusCode, Bytes), FetchError> {
    let transport = |e: &dyn std::fmt::Display| FetchError::Transport(e.to_string());
    let uri: Uri = base
        .parse()
        .map_err(|e| FetchError::Transport(format!("bad URL {base:?}: {e}")))?;
    let authority = uri
        .authority()
        .ok_or_else(|| FetchError::Transport(format!("bad URL {base:?}: no host")))?
        .clone();
    let port = authority.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((authority.host(), port))
        .await
        .map_err(|e| transport(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| transport(&e))?;
    let conn = tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority.as_str());
    let body = match auth_body {
        Some((jwt, body)) => {
            req = req
                .header(
                    hyper::header::AUTHORIZATION,
                    format!("Bearer {}", jwt.token()),
                )
                .header(hyper::header::CONTENT_TYPE, "application/json");
            body
        }
        None => Vec::new(),
    };
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| transport(&e))?;
    let result = async {
        let resp = sender.send_request(req).await.map_err(|e| transport(&e))?;
        let status = resp.status();
        let bytes = Limited::new(resp.into_body(), max)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    FetchError::Body(format!("response larger than {max} bytes"))
                } else {
                    FetchError::Transport(e.to_string())
                }
            })?
            .to_bytes();
        Ok((status, bytes))
    }
    .await;
    conn.abort();
    result
}
