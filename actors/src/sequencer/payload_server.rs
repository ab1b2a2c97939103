//! beacon-kit's sequencer side of BRIP-0007 (`WIRE.md` §3): the payload server that hands the
//! expected proposer the block the sequencer built for its slot, and the proposer tracker that
//! the devnet consensus points at each slot's (and each round's) proposer.
//!
//! - `GET /eth/v1/preconf/health`: 200 once a block is committed and the builder runs, else 503.
//! - `POST /eth/v1/preconf/payload`: checks, in this order, method (405), JWT (401: every
//!   validator secret is tried and the one that verifies names the caller), whitelist (403),
//!   body size (413), body (400), tracked slot and proposer (403), then up to five lookups 50 ms
//!   apart of the build for (slot, parent block root) (404 when none; never a build on demand).
//! - The whitelist is reloaded on SIGHUP; an empty or unreadable list is refused and the old one
//!   kept.

use crate::api::admission::{self, Admission, Outcome};
use crate::{
    api::engine::envelope,
    chain::ChainReader,
    metrics as m,
    sequencer::{BuildError, BuilderHandle},
};
use alloy_primitives::B256;
use alloy_rpc_types_engine::PayloadId;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    Method, Request, Response, StatusCode,
    body::{Bytes, Incoming},
    service::service_fn,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use preconf_core::{
    chainspec::EthereumHardforks as _,
    execution::BlockAttributes,
    jwt::{JwtSecret, bearer},
    preconf::{
        ErrorBody, HEALTH_PATH, HealthBody, JWT_WINDOW_SECS, MAX_REQUEST_BODY, PAYLOAD_PATH,
        PayloadRequest, PayloadResponse, ValidatorPubkey, parse_whitelist,
    },
};
use std::{
    collections::HashSet,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};
use tokio::{net::TcpListener, task::JoinSet};
use tracing::{debug, error, info, warn};

/// Connections open at once. A connection is always accepted: at the limit the oldest idle one
/// (no request in progress) is closed for it ([`crate::api::admission`]), so idle or slow
/// clients can never lock validators out.
const MAX_CONNECTIONS: usize = 1024;
/// Connections open at once from one address (its oldest idle one is closed for a new one).
const MAX_CONNECTIONS_PER_IP: usize = 256;
/// Largest request header block.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Time to receive a request's headers, also how long an idle keep-alive connection is kept:
/// well under a slot (a validator sends its request as soon as it connects, and waits at most
/// its fetch timeout, 500 ms by default, for the answer).
const READ_HEADER_TIMEOUT: Duration = Duration::from_secs(1);
/// Time to receive a whole request body (a few hundred bytes).
const READ_TIMEOUT: Duration = Duration::from_secs(1);
/// Lookups of the payload before answering 404.
const ATTEMPTS: u32 = 5;
/// Time between lookups.
const ATTEMPT_DELAY: Duration = Duration::from_millis(50);

/// Every `result` label of `preconf_payload_server_requests_total` (beacon-kit's vocabulary).
pub(crate) const RESULTS: &[&str] = &[
    "ok",
    "unauthorized",
    "not_whitelisted",
    "wrong_proposer",
    "payload_not_found",
    "internal_error",
    "method_not_allowed",
    "bad_request",
    "request_too_large",
];

/// The proposer the sequencer expects for the next slot, and its build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tracked {
    /// The slot (block height).
    pub slot: u64,
    /// The consensus round of that slot.
    pub round: u64,
    /// The proposer's public key.
    pub pubkey: ValidatorPubkey,
    /// The beacon block root the slot builds on.
    pub parent_block_root: B256,
    /// The build started for it (none when not whitelisted or the builder is down).
    pub payload: Option<PayloadId>,
}

/// The whitelist, replaceable on SIGHUP.
#[derive(Debug, Clone)]
pub(crate) struct Whitelist(Arc<RwLock<HashSet<ValidatorPubkey>>>);

