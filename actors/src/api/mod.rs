//! What the node serves over the network: the JSON-RPC API ([`rpc`], `eth_` and friends on
//! :8545), the Engine API ([`engine`], JWT-authenticated, :8551), the operator endpoint
//! ([`ops`], `/metrics` and `/healthz`), the accept loop of the JSON-RPC servers with their
//! connection limits ([`listen`]), connection admission that closes idle clients to make room
//! ([`admission`], the payload server's), and the actor that owns each listening server
//! ([`server`]).

pub(crate) mod admission;
pub(crate) mod engine;
pub(crate) mod listen;
pub(crate) mod ops;
pub(crate) mod rpc;
pub(crate) mod server;
