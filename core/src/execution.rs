//! Block execution on revm through alloy-evm's Ethereum block executor: building a block from
//! candidate transactions ([`BlockBuilder`]) and validating a received block
//! ([`execute_block`]) share the same path, so every block we build is checked by the same code
//! that checks the blocks we receive.
//!
//! Execution reads the parent's [`StateSnapshot`] and yields the new snapshot, the [`StateDiff`]
//! to persist and every root of the header.

use crate::{
    block_state::{BlockState, WarmHandoff},
    chainspec::{ChainSpec, EthereumHardforks},
    pol::PolTx,
    primitives::{BlockTransaction, BlsPublicKey, Body, Header, Receipt, SealedBlock, Transaction},
    state::{SnapshotProvider, StateDiff, StateSnapshot},
};
use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, Eip658Value, ReceiptEnvelope, ReceiptWithBloom, Transaction as _,
    TxReceipt, TxType,
    proofs::{calculate_receipt_root, calculate_transaction_root, calculate_withdrawals_root},
    transaction::Recovered,
};
use alloy_eips::eip2718::Encodable2718 as _;
use alloy_eips::{
    eip4844::DATA_GAS_PER_BLOB, eip4895::Withdrawal, eip7685::Requests, merge::BEACON_NONCE,
};
use alloy_evm::{
    Evm, EvmEnv, EvmFactory,
    block::{BlockExecutionError, BlockExecutor, BlockValidationError},
    eth::{
        EthBlockExecutionCtx, EthBlockExecutor, EthEvmFactory,
        receipt_builder::{ReceiptBuilder, ReceiptBuilderCtx},
    },
};
use alloy_primitives::map::HashMap;
use alloy_primitives::{Address, B256, Bloom, BloomInput, Bytes, U256, utils::keccak256_cached};
use revm::{
    DatabaseCommit,
    context::{BlockEnv, CfgEnv, result::ExecutionResult},
    context_interface::block::BlobExcessGasAndPrice,
};
use std::{borrow::Cow, sync::Arc};

type Executor = EthBlockExecutor<
    'static,
    <EthEvmFactory as EvmFactory>::Evm<BlockState, revm::inspector::NoOpInspector>,
    Arc<ChainSpec>,
    Receipts,
>;

/// Builds receipts as alloy-evm's `AlloyReceiptBuilder` does, but hashes log addresses and
/// topics for the bloom through the process-wide keccak cache: the same contracts and event
/// signatures recur in every block.
#[derive(Debug, Default, Clone, Copy)]
pub struct Receipts;

impl ReceiptBuilder for Receipts {
    type Transaction = Transaction;
    type Receipt = Receipt;

    fn build_receipt<E: Evm>(&self, ctx: ReceiptBuilderCtx<'_, TxType, E>) -> Receipt {
        let receipt = receipt_with_bloom(ctx.result, ctx.cumulative_gas_used);
        Receipt::Ethereum(match ctx.tx_type {
            TxType::Legacy => ReceiptEnvelope::Legacy(receipt),
            TxType::Eip2930 => ReceiptEnvelope::Eip2930(receipt),
            TxType::Eip1559 => ReceiptEnvelope::Eip1559(receipt),
            TxType::Eip4844 => ReceiptEnvelope::Eip4844(receipt),
            TxType::Eip7702 => ReceiptEnvelope::Eip7702(receipt),
        })
    }
}

/// The receipt fields of an execution result.
fn receipt_with_bloom<H>(
    result: ExecutionResult<H>,
    cumulative_gas_used: u64,
) -> ReceiptWithBloom<alloy_consensus::Receipt> {
    let success = result.is_success();
    let logs = result.into_logs();
    let mut bloom = Bloom::ZERO;
    for log in &logs {
        bloom.accrue(BloomInput::Hash(keccak256_cached(log.address)));
        for topic in log.topics() {
            bloom.accrue(BloomInput::Hash(keccak256_cached(topic)));
        }
    }
    ReceiptWithBloom::new(
        alloy_consensus::Receipt {
            status: Eip658Value::Eip658(success),
            cumulative_gas_used,
            logs,
        },
        bloom,
    )
}

/// The least gas a transaction uses.
const MIN_TX_GAS: u64 = 21_000;
/// Upper bound of the transaction capacity reserved up front for a block.
const MAX_RESERVED_TXS: u64 = 1 << 16;

/// Why a block is invalid. The message is what Engine API callers see as `validationError`.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// A header field breaks a consensus rule.
    #[error("invalid header: {0}")]
    Header(String),
    /// The body does not match the header.
    #[error("invalid body: {0}")]
    Body(String),
    /// A transaction could not be executed.
    #[error("invalid transaction {index}: {reason}")]
    Transaction {
        /// Position in the block.
        index: usize,
        /// What went wrong.
        reason: String,
    },
    /// Execution results disagree with the header.
    #[error("{field} mismatch: header has {expected}, execution gives {got}")]
    Mismatch {
        /// Header field.
        field: &'static str,
        /// Value in the header.
        expected: String,
        /// Value computed.
        got: String,
    },
    /// State could not be read, or an internal failure.
    #[error("execution failed: {0}")]
    Internal(String),
}

/// Everything that defines the block to build on top of a parent (the Engine API's payload
/// attributes, plus the chosen gas limit and extra data).
#[derive(Debug, Clone)]
pub struct BlockAttributes {
    /// Block timestamp.
    pub timestamp: u64,
    /// Fee recipient (coinbase).
    pub fee_recipient: Address,
    /// prevRandao (mixHash).
    pub prev_randao: B256,
    /// Withdrawals to apply.
    pub withdrawals: Vec<Withdrawal>,
    /// Parent beacon block root (EIP-4788).
    pub parent_beacon_block_root: Option<B256>,
    /// Gas limit of the block.
    pub gas_limit: u64,
    /// Extra data.
    pub extra_data: Bytes,
    /// From Berachain's Prague1: the previous block's proposer, whose rewards the block's PoL
    /// transaction distributes.
    pub prev_proposer_pubkey: Option<BlsPublicKey>,
}

