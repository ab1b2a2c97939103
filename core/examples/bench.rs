//! Benchmarks of the execution core; each prints its figures.
//!
//! `cargo run --release -p preconf-core --example bench -- exec [blocks] [runs]` — block execution in
//! Mgas/s for plain transfers and an ERC-20-style token workload, through our block builder
//! (reads from the parent's state trie, system calls, receipts and the state diff; then also
//! with the state, transactions and receipts roots) and through bare revm executing the same
//! signed transactions on an in-memory database, in the same run.
//!
//! `cargo run --release -p preconf-core --example bench -- root [accounts] [changed]` — the state
//! root after a block that changes `changed` of `accounts` accounts (default 1,000 of 100,000).

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, transaction::Recovered};
use alloy_evm::FromRecoveredTx;
use alloy_genesis::GenesisAccount;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, hex, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use preconf_core::{
    block_state::WarmCache,
    chainspec::ChainSpec,
    devnet::devnet_genesis,
    execution::{BlockAttributes, BlockBuilder, TxOutcome, next_header},
    state::{
        AccountChange, AccountFields, ChainData, SnapshotProvider, StateDiff, StateError,
        StateSnapshot,
    },
};
use revm::{
    Context, ExecuteCommitEvm, MainBuilder, MainContext,
    bytecode::Bytecode,
    context::TxEnv,
    database::{CacheDB, EmptyDB},
    state::AccountInfo,
};
use std::{collections::HashMap, sync::Arc, time::Instant};

/// `transfer(address,uint256)`: moves balances in slots keccak(holder ‖ 0) and logs Transfer.
const TOKEN_RUNTIME: &str = "335f525f60205260405f2080546024358082106056578082038355600435\
5f5260405f20805482019055 5f52600435337fddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef60205fa3005b5f5ffd";
const TOKEN: Address = Address::repeat_byte(0x70);

/// The chain's data as the node's chain reader provides it: code, and the warm cache of the
/// accounts the last block touched.
#[derive(Debug)]
struct Code(HashMap<B256, Bytes>, WarmCache);

impl ChainData for Code {
    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StateError> {
        Ok(self.0.get(hash).cloned())
    }
    fn block_hash(&self, _: u64) -> Result<B256, StateError> {
        Ok(B256::ZERO)
    }
    fn warm_cache(&self) -> Option<&WarmCache> {
        Some(&self.1)
    }
}

fn token_slot(holder: Address) -> U256 {
    let mut buf = [0u8; 64];
    buf[12..32].copy_from_slice(holder.as_slice());
    U256::from_be_bytes(keccak256(buf).0)
}

fn signers(n: usize) -> Vec<PrivateKeySigner> {
    (1..=n)
        .map(|i| PrivateKeySigner::from_bytes(&B256::from(U256::from(i as u64 + 1000))).unwrap())
        .collect()
}

fn sign(
    key: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: Address,
    value: U256,
    input: Bytes,
    gas: u64,
) -> Recovered<TxEnvelope> {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 1_000_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value,
        input,
        access_list: Default::default(),
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    Recovered::new_unchecked(tx.into_signed(sig).into(), key.address())
}

struct Setup {
    spec: Arc<ChainSpec>,
    state: StateSnapshot,
    code: Arc<Code>,
    revm_db: CacheDB<EmptyDB>,
}

fn setup(keys: &[PrivateKeySigner]) -> Setup {
    let runtime: Bytes = hex::decode(TOKEN_RUNTIME.replace([' ', '\n'], ""))
        .unwrap()
        .into();
    let mut genesis = devnet_genesis(30_000_000);
    let mut storage = std::collections::BTreeMap::new();
    for k in keys {
        genesis.alloc.insert(
            k.address(),
            GenesisAccount::default().with_balance(U256::from(10u128.pow(24))),
        );
        storage.insert(
            B256::from(token_slot(k.address())),
            B256::from(U256::from(10u128.pow(24))),
        );
    }
    genesis.alloc.insert(
        TOKEN,
        GenesisAccount::default()
            .with_code(Some(runtime))
            .with_storage(Some(storage)),
    );
    let spec = Arc::new(ChainSpec::from_genesis(genesis).unwrap());
    let diff = StateDiff::genesis(&spec);
    let code: HashMap<B256, Bytes> = diff.contracts.clone().into_iter().collect();
    let mut revm_db = CacheDB::new(EmptyDB::default());
    for (addr, change) in &diff.accounts {
        let info = change.info.as_ref().expect("genesis accounts exist");
        revm_db.insert_account_info(
            *addr,
            AccountInfo {
                balance: info.balance,
                nonce: info.nonce,
                code_hash: info.code_hash,
                code: code.get(&info.code_hash).cloned().map(Bytecode::new_raw),
                ..Default::default()
            },
        );
        for (k, v) in &change.storage {
            revm_db.insert_account_storage(*addr, *k, *v).unwrap();
        }
    }
    let state = StateSnapshot::default().apply(&diff);
    assert_eq!(state.root(), spec.genesis_header().state_root);
    Setup {
        spec,
        state,
        code: Arc::new(Code(code, WarmCache::default())),
        revm_db,
    }
}

