//! Command-line interface. Every flag can also be set by environment (`PRECONF_<FLAG>`, dots and
//! dashes as underscores) and in a `--config FILE.toml` whose keys are the flag names (`[http]`
//! `port = 8545` is `--http.port 8545`). Precedence: command line, then environment, then file.

use clap::{Args, Parser, Subcommand};
use preconf_core::chainspec::ChainSpec;
use std::{net::IpAddr, path::PathBuf, time::Duration};

/// All-in-one Berachain preconfirmation (BRIP-0007) devnet node.
#[derive(Debug, Parser)]
#[command(name = "preconf-node", version, about, args_override_self = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a zero-configuration devnet: built-in genesis, a block every --block-time, dev
    /// accounts unlocked.
    Devnet(DevnetArgs),
    /// Run an execution node driven by an external consensus client over the Engine API.
    Node(NodeArgs),
    /// Write a multi-process devnet (genesis, validators, secrets, one TOML per process and
    /// network.json) to run with `consensus` and `node`.
    Init(InitArgs),
    /// Run the devnet consensus as its own process: it drives the validators' nodes over the
    /// Engine API and fetches from the sequencer's payload server.
    Consensus(ConsensusCmdArgs),
    /// Import blocks from a file of concatenated block RLP.
    Import(ChainFileArgs),
    /// Export the canonical chain as concatenated block RLP.
    Export(ChainFileArgs),
    /// Send signed transfers at a fixed rate to any Ethereum JSON-RPC node and report send →
    /// first-receipt latency and inclusion throughput (JSON on stdout).
    Bench(BenchArgs),
    /// Flashblock signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Exit 0 when a node's /healthz answers 200, 1 otherwise (the container's HEALTHCHECK).
    Healthcheck {
        /// The node's health endpoint (plain HTTP).
        #[arg(default_value = "http://127.0.0.1:9001/healthz")]
        url: String,
    },
}

/// `preconf-node key`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Print the address of the signing key in FILE (a sequencer's `--flashblocks.signing-key`),
    /// creating the key (owner-only, 0600) when the file does not exist.
    Address {
        /// The key file (hex private key).
        file: PathBuf,
    },
}

/// `preconf-node bench`.
#[derive(Debug, Clone, Args)]
pub(crate) struct BenchArgs {
    /// JSON-RPC URL of the node under test (ours, anvil, geth, reth…).
    #[arg(
        long,
        env = "PRECONF_BENCH_RPC",
        default_value = "http://127.0.0.1:8545"
    )]
    pub(crate) rpc: String,
    /// Transactions per second to send.
    #[arg(long, env = "PRECONF_BENCH_RATE", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub(crate) rate: u64,
    /// How long to send, e.g. `10s`.
    #[arg(long, env = "PRECONF_BENCH_DURATION", default_value = "10s", value_parser = parse_duration)]
    pub(crate) duration: Duration,
    /// Which block counts as "seen": `pending` (preconfirmed) or `latest` (canonical).
    #[arg(long, env = "PRECONF_BENCH_TAG", default_value = "pending", value_parser = ["pending", "latest"])]
    pub(crate) tag: String,
    /// How many sending accounts (beyond the keys given, deterministic extra accounts are funded
    /// from the first key).
    #[arg(long, env = "PRECONF_BENCH_SENDERS", default_value_t = 100)]
    pub(crate) senders: usize,
    /// File of sender private keys, one hex key per line (default: the dev accounts).
    #[arg(long, env = "PRECONF_BENCH_KEYS")]
    pub(crate) keys: Option<PathBuf>,
    /// How long to wait after sending for the last transactions to show up.
    #[arg(long, env = "PRECONF_BENCH_WAIT", default_value = "10s", value_parser = parse_duration)]
    pub(crate) wait: Duration,
    /// Send with eth_sendRawTransactionSync (EIP-7966) and time each call, instead of polling
    /// blocks for the transactions.
    #[arg(long, env = "PRECONF_BENCH_SYNC")]
    pub(crate) sync: bool,
    /// A peer node to run the same load against afterwards, in the same run (for example anvil
    /// with `--block-time 2`), in polling mode; both summaries are printed, as a JSON array.
    #[arg(long, env = "PRECONF_BENCH_COMPARE")]
    pub(crate) compare: Option<String>,
    /// Which block counts as "seen" on the `--compare` node.
    #[arg(long, env = "PRECONF_BENCH_COMPARE_TAG", default_value = "latest", value_parser = ["pending", "latest"])]
    pub(crate) compare_tag: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags shared by every command that opens a database.
