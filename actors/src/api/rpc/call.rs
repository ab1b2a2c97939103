//! `eth_call`, `eth_estimateGas` and `eth_createAccessList`: a transaction request executed on the
//! state of a block without committing anything.

use super::{EthApi, RpcErr, RpcResult};
use crate::chain::SealedHeader;
use alloy_evm::{Evm, EvmFactory, eth::EthEvmFactory, rpc::TryIntoTxEnv};
use alloy_primitives::{B256, Bytes, U256};
use alloy_rpc_types_eth::{AccessList, AccessListItem, AccessListResult, TransactionRequest};
use preconf_core::{
    execution::evm_env,
    state::{EvmDatabase, StateProvider},
};
use revm::{
    context::TxEnv,
    context_interface::result::{ExecutionResult, HaltReason, ResultAndState},
    database::WrapDatabaseRef,
};
use std::sync::Arc;

type Db = WrapDatabaseRef<EvmDatabase<Arc<dyn StateProvider>>>;

fn prepare(
    api: &EthApi,
    header: &SealedHeader,
    req: &TransactionRequest,
) -> RpcResult<(alloy_evm::EvmEnv, TxEnv)> {
    let spec = &api.chain.reader.spec;
    let mut env = evm_env(spec, &header.header);
    env.cfg_env.disable_nonce_check = true;
    env.cfg_env.disable_eip3607 = true;
    env.cfg_env.disable_block_gas_limit = true;
    // A call is not a transaction: as geth, EIP-7825's per-transaction cap does not bound it
    // (an estimate does, below).
    env.cfg_env.tx_gas_limit_cap = Some(u64::MAX);
    let priced = req.gas_price.is_some()
        || req.max_fee_per_gas.is_some()
        || req.max_priority_fee_per_gas.is_some();
    if !priced {
        // As geth does: an unpriced call runs with a zero base fee (BASEFEE reads 0).
        env.cfg_env.disable_base_fee = true;
        env.block_env.basefee = 0;
    }
    let mut req = req.clone();
    let cap = api.gas_cap.min(env.block_env.gas_limit.max(api.gas_cap));
    req.gas = Some(req.gas.unwrap_or(header.header.gas_limit).min(cap));
    let tx = req
        .try_into_tx_env(&env)
        .map_err(|e| RpcErr::Server(e.to_string()))?;
    Ok((env, tx))
}

fn run(
    env: alloy_evm::EvmEnv,
    tx: TxEnv,
    state: Arc<dyn StateProvider>,
) -> RpcResult<ResultAndState> {
    let db: Db = WrapDatabaseRef(EvmDatabase(state));
    let mut evm = EthEvmFactory::default().create_evm(db, env);
    evm.transact(tx).map_err(|e| RpcErr::Server(e.to_string()))
}

fn output(result: ExecutionResult) -> RpcResult<Bytes> {
    match result {
        ExecutionResult::Success { output, .. } => Ok(output.into_data()),
        ExecutionResult::Revert { output, .. } => Err(RpcErr::revert(output)),
        ExecutionResult::Halt { reason, .. } => Err(RpcErr::Server(halt_message(&reason))),
    }
}

/// geth's text for an execution that stopped exceptionally (what tools match on), revm's for
/// the few halts geth has no name for.
fn halt_message(reason: &HaltReason) -> String {
    match reason {
        HaltReason::OutOfGas(_) => "out of gas",
        HaltReason::OpcodeNotFound | HaltReason::InvalidFEOpcode | HaltReason::NotActivated => {
            "invalid opcode"
        }
        HaltReason::InvalidJump => "invalid jump destination",
        HaltReason::StackUnderflow => "stack underflow",
        HaltReason::StackOverflow => "stack limit reached 1024 (1023)",
        HaltReason::OutOfOffset => "return data out of bounds",
        HaltReason::CreateCollision => "contract address collision",
        HaltReason::NonceOverflow => "nonce uint64 overflow",
        HaltReason::CreateContractSizeLimit => "max code size exceeded",
        HaltReason::CreateContractStartingWithEF => "invalid code: must not begin with 0xef",
        HaltReason::CreateInitCodeSizeLimit => "max initcode size exceeded",
        HaltReason::StateChangeDuringStaticCall | HaltReason::CallNotAllowedInsideStatic => {
            "write protection"
        }
        HaltReason::OutOfFunds => "insufficient balance for transfer",
        HaltReason::CallTooDeep => "max call depth exceeded",
        other => return other.to_string(),
    }
    .to_string()
}

/// `eth_call`.
pub(crate) fn call(
    api: &EthApi,
    header: &SealedHeader,
    state: Arc<dyn StateProvider>,
    req: TransactionRequest,
) -> RpcResult<Bytes> {
    let (env, tx) = prepare(api, header, &req)?;
    output(run(env, tx, state)?.result)
}

