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
pub type Stopper = Box<dyn FnOnce() + Send + Sync>;
/// Binds and starts a server on an address; returns the bound address and its stopper.
pub type StartServer = Arc<
    dyn Fn(SocketAddr) -> BoxFuture<'static, std::io::Result<(SocketAddr, Stopper)>> + Send + Sync,
>;

/// Arguments of a server actor.
#[derive(Clone)]
pub struct ServerSpec {
    /// Name for logs.
    pub name: &'static str,
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

/// The server actor. It takes no messages.
#[derive(Debug, Clone)]
pub struct ServerActor;

/// The running server's stopper.
pub struct ServerState(Option<Stopper>);

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerState")
    }
}

impl Actor for ServerActor {
    type Msg = ();
    type State = ServerState;
    type Arguments = ServerSpec;

    async fn pre_start(
        &self,
        _me: ActorRef<()>,
        args: ServerSpec,
    ) -> Result<ServerState, ActorProcessingErr> {
        let addr = *args.addr.lock().unwrap_or_else(|e| e.into_inner());
        let (bound, stop) = (args.start)(addr).await?;
        *args.addr.lock().unwrap_or_else(|e| e.into_inner()) = bound;
        info!(target: "server", server = args.name, %bound, "listening");
        Ok(ServerState(Some(stop)))
    }

    async fn post_stop(
        &self,
        _me: ActorRef<()>,
        st: &mut ServerState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(stop) = st.0.take() {
            stop();
        }
        Ok(())
    }
}
