//! `preconf-node init --out DIR`: a multi-process devnet on loopback. It writes the genesis, the
//! validator set and the payload server's files, every secret (owner-only), one TOML per process
//! and `network.json`, which says how to start each process and where it listens.
//!
//! Ports: process k (consensus, sequencer, validator-0…, rpc-0… in that order) gets `base + 10·k`
//! and up: `+0` JSON-RPC, `+1` Engine API, `+2` metrics, `+3` flashblock stream, `+4` payload
//! server.

use crate::{
    cli::InitArgs,
    validators::{write_file, write_jwts, write_secret, write_whitelist},
};
use eyre::WrapErr;
use preconf_core::{devnet, flashblock, jwt::JwtSecret, preconf::ValidatorSet, secret_file};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// One process of the network, as `network.json` lists it.
struct Process {
    name: String,
    args: Vec<String>,
    http: Option<u16>,
    authrpc: Option<u16>,
    metrics: u16,
    flashblocks: Option<u16>,
    payload_server: Option<u16>,
}

impl Process {
    /// A plain node (validator or rpc) started from `toml`, as process `k`.
    fn node(
        name: String,
        toml: &Path,
        k: u64,
        port: &impl Fn(u64, u64) -> eyre::Result<u16>,
    ) -> eyre::Result<Self> {
        Ok(Self {
            name,
            args: vec!["node".into(), "--config".into(), p(toml)],
            http: Some(port(k, 0)?),
            authrpc: Some(port(k, 1)?),
            metrics: port(k, 2)?,
            flashblocks: None,
            payload_server: None,
        })
    }

