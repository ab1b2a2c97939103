//! Actors and servers of preconf-node, one module per role:
//!
//! - [`chain`] — the database owner: block import, forkchoice, reads;
//! - [`mempool`] — validation and ordering of pending transactions;
//! - [`sequencer`] — builder, flashblock schedule, sealer, broadcaster (the sequencer role);
//! - [`overlay`] — verified flashblocks re-executed into the preconfirmed state (the rpc role);
//! - [`producer`] — the devnet's block producer standing in for a consensus client;
//! - [`api`] — JSON-RPC, Engine API and the operator endpoint;
//! - [`supervisor`] — restarts, restart budgets and degradation; [`metrics`] — metric names.
//!
//! Every actor runs under the root supervisor; other code talks to an actor through its typed
//! handle. [`spawn`] starts a whole node; the crate exports only what the binary and tests need.

#![warn(missing_docs)]

mod api;
mod chain;
mod exec_thread;
mod mempool;
mod metrics;
mod node;
mod overlay;
mod producer;
mod sequencer;
mod supervisor;

pub use api::rpc::{HeavyLimits, MAX_SYNC_TIMEOUT};
pub use chain::{ChainReader, SealedHeader};
pub use node::{NodeConfig, NodeError, NodeHandle, OverlayConfig, SequencerConfig, spawn};
