//! The genesis state root, computed from a genesis allocation.

use alloy_genesis::GenesisAccount;
use alloy_primitives::{Address, B256};
use std::collections::BTreeMap;

/// The state root of a genesis allocation.
pub(crate) fn genesis_state_root(alloc: &BTreeMap<Address, GenesisAccount>) -> B256 {
    alloy_trie::root::state_root_ref_unhashed(alloc.iter())
}
