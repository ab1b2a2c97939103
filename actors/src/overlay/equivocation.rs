//! Equivocation: two validly signed flashblocks for one block that cannot both be true.
//!
//! A flashblock is a signed promise: these transactions, at these positions, in block `n`. The
//! overlay keeps every flashblock it applied for the block being preconfirmed ([`HeightLog`]) and
//! holds each new one to them:
//!
//! - **conflicting flashblock**: a flashblock for a (payload, index) already applied whose signed
//!   contents differ (a replay of the same flashblock is fine);
//! - **broken promise**: a rebuild of the block (a new payload for the same height, as after a
//!   round change) whose index 0 does not start with every transaction the block's earlier
//!   sequence preconfirmed, in its order, or a late flashblock of the replaced sequence whose
//!   transactions the rebuild does not carry. The sequencer's rebuild starts with what the old
//!   sequence sealed (the sequencer's `Promises`), so an honest sequencer never does this.
//!
//! Either pair is proof: both are signed by the sequencer's key, and anyone can check both
//! signatures and see the contradiction. The pair is kept ([`EvidenceLog`], served by
//! `preconf_getEquivocationEvidence`), counted, and the overlay stops serving the sequencer's
//! state for that height.

use alloy_primitives::{B256, keccak256};
use alloy_rpc_types_engine::PayloadId;
use preconf_core::flashblock::Flashblock;
use serde::Serialize;
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

/// Every `kind` of the equivocation counter and of the evidence.
pub(crate) const KINDS: &[&str] = &["conflicting_flashblock", "broken_promise"];

/// How many pieces of evidence are kept (the oldest go first).
const MAX_EVIDENCE: usize = 64;

/// One applied flashblock.
struct Applied {
    digest: B256,
    fb: Arc<Flashblock>,
}

/// One payload's applied flashblocks (contiguous from index 0) and their transactions in order.
struct PayloadLog {
    payload_id: PayloadId,
    flashblocks: Vec<Applied>,
    /// Each transaction's hash and the index of the flashblock that carried it.
    txs: Vec<(B256, u64)>,
}

impl PayloadLog {
    fn applied(&self, index: u64) -> Option<&Applied> {
        self.flashblocks.get(index as usize)
    }
}

/// A transaction's hash: the keccak of its EIP-2718 encoding, as carried.
fn hashes(fb: &Flashblock) -> impl Iterator<Item = B256> + '_ {
    fb.diff.transactions.iter().map(keccak256)
}

/// What the sequencer signed for one block, as applied here: its payloads in the order they
/// started (the last is the sequence being applied).
pub(crate) struct HeightLog {
    number: u64,
    payloads: Vec<PayloadLog>,
}

/// Two signed flashblocks that contradict each other.
#[derive(Debug, Clone)]
pub(crate) struct Contradiction {
    pub(crate) kind: &'static str,
    pub(crate) reason: String,
    pub(crate) first: Arc<Flashblock>,
    pub(crate) second: Arc<Flashblock>,
}

impl HeightLog {
    /// An empty log for block `number`.
    pub(crate) fn new(number: u64) -> Self {
        Self {
            number,
            payloads: Vec::new(),
        }
    }

    /// The block this log is for.
    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    fn payload(&self, id: PayloadId) -> Option<&PayloadLog> {
        self.payloads.iter().find(|p| p.payload_id == id)
    }

    fn current(&self) -> Option<&PayloadLog> {
        self.payloads.last()
    }

    /// A flashblock for an applied (payload, index) with other signed contents.
    pub(crate) fn conflict(&self, fb: &Arc<Flashblock>, digest: B256) -> Option<Contradiction> {
        let applied = self.payload(fb.payload_id)?.applied(fb.index)?;
        (applied.digest != digest).then(|| Contradiction {
            kind: "conflicting_flashblock",
            reason: format!(
                "two different flashblocks {} of payload {} for block {}",
                fb.index, fb.payload_id, self.number
            ),
            first: applied.fb.clone(),
            second: fb.clone(),
        })
    }

    /// Index 0 of a rebuild: it must start with every transaction the current sequence carried.
    pub(crate) fn check_rebuild(&self, fb: &Arc<Flashblock>) -> Option<Contradiction> {
        let promised = self.current()?;
        let carried: Vec<B256> = hashes(fb).collect();
        broken(promised, &carried, fb)
    }

