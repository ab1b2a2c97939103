//! `eth_`, `net_`, `web3_`, `txpool_` and `debug_` methods.

use super::{RpcErr, RpcResult, call, convert, method};
use crate::{
    chain::{ChainHandle, SealedHeader},
    mempool::MempoolHandle,
    overlay::{OverlayHandle, PendingBlock, PendingView},
};
use alloy_consensus::{
    Transaction as _, TxEnvelope, TypedTransaction, constants::KECCAK_EMPTY, transaction::Recovered,
};
use alloy_eips::{
    BlockId, BlockNumberOrTag,
    eip2718::{Decodable2718, Encodable2718},
};
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, B256, Bytes, U64, U256, keccak256, map::HashMap};
use alloy_rpc_types_eth::{
    EIP1186AccountProofResponse, EIP1186StorageProof, FeeHistory, Filter, Log, SyncStatus,
    TransactionRequest,
};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use jsonrpsee::RpcModule;
use preconf_core::{
    primitives::{Receipt, SealedBlock},
    state::StateProvider,
    txpool::{PooledTx, encoded_len},
};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Keys of the unlocked dev accounts (`eth_accounts`, `eth_sendTransaction`, `eth_sign`).
#[derive(Debug, Clone, Default)]
pub struct DevAccounts {
    signers: Vec<PrivateKeySigner>,
}

impl DevAccounts {
    /// Unlocks these keys.
    pub fn new(signers: Vec<PrivateKeySigner>) -> Self {
        Self { signers }
    }
    fn get(&self, addr: &Address) -> Option<&PrivateKeySigner> {
        self.signers.iter().find(|s| s.address() == *addr)
    }
}

/// Shared context of the `eth_` API.
#[derive(Debug, Clone)]
pub struct EthApi {
    /// The chain.
    pub chain: ChainHandle,
    /// The mempool.
    pub mempool: MempoolHandle,
    /// Unlocked accounts.
    pub dev: DevAccounts,
    /// Announcements of new pending transaction hashes.
    pub new_txs: broadcast::Sender<B256>,
    /// Gas cap for `eth_call` and `eth_estimateGas`.
    pub gas_cap: u64,
    /// The client version string.
    pub client_version: String,
    /// Preconfirmed state (empty without the rpc role).
    pub pending: PendingView,
    /// The overlay, for `preconf_newPartialBlock` (rpc role only).
    pub overlay: Option<OverlayHandle>,
    /// `latest` reads the preconfirmed state too.
    pub preconf_latest: bool,
    /// Where raw transactions are forwarded (an rpc node's sequencer).
    pub forward: Option<super::Forwarder>,
    /// `eth_sendRawTransactionSync` timeouts: (default, maximum).
    pub send_sync_timeout: (std::time::Duration, std::time::Duration),
    /// Where EVM calls and wide block scans run (off the async runtime).
    pub heavy: super::HeavyPool,
}

/// Maximum block range of one `eth_getLogs` query.
const MAX_LOG_RANGE: u64 = 10_000;
/// Maximum blocks of one `eth_feeHistory` query.
const MAX_FEE_HISTORY: u64 = 1024;

impl EthApi {
    /// The pending block that serves `tag`, if any: `pending` (and `latest` with
    /// `--rpc.preconf-latest`) read the preconfirmed state while there is one on the head.
    pub(crate) fn pending_for(&self, tag: BlockNumberOrTag) -> Option<Arc<PendingBlock>> {
        let preconf = match tag {
            BlockNumberOrTag::Pending => true,
            BlockNumberOrTag::Latest => self.preconf_latest,
            _ => false,
        };
        if !preconf {
            return None;
        }
        self.pending.on(&self.chain.reader.head().hash)
    }

    /// The current pending block, if any.
    pub(crate) fn current_pending(&self) -> Option<Arc<PendingBlock>> {
        self.pending.on(&self.chain.reader.head().hash)
    }

    pub(crate) fn header_for(&self, id: BlockId) -> RpcResult<Option<SealedHeader>> {
        let r = &self.chain.reader;
        if let BlockId::Number(tag) = id
            && let Some(p) = self.pending_for(tag)
        {
            return Ok(Some(p.sealed_header()));
        }
        Ok(match id {
            BlockId::Hash(h) => {
                let header = r.header_by_hash(&h.block_hash)?;
                if let (Some(hd), Some(true)) = (&header, h.require_canonical)
                    && !r.is_canonical(&hd.hash, hd.header.number)?
                {
                    return Err(RpcErr::Server(format!(
                        "hash {} is not currently canonical",
                        h.block_hash
                    )));
                }
                header
            }
            BlockId::Number(n) => match n {
                BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => Some(r.head()),
                BlockNumberOrTag::Earliest => r.header_by_number(0)?,
                BlockNumberOrTag::Safe => r.header_by_hash(&r.safe_hash())?,
                BlockNumberOrTag::Finalized => r.header_by_hash(&r.finalized_hash())?,
                BlockNumberOrTag::Number(n) => r.header_by_number(n)?,
            },
        })
    }

