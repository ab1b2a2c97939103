//! Preconfirmation methods: receipts from the pending block, `eth_sendRawTransactionSync`
//! (EIP-7966), whether a preconfirmation held (`preconf_getPreconfirmationStatus`), proof of a
//! sequencer's equivocation (`preconf_getEquivocationEvidence`), `preconf_newPartialBlock`
//! (pushed flashblocks; Engine API port only), and forwarding raw transactions to the sequencer.

use super::convert::RpcReceipt as TransactionReceipt;
use super::{EthApi, RpcErr, RpcResult, convert};
use crate::{
    metrics as m,
    overlay::{Evidence, SubmitError, pending::Promise},
    sequencer::FlashblockText,
};
use alloy_primitives::{Address, B256, Bytes, U64};
use jsonrpsee::core::async_trait;
use jsonrpsee::{
    core::{ClientError, client::ClientT},
    http_client::{HttpClient, HttpClientBuilder},
    proc_macros::rpc,
    rpc_params,
};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, warn};

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

/// Waits before each new attempt to forward a transaction the node refused or did not answer.
/// The sequencer judges a transaction on its own preconfirmed state, which can be a flashblock
/// behind this node's (a fresh account funded by a preconfirmed transfer is then "insufficient
/// funds" there for a moment); giving up at once left the transaction in this node's pool only,
/// where nothing would ever include it.
const FORWARD_RETRY_DELAYS_MS: [u64; 6] = [50, 100, 200, 400, 800, 1600];