/// A block that has been executed: the sealed block, its receipts, the resulting state and the
/// diff to persist.
#[derive(Debug, Clone)]
pub struct ExecutedBlock {
    /// The block.
    pub block: SealedBlock,
    /// Receipts, in transaction order.
    pub receipts: Vec<Receipt>,
    /// State after the block.
    pub state: StateSnapshot,
    /// Changes relative to the parent.
    pub diff: Arc<StateDiff>,
    /// EIP-7685 requests.
    pub requests: Requests,
    /// Sum of priority fees paid to the fee recipient, in wei.
    pub fees: U256,
}

/// What happened to one candidate transaction offered to a [`BlockBuilder`].
#[derive(Debug)]
pub enum TxOutcome {
    /// Included; the gas it used.
    Included {
        /// Gas used.
        gas_used: u64,
    },
    /// Does not fit in the gas (or blob gas) left; may fit in a later block.
    DoesNotFit,
    /// Invalid on this state only because of where the block starts (a nonce ahead of the
    /// sender's, funds the sender does not have yet, a fee cap below this block's base fee): it
    /// may be valid in a later block, so it is kept.
    NotYet(String),
    /// Invalid on any state that could follow (a nonce already used, too little gas, …): drop it.
    Invalid(String),
}

/// Executes transactions one by one on top of a parent block and assembles the block.
pub struct BlockBuilder {
    spec: Arc<ChainSpec>,
    executor: Executor,
    header: Header,
    withdrawals: Option<Vec<Withdrawal>>,
    transactions: Vec<BlockTransaction>,
    senders: Vec<Address>,
    /// The state returned by the last [`pending_state`](Self::pending_state).
    pending: Option<StateSnapshot>,
    fees: U256,
    blob_gas_used: u64,
    max_blob_gas: u64,
    /// EIP-7934's block size limit (from Osaka).
    max_size: Option<usize>,
    /// RLP lengths of the header (with room to grow) and of the withdrawals.
    fixed_len: (usize, Option<usize>),
    /// Sum of the included transactions' lengths as a block body holds them.
    txs_len: usize,
}

impl std::fmt::Debug for BlockBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockBuilder")
            .field("number", &self.header.number)
            .field("transactions", &self.transactions.len())
            .finish_non_exhaustive()
    }
}

/// The EVM environment (config and block) of a block with this header.
pub fn evm_env(spec: &ChainSpec, header: &Header) -> EvmEnv {
    let spec_id = spec.spec_id_at(header.timestamp);
    let mut cfg = CfgEnv::new_with_spec(spec_id).with_chain_id(spec.chain_id());
    let blob_params = spec.blob_params_at(header.timestamp);
    if let Some(p) = &blob_params {
        cfg.set_max_blobs_per_tx(p.max_blobs_per_tx);
    }
    let block = BlockEnv {
        number: U256::from(header.number),
        beneficiary: header.beneficiary,
        timestamp: U256::from(header.timestamp),
        difficulty: U256::ZERO,
        prevrandao: Some(header.mix_hash),
        gas_limit: header.gas_limit,
        basefee: header.base_fee_per_gas.unwrap_or_default(),
        blob_excess_gas_and_price: header.excess_blob_gas.zip(blob_params).map(|(excess, p)| {
            BlobExcessGasAndPrice {
                excess_blob_gas: excess,
                blob_gasprice: p.calc_blob_fee(excess),
            }
        }),
        slot_num: 0,
    };
    EvmEnv::new(cfg, block)
}

/// The header of the next block before execution (roots and gas used are filled in by
/// [`BlockBuilder::finish`]).
pub fn next_header(spec: &ChainSpec, parent: &Header, attrs: &BlockAttributes) -> Header {
    let ts = attrs.timestamp;
    let cancun = spec.is_cancun_active_at_timestamp(ts);
    Header::from(alloy_consensus::Header {
        parent_hash: parent.hash_slow(),
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: attrs.fee_recipient,
        number: parent.number + 1,
        gas_limit: attrs.gas_limit,
        timestamp: ts,
        extra_data: attrs.extra_data.clone(),
        mix_hash: attrs.prev_randao,
        nonce: BEACON_NONCE.into(),
        base_fee_per_gas: Some(spec.next_base_fee(parent)),
        withdrawals_root: spec
            .is_shanghai_active_at_timestamp(ts)
            .then(|| calculate_withdrawals_root(&attrs.withdrawals)),
        blob_gas_used: cancun.then_some(0),
        excess_blob_gas: spec.next_excess_blob_gas(parent, ts),
        parent_beacon_block_root: if cancun {
            attrs.parent_beacon_block_root
        } else {
            None
        },
        requests_hash: None,
        ..Default::default()
    })
    .with_prev_proposer_pubkey(attrs.prev_proposer_pubkey)
}

