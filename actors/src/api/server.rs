//! An actor that owns one network server (JSON-RPC, Engine API, metrics): it binds in `pre_start`,
//! stops the server in `post_stop`, and on a restart binds the port it had before, so clients see
//! the same address.

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};
use tracing::info;

/// Stops a running server.
pub(crate) type Stopper = Box<dyn FnOnce() + Send + Sync>;
/// Binds and starts a server on an address; returns the bound address and its stopper.
pub(crate) type StartServer = Arc<
    dyn Fn(SocketAddr) -> BoxFuture<'static, std::io::Result<(SocketAddr, Stopper)>> + Send + Sync,
>;

/// Arguments of a server actor.
#[derive(Clone)]
pub(crate) struct ServerSpec {
    /// Name for logs.
    pub name: &'static str,
    /// What it serves, for messages (`JSON-RPC`).
    pub what: &'static str,
    /// The flag that sets its port (`--http.port`).
    pub flag: &'static str,
    /// The address to bind; after the first start, the address actually bound.
    pub addr: Arc<Mutex<SocketAddr>>,
    /// How to start the server.
    pub start: StartServer,
}

impl std::fmt::Debug for ServerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSpec")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .finish()
    }
}

/// What a user reads when a listening address cannot be used, e.g. `cannot bind JSON-RPC on
/// 127.0.0.1:8545 (--http.port): address in use`.
pub(crate) fn bind_error(what: &str, addr: SocketAddr, flag: &str, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => "address in use".to_string(),
        std::io::ErrorKind::AddrNotAvailable => "address not available on this machine".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    format!("cannot bind {what} on {addr} ({flag}): {why}")
}

/// The server actor. It takes no messages.
#[derive(Debug, Clone)]
pub(crate) struct ServerActor;

/// Messages of a server actor.
#[derive(Debug)]
pub(crate) enum ServerMsg {
    /// An injected fault (drills).
    Fault(crate::supervisor::Fault),
}

crate::supervisor::faultable!(ServerMsg);

/// The running server's stopper, called when the state is dropped (however the actor ends).
pub(crate) struct ServerState(Option<Stopper>);

impl Drop for ServerState {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            stop();
        }
    }
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerState")
    }
}

impl Actor for ServerActor {
    type Msg = ServerMsg;
    type State = ServerState;
    type Arguments = ServerSpec;

    async fn pre_start(
        &self,
        _me: ActorRef<ServerMsg>,
        args: ServerSpec,
    ) -> Result<ServerState, ActorProcessingErr> {
        let addr = *args.addr.lock().unwrap_or_else(|e| e.into_inner());
        let (bound, stop) = (args.start)(addr)
            .await
            .map_err(|e| bind_error(args.what, addr, args.flag, &e))?;
        *args.addr.lock().unwrap_or_else(|e| e.into_inner()) = bound;
        info!(target: "server", server = args.name, %bound, "listening");
        Ok(ServerState(Some(stop)))
    }

    async fn handle(
        &self,
        _me: ActorRef<ServerMsg>,
        msg: ServerMsg,
        _st: &mut ServerState,
    ) -> Result<(), ActorProcessingErr> {
        let ServerMsg::Fault(f) = msg;
        f.apply().await;
        Ok(())
    }
}
