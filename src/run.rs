//! Running the commands: build a `NodeConfig`, start the node, print the banner, wait for
//! Ctrl-C.

use crate::{
    cli::{Cli, Command, ConsensusSideArgs, KeyCommand, LogFormat, NetworkArgs, PreconfArgs, Role},
    validators::PreconfFiles,
};
use alloy_primitives::hex;
use alloy_signer_local::PrivateKeySigner;
use preconf_actors::{
    ConsensusConfig, DevnetConfig, MAX_SYNC_TIMEOUT, NodeConfig, NodeHandle, OverlayConfig,
    PayloadServerConfig, SequencerConfig, ValidatorEndpoint, VitalsConfig,
};
use preconf_core::{
    chainspec::ChainSpec,
    devnet, flashblock,
    jwt::JwtSecret,
    preconf::{ValidatorSet, parse_sequencer_jwt},
    storage::DatadirLock,
    txpool::PoolConfig,
};
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

pub(crate) fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

pub(crate) fn main(cli: Cli) -> eyre::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Devnet(args) => {
            init_logging(&args.common.log_level, args.common.log_format);
            let (datadir, _tmp) = match &args.common.datadir {
                Some(d) => (d.clone(), None),
                None => {
                    let mut builder = tempfile::Builder::new();
                    builder.prefix("preconf-devnet-");
                    // It holds the JWT secret and the sequencer key: owner-only.
                    #[cfg(unix)]
                    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
                    let tmp = builder.tempdir()?;
                    (tmp.path().to_path_buf(), Some(tmp))
                }
            };
            let _lock = DatadirLock::acquire(&datadir)?;
            let spec = args.common.chainspec()?;
            let mut config = node_config(
                spec,
                datadir.clone(),
                &args.server,
                &args.preconf,
                args.block_time,
            )?;
            config.cooldown = args.supervision.cooldown;
            config.fault_injection = args.supervision.fault_injection;
            config.dev_accounts = devnet::dev_signers();
            let set = ValidatorSet::devnet(args.validators);
            let files = crate::validators::devnet(&datadir, &set, &args.consensus)?;
            if !args.flashblocks_disable {
                // One process holds the sequencer and an rpc overlay that verifies its
                // flashblocks like any remote rpc node.
                let seq = sequencer_config(
                    &datadir,
                    &args.preconf,
                    &args.consensus,
                    args.block_time,
                    &files,
                    true,
                )?;
                let mut overlay = overlay_config(&args.preconf, true);
                overlay.sequencer_address = seq.key.address();
                config.sequencer = Some(seq);
                config.overlay = Some(overlay);
            }
            let mut engine_peers = Vec::new();
            if !args.engine_peers.is_empty() {
                let path = args.engine_peer_jwtsecret.clone().ok_or_else(|| {
                    eyre::eyre!("--devnet.engine-peer needs --devnet.engine-peer-jwtsecret")
                })?;
                let secret = JwtSecret::from_hex(
                    &std::fs::read_to_string(&path)
                        .map_err(|e| eyre::eyre!("cannot read {}: {e}", path.display()))?,
                )?;
                engine_peers = args
                    .engine_peers
                    .iter()
                    .map(|u| (u.clone(), secret.clone()))
                    .collect();
            }
            config.devnet = Some(DevnetConfig {
                block_time: args.block_time,
                payload_jwts: crate::validators::secrets_by_index(&set, &files)?,
                validators: set,
                engine_peers,
                fetch_timeout: args.consensus.fetch_timeout,
                health_interval: args.consensus.health_check_interval,
                max_response: args.consensus.max_response(&config.spec),
                sequencer_url: args.consensus.sequencer_url.clone(),
            });
            runtime.block_on(async move {
                let node = preconf_actors::spawn(config.clone()).await?;
                let info = banner(&node, &config, &files, args.common.log_format);
                if let Some(path) = &args.config_out {
                    std::fs::write(path, serde_json::to_string_pretty(&info)?)?;
                }
                wait(node).await
            })
        }
        Command::Init(args) => crate::init::run(&args),
        Command::Consensus(args) => {
            init_logging(&args.common.log_level, args.common.log_format);
            let config = consensus_config(&args)?;
            runtime.block_on(async move {
                let mut c = preconf_actors::spawn_consensus(config).await?;
                tracing::info!(target: "consensus", metrics = %c.metrics_addr, "consensus running");
                tokio::select! {
                    signal = shutdown_signal() => {
                        tracing::info!(target: "consensus", signal, "shutting down");
                        c.stop().await;
                    }
                    _ = c.wait() => eyre::bail!("consensus stopped unexpectedly"),
                }
                Ok(())
            })
        }
        Command::Node(args) => {
            init_logging(&args.common.log_level, args.common.log_format);
            let spec = args.common.chainspec()?;
            let datadir = args
                .common
                .datadir
                .clone()
                .unwrap_or_else(|| PathBuf::from("data"));
            let _lock = DatadirLock::acquire(&datadir)?;
            let mut config = node_config(
                spec,
                datadir.clone(),
                &args.server,
                &args.preconf,
                args.block_time,
            )?;
            config.cooldown = args.supervision.cooldown;
            config.fault_injection = args.supervision.fault_injection;
            if args.role.contains(&Role::Sequencer) || args.consensus.sequencer_mode {
                let files = crate::validators::sequencer(&args.consensus)?;
                config.sequencer = Some(sequencer_config(
                    &datadir,
                    &args.preconf,
                    &args.consensus,
                    args.block_time,
                    &files,
                    false,
                )?);
            }
            // An rpc node serves the sequencer's preconfirmations; any other node given a stream
            // follows it too, so that a block it builds itself (a proposer's fallback) starts
            // with what was preconfirmed.
            if args.role.contains(&Role::Rpc) || !args.preconf.flashblocks_url.is_empty() {
                let mut overlay = overlay_config(&args.preconf, false);
                overlay.sequencer_address = match (
                    args.preconf.sequencer_address,
                    &config.sequencer,
                ) {
                    (Some(a), _) => a,
                    (None, Some(seq)) => seq.key.address(),
                    (None, None) => eyre::bail!(
                        "--role rpc and --flashblocks-url need --flashblocks.sequencer-address (the sequencer whose flashblocks to trust)"
                    ),
                };
                if args.preconf.flashblocks_url.is_empty() && config.sequencer.is_none() {
                    tracing::warn!(target: "node", "rpc role without --flashblocks-url: flashblocks arrive only through preconf_newPartialBlock");
                }
                config.overlay = Some(overlay);
            }
            runtime.block_on(async move {
                let sequencer = config.sequencer.as_ref().map(|s| s.key.address());
                let node = preconf_actors::spawn(config).await?;
                tracing::info!(target: "node", rpc = %node.http_addr, engine = %node.authrpc_addr, metrics = %node.metrics_addr, flashblocks = ?node.flashblocks_addr, sequencer = ?sequencer, "node running; waiting for a consensus client");
                wait(node).await
            })
        }
        Command::Import(args) => {
            init_logging(&args.common.log_level, args.common.log_format);
            crate::chain_io::import(&args)
        }
        Command::Export(args) => {
            init_logging(&args.common.log_level, args.common.log_format);
            crate::chain_io::export(&args)
        }
        Command::Key(KeyCommand::Address { file }) => {
            let key = flashblock::load_or_create_key(&file).map_err(|e| eyre::eyre!(e))?;
            println!("{}", key.address());
            Ok(())
        }
        Command::Healthcheck { url } => match healthcheck(&url) {
            Ok(200) => Ok(()),
            Ok(status) => eyre::bail!("{url} answered {status}"),
            Err(e) => eyre::bail!("{url}: {e}"),
        },
        Command::Bench(args) => {
            init_logging("warn", LogFormat::Text);
            let keys = match &args.keys {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| eyre::eyre!("cannot read {}: {e}", path.display()))?
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(|l| {
                        l.trim_start_matches("0x")
                            .parse::<PrivateKeySigner>()
                            .map_err(|e| eyre::eyre!("bad key in {}: {e}", path.display()))
                    })
                    .collect::<eyre::Result<Vec<_>>>()?,
                None => Vec::new(),
            };
            runtime.block_on(crate::bench::run(
                crate::bench::BenchConfig {
                    rpc: args.rpc,
                    rate: args.rate,
                    duration: args.duration,
                    tag: args.tag,
                    senders: args.senders,
                    keys,
                    wait: args.wait,
                    sync: args.sync,
                },
                args.compare.map(|url| (url, args.compare_tag)),
            ))
        }
    }
}