    /// The state after a block, or `header not found`.
    pub(crate) fn state_for(
        &self,
        id: Option<BlockId>,
    ) -> RpcResult<(SealedHeader, Arc<dyn StateProvider>)> {
        let id = id.unwrap_or(BlockId::Number(BlockNumberOrTag::Latest));
        if let BlockId::Number(tag) = id
            && let Some(p) = self.pending_for(tag)
        {
            return Ok((p.sealed_header(), Arc::new(p.state.clone())));
        }
        let header = self
            .header_for(id)?
            .ok_or_else(|| RpcErr::Server("header not found".into()))?;
        let r = &self.chain.reader;
        if !r.is_canonical(&header.hash, header.header.number)? {
            return Err(RpcErr::NotFound(format!(
                "state of non-canonical block {} is not available",
                header.hash
            )));
        }
        let state = r.state_at(header.header.number)?;
        Ok((header, state))
    }

    fn block_for(&self, id: BlockId) -> RpcResult<Option<Arc<SealedBlock>>> {
        if let BlockId::Number(tag) = id
            && let Some(p) = self.pending_for(tag)
        {
            return Ok(Some(p.block.clone()));
        }
        match self.header_for(id)? {
            Some(h) => Ok(self.chain.reader.block(&h.hash)?.map(Arc::new)),
            None => Ok(None),
        }
    }

    fn receipts_of(&self, block: &SealedBlock) -> RpcResult<Vec<Receipt>> {
        if let Some(p) = self.current_pending()
            && p.block.hash == block.hash
        {
            return Ok(p.receipts.clone());
        }
        Ok(self
            .chain
            .reader
            .store
            .receipts(&block.hash)?
            .unwrap_or_default())
    }

    /// Validates a raw transaction and adds it to the pool; returns its hash.
    pub(crate) async fn submit_raw(&self, raw: &[u8]) -> RpcResult<B256> {
        Ok(self.submit_raw_with_sender(raw).await?.0)
    }

    /// Validates a raw transaction and adds it to the pool (forwarding it to the sequencer when
    /// configured); returns its hash, sender and nonce.
    pub(crate) async fn submit_raw_with_sender(
        &self,
        raw: &[u8],
    ) -> RpcResult<(B256, Address, u64)> {
        let mut buf = raw;
        type Pooled = alloy_consensus::EthereumTxEnvelope<
            alloy_consensus::TxEip4844WithSidecar<alloy_eips::eip4844::BlobTransactionSidecar>,
        >;
        let pooled = Pooled::decode_2718(&mut buf)
            .map_err(|e| RpcErr::Server(format!("failed to decode transaction: {e}")))?;
        if !buf.is_empty() {
            return Err(RpcErr::Server(
                "failed to decode transaction: trailing bytes".into(),
            ));
        }
        let (tx, sidecar) = match pooled {
            Pooled::Eip4844(signed) => {
                let (tx, sig, hash) = signed.into_parts();
                let settings = alloy_eips::eip4844::env_settings::EnvKzgSettings::Default;
                tx.validate_blob(settings.get())
                    .map_err(|e| RpcErr::Server(format!("invalid blob sidecar: {e}")))?;
                let sidecar =
                    alloy_eips::eip7594::BlobTransactionSidecarVariant::Eip4844(tx.sidecar);
                let inner = alloy_consensus::TxEip4844Variant::TxEip4844(tx.tx);
                (
                    TxEnvelope::Eip4844(alloy_consensus::Signed::new_unchecked(inner, sig, hash)),
                    Some(Arc::new(sidecar)),
                )
            }
            Pooled::Legacy(s) => (TxEnvelope::Legacy(s), None),
            Pooled::Eip2930(s) => (TxEnvelope::Eip2930(s), None),
            Pooled::Eip1559(s) => (TxEnvelope::Eip1559(s), None),
            Pooled::Eip7702(s) => (TxEnvelope::Eip7702(s), None),
        };
        self.submit(tx, sidecar, Some(raw)).await
    }

