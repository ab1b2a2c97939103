//! Domain logic of preconf-node: the chain specification and genesis, block execution on revm,
//! the in-memory state trie and on-disk storage (redb), the transaction pool's structure, and the
//! wire types shared by the actors. No actors and no servers live here.

#![warn(missing_docs)]

pub mod block_state;
pub mod chainspec;
pub mod devnet;
pub mod execution;
pub mod flashblock;
pub mod header;
pub mod journal;
pub mod jwt;
pub mod pol;
pub mod preconf;
pub mod primitives;
pub mod secret_file;
pub mod state;
pub mod storage;
pub mod trie;
pub mod txpool;

mod state_root;