fn sequencer_config(
    datadir: &std::path::Path,
    p: &PreconfArgs,
    c: &ConsensusSideArgs,
    slot: Duration,
    files: &PreconfFiles,
    early: bool,
) -> eyre::Result<SequencerConfig> {
    let interval = Duration::from_millis(p.interval_ms);
    if slot < interval {
        eyre::bail!(
            "--block-time {slot:?} is shorter than --flashblocks.interval-ms {}: a block needs at least one flashblock",
            p.interval_ms
        );
    }
    let path = p
        .signing_key
        .clone()
        .unwrap_or_else(|| datadir.join("flashblocks.key"));
    let key: PrivateKeySigner =
        flashblock::load_or_create_key(&path).map_err(|e| eyre::eyre!(e))?;
    Ok(SequencerConfig {
        key,
        key_path: path,
        interval,
        early: p.early.unwrap_or(early),
        slot,
        ws_addr: SocketAddr::new(p.ws_addr, p.ws_port),
        max_subscribers: p.max_subscribers,
        push: p.push_to.clone(),
        push_jwt: match &p.push_jwtsecret {
            Some(path) => Some(jwt_file(path)?),
            None if !p.push_to.is_empty() => {
                eyre::bail!(
                    "--flashblocks.push-to needs --flashblocks.push-jwtsecret (the rpc node's Engine API secret)"
                )
            }
            None => None,
        },
        payload_server: PayloadServerConfig {
            addr: SocketAddr::new(c.api_addr, c.api_port),
            whitelist: files.whitelist.clone(),
            whitelist_path: Some(files.whitelist_path.clone()),
            jwts: files.jwts.clone(),
        },
    })
}

