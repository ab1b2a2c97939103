#!/usr/bin/env bash
# The crash drill by hand: N kill -9s (default 100) of a devnet under load, on the release build.
# Prints one summary line: kills, preconfirmed transactions, lost, re-admitted from the journal,
# counted invalid, restart time (process start → servers listening).
set -euo pipefail
cd "$(dirname "$0")/.."
PRECONF_DRILL_KILLS="${1:-100}" cargo test --release --test it crash_drill -- --nocapture 2>&1 |
  grep -E '^crash drill|panicked|test result'
