//! World state as the node keeps it in memory: a [`StateSnapshot`] per recent block (a persistent
//! trie of accounts, each holding its storage trie), the [`StateDiff`] a block produces, and the
//! [`StateProvider`] interface execution and RPC read state through.
//!
//! Snapshots share structure, so the head state, the last few blocks' states, an uncommitted
//! payload's state and a preconfirmed (pending) state all exist at once for little memory; the
//! state root of a snapshot costs only the hashing of what changed since its parent.

use crate::{
    block_state::WarmCache,
    trie::{Trie, TrieValue},
};
use alloy_consensus::constants::KECCAK_EMPTY;
use alloy_primitives::{
    Address, B256, Bytes, U256, keccak256, map::HashMap, utils::keccak256_cached,
};
use alloy_trie::TrieAccount;
use revm::{bytecode::Bytecode, database::DBErrorMarker, state::AccountInfo};
use std::{collections::BTreeMap, fmt, sync::Arc};

/// One account in the state trie, with its storage trie.
#[derive(Clone, Debug, Default)]
pub struct AccountState {
    /// Transaction count.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Keccak of the code (`KECCAK_EMPTY` for none).
    pub code_hash: B256,
    /// Storage slots keyed by keccak(slot).
    pub storage: Trie<U256>,
}

impl AccountState {
    /// The account as the state trie encodes it.
    pub fn trie_account(&self) -> TrieAccount {
        TrieAccount {
            nonce: self.nonce,
            balance: self.balance,
            storage_root: self.storage.root_hash(),
            code_hash: self.code_hash,
        }
    }
}

impl TrieValue for AccountState {
    fn encode_value(&self, out: &mut Vec<u8>) {
        alloy_rlp::Encodable::encode(&self.trie_account(), out);
    }
}

/// The plain fields of an account, as a diff and the database store them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountFields {
    /// Transaction count.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Keccak of the code.
    pub code_hash: B256,
}

impl AccountFields {
    /// Fixed 72-byte encoding: nonce (8, BE) ‖ balance (32, BE) ‖ code hash (32).
    pub fn encode(&self) -> [u8; 72] {
        let mut out = [0u8; 72];
        out[..8].copy_from_slice(&self.nonce.to_be_bytes());
        out[8..40].copy_from_slice(&self.balance.to_be_bytes::<32>());
        out[40..].copy_from_slice(self.code_hash.as_slice());
        out
    }

    /// Inverse of [`Self::encode`]; `None` on a malformed record.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != 72 {
            return None;
        }
        Some(Self {
            nonce: u64::from_be_bytes(b[..8].try_into().ok()?),
            balance: U256::from_be_slice(&b[8..40]),
            code_hash: B256::from_slice(&b[40..]),
        })
    }
}

/// What happened to one account in a block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountChange {
    /// The account afterwards; `None` when it no longer exists.
    pub info: Option<AccountFields>,
    /// All storage was cleared before `storage` applies (account destroyed or re-created).
    pub storage_wiped: bool,
    /// Slots written, by plain slot key; a zero value deletes the slot.
    pub storage: BTreeMap<U256, U256>,
}

/// The state changes of one block (or of several, merged in order).
#[derive(Clone, Debug, Default)]
pub struct StateDiff {
    /// Changed accounts.
    pub accounts: BTreeMap<Address, AccountChange>,
    /// New contract code by hash.
    pub contracts: BTreeMap<B256, Bytes>,
}

impl StateDiff {
    /// The genesis allocation as a diff on the empty state.
    pub fn genesis(spec: &crate::chainspec::ChainSpec) -> Self {
        let mut diff = Self::default();
        for (address, acc) in &spec.genesis.alloc {
            let code = acc.code.clone().filter(|c| !c.is_empty());
            let code_hash = code.as_ref().map(keccak256).unwrap_or(KECCAK_EMPTY);
            if let Some(code) = code {
                diff.contracts.insert(code_hash, code);
            }
            diff.accounts.insert(
                *address,
                AccountChange {
                    info: Some(AccountFields {
                        nonce: acc.nonce.unwrap_or(0),
                        balance: acc.balance,
                        code_hash,
                    }),
                    storage_wiped: false,
                    storage: acc
                        .storage_slots()
                        .map(|(k, v)| (U256::from_be_bytes(k.0), v))
                        .collect(),
                },
            );
        }
        diff
    }

