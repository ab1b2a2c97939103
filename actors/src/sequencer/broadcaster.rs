//! The broadcaster actor: serves the flashblock stream and pushes flashblocks to RPC nodes.
//!
//! - **Stream** (bera-reth compatible): a WebSocket server (default :8548; any path; no
//!   handshake beyond the WebSocket one) that sends every signed flashblock as one JSON text
//!   frame. At most `--flashblocks.max-subscribers` clients (256). Each has a bounded queue of
//!   [`PEER_QUEUE`] messages and is dropped (counted `lagging`) when it falls that far behind or
//!   a send stalls for [`SEND_TIMEOUT`]. The server pings every client every [`PING_EVERY`]; a
//!   client stays as long as it answers (any WebSocket client does, by reading), one silent for
//!   [`UNRESPONSIVE_AFTER`] is dropped (`unresponsive`), and when the server is full a new client
//!   takes the place of the one silent longest past [`EVICT_AFTER`] (`evicted`) — so clients
//!   that never read cannot lock new followers out. Only when every client answers is a new one
//!   refused (`limit`), with close code 1013 and the reason. A client may send frames of at most
//!   [`MAX_CLIENT_MESSAGE`] bytes; at most [`MAX_HANDSHAKES`] handshakes run at once, each within
//!   [`HANDSHAKE_TIMEOUT`]. A client that connects mid-block first gets the block's flashblocks
//!   so far, from index 0, so a follower that reconnects loses nothing of the block.
//! - **Push** (BRIP-0007): for each `--flashblocks.push-to ws://…` URL a task keeps a WebSocket
//!   JSON-RPC connection and calls `preconf_newPartialBlock(flashblock)`, reconnecting with
//!   backoff.
//! - **In process**: a broadcast channel for an overlay in the same process, which parses and
//!   verifies the same JSON a remote node would.

use crate::{
    metrics as m,
    supervisor::{ActorError, ChildRef, TaskGuard},
};
use futures::{SinkExt, StreamExt};
use preconf_core::flashblock::Flashblock;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{broadcast, mpsc},
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        Message, Utf8Bytes,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};
use tracing::{debug, info, warn};

/// Stream clients served at once unless `--flashblocks.max-subscribers` says otherwise.
pub const DEFAULT_MAX_SUBSCRIBERS: usize = 256;
/// Messages queued per client before it is dropped as a laggard.
pub(crate) const PEER_QUEUE: usize = 128;
/// Flashblocks of the current block kept for clients that connect mid-block: a block has at
/// most slot / interval of them (200 at 10 ms in a 2 s slot); a longer sequence is not replayed
/// past this.
const MAX_REPLAY: usize = 4096;
/// A send that does not complete within this time (the client stopped reading and the kernel's
/// buffers are full) drops the client as a laggard.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// A client that has answered nothing (no pong, no frame) for this long is dropped.
const UNRESPONSIVE_AFTER: Duration = Duration::from_secs(10);
/// When the server is full, a client silent for longer than this gives its place to a new one.
const EVICT_AFTER: Duration = Duration::from_secs(2);
/// Time for a WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// Messages queued per push target while it is slow or reconnecting.
const PUSH_QUEUE: usize = 256;
/// WebSocket handshakes in progress at once; further connections wait to be accepted.
const MAX_HANDSHAKES: usize = 64;
/// The largest message or frame a stream client may send (it sends only pings and closes).
const MAX_CLIENT_MESSAGE: usize = 4096;
/// How often the server pings every client.
const PING_EVERY: Duration = Duration::from_secs(1);
/// Longest wait between push reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A flashblock as sent: its JSON text (cheap to clone).
pub(crate) type FlashblockText = Utf8Bytes;

/// Messages of the broadcaster.
pub(crate) enum BroadcasterMsg {
    /// An injected fault (drills).
    Fault(crate::supervisor::Fault),
    /// Send a signed flashblock everywhere.
    Publish(Box<Flashblock>),
    /// A client finished the WebSocket handshake.
    Connected(Box<WebSocketStream<TcpStream>>, SocketAddr),
    /// A client's connection ended: its id and, when the server dropped it, why.
    Disconnected(u64, Option<&'static str>),
}

crate::supervisor::faultable!(BroadcasterMsg);

impl std::fmt::Debug for BroadcasterMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Publish(fb) => write!(f, "Publish({}/{})", fb.block_number(), fb.index),
            Self::Connected(_, from) => write!(f, "Connected({from})"),
            Self::Disconnected(id, why) => write!(f, "Disconnected({id}, {why:?})"),
            Self::Fault(fault) => write!(f, "Fault({fault:?})"),
        }
    }
}

