//! `import` and `export`: chains as concatenated block RLP (the format geth and reth use). Import
//! executes and validates every block exactly as `engine_newPayload` does and commits each in its
//! own transaction, logging progress (every 5 s, with the share done); blocks already in the
//! database are skipped.

use crate::cli::ChainFileArgs;
use alloy_rlp::Decodable;
use eyre::{WrapErr, bail};
use preconf_actors::ChainReader;
use preconf_core::{
    execution::execute_block,
    primitives::{Block, SealedBlock},
    storage::Store,
};
use std::{io::Write, path::PathBuf, time::Instant};
use tracing::info;

/// How often long work logs its progress.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

fn open(args: &ChainFileArgs) -> eyre::Result<ChainReader> {
    let spec = args.common.chainspec()?;
    let datadir = args
        .common
        .datadir
        .clone()
        .unwrap_or_else(|| PathBuf::from("data"));
    let store = Store::open(&datadir)?;
    Ok(ChainReader::open(spec, store)?)
}

pub(crate) fn import(args: &ChainFileArgs) -> eyre::Result<()> {
    let reader = open(args)?;
    let raw =
        std::fs::read(&args.file).wrap_err_with(|| format!("reading {}", args.file.display()))?;
    let mut buf = raw.as_slice();
    let started = Instant::now();
    let (mut imported, mut skipped, mut gas) = (0u64, 0u64, 0u64);
    let mut last_log = started;
    let mut head = reader.head();
    let mut state = reader.head_state().snapshot;
    while !buf.is_empty() {
        let offset = raw.len() - buf.len();
        let block = Block::decode(&mut buf)
            .wrap_err_with(|| format!("invalid block RLP at byte {offset}"))?;
        let block = SealedBlock::recover(block).wrap_err("invalid transaction signature")?;
        if reader.is_canonical(&block.hash, block.number())? {
            skipped += 1;
            continue;
        }
        if block.header.parent_hash != head.hash {
            bail!(
                "block {} ({}) does not extend the head {} ({})",
                block.number(),
                block.hash,
                head.header.number,
                head.hash
            );
        }
        let number = block.number();
        let executed = execute_block(
            reader.spec.clone(),
            &head.header,
            reader.provider(state.clone()),
            block,
        )
        .map_err(|e| eyre::eyre!("block {number} is invalid: {e}"))?;
        reader
            .store
            .commit_block(&executed.block, &executed.receipts, &executed.diff)?;
        gas += executed.block.header.gas_used;
        imported += 1;
        head = preconf_actors::SealedHeader {
            hash: executed.block.hash,
            header: executed.block.header.clone(),
        };
        state = executed.state;
        if last_log.elapsed() >= PROGRESS_EVERY {
            last_log = Instant::now();
            let done = (raw.len() - buf.len()) as f64 / raw.len() as f64 * 100.0;
            info!(target: "import", number = head.header.number, imported, percent = format!("{done:.1}"), "importing");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    info!(
        target: "import",
        imported, skipped, head = head.header.number, hash = %head.hash,
        seconds = format!("{secs:.3}"), mgas_per_s = format!("{:.1}", gas as f64 / secs / 1e6),
        "import done"
    );
    Ok(())
}

pub(crate) fn export(args: &ChainFileArgs) -> eyre::Result<()> {
    let reader = open(args)?;
    let head = reader.head().header.number;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args.file)?);
    let mut last_log = Instant::now();
    for n in 0..=head {
        let hash = reader
            .store
            .canonical_hash(n)?
            .ok_or_else(|| eyre::eyre!("missing canonical block {n}"))?;
        let block = reader
            .block(&hash)?
            .ok_or_else(|| eyre::eyre!("missing block {n}"))?;
        out.write_all(&alloy_rlp::encode(block.to_block()))?;
        if last_log.elapsed() >= PROGRESS_EVERY {
            last_log = Instant::now();
            let done = (n + 1) as f64 / (head + 1) as f64 * 100.0;
            info!(target: "export", number = n, percent = format!("{done:.1}"), "exporting");
        }
    }
    out.flush()?;
    info!(target: "export", blocks = head + 1, file = %args.file.display(), "export done");
    Ok(())
}
