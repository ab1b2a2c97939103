//! Actors and servers of preconf-node. Every actor runs under the root [`supervisor`]; other code
//! talks to an actor through its typed handle. [`node::spawn`] starts a whole node.

#![warn(missing_docs)]

pub mod broadcaster;
pub mod builder;
pub mod chain;
pub mod devnet;
pub mod engine;
mod exec_thread;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod overlay;
pub mod rpc;
pub mod sealer;
pub mod server;
pub mod supervisor;