#[derive(Debug, Clone, Args)]
pub(crate) struct CommonArgs {
    /// Database directory. `devnet` uses a fresh temporary directory when absent.
    #[arg(long, env = "PRECONF_DATADIR", help_heading = "Storage")]
    pub(crate) datadir: Option<PathBuf>,
    /// geth-style genesis.json (default: the built-in devnet genesis).
    #[arg(long, env = "PRECONF_GENESIS", help_heading = "Chain")]
    pub(crate) genesis: Option<PathBuf>,
    /// Block gas limit of the built-in devnet genesis.
    #[arg(long = "gas-limit", env = "PRECONF_GAS_LIMIT", default_value_t = preconf_core::devnet::DEFAULT_GAS_LIMIT, value_parser = parse_gas_limit, help_heading = "Chain")]
    pub(crate) gas_limit: u64,
    /// The newest fork of the built-in devnet genesis: `osaka` (Prague1 + Osaka + Berachain's
    /// Osaka1, what Berachain runs) or `prague` (Prague1 only). Not used with --genesis.
    #[arg(
        long = "hardfork",
        env = "PRECONF_HARDFORK",
        default_value = "osaka",
        help_heading = "Chain"
    )]
    pub(crate) hardfork: preconf_core::devnet::DevnetFork,
    /// Log level or filter (error, warn, info, debug, trace, or a tracing directive list).
    #[arg(
        long = "log.level",
        env = "PRECONF_LOG_LEVEL",
        default_value = "info",
        help_heading = "Logging"
    )]
    pub(crate) log_level: String,
    /// Log format: `text` (human-readable lines) or `json` (one object per line with
    /// `timestamp`, `level`, `target` and `fields`, for log collectors).
    #[arg(
        long = "log.format",
        env = "PRECONF_LOG_FORMAT",
        default_value = "text",
        help_heading = "Logging"
    )]
    pub(crate) log_format: LogFormat,
    /// TOML file with flag values (keys are flag names).
    #[arg(long, help_heading = "Config")]
    pub(crate) config: Option<PathBuf>,
}

impl ConsensusSideArgs {
    /// `--preconf.max-response-size`, or what the largest block of `spec` needs.
    pub(crate) fn max_response(&self, spec: &ChainSpec) -> usize {
        self.max_response_size
            .unwrap_or_else(|| spec.max_block_json_bytes().max(16 * 1024 * 1024))
    }
}

impl CommonArgs {
    /// The chain: `--genesis`, or the built-in devnet genesis with `--gas-limit`.
    pub(crate) fn chainspec(&self) -> eyre::Result<std::sync::Arc<ChainSpec>> {
        Ok(match &self.genesis {
            Some(path) => ChainSpec::from_file(path)?,
            None => std::sync::Arc::new(preconf_core::devnet::devnet_chainspec_at(
                self.gas_limit,
                self.hardfork,
            )),
        })
    }
}