    /// A flashblock of a replaced payload that continues it (the next index after what was
    /// applied of it): `Ok(true)` when the rebuild carries its transactions at the same positions
    /// (it is recorded), `Ok(false)` when it does not continue a replaced payload.
    pub(crate) fn check_late(
        &mut self,
        fb: &Arc<Flashblock>,
        digest: B256,
    ) -> Result<bool, Contradiction> {
        let Some((current, replaced)) = self.payloads.split_last_mut() else {
            return Ok(false);
        };
        let Some(old) = replaced
            .iter_mut()
            .find(|p| p.payload_id == fb.payload_id && p.flashblocks.len() as u64 == fb.index)
        else {
            return Ok(false);
        };
        let carried: Vec<B256> = current.txs.iter().map(|(h, _)| *h).collect();
        let at = old.txs.len();
        for (i, hash) in hashes(fb).enumerate() {
            if carried.get(at + i) != Some(&hash) {
                let rebuilt = current.flashblocks.first().map(|a| a.fb.clone());
                return Err(Contradiction {
                    kind: "broken_promise",
                    reason: format!(
                        "flashblock {} of the replaced payload {} preconfirms transaction {hash} at position {} of block {}, which the rebuild {} does not carry there",
                        fb.index,
                        fb.payload_id,
                        at + i,
                        self.number,
                        current.payload_id
                    ),
                    first: fb.clone(),
                    second: rebuilt.unwrap_or_else(|| fb.clone()),
                });
            }
        }
        record(old, fb, digest);
        Ok(true)
    }

    /// Records an applied flashblock (index 0 starts a new payload).
    pub(crate) fn applied(&mut self, fb: Arc<Flashblock>, digest: B256) {
        if fb.index == 0 && self.payload(fb.payload_id).is_none() {
            self.payloads.push(PayloadLog {
                payload_id: fb.payload_id,
                flashblocks: Vec::new(),
                txs: Vec::new(),
            });
        }
        if let Some(p) = self
            .payloads
            .iter_mut()
            .find(|p| p.payload_id == fb.payload_id)
            && p.flashblocks.len() as u64 == fb.index
        {
            record(p, &fb, digest);
        }
    }
}

fn record(p: &mut PayloadLog, fb: &Arc<Flashblock>, digest: B256) {
    p.txs.extend(hashes(fb).map(|h| (h, fb.index)));
    p.flashblocks.push(Applied {
        digest,
        fb: fb.clone(),
    });
}

/// The first promise of `promised` that `carried` (a rebuild's index 0) breaks.
fn broken(promised: &PayloadLog, carried: &[B256], fb: &Arc<Flashblock>) -> Option<Contradiction> {
    let (position, (hash, index)) = promised
        .txs
        .iter()
        .enumerate()
        .find(|(i, (h, _))| carried.get(*i) != Some(h))?;
    let first = promised.applied(*index)?.fb.clone();
    Some(Contradiction {
        kind: "broken_promise",
        reason: format!(
            "payload {} preconfirmed transaction {hash} at position {position} of block {}; the rebuild {} does not start with it there",
            promised.payload_id, fb.metadata.block_number, fb.payload_id
        ),
        first,
        second: fb.clone(),
    })
}

/// One proven equivocation, as `preconf_getEquivocationEvidence` serves it: both flashblocks
/// exactly as signed (each verifiable on its own).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Evidence {
    /// The block both flashblocks are for.
    pub(crate) block_number: alloy_primitives::U64,
    /// `conflicting_flashblock` or `broken_promise`.
    pub(crate) kind: &'static str,
    /// What contradicts what.
    pub(crate) reason: String,
    /// When it was detected, in milliseconds since the Unix epoch.
    pub(crate) detected_at: alloy_primitives::U64,
    /// The flashblock applied first.
    pub(crate) first: Arc<Flashblock>,
    /// The flashblock that contradicts it.
    pub(crate) second: Arc<Flashblock>,
}

/// The evidence kept, newest last, shared by the overlay (which adds) and the RPC (which reads).
#[derive(Debug, Clone, Default)]
pub(crate) struct EvidenceLog(Arc<Mutex<VecDeque<Evidence>>>);