impl Whitelist {
    /// A whitelist of these keys.
    pub(crate) fn new(keys: Vec<ValidatorPubkey>) -> Self {
        Self(Arc::new(RwLock::new(keys.into_iter().collect())))
    }

    /// Whether `key` may fetch payloads.
    pub(crate) fn contains(&self, key: &ValidatorPubkey) -> bool {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    /// Reads the list again; an unreadable or empty file keeps the old list.
    fn reload(&self, path: &std::path::Path) {
        let result = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| parse_whitelist(&t).map_err(|e| e.to_string()));
        match result {
            Ok(keys) => {
                let n = keys.len();
                *self.0.write().unwrap_or_else(|e| e.into_inner()) = keys.into_iter().collect();
                metrics::counter!(m::PAYLOAD_SERVER_RELOADS, "result" => "ok").increment(1);
                info!(target: "payload_server", path = %path.display(), validators = n, "whitelist reloaded");
            }
            Err(e) => {
                metrics::counter!(m::PAYLOAD_SERVER_RELOADS, "result" => "refused").increment(1);
                error!(target: "payload_server", path = %path.display(), error = %e, "whitelist reload refused; keeping the old list");
            }
        }
    }
}

/// The sequencer's beacon-kit duties: the tracker, the whitelist and the flashblock builder.
#[derive(Debug, Clone)]
pub(crate) struct SequencerDuties {
    tracker: Arc<RwLock<Option<Tracked>>>,
    /// Validators allowed to fetch.
    pub whitelist: Whitelist,
    /// The flashblock builder.
    pub builder: BuilderHandle,
}

impl SequencerDuties {
    /// Duties over this whitelist and builder, tracking nothing yet.
    pub(crate) fn new(whitelist: Whitelist, builder: BuilderHandle) -> Self {
        Self {
            tracker: Arc::default(),
            whitelist,
            builder,
        }
    }