/// Flags of a running node.
#[derive(Debug, Clone, Args)]
pub(crate) struct NetworkArgs {
    /// JSON-RPC (HTTP and WebSocket) listen address.
    #[arg(
        long = "http.addr",
        env = "PRECONF_HTTP_ADDR",
        default_value = "127.0.0.1",
        help_heading = "JSON-RPC"
    )]
    pub(crate) http_addr: IpAddr,
    /// JSON-RPC port (0 picks a free port).
    #[arg(
        long = "http.port",
        env = "PRECONF_HTTP_PORT",
        default_value_t = 8545,
        help_heading = "JSON-RPC"
    )]
    pub(crate) http_port: u16,
    /// Browser origins allowed by CORS and to open WebSockets, comma-separated: `localhost` for
    /// every page served from this machine (any port), an origin as written
    /// (`https://remix.ethereum.org`), or `*` for any web page — which can then spend unlocked
    /// dev accounts.
    #[arg(
        long = "http.corsdomain",
        env = "PRECONF_HTTP_CORSDOMAIN",
        value_delimiter = ',',
        default_value = "localhost",
        help_heading = "JSON-RPC"
    )]
    pub(crate) http_corsdomain: Vec<String>,
    /// Host names the JSON-RPC server answers, comma-separated (`*` for any): a request whose
    /// `Host` header names another is refused with 403, so a web page cannot reach the node
    /// through a DNS name it controls (DNS rebinding). WebSocket `Origin`s are checked against
    /// --http.corsdomain.
    #[arg(
        long = "http.vhosts",
        env = "PRECONF_HTTP_VHOSTS",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1",
        help_heading = "JSON-RPC"
    )]
    pub(crate) http_vhosts: Vec<String>,
    /// Gas cap of eth_call and eth_estimateGas.
    #[arg(
        long = "rpc.gascap",
        env = "PRECONF_RPC_GASCAP",
        default_value_t = 50_000_000,
        help_heading = "JSON-RPC"
    )]
    pub(crate) rpc_gascap: u64,
    /// Engine API listen address.
    #[arg(
        long = "authrpc.addr",
        env = "PRECONF_AUTHRPC_ADDR",
        default_value = "127.0.0.1",
        help_heading = "Engine API"
    )]
    pub(crate) authrpc_addr: IpAddr,
    /// Engine API port (0 picks a free port).
    #[arg(
        long = "authrpc.port",
        env = "PRECONF_AUTHRPC_PORT",
        default_value_t = 8551,
        help_heading = "Engine API"
    )]
    pub(crate) authrpc_port: u16,
    /// Engine API JWT secret file (hex); created with a random secret when absent
    /// (default: DATADIR/jwt.hex).
    #[arg(
        long = "authrpc.jwtsecret",
        env = "PRECONF_AUTHRPC_JWTSECRET",
        help_heading = "Engine API"
    )]
    pub(crate) authrpc_jwtsecret: Option<PathBuf>,
    /// Metrics listen address.
    #[arg(
        long = "metrics.addr",
        env = "PRECONF_METRICS_ADDR",
        default_value = "127.0.0.1",
        help_heading = "Metrics"
    )]
    pub(crate) metrics_addr: IpAddr,
    /// Prometheus metrics port (0 picks a free port).
    #[arg(
        long = "metrics.port",
        env = "PRECONF_METRICS_PORT",
        default_value_t = 9001,
        help_heading = "Metrics"
    )]
    pub(crate) metrics_port: u16,
    /// Pool limit per sender.
    #[arg(
        long = "txpool.max-per-sender",
        env = "PRECONF_TXPOOL_MAX_PER_SENDER",
        default_value_t = 64,
        help_heading = "Mempool"
    )]
    pub(crate) txpool_max_per_sender: usize,
    /// Pool limit overall.
    #[arg(
        long = "txpool.max-total",
        env = "PRECONF_TXPOOL_MAX_TOTAL",
        default_value_t = 20_000,
        help_heading = "Mempool"
    )]
    pub(crate) txpool_max_total: usize,
    /// Least effective tip (wei per gas at the next block's base fee) a transaction must pay to
    /// enter the pool, for every transaction type (bera-reth's rule); 0 turns it off.
    #[arg(
        long = "txpool.minimum-priority-fee",
        env = "PRECONF_TXPOOL_MINIMUM_PRIORITY_FEE",
        default_value_t = 0,
        help_heading = "Mempool"
    )]
    pub(crate) txpool_minimum_priority_fee: u128,
    /// Senders exempt from --txpool.minimum-priority-fee (comma-separated addresses).
    #[arg(
        long = "txpool.locals",
        env = "PRECONF_TXPOOL_LOCALS",
        value_delimiter = ',',
        help_heading = "Mempool"
    )]
    pub(crate) txpool_locals: Vec<alloy_primitives::Address>,
    /// Free space (MiB) the datadir's file system must keep: below it new transactions are
    /// refused (what was accepted still gets committed) and /healthz answers 503.
    #[arg(
        long = "datadir.min-free-mb",
        env = "PRECONF_DATADIR_MIN_FREE_MB",
        default_value_t = 128,
        help_heading = "Storage"
    )]
    pub(crate) min_free_mb: u64,
    /// /healthz answers 503 when no block was committed for this long, e.g. `30s` (default: five
    /// block times, at least 10 s; `0` never reports a stall).
    #[arg(long = "health.stall-after", env = "PRECONF_HEALTH_STALL_AFTER", value_parser = parse_duration, help_heading = "Metrics")]
    pub(crate) stall_after: Option<Duration>,
}

/// What a node does besides executing blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Role {
    /// Build, sign and stream flashblocks; serve payloads to validators.
    Sequencer,
    /// Serve preconfirmed state from a sequencer's flashblocks.
    Rpc,
    /// A validator's execution node: validates fetched payloads and builds local blocks for the
    /// consensus (nothing beyond execution; named for clarity).
    Validator,
}

