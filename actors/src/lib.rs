//! Actors and servers of preconf-node, one module per role:
//!
//! - [`chain`] — the database owner: block import, forkchoice, reads;
//! - [`mempool`] — validation and ordering of pending transactions;
//! - [`sequencer`] — flashblock builder and schedule, sealer, broadcaster, payload server and
//!   proposer tracker (the sequencer role);
//! - [`overlay`] — verified flashblocks re-executed into the preconfirmed state (the rpc role);
//! - [`consensus`] — the devnet consensus standing in for CometBFT and the validators'
//!   beacon-kit: slot clock, proposer rotation, fetch → validate → fall back, round changes;
//! - [`api`] — JSON-RPC, Engine API and the operator endpoint;
//! - [`supervisor`] — restarts, restart budgets and degradation; [`vitals`] — commits, disk
//!   space and stalls as `/healthz` reports them; [`metrics`] — metric names.
//!
//! Every actor runs under the root supervisor; other code talks to an actor through its typed
//! handle. [`spawn`] starts a whole node; the crate exports only what the binary and tests need.

#![warn(missing_docs)]

mod api;
mod chain;
mod consensus;
mod exec_thread;
mod journal;
mod mempool;
mod metrics;
mod node;
mod overlay;
pub mod process;
mod sequencer;
mod supervisor;
mod vitals;

pub use api::rpc::{HeavyLimits, MAX_SYNC_TIMEOUT};
pub use chain::{ChainReader, SealedHeader};
pub use node::{
    ConsensusConfig, ConsensusHandle, DevnetConfig, NodeConfig, NodeError, NodeHandle,
    OverlayConfig, PayloadServerConfig, SequencerConfig, ValidatorEndpoint, spawn, spawn_consensus,
};
pub use sequencer::DEFAULT_MAX_SUBSCRIBERS;
pub use vitals::VitalsConfig;