    fn tracked(&self) -> Option<Tracked> {
        *self.tracker.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Points the tracker at the proposer of `slot` in `round` (whitelisted or not: another
    /// proposer now gets 403) and, when it is whitelisted and `build` names the head and the
    /// attributes that proposer will use, starts the optimistic build. A build for an earlier
    /// round of the slot is ended by the new one (new payload id, new flashblock sequence).
    pub(crate) fn track(
        &self,
        slot: u64,
        round: u64,
        pubkey: ValidatorPubkey,
        parent_block_root: B256,
        build: Option<(B256, BlockAttributes)>,
    ) -> Result<Option<PayloadId>, TrackError> {
        if let Some(t) = self.tracked()
            && (slot, round) < (t.slot, t.round)
        {
            // A replayed or delayed request must not re-point the tracker backwards (the real
            // proposer would then get 403).
            return Err(TrackError::Stale {
                slot,
                round,
                tracked: (t.slot, t.round),
            });
        }
        let result = match build {
            Some((head, attrs)) if self.whitelist.contains(&pubkey) => {
                self.builder.start(head, attrs).map(Some)
            }
            _ => Ok(None),
        };
        let tracked = Tracked {
            slot,
            round,
            pubkey,
            parent_block_root,
            payload: result.as_ref().ok().copied().flatten(),
        };
        *self.tracker.write().unwrap_or_else(|e| e.into_inner()) = Some(tracked);
        if round > 0 && tracked.payload.is_some() {
            metrics::counter!(m::SEQUENCER_REBUILDS).increment(1);
        }
        debug!(target: "payload_server", slot, round, proposer = %pubkey, payload = ?tracked.payload, "tracking proposer");
        Ok(result?)
    }
}

/// Why `preconf_trackProposer` did not (fully) take a proposer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TrackError {
    /// The request names an earlier (slot, round) than the one tracked: refused, the tracker is
    /// unchanged.
    #[error("slot {slot} round {round} is older than the tracked slot {} round {}", tracked.0, tracked.1)]
    Stale {
        /// Requested slot.
        slot: u64,
        /// Requested round.
        round: u64,
        /// The tracked (slot, round).
        tracked: (u64, u64),
    },
    /// The proposer is tracked, but the optimistic build did not start.
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// Everything a request handler needs.
#[derive(Debug, Clone)]
pub(crate) struct PayloadServer {
    /// Tracker, whitelist and builder.
    pub duties: SequencerDuties,
    /// Validator secrets, each naming its validator.
    pub jwts: Arc<[(ValidatorPubkey, JwtSecret)]>,
    /// Chain reads (readiness, fork of a payload).
    pub chain: ChainReader,
    /// Where the whitelist is reloaded from on SIGHUP.
    pub whitelist_path: Option<PathBuf>,
}

/// A refusal: status, metric label and message.
struct Refusal(StatusCode, &'static str, String);

impl Refusal {
    fn new(status: StatusCode, label: &'static str, message: impl Into<String>) -> Self {
        Self(status, label, message.into())
    }
}

fn json(status: StatusCode, body: &impl serde::Serialize) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .expect("static response parts are valid")
}

impl PayloadServer {
    fn health(&self) -> Response<Full<Bytes>> {
        // Ready to serve payloads: a block committed and the builder running (a degraded builder
        // is not ready, whatever else is up).
        let builder = self.duties.builder.is_running();
        let body = HealthBody {
            is_ready: self.chain.head().header.number > 0 && builder,
            is_syncing: false,
            el_connected: builder,
        };
        let ok = body.is_ready && !body.is_syncing && body.el_connected;
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        json(status, &body)
    }

    /// The caller named by the first validator secret that verifies the bearer token.
    fn caller(&self, req: &Request<Incoming>) -> Result<ValidatorPubkey, Refusal> {
        let unauthorized = |m: &str| Refusal::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
        let header = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("unauthorized: missing Authorization header"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(bearer)
            .ok_or_else(|| unauthorized("unauthorized: invalid Authorization header format"))?;
        self.jwts
            .iter()
            .find(|(_, secret)| secret.verify(token, JWT_WINDOW_SECS).is_ok())
            .map(|(key, _)| *key)
            .ok_or_else(|| unauthorized("unauthorized: invalid or unknown JWT token"))
    }

    async fn payload(&self, req: Request<Incoming>) -> Result<PayloadResponse, Refusal> {
        if req.method() != Method::POST {
            return Err(Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed",
            ));
        }
        let caller = self.caller(&req)?;
        if !self.duties.whitelist.contains(&caller) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "not_whitelisted",
                "validator not whitelisted",
            ));
        }
        let too_large = || {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                "request body too large",
            )
        };
        let declared = req
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
            return Err(too_large());
        }
        let bad = |why: String| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("invalid request body: {why}"),
            )
        };
        let body = Limited::new(req.into_body(), MAX_REQUEST_BODY).collect();
        let body = match tokio::time::timeout(READ_TIMEOUT, body).await {
            Err(_) => return Err(bad("read timed out".into())),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
            Ok(Err(e)) => return Err(bad(e.to_string())),
            Ok(Ok(b)) => b.to_bytes(),
        };
        let request: PayloadRequest =
            serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
        let wrong = || {
            Refusal::new(
                StatusCode::FORBIDDEN,
                "wrong_proposer",
                "not the expected proposer for this slot",
            )
        };
        let tracked = self.duties.tracked().ok_or_else(wrong)?;
        if tracked.slot != request.slot || tracked.pubkey != caller {
            return Err(wrong());
        }
        self.lookup(&request, caller).await
    }

    /// Up to five lookups of the build for (slot, parent root), 50 ms apart, while the payload
    /// id is unknown or the builder does not know it yet.
    async fn lookup(
        &self,
        request: &PayloadRequest,
        caller: ValidatorPubkey,
    ) -> Result<PayloadResponse, Refusal> {
        let not_found = |why: &str| {
            let message = if why.is_empty() {
                "payload not available".to_string()
            } else {
                format!("payload not available: {why}")
            };
            Refusal::new(StatusCode::NOT_FOUND, "payload_not_found", message)
        };
        let mut why = "";
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(ATTEMPT_DELAY).await;
            }
            if !self.duties.builder.is_running() {
                return Err(Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal server error",
                ));
            }
            let tracked = self.duties.tracked();
            let id = match tracked {
                Some(t) if t.slot != request.slot || t.pubkey != caller => {
                    // Re-pointed meanwhile (a new round).
                    return Err(Refusal::new(
                        StatusCode::FORBIDDEN,
                        "wrong_proposer",
                        "not the expected proposer for this slot",
                    ));
                }
                Some(t) if t.parent_block_root != request.parent_block_root => {
                    why = "unknown parent block root";
                    continue;
                }
                Some(Tracked {
                    payload: Some(id), ..
                }) => id,
                _ => {
                    why = "no build for this slot";
                    continue;
                }
            };
            match self.duties.builder.get(id).await {
                Ok(Some(built)) => return Ok(self.response(&built)),
                Ok(None) => why = "the builder does not know the payload yet",
                Err(BuildError::Unavailable(_)) => {
                    return Err(Refusal::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal_error",
                        "internal server error",
                    ));
                }
                Err(e) => return Err(not_found(&e.to_string())),
            }
        }
        Err(not_found(why))
    }

    fn response(&self, built: &super::BuiltPayload) -> PayloadResponse {
        let env = envelope(built);
        let ts = built.executed.block.header.timestamp;
        let spec = &self.chain.spec;
        let prague = spec.is_prague_active_at_timestamp(ts);
        let inner = env.envelope_inner;
        // beacon-kit's fork versions: Fulu (Osaka), Electra1 (Berachain's Prague1), Electra
        // (Prague), Deneb.
        let fork_version = if spec.is_osaka_active_at_timestamp(ts) {
            "0x06000000"
        } else {
            match (spec.prague1_at(ts).is_some(), prague) {
                (true, _) => "0x05010000",
                (false, true) => "0x05000000",
                (false, false) => "0x04000000",
            }
        };
        // From Osaka the bundle carries the EIP-7594 cell proofs (the same JSON shape).
        let blobs_bundle = if spec.is_osaka_active_at_timestamp(ts) {
            let v2 = crate::api::engine::envelope_v5(built).blobs_bundle;
            alloy_rpc_types_engine::BlobsBundleV1 {
                commitments: v2.commitments,
                proofs: v2.proofs,
                blobs: v2.blobs,
            }
        } else {
            inner.blobs_bundle
        };
        PayloadResponse {
            fork_version: fork_version.into(),
            execution_payload: inner.execution_payload,
            blobs_bundle,
            block_value: inner.block_value.to_string(),
            execution_requests: prague.then(|| env.execution_requests.take()),
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        if path == HEALTH_PATH {
            if req.method() != Method::GET {
                return refuse(&Refusal::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "method not allowed",
                ));
            }
            return self.health();
        }
        if path != PAYLOAD_PATH {
            return refuse(&Refusal::new(
                StatusCode::NOT_FOUND,
                "bad_request",
                "not found",
            ));
        }
        match self.payload(req).await {
            Ok(body) => {
                metrics::counter!(m::PAYLOAD_SERVER_REQUESTS, "result" => "ok").increment(1);
                debug!(target: "payload_server", number = body.execution_payload.payload_inner.payload_inner.block_number, "served payload");
                json(StatusCode::OK, &body)
            }
            Err(r) => refuse(&r),
        }
    }
}

