//! One flashblock job: the block for one payload id, built in slices on a fixed schedule.
//!
//! The schedule is anchored when the job's block is ready to take transactions (its top-of-block
//! system calls applied), right after the proposer tracker starts the job. It has `n` ticks
//! ([`schedule_ticks`]: the intervals that fit before the payload's timestamp, less a quarter
//! interval for sealing), tick `t` (0-based) fires at `anchor + t · interval` — index 0 goes out at once with
//! `base` and whatever is already waiting — and executes the mempool's best transactions up to the
//! cumulative budget `(t + 1) · gas_limit / n` (a transaction larger than what is left waits for a
//! later tick). A tick whose time has passed while the previous slice was executing is skipped and
//! counted, never bunched. The last flashblock (`is_last`, sent even when empty) closes the block
//! when `getPayload` asks for it, at the deadline `anchor + n · interval`, or when the block is full;
//! it may use the whole gas limit. The block is assembled from exactly the transactions the
//! flashblocks carried.

use super::builder::{BuildError, BuiltPayload, MAX_CANDIDATES};
use crate::{
    exec_thread::ExecThread, mempool::MempoolHandle, metrics as m, sequencer::SealerHandle,
};
use alloy_consensus::Transaction as _;
use alloy_eips::{
    eip2718::Encodable2718, eip4895::Withdrawal, eip7594::BlobTransactionSidecarVariant,
};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_engine::PayloadId;
use preconf_core::{
    chainspec::ChainSpec,
    execution::{BlockBuilder, TxOutcome},
    flashblock::{Flashblock, FlashblockBase, FlashblockDiff, FlashblockMetadata},
    primitives::Header,
    state::SnapshotProvider,
    txpool::PooledTx,
};
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::{broadcast, watch};
use tracing::{debug, warn};

/// The smallest transaction's gas.
const MIN_TX_GAS: u64 = 21_000;

/// Everything a job needs.
pub(crate) struct FlashJob {
    pub(crate) id: PayloadId,
    pub(crate) interval: Duration,
    pub(crate) ticks: u64,
    pub(crate) spec: Arc<ChainSpec>,
    pub(crate) provider: SnapshotProvider,
    pub(crate) header: Header,
    pub(crate) withdrawals: Option<Vec<Withdrawal>>,
    pub(crate) mempool: MempoolHandle,
    pub(crate) sealer: SealerHandle,
    pub(crate) stop: watch::Receiver<bool>,
    /// Newly pending transactions: one arriving while the job is idle gets a flashblock at once.
    pub(crate) arrivals: Option<broadcast::Receiver<B256>>,
    /// What this job's flashblocks promise, shared with the builder (see [`Promises`]).
    pub(crate) promises: Promises,
    /// What an earlier job for the same block promised: executed first, in its order.
    pub(crate) prefix: Vec<Arc<PooledTx>>,
}

/// The transactions a job's sealed flashblocks carry, in order. A rebuild of the same block (a
/// new round's proposer) [ends](Promises::end) the job it replaces and starts with these: once
/// ended, the old job seals nothing more, so the new sequence carries every transaction the old one
/// preconfirmed, at the same positions, and an rpc node can hold the sequencer to it.
#[derive(Clone, Default)]
pub(crate) struct Promises(Arc<std::sync::Mutex<PromiseLog>>);

#[derive(Default)]
struct PromiseLog {
    txs: Vec<Arc<PooledTx>>,
    ended: bool,
}

impl std::fmt::Debug for Promises {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Promises")
    }
}

impl Promises {
    /// Ends the job (it seals nothing more) and returns what its flashblocks carried.
    pub(crate) fn end(&self) -> Vec<Arc<PooledTx>> {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.ended = true;
        log.txs.clone()
    }

