//! Starting a whole node: open the database, build the shared chain view, and start every actor
//! under the root supervisor. [`spawn`] returns a [`NodeHandle`] with the bound addresses; dropping
//! the handle (or [`NodeHandle::stop`]) shuts the node down, so tests can start nodes on port 0.

use crate::{
    api::rpc::{self, DevAccounts, EthApi},
    api::server::{ServerActor, ServerSpec, StartServer, Stopper},
    api::{
        self,
        engine::{self, EngineApi},
    },
    chain::{ChainActor, ChainHandle, ChainReader},
    mempool::{MempoolActor, MempoolArgs, MempoolHandle},
    metrics,
    overlay::{OverlayActor, OverlayArgs, OverlayHandle, PendingView},
    producer::{ProducerActor, ProducerArgs},
    sequencer::{BroadcasterActor, BroadcasterArgs, BroadcasterHandle},
    sequencer::{BuilderActor, BuilderArgs, BuilderHandle, FlashblockConfig},
    sequencer::{SealerActor, SealerArgs, SealerHandle},
    supervisor::{
        ChildRef, ChildSpec, HealthMap, RestartPolicy, Supervisor, SupervisorArgs, SupervisorMsg,
    },
};
use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;
use jsonrpsee::RpcModule;
use preconf_core::{chainspec::ChainSpec, jwt::JwtSecret, storage::Store, txpool::PoolConfig};
use ractor::{Actor, ActorRef};
use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::broadcast;

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Chain specification.
    pub spec: Arc<ChainSpec>,
    /// Database directory.
    pub datadir: PathBuf,
    /// JSON-RPC address (port 0 picks a free port).
    pub http_addr: SocketAddr,
    /// Allowed CORS origins for JSON-RPC (`*` for any; empty for none).
    pub cors: Vec<String>,
    /// Engine API address.
    pub authrpc_addr: SocketAddr,
    /// Engine API secret.
    pub jwt: JwtSecret,
    /// Metrics address.
    pub metrics_addr: SocketAddr,
    /// Produce blocks locally every this often (the devnet); `None` waits for a consensus client.
    pub block_time: Option<Duration>,
    /// Fee recipient of locally produced blocks.
    pub fee_recipient: Address,
    /// Unlocked accounts.
    pub dev_accounts: Vec<PrivateKeySigner>,
    /// Pool limits.
    pub pool: PoolConfig,
    /// Gas cap of `eth_call` / `eth_estimateGas`.
    pub rpc_gas_cap: u64,
    /// The sequencer role: build, seal and stream flashblocks.
    pub sequencer: Option<SequencerConfig>,
    /// The rpc role: serve preconfirmed state from a sequencer's flashblocks.
    pub overlay: Option<OverlayConfig>,
    /// Forward raw transactions to this sequencer JSON-RPC URL as well as keeping them.
    pub forward_to: Option<String>,
    /// `eth_sendRawTransactionSync` timeouts: (default, maximum).
    pub send_sync_timeout: (Duration, Duration),
    /// Devnet only: other nodes' Engine APIs that every produced block is imported into.
    pub engine_peers: Vec<(String, JwtSecret)>,
    /// Threads and queue for EVM calls and wide block scans.
    pub heavy: rpc::HeavyLimits,
}

impl NodeConfig {
    /// A plain execution node on loopback with every port picked by the OS and default limits
    /// (what tests start; commands set the rest).
    pub fn local(spec: Arc<ChainSpec>, datadir: PathBuf, jwt: JwtSecret) -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            spec,
            datadir,
            http_addr: any,
            cors: Vec::new(),
            authrpc_addr: any,
            jwt,
            metrics_addr: any,
            block_time: None,
            fee_recipient: Address::ZERO,
            dev_accounts: Vec::new(),
            pool: PoolConfig::default(),
            rpc_gas_cap: 50_000_000,
            sequencer: None,
            overlay: None,
            forward_to: None,
            send_sync_timeout: (Duration::from_secs(2), rpc::MAX_SYNC_TIMEOUT),
            engine_peers: Vec::new(),
            heavy: rpc::HeavyLimits::default(),
        }
    }
}

