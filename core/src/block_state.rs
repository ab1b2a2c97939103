//! The database one block executes against: a flat, change-tracking cache over the parent's
//! [`StateSnapshot`].
//!
//! Every account and slot is read from the parent's trie at most once per block and kept in a
//! hash map; revm's per-transaction changes are written straight into that map, and the block's
//! [`StateDiff`] is read off it at the end. This does what revm's bundle-tracking `State` does for
//! a block builder without its per-transaction transition records and reverts, which a node that
//! keeps whole state snapshots per block does not need (see the Performance section of the README
//! for what it costs against bare revm).
//!
//! Accounts the previous block touched are carried over in a [`WarmCache`] (with their analysed
//! code and the slots read or written): a block built on exactly that block's state finds them
//! there instead of hashing their address and walking the trie, as bare revm finds everything
//! in its in-memory database.
//!
//! The rules follow revm's `State`: untouched accounts are ignored, a self-destructed account is
//! removed with its storage, a created account starts with empty storage, and a touched empty
//! account is removed (EIP-161).

use crate::state::{
    AccountChange, AccountFields, SnapshotProvider, StateDiff, StateError, StateProvider,
    StateSnapshot,
};
use alloy_consensus::constants::KECCAK_EMPTY;
use alloy_primitives::{
    Address, B256, Bytes, U256,
    map::{AddressMap, B256Map, Entry, HashMap},
};
use revm::{
    Database, DatabaseCommit,
    bytecode::Bytecode,
    state::{Account, AccountInfo},
};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

/// At most this many accounts, and slots, are carried from one block to the next (some tens of
/// MB at most).
const WARM_MAX_ACCOUNTS: usize = 1 << 16;
const WARM_MAX_SLOTS: usize = 1 << 19;

/// The accounts the last executed block touched, as they are in the state after it; shared by
/// everything that executes blocks of one chain (cheap to clone).
///
/// A block takes the cache when it starts on the very state the cache describes (the same
/// snapshot in memory, not a claim in a header) and puts back its own accounts, merged in,
/// when it is sealed. A block built on any other state starts cold, so a stale cache can only
/// cost speed, never correctness.
#[derive(Debug, Clone, Default)]
pub struct WarmCache(Arc<Mutex<Option<Warm>>>);

#[derive(Debug)]
struct Warm {
    state: StateSnapshot,
    accounts: AddressMap<Cached>,
    /// At least the number of slots the accounts hold.
    slots: usize,
}

impl WarmCache {
    fn take(&self, state: &StateSnapshot) -> Option<Warm> {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        guard.take_if(|w| w.state.same(state))
    }

    fn put(&self, warm: Warm) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(warm);
    }

    /// Accounts held.
    pub fn len(&self) -> usize {
        let guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map_or(0, |w| w.accounts.len())
    }

    /// Whether no account is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A block's accounts on their way into the [`WarmCache`], once the state after the block is
/// known.
#[derive(Debug)]
pub struct WarmHandoff {
    cache: WarmCache,
    accounts: AddressMap<Cached>,
    slots: usize,
}

impl WarmHandoff {
    /// Stores the accounts as the cache of `state` (the state after the block).
    pub fn store(self, state: StateSnapshot) {
        self.cache.put(Warm {
            state,
            accounts: self.accounts,
            slots: self.slots,
        });
    }
}

/// One account as the block has seen it so far.
#[derive(Debug)]
struct Cached {
    /// The account in the parent state.
    original: Option<AccountFields>,
    /// The account now; `None` when it does not exist.
    info: Option<AccountInfo>,
    /// Storage was cleared in this block (the account was destroyed or created).
    wiped: bool,
    /// Slots read or written: (value now, written in this block).
    storage: HashMap<U256, (U256, bool)>,
    /// Read in this block (otherwise a warm entry from the previous block, as in the parent).
    in_block: bool,
}

impl Cached {
    fn change(&self) -> Option<AccountChange> {
        let info = self.info.as_ref().map(fields);
        let storage: BTreeMap<U256, U256> = self
            .storage
            .iter()
            .filter(|(_, (_, written))| *written)
            .map(|(k, (v, _))| (*k, *v))
            .collect();
        (info != self.original || self.wiped || !storage.is_empty()).then_some(AccountChange {
            info,
            storage_wiped: self.wiped,
            storage,
        })
    }
}

fn fields(info: &AccountInfo) -> AccountFields {
    AccountFields {
        nonce: info.nonce,
        balance: info.balance,
        code_hash: info.code_hash,
    }
}