/// The PoL transaction a block with this header must start with, if any: from Prague1 a header
/// names the previous proposer and the block starts with its PoL transaction; before, neither.
pub fn expected_pol(spec: &ChainSpec, header: &Header) -> Result<Option<PolTx>, BlockError> {
    match (
        spec.prague1_at(header.timestamp),
        &header.prev_proposer_pubkey,
    ) {
        (Some(p1), Some(key)) => Ok(Some(PolTx::new(
            spec.chain_id(),
            p1.pol_distributor_address,
            header.number,
            header.base_fee_per_gas.unwrap_or_default(),
            key.as_slice(),
        ))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(BlockError::Header(
            "missing prev_proposer_pubkey: required from Prague1".into(),
        )),
        (None, Some(_)) => Err(BlockError::Header(
            "prev_proposer_pubkey before Prague1".into(),
        )),
    }
}

impl BlockBuilder {
    /// Starts a block on top of `parent` whose state is `provider`, applying the pre-block
    /// system calls (EIP-2935 history, EIP-4788 beacon root).
    pub fn new(
        spec: Arc<ChainSpec>,
        provider: SnapshotProvider,
        header: Header,
        withdrawals: Option<Vec<Withdrawal>>,
    ) -> Result<Self, BlockError> {
        let env = evm_env(&spec, &header);
        // Room for as many transactions as the gas limit allows, so the vectors never move
        // during the block (reserved address space is only touched as it fills).
        let capacity = (header.gas_limit / MIN_TX_GAS).min(MAX_RESERVED_TXS) as usize;
        let db = BlockState::with_capacity(provider.clone(), capacity * 2);
        let evm = EthEvmFactory::default().create_evm(db, env);
        let ctx = EthBlockExecutionCtx {
            parent_hash: header.parent_hash,
            parent_beacon_block_root: header.parent_beacon_block_root,
            ommers: &[],
            withdrawals: withdrawals.clone().map(Cow::Owned),
            extra_data: header.extra_data.clone(),
            tx_count_hint: Some(capacity),
            slot_number: None,
        };
        let pol = expected_pol(&spec, &header)?;
        let mut executor = EthBlockExecutor::new(evm, ctx, spec.clone(), Receipts);
        executor
            .apply_pre_execution_changes()
            .map_err(|e| BlockError::Internal(e.to_string()))?;
        let mut transactions = Vec::with_capacity(capacity + 1);
        let mut senders = Vec::with_capacity(capacity + 1);
        if let Some(pol) = pol {
            // A system call after the EIP-2935 and EIP-4788 ones: no gas charged, no nonce or
            // balance checks; its receipt says what it did with cumulative gas 0.
            let out = executor
                .evm_mut()
                .transact_system_call(pol.from, pol.to, pol.input.clone())
                .map_err(|e| BlockError::Internal(format!("PoL transaction: {e}")))?;
            executor.evm_mut().db_mut().commit(out.state);
            let receipt = receipt_with_bloom(out.result, executor.cumulative_tx_gas_used);
            executor.receipts.push(Receipt::Pol(receipt));
            senders.push(pol.from);
            transactions.push(BlockTransaction::from(pol));
        }
        let max_blob_gas = spec
            .blob_params_at(header.timestamp)
            .map(|p| p.max_blob_gas_per_block())
            .unwrap_or(0);
        // EIP-7934 from Osaka: the whole block's RLP stays within the limit. The header's own
        // length grows by a few bytes once gas used and the roots are filled in: 64 bytes of room.
        let max_size = spec
            .is_osaka_active_at_timestamp(header.timestamp)
            .then_some(MAX_RLP_BLOCK_SIZE);
        let fixed_len = (
            alloy_rlp::Encodable::length(&header) + 64,
            withdrawals_len(withdrawals.as_deref()),
        );
        let txs_len = transactions.iter().map(|t| t.network_len()).sum();
        Ok(Self {
            pending: None,
            spec,
            executor,
            header,
            withdrawals,
            transactions,
            senders,
            fees: U256::ZERO,
            blob_gas_used: 0,
            max_blob_gas,
            max_size,
            fixed_len,
            txs_len,
        })
    }

    /// The header being built.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Gas used so far.
    pub fn gas_used(&self) -> u64 {
        self.executor.cumulative_tx_gas_used
    }

    /// Gas still available in the block.
    pub fn gas_left(&self) -> u64 {
        self.header.gas_limit.saturating_sub(self.gas_used())
    }

    /// Transactions included so far (from Prague1 the PoL transaction first).
    pub fn transactions(&self) -> &[BlockTransaction] {
        &self.transactions
    }

    /// Senders of the transactions included so far.
    pub fn senders(&self) -> &[Address] {
        &self.senders
    }

    /// Receipts of the transactions included so far.
    pub fn receipts(&self) -> &[Receipt] {
        self.executor.receipts()
    }

    /// Executes one transaction and includes it if it is valid and fits.
    pub fn execute(&mut self, tx: Recovered<Transaction>) -> TxOutcome {
        if tx.gas_limit() > self.gas_left() {
            return TxOutcome::DoesNotFit;
        }
        let tx_len = tx.inner().network_len();
        if let Some(max) = self.max_size {
            let (header_len, withdrawals_len) = self.fixed_len;
            if rlp_block_len(header_len, self.txs_len + tx_len, withdrawals_len) > max {
                return TxOutcome::DoesNotFit;
            }
        }
        let blob_gas = tx.blob_count().unwrap_or(0) * DATA_GAS_PER_BLOB;
        if blob_gas > 0 && self.blob_gas_used + blob_gas > self.max_blob_gas {
            return TxOutcome::DoesNotFit;
        }
        let base_fee = self.header.base_fee_per_gas.unwrap_or_default();
        let tip = tx.effective_tip_per_gas(base_fee).unwrap_or(0);
        match self.executor.execute_transaction(&tx) {
            Ok(out) => {
                let gas_used = out.tx_gas_used();
                self.fees += U256::from(tip) * U256::from(gas_used);
                self.blob_gas_used += blob_gas;
                self.txs_len += tx_len;
                let (tx, sender) = tx.into_parts();
                self.transactions.push(tx.into());
                self.senders.push(sender);
                TxOutcome::Included { gas_used }
            }
            Err(BlockExecutionError::Validation(
                BlockValidationError::TransactionGasLimitMoreThanAvailableBlockGas { .. },
            )) => TxOutcome::DoesNotFit,
            Err(e) if may_pass_later(&e) => TxOutcome::NotYet(invalid_reason(&e)),
            Err(e) => TxOutcome::Invalid(invalid_reason(&e)),
        }
    }

    /// The state after the transactions executed so far (before the post-block changes), and
    /// the code they created. No root is computed: this is the preconfirmed state that reads use.
    ///
    /// Incremental: after the first call, only the accounts touched since the previous call are
    /// applied (with their whole change in the block) on top of the previous result, so a
    /// flashblock costs what it touched, not what the block has touched so far.
    pub fn pending_state(&mut self) -> (StateSnapshot, HashMap<B256, Bytes>) {
        let db = self.executor.evm_mut().db_mut();
        let diff = db.take_pending(self.pending.is_none());
        let snapshot = self.pending.as_ref().unwrap_or(db.parent()).apply(&diff);
        self.pending = Some(snapshot.clone());
        (snapshot, diff.contracts.into_iter().collect())
    }

    /// The header of the block so far, as a preconfirmed block shows it: the gas used, logs
    /// bloom and the transactions, receipts and state roots over the transactions executed so
    /// far, with `state` from [`pending_state`](Self::pending_state). The block's end (withdrawals,
    /// the EIP-7002/7251 request queues) is not applied yet, so the state root is that of the
    /// state the preconfirmed reads see and `requests_hash` (Prague) is that of no requests; the
    /// header's hash names exactly this content. When the end changes nothing (no withdrawals, no
    /// requests), the header of the complete block is the sealed block's, hash included.
    pub fn partial_header(&self, state: &StateSnapshot) -> Result<Header, BlockError> {
        let receipts = self.receipts();
        let mut header = self.header.clone();
        header.gas_used = self.gas_used();
        if header.blob_gas_used.is_some() {
            header.blob_gas_used = Some(self.blob_gas_used);
        }
        let (state_root, (transactions_root, receipts_root)) =
            with_list_roots(&self.transactions, receipts, || state.root())?;
        header.state_root = state_root;
        header.transactions_root = transactions_root;
        header.receipts_root = receipts_root;
        header.logs_bloom = logs_bloom(receipts);
        if self.spec.is_prague_active_at_timestamp(header.timestamp) {
            // Requests are collected at the block's end: none so far.
            header.requests_hash = Some(Requests::default().requests_hash());
        }
        Ok(header)
    }

    /// Applies the post-block changes (withdrawals, EIP-7002/7251 requests) and assembles the
    /// block with every root.
    pub fn finish(self) -> Result<ExecutedBlock, BlockError> {
        self.finish_execution()?.seal()
    }

    /// Applies the post-block changes (withdrawals, EIP-7002/7251 requests): execution is complete,
    /// the roots are not computed yet.
    pub fn finish_execution(self) -> Result<ExecutionOutcome, BlockError> {
        let Self {
            spec,
            executor,
            mut header,
            withdrawals,
            transactions,
            senders,
            fees,
            blob_gas_used,
            ..
        } = self;
        let (mut evm, result) = executor
            .finish()
            .map_err(|e| BlockError::Internal(e.to_string()))?;
        let db = evm.db_mut();
        let parent_state = db.parent().clone();
        let diff = db.diff();
        let warm = db.into_warm();
        header.gas_used = result.gas_used;
        if header.blob_gas_used.is_some() {
            header.blob_gas_used = Some(blob_gas_used);
        }
        if spec.is_prague_active_at_timestamp(header.timestamp) {
            header.requests_hash = Some(result.requests.requests_hash());
        }
        Ok(ExecutionOutcome {
            header,
            body: Body {
                transactions,
                ommers: Vec::new(),
                withdrawals: withdrawals.map(Into::into),
            },
            senders,
            receipts: result.receipts,
            requests: result.requests,
            parent_state,
            diff,
            fees,
            warm,
        })
    }
}

/// Fewer transactions than this and the transactions and receipts roots are computed on the
/// calling thread (a thread costs more than hashing a few leaves).
const PARALLEL_ROOTS_MIN_TXS: usize = 64;

/// A block whose execution is complete, before its roots are computed.
#[derive(Debug)]
pub struct ExecutionOutcome {
    header: Header,
    body: Body,
    senders: Vec<Address>,
    receipts: Vec<Receipt>,
    requests: Requests,
    parent_state: StateSnapshot,
    diff: StateDiff,
    fees: U256,
    warm: Option<WarmHandoff>,
}

impl ExecutionOutcome {
    /// Computes the state, transactions and receipts roots and the logs bloom, and seals the
    /// block. The state root (on this thread) and the other two (on a second one) are hashed in
    /// parallel for blocks of more than a few transactions. The accounts the block touched
    /// become the chain's warm cache for a child of this block.
    pub fn seal(self) -> Result<ExecutedBlock, BlockError> {
        let Self {
            mut header,
            body,
            senders,
            receipts,
            requests,
            parent_state,
            diff,
            fees,
            warm,
        } = self;
        let ((state, state_root), (transactions_root, receipts_root)) =
            with_list_roots(&body.transactions, &receipts, || {
                let state = parent_state.apply(&diff);
                let root = state.root();
                (state, root)
            })?;
        if let Some(warm) = warm {
            warm.store(state.clone());
        }
        header.state_root = state_root;
        header.transactions_root = transactions_root;
        header.receipts_root = receipts_root;
        header.logs_bloom = logs_bloom(&receipts);
        Ok(ExecutedBlock {
            block: SealedBlock::new(header, body, senders),
            receipts,
            state,
            diff: Arc::new(diff),
            requests,
            fees,
        })
    }
}

/// Runs `state` (the state root's work) while the transactions and receipts roots are hashed,
/// on a second thread for blocks of more than a few transactions.
fn with_list_roots<T: Send>(
    transactions: &[BlockTransaction],
    receipts: &[Receipt],
    state: impl FnOnce() -> T,
) -> Result<(T, (B256, B256)), BlockError> {
    let list_roots = || {
        (
            calculate_transaction_root(transactions),
            calculate_receipt_root(receipts),
        )
    };
    if transactions.len() < PARALLEL_ROOTS_MIN_TXS {
        return Ok((state(), list_roots()));
    }
    std::thread::scope(|s| {
        let other = s.spawn(list_roots);
        let state = state();
        let roots = other
            .join()
            .map_err(|_| BlockError::Internal("root computation panicked".into()))?;
        Ok((state, roots))
    })
}

/// The logs bloom of a block with these receipts.
fn logs_bloom(receipts: &[Receipt]) -> Bloom {
    receipts.iter().fold(Bloom::ZERO, |mut b, r| {
        b.accrue_bloom(&r.bloom());
        b
    })
}

/// Whether a transaction refused on a block's starting state can be valid in a later block.
fn may_pass_later(e: &BlockExecutionError) -> bool {
    use revm::context_interface::result::InvalidTransaction as T;
    let BlockExecutionError::Validation(BlockValidationError::InvalidTx { error, .. }) = e else {
        return false;
    };
    matches!(
        error.as_invalid_tx_err(),
        Some(T::NonceTooHigh { .. } | T::LackOfFundForMaxFee { .. } | T::GasPriceLessThanBasefee)
    )
}

fn invalid_reason(e: &BlockExecutionError) -> String {
    match e {
        BlockExecutionError::Validation(BlockValidationError::InvalidTx { error, .. }) => {
            error.to_string()
        }
        other => other.to_string(),
    }
}

/// Checks a header against its parent under the chain's rules (everything that can be checked
/// before execution).
pub fn validate_header(
    spec: &ChainSpec,
    parent: &Header,
    header: &Header,
) -> Result<(), BlockError> {
    let bad = |m: String| Err(BlockError::Header(m));
    if header.number != parent.number + 1 {
        return bad(format!(
            "number {} does not follow parent {}",
            header.number, parent.number
        ));
    }
    if header.timestamp <= parent.timestamp {
        return bad(format!(
            "timestamp {} not after parent's {}",
            header.timestamp, parent.timestamp
        ));
    }
    if header.extra_data.len() > 32 {
        return bad(format!(
            "extra data is {} bytes, at most 32 allowed",
            header.extra_data.len()
        ));
    }
    if header.gas_used > header.gas_limit {
        return bad(format!(
            "gas used {} above gas limit {}",
            header.gas_used, header.gas_limit
        ));
    }
    let max_delta = parent.gas_limit / 1024;
    if (header.gas_limit.abs_diff(parent.gas_limit) >= max_delta || header.gas_limit < 5000)
        && header.gas_limit != parent.gas_limit
    {
        return bad(format!(
            "gas limit {} too far from parent's {}",
            header.gas_limit, parent.gas_limit
        ));
    }
    if !header.difficulty.is_zero() || header.nonce != alloy_primitives::B64::from(BEACON_NONCE) {
        return bad("difficulty and nonce must be zero after the merge".into());
    }
    if header.ommers_hash != EMPTY_OMMER_ROOT_HASH {
        return bad("ommers hash must be the empty list's".into());
    }
    let expected_base_fee = spec.next_base_fee(parent);
    if header.base_fee_per_gas != Some(expected_base_fee) {
        return bad(format!(
            "base fee {:?}, expected {expected_base_fee}",
            header.base_fee_per_gas
        ));
    }
    let ts = header.timestamp;
    if spec.is_shanghai_active_at_timestamp(ts) != header.withdrawals_root.is_some() {
        return bad("withdrawals root presence does not match the fork".into());
    }
    if spec.is_cancun_active_at_timestamp(ts) {
        if header.parent_beacon_block_root.is_none() || header.blob_gas_used.is_none() {
            return bad("missing Cancun header fields".into());
        }
        let expected = spec.next_excess_blob_gas(parent, ts);
        if header.excess_blob_gas != expected {
            return bad(format!(
                "excess blob gas {:?}, expected {expected:?}",
                header.excess_blob_gas
            ));
        }
    } else if header.parent_beacon_block_root.is_some()
        || header.blob_gas_used.is_some()
        || header.excess_blob_gas.is_some()
    {
        return bad("Cancun header fields before Cancun".into());
    }
    if spec.is_prague_active_at_timestamp(ts) != header.requests_hash.is_some() {
        return bad("requests hash presence does not match the fork".into());
    }
    expected_pol(spec, header).map(|_| ())
}

/// EIP-7934: the most bytes a block's RLP encoding may have from Osaka (10 MiB, less 2 MiB left
/// for the consensus layer's wrapping).
pub const MAX_RLP_BLOCK_SIZE: usize = 8_388_608;

/// The length of a block's RLP encoding from its parts' lengths: the header's, the transactions'
/// (each as in a block body: a typed one as an RLP string), and the withdrawals' (each).
fn rlp_block_len(header_len: usize, txs_len: usize, withdrawals_len: Option<usize>) -> usize {
    let list = |payload: usize| payload + alloy_rlp::length_of_length(payload);
    list(header_len + list(txs_len) + list(0) + withdrawals_len.map_or(0, list))
}

/// The summed RLP lengths of a block's withdrawals (each as a list item), `None` before Shanghai.
fn withdrawals_len(withdrawals: Option<&[Withdrawal]>) -> Option<usize> {
    withdrawals.map(|w| w.iter().map(alloy_rlp::Encodable::length).sum())
}

/// Validates and executes a received block on its parent's state. The result's roots are checked
/// against the header; any disagreement is an error naming the field.
pub fn execute_block(
    spec: Arc<ChainSpec>,
    parent: &Header,
    provider: SnapshotProvider,
    block: SealedBlock,
) -> Result<ExecutedBlock, BlockError> {
    validate_header(&spec, parent, &block.header)?;
    let header = &block.header;
    if spec.is_osaka_active_at_timestamp(header.timestamp) {
        let size = rlp_block_len(
            alloy_rlp::Encodable::length(header),
            block
                .body
                .transactions
                .iter()
                .map(|t| t.network_len())
                .sum(),
            withdrawals_len(block.body.withdrawals.as_ref().map(|w| &w[..])),
        );
        if size > MAX_RLP_BLOCK_SIZE {
            return Err(BlockError::Body(format!(
                "block RLP size {size} exceeds the limit {MAX_RLP_BLOCK_SIZE} (EIP-7934)"
            )));
        }
    }
    if calculate_transaction_root(&block.body.transactions) != header.transactions_root {
        return Err(BlockError::Body(
            "transactions root does not match the transactions".into(),
        ));
    }
    let withdrawals = block.body.withdrawals.as_ref().map(|w| w.to_vec());
    if header.withdrawals_root != withdrawals.as_ref().map(|w| calculate_withdrawals_root(w)) {
        return Err(BlockError::Body(
            "withdrawals root does not match the withdrawals".into(),
        ));
    }
    if !block.body.ommers.is_empty() {
        return Err(BlockError::Body("ommers are not allowed".into()));
    }
    let mut template = header.clone();
    template.gas_used = 0;
    let mut builder = BlockBuilder::new(spec, provider, template, withdrawals)?;
    let transactions = &block.body.transactions;
    // From Prague1 the block starts with exactly the PoL transaction the builder made.
    let pol = builder.transactions().first().map(|t| *t.tx_hash());
    if let Some(expected) = pol {
        match transactions.first() {
            Some(tx) if *tx.tx_hash() == expected => {}
            Some(BlockTransaction::Pol(got)) => {
                return Err(BlockError::Transaction {
                    index: 0,
                    reason: format!(
                        "PoL transaction {} is not the expected {expected}",
                        got.hash_ref()
                    ),
                });
            }
            _ => {
                return Err(BlockError::Transaction {
                    index: 0,
                    reason: "missing PoL transaction: a Prague1 block starts with it".into(),
                });
            }
        }
    }
    let user = usize::from(pol.is_some());
    for (index, (tx, sender)) in transactions
        .iter()
        .zip(&block.senders)
        .enumerate()
        .skip(user)
    {
        let Some(tx) = tx.as_ethereum() else {
            return Err(BlockError::Transaction {
                index,
                reason: "PoL transaction out of place: only index 0 of a Prague1 block".into(),
            });
        };
        match builder.execute(Recovered::new_unchecked(tx.clone(), *sender)) {
            TxOutcome::Included { .. } => {}
            TxOutcome::DoesNotFit => {
                return Err(BlockError::Transaction {
                    index,
                    reason: "exceeds the block's gas or blob gas".into(),
                });
            }
            TxOutcome::NotYet(reason) | TxOutcome::Invalid(reason) => {
                return Err(BlockError::Transaction { index, reason });
            }
        }
    }
    let executed = builder.finish()?;
    let got = &executed.block.header;
    let checks: [(&'static str, String, String); 6] = [
        (
            "gasUsed",
            header.gas_used.to_string(),
            got.gas_used.to_string(),
        ),
        (
            "blobGasUsed",
            format!("{:?}", header.blob_gas_used),
            format!("{:?}", got.blob_gas_used),
        ),
        (
            "receiptsRoot",
            header.receipts_root.to_string(),
            got.receipts_root.to_string(),
        ),
        (
            "logsBloom",
            header.logs_bloom.to_string(),
            got.logs_bloom.to_string(),
        ),
        (
            "requestsHash",
            format!("{:?}", header.requests_hash),
            format!("{:?}", got.requests_hash),
        ),
        (
            "stateRoot",
            header.state_root.to_string(),
            got.state_root.to_string(),
        ),
    ];
    for (field, expected, got) in checks {
        if expected != got {
            return Err(BlockError::Mismatch {
                field,
                expected,
                got,
            });
        }
    }
    debug_assert_eq!(executed.block.hash, block.hash);
    Ok(ExecutedBlock { block, ..executed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        devnet::{dev_signer, devnet_genesis},
        state::{ChainData, StateError},
    };
    use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
    use alloy_primitives::TxKind;
    use alloy_signer::SignerSync;

    #[derive(Debug)]
    struct Code(HashMap<B256, Bytes>);

    impl ChainData for Code {
        fn code(&self, hash: &B256) -> Result<Option<Bytes>, StateError> {
            Ok(self.0.get(hash).cloned())
        }
        fn block_hash(&self, _: u64) -> Result<B256, StateError> {
            Ok(B256::ZERO)
        }
    }

    fn transfer(spec: &ChainSpec, from: u32, nonce: u64, to: Address) -> Recovered<Transaction> {
        let key = dev_signer(from);
        let tx = TxEip1559 {
            chain_id: spec.chain_id(),
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(to),
            value: U256::from(1000 + nonce),
            ..Default::default()
        };
        let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
        let env: TxEnvelope = tx.into_signed(sig).into();
        Recovered::new_unchecked(env, key.address())
    }

    /// The genesis state, fresh each call.
    fn genesis_state(spec: &ChainSpec) -> impl Fn() -> SnapshotProvider + use<> {
        let genesis = StateDiff::genesis(spec);
        let state = StateSnapshot::default().apply(&genesis);
        let code: Arc<dyn ChainData> =
            Arc::new(Code(genesis.contracts.clone().into_iter().collect()));
        move || SnapshotProvider {
            snapshot: state.clone(),
            chain: code.clone(),
            extra_code: Default::default(),
        }
    }

    /// Starts fresh builders of block 1 on the genesis state.
    fn on_genesis(spec: &Arc<ChainSpec>) -> impl Fn() -> BlockBuilder {
        let provider = genesis_state(spec);
        let attrs = crate::block_state::tests::attrs(spec, spec.genesis_header());
        let spec = spec.clone();
        move || {
            let header = next_header(&spec, spec.genesis_header(), &attrs);
            BlockBuilder::new(spec.clone(), provider(), header, Some(Vec::new())).unwrap()
        }
    }

    /// Osaka (EIP-7934): the builder stops adding transactions before the block's RLP passes
    /// 8 MiB (what does not fit waits, it is not invalid), the size it counts is the encoded
    /// block's, and such a block imports; the same block is refused once one more transaction
    /// pushes it over.
    #[test]
    fn an_osaka_block_stays_within_the_rlp_size_limit() {
        let spec = Arc::new(crate::devnet::devnet_chainspec(300_000_000));
        let key = dev_signer(3);
        let big = |nonce: u64| {
            let tx = TxEip1559 {
                chain_id: spec.chain_id(),
                nonce,
                gas_limit: 1_300_000,
                max_fee_per_gas: 10_000_000_000,
                max_priority_fee_per_gas: 1,
                to: TxKind::Call(Address::repeat_byte(0x42)),
                input: vec![0u8; 120_000].into(),
                ..Default::default()
            };
            let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
            let env: TxEnvelope = tx.into_signed(sig).into();
            Recovered::new_unchecked(env, key.address())
        };
        let provider = genesis_state(&spec);
        let mut attrs = crate::block_state::tests::attrs(&spec, spec.genesis_header());
        attrs.gas_limit = 300_000_000;
        let header = next_header(&spec, spec.genesis_header(), &attrs);
        let mut builder =
            BlockBuilder::new(spec.clone(), provider(), header, Some(Vec::new())).unwrap();
        let mut included = 0;
        for nonce in 0..80 {
            match builder.execute(big(nonce)) {
                TxOutcome::Included { .. } => included += 1,
                TxOutcome::DoesNotFit => break,
                other => panic!("{other:?}"),
            }
        }
        assert!((60..80).contains(&included), "{included}");
        let block = builder.finish().unwrap().block;
        let body = &block.body;
        let encoded = alloy_rlp::Encodable::length(&alloy_consensus::Block {
            header: block.header.clone(),
            body: body.clone(),
        });
        let counted = rlp_block_len(
            alloy_rlp::Encodable::length(&block.header),
            body.transactions.iter().map(|t| t.network_len()).sum(),
            withdrawals_len(body.withdrawals.as_ref().map(|w| &w[..])),
        );
        assert_eq!(counted, encoded);
        assert!(encoded <= MAX_RLP_BLOCK_SIZE && encoded + 120_000 > MAX_RLP_BLOCK_SIZE);
        let parent = spec.genesis_header().clone();
        let imported = execute_block(spec.clone(), &parent, provider(), block.clone());
        assert!(imported.is_ok(), "{imported:?}");
        // One more transaction: the header is made to match, the size check refuses it first.
        let mut over = block.clone();
        over.body
            .transactions
            .push(big(included).into_inner().into());
        over.senders.push(key.address());
        let why = execute_block(spec.clone(), &parent, provider(), over).unwrap_err();
        assert!(
            why.to_string().contains("exceeds the limit 8388608"),
            "{why}"
        );
    }

    /// Prague1: the PoL transaction is at index 0, runs as a system call (the distributor's
    /// event names the key; no gas counted; cumulative gas 0), and the block imports.
    #[test]
    fn a_prague1_block_starts_with_the_pol_transaction() {
        let spec = Arc::new(ChainSpec::from_genesis(devnet_genesis(30_000_000)).unwrap());
        let mut b = on_genesis(&spec)();
        let tx = transfer(&spec, 0, 0, Address::repeat_byte(1));
        assert!(matches!(b.execute(tx), TxOutcome::Included { .. }));
        let executed = b.finish().unwrap();
        let block = &executed.block;
        let key = block.header.prev_proposer_pubkey.expect("Prague1 header");
        let expected = PolTx::new(
            spec.chain_id(),
            crate::devnet::POL_DISTRIBUTOR,
            1,
            block.header.base_fee_per_gas.unwrap(),
            key.as_slice(),
        );
        assert_eq!(block.body.transactions[0].as_pol(), Some(&expected));
        assert_eq!(block.senders[0], alloy_eips::eip4788::SYSTEM_ADDRESS);
        let Receipt::Pol(pol) = &executed.receipts[0] else {
            panic!("the first receipt is the PoL transaction's");
        };
        assert!(
            pol.receipt.status.coerce_status(),
            "the distributor accepts the call"
        );
        assert_eq!(pol.receipt.cumulative_gas_used, 0);
        let log = &pol.receipt.logs[0];
        assert_eq!(log.address, crate::devnet::POL_DISTRIBUTOR);
        assert!(log.data.data.windows(48).any(|w| w == key.as_slice()));
        assert_eq!(executed.receipts[1].cumulative_gas_used(), 21_000);
        assert_eq!(block.header.gas_used, 21_000);
        let imported = execute_block(
            spec.clone(),
            spec.genesis_header(),
            genesis_state(&spec)(),
            block.clone(),
        )
        .unwrap();
        assert_eq!(imported.block.hash, block.hash);
        assert_eq!(imported.state.root(), executed.state.root());
    }

    /// Import refuses a Prague1 block whose PoL transaction is missing, extra, misplaced or wrong,
    /// or whose header names no or another proposer (each re-sealed with matching roots, so the
    /// PoL rule is what fails).
    #[test]
    fn import_refuses_blocks_that_break_the_pol_rules() {
        let spec = Arc::new(ChainSpec::from_genesis(devnet_genesis(30_000_000)).unwrap());
        let mut b = on_genesis(&spec)();
        for nonce in 0..2 {
            let tx = transfer(&spec, 0, nonce, Address::repeat_byte(1));
            assert!(matches!(b.execute(tx), TxOutcome::Included { .. }));
        }
        let good = b.finish().unwrap().block;
        let import = |block: SealedBlock| {
            execute_block(
                spec.clone(),
                spec.genesis_header(),
                genesis_state(&spec)(),
                block,
            )
            .map(|_| ())
            .unwrap_err()
            .to_string()
        };
        type Tamper<'a> = dyn Fn(&mut Header, &mut Vec<BlockTransaction>, &mut Vec<Address>) + 'a;
        let tampered = |f: &Tamper<'_>| {
            let (mut header, mut body, mut senders) =
                (good.header.clone(), good.body.clone(), good.senders.clone());
            f(&mut header, &mut body.transactions, &mut senders);
            header.transactions_root = calculate_transaction_root(&body.transactions);
            SealedBlock::new(header, body, senders)
        };
        let pol = good.body.transactions[0].clone();
        let other_key = PolTx::new(
            spec.chain_id(),
            crate::devnet::POL_DISTRIBUTOR,
            1,
            good.header.base_fee_per_gas.unwrap(),
            &[7; 48],
        );
        let cases: Vec<(&str, SealedBlock)> = vec![
            (
                "missing PoL transaction",
                tampered(&|_, txs, s| {
                    txs.remove(0);
                    s.remove(0);
                }),
            ),
            (
                "PoL transaction out of place",
                tampered(&|_, txs, s| {
                    txs.push(pol.clone());
                    s.push(alloy_eips::eip4788::SYSTEM_ADDRESS);
                }),
            ),
            (
                "missing PoL transaction",
                tampered(&|_, txs, s| {
                    txs.swap(0, 1);
                    s.swap(0, 1);
                }),
            ),
            (
                "is not the expected",
                tampered(&|_, txs, _| txs[0] = other_key.clone().into()),
            ),
            (
                "is not the expected",
                tampered(&|h, _, _| h.prev_proposer_pubkey = Some(BlsPublicKey::repeat_byte(9))),
            ),
            (
                "missing prev_proposer_pubkey",
                tampered(&|h, _, _| h.prev_proposer_pubkey = None),
            ),
        ];
        for (why, block) in cases {
            let error = import(block);
            assert!(error.contains(why), "expected {why:?}, got {error:?}");
        }
    }

    /// With nothing at the block's end (no withdrawals, no requests), the preconfirmed header of
    /// the complete block is the sealed block's header: same roots, same hash.
    #[test]
    fn partial_header_of_a_complete_block_is_the_sealed_header() {
        let spec = Arc::new(ChainSpec::from_genesis(devnet_genesis(30_000_000)).unwrap());
        let mut b = on_genesis(&spec)();
        let (state, _) = b.pending_state();
        let empty = b.partial_header(&state).unwrap();
        // Prague1: the block starts with the PoL transaction.
        assert_eq!(b.transactions().len(), 1);
        assert!(b.transactions()[0].as_pol().is_some());
        assert_eq!(
            empty.transactions_root,
            calculate_transaction_root(b.transactions())
        );
        for nonce in 0..3 {
            let tx = transfer(&spec, 0, nonce, Address::repeat_byte(1));
            assert!(matches!(b.execute(tx), TxOutcome::Included { .. }));
        }
        let (state, _) = b.pending_state();
        let partial = b.partial_header(&state).unwrap();
        assert_ne!(partial.transactions_root, empty.transactions_root);
        let sealed = b.finish().unwrap().block;
        assert_eq!(partial, sealed.header);
        assert_eq!(partial.hash_slow(), sealed.hash);
    }

    /// The pending state built flashblock by flashblock equals the one built in one go.
    #[test]
    fn incremental_pending_state_matches_a_single_pass() {
        let spec = Arc::new(ChainSpec::from_genesis(devnet_genesis(30_000_000)).unwrap());
        let builder = on_genesis(&spec);
        // Three "flashblocks": the same senders and recipients recur across them.
        let slices = [
            vec![transfer(&spec, 0, 0, Address::repeat_byte(1))],
            vec![
                transfer(&spec, 1, 0, Address::repeat_byte(1)),
                transfer(&spec, 0, 1, Address::repeat_byte(2)),
            ],
            vec![transfer(&spec, 2, 0, dev_signer(0).address())],
        ];
        let mut stepwise = builder();
        let mut roots = Vec::new();
        for slice in &slices {
            for tx in slice {
                assert!(matches!(
                    stepwise.execute(tx.clone()),
                    TxOutcome::Included { .. }
                ));
            }
            roots.push(stepwise.pending_state().0.root());
        }
        let mut once = builder();
        for tx in slices.iter().flatten() {
            assert!(matches!(
                once.execute(tx.clone()),
                TxOutcome::Included { .. }
            ));
        }
        let single = once.pending_state().0;
        assert_eq!(roots.last(), Some(&single.root()));
        assert_ne!(roots[0], roots[1], "each slice changes the state");
        let account = single.account(&Address::repeat_byte(1)).unwrap();
        assert_eq!(account.balance, U256::from(2000));
    }
}
