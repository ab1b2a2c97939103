//! The overlay's ordering rules, as a pure function of what it knows when a verified flashblock
//! arrives: the local head, the sequence being applied, and what is parked. No I/O, no clocks, so
//! every rule has a unit test below.
//!
//! - **first**: index 0 carries `base`, its `metadata.block_number` equals `base.block_number`, and
//!   it builds on the local head → a new sequence starts (replacing any other: the sequencer
//!   rebuilt the block for a new round's proposer).
//! - **superseded**: index 0 of a payload that a rebuild already replaced at this height →
//!   refused without touching anything (a replayed older round must not take over again).
//! - **next**: the next index of the current payload (same block number) → applied.
//! - **duplicate**: an index already applied (or index 0 of the current payload) → ignored.
//! - **after last**: anything after the flashblock marked `is_last` → refused.
//! - **gap**: an index past the next one of the current payload → refused; what was applied stays
//!   (it is still a true prefix of the block) and nothing after the gap can be applied until the
//!   next index 0.
//! - **stale**: index 0 for a block at or below the head, or any index of a payload that is
//!   neither current nor parked → refused *without touching anything*: a replayed old flashblock
//!   (genuinely signed, so the signature check passes) must not switch preconfirmations off.
//! - **wrong parent**: index 0 for the block after the head on another parent → refused (the
//!   sequencer has moved to a chain we do not follow, or it is a replay).
//!
//! A refusal never touches the pending state: whatever a client sends, at any rate, it cannot
//! switch preconfirmations off.
//! - **parked**: index 0 for the block after a head we have not imported yet (head + 2) is kept,
//!   with the indices that follow it (at most [`MAX_PARKED`]), and replayed when that head arrives.

use alloy_primitives::B256;
use alloy_rpc_types_engine::PayloadId;

/// Most flashblocks parked while waiting for their parent block.
pub(crate) const MAX_PARKED: usize = 256;

/// The fields of a flashblock that ordering looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival {
    pub(crate) payload_id: PayloadId,
    pub(crate) index: u64,
    /// `(parent_hash, block_number)` from `base`, when present.
    pub(crate) base: Option<(B256, u64)>,
    pub(crate) metadata_number: u64,
    /// A rebuild already replaced this payload at this height.
    pub(crate) superseded: bool,
}

/// The sequence being applied.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Current {
    pub(crate) payload_id: PayloadId,
    pub(crate) number: u64,
    pub(crate) next_index: u64,
    pub(crate) finished: bool,
}

/// What is parked: the payload of its index 0 and how many flashblocks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parked {
    pub(crate) payload_id: PayloadId,
    pub(crate) len: usize,
}

/// Why a flashblock is refused by the ordering rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // the variants' messages say what their fields are
pub(crate) enum OutOfOrder {
    /// Index 0 without `base`.
    #[error("index 0 without base")]
    MissingBase,
    /// `metadata.block_number` disagrees with `base` or the sequence.
    #[error("metadata block number {got}, expected {expected}")]
    BadNumber { expected: u64, got: u64 },
    /// Index 0 of a block at or below the local head.
    #[error("block {number} is not after the local head {head}")]
    Stale { number: u64, head: u64 },
    /// Index 0 of a payload a rebuild replaced.
    #[error("payload {0} was replaced by a rebuild")]
    Superseded(PayloadId),
    /// Index 0 of the next block on a parent other than the local head.
    #[error("parent {got} is not the local head {head}")]
    WrongParent { got: B256, head: B256 },
    /// A later index of a payload that is neither current nor parked.
    #[error("index {got} of payload {payload} without its index 0")]
    UnknownPayload { payload: PayloadId, got: u64 },
    /// An index past the next one.
    #[error("gap: expected index {expected}, got {got}")]
    Gap { expected: u64, got: u64 },
    /// An index after the one marked `is_last`.
    #[error("index {0} after the last flashblock")]
    AfterLast(u64),
}

impl OutOfOrder {
    /// The metric label.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::MissingBase => "missing_base",
            Self::BadNumber { .. } => "bad_number",
            Self::Stale { .. } | Self::Superseded(_) => "stale",
            Self::WrongParent { .. } => "wrong_parent",
            Self::UnknownPayload { .. } => "unknown_payload",
            Self::Gap { .. } => "gap",
            Self::AfterLast(_) => "after_last",
        }
    }
}

/// What to do with a flashblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Start a new sequence on the head with this index 0, then apply it.
    Start,
    /// Apply it to the current sequence.
    Next,
    /// Already applied: ignore.
    Duplicate,
    /// Park it as the first of a sequence for the block after a head not yet imported (replacing
    /// whatever was parked).
    ParkFirst,
    /// Park it behind the parked index 0 of its payload.
    ParkNext,
    /// Refuse it.
    Refuse(OutOfOrder),
}

