//! `eth_subscribe` over WebSocket: `newHeads`, `logs` (with a filter) and
//! `newPendingTransactions`. A subscriber that cannot keep up is disconnected rather than
//! buffered without bound.

use super::{EthApi, convert};
use alloy_rpc_types_eth::{Filter, pubsub::SubscriptionKind};
use jsonrpsee::{
    PendingSubscriptionSink, RpcModule, SubscriptionMessage, core::SubscriptionResult,
};
use serde::Serialize;
use std::{sync::Arc, time::Duration};
use tokio::sync::broadcast;

const SEND_TIMEOUT: Duration = Duration::from_secs(5);

fn msg(v: &impl Serialize) -> Option<SubscriptionMessage> {
    serde_json::value::to_raw_value(v)
        .ok()
        .map(SubscriptionMessage::from)
}

pub(crate) fn register(
    m: &mut RpcModule<EthApi>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        subscribe,
    )?;
    Ok(())
}

async fn subscribe(
    params: jsonrpsee::types::Params<'static>,
    pending: PendingSubscriptionSink,
    api: Arc<EthApi>,
    _: jsonrpsee::Extensions,
) -> SubscriptionResult {
    let mut seq = params.sequence();
    let kind: SubscriptionKind = match seq.next() {
        Ok(k) => k,
        Err(e) => {
            pending.reject(e).await;
            return Ok(());
        }
    };
    let filter: Option<Filter> = seq.optional_next().unwrap_or(None);
    match kind {
        SubscriptionKind::NewHeads => {
            let sink = pending.accept().await?;
            let mut heads = api.chain.reader.subscribe();
            loop {
                tokio::select! {
                    _ = sink.closed() => break,
                    ev = heads.recv() => match ev {
                        Ok(h) => {
                            let block = convert::rpc_block(&h.block, false);
                            if let Some(m) = msg(&block.header)
                                && sink.send_timeout(m, SEND_TIMEOUT).await.is_err() { break }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    }
                }
            }
        }
        SubscriptionKind::Logs => {
            let filter = filter.unwrap_or_default();
            let sink = pending.accept().await?;
            let mut heads = api.chain.reader.subscribe();
            loop {
                tokio::select! {
                    _ = sink.closed() => break,
                    ev = heads.recv() => match ev {
                        Ok(h) => {
                            for r in convert::rpc_receipts(&api.chain.reader.spec, &h.block, &h.receipts) {
                                for log in r.inner.logs() {
                                    if filter.matches(&log.inner)
                                        && let Some(m) = msg(log)
                                            && sink.send_timeout(m, SEND_TIMEOUT).await.is_err() { return Ok(()) }
                                }
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    }
                }
            }
        }
        SubscriptionKind::NewPendingTransactions => {
            let sink = pending.accept().await?;
            let mut txs = api.new_txs.subscribe();
            loop {
                tokio::select! {
                    _ = sink.closed() => break,
                    ev = txs.recv() => match ev {
                        Ok(h) => {
                            if let Some(m) = msg(&h)
                                && sink.send_timeout(m, SEND_TIMEOUT).await.is_err() { break }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    }
                }
            }
        }
        other => {
            let msg = format!("{other:?} subscriptions are not supported");
            pending
                .reject(jsonrpsee::types::ErrorObjectOwned::owned(
                    -32602, msg, None::<()>,
                ))
                .await;
        }
    }
    Ok(())
}