/// Flashblock flags shared by `devnet` and `node`.
#[derive(Debug, Clone, Args)]
pub(crate) struct PreconfArgs {
    /// Time between flashblocks in milliseconds (10 to 1000).
    #[arg(long = "flashblocks.interval-ms", env = "PRECONF_FLASHBLOCKS_INTERVAL_MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=1000), help_heading = "Flashblocks")]
    pub(crate) interval_ms: u64,
    /// Seal a flashblock as soon as a transaction arrives while the sequencer is idle (nothing
    /// waiting since its last flashblock), instead of at the next interval: a client that sends
    /// one transaction after another is not held to one per interval. Under load the interval
    /// decides. Default: on for `devnet`, off for `node` (the 200 ms cadence, bera-reth's).
    #[arg(
        long = "flashblocks.early",
        env = "PRECONF_FLASHBLOCKS_EARLY",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_name = "BOOL",
        help_heading = "Flashblocks"
    )]
    pub(crate) early: Option<bool>,
    /// Sequencer signing key file (hex secp256k1 key); created when absent
    /// (default: DATADIR/flashblocks.key).
    #[arg(
        long = "flashblocks.signing-key",
        env = "PRECONF_FLASHBLOCKS_SIGNING_KEY",
        help_heading = "Flashblocks"
    )]
    pub(crate) signing_key: Option<PathBuf>,
    /// Flashblock stream (WebSocket) listen address.
    #[arg(
        long = "flashblocks.addr",
        env = "PRECONF_FLASHBLOCKS_ADDR",
        default_value = "127.0.0.1",
        help_heading = "Flashblocks"
    )]
    pub(crate) ws_addr: IpAddr,
    /// Flashblock stream port (0 picks a free port).
    #[arg(
        long = "flashblocks.port",
        env = "PRECONF_FLASHBLOCKS_PORT",
        default_value_t = 8548,
        help_heading = "Flashblocks"
    )]
    pub(crate) ws_port: u16,
    /// Flashblock stream clients served at once. Every client is pinged each second; when the
    /// stream is full, one that has not answered for 2 s gives its place to a new client, and
    /// only when all answer is a new one refused (close code 1013).
    #[arg(
        long = "flashblocks.max-subscribers",
        env = "PRECONF_FLASHBLOCKS_MAX_SUBSCRIBERS",
        default_value_t = preconf_actors::DEFAULT_MAX_SUBSCRIBERS,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65_536),
        help_heading = "Flashblocks"
    )]
    pub(crate) max_subscribers: usize,
    /// Push every flashblock to this RPC node with `preconf_newPartialBlock`: its Engine API port
    /// (ws://host:8551; repeatable), authenticated with --flashblocks.push-jwtsecret.
    #[arg(
        long = "flashblocks.push-to",
        env = "PRECONF_FLASHBLOCKS_PUSH_TO",
        value_delimiter = ',',
        help_heading = "Flashblocks"
    )]
    pub(crate) push_to: Vec<String>,
    /// The RPC nodes' Engine API JWT secret for --flashblocks.push-to (hex file).
    #[arg(
        long = "flashblocks.push-jwtsecret",
        env = "PRECONF_FLASHBLOCKS_PUSH_JWTSECRET",
        help_heading = "Flashblocks"
    )]
    pub(crate) push_jwtsecret: Option<PathBuf>,
    /// Follow this sequencer's flashblock stream (ws://…; repeatable). An rpc node serves it on
    /// `pending`; any other node keeps it so a block it builds itself starts with it.
    #[arg(
        long = "flashblocks-url",
        env = "PRECONF_FLASHBLOCKS_URL",
        value_delimiter = ',',
        help_heading = "Flashblocks"
    )]
    pub(crate) flashblocks_url: Vec<String>,
    /// The sequencer's address: flashblocks signed by anyone else are rejected (with the rpc role
    /// or --flashblocks-url).
    #[arg(
        long = "flashblocks.sequencer-address",
        env = "PRECONF_FLASHBLOCKS_SEQUENCER_ADDRESS",
        help_heading = "Flashblocks"
    )]
    pub(crate) sequencer_address: Option<alloy_primitives::Address>,
    /// Forward raw transactions to this node's JSON-RPC as well as keeping them: the sequencer,
    /// and the validators so their local blocks have them too (repeatable).
    #[arg(
        long = "sequencer.http",
        env = "PRECONF_SEQUENCER_HTTP",
        value_delimiter = ',',
        help_heading = "Flashblocks"
    )]
    pub(crate) sequencer_http: Vec<String>,
    /// Serve `latest` from the preconfirmed state (BRIP-0007 phase 3): `eth_blockNumber`, `latest`
    /// and its number name the preconfirmed block. On by default on `devnet`, off on `node`
    /// (bera-reth's pending-only default); `--rpc.preconf-latest=false` turns it off.
    #[arg(
        long = "rpc.preconf-latest",
        env = "PRECONF_RPC_PRECONF_LATEST",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_name = "BOOL",
        help_heading = "Flashblocks"
    )]
    pub(crate) preconf_latest: Option<bool>,
    /// Default wait of eth_sendRawTransactionSync in milliseconds (callers may ask for up to
    /// 10000).
    #[arg(long = "rpc.send-sync-timeout-ms", env = "PRECONF_RPC_SEND_SYNC_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=10_000), help_heading = "Flashblocks")]
    pub(crate) send_sync_timeout_ms: u64,
}