/// Arguments of the broadcaster.
#[derive(Debug, Clone)]
pub(crate) struct BroadcasterArgs {
    /// Stream address; updated to the bound address so a restart rebinds the same port.
    pub addr: Arc<Mutex<SocketAddr>>,
    /// RPC nodes to push to (their Engine API ports, `ws://…`).
    pub push: Vec<String>,
    /// The JWT secret of those ports (a fresh token authenticates each connection).
    pub push_jwt: Option<preconf_core::jwt::JwtSecret>,
    /// In-process subscribers.
    pub local: broadcast::Sender<FlashblockText>,
    /// Stream clients served at once (`--flashblocks.max-subscribers`).
    pub max_subscribers: usize,
}

struct Peer {
    queue: mpsc::Sender<FlashblockText>,
    /// When the client last answered (a pong or any frame), or connected.
    last_seen: Arc<Mutex<Instant>>,
    _task: TaskGuard,
}

impl Peer {
    fn silent_for(&self) -> Duration {
        self.last_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }
}

/// State of the broadcaster.
pub(crate) struct BroadcasterState {
    args: BroadcasterArgs,
    peers: HashMap<u64, Peer>,
    next_peer: u64,
    _accept: TaskGuard,
    pushers: Vec<(mpsc::Sender<FlashblockText>, TaskGuard)>,
    /// The flashblocks of the block being built, from its index 0: a client that connects
    /// (or reconnects) mid-block gets them first, so it can apply the block from its start
    /// instead of refusing everything until the next block.
    current: Vec<FlashblockText>,
}

/// The broadcaster actor.
#[derive(Debug, Clone)]
pub(crate) struct BroadcasterActor;

impl Actor for BroadcasterActor {
    type Msg = BroadcasterMsg;
    type State = BroadcasterState;
    type Arguments = BroadcasterArgs;