/// Returns (seconds executing blocks — pre-block system calls, transactions with their
/// receipts, post-block system calls and the state diff —, seconds computing their roots, gas).
fn run_ours(s: &Setup, blocks: &[Vec<Recovered<TxEnvelope>>]) -> (f64, f64, u64) {
    let mut parent = s.spec.genesis_header().clone();
    let mut state = s.state.clone();
    let (mut t_exec, mut t_finish) = (0.0, 0.0);
    let mut gas = 0;
    for (i, txs) in blocks.iter().enumerate() {
        let timestamp = parent.timestamp + 2;
        let attrs = BlockAttributes {
            timestamp,
            fee_recipient: Address::ZERO,
            prev_randao: B256::with_last_byte(i as u8),
            withdrawals: Vec::new(),
            parent_beacon_block_root: Some(B256::ZERO),
            gas_limit: parent.gas_limit,
            extra_data: Bytes::new(),
            // The devnet is on Prague1: each block distributes to a (made-up) previous proposer.
            prev_proposer_pubkey: s
                .spec
                .prague1_at(timestamp)
                .map(|_| preconf_core::primitives::BlsPublicKey::repeat_byte(1)),
        };
        let header = next_header(&s.spec, &parent, &attrs);
        let provider = SnapshotProvider {
            snapshot: state.clone(),
            chain: s.code.clone(),
            extra_code: Default::default(),
        };
        let started = Instant::now();
        let mut b = BlockBuilder::new(s.spec.clone(), provider, header, Some(Vec::new())).unwrap();
        for tx in txs {
            match b.execute(tx.clone()) {
                TxOutcome::Included { .. } => {}
                other => panic!("transaction not included: {other:?}"),
            }
        }
        let outcome = b.finish_execution().unwrap();
        t_exec += started.elapsed().as_secs_f64();
        let started = Instant::now();
        let executed = outcome.seal().unwrap();
        t_finish += started.elapsed().as_secs_f64();
        gas += executed.block.header.gas_used;
        state = executed.state;
        parent = executed.block.header;
    }
    (t_exec, t_finish, gas)
}

fn run_revm(s: &Setup, blocks: &[Vec<Recovered<TxEnvelope>>]) -> (f64, u64) {
    let db = s.revm_db.clone();
    let mut evm = Context::mainnet()
        .with_db(db)
        .modify_cfg_chained(|c| {
            c.chain_id = s.spec.chain_id();
            c.set_spec_and_mainnet_gas_params(revm::primitives::hardfork::SpecId::PRAGUE);
        })
        .modify_block_chained(|b| {
            b.gas_limit = 30_000_000;
            b.basefee = 1_000_000_000;
        })
        .build_mainnet();
    let started = Instant::now();
    let mut gas = 0;
    for txs in blocks {
        for tx in txs {
            let env = TxEnv::from_recovered_tx(tx.inner(), tx.signer());
            let r = evm.transact_commit(env).unwrap();
            assert!(r.is_success(), "bare revm: {r:?}");
            gas += r.gas().tx_gas_used();
        }
    }
    (started.elapsed().as_secs_f64(), gas)
}