    /// Adds a transaction to the pool and forwards it (its original encoding when given).
    async fn submit(
        &self,
        tx: TxEnvelope,
        sidecar: Option<Arc<alloy_eips::eip7594::BlobTransactionSidecarVariant>>,
        raw: Option<&[u8]>,
    ) -> RpcResult<(B256, Address, u64)> {
        let sender = self
            .chain
            .reader
            .senders
            .recover(&tx)
            .map_err(|_| RpcErr::Server("invalid sender: signature does not recover".into()))?;
        let hash = *tx.tx_hash();
        let nonce = tx.nonce();
        let size = encoded_len(&tx);
        let forward = self.forward.as_ref().map(|f| {
            (
                f.clone(),
                raw.map(Bytes::copy_from_slice)
                    .unwrap_or_else(|| tx.encoded_2718().into()),
            )
        });
        let pooled = PooledTx {
            tx: Recovered::new_unchecked(tx, sender),
            hash,
            sidecar,
            size,
            seq: 0,
        };
        let h = self.mempool.add(pooled).await?;
        if let Some((f, raw)) = forward {
            f.forward(raw);
        }
        Ok((h, sender, nonce))
    }

    /// Fills and signs a request from an unlocked account.
    async fn sign_request(&self, mut req: TransactionRequest) -> RpcResult<TxEnvelope> {
        let from = req
            .from
            .ok_or_else(|| RpcErr::InvalidParams("missing from".into()))?;
        let signer = self
            .dev
            .get(&from)
            .ok_or_else(|| RpcErr::Server(format!("unknown account {from}")))?
            .clone();
        let head = self.chain.reader.head().header;
        let spec = &self.chain.reader.spec;
        if req.nonce.is_none() {
            let pooled = self.mempool.next_nonce(from).await?;
            req.nonce = Some(pooled.unwrap_or_else(|| self.chain.head_account(&from).nonce));
        }
        req.chain_id.get_or_insert(spec.chain_id());
        if req.gas_price.is_none() && req.max_fee_per_gas.is_none() {
            let base = spec.next_base_fee(&head) as u128;
            let tip = req.max_priority_fee_per_gas.unwrap_or(1_000_000_000);
            req.max_priority_fee_per_gas = Some(tip);
            req.max_fee_per_gas = Some(base * 2 + tip);
        }
        if req.gas.is_none() {
            let (h, state) = self.state_for(None)?;
            let (api, estimate) = (self.clone(), req.clone());
            req.gas = Some(
                self.heavy
                    .run(move || call::estimate_gas(&api, &h, state, estimate))
                    .await?,
            );
        }
        let mut typed: TypedTransaction = req
            .build_typed_tx()
            .map_err(|_| RpcErr::InvalidParams("incomplete transaction request".into()))?;
        let sig = signer
            .sign_transaction_sync(&mut typed)
            .map_err(|e| RpcErr::Internal(e.to_string()))?;
        Ok(typed.into_envelope(sig))
    }

    fn logs(&self, filter: &Filter) -> RpcResult<Vec<Log>> {
        let r = &self.chain.reader;
        let mut pending = None;
        let blocks: Vec<SealedBlock> = if let Some(hash) = filter.get_block_hash() {
            match r.block(&hash)? {
                Some(b) => vec![b],
                None => return Err(RpcErr::Server("unknown block".into())),
            }
        } else {
            let head = r.head().header.number;
            let from_tag = filter.block_option.get_from_block().copied();
            let to_tag = filter
                .block_option
                .get_to_block()
                .copied()
                .unwrap_or(BlockNumberOrTag::Latest);
            // The preconfirmed block counts as block head + 1 for `pending` (and `latest` with
            // --rpc.preconf-latest).
            pending = self.pending_for(to_tag);
            let resolve = |t: Option<BlockNumberOrTag>| -> RpcResult<u64> {
                Ok(match t {
                    None => head,
                    Some(tag) => self
                        .header_for(BlockId::Number(tag))?
                        .map(|h| h.header.number)
                        .unwrap_or(head),
                })
            };
            let from = resolve(from_tag)?;
            let to = resolve(Some(to_tag))?;
            if pending.is_some() && from > head + 1 {
                pending = None;
            }
            let to = to.min(head);
            if to.saturating_sub(from) > MAX_LOG_RANGE {
                return Err(RpcErr::Limit(format!(
                    "query exceeds max block range {MAX_LOG_RANGE}"
                )));
            }
            let mut out = Vec::new();
            for n in from..=to {
                let Some(h) = r.header_by_number(n)? else {
                    continue;
                };
                if !filter.matches_bloom(h.header.logs_bloom) {
                    continue;
                }
                if let Some(b) = r.block(&h.hash)? {
                    out.push(b);
                }
            }
            out
        };
        let mut logs = Vec::new();
        let mut collect = |block: &SealedBlock, receipts: &[Receipt]| {
            for receipt in convert::rpc_receipts(&r.spec, block, receipts) {
                for log in receipt.inner.logs() {
                    if filter.matches(&log.inner) {
                        logs.push(log.clone());
                    }
                }
            }
        };
        for block in &blocks {
            let receipts = self.receipts_of(block)?;
            collect(block, &receipts);
        }
        if let Some(p) = pending {
            collect(&p.block, &p.receipts);
        }
        Ok(logs)
    }

