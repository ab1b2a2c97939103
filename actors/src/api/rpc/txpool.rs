//! `txpool_status` and `txpool_content`, as geth answers them.

use super::convert::RpcTransaction as Transaction;
use super::{EthApi, RpcResult, convert};
use alloy_primitives::{Address, U64, map::HashMap};
use jsonrpsee::{core::async_trait, proc_macros::rpc};
use preconf_core::txpool::PooledTx;
use serde_json::{Value, json};
use std::{collections::BTreeMap, sync::Arc};

/// Pool inspection.
#[rpc(server, namespace = "txpool")]
pub trait TxpoolApi {
    /// Numbers of pending and queued transactions.
    #[method(name = "status")]
    async fn status(&self) -> RpcResult<Value>;
    /// Pending and queued transactions by sender and nonce.
    #[method(name = "content")]
    async fn content(&self) -> RpcResult<Value>;
}

#[async_trait]
impl TxpoolApiServer for EthApi {
    async fn status(&self) -> RpcResult<Value> {
        let (pending, queued) = self.mempool.content().await?;
        Ok(json!({ "pending": U64::from(pending.len()), "queued": U64::from(queued.len()) }))
    }

    async fn content(&self) -> RpcResult<Value> {
        let (pending, queued) = self.mempool.content().await?;
        Ok(json!({ "pending": by_sender(pending), "queued": by_sender(queued) }))
    }
}

fn by_sender(txs: Vec<Arc<PooledTx>>) -> HashMap<Address, BTreeMap<String, Transaction>> {
    let mut out: HashMap<Address, BTreeMap<String, Transaction>> = HashMap::default();
    for t in txs {
        out.entry(t.sender())
            .or_default()
            .insert(t.nonce().to_string(), convert::rpc_pooled_tx(&t));
    }
    out
}