/// revm's database for one block: reads through to the parent state, records changes.
#[derive(Debug)]
pub struct BlockState {
    base: SnapshotProvider,
    /// The accounts read in this block, and warm ones from the previous block not read yet.
    accounts: AddressMap<Cached>,
    /// The accounts read in this block.
    loaded: Vec<Address>,
    /// At least the number of slots `accounts` holds.
    slots: usize,
    /// Analysed code by hash, read or created in this block.
    code: B256Map<Bytecode>,
    /// Code created in this block.
    created: BTreeMap<B256, Bytes>,
    /// Accounts committed to since the last [`take_pending`](Self::take_pending).
    touched: Vec<Address>,
}

impl BlockState {
    /// A cache over the parent's state, with room for `accounts` accounts; warm when the
    /// chain's [`WarmCache`] describes exactly this state.
    pub fn with_capacity(base: SnapshotProvider, accounts: usize) -> Self {
        let warm = base.chain.warm_cache().and_then(|c| c.take(&base.snapshot));
        let (map, slots) = match warm {
            Some(mut w) => {
                w.accounts.reserve(accounts);
                (w.accounts, w.slots)
            }
            None => (
                HashMap::with_capacity_and_hasher(accounts, Default::default()),
                0,
            ),
        };
        Self {
            base,
            accounts: map,
            loaded: Vec::with_capacity(accounts),
            slots,
            code: HashMap::default(),
            created: BTreeMap::new(),
            touched: Vec::with_capacity(accounts),
        }
    }

    /// Hands this block's accounts, as they are after it, to the chain's warm cache (merged
    /// with what is left of the previous block's); see [`WarmHandoff::store`]. Call once the
    /// block's changes are all committed and its diff taken.
    pub fn into_warm(&mut self) -> Option<WarmHandoff> {
        let cache = self.base.chain.warm_cache()?.clone();
        // Past the bounds, keep only this block's accounts (counting slots exactly first: the
        // running count over-estimates).
        if self.accounts.len() > WARM_MAX_ACCOUNTS || self.slots > WARM_MAX_SLOTS {
            self.slots = self.accounts.values().map(|c| c.storage.len()).sum();
            if self.accounts.len() > WARM_MAX_ACCOUNTS || self.slots > WARM_MAX_SLOTS {
                self.accounts.retain(|_, c| c.in_block);
                self.slots = self.accounts.values().map(|c| c.storage.len()).sum();
            }
        }
        // This block's accounts as they are now are the next block's parent values.
        for address in self.loaded.drain(..) {
            if let Some(cached) = self.accounts.get_mut(&address) {
                cached.original = cached.info.as_ref().map(fields);
                cached.wiped = false;
                cached.in_block = false;
                for (_, written) in cached.storage.values_mut() {
                    *written = false;
                }
            }
        }
        Some(WarmHandoff {
            cache,
            accounts: std::mem::take(&mut self.accounts),
            slots: self.slots,
        })
    }

    fn account(&mut self, address: Address) -> Result<&mut Cached, StateError> {
        cached(
            &mut self.accounts,
            &mut self.loaded,
            &mut self.code,
            &self.base,
            address,
        )
    }

    fn commit_account(&mut self, address: Address, account: Account) {
        if !account.is_touched() {
            return;
        }
        let created = account.is_created() && !account.is_selfdestructed();
        // New code: a contract created here, or an EIP-7702 delegation designation.
        let hash = account.info.code_hash;
        if !account.is_selfdestructed()
            && hash != KECCAK_EMPTY
            && !self.code.contains_key(&hash)
            && let Some(code) = &account.info.code
        {
            self.created.insert(hash, code.original_bytes());
            self.code.insert(hash, code.clone());
        }
        // Accounts revm changes were loaded through `basic` first; state reads cannot fail.
        let Ok(entry) = cached(
            &mut self.accounts,
            &mut self.loaded,
            &mut self.code,
            &self.base,
            address,
        ) else {
            return;
        };
        if account.is_selfdestructed() || (!created && account.is_empty()) {
            // Destroyed, or touched while empty (EIP-161): gone with its storage.
            entry.info = None;
            entry.wiped = true;
            entry.storage.clear();
        } else {
            if created {
                entry.wiped = true;
                entry.storage.clear();
            }
            entry.info = Some(account.info);
            for (slot, value) in account.storage {
                if (created || value.is_changed())
                    && entry
                        .storage
                        .insert(slot, (value.present_value, true))
                        .is_none()
                {
                    self.slots += 1;
                }
            }
        }
        self.touched.push(address);
    }