    fn fee_history(
        &self,
        count: u64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        let r = &self.chain.reader;
        let count = count.min(MAX_FEE_HISTORY);
        let newest = self
            .header_for(BlockId::Number(newest))?
            .ok_or_else(|| RpcErr::Server("header not found".into()))?;
        if count == 0 {
            return Ok(FeeHistory::default());
        }
        if let Some(p) = &percentiles
            && (p.windows(2).any(|w| w[0] > w[1]) || p.iter().any(|x| !(0.0..=100.0).contains(x)))
        {
            return Err(RpcErr::InvalidParams("invalid reward percentiles".into()));
        }
        let oldest = newest.header.number.saturating_sub(count - 1);
        let mut fh = FeeHistory {
            oldest_block: oldest,
            ..Default::default()
        };
        // The newest block may be the preconfirmed one (`pending`, or `latest` with
        // `--rpc.preconf-latest`); it is not in the store.
        let pending = self
            .current_pending()
            .filter(|p| p.block.number() == newest.header.number);
        let mut last = None;
        for n in oldest..=newest.header.number {
            let (h, pending_block) = match &pending {
                Some(p) if p.block.number() == n => (p.sealed_header(), Some(p.block.clone())),
                _ => (
                    r.header_by_number(n)?
                        .ok_or_else(|| RpcErr::Server("header not found".into()))?,
                    None,
                ),
            };
            fh.base_fee_per_gas
                .push(h.header.base_fee_per_gas.unwrap_or_default() as u128);
            fh.gas_used_ratio
                .push(h.header.gas_used as f64 / h.header.gas_limit as f64);
            fh.base_fee_per_blob_gas
                .push(r.spec.blob_base_fee(&h.header).unwrap_or_default());
            let max_blob = r
                .spec
                .blob_params_at(h.header.timestamp)
                .map(|p| p.max_blob_gas_per_block())
                .unwrap_or(0);
            fh.blob_gas_used_ratio.push(if max_blob == 0 {
                0.0
            } else {
                h.header.blob_gas_used.unwrap_or(0) as f64 / max_blob as f64
            });
            if let Some(p) = &percentiles {
                let block = match pending_block {
                    Some(b) => b,
                    None => r
                        .block(&h.hash)?
                        .ok_or_else(|| RpcErr::Server("block not found".into()))?
                        .into(),
                };
                let receipts = self.receipts_of(&block)?;
                fh.reward
                    .get_or_insert_with(Vec::new)
                    .push(rewards(&block, &receipts, p));
            }
            last = Some(h);
        }
        let last = last.expect("count > 0");
        fh.base_fee_per_gas
            .push(r.spec.next_base_fee(&last.header) as u128);
        let next_ts = last.header.timestamp + 1;
        fh.base_fee_per_blob_gas.push(
            r.spec
                .next_excess_blob_gas(&last.header, next_ts)
                .zip(r.spec.blob_params_at(next_ts))
                .map(|(e, p)| p.calc_blob_fee(e))
                .unwrap_or_default(),
        );
        Ok(fh)
    }
}