/// Sends one transaction to one node, in the background, trying again (for about 3 s) while the
/// node refuses it for a reason that can pass.
fn forward_one(client: HttpClient, raw: Bytes) {
    tokio::spawn(async move {
        let mut delays = FORWARD_RETRY_DELAYS_MS.iter();
        loop {
            let sent: Result<B256, _> = client
                .request("eth_sendRawTransaction", rpc_params![raw.clone()])
                .await;
            let error = match sent {
                Ok(_) => return,
                // The node has it already, or a transaction with its nonce is in a block: done.
                Err(ClientError::Call(e))
                    if e.message() == "already known"
                        || e.message().starts_with("nonce too low") =>
                {
                    return;
                }
                Err(e) => e,
            };
            match delays.next() {
                Some(ms) => {
                    debug!(target: "rpc", error = %error, "forwarding a transaction failed; trying again");
                    tokio::time::sleep(Duration::from_millis(*ms)).await;
                }
                None => {
                    metrics::counter!(m::RPC_FORWARD_ERRORS).increment(1);
                    warn!(target: "rpc", error = %error, "forwarding a transaction failed: the sequencer does not have it");
                    return;
                }
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

    /// Whether the preconfirmation of a transaction held: `null` when this node knows nothing of
    /// it.
    #[method(name = "preconf_getPreconfirmationStatus")]
    async fn preconfirmation_status(&self, hash: B256) -> RpcResult<Option<PreconfStatus>>;

    /// Every proven equivocation of the sequencer kept here (the last 64), for one block or all:
    /// both signed flashblocks, each verifiable on its own.
    #[method(name = "preconf_getEquivocationEvidence")]
    async fn equivocation_evidence(&self, block: Option<U64>) -> RpcResult<Vec<Evidence>>;
}

/// Where a transaction ended up.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Inclusion {
    block_number: U64,
    block_hash: B256,
    transaction_index: U64,
}

/// `preconf_getPreconfirmationStatus`'s answer.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreconfStatus {
    /// `pending` (preconfirmed, its block not sealed yet), `honoured` (in its block at its
    /// position), `moved` (in another block or position, or back in the pool), `dropped` (in no
    /// block and not in the pool); for a transaction never preconfirmed here, `queued` (in the
    /// pool) or `included`.
    status: &'static str,
    /// Where and when it was preconfirmed.
    preconfirmed: Option<Promise>,
    /// Where it is in the chain.
    included: Option<Inclusion>,
    /// Why it was moved or dropped.
    reason: Option<String>,
}

/// `preconf_newPartialBlock` (BRIP-0007's push from the sequencer): served on the JWT-authenticated
/// Engine API port only, never on the public one.
#[rpc(server)]
pub trait PartialBlockApi {
    /// A flashblock pushed by the sequencer, verified and applied by the overlay.
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

    async fn preconfirmation_status(&self, hash: B256) -> RpcResult<Option<PreconfStatus>> {
        // The chain is read before the promise and the pool: a transaction moves from the pool
        // into a block, so it cannot be missed in both.
        let head = self.chain.reader.head().header.number;
        let included = self
            .chain
            .reader
            .store
            .tx_location(&hash)?
            .map(|loc| Inclusion {
                block_number: U64::from(loc.block_number),
                block_hash: loc.block_hash,
                transaction_index: U64::from(loc.index),
            });
        let promise = self.pending.promise(&hash);
        let pooled = included.is_none() && self.mempool.get(hash).await?.is_some();
        let (status, reason) = match (&promise, &included) {
            (Some(p), Some(i))
                if (p.block_number, p.transaction_index)
                    == (i.block_number, i.transaction_index) =>
            {
                ("honoured", None)
            }
            (Some(p), Some(i)) => (
                "moved",
                Some(format!(
                    "preconfirmed at position {} of block {}, included at position {} of block {}",
                    p.transaction_index, p.block_number, i.transaction_index, i.block_number
                )),
            ),
            (Some(p), None) if p.block_number.to::<u64>() > head => ("pending", None),
            (Some(p), None) if pooled => (
                "moved",
                Some(format!(
                    "not in block {}, where it was preconfirmed; still in the pool",
                    p.block_number
                )),
            ),
            (Some(p), None) => (
                "dropped",
                Some(format!(
                    "not in block {}, where it was preconfirmed, nor in any block since, nor in the pool",
                    p.block_number
                )),
            ),
            (None, Some(_)) => ("included", None),
            (None, None) if pooled => ("queued", None),
            (None, None) => return Ok(None),
        };
        Ok(Some(PreconfStatus {
            status,
            preconfirmed: promise,
            included,
            reason,
        }))
    }

    async fn equivocation_evidence(&self, block: Option<U64>) -> RpcResult<Vec<Evidence>> {
        Ok(self.pending.evidence.get(block.map(|b| b.to())))
    }
}

#[async_trait]
impl PartialBlockApiServer for EthApi {
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
    /// The receipt of a transaction, preconfirmed or sealed. Looked up in the order a
    /// transaction moves (preconfirmed, then sealed), so a block sealed between the two reads
    /// cannot hide it from both.
    pub(crate) fn find_receipt(&self, hash: &B256) -> RpcResult<Option<TransactionReceipt>> {
        let r = &self.chain.reader;
        if let Some(p) = self.current_pending()
            && let Some(i) = p.position(hash)
        {
            return Ok(convert::rpc_receipt(&r.spec, &p.block, &p.receipts, i));
        }
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
        Ok(None)
    }

    /// `eth_sendRawTransactionSync`: submits, then waits for the first receipt (preconfirmed or
    /// canonical).
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
        let watch = self.watch_receipts();
        let (hash, sender, nonce) = self.submit_raw_with_sender(&raw).await?;
        match self
            .first_receipt(watch, hash, sender, nonce, Instant::now() + timeout)
            .await?
        {
            Awaited::Receipt(r) => Ok(*r),
            Awaited::NotReady(state_nonce) => Err(RpcErr::NotReady {
                message: format!(
                    "transaction added to the pool but cannot execute yet: nonce {nonce}, account nonce {state_nonce}"
                ),
                hash,
            }),
            Awaited::TimedOut => {
                metrics::counter!(m::RPC_SYNC_TIMEOUTS).increment(1);
                Err(RpcErr::SyncTimeout {
                    message: format!(
                        "the transaction was added to the pool but was not processed within {} ms",
                        timeout.as_millis()
                    ),
                    hash,
                })
            }
        }
    }

    /// Subscriptions to what can hold a transaction's first receipt, taken before it is
    /// submitted so a receipt that appears while the call is in flight is never missed.
    pub(crate) fn watch_receipts(&self) -> ReceiptWatch {
        ReceiptWatch {
            flashblocks: self.pending.subscribe(),
            heads: self.chain.reader.subscribe(),
        }
    }

    /// With `--rpc.preconf-latest` and a live sequencer, the receipt watch under which a plain
    /// send waits for its transaction to be preconfirmed before it returns ([`SETTLE_WAIT`] at
    /// most): as on anvil, whose sends return once mined, the next read of `latest` (a nonce, a
    /// deployed contract's code, a receipt) already sees the transaction.
    pub(crate) fn settle_watch(&self) -> Option<ReceiptWatch> {
        (self.preconf_latest && self.pending.live(Duration::from_secs(1)))
            .then(|| self.watch_receipts())
    }

    /// Waits (see [`settle_watch`](Self::settle_watch)) until a submitted transaction is
    /// preconfirmed, cannot execute yet, or [`SETTLE_WAIT`] has passed. A send that returns
    /// before its preconfirmation is counted: one that timed out, and one that did not wait
    /// because no flashblock came for a second (no watch).
    pub(crate) async fn settle(
        &self,
        watch: Option<ReceiptWatch>,
        hash: B256,
        sender: Address,
        nonce: u64,
    ) {
        let Some(watch) = watch else {
            if self.preconf_latest {
                metrics::counter!(m::RPC_SETTLE_TIMEOUTS).increment(1);
            }
            return;
        };
        let deadline = Instant::now() + SETTLE_WAIT;
        match self
            .first_receipt(watch, hash, sender, nonce, deadline)
            .await
        {
            Ok(Awaited::TimedOut) => {
                metrics::counter!(m::RPC_SETTLE_TIMEOUTS).increment(1);
            }
            Ok(_) => {}
            Err(e) => debug!(target: "rpc", error = %e, "waiting for a preconfirmation failed"),
        }
    }

    /// Waits for the first receipt (preconfirmed or canonical) of a submitted transaction.
    async fn first_receipt(
        &self,
        watch: ReceiptWatch,
        hash: B256,
        sender: Address,
        nonce: u64,
        deadline: Instant,
    ) -> RpcResult<Awaited> {
        let ReceiptWatch {
            mut flashblocks,
            mut heads,
        } = watch;
        if let Some(r) = self.find_receipt(&hash)? {
            return Ok(Awaited::Receipt(Box::new(r)));
        }
        let next = self.mempool.next_nonce(sender).await?;
        let (_, state) = self.state_for(Some(alloy_eips::BlockId::pending()))?;
        let state_nonce = state.account(&sender)?.map(|a| a.nonce).unwrap_or_default();
        if nonce > state_nonce && next.is_none_or(|n| nonce >= n) {
            return Ok(Awaited::NotReady(state_nonce));
        }
        let mut flashblocks_open = true;
        let mut heads_open = true;
        loop {
            tokio::select! {
                ev = flashblocks.recv(), if flashblocks_open => match ev {
                    Ok(u) => {
                        if let Some(i) = u.block.position(&hash) {
                            return convert::rpc_receipt(&self.chain.reader.spec, &u.block.block, &u.block.receipts, i)
                                .map(|r| Awaited::Receipt(Box::new(r)))
                                .ok_or_else(|| RpcErr::Internal("pending receipt missing".into()));
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        if let Some(r) = self.find_receipt(&hash)? {
                            return Ok(Awaited::Receipt(Box::new(r)));
                        }
                    }
                    Err(RecvError::Closed) => flashblocks_open = false,
                },
                ev = heads.recv(), if heads_open => match ev {
                    Ok(h) => {
                        if let Some(i) = h.block.body.transactions.iter().position(|t| *t.tx_hash() == hash) {
                            return convert::rpc_receipt(&self.chain.reader.spec, &h.block, &h.receipts, i)
                                .map(|r| Awaited::Receipt(Box::new(r)))
                                .ok_or_else(|| RpcErr::Internal("receipt missing".into()));
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        if let Some(r) = self.find_receipt(&hash)? {
                            return Ok(Awaited::Receipt(Box::new(r)));
                        }
                    }
                    Err(RecvError::Closed) => heads_open = false,
                },
                _ = tokio::time::sleep_until(deadline.into()) => return Ok(Awaited::TimedOut),
            }
        }
    }
}

/// The longest a plain send waits for its transaction to be preconfirmed (see
/// [`EthApi::settle_watch`]): a flashblock interval is 200 ms; a transaction that is not in one
/// by then (a full block, a fee below the base fee) is returned as sent.
pub(crate) const SETTLE_WAIT: Duration = Duration::from_secs(1);

/// Subscriptions taken before a submission ([`EthApi::watch_receipts`]).
pub(crate) struct ReceiptWatch {
    flashblocks: tokio::sync::broadcast::Receiver<crate::overlay::PendingUpdate>,
    heads: tokio::sync::broadcast::Receiver<crate::chain::NewHead>,
}

/// How a wait for a transaction's first receipt ended.
enum Awaited {
    /// Its receipt.
    Receipt(Box<TransactionReceipt>),
    /// It cannot execute yet: its nonce is past the account's (which is given).
    NotReady(u64),
    /// The deadline passed.
    TimedOut,
}
