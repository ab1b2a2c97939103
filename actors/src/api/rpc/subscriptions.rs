//! `eth_subscribe` over WebSocket: `newHeads`, `logs` (with a filter),
//! `newPendingTransactions` (hashes, or whole transactions with `true`), and for preconfirmations `newFlashblocks` (every applied flashblock,
//! as streamed by the sequencer) and `pendingLogs` (logs of newly preconfirmed transactions, with
//! a filter). A subscriber that cannot keep up is disconnected rather than buffered without bound.

use super::{EthApi, convert};
use alloy_rpc_types_eth::{Filter, pubsub::SubscriptionKind};
use jsonrpsee::{
    PendingSubscriptionSink, RpcModule, SubscriptionMessage, SubscriptionSink,
    core::SubscriptionResult,
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

/// The logs of these receipts that match the filter, as subscription messages.
fn matching_logs(
    receipts: impl IntoIterator<Item = convert::RpcReceipt>,
    filter: &Filter,
) -> Vec<SubscriptionMessage> {
    receipts
        .into_iter()
        .flat_map(|r| {
            r.inner
                .logs()
                .iter()
                .filter(|l| filter.matches(&l.inner))
                .filter_map(msg)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Sends what `items` makes of each event until the subscriber leaves or falls behind by more
/// than the send timeout. Missed events (a lagging receiver) are skipped, not buffered.
async fn forward<T: Clone>(
    sink: SubscriptionSink,
    mut events: broadcast::Receiver<T>,
    mut items: impl FnMut(T) -> Vec<SubscriptionMessage>,
) {
    loop {
        tokio::select! {
            _ = sink.closed() => return,
            ev = events.recv() => match ev {
                Ok(v) => {
                    for m in items(v) {
                        if sink.send_timeout(m, SEND_TIMEOUT).await.is_err() {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

pub(crate) fn module(
    api: EthApi,
) -> Result<RpcModule<EthApi>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::new(api);
    m.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        subscribe,
    )?;
    Ok(m)
}

async fn subscribe(
    params: jsonrpsee::types::Params<'static>,
    pending: PendingSubscriptionSink,
    api: Arc<EthApi>,
    _: jsonrpsee::Extensions,
) -> SubscriptionResult {
    let mut seq = params.sequence();
    let kind: serde_json::Value = match seq.next() {
        Ok(k) => k,
        Err(e) => {
            pending.reject(e).await;
            return Ok(());
        }
    };
    // The second parameter: a log filter, or `true` for full transactions on
    // `newPendingTransactions` (as geth takes it).
    let option: Option<serde_json::Value> = seq.optional_next().unwrap_or(None);
    let full_transactions = option.as_ref().and_then(|v| v.as_bool()) == Some(true);
    let filter: Option<Filter> = option.and_then(|v| serde_json::from_value(v).ok());
    match kind.as_str() {
        Some("newFlashblocks") => {
            let sink = pending.accept().await?;
            forward(sink, api.pending.subscribe(), |u| {
                msg(&*u.flashblock).into_iter().collect()
            })
            .await;
            return Ok(());
        }
        Some("pendingLogs") => {
            let filter = filter.unwrap_or_default();
            let sink = pending.accept().await?;
            let spec = api.chain.reader.spec.clone();
            forward(sink, api.pending.subscribe(), |u| {
                let b = &u.block;
                matching_logs(
                    (u.first_new..b.receipts.len())
                        .filter_map(|i| convert::rpc_receipt(&spec, &b.block, &b.receipts, i)),
                    &filter,
                )
            })
            .await;
            return Ok(());
        }
        _ => {}
    }
    let kind: SubscriptionKind = match serde_json::from_value(kind) {
        Ok(k) => k,
        Err(e) => {
            pending
                .reject(jsonrpsee::types::ErrorObjectOwned::owned(
                    -32602,
                    format!("unknown subscription: {e}"),
                    None::<()>,
                ))
                .await;
            return Ok(());
        }
    };
    match kind {
        SubscriptionKind::NewHeads => {
            let sink = pending.accept().await?;
            forward(sink, api.chain.reader.subscribe(), |h| {
                msg(&convert::rpc_block(&h.block, false).header)
                    .into_iter()
                    .collect()
            })
            .await;
        }
        SubscriptionKind::Logs => {
            let filter = filter.unwrap_or_default();
            let sink = pending.accept().await?;
            let spec = api.chain.reader.spec.clone();
            forward(sink, api.chain.reader.subscribe(), |h| {
                matching_logs(convert::rpc_receipts(&spec, &h.block, &h.receipts), &filter)
            })
            .await;
        }
        SubscriptionKind::NewPendingTransactions if full_transactions => {
            let sink = pending.accept().await?;
            let mut hashes = api.new_txs.subscribe();
            loop {
                let hash = tokio::select! {
                    _ = sink.closed() => break,
                    ev = hashes.recv() => match ev {
                        Ok(h) => h,
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                };
                // A transaction already gone from the pool (included, replaced) is skipped.
                let Ok(Some(tx)) = api.mempool.get(hash).await else {
                    continue;
                };
                let Some(m) = msg(&convert::rpc_pooled_tx(&tx)) else {
                    continue;
                };
                if sink.send_timeout(m, SEND_TIMEOUT).await.is_err() {
                    break;
                }
            }
        }
        SubscriptionKind::NewPendingTransactions => {
            let sink = pending.accept().await?;
            forward(sink, api.new_txs.subscribe(), |h| {
                msg(&h).into_iter().collect()
            })
            .await;
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