fn rewards(block: &SealedBlock, receipts: &[Receipt], percentiles: &[f64]) -> Vec<u128> {
    let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
    if block.body.transactions.is_empty() {
        return vec![0; percentiles.len()];
    }
    let mut prev = 0;
    let mut txs: Vec<(u128, u64)> = block
        .body
        .transactions
        .iter()
        .zip(receipts)
        .map(|(tx, r)| {
            let used = r.cumulative_gas_used() - prev;
            prev = r.cumulative_gas_used();
            (tx.effective_tip_per_gas(base_fee).unwrap_or(0), used)
        })
        .collect();
    txs.sort_by_key(|(tip, _)| *tip);
    let total: u64 = txs.iter().map(|(_, g)| g).sum();
    percentiles
        .iter()
        .map(|p| {
            let threshold = (total as f64 * p / 100.0) as u64;
            let mut sum = 0;
            for (tip, used) in &txs {
                sum += used;
                if sum >= threshold {
                    return *tip;
                }
            }
            txs.last().map(|t| t.0).unwrap_or(0)
        })
        .collect()
}

/// A 32-byte hash parameter; like geth, the `0x` prefix is required.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hash(pub(crate) B256);

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if !s.starts_with("0x") && !s.starts_with("0X") {
            return Err(serde::de::Error::custom("hex string without 0x prefix"));
        }
        s.parse::<B256>()
            .map(Hash)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses a storage key as geth does: hex with `0x`, at most 32 bytes, left-padded.
pub(crate) fn parse_storage_key(s: &str) -> RpcResult<B256> {
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if hex.len() > 64 {
        return Err(RpcErr::Server(
            "unable to decode storage key: hex string too long, want at most 32 bytes".into(),
        ));
    }
    let padded = format!("{hex:0>64}");
    let bytes = alloy_primitives::hex::decode(&padded)
        .map_err(|_| RpcErr::Server("unable to decode storage key: hex string invalid".into()))?;
    Ok(B256::from_slice(&bytes))
}

fn raw_bytes(v: impl Encodable2718) -> Bytes {
    v.encoded_2718().into()
}

