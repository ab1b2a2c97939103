//! Starting a whole node: open the database, build the shared chain view, and start every actor
//! under the root supervisor. [`spawn`] returns a [`NodeHandle`] with the bound addresses; dropping
//! the handle (or [`NodeHandle::stop`]) shuts the node down, so tests can start nodes on port 0.

use crate::{
    api::{
        self,
        engine::{self, EngineApi},
        rpc::{self, AdminApi, AdminRpcServer, DevAccounts, EthApi},
        server::{ServerActor, ServerSpec, StartServer, Stopper},
    },
    chain::{ChainActor, ChainArgs, ChainHandle, ChainMsg, ChainReader},
    consensus::{
        ConsensusActor, ConsensusArgs, EngineTarget, FetchConfig, SequencerLink, ValidatorFaults,
        ValidatorNode,
    },
    mempool::{MempoolActor, MempoolArgs, MempoolHandle, MempoolMsg},
    metrics,
    overlay::{OverlayActor, OverlayArgs, OverlayHandle, PendingView},
    sequencer::{
        BroadcasterActor, BroadcasterArgs, BroadcasterHandle, BuilderActor, BuilderArgs,
        BuilderHandle, BuilderMsg, FlashblockConfig, FlashblockText, PayloadServer, Preconfirmed,
        SealerActor, SealerArgs, SealerHandle, SealerMsg, SequencerDuties, Whitelist,
    },
    supervisor::{
        ChildRef, ChildSpec, HealthMap, RestartPolicy, Supervisor, SupervisorArgs, SupervisorMsg,
        TaskGuard,
    },
    vitals::{Vitals, VitalsConfig},
};
use alloy_primitives::{Address, B256};
use alloy_signer_local::PrivateKeySigner;
use jsonrpsee::RpcModule;
use preconf_core::preconf::{ValidatorPubkey, ValidatorSet};
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
    /// Allowed CORS origins for JSON-RPC and WebSocket `Origin`s (`*` for any; empty for none).
    pub cors: Vec<String>,
    /// Host names JSON-RPC answers (`*` for any).
    pub vhosts: Vec<String>,
    /// Engine API address.
    pub authrpc_addr: SocketAddr,
    /// Engine API secret.
    pub jwt: JwtSecret,
    /// The file the Engine API secret was read from (shown in the banner; `local` says
    /// DATADIR/jwt.hex).
    pub jwt_path: PathBuf,
    /// Metrics address.
    pub metrics_addr: SocketAddr,
    /// Run the devnet consensus in this process (the devnet); `None` waits for a consensus
    /// client.
    pub devnet: Option<DevnetConfig>,
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
    /// Forward raw transactions to these nodes' JSON-RPC (the sequencer, validators) as well as
    /// keeping them.
    pub forward_to: Vec<String>,
    /// `eth_sendRawTransactionSync` timeouts: (default, maximum).
    pub send_sync_timeout: (Duration, Duration),
    /// Threads and queue for EVM calls and wide block scans.
    pub heavy: rpc::HeavyLimits,
    /// How long an actor that exhausted its restart budget stays down before it is tried again.
    pub cooldown: Duration,
    /// Serve `admin_injectFault` / `admin_restartActor` (drills).
    pub fault_injection: bool,
    /// Disk and stall limits behind `/healthz` and the refusal of new transactions.
    pub vitals: VitalsConfig,
}

impl NodeConfig {
    /// A plain execution node on loopback with every port picked by the OS and default limits
    /// (what tests start; commands set the rest).
    pub fn local(spec: Arc<ChainSpec>, datadir: PathBuf, jwt: JwtSecret) -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            jwt_path: datadir.join("jwt.hex"),
            spec,
            datadir,
            http_addr: any,
            cors: Vec::new(),
            vhosts: vec!["localhost".into(), "127.0.0.1".into()],
            authrpc_addr: any,
            jwt,
            metrics_addr: any,
            devnet: None,
            dev_accounts: Vec::new(),
            pool: PoolConfig::default(),
            rpc_gas_cap: 50_000_000,
            sequencer: None,
            overlay: None,
            forward_to: Vec::new(),
            send_sync_timeout: (Duration::from_secs(2), rpc::MAX_SYNC_TIMEOUT),
            heavy: rpc::HeavyLimits::default(),
            cooldown: Duration::from_secs(30),
            fault_injection: false,
            vitals: VitalsConfig::default(),
        }
    }
}