/// A secret file: an Engine API `jwt.hex` (hex, `0x` optional).
fn jwt_file(path: &std::path::Path) -> eyre::Result<JwtSecret> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| eyre::eyre!("cannot read {}: {e}", path.display()))?;
    JwtSecret::from_hex(&text).map_err(|e| eyre::eyre!("{}: {e}", path.display()))
}

fn consensus_config(a: &crate::cli::ConsensusCmdArgs) -> eyre::Result<ConsensusConfig> {
    let text = std::fs::read_to_string(&a.validators_path)
        .map_err(|e| eyre::eyre!("cannot read {}: {e}", a.validators_path.display()))?;
    let set: ValidatorSet = serde_json::from_str(&text)
        .map_err(|e| eyre::eyre!("invalid {}: {e}", a.validators_path.display()))?;
    let n = set.0.len();
    if n == 0
        || a.validator_engines.len() != n
        || a.validator_engine_jwts.len() != n
        || (!a.validator_sequencer_jwts.is_empty() && a.validator_sequencer_jwts.len() != n)
    {
        eyre::bail!(
            "{n} validators need {n} --consensus.validator-engines, {n} --consensus.validator-engine-jwts and {n} (or no) --consensus.validator-sequencer-jwts"
        );
    }
    let url = a
        .consensus
        .sequencer_url
        .as_ref()
        .filter(|_| a.consensus.enabled);
    let sequencer = match (url, &a.sequencer_engine, &a.sequencer_engine_jwt) {
        (Some(url), Some(engine), Some(jwt)) => {
            if a.validator_sequencer_jwts.is_empty() {
                eyre::bail!("--preconf.sequencer-url needs --consensus.validator-sequencer-jwts");
            }
            Some((engine.clone(), jwt_file(jwt)?, url.clone()))
        }
        (None, _, _) => None,
        _ => eyre::bail!(
            "--preconf.sequencer-url needs --consensus.sequencer-engine and --consensus.sequencer-engine-jwt"
        ),
    };
    let mut validators = Vec::with_capacity(n);
    for (i, v) in set.0.iter().enumerate() {
        let payload_jwt = match a.validator_sequencer_jwts.get(i) {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| eyre::eyre!("cannot read {}: {e}", path.display()))?;
                parse_sequencer_jwt(&text).map_err(|e| eyre::eyre!("{}: {e}", path.display()))?
            }
            None => JwtSecret::random(),
        };
        validators.push(ValidatorEndpoint {
            validator: v.clone(),
            engine_url: a.validator_engines[i].clone(),
            engine_jwt: jwt_file(&a.validator_engine_jwts[i])?,
            payload_jwt,
        });
    }
    if a.followers.len() != a.follower_jwts.len() {
        eyre::bail!("every --consensus.followers URL needs its --consensus.follower-jwts file");
    }
    let followers = a
        .followers
        .iter()
        .zip(&a.follower_jwts)
        .map(|(u, j)| Ok((u.clone(), jwt_file(j)?)))
        .collect::<eyre::Result<_>>()?;
    let spec = a.common.chainspec()?;
    Ok(ConsensusConfig {
        max_response: a.consensus.max_response(&spec),
        spec,
        block_time: a.block_time,
        validators,
        sequencer,
        followers,
        fetch_timeout: a.consensus.fetch_timeout,
        health_interval: a.consensus.health_check_interval,
        metrics_addr: SocketAddr::new(a.metrics_addr, a.metrics_port),
        cooldown: a.supervision.cooldown,
    })
}