    async fn pre_start(
        &self,
        me: ActorRef<BroadcasterMsg>,
        args: BroadcasterArgs,
    ) -> Result<BroadcasterState, ActorProcessingErr> {
        m::zero(
            m::BROADCAST_DROPPED_PEERS,
            "reason",
            &["lagging", "unresponsive", "evicted", "limit"],
        );
        m::zero(
            m::BROADCAST_PUSH_ERRORS,
            "reason",
            &["connect", "rejected", "send"],
        );
        let addr = *args.addr.lock().unwrap_or_else(|e| e.into_inner());
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            crate::api::server::bind_error("the flashblock stream", addr, "--flashblocks.port", &e)
        })?;
        let bound = listener.local_addr()?;
        *args.addr.lock().unwrap_or_else(|e| e.into_inner()) = bound;
        info!(target: "broadcaster", server = "flashblocks", %bound, "listening");
        metrics::gauge!(m::BROADCAST_CONNECTIONS).set(0.0);
        let accept = TaskGuard::spawn(accept_loop(listener, me));
        let pushers = args
            .push
            .iter()
            .map(|url| {
                let (tx, rx) = mpsc::channel(PUSH_QUEUE);
                (
                    tx,
                    TaskGuard::spawn(push_loop(url.clone(), args.push_jwt.clone(), rx)),
                )
            })
            .collect();
        Ok(BroadcasterState {
            args,
            peers: HashMap::new(),
            next_peer: 0,
            _accept: accept,
            pushers,
            current: Vec::new(),
        })
    }

    async fn handle(
        &self,
        me: ActorRef<BroadcasterMsg>,
        msg: BroadcasterMsg,
        st: &mut BroadcasterState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BroadcasterMsg::Fault(f) => f.apply().await,
            BroadcasterMsg::Publish(fb) => {
                let text = FlashblockText::from(serde_json::to_string(&*fb)?);
                if let Some(secs) = fb.metadata.since_sealed_secs() {
                    metrics::histogram!(m::FLASHBLOCK_SEAL_TO_SEND_SECONDS).record(secs);
                }
                let _ = st.args.local.send(text.clone());
                if fb.index == 0 {
                    st.current.clear();
                }
                if st.current.len() < MAX_REPLAY {
                    st.current.push(text.clone());
                }
                st.peers.retain(|id, peer| match peer.queue.try_send(text.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        metrics::counter!(m::BROADCAST_DROPPED_PEERS, "reason" => "lagging")
                            .increment(1);
                        warn!(target: "broadcaster", peer = id, "dropping a client that fell behind");
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                });
                for (queue, _) in &st.pushers {
                    if queue.try_send(text.clone()).is_err() {
                        metrics::counter!(m::BROADCAST_PUSH_DROPPED).increment(1);
                    }
                }
                metrics::counter!(m::BROADCAST_SENT).increment(st.peers.len() as u64);
                metrics::gauge!(m::BROADCAST_CONNECTIONS).set(st.peers.len() as f64);
            }
            BroadcasterMsg::Connected(ws, from) => {
                if st.peers.len() >= st.args.max_subscribers {
                    let silent = st
                        .peers
                        .iter()
                        .map(|(id, p)| (*id, p.silent_for()))
                        .filter(|(_, silent)| *silent > EVICT_AFTER)
                        .max_by_key(|(_, silent)| *silent);
                    match silent {
                        Some((id, silent)) => {
                            // Dropping the peer ends its task and closes its connection.
                            st.peers.remove(&id);
                            metrics::counter!(m::BROADCAST_DROPPED_PEERS, "reason" => "evicted")
                                .increment(1);
                            debug!(target: "broadcaster", peer = id, ?silent, %from, "a silent client gives its place to a new one");
                        }
                        None => {
                            metrics::counter!(m::BROADCAST_DROPPED_PEERS, "reason" => "limit")
                                .increment(1);
                            warn!(target: "broadcaster", %from, limit = st.args.max_subscribers, "refusing a client: every place is taken by a client that answers (--flashblocks.max-subscribers)");
                            tokio::spawn(async move {
                                let mut ws = ws;
                                let frame = CloseFrame {
                                    code: CloseCode::Again,
                                    reason:
                                        "flashblock stream full (--flashblocks.max-subscribers)"
                                            .into(),
                                };
                                let _ = ws.send(Message::Close(Some(frame))).await;
                                let _ = ws.close().await;
                            });
                            return Ok(());
                        }
                    }
                }
                let id = st.next_peer;
                st.next_peer += 1;
                // Room for the block so far on top of the usual queue, so the replay alone never
                // makes a new client look like a laggard.
                let (queue, rx) = mpsc::channel(PEER_QUEUE + st.current.len());
                // The block so far first: the client starts at index 0 of the current block.
                for text in &st.current {
                    let _ = queue.try_send(text.clone());
                }
                let last_seen = Arc::new(Mutex::new(Instant::now()));
                let task = TaskGuard::spawn(serve_peer(*ws, rx, id, last_seen.clone(), me));
                st.peers.insert(
                    id,
                    Peer {
                        queue,
                        last_seen,
                        _task: task,
                    },
                );
                debug!(target: "broadcaster", %from, peer = id, "stream client connected");
                metrics::gauge!(m::BROADCAST_CONNECTIONS).set(st.peers.len() as f64);
            }
            BroadcasterMsg::Disconnected(id, reason) => {
                if st.peers.remove(&id).is_some()
                    && let Some(reason) = reason
                {
                    metrics::counter!(m::BROADCAST_DROPPED_PEERS, "reason" => reason).increment(1);
                    warn!(target: "broadcaster", peer = id, reason, "dropping a stream client");
                }
                metrics::gauge!(m::BROADCAST_CONNECTIONS).set(st.peers.len() as f64);
            }
        }
        Ok(())
    }
}

async fn accept_loop(listener: TcpListener, me: ActorRef<BroadcasterMsg>) {
    let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_CLIENT_MESSAGE))
        .max_frame_size(Some(MAX_CLIENT_MESSAGE));
    loop {
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let (stream, from) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!(target: "broadcaster", error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let me = me.clone();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                tokio_tungstenite::accept_async_with_config(stream, Some(config)),
            );
            let handshake = handshake.await;
            drop(permit);
            match handshake {
                Ok(Ok(ws)) => {
                    let _ = me.cast(BroadcasterMsg::Connected(Box::new(ws), from));
                }
                Ok(Err(e)) => {
                    metrics::counter!(m::BROADCAST_HANDSHAKE_FAILURES).increment(1);
                    debug!(target: "broadcaster", %from, error = %e, "WebSocket handshake failed");
                }
                Err(_) => {
                    metrics::counter!(m::BROADCAST_HANDSHAKE_FAILURES).increment(1);
                }
            }
        });
    }
}

