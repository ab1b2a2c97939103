//! Replays the execution-apis conformance chain (20 Prague blocks with every transaction type)
//! through genesis, execution, the state trie and storage, and checks every block hash and state
//! root against the chain file.

use alloy_primitives::{B256, Bytes, b256};
use alloy_rlp::Decodable;
use preconf_core::{
    chainspec::ChainSpec,
    execution::execute_block,
    primitives::{Block, SealedBlock},
    state::{ChainData, SnapshotProvider, StateError},
    storage::Store,
};
use std::{path::PathBuf, sync::Arc};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/execution-apis/tests")
}

#[derive(Debug)]
struct StoreData(Store);

impl ChainData for StoreData {
    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StateError> {
        Ok(self.0.code(hash)?)
    }
    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        Ok(self.0.canonical_hash(number)?.unwrap_or_default())
    }
}

#[test]
fn replays_the_conformance_chain() {
    let spec = ChainSpec::from_file(&fixtures().join("genesis.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(store.init_genesis(&spec).unwrap());
    let mut state = store.load_state(|_| {}).unwrap();
    assert_eq!(state.root(), spec.genesis_header().state_root);

    let raw = std::fs::read(fixtures().join("chain.rlp")).unwrap();
    let mut buf = raw.as_slice();
    let mut parent = spec.genesis_header().clone();
    let mut n = 0;
    while !buf.is_empty() {
        let block = SealedBlock::recover(Block::decode(&mut buf).unwrap()).unwrap();
        if block.number() == 0 {
            assert_eq!(block.hash, spec.genesis_hash(), "genesis hash");
            continue;
        }
        let provider = SnapshotProvider {
            snapshot: state.clone(),
            chain: Arc::new(StoreData(store.clone())),
            extra_code: Default::default(),
        };
        let hash = block.hash;
        let executed = execute_block(spec.clone(), &parent, provider, block)
            .unwrap_or_else(|e| panic!("block {}: {e}", n + 1));
        store
            .commit_block(&executed.block, &executed.receipts, &executed.diff)
            .unwrap();
        assert_eq!(executed.block.hash, hash);
        state = executed.state;
        parent = executed.block.header;
        n += 1;
    }
    assert_eq!(n, 20);
    assert_eq!(
        store.head_hash().unwrap(),
        Some(b256!(
            "514c48e760c62a38f91e011149b1b4a619bb3a7f750ec4430061bf19c3336635"
        ))
    );
    // A restart rebuilds the same state from the flat tables.
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert!(!store.init_genesis(&spec).unwrap());
    assert_eq!(store.load_state(|_| {}).unwrap().root(), parent.state_root);
}