    /// Appends a later diff on top of this one.
    pub fn extend(&mut self, later: StateDiff) {
        for (address, change) in later.accounts {
            match self.accounts.get_mut(&address) {
                Some(existing) if !change.storage_wiped => {
                    existing.info = change.info;
                    existing.storage.extend(change.storage);
                }
                _ => {
                    self.accounts.insert(address, change);
                }
            }
        }
        self.contracts.extend(later.contracts);
    }
}

/// An account's key in the state trie. The same accounts are looked up block after block, so
/// the hash goes through alloy's process-wide keccak cache.
pub fn hashed_address(address: &Address) -> B256 {
    keccak256_cached(address)
}

/// A storage slot's key in its account's storage trie (cached like [`hashed_address`]).
pub fn hashed_slot(slot: &U256) -> B256 {
    keccak256_cached(slot.to_be_bytes::<32>())
}

/// The state at one block: the account trie. Cloning is O(1).
#[derive(Clone, Debug, Default)]
pub struct StateSnapshot {
    accounts: Trie<AccountState>,
}

impl StateSnapshot {
    /// The state root.
    pub fn root(&self) -> B256 {
        self.accounts.root_hash()
    }

    /// Whether both are the same snapshot in memory (one is a clone of the other).
    pub fn same(&self, other: &Self) -> bool {
        self.accounts.same(&other.accounts)
    }

    /// The account at an address.
    pub fn account(&self, address: &Address) -> Option<&AccountState> {
        self.accounts.get(&hashed_address(address))
    }

    /// A storage slot of an account (zero when absent).
    pub fn storage(&self, address: &Address, slot: &U256) -> U256 {
        self.account(address)
            .and_then(|a| a.storage.get(&hashed_slot(slot)).copied())
            .unwrap_or_default()
    }

    /// Inserts an account with its storage under its hashed address (used to load state).
    pub fn with_hashed_account(&self, hashed: &B256, account: AccountState) -> Self {
        Self {
            accounts: self.accounts.insert(hashed, account),
        }
    }

    /// The snapshot after applying a diff.
    pub fn apply(&self, diff: &StateDiff) -> Self {
        let mut accounts = self.accounts.clone();
        for (address, change) in &diff.accounts {
            let key = hashed_address(address);
            let Some(fields) = change.info else {
                accounts = accounts.remove(&key);
                continue;
            };
            let mut storage = match (change.storage_wiped, accounts.get(&key)) {
                (false, Some(old)) => old.storage.clone(),
                _ => Trie::new(),
            };
            for (slot, value) in &change.storage {
                let skey = hashed_slot(slot);
                storage = storage.update(&skey, (!value.is_zero()).then_some(*value));
            }
            accounts = accounts.insert(
                &key,
                AccountState {
                    nonce: fields.nonce,
                    balance: fields.balance,
                    code_hash: fields.code_hash,
                    storage,
                },
            );
        }
        Self { accounts }
    }

    /// EIP-1186 proof nodes for an account.
    pub fn account_proof(&self, address: &Address) -> Vec<Vec<u8>> {
        self.accounts.proof(&hashed_address(address))
    }
}

/// Error type for state reads: a database failure or a missing piece of history.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StateError(pub String);

impl DBErrorMarker for StateError {}

/// Read access to the state at one block, as execution and RPC need it.
pub trait StateProvider: Send + Sync + fmt::Debug {
    /// The account's plain fields, `None` if it does not exist.
    fn account(&self, address: &Address) -> Result<Option<AccountFields>, StateError>;
    /// A storage slot (zero when absent).
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError>;
    /// Contract code by its hash.
    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StateError>;
    /// Hash of a canonical ancestor block by number (for BLOCKHASH).
    fn block_hash(&self, number: u64) -> Result<B256, StateError>;
}