/// The consensus side of BRIP-0007, under beacon-kit's keys (`--preconf.<key>`, TOML
/// `[preconf]`).
#[derive(Debug, Clone, Args)]
pub(crate) struct ConsensusSideArgs {
    /// consensus: proposers fetch payloads from the sequencer (beacon-kit's `enabled`; `init`
    /// turns it on). Without it every block is built locally.
    #[arg(
        long = "preconf.enabled",
        env = "PRECONF_PRECONF_ENABLED",
        help_heading = "Payload server"
    )]
    pub(crate) enabled: bool,
    /// node: run as the sequencer (beacon-kit's `sequencer-mode`; the same as `--role sequencer`).
    #[arg(
        long = "preconf.sequencer-mode",
        env = "PRECONF_PRECONF_SEQUENCER_MODE",
        help_heading = "Payload server"
    )]
    pub(crate) sequencer_mode: bool,
    /// Whitelist of validators allowed to fetch payloads: a JSON array of 0x 48-byte public
    /// keys, reloaded on SIGHUP (devnet default: every validator, in DATADIR/preconf/).
    #[arg(
        long = "preconf.whitelist-path",
        env = "PRECONF_PRECONF_WHITELIST_PATH",
        help_heading = "Payload server"
    )]
    pub(crate) whitelist_path: Option<PathBuf>,
    /// Validators' payload-server JWT secrets: a JSON object {"0x<pubkey>": "0x<64 hex>"}
    /// (devnet default: created in DATADIR/preconf/).
    #[arg(
        long = "preconf.validator-jwts-path",
        env = "PRECONF_PRECONF_VALIDATOR_JWTS_PATH",
        help_heading = "Payload server"
    )]
    pub(crate) validator_jwts_path: Option<PathBuf>,
    /// Payload server listen address.
    #[arg(
        long = "preconf.api-addr",
        env = "PRECONF_PRECONF_API_ADDR",
        default_value = "127.0.0.1",
        help_heading = "Payload server"
    )]
    pub(crate) api_addr: IpAddr,
    /// Payload server port (0 picks a free port).
    #[arg(
        long = "preconf.api-port",
        env = "PRECONF_PRECONF_API_PORT",
        default_value_t = 9090,
        help_heading = "Payload server"
    )]
    pub(crate) api_port: u16,
    /// Where proposers fetch payloads from (devnet default: this process' payload server; point
    /// it at a proxy to watch or disturb the traffic).
    #[arg(
        long = "preconf.sequencer-url",
        env = "PRECONF_PRECONF_SEQUENCER_URL",
        help_heading = "Payload server"
    )]
    pub(crate) sequencer_url: Option<String>,
    /// How long a proposer waits for the sequencer's payload, e.g. `500ms`.
    #[arg(long = "preconf.fetch-timeout", env = "PRECONF_PRECONF_FETCH_TIMEOUT", default_value = "500ms", value_parser = parse_duration, help_heading = "Payload server")]
    pub(crate) fetch_timeout: Duration,
    /// Time between health probes of a sequencer marked unavailable.
    #[arg(long = "preconf.health-check-interval", env = "PRECONF_PRECONF_HEALTH_CHECK_INTERVAL", default_value = "500ms", value_parser = parse_duration, help_heading = "Payload server")]
    pub(crate) health_check_interval: Duration,
    /// Largest payload response a proposer accepts, in bytes (default: what the largest block
    /// the chain's gas limit allows needs as JSON, at least 16 MiB; a smaller value can make
    /// proposers refuse a valid block).
    #[arg(
        long = "preconf.max-response-size",
        env = "PRECONF_PRECONF_MAX_RESPONSE_SIZE",
        help_heading = "Payload server"
    )]
    pub(crate) max_response_size: Option<usize>,
}

