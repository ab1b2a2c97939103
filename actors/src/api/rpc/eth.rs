//! The shared context of every JSON-RPC method ([`EthApi`]) and what the methods have in common:
//! resolving a block id to a header, a block, its receipts or its state (preconfirmed for
//! `pending`), submitting transactions to the pool, and signing with the unlocked dev accounts.
//! The methods themselves are `#[rpc]` traits, one file per concern.

use super::{RpcErr, RpcResult, call};
use crate::{
    chain::{ChainHandle, SealedHeader},
    mempool::MempoolHandle,
    overlay::{OverlayHandle, PendingBlock, PendingView},
};
use alloy_consensus::{Transaction as _, TxEnvelope, TypedTransaction, transaction::Recovered};
use alloy_eips::{BlockId, BlockNumberOrTag, eip2718::Encodable2718};
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, B256, Bytes};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer_local::PrivateKeySigner;
use preconf_core::{
    primitives::{Receipt, SealedBlock},
    state::StateProvider,
    txpool::{PooledTx, encoded_len},
};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Keys of the unlocked dev accounts (`eth_accounts`, `eth_sendTransaction`, `eth_sign`).
#[derive(Debug, Clone, Default)]
pub(crate) struct DevAccounts {
    // Shared: the API context is cloned for every call handed to the heavy-work threads.
    signers: Arc<[PrivateKeySigner]>,
}

impl DevAccounts {
    /// Unlocks these keys.
    pub(crate) fn new(signers: Vec<PrivateKeySigner>) -> Self {
        Self {
            signers: signers.into(),
        }
    }
    pub(crate) fn get(&self, addr: &Address) -> Option<&PrivateKeySigner> {
        self.signers.iter().find(|s| s.address() == *addr)
    }

    pub(crate) fn addresses(&self) -> Vec<Address> {
        self.signers.iter().map(|s| s.address()).collect()
    }
}

/// Shared context of the `eth_` API.
#[derive(Debug, Clone)]
pub(crate) struct EthApi {
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

/// What a block id names.
pub(crate) enum Named {
    /// The preconfirmed block.
    Preconfirmed(Arc<PendingBlock>),
    /// A stored block (canonical or not), or nothing.
    Stored(Option<Box<SealedHeader>>),
}

impl EthApi {
    /// The current pending block, if any.
    pub(crate) fn current_pending(&self) -> Option<Arc<PendingBlock>> {
        self.pending.on(&self.chain.reader.head().hash)
    }

    /// The number of the block `latest` names: the preconfirmed block's with
    /// `--rpc.preconf-latest` while there is one, otherwise the canonical head's.
    pub(crate) fn latest_number(&self) -> u64 {
        let head = self.chain.reader.head();
        match self.pending.on(&head.hash) {
            Some(p) if self.preconf_latest => p.block.number(),
            _ => head.header.number,
        }
    }

    /// Resolves a block id. The preconfirmed block is named by `pending`, by `latest` and its
    /// number with `--rpc.preconf-latest`, and by every hash it has shown: a hash from a
    /// flashblock of the block being built names the current preconfirmed block, and once that
    /// height is canonical, the canonical block (for the last [`SHOWN_HEIGHTS`] heights).
    ///
    /// [`SHOWN_HEIGHTS`]: crate::overlay::pending::SHOWN_HEIGHTS
    pub(crate) fn named(&self, id: BlockId) -> RpcResult<Named> {
        let r = &self.chain.reader;
        let head = r.head();
        let pending = self.pending.on(&head.hash);
        let preconfirmed = |n: u64| pending.clone().filter(|p| p.block.number() == n);
        let stored = match id {
            BlockId::Hash(h) => {
                if let Some(header) = r.header_by_hash(&h.block_hash)? {
                    if h.require_canonical == Some(true)
                        && !r.is_canonical(&header.hash, header.header.number)?
                    {
                        return Err(RpcErr::Server(format!(
                            "hash {} is not currently canonical",
                            h.block_hash
                        )));
                    }
                    Some(header)
                } else {
                    let Some(n) = self.pending.height_of(&h.block_hash) else {
                        return Ok(Named::Stored(None));
                    };
                    if let Some(p) = preconfirmed(n) {
                        return Ok(Named::Preconfirmed(p));
                    }
                    if n > head.header.number {
                        None
                    } else {
                        r.header_by_number(n)?
                    }
                }
            }
            BlockId::Number(tag) => {
                if let Some(p) = pending.clone().filter(|_| match tag {
                    BlockNumberOrTag::Pending => true,
                    BlockNumberOrTag::Latest => self.preconf_latest,
                    BlockNumberOrTag::Number(n) => {
                        self.preconf_latest && n == head.header.number + 1
                    }
                    _ => false,
                }) {
                    return Ok(Named::Preconfirmed(p));
                }
                match tag {
                    BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => Some(head),
                    BlockNumberOrTag::Earliest => r.header_by_number(0)?,
                    BlockNumberOrTag::Safe => r.header_by_hash(&r.safe_hash())?,
                    BlockNumberOrTag::Finalized => r.header_by_hash(&r.finalized_hash())?,
                    BlockNumberOrTag::Number(n) => r.header_by_number(n)?,
                }
            }
        };
        Ok(Named::Stored(stored.map(Box::new)))
    }