impl EvidenceLog {
    pub(crate) fn add(&self, number: u64, c: Contradiction) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() >= MAX_EVIDENCE {
            log.pop_front();
        }
        let now = preconf_core::flashblock::FlashblockMetadata::now_us() / 1000;
        log.push_back(Evidence {
            block_number: alloy_primitives::U64::from(number),
            kind: c.kind,
            reason: c.reason,
            detected_at: alloy_primitives::U64::from(now),
            first: c.first,
            second: c.second,
        });
    }

    /// The evidence kept, for one block or all, oldest first.
    pub(crate) fn get(&self, number: Option<u64>) -> Vec<Evidence> {
        let log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.iter()
            .filter(|e| number.is_none_or(|n| e.block_number.to::<u64>() == n))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Bytes;
    use preconf_core::flashblock::{FlashblockDiff, FlashblockMetadata};

    fn fb(id: u8, index: u64, txs: &[u8]) -> Arc<Flashblock> {
        Arc::new(Flashblock {
            payload_id: PayloadId::new([id; 8]),
            index,
            base: None,
            diff: FlashblockDiff {
                transactions: txs.iter().map(|t| Bytes::from(vec![*t])).collect(),
                withdrawals: Vec::new(),
            },
            metadata: FlashblockMetadata {
                block_number: 7,
                sealed_at_us: None,
            },
            signature: Bytes::new(),
            is_last: false,
        })
    }

    fn digest(f: &Flashblock) -> B256 {
        preconf_core::flashblock::signing_digest(1, f)
    }

    fn log(flashblocks: &[Arc<Flashblock>]) -> HeightLog {
        let mut log = HeightLog::new(7);
        for f in flashblocks {
            log.applied(f.clone(), digest(f));
        }
        log
    }

    #[test]
    fn a_replay_is_no_conflict_but_other_contents_are() {
        let log = log(&[fb(1, 0, &[1]), fb(1, 1, &[2])]);
        let again = fb(1, 1, &[2]);
        assert!(log.conflict(&again, digest(&again)).is_none());
        let other = fb(1, 1, &[3]);
        let c = log.conflict(&other, digest(&other)).unwrap();
        assert_eq!(c.kind, "conflicting_flashblock");
        assert_eq!(c.first.diff.transactions, again.diff.transactions);
        // Not applied yet: nothing to contradict.
        let next = fb(1, 2, &[3]);
        assert!(log.conflict(&next, digest(&next)).is_none());
    }

    #[test]
    fn a_rebuild_must_start_with_what_was_preconfirmed() {
        let log = log(&[fb(1, 0, &[1]), fb(1, 1, &[2, 3])]);
        assert!(log.check_rebuild(&fb(2, 0, &[1, 2, 3])).is_none());
        assert!(log.check_rebuild(&fb(2, 0, &[1, 2, 3, 4])).is_none());
        for bad in [&[1, 3, 2][..], &[1, 2], &[], &[9, 1, 2, 3]] {
            let c = log.check_rebuild(&fb(2, 0, bad)).unwrap();
            assert_eq!(c.kind, "broken_promise", "{bad:?}");
        }
        // The evidence names the flashblock that made the broken promise.
        let c = log.check_rebuild(&fb(2, 0, &[1, 2])).unwrap();
        assert_eq!(c.first.index, 1);
    }

    #[test]
    fn a_late_flashblock_of_a_replaced_payload_must_be_in_the_rebuild() {
        let mut log = log(&[fb(1, 0, &[1]), fb(2, 0, &[1, 2, 5])]);
        // Index 1 of the replaced payload (applied here only now) carried 2: the rebuild has it.
        let late = fb(1, 1, &[2]);
        assert!(matches!(log.check_late(&late, digest(&late)), Ok(true)));
        // Its index 2 carried 4, but the rebuild has 5 there.
        let later = fb(1, 2, &[4]);
        let c = log.check_late(&later, digest(&later)).unwrap_err();
        assert_eq!(c.kind, "broken_promise");
        // Not the next index of a replaced payload, or the current payload: not a late one.
        let far = fb(1, 5, &[]);
        assert!(matches!(log.check_late(&far, digest(&far)), Ok(false)));
        let current = fb(2, 1, &[]);
        assert!(matches!(
            log.check_late(&current, digest(&current)),
            Ok(false)
        ));
    }
}
