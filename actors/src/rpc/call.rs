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
    context_interface::result::{ExecutionResult, ResultAndState},
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
    let priced = req.gas_price.is_some()
        || req.max_fee_per_gas.is_some()
        || req.max_priority_fee_per_gas.is_some();
    if !priced {
        env.cfg_env.disable_base_fee = true;
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
        ExecutionResult::Halt { reason, .. } => {
            Err(RpcErr::Server(format!("execution halted: {reason:?}")))
        }
    }
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

/// `eth_estimateGas`: the smallest gas limit with which the request succeeds (binary search).
pub(crate) fn estimate_gas(
    api: &EthApi,
    header: &SealedHeader,
    state: Arc<dyn StateProvider>,
    req: TransactionRequest,
) -> RpcResult<u64> {
    let (env, mut tx) = prepare(api, header, &req)?;
    // Never search above what the sender can pay for.
    if tx.gas_price > 0 {
        let balance = state
            .account(&tx.caller)?
            .map(|a| a.balance)
            .unwrap_or_default();
        let available = balance.saturating_sub(tx.value) / U256::from(tx.gas_price);
        tx.gas_limit = tx.gas_limit.min(available.saturating_to());
    }
    let mut hi = tx.gas_limit;
    let first = run(env.clone(), tx.clone(), state.clone())?.result;
    let used = match &first {
        ExecutionResult::Success { .. } => first.gas().tx_gas_used(),
        _ => {
            output(first)?;
            unreachable!("output() errors on failure")
        }
    };
    // Plain transfers need exactly what they used.
    if used == 21_000 && tx.data.is_empty() {
        return Ok(used);
    }
    let mut lo = used.saturating_sub(1);
    // Try a little above the used gas first: most calls succeed there, which shortens the search.
    let optimistic = (used + used / 63 + 2300).min(hi);
    let ok = |gas: u64| -> RpcResult<bool> {
        let mut t = tx.clone();
        t.gas_limit = gas;
        Ok(match run(env.clone(), t, state.clone()) {
            Ok(r) => r.result.is_success(),
            Err(_) => false,
        })
    };
    if ok(optimistic)? {
        hi = optimistic;
    } else {
        lo = optimistic;
    }
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if ok(mid)? { hi = mid } else { lo = mid }
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
            ExecutionResult::Halt { reason, .. } => Some(format!("{reason:?}")),
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