impl<T: StateProvider + ?Sized> StateProvider for Arc<T> {
    fn account(&self, address: &Address) -> Result<Option<AccountFields>, StateError> {
        (**self).account(address)
    }
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        (**self).storage(address, slot)
    }
    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StateError> {
        (**self).code(hash)
    }
    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        (**self).block_hash(number)
    }
}

/// Where code and ancestor hashes come from when a snapshot is read.
pub trait ChainData: Send + Sync + fmt::Debug {
    /// Contract code by hash.
    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StateError>;
    /// Hash of the ancestor at `number` of the block whose state is being read.
    fn block_hash(&self, number: u64) -> Result<B256, StateError>;
    /// The chain's cache of the accounts its last executed block touched, if it keeps one.
    fn warm_cache(&self) -> Option<&WarmCache> {
        None
    }
}

/// A snapshot plus the chain data to resolve code and block hashes: the usual provider.
#[derive(Debug, Clone)]
pub struct SnapshotProvider {
    /// The state.
    pub snapshot: StateSnapshot,
    /// Code, ancestor hashes.
    pub chain: Arc<dyn ChainData>,
    /// Code added by the diffs the snapshot includes but the chain data does not yet hold.
    pub extra_code: Arc<HashMap<B256, Bytes>>,
}

impl StateProvider for SnapshotProvider {
    fn account(&self, address: &Address) -> Result<Option<AccountFields>, StateError> {
        Ok(self.snapshot.account(address).map(|a| AccountFields {
            nonce: a.nonce,
            balance: a.balance,
            code_hash: a.code_hash,
        }))
    }
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        Ok(self.snapshot.storage(address, slot))
    }
    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StateError> {
        if let Some(c) = self.extra_code.get(hash) {
            return Ok(Some(c.clone()));
        }
        self.chain.code(hash)
    }
    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        self.chain.block_hash(number)
    }
}

/// Adapts a [`StateProvider`] to revm's `DatabaseRef`.
#[derive(Debug, Clone)]
pub struct EvmDatabase<P>(pub P);

impl<P: StateProvider> revm::DatabaseRef for EvmDatabase<P> {
    type Error = StateError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        let Some(a) = self.0.account(&address)? else {
            return Ok(None);
        };
        let code = if a.code_hash == KECCAK_EMPTY || a.code_hash.is_zero() {
            None
        } else {
            self.0.code(&a.code_hash)?.map(Bytecode::new_raw)
        };
        Ok(Some(AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
            code_hash: a.code_hash,
            code,
            ..Default::default()
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self
            .0
            .code(&code_hash)?
            .map(Bytecode::new_raw)
            .unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        self.0.storage(&address, &index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        self.0.block_hash(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_fields_round_trip() {
        let f = AccountFields {
            nonce: 7,
            balance: U256::from(12345),
            code_hash: KECCAK_EMPTY,
        };
        assert_eq!(AccountFields::decode(&f.encode()), Some(f));
        assert_eq!(AccountFields::decode(&[0u8; 3]), None);
    }

    #[test]
    fn apply_then_delete_returns_to_the_empty_root() {
        let addr = Address::with_last_byte(9);
        let mut diff = StateDiff::default();
        diff.accounts.insert(
            addr,
            AccountChange {
                info: Some(AccountFields {
                    nonce: 1,
                    balance: U256::from(5),
                    code_hash: KECCAK_EMPTY,
                }),
                storage_wiped: false,
                storage: [(U256::from(1), U256::from(2))].into(),
            },
        );
        let s = StateSnapshot::default().apply(&diff);
        assert_eq!(s.storage(&addr, &U256::from(1)), U256::from(2));
        let mut del = StateDiff::default();
        del.accounts.insert(addr, AccountChange::default());
        assert_eq!(s.apply(&del).root(), alloy_trie::EMPTY_ROOT_HASH);
    }
}