/// Supervision and drills.
#[derive(Debug, Clone, Args)]
pub(crate) struct SupervisionArgs {
    /// How long an actor that exhausted its restart budget (5 failures in 60 s) stays down before
    /// it is tried again, e.g. `30s`.
    #[arg(long = "supervisor.cooldown", env = "PRECONF_SUPERVISOR_COOLDOWN", default_value = "30s", value_parser = parse_duration, help_heading = "Supervision")]
    pub(crate) cooldown: Duration,
    /// Serve admin_injectFault and admin_restartActor on JSON-RPC (drills; never on a shared
    /// network).
    #[arg(
        long = "dev.fault-injection",
        env = "PRECONF_DEV_FAULT_INJECTION",
        help_heading = "Supervision"
    )]
    pub(crate) fault_injection: bool,
}

/// `preconf-node devnet`.
#[derive(Debug, Clone, Args)]
pub(crate) struct DevnetArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    #[command(flatten)]
    pub(crate) server: NetworkArgs,
    /// Time between blocks, e.g. `2s`, `500ms`.
    #[arg(long = "block-time", env = "PRECONF_BLOCK_TIME", default_value = "2s", value_parser = parse_duration, help_heading = "Devnet")]
    pub(crate) block_time: Duration,
    /// Also write the banner's information (addresses, accounts and keys) as JSON to this file.
    #[arg(
        long = "config-out",
        env = "PRECONF_CONFIG_OUT",
        help_heading = "Devnet"
    )]
    pub(crate) config_out: Option<PathBuf>,
    /// Run without flashblocks: plain blocks every --block-time, `pending` = `latest`.
    #[arg(
        long = "flashblocks.disable",
        env = "PRECONF_FLASHBLOCKS_DISABLE",
        help_heading = "Flashblocks"
    )]
    pub(crate) flashblocks_disable: bool,
    /// Also import every produced block into this node's Engine API (http://…; repeatable), as a
    /// consensus client would: how separate `node` processes follow the devnet.
    #[arg(
        long = "devnet.engine-peer",
        env = "PRECONF_DEVNET_ENGINE_PEER",
        value_delimiter = ',',
        help_heading = "Devnet"
    )]
    pub(crate) engine_peers: Vec<String>,
    /// JWT secret file of the --devnet.engine-peer nodes.
    #[arg(
        long = "devnet.engine-peer-jwtsecret",
        env = "PRECONF_DEVNET_ENGINE_PEER_JWTSECRET",
        help_heading = "Devnet"
    )]
    pub(crate) engine_peer_jwtsecret: Option<PathBuf>,
    /// Number of validators the devnet consensus rotates through.
    #[arg(long = "validators", env = "PRECONF_VALIDATORS", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=100), help_heading = "Devnet")]
    pub(crate) validators: u64,
    #[command(flatten)]
    pub(crate) preconf: PreconfArgs,
    #[command(flatten)]
    pub(crate) consensus: ConsensusSideArgs,
    #[command(flatten)]
    pub(crate) supervision: SupervisionArgs,
}

/// `preconf-node node`.
#[derive(Debug, Clone, Args)]
pub(crate) struct NodeArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    #[command(flatten)]
    pub(crate) server: NetworkArgs,
    /// Roles besides execution (repeatable or comma-separated): sequencer, rpc.
    #[arg(
        long,
        env = "PRECONF_ROLE",
        value_enum,
        value_delimiter = ',',
        help_heading = "Roles"
    )]
    pub(crate) role: Vec<Role>,
    /// Slot length the sequencer plans its flashblocks for (forkchoiceUpdated → getPayload).
    #[arg(long = "block-time", env = "PRECONF_BLOCK_TIME", default_value = "2s", value_parser = parse_duration, help_heading = "Flashblocks")]
    pub(crate) block_time: Duration,
    #[command(flatten)]
    pub(crate) preconf: PreconfArgs,
    #[command(flatten)]
    pub(crate) consensus: ConsensusSideArgs,
    #[command(flatten)]
    pub(crate) supervision: SupervisionArgs,
}