    pub(crate) fn header_for(&self, id: BlockId) -> RpcResult<Option<SealedHeader>> {
        Ok(match self.named(id)? {
            Named::Preconfirmed(p) => Some(p.sealed_header()),
            Named::Stored(h) => h.map(|h| *h),
        })
    }

    /// The state after a block, or `header not found`.
    pub(crate) fn state_for(
        &self,
        id: Option<BlockId>,
    ) -> RpcResult<(SealedHeader, Arc<dyn StateProvider>)> {
        let id = id.unwrap_or(BlockId::Number(BlockNumberOrTag::Latest));
        let r = &self.chain.reader;
        let header = match self.named(id)? {
            Named::Preconfirmed(p) => return Ok((p.sealed_header(), Arc::new(p.state.clone()))),
            Named::Stored(h) => *h.ok_or_else(|| RpcErr::Server("header not found".into()))?,
        };
        let (head, state) = r.head_with_state();
        if head.hash == header.hash {
            // The head is canonical and its state is in memory: no database read.
            return Ok((head, Arc::new(state)));
        }
        if !r.is_canonical(&header.hash, header.header.number)? {
            return Err(RpcErr::NotFound(format!(
                "state of non-canonical block {} is not available",
                header.hash
            )));
        }
        let state = r.state_at(header.header.number)?;
        Ok((header, state))
    }

    pub(crate) fn block_for(&self, id: BlockId) -> RpcResult<Option<Arc<SealedBlock>>> {
        match self.named(id)? {
            Named::Preconfirmed(p) => Ok(Some(p.block.clone())),
            Named::Stored(Some(h)) => Ok(self.chain.reader.block_shared(&h.hash)?),
            Named::Stored(None) => Ok(None),
        }
    }

    pub(crate) fn receipts_of(&self, block: &SealedBlock) -> RpcResult<Vec<Receipt>> {
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

    /// Validates a raw transaction and adds it to the pool (forwarding it to the sequencer when
    /// configured); returns its hash, sender and nonce.
    pub(crate) async fn submit_raw_with_sender(
        &self,
        raw: &[u8],
    ) -> RpcResult<(B256, Address, u64)> {
        let r = &self.chain.reader;
        let osaka = preconf_core::chainspec::EthereumHardforks::is_osaka_active_at_timestamp(
            &*r.spec,
            r.head().header.timestamp + 1,
        );
        let (tx, sidecar) = preconf_core::txpool::decode_raw(raw, osaka).map_err(RpcErr::Server)?;
        self.submit(tx, sidecar, Some(raw)).await
    }

    /// Adds a transaction to the pool and forwards it (its original encoding when given).
    pub(crate) async fn submit(
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
    pub(crate) async fn sign_request(&self, mut req: TransactionRequest) -> RpcResult<TxEnvelope> {
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
        // No `to` is a contract creation, as geth and anvil take it.
        req.to.get_or_insert(alloy_primitives::TxKind::Create);
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
}

/// A 32-byte hash parameter; like geth, the `0x` prefix is required.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hash(pub B256);

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