/// `eth_estimateGas`, with geth's search so tools see the same figures: run at the cap, try an
/// optimistic limit just above the gas used, then bisect (skewed low) until within 1.5%.
pub(crate) fn estimate_gas(
    api: &EthApi,
    header: &SealedHeader,
    state: Arc<dyn StateProvider>,
    req: TransactionRequest,
) -> RpcResult<u64> {
    const TX_GAS: u64 = 21_000;
    const CALL_STIPEND: u64 = 2_300;
    const ERROR_RATIO: f64 = 0.015;
    let (env, tx) = prepare(api, header, &req)?;
    let mut hi = if req.gas.is_some_and(|g| g >= TX_GAS) {
        tx.gas_limit
    } else {
        header.header.gas_limit.min(api.gas_cap)
    };
    // From Osaka no transaction may ask for more than 2^24 gas (EIP-7825): neither may an
    // estimate.
    if let Some(cap) = api
        .chain
        .reader
        .spec
        .tx_gas_limit_cap(header.header.timestamp)
    {
        hi = hi.min(cap);
    }
    // Never search above what the sender can pay for.
    if tx.gas_price > 0 {
        let balance = state
            .account(&tx.caller)?
            .map(|a| a.balance)
            .unwrap_or_default();
        let available = balance
            .checked_sub(tx.value)
            .ok_or_else(|| RpcErr::Server("insufficient funds for transfer".into()))?;
        hi = hi.min((available / U256::from(tx.gas_price)).saturating_to());
    }
    let run_at = |gas: u64| -> RpcResult<ExecutionResult> {
        let mut t = tx.clone();
        t.gas_limit = gas;
        Ok(run(env.clone(), t, state.clone())?.result)
    };
    // Plain transfers to an account without code: try exactly 21000.
    if tx.data.is_empty()
        && let Some(to) = tx.kind.to()
    {
        let code = state
            .account(to)?
            .map(|a| a.code_hash)
            .unwrap_or(alloy_consensus::constants::KECCAK_EMPTY);
        if code == alloy_consensus::constants::KECCAK_EMPTY
            && run_at(TX_GAS).is_ok_and(|r| r.is_success())
        {
            return Ok(TX_GAS);
        }
    }
    let first = run_at(hi)?;
    if !first.is_success() {
        return match first {
            ExecutionResult::Revert { output, .. } => Err(RpcErr::revert(output)),
            _ => Err(RpcErr::Server(format!(
                "gas required exceeds allowance ({hi})"
            ))),
        };
    }
    let used = first.gas().tx_gas_used();
    let refunded = first.gas().inner_refunded();
    let mut lo = used.saturating_sub(1);
    let optimistic = (used + refunded + CALL_STIPEND) * 64 / 63;
    if optimistic < hi && run_at(optimistic)?.is_success() {
        hi = optimistic;
    }
    while lo + 1 < hi {
        if ((hi - lo) as f64 / hi as f64) < ERROR_RATIO {
            break;
        }
        let mid = ((hi + lo) / 2).min(lo.saturating_mul(2));
        if run_at(mid)?.is_success() {
            hi = mid
        } else {
            lo = mid
        }
    }
    Ok(hi)
}

/// `eth_createAccessList`: the accounts and slots the request touches (excluding the sender, the
/// recipient when it has no slots, and precompiles), and the gas used with that list.
pub(crate) fn create_access_list(
    api: &EthApi,
    header: &SealedHeader,
    state: Arc<dyn StateProvider>,
    req: TransactionRequest,
) -> RpcResult<AccessListResult> {
    let (env, tx) = prepare(api, header, &req)?;
    let from = tx.caller;
    let to = tx.kind.to().copied();
    let precompiles = revm::precompile::Precompiles::new(
        revm::precompile::PrecompileSpecId::from_spec_id(env.cfg_env.spec),
    );
    let beneficiary = env.block_env.beneficiary;
    let mut list = AccessList::default();
    let mut gas_used = 0;
    let mut error = None;
    // Re-run with the list until it stops changing (adding a list can change the path taken).
    let mut tx = tx;
    if tx.tx_type == 0 {
        // revm ignores a legacy transaction's access list; as in geth, the list applies to the
        // message whatever its fee fields (an EIP-2930 transaction).
        tx.tx_type = 1;
        tx.chain_id = tx.chain_id.or(Some(env.cfg_env.chain_id));
    }
    for _ in 0..3 {
        let mut t = tx.clone();
        t.access_list = list.clone();
        let out = run(env.clone(), t, state.clone())?;
        gas_used = out.result.gas().tx_gas_used();
        error = match &out.result {
            ExecutionResult::Success { .. } => None,
            ExecutionResult::Revert { output, .. } => {
                Some(RpcErr::revert(output.clone()).to_string())
            }
            ExecutionResult::Halt { reason, .. } => Some(halt_message(reason)),
        };
        let mut items: Vec<AccessListItem> = Vec::new();
        for (addr, acc) in &out.state {
            let mut keys: Vec<B256> = acc.storage.keys().map(|k| B256::from(*k)).collect();
            keys.sort();
            let excluded = *addr == from
                || Some(*addr) == to
                || *addr == beneficiary
                || precompiles.contains(addr);
            if excluded && keys.is_empty() {
                continue;
            }
            if *addr == from {
                continue;
            }
            items.push(AccessListItem {
                address: *addr,
                storage_keys: keys,
            });
        }
        items.sort_by_key(|i| i.address);
        let next = AccessList(items);
        if next == list {
            break;
        }
        list = next;
    }
    Ok(AccessListResult {
        access_list: list,
        gas_used: U256::from(gas_used),
        error,
    })
}