/// `preconf-node init`.
#[derive(Debug, Clone, Args)]
pub(crate) struct InitArgs {
    /// Directory to write the network to.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Number of validators.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub(crate) validators: u64,
    /// Number of rpc nodes.
    #[arg(long = "rpc-nodes", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=20))]
    pub(crate) rpc_nodes: u64,
    /// First port; process k listens on base + 10·k and up.
    #[arg(long = "base-port", default_value_t = 10000)]
    pub(crate) base_port: u16,
    /// Slot length.
    #[arg(long = "block-time", default_value = "2s", value_parser = parse_duration)]
    pub(crate) block_time: Duration,
    /// Block gas limit of the genesis.
    #[arg(long = "gas-limit", default_value_t = preconf_core::devnet::DEFAULT_GAS_LIMIT, value_parser = parse_gas_limit)]
    pub(crate) gas_limit: u64,
    /// The newest fork of the genesis written: `osaka` (Prague1 + Osaka + Osaka1) or `prague`.
    #[arg(long = "hardfork", default_value = "osaka")]
    pub(crate) hardfork: preconf_core::devnet::DevnetFork,
}

/// `preconf-node consensus`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConsensusCmdArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Slot length.
    #[arg(long = "block-time", env = "PRECONF_BLOCK_TIME", default_value = "2s", value_parser = parse_duration, help_heading = "Consensus")]
    pub(crate) block_time: Duration,
    /// The validator set (`validators.json`: index, pubkey, fee_recipient).
    #[arg(
        long = "consensus.validators-path",
        env = "PRECONF_CONSENSUS_VALIDATORS_PATH",
        help_heading = "Consensus"
    )]
    pub(crate) validators_path: PathBuf,
    /// Each validator's Engine API URL, in index order.
    #[arg(
        long = "consensus.validator-engines",
        env = "PRECONF_CONSENSUS_VALIDATOR_ENGINES",
        value_delimiter = ',',
        required = true,
        help_heading = "Consensus"
    )]
    pub(crate) validator_engines: Vec<String>,
    /// Each validator's Engine API JWT secret file, in index order.
    #[arg(
        long = "consensus.validator-engine-jwts",
        env = "PRECONF_CONSENSUS_VALIDATOR_ENGINE_JWTS",
        value_delimiter = ',',
        required = true,
        help_heading = "Consensus"
    )]
    pub(crate) validator_engine_jwts: Vec<PathBuf>,
    /// Each validator's payload-server JWT file (`0x` + 64 hex), in index order.
    #[arg(
        long = "consensus.validator-sequencer-jwts",
        env = "PRECONF_CONSENSUS_VALIDATOR_SEQUENCER_JWTS",
        value_delimiter = ',',
        help_heading = "Consensus"
    )]
    pub(crate) validator_sequencer_jwts: Vec<PathBuf>,
    /// The sequencer's Engine API URL (proposer tracking).
    #[arg(
        long = "consensus.sequencer-engine",
        env = "PRECONF_CONSENSUS_SEQUENCER_ENGINE",
        help_heading = "Consensus"
    )]
    pub(crate) sequencer_engine: Option<String>,
    /// The sequencer's Engine API JWT secret file.
    #[arg(
        long = "consensus.sequencer-engine-jwt",
        env = "PRECONF_CONSENSUS_SEQUENCER_ENGINE_JWT",
        help_heading = "Consensus"
    )]
    pub(crate) sequencer_engine_jwt: Option<PathBuf>,
    /// Other nodes' Engine API URLs that import every block (rpc nodes).
    #[arg(
        long = "consensus.followers",
        env = "PRECONF_CONSENSUS_FOLLOWERS",
        value_delimiter = ',',
        help_heading = "Consensus"
    )]
    pub(crate) followers: Vec<String>,
    /// Their JWT secret files, in the same order.
    #[arg(
        long = "consensus.follower-jwts",
        env = "PRECONF_CONSENSUS_FOLLOWER_JWTS",
        value_delimiter = ',',
        help_heading = "Consensus"
    )]
    pub(crate) follower_jwts: Vec<PathBuf>,
    /// `/metrics` and `/healthz` address.
    #[arg(
        long = "metrics.addr",
        env = "PRECONF_METRICS_ADDR",
        default_value = "127.0.0.1",
        help_heading = "Metrics"
    )]
    pub(crate) metrics_addr: IpAddr,
    /// Metrics port.
    #[arg(
        long = "metrics.port",
        env = "PRECONF_METRICS_PORT",
        default_value_t = 9002,
        help_heading = "Metrics"
    )]
    pub(crate) metrics_port: u16,
    #[command(flatten)]
    pub(crate) consensus: ConsensusSideArgs,
    #[command(flatten)]
    pub(crate) supervision: SupervisionArgs,
}