async fn serve_peer(
    ws: WebSocketStream<TcpStream>,
    mut queue: mpsc::Receiver<FlashblockText>,
    id: u64,
    last_seen: Arc<Mutex<Instant>>,
    me: ActorRef<BroadcasterMsg>,
) {
    let (mut sink, mut stream) = ws.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    let seen = || *last_seen.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    let dropped: Option<&'static str> = loop {
        tokio::select! {
            next = queue.recv() => {
                let Some(text) = next else { break None };
                match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break None,
                    Err(_) => break Some("lagging"),
                }
            }
            frame = stream.next() => match frame {
                // Pongs to the client's pings are queued by the protocol and go out with the
                // next write; flush so an idle stream answers at once.
                Some(Ok(Message::Ping(_))) => {
                    seen();
                    if sink.flush().await.is_err() {
                        break None;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                Some(Ok(_)) => seen(),
            },
            _ = ping.tick() => {
                let silent = last_seen.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
                if silent > UNRESPONSIVE_AFTER {
                    break Some("unresponsive");
                }
                match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Ping(Default::default()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break None,
                    Err(_) => break Some("lagging"),
                }
            }
        }
    };
    let _ = me.cast(BroadcasterMsg::Disconnected(id, dropped));
}

/// Keeps a JSON-RPC WebSocket connection to one RPC node and calls `preconf_newPartialBlock` for
/// every flashblock.
async fn push_loop(
    url: String,
    jwt: Option<preconf_core::jwt::JwtSecret>,
    mut queue: mpsc::Receiver<FlashblockText>,
) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut backoff = Duration::from_millis(100);
    let mut next_id = 0u64;
    loop {
        let request = url.as_str().into_client_request().map(|mut r| {
            if let Some(auth) = jwt
                .as_ref()
                .and_then(|j| format!("Bearer {}", j.token()).parse().ok())
            {
                r.headers_mut().insert("authorization", auth);
            }
            r
        });
        let connected = match request {
            Ok(r) => tokio_tungstenite::connect_async(r).await,
            Err(e) => Err(e),
        };
        let ws = match connected {
            Ok((ws, _)) => {
                info!(target: "broadcaster", %url, "pushing flashblocks");
                backoff = Duration::from_millis(100);
                ws
            }
            Err(e) => {
                metrics::counter!(m::BROADCAST_PUSH_ERRORS, "reason" => "connect").increment(1);
                debug!(target: "broadcaster", %url, error = %e, ?backoff, "push target unreachable");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let (mut sink, mut stream) = ws.split();
        loop {
            tokio::select! {
                next = queue.recv() => {
                    let Some(text) = next else { return };
                    next_id += 1;
                    let call = format!(
                        r#"{{"jsonrpc":"2.0","id":{next_id},"method":"preconf_newPartialBlock","params":[{}]}}"#,
                        text.as_str()
                    );
                    if sink.send(Message::text(call)).await.is_err() {
                        metrics::counter!(m::BROADCAST_PUSH_ERRORS, "reason" => "send").increment(1);
                        break;
                    }
                }
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(reply))) => {
                        if reply.as_str().contains(r#""error""#) {
                            metrics::counter!(m::BROADCAST_PUSH_ERRORS, "reason" => "rejected").increment(1);
                            debug!(target: "broadcaster", %url, reply = reply.as_str(), "push rejected");
                        }
                    }
                    // The node pings idle connections and drops those that do not answer:
                    // send the queued pong now, not with the next flashblock.
                    Some(Ok(Message::Ping(_))) => {
                        if sink.flush().await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
            }
        }
        warn!(target: "broadcaster", %url, "push connection lost; reconnecting");
    }
}

/// Typed access to the broadcaster.
#[derive(Debug, Clone)]
pub(crate) struct BroadcasterHandle {
    actor: ChildRef<BroadcasterMsg>,
}

impl BroadcasterHandle {
    /// A handle over the supervised actor's reference.
    pub(crate) fn new(actor: ChildRef<BroadcasterMsg>) -> Self {
        Self { actor }
    }

    /// Sends a signed flashblock to every consumer.
    pub(crate) fn publish(&self, fb: Flashblock) -> Result<(), ActorError> {
        self.actor.cast(BroadcasterMsg::Publish(Box::new(fb)))
    }
}