    /// Records `txs` and seals `fb`, unless the job was ended (then `false`, nothing sealed). Both
    /// under the lock, so a rebuild sees either the flashblock's transactions or no flashblock.
    fn seal(&self, sealer: &SealerHandle, fb: Flashblock, txs: Vec<Arc<PooledTx>>) -> bool {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if log.ended {
            return false;
        }
        log.txs.extend(txs);
        if let Err(e) = sealer.seal(fb) {
            warn!(target: "builder", error = %e, "sealer unavailable: flashblock not sent");
        }
        true
    }
}

/// What a block has been given so far (kept on the async side between slices).
#[derive(Default)]
pub(super) struct Included {
    /// Each sender's next nonce after the block's transactions so far.
    pub(super) next_nonces: HashMap<Address, u64>,
    pub(super) sidecars: Vec<Arc<BlobTransactionSidecarVariant>>,
}

/// One slice's result.
pub(super) struct Slice {
    pub(super) included: Included,
    txs: Vec<Arc<PooledTx>>,
    pub(super) invalid: Vec<B256>,
    gas_used: u64,
    gas_left: u64,
}

impl Slice {
    /// This slice followed by `next`, executed after it on the same block.
    fn then(mut self, next: Slice) -> Slice {
        self.included.next_nonces.extend(next.included.next_nonces);
        self.included.sidecars.extend(next.included.sidecars);
        self.txs.extend(next.txs);
        self.invalid.extend(next.invalid);
        self.gas_used = next.gas_used;
        self.gas_left = next.gas_left;
        self
    }
}

/// Executes candidates in order until the cumulative gas reaches `budget`: a sender whose next
/// transaction does not fit or is invalid is skipped for the rest of the slice (keeping nonce
/// order). A whole block built at `getPayload` is one slice with the block's gas limit.
pub(super) fn slice(
    builder: &mut BlockBuilder,
    mut included: Included,
    candidates: Vec<Arc<PooledTx>>,
    budget: u64,
) -> Slice {
    let mut txs = Vec::new();
    let mut invalid = Vec::new();
    let mut skipped = HashSet::new();
    for tx in candidates {
        // Candidates start after each sender's nonce in the block, so none is already in it.
        if skipped.contains(&tx.sender()) {
            continue;
        }
        let used = builder.gas_used();
        if used + MIN_TX_GAS > budget {
            break;
        }
        if used + tx.tx.gas_limit() > budget {
            // Waits for a later slice (or block); keeps the sender's nonce order.
            skipped.insert(tx.sender());
            continue;
        }
        match builder.execute(tx.tx.clone()) {
            TxOutcome::Included { .. } => {
                included.next_nonces.insert(tx.sender(), tx.tx.nonce() + 1);
                if let Some(s) = &tx.sidecar {
                    included.sidecars.push(s.clone());
                }
                txs.push(tx);
            }
            TxOutcome::DoesNotFit => {
                skipped.insert(tx.sender());
            }
            TxOutcome::NotYet(reason) => {
                // Where this block starts, not the transaction, is the problem (a local build on
                // the canonical head while later nonces were preconfirmed): it stays in the pool.
                debug!(target: "builder", hash = %tx.hash, %reason, "keeping a transaction not valid yet");
                skipped.insert(tx.sender());
            }
            TxOutcome::Invalid(reason) => {
                debug!(target: "builder", hash = %tx.hash, %reason, "dropping invalid transaction");
                skipped.insert(tx.sender());
                invalid.push(tx.hash);
            }
        }
    }
    Slice {
        included,
        txs,
        invalid,
        gas_used: builder.gas_used(),
        gas_left: builder.gas_left(),
    }
}

fn base_of(header: &Header) -> FlashblockBase {
    FlashblockBase {
        parent_beacon_block_root: header.parent_beacon_block_root.unwrap_or_default(),
        parent_hash: header.parent_hash,
        fee_recipient: header.beneficiary,
        prev_randao: header.mix_hash,
        block_number: U64::from(header.number),
        gas_limit: U64::from(header.gas_limit),
        timestamp: U64::from(header.timestamp),
        extra_data: header.extra_data.clone(),
        base_fee_per_gas: U256::from(header.base_fee_per_gas.unwrap_or_default()),
        prev_proposer_pubkey: header.prev_proposer_pubkey,
    }
}