/// `preconf-node import FILE` / `export FILE`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ChainFileArgs {
    /// The RLP file.
    pub(crate) file: PathBuf,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

/// Parses `2s`, `500ms`, `1.5s` or a plain number of seconds.
/// A block gas limit that holds at least one plain transfer.
fn parse_gas_limit(s: &str) -> Result<u64, String> {
    let v: u64 = s
        .trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("invalid gas limit {s:?}"))?;
    if v < 21_000 {
        return Err("a block must hold at least one plain transfer (21000 gas)".into());
    }
    Ok(v)
}

pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (try 2s or 500ms)"))?;
    if v.is_nan() || v <= 0.0 || !v.is_finite() {
        return Err(format!("duration must be positive: {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

/// Turns a TOML table into `--key value` arguments (nested tables join with dots).
fn toml_to_args(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => toml_to_args(&key, t, out),
            // Switches take no value: `true` sets them, `false` leaves them off.
            toml::Value::Boolean(true) => out.push(format!("--{key}")),
            toml::Value::Boolean(false) => {}
            toml::Value::String(s) => out.push(format!("--{key}={s}")),
            toml::Value::Integer(i) => out.push(format!("--{key}={i}")),
            toml::Value::Float(f) => out.push(format!("--{key}={f}")),
            toml::Value::Array(a) if a.is_empty() => {}
            toml::Value::Array(a) => {
                let items: Vec<String> = a
                    .iter()
                    .map(|v| match v {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Integer(i) => i.to_string(),
                        toml::Value::Float(f) => f.to_string(),
                        toml::Value::Boolean(b) => b.to_string(),
                        _ => String::new(),
                    })
                    .collect();
                out.push(format!("--{key}={}", items.join(",")));
            }
            toml::Value::Datetime(d) => out.push(format!("--{key}={d}")),
        }
    }
}

/// Parses the command line, folding in `--config FILE` values (command line and environment
/// win over the file).
pub(crate) fn parse() -> eyre::Result<Cli> {
    parse_from(std::env::args().collect())
}

pub(crate) fn parse_from(args: Vec<String>) -> eyre::Result<Cli> {
    let config_path = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--config=").map(str::to_string).or_else(|| {
            (a == "--config")
                .then(|| args.get(i + 1).cloned())
                .flatten()
        })
    });
    let Some(path) = config_path else {
        return Ok(Cli::parse_from(args));
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| eyre::eyre!("cannot read config {path}: {e}"))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| eyre::eyre!("invalid config {path}: {e}"))?;
    let mut from_file = Vec::new();
    toml_to_args("", &table, &mut from_file);
    // File values go right after the subcommand (and its positional file, if any), so anything on
    // the command line — which comes later — overrides them. Values set by environment are
    // dropped from the file's list, since clap prefers explicit arguments over `env`.
    let mut merged = args[..2.min(args.len())].to_vec();
    let positional = args.get(2).filter(|a| !a.starts_with('-')).cloned();
    merged.extend(positional.clone());
    let env_set = |flag: &str| {
        let name = flag
            .trim_start_matches("--")
            .split('=')
            .next()
            .unwrap_or("");
        std::env::var(format!(
            "PRECONF_{}",
            name.replace(['.', '-'], "_").to_uppercase()
        ))
        .is_ok()
    };
    merged.extend(from_file.into_iter().filter(|f| !env_set(f)));
    merged.extend(
        args.into_iter()
            .skip(if positional.is_some() { 3 } else { 2 }),
    );
    Ok(Cli::try_parse_from(merged)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn example_configs_parse_and_the_command_line_wins() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/config");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let name = path.file_stem().unwrap().to_string_lossy().to_string();
                let cmd = name.split('-').next().unwrap().to_string();
                let args = vec![
                    "preconf-node".into(),
                    cmd,
                    "--config".into(),
                    path.display().to_string(),
                    "--http.port".into(),
                    "1234".into(),
                ];
                let cli = parse_from(args).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                match cli.command {
                    Command::Devnet(a) => assert_eq!(a.server.http_port, 1234),
                    Command::Node(a) => assert_eq!(a.server.http_port, 1234),
                    _ => panic!("unexpected command"),
                }
            }
        }
    }
}