/// The overlay's settings; `preconf_latest` is the command's default for `--rpc.preconf-latest`.
fn overlay_config(p: &PreconfArgs, preconf_latest: bool) -> OverlayConfig {
    OverlayConfig {
        sequencer_address: p.sequencer_address.unwrap_or_default(),
        urls: p.flashblocks_url.clone(),
        preconf_latest: p.preconf_latest.unwrap_or(preconf_latest),
    }
}

fn node_config(
    spec: Arc<ChainSpec>,
    datadir: PathBuf,
    s: &NetworkArgs,
    p: &PreconfArgs,
    block_time: Duration,
) -> eyre::Result<NodeConfig> {
    let jwt_path = s
        .authrpc_jwtsecret
        .clone()
        .unwrap_or_else(|| datadir.join("jwt.hex"));
    let jwt = JwtSecret::load_or_create(&jwt_path)?;
    Ok(NodeConfig {
        http_addr: SocketAddr::new(s.http_addr, s.http_port),
        cors: s.http_corsdomain.clone(),
        vhosts: s.http_vhosts.clone(),
        authrpc_addr: SocketAddr::new(s.authrpc_addr, s.authrpc_port),
        metrics_addr: SocketAddr::new(s.metrics_addr, s.metrics_port),
        pool: PoolConfig {
            max_per_sender: s.txpool_max_per_sender,
            max_total: s.txpool_max_total,
            minimum_priority_fee: s.txpool_minimum_priority_fee,
            locals: s.txpool_locals.clone(),
            ..Default::default()
        },
        rpc_gas_cap: s.rpc_gascap,
        forward_to: p.sequencer_http.clone(),
        send_sync_timeout: (
            Duration::from_millis(p.send_sync_timeout_ms),
            MAX_SYNC_TIMEOUT,
        ),
        jwt_path,
        vitals: VitalsConfig {
            min_free_bytes: s.min_free_mb.saturating_mul(1024 * 1024),
            stall_after: match s.stall_after {
                Some(d) if d.is_zero() => None,
                Some(d) => Some(d),
                None => Some((block_time * 5).max(Duration::from_secs(10))),
            },
        },
        ..NodeConfig::local(spec, datadir, jwt)
    })
}