fn refuse(r: &Refusal) -> Response<Full<Bytes>> {
    let Refusal(status, label, message) = r;
    metrics::counter!(m::PAYLOAD_SERVER_REQUESTS, "result" => *label).increment(1);
    debug!(target: "payload_server", status = status.as_u16(), %message, "refused");
    json(
        *status,
        &ErrorBody {
            code: status.as_u16(),
            message: message.clone(),
        },
    )
}

/// Binds `addr` and serves until the returned task is aborted (which closes every connection).
pub(crate) async fn serve(
    addr: SocketAddr,
    server: PayloadServer,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    m::zero(m::PAYLOAD_SERVER_REQUESTS, "result", RESULTS);
    m::zero(m::PAYLOAD_SERVER_RELOADS, "result", &["ok", "refused"]);
    m::zero(
        m::PAYLOAD_SERVER_CONNECTIONS_CLOSED,
        "reason",
        &["evicted_idle", "refused_busy"],
    );
    metrics::counter!(m::SEQUENCER_REBUILDS).increment(0);
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut tasks = JoinSet::new();
        if let Some(path) = server.whitelist_path.clone() {
            tasks.spawn(reload_on_sighup(server.duties.whitelist.clone(), path));
        }
        let admission = Admission::new(MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP);
        let server = Arc::new(server);
        loop {
            while tasks.try_join_next().is_some() {}
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(target: "payload_server", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (outcome, ticket) = admission.admit(peer.ip());
            let label = match outcome {
                Outcome::Admitted => None,
                Outcome::EvictedIdle => Some("evicted_idle"),
                Outcome::Refused => Some("refused_busy"),
            };
            if let Some(label) = label {
                metrics::counter!(m::PAYLOAD_SERVER_CONNECTIONS_CLOSED, "reason" => label)
                    .increment(1);
            }
            metrics::gauge!(m::PAYLOAD_SERVER_CONNECTIONS).set(admission.open() as f64);
            let Some(ticket) = ticket else {
                debug!(target: "payload_server", %peer, "connection refused: every connection is serving a request");
                continue;
            };
            let server = server.clone();
            let admission = admission.clone();
            tasks.spawn(async move {
                let marker = ticket.marker();
                let service = service_fn(move |req| {
                    let server = server.clone();
                    let marker = marker.clone();
                    async move {
                        let _busy = admission::busy(&marker);
                        Ok::<_, std::convert::Infallible>(server.handle(req).await)
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(READ_HEADER_TIMEOUT)
                    .max_buf_size(MAX_HEADER_BYTES)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    ended = conn => if let Err(e) = ended {
                        debug!(target: "payload_server", error = %e, "connection ended");
                    },
                    () = ticket.closed() => {
                        debug!(target: "payload_server", %peer, "idle connection closed to make room");
                    }
                }
                drop(ticket);
                metrics::gauge!(m::PAYLOAD_SERVER_CONNECTIONS).set(admission.open() as f64);
            });
        }
    });
    Ok((bound, task))
}

#[cfg(unix)]
async fn reload_on_sighup(whitelist: Whitelist, path: PathBuf) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        warn!(target: "payload_server", "cannot listen for SIGHUP: the whitelist will not be reloaded");
        return;
    };
    while hup.recv().await.is_some() {
        whitelist.reload(&path);
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_whitelist: Whitelist, _path: PathBuf) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::ChildRef;

    #[test]
    fn an_older_slot_or_round_never_re_points_the_tracker() {
        let duties = SequencerDuties::new(
            Whitelist::new(Vec::new()),
            BuilderHandle::new(ChildRef::default()),
        );
        let key = ValidatorPubkey::repeat_byte(7);
        let root = B256::repeat_byte(1);
        duties.track(5, 1, key, root, None).unwrap();
        for (slot, round) in [(5, 0), (4, 3)] {
            let e = duties.track(slot, round, key, root, None).unwrap_err();
            assert!(matches!(e, TrackError::Stale { .. }), "{e}");
            assert_eq!(
                e.to_string(),
                format!("slot {slot} round {round} is older than the tracked slot 5 round 1")
            );
        }
        let t = duties.tracked().unwrap();
        assert_eq!((t.slot, t.round), (5, 1));
        // The same request again (a retry) and later ones are taken.
        duties.track(5, 1, key, root, None).unwrap();
        duties.track(6, 0, key, root, None).unwrap();
        assert_eq!(duties.tracked().unwrap().slot, 6);
    }
}