/// Builds the module with every method.
pub fn module(api: EthApi) -> Result<RpcModule<EthApi>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::new(api);

    method!(m, "eth_chainId", |_p, c| Ok(U64::from(
        c.chain.reader.spec.chain_id()
    )));
    method!(m, "net_version", |_p, c| Ok(c
        .chain
        .reader
        .spec
        .chain_id()
        .to_string()));
    method!(m, "net_listening", |_p, _c| Ok(true));
    method!(m, "net_peerCount", |_p, _c| Ok(U64::ZERO));
    method!(m, "web3_clientVersion", |_p, c| Ok(c
        .client_version
        .clone()));
    method!(m, "web3_sha3", |p, _c| {
        let data: Bytes = p.one()?;
        Ok(keccak256(&data))
    });
    method!(m, "eth_blockNumber", |_p, c| Ok(U64::from(
        c.chain.reader.head().header.number
    )));
    method!(m, "eth_syncing", |_p, _c| Ok(SyncStatus::None));
    method!(m, "eth_accounts", |_p, c| Ok(c
        .dev
        .signers
        .iter()
        .map(|s| s.address())
        .collect::<Vec<_>>()));
    method!(m, "eth_gasPrice", |_p, c| {
        let base_fee = match c.current_pending() {
            Some(p) => p.block.header.base_fee_per_gas.unwrap_or_default(),
            None => c
                .chain
                .reader
                .spec
                .next_base_fee(&c.chain.reader.head().header),
        };
        Ok(U256::from(base_fee as u128 + 1_000_000_000))
    });
    method!(m, "eth_maxPriorityFeePerGas", |_p, _c| Ok(U256::from(
        1_000_000_000u64
    )));
    method!(m, "eth_blobBaseFee", |_p, c| {
        let r = &c.chain.reader;
        let head = r.head().header;
        let ts = head.timestamp + 1;
        let fee = r
            .spec
            .next_excess_blob_gas(&head, ts)
            .zip(r.spec.blob_params_at(ts))
            .map(|(e, p)| p.calc_blob_fee(e));
        fee.map(U256::from)
            .ok_or_else(|| RpcErr::Server("blob base fee unavailable before Cancun".into()))
    });
    method!(m, "eth_feeHistory", |p, c| {
        let mut s = p.sequence();
        let count: U64 = s.next()?;
        let newest: BlockNumberOrTag = s.next()?;
        let pct: Option<Vec<f64>> = s.optional_next()?;
        let api = c.clone();
        c.heavy
            .run(move || api.fee_history(count.to(), newest, pct))
            .await
    });

    method!(m, "eth_getBalance", |p, c| {
        let mut s = p.sequence();
        let addr: Address = s.next()?;
        let (_, st) = c.state_for(s.optional_next()?)?;
        Ok(st.account(&addr)?.map(|a| a.balance).unwrap_or_default())
    });
    method!(m, "eth_getTransactionCount", |p, c| {
        let mut s = p.sequence();
        let addr: Address = s.next()?;
        let id: Option<BlockId> = s.optional_next()?;
        let (_, st) = c.state_for(id)?;
        let nonce = st.account(&addr)?.map(|a| a.nonce).unwrap_or_default();
        if id.is_some_and(|i| i.is_pending())
            && let Some(n) = c.mempool.next_nonce(addr).await?
        {
            return Ok(U64::from(n.max(nonce)));
        }
        Ok(U64::from(nonce))
    });
    method!(m, "eth_getCode", |p, c| {
        let mut s = p.sequence();
        let addr: Address = s.next()?;
        let (_, st) = c.state_for(s.optional_next()?)?;
        let Some(a) = st.account(&addr)? else {
            return Ok(Bytes::new());
        };
        if a.code_hash == KECCAK_EMPTY {
            return Ok(Bytes::new());
        }
        Ok(st.code(&a.code_hash)?.unwrap_or_default())
    });
    method!(m, "eth_getStorageAt", |p, c| {
        let mut s = p.sequence();
        let addr: Address = s.next()?;
        let key: String = s.next()?;
        let key = parse_storage_key(&key)?;
        let (_, st) = c.state_for(s.optional_next()?)?;
        Ok(B256::from(st.storage(&addr, &U256::from_be_bytes(key.0))?))
    });
    method!(m, "eth_getProof", |p, c| {
        let mut s = p.sequence();
        let addr: Address = s.next()?;
        let keys: Vec<String> = s.next()?;
        let id: Option<BlockId> = s.optional_next()?;
        let id = id.unwrap_or_default();
        let preconfirmed = match id {
            BlockId::Number(tag) => c.pending_for(tag),
            BlockId::Hash(_) => None,
        };
        let snapshot = match preconfirmed {
            // Against the preconfirmed state (its root is not in the pending header).
            Some(p) => p.state.snapshot.clone(),
            None => {
                let header = c
                    .header_for(id)?
                    .ok_or_else(|| RpcErr::Server("header not found".into()))?;
                c.chain
                    .reader
                    .recent_state(header.header.number)
                    .filter(|_| {
                        c.chain
                            .reader
                            .is_canonical(&header.hash, header.header.number)
                            .unwrap_or(false)
                    })
                    .ok_or_else(|| {
                        RpcErr::NotFound(
                            "proofs are served for the most recent 128 blocks only".into(),
                        )
                    })?
            }
        };
        let account = snapshot.account(&addr);
        let mut storage_proof = Vec::new();
        for k in &keys {
            let key = parse_storage_key(k)?;
            let hashed = keccak256(key);
            let (value, proof) = match account {
                Some(a) => (
                    a.storage.get(&hashed).copied().unwrap_or_default(),
                    a.storage.proof(&hashed),
                ),
                None => (U256::ZERO, Vec::new()),
            };
            storage_proof.push(EIP1186StorageProof {
                key: serde_json::from_value(serde_json::Value::String(k.clone()))
                    .map_err(|e| RpcErr::InvalidParams(e.to_string()))?,
                value,
                proof: proof.into_iter().map(Bytes::from).collect(),
            });
        }
        Ok(EIP1186AccountProofResponse {
            address: addr,
            balance: account.map(|a| a.balance).unwrap_or_default(),
            code_hash: account.map(|a| a.code_hash).unwrap_or(KECCAK_EMPTY),
            nonce: account.map(|a| a.nonce).unwrap_or_default(),
            storage_hash: account
                .map(|a| a.storage.root_hash())
                .unwrap_or(alloy_trie::EMPTY_ROOT_HASH),
            account_proof: snapshot
                .account_proof(&addr)
                .into_iter()
                .map(Bytes::from)
                .collect(),
            storage_proof,
        })
    });

    method!(m, "eth_call", |p, c| {
        let mut s = p.sequence();
        let req: TransactionRequest = s.next()?;
        let (h, st) = c.state_for(s.optional_next()?)?;
        let api = c.clone();
        c.heavy.run(move || call::call(&api, &h, st, req)).await
    });
    method!(m, "eth_estimateGas", |p, c| {
        let mut s = p.sequence();
        let req: TransactionRequest = s.next()?;
        let (h, st) = c.state_for(s.optional_next()?)?;
        let api = c.clone();
        let gas = c
            .heavy
            .run(move || call::estimate_gas(&api, &h, st, req))
            .await?;
        Ok(U64::from(gas))
    });
    method!(m, "eth_createAccessList", |p, c| {
        let mut s = p.sequence();
        let req: TransactionRequest = s.next()?;
        let (h, st) = c.state_for(s.optional_next()?)?;
        let api = c.clone();
        c.heavy
            .run(move || call::create_access_list(&api, &h, st, req))
            .await
    });

    method!(m, "eth_sendRawTransaction", |p, c| {
        let raw: Bytes = p.one()?;
        c.submit_raw(&raw).await
    });
    method!(m, "eth_sendTransaction", |p, c| {
        let req: TransactionRequest = p.one()?;
        let tx = c.sign_request(req).await?;
        Ok(c.submit(tx, None, None).await?.0)
    });
    method!(m, "eth_signTransaction", |p, c| {
        let req: TransactionRequest = p.one()?;
        let tx = c.sign_request(req).await?;
        Ok(raw_bytes(tx))
    });
    method!(m, "eth_sign", |p, c| {
        let mut s = p.sequence();
        let addr: Address = s.next()?;
        let data: Bytes = s.next()?;
        let signer = c
            .dev
            .get(&addr)
            .ok_or_else(|| RpcErr::Server(format!("unknown account {addr}")))?;
        let sig = signer
            .sign_message_sync(&data)
            .map_err(|e| RpcErr::Internal(e.to_string()))?;
        Ok(Bytes::from(sig.as_bytes().to_vec()))
    });

    method!(m, "eth_getBlockByNumber", |p, c| {
        let mut s = p.sequence();
        let n: BlockNumberOrTag = s.next()?;
        let full: bool = s.optional_next()?.unwrap_or(false);
        Ok(c.block_for(BlockId::Number(n))?
            .map(|b| convert::rpc_block(&b, full)))
    });
    method!(m, "eth_getBlockByHash", |p, c| {
        let mut s = p.sequence();
        let h: Hash = s.next()?;
        let h = h.0;
        let full: bool = s.optional_next()?.unwrap_or(false);
        Ok(c.chain
            .reader
            .block(&h)?
            .map(|b| convert::rpc_block(&b, full)))
    });
    method!(m, "eth_getBlockTransactionCountByNumber", |p, c| {
        let n: BlockNumberOrTag = p.one()?;
        Ok(c.block_for(BlockId::Number(n))?
            .map(|b| U64::from(b.body.transactions.len())))
    });
    method!(m, "eth_getBlockTransactionCountByHash", |p, c| {
        let h: Hash = p.one()?;
        let h = h.0;
        Ok(c.chain
            .reader
            .block(&h)?
            .map(|b| U64::from(b.body.transactions.len())))
    });
    method!(m, "eth_getUncleCountByBlockNumber", |_p, _c| Ok(U64::ZERO));
    method!(m, "eth_getUncleCountByBlockHash", |_p, _c| Ok(U64::ZERO));
    method!(m, "eth_getBlockReceipts", |p, c| {
        let id: BlockId = p.one()?;
        let Some(b) = c.block_for(id)? else {
            return Ok(None);
        };
        let receipts = c.receipts_of(&b)?;
        Ok(Some(convert::rpc_receipts(
            &c.chain.reader.spec,
            &b,
            &receipts,
        )))
    });
    method!(m, "eth_getTransactionByHash", |p, c| {
        let h: Hash = p.one()?;
        let h = h.0;
        if let Some(loc) = c.chain.reader.store.tx_location(&h)?
            && let Some(b) = c.chain.reader.block(&loc.block_hash)?
        {
            let i = loc.index as usize;
            return Ok(Some(convert::rpc_tx(
                &b.body.transactions[i],
                b.senders[i],
                Some((&b.header, b.hash, loc.index)),
            )));
        }
        if let Some(p) = c.current_pending()
            && let Some(i) = p.position(&h)
        {
            let b = &p.block;
            return Ok(Some(convert::rpc_tx(
                &b.body.transactions[i],
                b.senders[i],
                Some((&b.header, b.hash, i as u64)),
            )));
        }
        Ok(c.mempool
            .get(h)
            .await?
            .map(|t| convert::rpc_tx(t.tx.inner(), t.sender(), None)))
    });
    method!(m, "eth_getTransactionByBlockHashAndIndex", |p, c| {
        let mut s = p.sequence();
        let h: Hash = s.next()?;
        let h = h.0;
        let i: U64 = s.next()?;
        let i = i.to::<u64>();
        Ok(c.chain.reader.block(&h)?.and_then(|b| {
            let t = b.body.transactions.get(i as usize)?;
            Some(convert::rpc_tx(
                t,
                b.senders[i as usize],
                Some((&b.header, b.hash, i)),
            ))
        }))
    });
    method!(m, "eth_getTransactionByBlockNumberAndIndex", |p, c| {
        let mut s = p.sequence();
        let n: BlockNumberOrTag = s.next()?;
        let i: U64 = s.next()?;
        let i = i.to::<u64>();
        Ok(c.block_for(BlockId::Number(n))?.and_then(|b| {
            let t = b.body.transactions.get(i as usize)?;
            Some(convert::rpc_tx(
                t,
                b.senders[i as usize],
                Some((&b.header, b.hash, i)),
            ))
        }))
    });
    method!(m, "eth_getTransactionReceipt", |p, c| {
        let h: Hash = p.one()?;
        c.find_receipt(&h.0)
    });
    method!(m, "eth_sendRawTransactionSync", |p, c| {
        let mut s = p.sequence();
        let raw: Bytes = s.next()?;
        let timeout: Option<serde_json::Value> = s.optional_next()?;
        let timeout_ms = match timeout {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(v) => serde_json::from_value::<U64>(v).ok().map(|n| n.to::<u64>()),
        };
        c.send_raw_sync(raw, timeout_ms).await
    });
    method!(m, "preconf_newPartialBlock", |p, c| {
        let fb: serde_json::Value = p.one()?;
        c.new_partial_block(fb).await
    });
    method!(m, "eth_getLogs", |p, c| {
        let f: Filter = p.one()?;
        let api = c.clone();
        c.heavy.run(move || api.logs(&f)).await
    });

    method!(m, "txpool_status", |_p, c| {
        let (pending, queued) = c.mempool.content().await?;
        Ok(
            serde_json::json!({ "pending": U64::from(pending.len()), "queued": U64::from(queued.len()) }),
        )
    });
    method!(m, "txpool_content", |_p, c| {
        let (pending, queued) = c.mempool.content().await?;
        let group = |txs: Vec<Arc<PooledTx>>| {
            let mut out: HashMap<
                Address,
                std::collections::BTreeMap<String, alloy_rpc_types_eth::Transaction>,
            > = HashMap::default();
            for t in txs {
                out.entry(t.sender()).or_default().insert(
                    t.nonce().to_string(),
                    convert::rpc_tx(t.tx.inner(), t.sender(), None),
                );
            }
            out
        };
        Ok(serde_json::json!({ "pending": group(pending), "queued": group(queued) }))
    });

    method!(m, "debug_getRawHeader", |p, c| {
        let id: BlockId = p.one()?;
        let h = c
            .header_for(id)?
            .ok_or_else(|| RpcErr::Server("header not found".into()))?;
        Ok(Bytes::from(alloy_rlp::encode(&h.header)))
    });
    method!(m, "debug_getRawBlock", |p, c| {
        let id: BlockId = p.one()?;
        let b = c
            .block_for(id)?
            .ok_or_else(|| RpcErr::Server("block not found".into()))?;
        Ok(Bytes::from(alloy_rlp::encode(b.to_block())))
    });
    method!(m, "debug_getRawReceipts", |p, c| {
        let id: BlockId = p.one()?;
        let b = c
            .block_for(id)?
            .ok_or_else(|| RpcErr::Server("block not found".into()))?;
        Ok(c.receipts_of(&b)?
            .into_iter()
            .map(raw_bytes)
            .collect::<Vec<_>>())
    });
    method!(m, "debug_getRawTransaction", |p, c| {
        let h: Hash = p.one()?;
        let h = h.0;
        let Some(loc) = c.chain.reader.store.tx_location(&h)? else {
            return Ok(Bytes::new());
        };
        let b = c
            .chain
            .reader
            .block(&loc.block_hash)?
            .ok_or_else(|| RpcErr::Internal("indexed block missing".into()))?;
        Ok(raw_bytes(b.body.transactions[loc.index as usize].clone()))
    });

    super::subscriptions::register(&mut m)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_keys_parse_like_geth() {
        assert_eq!(parse_storage_key("0x01").unwrap(), B256::with_last_byte(1));
        assert_eq!(parse_storage_key("0x0").unwrap(), B256::ZERO);
        assert_eq!(
            parse_storage_key(&format!("0x{}", "0".repeat(65)))
                .unwrap_err()
                .code(),
            -32000
        );
        assert_eq!(parse_storage_key("0xasdf").unwrap_err().code(), -32000);
    }
}