fn exec(blocks: usize, reps: usize) {
    let keys = signers(1500);
    let s = setup(&keys);
    let chain_id = s.spec.chain_id();
    let make = |erc20: bool| -> Vec<Vec<Recovered<TxEnvelope>>> {
        let per_block = if erc20 { 500 } else { 1400 };
        (0..blocks)
            .map(|b| {
                (0..per_block)
                    .map(|i| {
                        let key = &keys[i];
                        let to = keys[(i + 1) % keys.len()].address();
                        if erc20 {
                            let mut input = hex::decode("a9059cbb").unwrap();
                            input.extend_from_slice(&B256::left_padding_from(to.as_slice()).0);
                            input.extend_from_slice(&B256::from(U256::from(1000u64)).0);
                            sign(
                                key,
                                chain_id,
                                b as u64,
                                TOKEN,
                                U256::ZERO,
                                input.into(),
                                80_000,
                            )
                        } else {
                            sign(
                                key,
                                chain_id,
                                b as u64,
                                to,
                                U256::from(1),
                                Bytes::new(),
                                21_000,
                            )
                        }
                    })
                    .collect()
            })
            .collect()
    };
    println!(
        "block execution, {blocks} blocks each, fastest of {reps} runs (release build, this machine):"
    );
    for (name, erc20) in [("transfers", false), ("erc20", true)] {
        let txs = make(erc20);
        // Warm up both paths once, then keep the fastest of `reps` runs of each.
        run_ours(&s, &txs[..1]);
        run_revm(&s, &txs[..1]);
        let (mut t_exec, mut t_whole, mut t_revm) = (f64::MAX, f64::MAX, f64::MAX);
        let (mut g_ours, mut g_revm) = (0, 0);
        for _ in 0..reps {
            let (e, f, g) = run_ours(&s, &txs);
            t_exec = t_exec.min(e);
            t_whole = t_whole.min(e + f);
            g_ours = g;
            let (t, g) = run_revm(&s, &txs);
            t_revm = t_revm.min(t);
            g_revm = g;
        }
        assert_eq!(g_ours, g_revm, "both paths must execute the same work");
        let mgas = |t: f64| g_ours as f64 / t / 1e6;
        println!(
            "  {name:<9} txs {:>5}  gas {:>10}  bare revm {:>6.0} Mgas/s | preconf-node block execution {:>6.0} Mgas/s ({:.2}x), with the roots {:>6.0} Mgas/s ({:.2}x)",
            txs.iter().map(Vec::len).sum::<usize>(),
            g_ours,
            mgas(t_revm),
            mgas(t_exec),
            t_exec / t_revm,
            mgas(t_whole),
            t_whole / t_revm,
        );
    }
}

fn root(accounts: usize, changed: usize) {
    let mut diff = StateDiff::default();
    for i in 0..accounts {
        let addr = Address::from_slice(&keccak256((i as u64).to_be_bytes())[..20]);
        diff.accounts.insert(
            addr,
            AccountChange {
                info: Some(AccountFields {
                    nonce: 1,
                    balance: U256::from(i),
                    code_hash: alloy_consensus::constants::KECCAK_EMPTY,
                }),
                ..Default::default()
            },
        );
    }
    let addrs: Vec<Address> = diff.accounts.keys().copied().collect();
    let started = Instant::now();
    let base = StateSnapshot::default().apply(&diff);
    let full_root = base.root();
    let build = started.elapsed();
    let mut times = Vec::new();
    for round in 0..30u64 {
        let mut d = StateDiff::default();
        for j in 0..changed {
            let addr = addrs[(j * 97 + round as usize * 13) % addrs.len()];
            d.accounts.insert(
                addr,
                AccountChange {
                    info: Some(AccountFields {
                        nonce: 2 + round,
                        balance: U256::from(j),
                        code_hash: alloy_consensus::constants::KECCAK_EMPTY,
                    }),
                    ..Default::default()
                },
            );
        }
        let t = Instant::now();
        let next = base.apply(&d);
        let r = next.root();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_ne!(r, full_root);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "state root: {accounts} accounts (full build + root {:.0} ms); {changed} changed: median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        build.as_secs_f64() * 1e3,
        times[times.len() / 2],
        times[times.len() * 9 / 10],
        times[times.len() - 1]
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("exec") => exec(num(1, 20), num(2, 25)),
        Some("root") => root(num(1, 100_000), num(2, 1_000)),
        _ => {
            exec(20, 25);
            root(100_000, 1_000);
        }
    }
}
