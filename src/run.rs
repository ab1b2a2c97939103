//! Running the commands: build a `NodeConfig`, start the node, print the banner, wait for
//! Ctrl-C.

use crate::cli::{Cli, Command, CommonArgs, ServerArgs};
use alloy_primitives::{Address, hex};
use preconf_actors::node::{self, NodeConfig, NodeHandle};
use preconf_core::{chainspec::ChainSpec, devnet, jwt::JwtSecret, txpool::PoolConfig};
use std::{net::SocketAddr, path::PathBuf, sync::Arc};

pub(crate) fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .try_init();
}

pub(crate) fn chainspec(common: &CommonArgs) -> eyre::Result<Arc<ChainSpec>> {
    Ok(match &common.genesis {
        Some(path) => ChainSpec::from_file(path)?,
        None => Arc::new(devnet::devnet_chainspec(common.gas_limit)),
    })
}

pub(crate) fn main(cli: Cli) -> eyre::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Devnet(args) => {
            init_logging(&args.common.log_level);
            let (datadir, _tmp) = match &args.common.datadir {
                Some(d) => (d.clone(), None),
                None => {
                    let tmp = tempfile::Builder::new()
                        .prefix("preconf-devnet-")
                        .tempdir()?;
                    (tmp.path().to_path_buf(), Some(tmp))
                }
            };
            let spec = chainspec(&args.common)?;
            let mut config = node_config(spec, datadir, &args.server)?;
            config.block_time = Some(args.block_time);
            config.dev_accounts = devnet::dev_signers();
            config.fee_recipient = Address::ZERO;
            runtime.block_on(async move {
                let node = node::spawn(config.clone()).await?;
                let info = banner(&node, &config);
                if let Some(path) = &args.config_out {
                    std::fs::write(path, serde_json::to_string_pretty(&info)?)?;
                }
                wait(node).await
            })
        }
        Command::Node(args) => {
            init_logging(&args.common.log_level);
            let spec = chainspec(&args.common)?;
            let datadir = args
                .common
                .datadir
                .clone()
                .unwrap_or_else(|| PathBuf::from("data"));
            let config = node_config(spec, datadir, &args.server)?;
            runtime.block_on(async move {
                let node = node::spawn(config).await?;
                tracing::info!(target: "node", rpc = %node.http_addr, engine = %node.authrpc_addr, metrics = %node.metrics_addr, "node running; waiting for a consensus client");
                wait(node).await
            })
        }
        Command::Import(args) => {
            init_logging(&args.common.log_level);
            crate::chain_io::import(&args)
        }
        Command::Export(args) => {
            init_logging(&args.common.log_level);
            crate::chain_io::export(&args)
        }
    }
}

fn node_config(spec: Arc<ChainSpec>, datadir: PathBuf, s: &ServerArgs) -> eyre::Result<NodeConfig> {
    let jwt_path = s
        .authrpc_jwtsecret
        .clone()
        .unwrap_or_else(|| datadir.join("jwt.hex"));
    let jwt = JwtSecret::load_or_create(&jwt_path)?;
    Ok(NodeConfig {
        spec,
        datadir,
        http_addr: SocketAddr::new(s.http_addr, s.http_port),
        cors: s.http_corsdomain.clone(),
        authrpc_addr: SocketAddr::new(s.authrpc_addr, s.authrpc_port),
        jwt,
        metrics_addr: SocketAddr::new(s.metrics_addr, s.metrics_port),
        block_time: None,
        fee_recipient: Address::ZERO,
        dev_accounts: Vec::new(),
        pool: PoolConfig {
            max_per_sender: s.txpool_max_per_sender,
            max_total: s.txpool_max_total,
            ..Default::default()
        },
        rpc_gas_cap: s.rpc_gascap,
    })
}

async fn wait(mut node: NodeHandle) -> eyre::Result<()> {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {
            tracing::info!(target: "node", "shutting down");
            node.stop().await;
        }
        _ = node.wait() => {
            eyre::bail!("node stopped unexpectedly");
        }
    }
    Ok(())
}

/// Prints the devnet banner and returns the same information as JSON.
fn banner(node: &NodeHandle, config: &NodeConfig) -> serde_json::Value {
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
        "blockTimeMs": config.block_time.map(|d| d.as_millis() as u64),
        "mnemonic": devnet::DEV_MNEMONIC,
        "accounts": accounts,
    });
    let mut out = String::new();
    out.push_str("\npreconf-node devnet\n==================\n");
    out.push_str(&format!("Chain ID      {}\n", config.spec.chain_id()));
    out.push_str(&format!(
        "JSON-RPC      http://{0}  (WebSocket ws://{0})\n",
        node.http_addr
    ));
    out.push_str(&format!(
        "Engine API    http://{}  (JWT secret in {})\n",
        node.authrpc_addr,
        config.datadir.join("jwt.hex").display()
    ));
    out.push_str(&format!(
        "Metrics       http://{}/metrics\n",
        node.metrics_addr
    ));
    out.push_str(&format!("Datadir       {}\n", config.datadir.display()));
    out.push_str(&format!(
        "Block time    {:?}\n\n",
        config.block_time.unwrap_or_default()
    ));
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
    println!("{out}");
    info
}