/// The HTTP status of a GET of `url` (`http://host:port/path`), within 3 s.
fn healthcheck(url: &str) -> std::io::Result<u16> {
    use std::io::{Error, Read, Write};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::other("only http:// URLs"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)?
        .next()
        .ok_or_else(|| Error::other("no address"))?;
    let timeout = Duration::from_secs(3);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::other("not an HTTP response"))
}

async fn wait(mut node: NodeHandle) -> eyre::Result<()> {
    tokio::select! {
        signal = shutdown_signal() => {
            tracing::info!(target: "node", signal, "shutting down");
            node.stop().await;
        }
        _ = node.wait() => {
            eyre::bail!("node stopped unexpectedly");
        }
    }
    Ok(())
}

/// Ctrl-C (SIGINT) or, on Unix, SIGTERM (what `kill`, systemd and container runtimes send): either
/// stops the node cleanly, so a devnet's temporary datadir is removed too.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}

/// Prints the devnet banner and returns the same information as JSON.
/// Prints the devnet's banner (with `--log.format json`, as one log line whose `devnet` field is
/// the `--config-out` JSON) and returns that JSON.
fn banner(
    node: &NodeHandle,
    config: &NodeConfig,
    files: &PreconfFiles,
    format: LogFormat,
) -> serde_json::Value {
    let block_time = config
        .devnet
        .as_ref()
        .map(|d| d.block_time)
        .unwrap_or_default();
    let validators = config.devnet.as_ref().map_or(0, |d| d.validators.0.len());
    let payload_url = node.payload_server_addr.map(|a| format!("http://{a}"));
    let accounts: Vec<serde_json::Value> = config
        .dev_accounts
        .iter()
        .map(|s| serde_json::json!({ "address": s.address(), "privateKey": format!("0x{}", hex::encode(s.to_bytes())) }))
        .collect();
    let info = serde_json::json!({
        "chainId": config.spec.chain_id(),
        "genesisHash": config.spec.genesis_hash(),
        "rpcUrl": format!("http://{}", node.http_addr),
        "wsUrl": format!("ws://{}", node.http_addr),
        "engineUrl": format!("http://{}", node.authrpc_addr),
        "metricsUrl": format!("http://{}/metrics", node.metrics_addr),
        "datadir": config.datadir,
        "blockTimeMs": block_time.as_millis() as u64,
        "validators": validators,
        "validatorsPath": files.validators_path,
        "payloadServerUrl": payload_url,
        "whitelistPath": files.whitelist_path,
        "validatorJwtsPath": files.jwts_path,
        "flashblocksUrl": node.flashblocks_addr.map(|a| format!("ws://{a}")),
        "flashblockIntervalMs": config.sequencer.as_ref().map(|s| s.interval.as_millis() as u64),
        "preconfLatest": config.overlay.as_ref().is_some_and(|o| o.preconf_latest),
        "sequencerAddress": config.sequencer.as_ref().map(|s| s.key.address()),
        "mnemonic": devnet::DEV_MNEMONIC,
        "accounts": accounts,
    });
    let mut out = String::new();
    out.push_str("\npreconf-node devnet\n==================\n");
    out.push_str(&format!("Chain ID      {}\n", config.spec.chain_id()));
    out.push_str(&format!("Forks         {}\n", forks_line(&config.spec)));
    if let Some(p1) = &config.spec.berachain.prague1 {
        let from = match p1.time {
            0 => "genesis".to_string(),
            t => format!("time {t}"),
        };
        out.push_str(&format!(
            "Berachain     Prague1 from {from}, minimum base fee {} wei; PoL distributor {} (event Distributed(bytes,uint256) every block)\n",
            p1.minimum_base_fee_wei, p1.pol_distributor_address,
        ));
    }
    if let Some(o1) = &config.spec.berachain.osaka1 {
        out.push_str(&format!(
            "              Osaka1 from {}, minimum base fee {} wei, minimum blob base fee {} wei\n",
            match o1.time {
                0 => "genesis".to_string(),
                t => format!("time {t}"),
            },
            o1.minimum_base_fee_wei,
            o1.minimum_blob_base_fee_wei,
        ));
    }
    out.push_str(&format!(
        "JSON-RPC      http://{0}  (WebSocket ws://{0})\n",
        node.http_addr
    ));
    if !node.http_addr.ip().is_loopback() && !config.dev_accounts.is_empty() {
        out.push_str(&format!(
            "\n!!! WARNING: JSON-RPC listens on {} with the {} dev accounts UNLOCKED: anyone who\n\
             !!! can reach this address can spend them (eth_sendTransaction). Host names allowed:\n\
             !!! {} (--http.vhosts); browser origins: {} (--http.corsdomain).\n\n",
            node.http_addr,
            config.dev_accounts.len(),
            config.vhosts.join(","),
            config.cors.join(",")
        ));
        tracing::warn!(target: "node", addr = %node.http_addr, "JSON-RPC on a non-loopback address with unlocked dev accounts");
    }
    out.push_str(&format!(
        "Engine API    http://{}  (JWT secret in {})\n",
        node.authrpc_addr,
        config.jwt_path.display()
    ));
    out.push_str(&format!(
        "Metrics       http://{}/metrics\n",
        node.metrics_addr
    ));
    out.push_str(&format!("Datadir       {}\n", config.datadir.display()));
    out.push_str(&format!(
        "Consensus     {validators} validators, a block every {block_time:?} (devnet stand-in for CometBFT + beacon-kit)\n"
    ));
    out.push_str(&format!(
        "Validators    {}  (whitelist {}, payload-server JWTs {})\n",
        files
            .validators_path
            .as_deref()
            .unwrap_or(std::path::Path::new("-"))
            .display(),
        files.whitelist_path.display(),
        files.jwts_path.display()
    ));
    if let Some(url) = &payload_url {
        out.push_str(&format!(
            "Payload server {url}  (/eth/v1/preconf/payload, /eth/v1/preconf/health; SIGHUP reloads the whitelist)\n"
        ));
    }
    match (&config.sequencer, node.flashblocks_addr) {
        (Some(seq), Some(addr)) => {
            let serves = if config.overlay.as_ref().is_some_and(|o| o.preconf_latest) {
                "`latest` and `pending` serve preconfirmed state"
            } else {
                "`pending` serves preconfirmed state"
            };
            out.push_str(&format!(
                "Flashblocks   ws://{addr}  (every {} ms; {serves})\n",
                seq.interval.as_millis()
            ));
            out.push_str(&format!(
                "Sequencer     {}  (signing key in {})\n\n",
                seq.key.address(),
                seq.key_path.display()
            ));
        }
        _ => out.push_str("Flashblocks   off\n\n"),
    }
    out.push_str(&format!(
        "Mnemonic      {}\n\nAvailable accounts (10,000 ETH each)\n",
        devnet::DEV_MNEMONIC
    ));
    for (i, s) in config.dev_accounts.iter().enumerate() {
        out.push_str(&format!(
            "({i}) {}  0x{}\n",
            s.address(),
            hex::encode(s.to_bytes())
        ));
    }
    match format {
        LogFormat::Text => println!("{out}"),
        LogFormat::Json => tracing::info!(target: "devnet", devnet = %info, "devnet ready"),
    }
    info
}

/// The forks of the chain, in order, each with when it activates: `Prague (genesis), Osaka
/// (genesis), Prague1 (genesis), Osaka1 (genesis)`.
fn forks_line(spec: &preconf_core::chainspec::ChainSpec) -> String {
    let c = &spec.genesis.config;
    let when = |t: u64| match t {
        0 => "genesis".to_string(),
        t => format!("time {t}"),
    };
    let b = &spec.berachain;
    [
        ("Cancun", c.cancun_time),
        ("Prague", c.prague_time),
        ("Osaka", c.osaka_time),
        ("Prague1", b.prague1.as_ref().map(|p| p.time)),
        ("Prague2", b.prague2.as_ref().map(|p| p.time)),
        ("Osaka1", b.osaka1.as_ref().map(|p| p.time)),
    ]
    .into_iter()
    .filter_map(|(name, t)| Some(format!("{name} ({})", when(t?))))
    .collect::<Vec<_>>()
    .join(", ")
}