/// Applies the rules in the module documentation.
pub(crate) fn order(
    fb: Arrival,
    head: (B256, u64),
    current: Option<Current>,
    parked: Option<Parked>,
) -> Verdict {
    let (head_hash, head_number) = head;
    if fb.index == 0 {
        let Some((parent, number)) = fb.base else {
            return Verdict::Refuse(OutOfOrder::MissingBase);
        };
        if fb.metadata_number != number {
            return Verdict::Refuse(OutOfOrder::BadNumber {
                expected: number,
                got: fb.metadata_number,
            });
        }
        if current.is_some_and(|c| c.payload_id == fb.payload_id) {
            return Verdict::Duplicate;
        }
        if fb.superseded {
            return Verdict::Refuse(OutOfOrder::Superseded(fb.payload_id));
        }
        if parent == head_hash {
            return Verdict::Start;
        }
        if number <= head_number {
            return Verdict::Refuse(OutOfOrder::Stale {
                number,
                head: head_number,
            });
        }
        if number == head_number + 2 {
            return Verdict::ParkFirst;
        }
        return Verdict::Refuse(OutOfOrder::WrongParent {
            got: parent,
            head: head_hash,
        });
    }
    let Some(c) = current.filter(|c| c.payload_id == fb.payload_id) else {
        return match parked {
            Some(p) if p.payload_id == fb.payload_id && p.len < MAX_PARKED => Verdict::ParkNext,
            _ => Verdict::Refuse(OutOfOrder::UnknownPayload {
                payload: fb.payload_id,
                got: fb.index,
            }),
        };
    };
    if fb.index < c.next_index {
        return Verdict::Duplicate;
    }
    if c.finished {
        return Verdict::Refuse(OutOfOrder::AfterLast(fb.index));
    }
    if fb.index > c.next_index {
        return Verdict::Refuse(OutOfOrder::Gap {
            expected: c.next_index,
            got: fb.index,
        });
    }
    if fb.metadata_number != c.number {
        return Verdict::Refuse(OutOfOrder::BadNumber {
            expected: c.number,
            got: fb.metadata_number,
        });
    }
    Verdict::Next
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: (B256, u64) = (B256::repeat_byte(0xaa), 10);
    const P: PayloadId = PayloadId(alloy_primitives::B64::new([1; 8]));
    const Q: PayloadId = PayloadId(alloy_primitives::B64::new([2; 8]));

    fn first(payload_id: PayloadId, parent: B256, number: u64) -> Arrival {
        Arrival {
            payload_id,
            index: 0,
            base: Some((parent, number)),
            metadata_number: number,
            superseded: false,
        }
    }

    fn later(payload_id: PayloadId, index: u64, number: u64) -> Arrival {
        Arrival {
            payload_id,
            index,
            base: None,
            metadata_number: number,
            superseded: false,
        }
    }

    fn current(next_index: u64, finished: bool) -> Option<Current> {
        Some(Current {
            payload_id: P,
            number: 11,
            next_index,
            finished,
        })
    }

    #[test]
    fn first_on_the_head_starts_a_sequence_even_over_another() {
        assert_eq!(
            order(first(P, HEAD.0, 11), HEAD, None, None),
            Verdict::Start
        );
        assert_eq!(
            order(first(Q, HEAD.0, 11), HEAD, current(3, false), None),
            Verdict::Start
        );
    }

    #[test]
    fn a_replaced_payload_cannot_take_over_again() {
        let mut old = first(P, HEAD.0, 11);
        old.superseded = true;
        let rebuilt = Some(Current {
            payload_id: Q,
            number: 11,
            next_index: 2,
            finished: false,
        });
        assert_eq!(
            order(old, HEAD, rebuilt, None),
            Verdict::Refuse(OutOfOrder::Superseded(P))
        );
    }

    #[test]
    fn first_needs_base_and_a_matching_number() {
        let mut fb = first(P, HEAD.0, 11);
        fb.base = None;
        assert_eq!(
            order(fb, HEAD, None, None),
            Verdict::Refuse(OutOfOrder::MissingBase)
        );
        let mut fb = first(P, HEAD.0, 11);
        fb.metadata_number = 12;
        assert_eq!(
            order(fb, HEAD, None, None),
            Verdict::Refuse(OutOfOrder::BadNumber {
                expected: 11,
                got: 12
            })
        );
    }

    #[test]
    fn next_index_is_applied() {
        assert_eq!(
            order(later(P, 3, 11), HEAD, current(3, false), None),
            Verdict::Next
        );
    }

    #[test]
    fn next_index_with_another_block_number_is_refused_without_clearing() {
        let v = order(later(P, 3, 12), HEAD, current(3, false), None);
        assert_eq!(
            v,
            Verdict::Refuse(OutOfOrder::BadNumber {
                expected: 11,
                got: 12
            })
        );
        assert!(matches!(v, Verdict::Refuse(_)));
    }

    #[test]
    fn duplicates_are_ignored() {
        assert_eq!(
            order(later(P, 2, 11), HEAD, current(3, false), None),
            Verdict::Duplicate
        );
        assert_eq!(
            order(first(P, HEAD.0, 11), HEAD, current(3, false), None),
            Verdict::Duplicate
        );
        // Even after the last one.
        assert_eq!(
            order(later(P, 1, 11), HEAD, current(3, true), None),
            Verdict::Duplicate
        );
    }

    #[test]
    fn nothing_after_the_last() {
        let v = order(later(P, 3, 11), HEAD, current(3, true), None);
        assert_eq!(v, Verdict::Refuse(OutOfOrder::AfterLast(3)));
        assert!(matches!(v, Verdict::Refuse(_)));
    }

    #[test]
    fn a_gap_is_refused() {
        let v = order(later(P, 5, 11), HEAD, current(3, false), None);
        assert_eq!(
            v,
            Verdict::Refuse(OutOfOrder::Gap {
                expected: 3,
                got: 5
            })
        );
        assert!(matches!(v, Verdict::Refuse(_)));
    }

    #[test]
    fn wrong_parent_for_the_next_block_is_refused() {
        let other = B256::repeat_byte(0xbb);
        let v = order(first(Q, other, 11), HEAD, current(3, false), None);
        assert_eq!(
            v,
            Verdict::Refuse(OutOfOrder::WrongParent {
                got: other,
                head: HEAD.0
            })
        );
        assert!(matches!(v, Verdict::Refuse(_)));
    }

    #[test]
    fn stale_flashblocks_are_refused_without_clearing() {
        // A replayed index 0 of an older block.
        let v = order(
            first(Q, B256::repeat_byte(0xcc), 10),
            HEAD,
            current(3, false),
            None,
        );
        assert_eq!(
            v,
            Verdict::Refuse(OutOfOrder::Stale {
                number: 10,
                head: 10
            })
        );
        assert!(matches!(v, Verdict::Refuse(_)));
        // A replayed later index of a payload we no longer know.
        let v = order(later(Q, 4, 10), HEAD, current(3, false), None);
        assert_eq!(
            v,
            Verdict::Refuse(OutOfOrder::UnknownPayload { payload: Q, got: 4 })
        );
        assert!(matches!(v, Verdict::Refuse(_)));
    }

    #[test]
    fn a_sequence_for_the_block_after_a_missing_head_is_parked() {
        let parent = B256::repeat_byte(0xdd);
        assert_eq!(
            order(first(Q, parent, 12), HEAD, current(3, false), None),
            Verdict::ParkFirst
        );
        let parked = Some(Parked {
            payload_id: Q,
            len: 1,
        });
        assert_eq!(
            order(later(Q, 1, 12), HEAD, current(3, false), parked),
            Verdict::ParkNext
        );
        // Two blocks ahead is not a block we are about to import.
        let v = order(first(Q, parent, 13), HEAD, None, None);
        assert!(matches!(v, Verdict::Refuse(OutOfOrder::WrongParent { .. })));
    }

    #[test]
    fn every_reason_is_a_listed_overlay_reason() {
        let all = [
            OutOfOrder::MissingBase,
            OutOfOrder::BadNumber {
                expected: 1,
                got: 2,
            },
            OutOfOrder::Stale { number: 1, head: 1 },
            OutOfOrder::WrongParent {
                got: B256::ZERO,
                head: B256::ZERO,
            },
            OutOfOrder::UnknownPayload { payload: P, got: 1 },
            OutOfOrder::Gap {
                expected: 1,
                got: 2,
            },
            OutOfOrder::AfterLast(1),
        ];
        for e in all {
            assert!(
                super::super::REJECT_REASONS.contains(&e.reason()),
                "{}",
                e.reason()
            );
        }
    }

    #[test]
    fn parking_is_bounded() {
        let full = Some(Parked {
            payload_id: Q,
            len: MAX_PARKED,
        });
        assert!(matches!(
            order(later(Q, 1, 12), HEAD, None, full),
            Verdict::Refuse(OutOfOrder::UnknownPayload { .. })
        ));
    }
}
