//! Integration tests of the `preconf-node` binary: real processes, real sockets on loopback, real
//! database files, real signatures.

mod bench;
mod berachain;
mod conformance;
mod consensus;
mod container;
mod corruption;
mod devnet;
mod disk;
mod drill;
mod flashblocks;
mod fuzz;
mod hostile;
mod limits;
mod osaka;
mod support;