/// The sequencer role's settings.
#[derive(Debug, Clone)]
pub struct SequencerConfig {
    /// The flashblock signing key.
    pub key: PrivateKeySigner,
    /// Time between flashblocks.
    pub interval: Duration,
    /// Slot length (forkchoiceUpdated → getPayload).
    pub slot: Duration,
    /// Flashblock stream address (port 0 picks a free port).
    pub ws_addr: SocketAddr,
    /// RPC nodes to push `preconf_newPartialBlock` to (`ws://…`).
    pub push: Vec<String>,
}

/// The rpc role's settings.
#[derive(Debug, Clone)]
pub struct OverlayConfig {
    /// The sequencer whose signatures are accepted.
    pub sequencer_address: Address,
    /// Flashblock streams to follow (`ws://…`).
    pub urls: Vec<String>,
    /// Also serve `latest` from the preconfirmed state (BRIP-0007 phase 3).
    pub preconf_latest: bool,
}

/// Errors while starting a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The database could not be opened or is inconsistent.
    #[error(transparent)]
    Storage(#[from] preconf_core::storage::StorageError),
    /// JSON-RPC methods could not be registered (a name registered twice).
    #[error("startup failed: {0}")]
    Methods(#[from] jsonrpsee::core::RegisterMethodError),
    /// The supervisor could not start its children (a server could not bind, an actor failed in
    /// `pre_start`).
    #[error("startup failed: {0}")]
    Actors(#[from] ractor::SpawnErr),
    /// The supervisor stopped before the block producer could be added.
    #[error("startup failed: supervisor stopped")]
    Supervisor,
    /// The heavy-work threads could not be started.
    #[error("startup failed: cannot start threads: {0}")]
    Threads(#[from] std::io::Error),
    /// `--sequencer.http` is not a usable URL.
    #[error("invalid --sequencer.http: {0}")]
    SequencerUrl(#[from] jsonrpsee::core::ClientError),
}

/// A running node.
#[derive(Debug)]
pub struct NodeHandle {
    supervisor: Option<ActorRef<SupervisorMsg>>,
    join: Option<tokio::task::JoinHandle<()>>,
    /// Bound JSON-RPC address.
    pub http_addr: SocketAddr,
    /// Bound Engine API address.
    pub authrpc_addr: SocketAddr,
    /// Bound metrics address.
    pub metrics_addr: SocketAddr,
    /// Bound flashblock stream address (sequencer role).
    pub flashblocks_addr: Option<SocketAddr>,
    /// The preconfirmed state (sequencer and rpc roles; empty otherwise).
    pub pending: PendingView,
    /// Chain reads.
    pub chain: ChainReader,
    /// Actor health.
    pub health: HealthMap,
}

impl NodeHandle {
    /// Stops every actor and waits for them.
    pub async fn stop(mut self) {
        if let Some(s) = self.supervisor.take() {
            s.stop(None);
        }
        if let Some(j) = self.join.take() {
            let _ = j.await;
        }
    }

    /// Waits until the node stops (for example after a fatal error).
    pub async fn wait(&mut self) {
        if let Some(j) = self.join.as_mut() {
            let _ = j.await;
        }
        self.join = None;
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        if let Some(s) = self.supervisor.take() {
            s.stop(None);
        }
    }
}

fn server_child(
    name: &'static str,
    addr: SocketAddr,
    start: StartServer,
) -> (ChildSpec, Arc<Mutex<SocketAddr>>) {
    let shared = Arc::new(Mutex::new(addr));
    let args = ServerSpec {
        name,
        addr: shared.clone(),
        start,
    };
    (
        ChildSpec::new(name, ServerActor, move || args.clone(), ChildRef::default()),
        shared,
    )
}

fn rpc_start(module: RpcModule<()>, cors: Vec<String>) -> StartServer {
    Arc::new(move |addr| {
        let module = module.clone();
        let cors = cors.clone();
        Box::pin(async move {
            let (bound, handle) = rpc::serve(addr, &cors, module).await?;
            let stop: Stopper = Box::new(move || {
                let _ = handle.stop();
            });
            Ok((bound, stop))
        })
    })
}

/// Starts a node.
pub async fn spawn(config: NodeConfig) -> Result<NodeHandle, NodeError> {
    metrics::install();
    let store = Store::open(&config.datadir)?;
    let reader = ChainReader::open(config.spec.clone(), store)?;

    let chain_slot = ChildRef::default();
    let mempool_slot = ChildRef::default();
    let builder_slot = ChildRef::default();
    let chain = ChainHandle::new(chain_slot.clone(), reader.clone());
    let mempool = MempoolHandle::new(mempool_slot.clone());
    let builder = BuilderHandle::new(builder_slot.clone());
    let sealer_slot = ChildRef::default();
    let (announce, _) = broadcast::channel(4096);
    let (local_stream, _) = broadcast::channel(1024);
    let pending = PendingView::default();

    let mut children = vec![
        ChildSpec::new(
            "chain",
            ChainActor,
            {
                let r = reader.clone();
                move || r.clone()
            },
            chain_slot,
        ),
        ChildSpec::new(
            "mempool",
            MempoolActor,
            {
                let a = MempoolArgs {
                    chain: chain.clone(),
                    config: config.pool.clone(),
                    announce: announce.clone(),
                    preconf: pending.clone(),
                };
                move || a.clone()
            },
            mempool_slot,
        ),
        ChildSpec::new(
            "builder",
            BuilderActor,
            {
                let a = BuilderArgs {
                    chain: chain.clone(),
                    mempool: mempool.clone(),
                    flashblocks: config.sequencer.as_ref().map(|s| FlashblockConfig {
                        interval: s.interval,
                        slot: s.slot,
                        sealer: SealerHandle::new(sealer_slot.clone()),
                    }),
                };
                move || a.clone()
            },
            builder_slot,
        ),
    ];

    let mut flashblocks_addr = None;
    if let Some(seq) = &config.sequencer {
        let broadcaster_slot = ChildRef::default();
        let addr = Arc::new(Mutex::new(seq.ws_addr));
        flashblocks_addr = Some(addr.clone());
        let b = BroadcasterArgs {
            addr,
            push: seq.push.clone(),
            local: local_stream.clone(),
        };
        children.push(ChildSpec::new(
            "broadcaster",
            BroadcasterActor,
            move || b.clone(),
            broadcaster_slot.clone(),
        ));
        let a = SealerArgs {
            chain_id: config.spec.chain_id(),
            key: seq.key.clone(),
            broadcaster: BroadcasterHandle::new(broadcaster_slot),
        };
        children.push(ChildSpec::new(
            "sealer",
            SealerActor,
            move || a.clone(),
            sealer_slot,
        ));
    }
    // The overlay is the one writer of the preconfirmed state (`pending`): on an rpc node it
    // follows the sequencer's stream; on a sequencer without the rpc role it verifies and applies
    // the sequencer's own flashblocks from the in-process stream, so that node's pool and its
    // `pending` reads see the same preconfirmed block.
    let overlay_config = config.overlay.clone().or_else(|| {
        config.sequencer.as_ref().map(|s| OverlayConfig {
            sequencer_address: s.key.address(),
            urls: Vec::new(),
            preconf_latest: false,
        })
    });
    let mut overlay = None;
    if let Some(o) = &overlay_config {
        let overlay_slot = ChildRef::default();
        overlay = Some(OverlayHandle::new(overlay_slot.clone()));
        let a = OverlayArgs {
            chain: reader.clone(),
            sequencer: o.sequencer_address,
            view: pending.clone(),
            urls: o.urls.clone(),
            local: config.sequencer.is_some().then(|| local_stream.clone()),
        };
        children.push(ChildSpec::new(
            "overlay",
            OverlayActor,
            move || a.clone(),
            overlay_slot,
        ));
    }

    let eth = EthApi {
        chain: chain.clone(),
        mempool: mempool.clone(),
        dev: DevAccounts::new(config.dev_accounts.clone()),
        new_txs: announce,
        gas_cap: config.rpc_gas_cap,
        client_version: format!("preconf-node/v{}", env!("CARGO_PKG_VERSION")),
        pending: pending.clone(),
        overlay,
        preconf_latest: config.overlay.as_ref().is_some_and(|o| o.preconf_latest),
        forward: rpc::Forwarder::new(config.forward_to.as_deref())?,
        send_sync_timeout: config.send_sync_timeout,
        heavy: rpc::HeavyPool::new(config.heavy)?,
    };
    let mut rpc_module = RpcModule::new(());
    rpc_module.merge(rpc::module(eth.clone())?)?;
    let (rpc_child, http_addr) = server_child(
        "rpc",
        config.http_addr,
        rpc_start(rpc_module, config.cors.clone()),
    );
    children.push(rpc_child);

    let mut engine_module = RpcModule::new(());
    engine_module.merge(engine::module(EngineApi {
        chain: chain.clone(),
        builder,
    }))?;
    // Like geth and reth, the authenticated port also serves `eth_` (consensus clients read
    // blocks there).
    engine_module.merge(rpc::module(eth)?)?;
    let jwt = config.jwt.clone();
    let engine_start: StartServer = Arc::new(move |addr| {
        let module = engine_module.clone();
        let jwt = jwt.clone();
        Box::pin(async move {
            let (bound, handle) = engine::serve(addr, jwt, module).await?;
            let stop: Stopper = Box::new(move || {
                let _ = handle.stop();
            });
            Ok((bound, stop))
        })
    });
    let (engine_child, authrpc_addr) = server_child("engine", config.authrpc_addr, engine_start);
    children.push(engine_child);

    let health: HealthMap = Default::default();
    let h = health.clone();
    let metrics_start: StartServer = Arc::new(move |addr| {
        let h = h.clone();
        Box::pin(async move {
            let (bound, task) = api::ops::serve(addr, h).await?;
            let stop: Stopper = Box::new(move || task.abort());
            Ok((bound, stop))
        })
    });
    let (metrics_child, metrics_addr) = server_child("metrics", config.metrics_addr, metrics_start);
    children.push(metrics_child);

    // Servers bind when the supervisor starts them; block production starts after, pointing at
    // the engine address actually bound.
    let (sup, join) = Actor::spawn(
        None,
        Supervisor,
        SupervisorArgs {
            children,
            policy: RestartPolicy::default(),
            health: health.clone(),
        },
    )
    .await?;
    let authrpc_bound = *authrpc_addr.lock().unwrap_or_else(|e| e.into_inner());
    let handle = NodeHandle {
        supervisor: Some(sup.clone()),
        join: Some(join),
        http_addr: *http_addr.lock().unwrap_or_else(|e| e.into_inner()),
        authrpc_addr: authrpc_bound,
        metrics_addr: *metrics_addr.lock().unwrap_or_else(|e| e.into_inner()),
        flashblocks_addr: flashblocks_addr.map(|a| *a.lock().unwrap_or_else(|e| e.into_inner())),
        pending,
        chain: reader,
        health,
    };
    if let Some(block_time) = config.block_time {
        let args = ProducerArgs {
            engine_url: format!("http://{authrpc_bound}"),
            jwt: config.jwt.clone(),
            block_time,
            fee_recipient: config.fee_recipient,
            peers: config.engine_peers.clone(),
        };
        let spec = ChildSpec::new(
            "devnet-producer",
            ProducerActor,
            move || args.clone(),
            ChildRef::default(),
        );
        sup.cast(SupervisorMsg::Add(spec))
            .map_err(|_| NodeError::Supervisor)?;
    }
    Ok(handle)
}