/// The devnet consensus run inside a node's process: its validators use this node's execution,
/// and the proposer logic reaches this node's payload server over HTTP.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Slot length.
    pub block_time: Duration,
    /// The validators.
    pub validators: ValidatorSet,
    /// Each validator's payload-server JWT secret, in index order.
    pub payload_jwts: Vec<JwtSecret>,
    /// Other nodes' Engine APIs that import every block: (URL, JWT secret).
    pub engine_peers: Vec<(String, JwtSecret)>,
    /// Timeout of one payload fetch.
    pub fetch_timeout: Duration,
    /// Time between `/health` probes of an unavailable sequencer.
    pub health_interval: Duration,
    /// Largest payload response accepted.
    pub max_response: usize,
    /// Fetch payloads from this URL instead of this node's payload server (a proxy).
    pub sequencer_url: Option<String>,
}

/// The payload server's settings (beacon-kit's sequencer mode).
#[derive(Debug, Clone)]
pub struct PayloadServerConfig {
    /// Listening address (port 0 picks a free port).
    pub addr: SocketAddr,
    /// Validators allowed to fetch.
    pub whitelist: Vec<ValidatorPubkey>,
    /// Where the whitelist is reloaded from on SIGHUP.
    pub whitelist_path: Option<PathBuf>,
    /// Every validator's JWT secret.
    pub jwts: Vec<(ValidatorPubkey, JwtSecret)>,
}