    /// The changes of the whole block so far, relative to the parent state.
    pub fn diff(&self) -> StateDiff {
        // Sorting references first is cheaper than letting the map sort the changes.
        let mut accounts: Vec<&Address> = self.loaded.iter().collect();
        accounts.sort_unstable();
        StateDiff {
            accounts: accounts
                .into_iter()
                .filter_map(|a| Some((*a, self.accounts[a].change()?)))
                .collect(),
            contracts: self.created.clone(),
        }
    }

    /// The parent's state.
    pub fn parent(&self) -> &StateSnapshot {
        &self.base.snapshot
    }

    /// The changes since the previous call, to apply on top of the state it gave (on the
    /// first call: [`diff`](Self::diff), to apply on the parent). After the first call these are
    /// the block's whole changes of the accounts committed to since the previous call, and every
    /// contract created in the block.
    pub fn take_pending(&mut self, first: bool) -> StateDiff {
        if first {
            self.touched.clear();
            return self.diff();
        }
        let mut accounts = BTreeMap::new();
        for address in std::mem::take(&mut self.touched) {
            if accounts.contains_key(&address) {
                continue;
            }
            let cached = &self.accounts[&address];
            // Included even when unchanged against the parent: it may differ from the state
            // after the previous call.
            let change = cached.change().unwrap_or_else(|| AccountChange {
                info: cached.original,
                storage_wiped: false,
                storage: BTreeMap::new(),
            });
            accounts.insert(address, change);
        }
        StateDiff {
            accounts,
            contracts: self.created.clone(),
        }
    }
}

/// The account from the block's cache (warm from the previous block, or read from the parent
/// state on first use).
fn cached<'a>(
    accounts: &'a mut AddressMap<Cached>,
    loaded: &mut Vec<Address>,
    code: &mut B256Map<Bytecode>,
    base: &SnapshotProvider,
    address: Address,
) -> Result<&'a mut Cached, StateError> {
    let entry = match accounts.entry(address) {
        Entry::Occupied(e) => {
            let cached = e.into_mut();
            if !cached.in_block {
                cached.in_block = true;
                loaded.push(address);
            }
            return Ok(cached);
        }
        Entry::Vacant(e) => e,
    };
    loaded.push(address);
    let original = base.snapshot.account(&address).map(|a| AccountFields {
        nonce: a.nonce,
        balance: a.balance,
        code_hash: a.code_hash,
    });
    let info = match original {
        Some(f) => Some(AccountInfo {
            balance: f.balance,
            nonce: f.nonce,
            code_hash: f.code_hash,
            code: Some(load_code(code, base, f.code_hash)?),
            ..Default::default()
        }),
        None => None,
    };
    Ok(entry.insert(Cached {
        original,
        info,
        wiped: false,
        storage: HashMap::default(),
        in_block: true,
    }))
}

/// Analysed code by hash, from the block's cache or the chain.
fn load_code(
    cache: &mut B256Map<Bytecode>,
    base: &SnapshotProvider,
    hash: B256,
) -> Result<Bytecode, StateError> {
    if hash == KECCAK_EMPTY || hash.is_zero() {
        return Ok(Bytecode::default());
    }
    if let Some(code) = cache.get(&hash) {
        return Ok(code.clone());
    }
    let code = StateProvider::code(base, &hash)?
        .map(Bytecode::new_raw)
        .unwrap_or_default();
    cache.insert(hash, code.clone());
    Ok(code)
}

