//! Preconfirmations survive a crash. The sealer appends the transactions of every flashblock to
//! `DATADIR/journal/preconfirmed` and syncs it to disk *before* the flashblock is sent (the
//! records of the last [`KEEP_BLOCKS`] blocks are kept); the mempool rewrites
//! `DATADIR/journal/pool` with everything it holds once a second when it changed. At start the
//! node reads both and offers each transaction to its pool again: one already in a block is
//! counted `included`, one the pool takes `readmitted`, one it refuses `invalid` (logged with the
//! reason: its nonce was used by another transaction, the sender can no longer pay, …).
//! The file format is [`preconf_core::journal`]'s.

use crate::{chain::ChainHandle, metrics as m};
use alloy_consensus::transaction::{Recovered, SignerRecoverable};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::B256;
use preconf_core::{
    journal::{self, Record},
    primitives::Transaction,
    txpool::{PoolError, PooledTx, TxPool, encoded_len},
};
use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};
use tokio::sync::watch;
use tracing::{info, warn};

/// Blocks whose preconfirmed transactions the sealer's journal keeps (the one being built and
/// the ones before it that may not be committed everywhere yet).
pub(crate) const KEEP_BLOCKS: u64 = 4;

/// Every `outcome` label of [`m::JOURNAL_TRANSACTIONS`].
const OUTCOMES: &[&str] = &["readmitted", "included", "invalid"];

/// The sealer's journal of preconfirmed transactions.
pub(crate) fn preconfirmed_path(datadir: &Path) -> PathBuf {
    datadir.join("journal").join("preconfirmed")
}

/// The mempool's journal.
pub(crate) fn pool_path(datadir: &Path) -> PathBuf {
    datadir.join("journal").join("pool")
}

/// What happened to one journaled transaction at start.
enum Outcome {
    Readmitted,
    Included,
    Invalid(String),
}

/// Offers every journaled transaction of `datadir` to `pool` again (preconfirmed ones first, in
/// the order they were preconfirmed) and reports what became of them. The mempool does this when
/// it starts, before any server does, so a client's first nonce query already counts them.
pub(crate) fn readmit(datadir: &Path, chain: &ChainHandle, pool: &mut TxPool) {
    m::zero(
        m::JOURNAL_WRITE_FAILURES,
        "journal",
        &["preconfirmed", "pool"],
    );
    let mut seen = HashSet::new();
    for (source, path) in [
        ("preconfirmed", preconfirmed_path(datadir)),
        ("pool", pool_path(datadir)),
    ] {
        m::zero2(
            m::JOURNAL_TRANSACTIONS,
            ("source", source),
            "outcome",
            OUTCOMES,
        );
        let records = match journal::read(&path) {
            Ok(r) => r,
            Err(e) => {
                warn!(target: "journal", path = %path.display(), error = %e, "journal unreadable: its transactions are not re-admitted");
                continue;
            }
        };
        let (mut readmitted, mut included, mut invalid) = (0, 0, 0);
        for r in records {
            let label = match offer(&r, chain, pool, &mut seen) {
                None => continue,
                Some(Outcome::Readmitted) => {
                    readmitted += 1;
                    "readmitted"
                }
                Some(Outcome::Included) => {
                    included += 1;
                    "included"
                }
                Some(Outcome::Invalid(why)) => {
                    invalid += 1;
                    warn!(target: "journal", source, block = r.block, reason = %why, "a journaled transaction can no longer be included");
                    "invalid"
                }
            };
            metrics::counter!(m::JOURNAL_TRANSACTIONS, "source" => source, "outcome" => label)
                .increment(1);
        }
        if readmitted + included + invalid > 0 {
            info!(target: "journal", source, readmitted, included, invalid, "journaled transactions offered to the pool again");
        }
    }
}

/// Offers one record; `None` when the same transaction was already offered.
fn offer(
    r: &Record,
    chain: &ChainHandle,
    pool: &mut TxPool,
    seen: &mut HashSet<B256>,
) -> Option<Outcome> {
    let tx = match Transaction::decode_2718(&mut r.tx.as_ref()) {
        Ok(tx) => tx,
        Err(e) => return Some(Outcome::Invalid(format!("undecodable: {e}"))),
    };
    let hash = *tx.tx_hash();
    if !seen.insert(hash) {
        return None;
    }
    match chain.reader.store.tx_location(&hash) {
        Ok(Some(_)) => return Some(Outcome::Included),
        Ok(None) => {}
        Err(e) => return Some(Outcome::Invalid(format!("{hash}: {e}"))),
    }
    let sender = match tx.recover_signer() {
        Ok(s) => s,
        Err(e) => return Some(Outcome::Invalid(format!("{hash}: {e}"))),
    };
    let size = encoded_len(&tx);
    let pooled = PooledTx {
        tx: Recovered::new_unchecked(tx, sender),
        hash,
        sidecar: None,
        size,
        seq: 0,
    };
    Some(match pool.readmit(pooled, chain.head_account(&sender)) {
        Ok(_) | Err(PoolError::AlreadyKnown) => Outcome::Readmitted,
        Err(e) => Outcome::Invalid(format!("{hash}: {e}")),
    })
}

/// Writes the pool's journal whenever a new snapshot is handed to it, off the async runtime.
pub(crate) fn pool_writer(
    path: PathBuf,
) -> (watch::Sender<Vec<Record>>, crate::supervisor::TaskGuard) {
    let (tx, mut rx) = watch::channel(Vec::new());
    let task = crate::supervisor::TaskGuard::spawn(async move {
        while rx.changed().await.is_ok() {
            let records = rx.borrow_and_update().clone();
            let path = path.clone();
            let written =
                tokio::task::spawn_blocking(move || journal::replace(&path, &records)).await;
            if let Ok(Err(e)) = written {
                metrics::counter!(m::JOURNAL_WRITE_FAILURES, "journal" => "pool").increment(1);
                warn!(target: "journal", error = %e, "cannot write the pool's journal");
            }
        }
    });
    (tx, task)
}
