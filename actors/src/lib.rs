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
//! handle. [`node::spawn`] starts a whole node.

#![warn(missing_docs)]

pub mod api;
pub mod chain;
mod exec_thread;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod overlay;
pub mod producer;
pub mod sequencer;
pub mod supervisor;