impl FlashJob {
    /// Runs the schedule and returns the assembled block.
    pub(crate) async fn run(mut self) -> Result<BuiltPayload, BuildError> {
        let exec = ExecThread::spawn("flashblocks").map_err(|e| BuildError::Spawn(Arc::new(e)))?;
        let header = self.header.clone();
        let (spec, provider, withdrawals) = (
            self.spec.clone(),
            self.provider.clone(),
            self.withdrawals.clone(),
        );
        exec.run(move |slot| {
            BlockBuilder::new(spec, provider, header, withdrawals).map(|b| *slot = Some(b))
        })
        .await??;
        let anchor = Instant::now();
        let gas_limit = self.header.gas_limit;
        let number = self.header.number;
        let mut included = Included::default();
        let mut gas_used = 0;
        let mut index = 0u64;
        let mut tick = 0u64;
        let mut arrivals = self.arrivals.take();
        // Idle: nothing arrived since the last flashblock, so a transaction that arrives now is
        // the only one waiting (a client sending one after another). Early flashblocks are at
        // least `min_gap` apart.
        let mut idle = false;
        let min_gap = (self.interval / 4).min(Duration::from_millis(10));
        let mut last_seal = anchor;
        loop {
            let due = anchor + self.interval * tick as u32;
            let (stopped, early) = if *self.stop.borrow() {
                (true, false)
            } else {
                tokio::select! {
                    _ = tokio::time::sleep_until(due.into()) => (false, false),
                    _ = self.stop.changed() => (true, false),
                    _ = arrival(&mut arrivals, idle, last_seal + min_gap) => (false, true),
                }
            };
            let started = Instant::now();
            if !stopped && !early {
                metrics::histogram!(m::FLASHBLOCK_SCHEDULE_DEVIATION_SECONDS)
                    .record(started.saturating_duration_since(due).as_secs_f64());
            }
            // What was announced until now is among this slice's candidates.
            drain(&mut arrivals);
            let closing = stopped || (!early && tick >= self.ticks);
            let budget = gas_budget(gas_limit, self.ticks, tick, closing);
            // The first flashblock of a rebuild carries what the replaced job promised, whatever
            // the budget: its senders' later transactions follow from the pool.
            let prefix = std::mem::take(&mut self.prefix);
            let mut after = included.next_nonces.clone();
            for tx in &prefix {
                after.insert(tx.sender(), tx.tx.nonce() + 1);
            }
            let candidates = self
                .mempool
                .best_after(MAX_CANDIDATES, after)
                .await
                .unwrap_or_else(|e| {
                    warn!(target: "builder", error = %e, "mempool unavailable: empty flashblock");
                    Vec::new()
                });
            let gas_before = gas_used;
            let done = exec
                .run(move |slot| {
                    slot.as_mut().map(|b| {
                        let kept = slice(b, included, prefix, gas_limit);
                        kept.then(slice(b, Included::default(), candidates, budget))
                    })
                })
                .await?
                .ok_or(BuildError::Lost)?;
            included = done.included;
            gas_used = done.gas_used;
            if !done.invalid.is_empty() {
                self.mempool.remove(done.invalid);
            }
            // Anything announced while the slice ran is not in it: the next interval takes it.
            idle = !drain(&mut arrivals);
            if early && done.txs.is_empty() {
                // The interval's gas budget is spent: the arrival waits for the next tick.
                idle = false;
                continue;
            }
            let is_last = closing || done.gas_left < MIN_TX_GAS;
            metrics::histogram!(m::FLASHBLOCK_BUILD_SECONDS)
                .record(started.elapsed().as_secs_f64());
            metrics::histogram!(m::FLASHBLOCK_TRANSACTIONS).record(done.txs.len() as f64);
            metrics::histogram!(m::FLASHBLOCK_GAS).record((gas_used - gas_before) as f64);
            debug!(target: "builder", number, index, txs = done.txs.len(), gas_used, is_last, "flashblock");
            let fb = Flashblock {
                payload_id: self.id,
                index,
                base: (index == 0).then(|| base_of(&self.header)),
                diff: FlashblockDiff {
                    transactions: done
                        .txs
                        .iter()
                        .map(|t| Bytes::from(t.tx.inner().encoded_2718()))
                        .collect(),
                    withdrawals: if index == 0 {
                        self.withdrawals.clone().unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                },
                metadata: FlashblockMetadata {
                    block_number: number,
                    sealed_at_us: None,
                },
                signature: Bytes::new(),
                is_last,
            };
            if !self.promises.seal(&self.sealer, fb, done.txs) {
                debug!(target: "builder", number, "replaced by a rebuild: sealing nothing more");
                return Err(BuildError::Replaced);
            }
            metrics::counter!(m::FLASHBLOCKS_BUILT).increment(1);
            if early {
                metrics::counter!(m::FLASHBLOCKS_EARLY).increment(1);
            }
            last_seal = Instant::now();
            index += 1;
            if is_last {
                break;
            }
            if early {
                // The schedule stands: the next tick is the one that was due.
                continue;
            }
            let (next, missed) = next_tick(anchor.elapsed(), self.interval, tick, self.ticks);
            if missed > 0 {
                metrics::counter!(m::FLASHBLOCK_MISSED_TICKS).increment(missed);
            }
            tick = next;
        }
        let executed = exec
            .run(|slot| slot.take().map(BlockBuilder::finish))
            .await?
            .ok_or(BuildError::Lost)??;
        Ok(BuiltPayload {
            executed,
            sidecars: included.sidecars,
        })
    }
}

/// Resolves when a transaction is announced while `idle`, not before `not_before`; never
/// otherwise (no announcements wired, not idle, or the pool gone).
async fn arrival(
    arrivals: &mut Option<broadcast::Receiver<B256>>,
    idle: bool,
    not_before: Instant,
) {
    let Some(rx) = arrivals.as_mut().filter(|_| idle) else {
        return std::future::pending().await;
    };
    if let Err(broadcast::error::RecvError::Closed) = rx.recv().await {
        return std::future::pending().await;
    }
    tokio::time::sleep_until(not_before.into()).await;
}

/// Takes every announcement waiting; whether there was any.
fn drain(arrivals: &mut Option<broadcast::Receiver<B256>>) -> bool {
    let Some(rx) = arrivals.as_mut() else {
        return false;
    };
    let mut any = false;
    loop {
        match rx.try_recv() {
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => any = true,
            Err(_) => return any,
        }
    }
}

/// The cumulative gas budget of tick `tick` of `ticks`: `(tick + 1) / ticks` of the gas limit,
/// and all of it on the closing flashblock.
fn gas_budget(gas_limit: u64, ticks: u64, tick: u64, closing: bool) -> u64 {
    if closing {
        return gas_limit;
    }
    (gas_limit / ticks.max(1))
        .saturating_mul(tick + 1)
        .min(gas_limit)
}

/// How many intervals a flashblock schedule runs. The block should be complete when its proposer
/// asks for it, at the slot boundary (the payload's timestamp): the schedule closes a quarter
/// interval before it, which leaves time to seal the last flashblock and compute the roots.
/// `until_timestamp` is the time from now to that timestamp; when it is unknown or past the slot
/// is used, and never more than the slot (sub-second slots, timestamps rounded up to a second):
/// a job the proposer cannot stop (its builder stalled) must not preconfirm past the boundary,
/// where the proposer builds without it.
pub(super) fn schedule_ticks(
    slot: Duration,
    interval: Duration,
    until_timestamp: Option<Duration>,
) -> u64 {
    let span = until_timestamp
        .filter(|d| !d.is_zero())
        .map_or(slot, |d| d.min(slot))
        .saturating_sub(interval / 4);
    (span.as_nanos() / interval.as_nanos().max(1)).max(1) as u64
}

/// The tick after `tick`, given the time since the anchor: the next one not yet due, skipping
/// those whose time has already passed (a slow flashblock does not cause a burst), never past
/// `ticks` (the deadline). Returns it with the number of ticks skipped.
fn next_tick(elapsed: Duration, interval: Duration, tick: u64, ticks: u64) -> (u64, u64) {
    let due_next = (elapsed.as_nanos() / interval.as_nanos().max(1)) as u64 + 1;
    let missed = due_next.min(ticks).saturating_sub(tick + 1);
    ((tick + 1).max(due_next).min(ticks), missed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_schedule_closes_before_the_slot_boundary() {
        let (slot, interval) = (2000 * MS, 200 * MS);
        // Tracked 40 ms after the previous boundary: 1960 ms left, 1910 usable → 9 intervals, so
        // the closing flashblock is sealed 1800 ms from now, well before the proposer asks.
        assert_eq!(schedule_ticks(slot, interval, Some(1960 * MS)), 9);
        assert_eq!(schedule_ticks(slot, interval, Some(2000 * MS)), 9);
        // A timestamp further than the slot (seconds round up at 1 s slots): never past the
        // slot, where the proposer asks (or, its builder stalled, builds without this job).
        assert_eq!(schedule_ticks(slot, interval, Some(2100 * MS)), 9);
        assert_eq!(schedule_ticks(1000 * MS, interval, Some(1970 * MS)), 4);
        // Unknown, past or implausible timestamps: the slot.
        assert_eq!(schedule_ticks(slot, interval, None), 9);
        assert_eq!(schedule_ticks(slot, interval, Some(Duration::ZERO)), 9);
        assert_eq!(schedule_ticks(slot, interval, Some(5000 * MS)), 9);
        // Never less than one.
        assert_eq!(schedule_ticks(slot, interval, Some(30 * MS)), 1);
    }

    #[test]
    fn budget_grows_by_one_share_per_tick_and_closes_with_everything() {
        assert_eq!(gas_budget(30_000_000, 10, 0, false), 3_000_000);
        assert_eq!(gas_budget(30_000_000, 10, 4, false), 15_000_000);
        assert_eq!(gas_budget(30_000_000, 10, 9, false), 30_000_000);
        assert_eq!(gas_budget(30_000_000, 10, 3, true), 30_000_000);
        // Rounding down never exceeds the limit, and a tick past the end is clamped.
        assert_eq!(gas_budget(10, 3, 2, false), 9);
        assert_eq!(gas_budget(10, 3, 7, false), 10);
        assert_eq!(gas_budget(10, 0, 0, false), 10);
    }

    #[test]
    fn on_time_ticks_advance_by_one() {
        // Tick 0 ran at 1 ms: tick 1 (due at 200 ms) is next, nothing skipped.
        assert_eq!(next_tick(MS, 200 * MS, 0, 10), (1, 0));
        assert_eq!(next_tick(1_005 * MS, 200 * MS, 5, 10), (6, 0));
    }

    #[test]
    fn late_ticks_are_skipped_and_counted() {
        // Tick 1 finished at 650 ms: ticks 2 and 3 (400, 600 ms) are past, so 4 is next.
        assert_eq!(next_tick(650 * MS, 200 * MS, 1, 10), (4, 2));
    }

    #[test]
    fn never_past_the_deadline_tick() {
        assert_eq!(next_tick(5_000 * MS, 200 * MS, 3, 10), (10, 6));
        assert_eq!(next_tick(5_000 * MS, 200 * MS, 10, 10), (10, 0));
    }

    #[test]
    fn a_zero_interval_does_not_divide_by_zero() {
        assert_eq!(next_tick(MS, Duration::ZERO, 0, 10).0, 10);
    }
}
