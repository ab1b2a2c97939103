//! The payload server's files (`WIRE.md` §3): the whitelist and the validators' JWT secrets. The
//! devnet writes its own into `DATADIR/preconf/` on first start (every validator whitelisted, a
//! random secret each, owner-only) and reads them back on later starts; a `node --role sequencer`
//! is given both by flag.

use crate::cli::ConsensusSideArgs;
use eyre::WrapErr;
use preconf_core::{
    jwt::JwtSecret,
    preconf::{ValidatorPubkey, ValidatorSet, parse_validator_jwts, parse_whitelist},
    secret_file,
};
use std::path::{Path, PathBuf};

/// The payload server's inputs and where they came from.
#[derive(Debug, Clone)]
pub(crate) struct PreconfFiles {
    /// The whitelist file (reloaded on SIGHUP).
    pub whitelist_path: PathBuf,
    /// Its keys.
    pub whitelist: Vec<ValidatorPubkey>,
    /// The validator JWT file.
    pub jwts_path: PathBuf,
    /// Its secrets.
    pub jwts: Vec<(ValidatorPubkey, JwtSecret)>,
    /// The validator set file (devnet).
    pub validators_path: Option<PathBuf>,
}

fn read(path: &Path) -> eyre::Result<String> {
    std::fs::read_to_string(path).wrap_err_with(|| format!("cannot read {}", path.display()))
}

fn whitelist(path: &Path) -> eyre::Result<Vec<ValidatorPubkey>> {
    parse_whitelist(&read(path)?).wrap_err_with(|| format!("invalid whitelist {}", path.display()))
}

fn jwts(path: &Path) -> eyre::Result<Vec<(ValidatorPubkey, JwtSecret)>> {
    parse_validator_jwts(&read(path)?)
        .wrap_err_with(|| format!("invalid validator JWT file {}", path.display()))
}

/// Writes a file, owner read/write only (0600: it describes the node's keys and lives beside
/// them), naming it in the error.
pub(crate) fn write_file(path: &Path, text: &str) -> eyre::Result<()> {
    let write = || -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(&mut options.open(path)?, text.as_bytes())?;
        #[cfg(unix)]
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        Ok(())
    };
    write().wrap_err_with(|| format!("cannot write {}", path.display()))
}

/// Creates an owner-only file (0600); an existing one is an error.
pub(crate) fn write_secret(path: &Path, text: &str) -> eyre::Result<()> {
    secret_file::write_new(path, text).wrap_err_with(|| format!("cannot write {}", path.display()))
}

/// A whitelist of every validator of `set`.
pub(crate) fn write_whitelist(path: &Path, set: &ValidatorSet) -> eyre::Result<()> {
    let keys: Vec<_> = set.0.iter().map(|v| v.pubkey).collect();
    write_file(path, &serde_json::to_string_pretty(&keys)?)
}

/// A random payload-server secret for every validator of `set`, written owner-only; returns them
/// in index order.
pub(crate) fn write_jwts(path: &Path, set: &ValidatorSet) -> eyre::Result<Vec<JwtSecret>> {
    let secrets: Vec<JwtSecret> = set.0.iter().map(|_| JwtSecret::random()).collect();
    let map: serde_json::Map<String, serde_json::Value> = set
        .0
        .iter()
        .zip(&secrets)
        .map(|(v, s)| (v.pubkey.to_string(), s.to_hex().into()))
        .collect();
    write_secret(path, &serde_json::to_string_pretty(&map)?)?;
    Ok(secrets)
}

/// The devnet's files: the flags' when given, else `DATADIR/preconf/*.json` (created when absent).
pub(crate) fn devnet(
    datadir: &Path,
    set: &ValidatorSet,
    args: &ConsensusSideArgs,
) -> eyre::Result<PreconfFiles> {
    let dir = datadir.join("preconf");
    secret_file::create_private_dir(&dir)
        .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    let validators_path = dir.join("validators.json");
    write_file(&validators_path, &serde_json::to_string_pretty(set)?)?;
    let whitelist_path = args
        .whitelist_path
        .clone()
        .unwrap_or_else(|| dir.join("whitelist.json"));
    if args.whitelist_path.is_none() && !whitelist_path.exists() {
        write_whitelist(&whitelist_path, set)?;
    }
    let jwts_path = args
        .validator_jwts_path
        .clone()
        .unwrap_or_else(|| dir.join("validator-jwts.json"));
    if args.validator_jwts_path.is_none() && !jwts_path.exists() {
        write_jwts(&jwts_path, set)?;
    }
    Ok(PreconfFiles {
        whitelist: whitelist(&whitelist_path)?,
        jwts: jwts(&jwts_path)?,
        whitelist_path,
        jwts_path,
        validators_path: Some(validators_path),
    })
}

/// A sequencer node's files, both required.
pub(crate) fn sequencer(args: &ConsensusSideArgs) -> eyre::Result<PreconfFiles> {
    let (Some(w), Some(j)) = (&args.whitelist_path, &args.validator_jwts_path) else {
        eyre::bail!(
            "--role sequencer needs --preconf.whitelist-path and --preconf.validator-jwts-path (the payload server's whitelist and validator JWT secrets)"
        );
    };
    Ok(PreconfFiles {
        whitelist: whitelist(w)?,
        jwts: jwts(j)?,
        whitelist_path: w.clone(),
        jwts_path: j.clone(),
        validators_path: None,
    })
}

/// Each validator's secret, in index order (a validator the file does not name cannot fetch).
pub(crate) fn secrets_by_index(
    set: &ValidatorSet,
    files: &PreconfFiles,
) -> eyre::Result<Vec<JwtSecret>> {
    set.0
        .iter()
        .map(|v| {
            files
                .jwts
                .iter()
                .find(|(k, _)| *k == v.pubkey)
                .map(|(_, s)| s.clone())
                .ok_or_else(|| {
                    eyre::eyre!(
                        "{} has no secret for validator {} ({})",
                        files.jwts_path.display(),
                        v.index,
                        v.pubkey
                    )
                })
        })
        .collect()
}