    fn json(&self) -> Value {
        let url = |scheme: &str, p: Option<u16>| p.map(|p| format!("{scheme}://127.0.0.1:{p}"));
        let mut v = json!({
            "name": self.name,
            "args": self.args,
            "metrics": url("http", Some(self.metrics)),
        });
        for (k, u) in [
            ("http", url("http", self.http)),
            ("authrpc", url("http", self.authrpc)),
            ("flashblocks", url("ws", self.flashblocks)),
            ("payload_server", url("http", self.payload_server)),
        ] {
            if let Some(u) = u {
                v[k] = json!(u);
            }
        }
        v
    }
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// Writes the network; refuses a directory that already holds one.
pub(crate) fn run(args: &InitArgs) -> eyre::Result<()> {
    std::fs::create_dir_all(&args.out)
        .wrap_err_with(|| format!("cannot create {}", args.out.display()))?;
    let out: PathBuf = args.out.canonicalize()?;
    if out.join("network.json").exists() {
        eyre::bail!(
            "{} already holds a network (network.json); choose another --out",
            out.display()
        );
    }
    let n = args.validators;
    let set = ValidatorSet::devnet(n);
    let block_time = format!("{}ms", args.block_time.as_millis());
    let genesis = out.join("genesis.json");
    write_file(
        &genesis,
        &serde_json::to_string_pretty(&devnet::devnet_genesis_at(args.gas_limit, args.hardfork))?,
    )?;
    write_file(
        &out.join("validators.json"),
        &serde_json::to_string_pretty(&set)?,
    )?;
    let whitelist = out.join("whitelist.json");
    write_whitelist(&whitelist, &set)?;
    let jwts = out.join("validator-jwts.json");
    let payload_secrets = write_jwts(&jwts, &set)?;

    let port = |k: u64, offset: u64| -> eyre::Result<u16> {
        u16::try_from(u64::from(args.base_port) + 10 * k + offset)
            .wrap_err("--base-port leaves too few ports for this many processes")
    };
    let node_dir = |name: &str| -> eyre::Result<(PathBuf, PathBuf)> {
        let dir = out.join(name);
        secret_file::create_private_dir(&dir)
            .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
        let jwt = dir.join("jwt.hex");
        write_secret(&jwt, &JwtSecret::random().to_hex())?;
        Ok((dir, jwt))
    };
    let mut processes = Vec::new();
    let common = |dir: &Path, k: u64| -> eyre::Result<String> {
        Ok(format!(
            "datadir = {:?}\ngenesis = {:?}\n\n[http]\nport = {}\n\n[authrpc]\nport = {}\njwtsecret = {:?}\n\n[metrics]\nport = {}\n",
            p(dir),
            p(&genesis),
            port(k, 0)?,
            port(k, 1)?,
            p(&dir.join("jwt.hex")),
            port(k, 2)?,
        ))
    };

    // The sequencer (k = 1).
    let (seq_dir, seq_jwt) = node_dir("sequencer")?;
    let key_path = seq_dir.join("flashblocks.key");
    let key = flashblock::load_or_create_key(&key_path).map_err(|e| eyre::eyre!(e))?;
    let seq_toml = out.join("sequencer.toml");
    write_file(
        &seq_toml,
        &format!(
            "# The sequencer: builder, sealer, broadcaster and payload server.\nrole = [\"sequencer\"]\nblock-time = {block_time:?}\n{}\n[flashblocks]\nport = {}\nsigning-key = {:?}\n\n[preconf]\napi-port = {}\nwhitelist-path = {:?}\nvalidator-jwts-path = {:?}\n",
            common(&seq_dir, 1)?,
            port(1, 3)?,
            p(&key_path),
            port(1, 4)?,
            p(&whitelist),
            p(&jwts),
        ),
    )?;
    processes.push(Process {
        name: "sequencer".into(),
        args: vec!["node".into(), "--config".into(), p(&seq_toml)],
        http: Some(port(1, 0)?),
        authrpc: Some(port(1, 1)?),
        metrics: port(1, 2)?,
        flashblocks: Some(port(1, 3)?),
        payload_server: Some(port(1, 4)?),
    });

    // Validators (k = 2 …).
    let mut validator_engines = Vec::new();
    for (i, payload_secret) in payload_secrets.iter().enumerate() {
        let k = 2 + i as u64;
        let name = format!("validator-{i}");
        let (dir, jwt) = node_dir(&name)?;
        let seq_secret = dir.join("sequencer-jwt.hex");
        write_secret(&seq_secret, &payload_secret.to_hex())?;
        let toml = out.join(format!("{name}.toml"));
        write_file(
            &toml,
            &format!(
                "# Validator {i}'s execution node (the consensus drives it over the Engine API). It\n# follows the sequencer's stream: a block it builds itself (when the sequencer is down)\n# starts with what the sequencer preconfirmed.\nrole = [\"validator\"]\nflashblocks-url = [\"ws://127.0.0.1:{}\"]\n{}\n[flashblocks]\nsequencer-address = \"{}\"\n",
                port(1, 3)?,
                common(&dir, k)?,
                key.address(),
            ),
        )?;
        validator_engines.push((format!("http://127.0.0.1:{}", port(k, 1)?), jwt, seq_secret));
        processes.push(Process::node(name, &toml, k, &port)?);
    }

    // Rpc nodes (after the validators): follow the stream, forward transactions to the sequencer
    // and the validators.
    let mut followers = Vec::new();
    let mut forward = vec![format!("http://127.0.0.1:{}", port(1, 0)?)];
    for i in 0..n {
        forward.push(format!("http://127.0.0.1:{}", port(2 + i, 0)?));
    }
    for i in 0..args.rpc_nodes {
        let k = 2 + n + i;
        let name = format!("rpc-{i}");
        let (dir, jwt) = node_dir(&name)?;
        let toml = out.join(format!("{name}.toml"));
        write_file(
            &toml,
            &format!(
                "# An rpc node: serves the sequencer's preconfirmations on `pending`.\nrole = [\"rpc\"]\nflashblocks-url = [\"ws://127.0.0.1:{}\"]\n{}\n[flashblocks]\nsequencer-address = \"{}\"\n\n[sequencer]\nhttp = {forward:?}\n",
                port(1, 3)?,
                common(&dir, k)?,
                key.address(),
            ),
        )?;
        followers.push((format!("http://127.0.0.1:{}", port(k, 1)?), jwt));
        processes.push(Process::node(name, &toml, k, &port)?);
    }

    // The consensus (k = 0).
    let list = |v: Vec<String>| format!("{v:?}");
    let consensus_toml = out.join("consensus.toml");
    write_file(
        &consensus_toml,
        &format!(
            "# The devnet consensus: a stand-in for CometBFT and every validator's beacon-kit.\ngenesis = {:?}\nblock-time = {block_time:?}\n\n[metrics]\nport = {}\n\n[consensus]\nvalidators-path = {:?}\nvalidator-engines = {}\nvalidator-engine-jwts = {}\nvalidator-sequencer-jwts = {}\nsequencer-engine = \"http://127.0.0.1:{}\"\nsequencer-engine-jwt = {:?}\nfollowers = {}\nfollower-jwts = {}\n\n# Where proposers fetch payloads: edit this line to put a proxy in front of the sequencer.\n[preconf]\nenabled = true\nsequencer-url = \"http://127.0.0.1:{}\"\n",
            p(&genesis),
            port(0, 2)?,
            p(&out.join("validators.json")),
            list(
                validator_engines
                    .iter()
                    .map(|(u, _, _)| u.clone())
                    .collect()
            ),
            list(validator_engines.iter().map(|(_, j, _)| p(j)).collect()),
            list(validator_engines.iter().map(|(_, _, s)| p(s)).collect()),
            port(1, 1)?,
            p(&seq_jwt),
            list(followers.iter().map(|(u, _)| u.clone()).collect()),
            list(followers.iter().map(|(_, j)| p(j)).collect()),
            port(1, 4)?,
        ),
    )?;
    processes.insert(
        0,
        Process {
            name: "consensus".into(),
            args: vec!["consensus".into(), "--config".into(), p(&consensus_toml)],
            http: None,
            authrpc: None,
            metrics: port(0, 2)?,
            flashblocks: None,
            payload_server: None,
        },
    );
    let network = json!({
        "chain_id": devnet::DEVNET_CHAIN_ID,
        "processes": processes.iter().map(Process::json).collect::<Vec<_>>(),
    });
    write_file(
        &out.join("network.json"),
        &serde_json::to_string_pretty(&network)?,
    )?;
    println!(
        "wrote a devnet of {n} validators and {} rpc nodes to {}",
        args.rpc_nodes,
        out.display()
    );
    for proc in &processes {
        println!("  preconf-node {}", proc.args.join(" "));
    }
    Ok(())
}