/// The sequencer role's settings.
#[derive(Debug, Clone)]
pub struct SequencerConfig {
    /// The flashblock signing key.
    pub key: PrivateKeySigner,
    /// The file the signing key was read from (shown in the banner).
    pub key_path: PathBuf,
    /// Time between flashblocks.
    pub interval: Duration,
    /// Seal a flashblock at once when a transaction arrives while the sequencer is idle.
    pub early: bool,
    /// Slot length (forkchoiceUpdated → getPayload).
    pub slot: Duration,
    /// Flashblock stream address (port 0 picks a free port).
    pub ws_addr: SocketAddr,
    /// Flashblock stream clients served at once.
    pub max_subscribers: usize,
    /// RPC nodes to push `preconf_newPartialBlock` to (their Engine API ports, `ws://…`).
    pub push: Vec<String>,
    /// The JWT secret of those Engine API ports.
    pub push_jwt: Option<JwtSecret>,
    /// The payload server.
    pub payload_server: PayloadServerConfig,
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
    /// `pre_start`): the innermost reason, e.g. `cannot bind JSON-RPC on 127.0.0.1:8545
    /// (--http.port): address in use`.
    #[error("{0}")]
    Actors(String),
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

impl From<ractor::SpawnErr> for NodeError {
    fn from(e: ractor::SpawnErr) -> Self {
        // ractor wraps a child's failure once per supervision level ("Actor panicked during
        // startup '…'"); the user needs only the reason at the bottom.
        let mut reason: &dyn std::error::Error = &e;
        while let Some(inner) = reason.source() {
            reason = inner;
        }
        Self::Actors(reason.to_string())
    }
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
    /// Bound payload server address (sequencer role).
    pub payload_server_addr: Option<SocketAddr>,
    /// The preconfirmed state (sequencer and rpc roles; empty otherwise).
    pub pending: PendingView,
    /// Chain reads.
    pub chain: ChainReader,
    /// Actor health.
    pub health: HealthMap,
    _disk_sampler: TaskGuard,
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

/// A listening server as a supervised child; the returned cell holds the address it bound.
fn server_child(
    (name, what, flag): (&'static str, &'static str, &'static str),
    addr: SocketAddr,
    start: StartServer,
) -> (ChildSpec, Arc<Mutex<SocketAddr>>) {
    let shared = Arc::new(Mutex::new(addr));
    let spec = ServerSpec {
        name,
        what,
        flag,
        addr: shared.clone(),
        start,
    };
    (
        ChildSpec::new(name, ServerActor, spec, ChildRef::default()),
        shared,
    )
}

/// `/metrics` and `/healthz` as a supervised child.
fn metrics_child(
    addr: SocketAddr,
    health: HealthMap,
    vitals: Option<Vitals>,
) -> (ChildSpec, Arc<Mutex<SocketAddr>>) {
    let start: StartServer = Arc::new(move |addr| {
        let (health, vitals) = (health.clone(), vitals.clone());
        Box::pin(async move {
            let (bound, handle) = api::ops::serve(addr, health, vitals).await?;
            let stop: Stopper = Box::new(move || {
                let _ = handle.stop();
            });
            Ok((bound, stop))
        })
    });
    server_child(("metrics", "metrics", "--metrics.port"), addr, start)
}

fn bound(addr: &Mutex<SocketAddr>) -> SocketAddr {
    *addr.lock().unwrap_or_else(|e| e.into_inner())
}

/// The references and channels the actors of one node share.
struct Wiring {
    reader: ChainReader,
    vitals: Vitals,
    chain: ChainHandle,
    mempool: MempoolHandle,
    /// The sequencer's flashblock builder.
    builder: BuilderHandle,
    /// Every node's own plain builder (the Engine API's).
    local_builder: BuilderHandle,
    chain_ref: ChildRef<ChainMsg>,
    mempool_ref: ChildRef<MempoolMsg>,
    builder_ref: ChildRef<BuilderMsg>,
    local_builder_ref: ChildRef<BuilderMsg>,
    sealer_ref: ChildRef<SealerMsg>,
    /// Hashes of newly pending transactions (mempool → `newPendingTransactions`).
    announce: broadcast::Sender<B256>,
    /// Signed flashblocks of an in-process sequencer (broadcaster → overlay).
    local_stream: broadcast::Sender<FlashblockText>,
    /// The preconfirmed state (overlay → RPC, mempool).
    pending: PendingView,
}

impl Wiring {
    fn new(reader: ChainReader, vitals: Vitals) -> Self {
        let (chain_ref, mempool_ref, builder_ref, local_builder_ref) = Default::default();
        Self {
            chain: ChainHandle::new(ChildRef::clone(&chain_ref), reader.clone(), vitals.clone()),
            vitals,
            mempool: MempoolHandle::new(ChildRef::clone(&mempool_ref)),
            builder: BuilderHandle::new(ChildRef::clone(&builder_ref)),
            local_builder: BuilderHandle::new(ChildRef::clone(&local_builder_ref)),
            reader,
            chain_ref,
            mempool_ref,
            builder_ref,
            local_builder_ref,
            sealer_ref: ChildRef::default(),
            announce: broadcast::channel(4096).0,
            local_stream: broadcast::channel(1024).0,
            pending: PendingView::default(),
        }
    }

    /// The user transactions of the preconfirmed block this node holds on a parent (for the
    /// builders' whole-block builds).
    fn preconfirmed(&self) -> Preconfirmed {
        let pending = self.pending.clone();
        Preconfirmed(Arc::new(move |parent| {
            let p = pending.on(parent)?;
            Some(
                p.block
                    .body
                    .transactions
                    .iter()
                    .zip(&p.block.senders)
                    .filter_map(|(tx, sender)| Some((tx.as_ethereum()?.clone(), *sender)))
                    .collect(),
            )
        }))
    }

    /// Every node: the chain, the pool and the node's own plain builder (what
    /// `forkchoiceUpdated` with attributes starts: a validator's local build).
    fn execution(&self, config: &NodeConfig) -> Vec<ChildSpec> {
        let mempool = MempoolArgs {
            chain: self.chain.clone(),
            config: config.pool.clone(),
            announce: self.announce.clone(),
            journal: Some(config.datadir.clone()),
            preconf: self.pending.clone(),
        };
        let builder = BuilderArgs {
            chain: self.chain.clone(),
            mempool: self.mempool.clone(),
            flashblocks: None,
            preconfirmed: Some(self.preconfirmed()),
        };
        vec![
            ChildSpec::new(
                "chain",
                ChainActor,
                ChainArgs {
                    reader: self.reader.clone(),
                    vitals: self.vitals.clone(),
                },
                self.chain_ref.clone(),
            ),
            ChildSpec::new("mempool", MempoolActor, mempool, self.mempool_ref.clone()),
            ChildSpec::new(
                "local-builder",
                BuilderActor,
                builder,
                self.local_builder_ref.clone(),
            ),
        ]
    }

    /// The sequencer role: the flashblock builder, the sealer and the broadcaster (the cell
    /// holds the stream's address).
    fn sequencer(
        &self,
        config: &NodeConfig,
        seq: &SequencerConfig,
    ) -> (Vec<ChildSpec>, Arc<Mutex<SocketAddr>>) {
        let builder = BuilderArgs {
            chain: self.chain.clone(),
            mempool: self.mempool.clone(),
            flashblocks: Some(FlashblockConfig {
                interval: seq.interval,
                slot: seq.slot,
                sealer: SealerHandle::new(self.sealer_ref.clone()),
                arrivals: seq.early.then(|| self.announce.clone()),
            }),
            preconfirmed: Some(self.preconfirmed()),
        };
        let broadcaster_ref = ChildRef::default();
        let addr = Arc::new(Mutex::new(seq.ws_addr));
        let broadcaster = BroadcasterArgs {
            addr: addr.clone(),
            push: seq.push.clone(),
            push_jwt: seq.push_jwt.clone(),
            local: self.local_stream.clone(),
            max_subscribers: seq.max_subscribers,
        };
        let sealer = SealerArgs {
            chain_id: config.spec.chain_id(),
            key: seq.key.clone(),
            broadcaster: BroadcasterHandle::new(broadcaster_ref.clone()),
            journal: crate::journal::preconfirmed_path(&config.datadir),
        };
        let children = vec![
            ChildSpec::new("builder", BuilderActor, builder, self.builder_ref.clone()),
            ChildSpec::new(
                "broadcaster",
                BroadcasterActor,
                broadcaster,
                broadcaster_ref,
            ),
            ChildSpec::new("sealer", SealerActor, sealer, self.sealer_ref.clone()),
        ];
        (children, addr)
    }

    /// The overlay, the one writer of the preconfirmed state (`pending`): on an rpc node it
    /// follows the sequencer's stream; on a sequencer without the rpc role it verifies and
    /// applies the sequencer's own flashblocks from the in-process stream, so that node's pool
    /// and its `pending` reads see the same preconfirmed block.
    fn overlay(&self, config: &NodeConfig) -> Option<(ChildSpec, OverlayHandle)> {
        let o = config.overlay.clone().or_else(|| {
            config.sequencer.as_ref().map(|s| OverlayConfig {
                sequencer_address: s.key.address(),
                urls: Vec::new(),
                preconf_latest: false,
            })
        })?;
        let overlay_ref = ChildRef::default();
        let args = OverlayArgs {
            chain: self.reader.clone(),
            sequencer: o.sequencer_address,
            view: self.pending.clone(),
            urls: o.urls,
            local: config
                .sequencer
                .is_some()
                .then(|| self.local_stream.clone()),
        };
        Some((
            ChildSpec::new("overlay", OverlayActor, args, overlay_ref.clone()),
            OverlayHandle::new(overlay_ref),
        ))
    }
}

/// The bound addresses of a node's servers.
struct Servers {
    http: Arc<Mutex<SocketAddr>>,
    authrpc: Arc<Mutex<SocketAddr>>,
    metrics: Arc<Mutex<SocketAddr>>,
}

/// JSON-RPC (:8545), the Engine API with `eth_` beside it (:8551), and `/metrics` + `/healthz`.
fn servers(
    config: &NodeConfig,
    eth: EthApi,
    engine: (EngineApi, Option<SequencerDuties>),
    admin: Option<AdminApi>,
    (health, vitals): (HealthMap, Vitals),
) -> Result<(Vec<ChildSpec>, Servers), NodeError> {
    let mut rpc_module = rpc::module(eth.clone())?;
    if let Some(admin) = admin {
        rpc_module.merge(AdminRpcServer::into_rpc(admin))?;
    }
    let (cors, vhosts) = (config.cors.clone(), config.vhosts.clone());
    let rpc_start: StartServer = Arc::new(move |addr| {
        let (module, cors, vhosts) = (rpc_module.clone(), cors.clone(), vhosts.clone());
        Box::pin(async move {
            let (bound, handle) = rpc::serve(addr, &cors, &vhosts, module).await?;
            let stop: Stopper = Box::new(move || {
                let _ = handle.stop();
            });
            Ok((bound, stop))
        })
    });

    let mut engine_module = RpcModule::new(());
    engine_module.merge(engine::module(engine.0, engine.1)?)?;
    // Like geth and reth, the authenticated port also serves `eth_` (consensus clients read
    // blocks there).
    engine_module.merge(rpc::module(eth.clone())?)?;
    // Pushed flashblocks only over the authenticated port: on the public one anybody could feed
    // the overlay.
    engine_module.merge(rpc::PartialBlockApiServer::into_rpc(eth))?;
    let jwt = config.jwt.clone();
    let limits = rpc::engine_limits(config.spec.max_block_json_bytes());
    let engine_start: StartServer = Arc::new(move |addr| {
        let (module, jwt) = (engine_module.clone(), jwt.clone());
        Box::pin(async move {
            let (bound, handle) = engine::serve(addr, jwt, module, limits).await?;
            let stop: Stopper = Box::new(move || {
                let _ = handle.stop();
            });
            Ok((bound, stop))
        })
    });

    let (rpc_child, http) = server_child(
        ("rpc", "JSON-RPC", "--http.port"),
        config.http_addr,
        rpc_start,
    );
    let (engine_child, authrpc) = server_child(
        ("engine", "the Engine API", "--authrpc.port"),
        config.authrpc_addr,
        engine_start,
    );
    let (metrics_child, metrics) = metrics_child(config.metrics_addr, health, Some(vitals));
    Ok((
        vec![rpc_child, engine_child, metrics_child],
        Servers {
            http,
            authrpc,
            metrics,
        },
    ))
}

/// The payload server of a sequencer as a supervised child; the cell holds its bound address.
fn payload_server_child(
    w: &Wiring,
    cfg: &PayloadServerConfig,
    duties: SequencerDuties,
) -> (ChildSpec, Arc<Mutex<SocketAddr>>) {
    let server = PayloadServer {
        duties,
        jwts: cfg.jwts.clone().into(),
        chain: w.reader.clone(),
        whitelist_path: cfg.whitelist_path.clone(),
    };
    let start: StartServer = Arc::new(move |addr| {
        let server = server.clone();
        Box::pin(async move {
            let (bound, task) = crate::sequencer::serve_payloads(addr, server).await?;
            let stop: Stopper = Box::new(move || task.abort());
            Ok((bound, stop))
        })
    });
    server_child(
        ("payload-server", "the payload server", "--preconf.api-port"),
        cfg.addr,
        start,
    )
}

/// The devnet consensus driving this node (and its engine peers) as every validator's execution
/// and the sequencer.
fn consensus_child(
    config: &NodeConfig,
    devnet: &DevnetConfig,
    authrpc: SocketAddr,
    payload_server: Option<SocketAddr>,
    faults: ValidatorFaults,
) -> ChildSpec {
    let max_message = config.spec.max_block_json_bytes();
    let own = EngineTarget {
        name: "node".into(),
        url: format!("http://{authrpc}"),
        jwt: config.jwt.clone(),
        max_message,
    };
    let validators = devnet
        .validators
        .0
        .iter()
        .zip(&devnet.payload_jwts)
        .map(|(v, jwt)| ValidatorNode {
            validator: v.clone(),
            engine: own.clone(),
            payload_jwt: jwt.clone(),
        })
        .collect();
    let args = ConsensusArgs {
        spec: config.spec.clone(),
        validators,
        followers: devnet
            .engine_peers
            .iter()
            .map(|(url, jwt)| EngineTarget {
                name: url.clone(),
                url: url.clone(),
                jwt: jwt.clone(),
                max_message,
            })
            .collect(),
        sequencer: payload_server.map(|addr| SequencerLink {
            engine: own.clone(),
            fetch: FetchConfig {
                url: devnet
                    .sequencer_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{addr}")),
                timeout: devnet.fetch_timeout,
                health_interval: devnet.health_interval,
                max_response: devnet.max_response,
            },
        }),
        block_time: devnet.block_time,
        faults,
    };
    ChildSpec::new("consensus", ConsensusActor, args, ChildRef::default())
}

/// Starts a node: every actor of its roles and its servers under one supervisor, then (devnet)
/// the consensus pointed at the addresses actually bound.
pub async fn spawn(config: NodeConfig) -> Result<NodeHandle, NodeError> {
    metrics::install();
    preload_kzg();
    let health = HealthMap::default();
    let w = Wiring::new(
        ChainReader::open(config.spec.clone(), Store::open(&config.datadir)?)?,
        Vitals::new(&config.datadir, config.vitals.clone(), health.clone()),
    );
    let disk_sampler = w.vitals.start_sampler();
    let mut children = w.execution(&config);
    let mut duties = None;
    let mut payload_addr = None;
    let flashblocks_addr = config.sequencer.as_ref().map(|seq| {
        let (specs, addr) = w.sequencer(&config, seq);
        children.extend(specs);
        let d = SequencerDuties::new(
            Whitelist::new(seq.payload_server.whitelist.clone()),
            w.builder.clone(),
        );
        let (spec, paddr) = payload_server_child(&w, &seq.payload_server, d.clone());
        children.push(spec);
        duties = Some(d);
        payload_addr = Some(paddr);
        addr
    });
    let overlay = w.overlay(&config).map(|(spec, handle)| {
        children.push(spec);
        handle
    });

    let eth = EthApi {
        chain: w.chain.clone(),
        mempool: w.mempool.clone(),
        dev: DevAccounts::new(config.dev_accounts.clone()),
        new_txs: w.announce.clone(),
        gas_cap: config.rpc_gas_cap,
        pending: w.pending.clone(),
        overlay,
        preconf_latest: config.overlay.as_ref().is_some_and(|o| o.preconf_latest),
        forward: rpc::Forwarder::new(&config.forward_to)?,
        send_sync_timeout: config.send_sync_timeout,
        heavy: rpc::HeavyPool::new(config.heavy)?,
    };
    let engine = EngineApi {
        chain: w.chain.clone(),
        mempool: w.mempool.clone(),
        builder: w.local_builder.clone(),
    };
    let supervisor = ChildRef::default();
    let faults = config
        .devnet
        .as_ref()
        .map(|d| ValidatorFaults::new(d.validators.0.len() as u64));
    let admin = config.fault_injection.then(|| AdminApi {
        supervisor: supervisor.clone(),
        validators: faults.clone(),
    });
    let (server_specs, addrs) = servers(
        &config,
        eth,
        (engine, duties),
        admin,
        (health.clone(), w.vitals.clone()),
    )?;
    children.extend(server_specs);

    // Servers bind when the supervisor starts them.
    let (sup, join) = Actor::spawn(
        None,
        Supervisor,
        SupervisorArgs {
            children,
            policy: RestartPolicy::default(),
            health: health.clone(),
            cooldown: config.cooldown,
            me: supervisor.clone(),
        },
    )
    .await?;
    let authrpc_addr = bound(&addrs.authrpc);
    let payload_server_addr = payload_addr.as_deref().map(bound);
    if let (Some(devnet), Some(faults)) = (&config.devnet, faults) {
        let spec = consensus_child(&config, devnet, authrpc_addr, payload_server_addr, faults);
        sup.cast(SupervisorMsg::Add(spec))
            .map_err(|_| NodeError::Supervisor)?;
    }
    Ok(NodeHandle {
        supervisor: Some(sup),
        join: Some(join),
        http_addr: bound(&addrs.http),
        authrpc_addr,
        metrics_addr: bound(&addrs.metrics),
        flashblocks_addr: flashblocks_addr.as_deref().map(bound),
        payload_server_addr,
        pending: w.pending,
        chain: w.reader,
        health,
        _disk_sampler: disk_sampler,
    })
}

/// One validator of a separate consensus process: its identity, its execution node's Engine API
/// and its payload-server secret.
#[derive(Debug, Clone)]
pub struct ValidatorEndpoint {
    /// Index, public key, fee recipient.
    pub validator: preconf_core::preconf::Validator,
    /// Its node's Engine API URL.
    pub engine_url: String,
    /// Its node's Engine API secret.
    pub engine_jwt: JwtSecret,
    /// Its secret for the sequencer's payload server.
    pub payload_jwt: JwtSecret,
}

/// A devnet consensus running as its own process (`preconf-node consensus`).
#[derive(Debug, Clone)]
pub struct ConsensusConfig {
    /// The chain (genesis timestamp, forks).
    pub spec: Arc<ChainSpec>,
    /// Slot length.
    pub block_time: Duration,
    /// The validators, in index order.
    pub validators: Vec<ValidatorEndpoint>,
    /// The sequencer: its Engine API (URL, secret) and payload server URL.
    pub sequencer: Option<(String, JwtSecret, String)>,
    /// Other nodes that import every block: (Engine API URL, secret).
    pub followers: Vec<(String, JwtSecret)>,
    /// Timeout of one payload fetch.
    pub fetch_timeout: Duration,
    /// Time between `/health` probes of an unavailable sequencer.
    pub health_interval: Duration,
    /// Largest payload response accepted.
    pub max_response: usize,
    /// `/metrics` and `/healthz` address.
    pub metrics_addr: SocketAddr,
    /// Restart cool-down.
    pub cooldown: Duration,
}

/// A running consensus process.
#[derive(Debug)]
pub struct ConsensusHandle {
    supervisor: ActorRef<SupervisorMsg>,
    join: tokio::task::JoinHandle<()>,
    /// Bound metrics address.
    pub metrics_addr: SocketAddr,
}

impl ConsensusHandle {
    /// Stops the consensus and its servers.
    pub async fn stop(self) {
        self.supervisor.stop(None);
        let _ = self.join.await;
    }

    /// Waits until it stops.
    pub async fn wait(&mut self) {
        let _ = (&mut self.join).await;
    }
}

/// Loads the KZG trusted setup (blob transactions' proofs are checked against it) on a thread of
/// its own at start, so the first blob transaction does not wait for it (seconds in a debug build).
fn preload_kzg() {
    let _ = std::thread::Builder::new()
        .name("kzg-setup".into())
        .spawn(|| {
            // Seconds of CPU in a debug build: behind the node's own work.
            crate::api::rpc::lower_priority();
            let started = std::time::Instant::now();
            let _ = alloy_eips::eip4844::env_settings::EnvKzgSettings::Default.get();
            tracing::info!(target: "node", elapsed = ?started.elapsed(), "KZG trusted setup loaded");
        });
}

/// Starts a devnet consensus that reaches every node over the wire only (Engine API + JWT, the
/// payload server), with `/metrics` and `/healthz`.
pub async fn spawn_consensus(config: ConsensusConfig) -> Result<ConsensusHandle, NodeError> {
    metrics::install();
    let health = HealthMap::default();
    let max_message = config.spec.max_block_json_bytes();
    let target = |name: String, url: &str, jwt: &JwtSecret| EngineTarget {
        name,
        url: url.to_string(),
        jwt: jwt.clone(),
        max_message,
    };
    let args = ConsensusArgs {
        spec: config.spec.clone(),
        validators: config
            .validators
            .iter()
            .map(|v| ValidatorNode {
                engine: target(
                    format!("validator-{}", v.validator.index),
                    &v.engine_url,
                    &v.engine_jwt,
                ),
                validator: v.validator.clone(),
                payload_jwt: v.payload_jwt.clone(),
            })
            .collect(),
        followers: config
            .followers
            .iter()
            .map(|(url, jwt)| target(url.clone(), url, jwt))
            .collect(),
        sequencer: config
            .sequencer
            .as_ref()
            .map(|(url, jwt, payload)| SequencerLink {
                engine: target("sequencer".into(), url, jwt),
                fetch: FetchConfig {
                    url: payload.clone(),
                    timeout: config.fetch_timeout,
                    health_interval: config.health_interval,
                    max_response: config.max_response,
                },
            }),
        block_time: config.block_time,
        faults: ValidatorFaults::new(config.validators.len() as u64),
    };
    let (metrics_child, metrics_addr) = metrics_child(config.metrics_addr, health.clone(), None);
    let children = vec![
        metrics_child,
        ChildSpec::new("consensus", ConsensusActor, args, ChildRef::default()),
    ];
    let (supervisor, join) = Actor::spawn(
        None,
        Supervisor,
        SupervisorArgs {
            children,
            policy: RestartPolicy::default(),
            health,
            cooldown: config.cooldown,
            me: ChildRef::default(),
        },
    )
    .await?;
    Ok(ConsensusHandle {
        supervisor,
        join,
        metrics_addr: bound(&metrics_addr),
    })
}
