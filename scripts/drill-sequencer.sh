#!/usr/bin/env bash
# The sequencer fault drill by hand: the multi-process devnet (`init`) at 2 s slots under
# 50 tx/s, the sequencer killed with SIGKILL (and restarted) and frozen with SIGSTOP (and
# resumed) N times each (default 5), 6 s each, at different moments of the slot, on the release
# build. Prints one summary line: accepted transactions by preconf_getPreconfirmationStatus
# (`honoured`: preconfirmed and in its block at its position; `included`: never shown
# preconfirmed, e.g. sent while the sequencer was down), the longest slot, local blocks, and
# how long after each restart / resume preconfirmations came back.
set -euo pipefail
cd "$(dirname "$0")/.."
PRECONF_DRILL_SEQUENCER_FAULTS="${1:-5}" PRECONF_DRILL_SLOT_MS="${2:-2000}" \
  cargo test --release --test it sequencer_faults -- --nocapture 2>&1 |
  grep -E '^sequencer fault drill|panicked|test result'