impl Database for BlockState {
    type Error = StateError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        Ok(self.account(address)?.info.clone())
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, StateError> {
        load_code(&mut self.code, &self.base, code_hash)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, StateError> {
        let entry = cached(
            &mut self.accounts,
            &mut self.loaded,
            &mut self.code,
            &self.base,
            address,
        )?;
        if let Some((value, _)) = entry.storage.get(&index) {
            return Ok(*value);
        }
        let value = if entry.wiped || entry.original.is_none() {
            U256::ZERO
        } else {
            self.base.snapshot.storage(&address, &index)
        };
        entry.storage.insert(index, (value, false));
        self.slots += 1;
        Ok(value)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, StateError> {
        self.base.chain.block_hash(number)
    }
}

impl DatabaseCommit for BlockState {
    fn commit(&mut self, changes: AddressMap<Account>) {
        for (address, account) in changes {
            self.commit_account(address, account);
        }
    }

    fn commit_iter(&mut self, changes: &mut dyn Iterator<Item = (Address, Account)>) {
        for (address, account) in changes {
            self.commit_account(address, account);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! [`BlockState`] against revm's own bundle-tracking `State` on the cases where the two
    //! could differ: creation, self-destruction in the creating transaction, slots set to zero,
    //! touched empty accounts, EIP-7702 delegations, failed transactions; and the warm cache.
    use super::*;
    use crate::{
        chainspec::ChainSpec,
        devnet::dev_signer,
        execution::{BlockAttributes, BlockBuilder, TxOutcome, evm_env, next_header},
        primitives::{Header, Transaction},
        state::{ChainData, EvmDatabase},
    };
    use alloy_consensus::{
        SignableTransaction, TxEip1559, TxEip7702, proofs::calculate_receipt_root,
        transaction::Recovered,
    };
    use alloy_eips::eip7702::Authorization;
    use alloy_evm::{
        EvmFactory,
        block::BlockExecutor,
        eth::{
            EthBlockExecutionCtx, EthBlockExecutor, EthEvmFactory,
            receipt_builder::AlloyReceiptBuilder,
        },
    };
    use alloy_primitives::{TxKind, hex};
    use alloy_signer::SignerSync;
    use revm::database::{State, WrapDatabaseRef, states::bundle_state::BundleRetention};
    use std::borrow::Cow;

    #[derive(Debug)]
    struct Chain(HashMap<B256, Bytes>, Option<WarmCache>);

    impl ChainData for Chain {
        fn code(&self, hash: &B256) -> Result<Option<Bytes>, StateError> {
            Ok(self.0.get(hash).cloned())
        }
        fn block_hash(&self, _: u64) -> Result<B256, StateError> {
            Ok(B256::ZERO)
        }
        fn warm_cache(&self) -> Option<&WarmCache> {
            self.1.as_ref()
        }
    }

    /// Stores 42 at slot 1 and returns the runtime code `602035600035550000`: it stores word 1
    /// of the call data at the slot in word 0.
    const STORE_INIT: &str = "602a6001556860203560003555000060005260096017f3";
    /// Creates, with the call's value, a child whose constructor self-destructs to its creator.
    const FACTORY_INIT: &str = "6d6133ff6000526002601e34f05000600052600e6012f3";

    fn code(hex_code: &str) -> Bytes {
        hex::decode(hex_code).unwrap().into()
    }

    fn word(n: u64) -> [u8; 32] {
        U256::from(n).to_be_bytes()
    }

    fn call(
        spec: &ChainSpec,
        from: u32,
        nonce: u64,
        to: TxKind,
        value: u64,
        input: Bytes,
        gas_limit: u64,
    ) -> Recovered<Transaction> {
        let key = dev_signer(from);
        let tx = TxEip1559 {
            chain_id: spec.chain_id(),
            nonce,
            gas_limit,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1,
            to,
            value: U256::from(value),
            input,
            ..Default::default()
        };
        let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
        Recovered::new_unchecked(tx.into_signed(sig).into(), key.address())
    }

    fn store_input(slot: u64, value: u64) -> Bytes {
        [word(slot), word(value)].concat().into()
    }

    /// Block 1: every case above. Returns the transactions and the two contracts' addresses.
    fn block_one(spec: &ChainSpec) -> (Vec<Recovered<Transaction>>, Address, Address) {
        let a0 = dev_signer(0).address();
        let a1 = dev_signer(1).address();
        let store = a0.create(0);
        let factory = a1.create(0);
        let k3 = dev_signer(3);
        let auth = Authorization {
            chain_id: U256::from(spec.chain_id()),
            address: store,
            nonce: 1,
        };
        let auth_sig = k3.sign_hash_sync(&auth.signature_hash()).unwrap();
        let delegate = TxEip7702 {
            chain_id: spec.chain_id(),
            nonce: 0,
            gas_limit: 200_000,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1,
            to: k3.address(),
            value: U256::ZERO,
            access_list: Default::default(),
            authorization_list: vec![auth.into_signed(auth_sig)],
            input: store_input(5, 9),
        };
        let sig = k3.sign_hash_sync(&delegate.signature_hash()).unwrap();
        let delegate = Recovered::new_unchecked(delegate.into_signed(sig).into(), k3.address());
        let txs = vec![
            call(spec, 0, 0, TxKind::Create, 0, code(STORE_INIT), 200_000),
            call(spec, 0, 1, store.into(), 0, store_input(2, 7), 100_000),
            call(spec, 0, 2, store.into(), 0, store_input(1, 0), 100_000),
            call(spec, 1, 0, TxKind::Create, 0, code(FACTORY_INIT), 200_000),
            call(spec, 1, 1, factory.into(), 5, Bytes::new(), 200_000),
            call(
                spec,
                2,
                0,
                Address::repeat_byte(0xde).into(),
                0,
                Bytes::new(),
                21_000,
            ),
            call(
                spec,
                2,
                1,
                Address::repeat_byte(0xbe).into(),
                3,
                Bytes::new(),
                21_000,
            ),
            delegate,
            // Runs out of gas in the SSTORE: only the nonce and the fee change.
            call(spec, 4, 0, store.into(), 0, store_input(9, 9), 25_000),
        ];
        (txs, store, factory)
    }

    /// Attributes of a test block on `parent` (also used by the execution tests).
    /// From Prague1 they name a (made-up) previous proposer.
    pub(crate) fn attrs(spec: &ChainSpec, parent: &Header) -> BlockAttributes {
        let timestamp = parent.timestamp + 2;
        BlockAttributes {
            timestamp,
            fee_recipient: Address::repeat_byte(0xfe),
            prev_randao: B256::ZERO,
            withdrawals: Vec::new(),
            parent_beacon_block_root: Some(B256::ZERO),
            gas_limit: 30_000_000,
            extra_data: Bytes::new(),
            prev_proposer_pubkey: spec
                .prague1_at(timestamp)
                .map(|_| crate::primitives::BlsPublicKey::repeat_byte(0x11)),
        }
    }

    /// The state with the chain's code and the code of `block` (not in the chain's yet).
    fn provider(
        state: &StateSnapshot,
        chain: &Arc<Chain>,
        block: Option<&crate::execution::ExecutedBlock>,
    ) -> SnapshotProvider {
        let code = block.map(|b| b.diff.contracts.clone().into_iter().collect());
        SnapshotProvider {
            snapshot: state.clone(),
            chain: chain.clone(),
            extra_code: Arc::new(code.unwrap_or_default()),
        }
    }

    /// The diff revm's `State` records for a bundle (the reference).
    fn bundle_diff(bundle: &revm::database::BundleState) -> StateDiff {
        let mut diff = StateDiff::default();
        for (address, acc) in &bundle.state {
            let wiped = acc.status.was_destroyed();
            let storage: BTreeMap<U256, U256> = acc
                .storage
                .iter()
                .filter(|(_, s)| wiped || s.is_changed())
                .map(|(k, s)| (*k, s.present_value))
                .collect();
            if acc.info == acc.original_info && !wiped && storage.is_empty() {
                continue;
            }
            diff.accounts.insert(
                *address,
                AccountChange {
                    info: acc.info.as_ref().map(fields),
                    storage_wiped: wiped,
                    storage,
                },
            );
        }
        for (hash, code) in &bundle.contracts {
            if *hash != KECCAK_EMPTY {
                diff.contracts.insert(*hash, code.original_bytes());
            }
        }
        diff
    }

    /// Executes the transactions through revm's `State` and returns the state after them (with
    /// the post-block system calls) and the receipts root.
    fn reference(
        spec: &Arc<ChainSpec>,
        base: SnapshotProvider,
        header: &Header,
        txs: &[Recovered<Transaction>],
    ) -> (StateSnapshot, B256) {
        let db = State::builder()
            .with_database(WrapDatabaseRef(EvmDatabase(base.clone())))
            .with_bundle_update()
            .build();
        let evm = EthEvmFactory::default().create_evm(db, evm_env(spec, header));
        let ctx = EthBlockExecutionCtx {
            parent_hash: header.parent_hash,
            parent_beacon_block_root: header.parent_beacon_block_root,
            ommers: &[],
            withdrawals: Some(Cow::Owned(Vec::new())),
            extra_data: header.extra_data.clone(),
            tx_count_hint: None,
            slot_number: None,
        };
        let mut executor =
            EthBlockExecutor::new(evm, ctx, spec.clone(), AlloyReceiptBuilder::default());
        executor.apply_pre_execution_changes().unwrap();
        for tx in txs {
            executor.execute_transaction(tx).unwrap();
        }
        let (mut evm, result) = executor.finish().unwrap();
        let db = alloy_evm::Evm::db_mut(&mut evm);
        db.merge_transitions(BundleRetention::PlainState);
        let diff = bundle_diff(&db.take_bundle());
        (
            base.snapshot.apply(&diff),
            calculate_receipt_root(&result.receipts),
        )
    }

    fn build(
        spec: &Arc<ChainSpec>,
        base: SnapshotProvider,
        parent: &Header,
        txs: &[Recovered<Transaction>],
    ) -> crate::execution::ExecutedBlock {
        let header = next_header(spec, parent, &attrs(spec, parent));
        let mut b = BlockBuilder::new(spec.clone(), base, header, Some(Vec::new())).unwrap();
        for tx in txs {
            let outcome = b.execute(tx.clone());
            assert!(matches!(outcome, TxOutcome::Included { .. }), "{outcome:?}");
        }
        b.finish().unwrap()
    }

    #[test]
    fn matches_revm_state_and_the_warm_cache_changes_nothing() {
        // Plain Ethereum: the reference below knows no PoL transaction.
        let spec = Arc::new(
            ChainSpec::from_genesis(crate::devnet::ethereum_devnet_genesis(30_000_000)).unwrap(),
        );
        let genesis = StateDiff::genesis(&spec);
        let state0 = StateSnapshot::default().apply(&genesis);
        let contracts: HashMap<B256, Bytes> = genesis.contracts.clone().into_iter().collect();
        let warm = WarmCache::default();
        let chain = Arc::new(Chain(contracts.clone(), Some(warm.clone())));
        let parent = spec.genesis_header().clone();

        let (txs, store, factory) = block_one(&spec);
        let one = build(&spec, provider(&state0, &chain, None), &parent, &txs);
        let (expected, receipts_root) = reference(
            &spec,
            provider(&state0, &chain, None),
            &one.block.header,
            &txs,
        );
        assert_eq!(one.block.header.state_root, expected.root());
        assert_eq!(one.block.header.receipts_root, receipts_root);

        let s = &one.state;
        assert_eq!(s.storage(&store, &U256::from(2)), U256::from(7));
        assert_eq!(
            s.storage(&store, &U256::from(1)),
            U256::ZERO,
            "slot set to zero"
        );
        assert!(
            s.account(&Address::repeat_byte(0xde)).is_none(),
            "touched empty"
        );
        assert!(s.account(&Address::repeat_byte(0xbe)).is_some());
        assert!(
            s.account(&factory.create(1)).is_none(),
            "destroyed at creation"
        );
        let k3 = dev_signer(3).address();
        assert_eq!(
            s.storage(&k3, &U256::from(5)),
            U256::from(9),
            "delegated code ran"
        );
        let delegation = s.account(&k3).unwrap().code_hash;
        assert!(one.diff.contracts.contains_key(&delegation));
        assert!(
            !warm.is_empty(),
            "the block's accounts are kept for its child"
        );

        // Block two on block one's state: warm, and again cold; both equal revm's result.
        let a0 = dev_signer(0).address();
        let txs2 = vec![
            call(&spec, 0, 3, store.into(), 0, store_input(2, 0), 100_000),
            call(&spec, 0, 4, store.into(), 0, store_input(3, 1), 100_000),
            call(&spec, 3, 2, k3.into(), 0, store_input(5, 10), 100_000),
            call(&spec, 2, 2, a0.into(), 11, Bytes::new(), 21_000),
        ];
        let warm_two = build(
            &spec,
            provider(&one.state, &chain, Some(&one)),
            &one.block.header,
            &txs2,
        );
        let cold_chain = Arc::new(Chain(contracts, None));
        let cold_two = build(
            &spec,
            provider(&one.state, &cold_chain, Some(&one)),
            &one.block.header,
            &txs2,
        );
        let (expected, _) = reference(
            &spec,
            provider(&one.state, &cold_chain, Some(&one)),
            &warm_two.block.header,
            &txs2,
        );
        assert_eq!(cold_two.block.header.state_root, expected.root());
        assert_eq!(warm_two.block.header.state_root, expected.root());
        assert_eq!(warm_two.state.storage(&k3, &U256::from(5)), U256::from(10));

        // The cache now describes block two's state: a block on block one's state (a sibling)
        // does not take it, and still gets the right result.
        let sibling = build(
            &spec,
            provider(&one.state, &chain, Some(&one)),
            &one.block.header,
            &txs2,
        );
        assert_eq!(sibling.block.header.state_root, expected.root());
    }
}
