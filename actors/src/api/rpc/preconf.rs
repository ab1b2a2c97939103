//! Preconfirmation methods: receipts from the pending block, `eth_sendRawTransactionSync`
//! (EIP-7966), `preconf_newPartialBlock` (pushed flashblocks), and forwarding raw transactions to
//! the sequencer.

use super::{EthApi, RpcErr, RpcResult, convert};
use crate::{metrics as m, overlay::SubmitError, sequencer::FlashblockText};
use alloy_primitives::{B256, Bytes, U64};
use alloy_rpc_types_eth::TransactionReceipt;
use jsonrpsee::core::async_trait;
use jsonrpsee::{
    core::{ClientError, client::ClientT},
    http_client::{HttpClient, HttpClientBuilder},
    proc_macros::rpc,
    rpc_params,
};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tracing::debug;

/// The longest `eth_sendRawTransactionSync` wait a caller may ask for.
pub const MAX_SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends raw transactions on to the sequencer (an rpc node's `--sequencer.http`).
#[derive(Debug, Clone)]
pub(crate) struct Forwarder {
    clients: Vec<HttpClient>,
}

impl Forwarder {
    /// A forwarder to every URL, or `None` without any.
    pub(crate) fn new(urls: &[String]) -> Result<Option<Self>, jsonrpsee::core::ClientError> {
        if urls.is_empty() {
            return Ok(None);
        }
        let clients = urls
            .iter()
            .map(|url| {
                HttpClientBuilder::default()
                    .request_timeout(Duration::from_secs(5))
                    .build(url)
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(Self { clients }))
    }

    /// Forwards to every node in the background; failures are logged and counted (an `already
    /// known` answer is not a failure).
    pub(crate) fn forward(&self, raw: Bytes) {
        for client in &self.clients {
            forward_one(client.clone(), raw.clone());
        }
    }
}

/// Sends one transaction to one node, in the background.
fn forward_one(client: HttpClient, raw: Bytes) {
    tokio::spawn(async move {
        let sent: Result<B256, _> = client
            .request("eth_sendRawTransaction", rpc_params![raw])
            .await;
        match sent {
            Ok(_) => {}
            // The node has it already (geth's message for a known transaction).
            Err(ClientError::Call(e)) if e.message() == "already known" => {}
            Err(e) => {
                metrics::counter!(m::RPC_FORWARD_ERRORS).increment(1);
                debug!(target: "rpc", error = %e, "forwarding a transaction failed");
            }
        }
    });
}

/// Preconfirmation methods.
#[rpc(server)]
pub trait PreconfApi {
    /// EIP-7966: submits a raw transaction and returns its first receipt (preconfirmed or
    /// canonical); the optional timeout is in milliseconds (a number or a hex quantity).
    #[method(name = "eth_sendRawTransactionSync")]
    async fn send_raw_transaction_sync(
        &self,
        raw: Bytes,
        timeout_ms: Option<serde_json::Value>,
    ) -> RpcResult<TransactionReceipt>;
    /// A flashblock pushed by the sequencer (BRIP-0007), verified and applied by the overlay.
    #[method(name = "preconf_newPartialBlock")]
    async fn new_partial_block(&self, flashblock: serde_json::Value) -> RpcResult<bool>;
}

#[async_trait]
impl PreconfApiServer for EthApi {
    async fn send_raw_transaction_sync(
        &self,
        raw: Bytes,
        timeout_ms: Option<serde_json::Value>,
    ) -> RpcResult<TransactionReceipt> {
        let timeout_ms = match timeout_ms {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(v) => serde_json::from_value::<U64>(v).ok().map(|n| n.to::<u64>()),
        };
        self.send_raw_sync(raw, timeout_ms).await
    }

    async fn new_partial_block(&self, flashblock: serde_json::Value) -> RpcResult<bool> {
        let overlay = self.overlay.as_ref().ok_or_else(|| {
            RpcErr::Server("this node does not serve preconfirmations (no rpc role)".into())
        })?;
        let text = FlashblockText::from(flashblock.to_string());
        overlay.submit(text).await.map_err(|e| match e {
            SubmitError::Rejected(_) => RpcErr::InvalidParams(e.to_string()),
            SubmitError::Unavailable(e) => e.into(),
        })?;
        Ok(true)
    }
}

impl EthApi {
    /// The receipt of a transaction: canonical first, then preconfirmed.
    pub(crate) fn find_receipt(&self, hash: &B256) -> RpcResult<Option<TransactionReceipt>> {
        let r = &self.chain.reader;
        if let Some(loc) = r.store.tx_location(hash)?
            && let Some(b) = r.block_shared(&loc.block_hash)?
        {
            let receipts = r.store.receipts(&b.hash)?.unwrap_or_default();
            return Ok(convert::rpc_receipt(
                &r.spec,
                &b,
                &receipts,
                loc.index as usize,
            ));
        }
        Ok(self.current_pending().and_then(|p| {
            let i = p.position(hash)?;
            convert::rpc_receipt(&r.spec, &p.block, &p.receipts, i)
        }))
    }

    /// `eth_sendRawTransactionSync`: submits, then waits for the first receipt (preconfirmed or
    /// canonical). Both event streams are subscribed before the transaction is submitted, so a
    /// receipt that appears while the call is in flight is never missed.
    pub(crate) async fn send_raw_sync(
        &self,
        raw: Bytes,
        timeout_ms: Option<u64>,
    ) -> RpcResult<TransactionReceipt> {
        let (default, max) = self.send_sync_timeout;
        let timeout = match timeout_ms.map(Duration::from_millis) {
            Some(t) if !t.is_zero() && t <= max => t,
            _ => default,
        };
        let deadline = Instant::now() + timeout;
        let mut flashblocks = self.pending.subscribe();
        let mut heads = self.chain.reader.subscribe();
        let (hash, sender, nonce) = self.submit_raw_with_sender(&raw).await?;
        if let Some(r) = self.find_receipt(&hash)? {
            return Ok(r);
        }
        let next = self.mempool.next_nonce(sender).await?;
        let (_, state) = self.state_for(Some(alloy_eips::BlockId::pending()))?;
        let state_nonce = state.account(&sender)?.map(|a| a.nonce).unwrap_or_default();
        if nonce > state_nonce && next.is_none_or(|n| nonce >= n) {
            return Err(RpcErr::NotReady {
                message: format!(
                    "transaction added to the pool but cannot execute yet: nonce {nonce}, account nonce {state_nonce}"
                ),
                hash,
            });
        }
        let mut flashblocks_open = true;
        let mut heads_open = true;
        loop {
            tokio::select! {
                ev = flashblocks.recv(), if flashblocks_open => match ev {
                    Ok(u) => {
                        if let Some(i) = u.block.position(&hash) {
                            return convert::rpc_receipt(&self.chain.reader.spec, &u.block.block, &u.block.receipts, i)
                                .ok_or_else(|| RpcErr::Internal("pending receipt missing".into()));
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        if let Some(r) = self.find_receipt(&hash)? {
                            return Ok(r);
                        }
                    }
                    Err(RecvError::Closed) => flashblocks_open = false,
                },
                ev = heads.recv(), if heads_open => match ev {
                    Ok(h) => {
                        if let Some(i) = h.block.body.transactions.iter().position(|t| *t.tx_hash() == hash) {
                            return convert::rpc_receipt(&self.chain.reader.spec, &h.block, &h.receipts, i)
                                .ok_or_else(|| RpcErr::Internal("receipt missing".into()));
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        if let Some(r) = self.find_receipt(&hash)? {
                            return Ok(r);
                        }
                    }
                    Err(RecvError::Closed) => heads_open = false,
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    metrics::counter!(m::RPC_SYNC_TIMEOUTS).increment(1);
                    return Err(RpcErr::SyncTimeout {
                        message: format!(
                            "the transaction was added to the pool but was not processed within {} ms",
                            timeout.as_millis()
                        ),
                        hash,
                    });
                }
            }
        }
    }
}
