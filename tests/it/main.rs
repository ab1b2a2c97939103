//! Integration tests of the `preconf-node` binary: real processes, real sockets on loopback, real
//! database files, real signatures.

mod conformance;
mod devnet;
mod flashblocks;
mod support;
