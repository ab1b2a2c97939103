//! Transactions: submitting (raw, or signed here by an unlocked dev account), signing, and
//! reading them and their receipts — preconfirmed, sealed or pooled.

use super::convert::{RpcReceipt as TransactionReceipt, RpcTransaction as Transaction};
use super::{EthApi, RpcErr, RpcResult, convert, eth::Hash};
use alloy_eips::{BlockId, BlockNumberOrTag, eip2718::Encodable2718};
use alloy_primitives::{Address, B256, Bytes, U64};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer::SignerSync;
use jsonrpsee::{core::async_trait, proc_macros::rpc};
use preconf_core::{primitives::SealedBlock, txpool::PooledTx};
use std::sync::Arc;

/// Transaction submission and reads.
#[rpc(server, namespace = "eth")]
pub trait TransactionsApi {
    /// The unlocked dev accounts.
    #[method(name = "accounts")]
    async fn accounts(&self) -> RpcResult<Vec<Address>>;
    /// Validates a signed transaction and adds it to the pool; returns its hash (with
    /// `--rpc.preconf-latest`, once it is preconfirmed: [`EthApi::settle_watch`]).
    #[method(name = "sendRawTransaction")]
    async fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256>;
    /// Fills, signs (an unlocked account) and submits a transaction; returns its hash (as
    /// `sendRawTransaction` does).
    #[method(name = "sendTransaction")]
    async fn send_transaction(&self, request: TransactionRequest) -> RpcResult<B256>;
    /// Fills and signs a transaction with an unlocked account; returns its encoding.
    #[method(name = "signTransaction")]
    async fn sign_transaction(&self, request: TransactionRequest) -> RpcResult<Bytes>;
    /// EIP-191 signature of data by an unlocked account.
    #[method(name = "sign")]
    async fn sign(&self, address: Address, data: Bytes) -> RpcResult<Bytes>;
    /// A transaction by hash: in a block, in the preconfirmed block, or in the pool.
    #[method(name = "getTransactionByHash")]
    async fn transaction_by_hash(&self, hash: Hash) -> RpcResult<Option<Transaction>>;
    /// A transaction by block hash and position.
    #[method(name = "getTransactionByBlockHashAndIndex")]
    async fn transaction_by_block_hash_and_index(
        &self,
        hash: Hash,
        index: U64,
    ) -> RpcResult<Option<Transaction>>;
    /// A transaction by block number (or tag) and position.
    #[method(name = "getTransactionByBlockNumberAndIndex")]
    async fn transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: U64,
    ) -> RpcResult<Option<Transaction>>;
    /// A receipt: canonical, or preconfirmed.
    #[method(name = "getTransactionReceipt")]
    async fn transaction_receipt(&self, hash: Hash) -> RpcResult<Option<TransactionReceipt>>;
}

/// Where a transaction was found by hash ([`EthApi::find_transaction`]).
pub(crate) enum Found {
    /// In the preconfirmed block or a sealed one, at this index.
    Block(Arc<SealedBlock>, usize),
    /// In the pool.
    Pooled(Arc<PooledTx>),
}

impl EthApi {
    /// A transaction by hash: preconfirmed, sealed, or pooled. Looked up in the order a
    /// transaction moves (the pool keeps it until its block is sealed; a preconfirmed block is
    /// sealed as the same block), with a second look at the store after the pool, so a block
    /// sealed between two reads cannot hide it.
    pub(crate) async fn find_transaction(&self, hash: B256) -> RpcResult<Option<Found>> {
        let sealed = || -> RpcResult<Option<Found>> {
            let r = &self.chain.reader;
            Ok(match r.store.tx_location(&hash)? {
                Some(loc) => r
                    .block_shared(&loc.block_hash)?
                    .map(|b| Found::Block(b, loc.index as usize)),
                None => None,
            })
        };
        if let Some(p) = self.current_pending()
            && let Some(i) = p.position(&hash)
        {
            return Ok(Some(Found::Block(p.block.clone(), i)));
        }
        if let Some(found) = sealed()? {
            return Ok(Some(found));
        }
        match self.mempool.get(hash).await? {
            Some(t) => Ok(Some(Found::Pooled(t))),
            None => sealed(),
        }
    }
}

fn at(block: &SealedBlock, index: u64) -> Option<Transaction> {
    let i = usize::try_from(index).ok()?;
    let tx = block.body.transactions.get(i)?;
    Some(convert::rpc_tx(
        tx.clone(),
        block.senders[i],
        Some((&block.header, block.hash, index)),
    ))
}

#[async_trait]
impl TransactionsApiServer for EthApi {
    async fn accounts(&self) -> RpcResult<Vec<Address>> {
        Ok(self.dev.addresses())
    }

    async fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256> {
        let watch = self.settle_watch();
        let (hash, sender, nonce) = self.submit_raw_with_sender(&raw).await?;
        self.settle(watch, hash, sender, nonce).await;
        Ok(hash)
    }

    async fn send_transaction(&self, request: TransactionRequest) -> RpcResult<B256> {
        let tx = self.sign_request(request).await?;
        let watch = self.settle_watch();
        let (hash, sender, nonce) = self.submit(tx, None, None).await?;
        self.settle(watch, hash, sender, nonce).await;
        Ok(hash)
    }

    async fn sign_transaction(&self, request: TransactionRequest) -> RpcResult<Bytes> {
        Ok(self.sign_request(request).await?.encoded_2718().into())
    }

    async fn sign(&self, address: Address, data: Bytes) -> RpcResult<Bytes> {
        let signer = self
            .dev
            .get(&address)
            .ok_or_else(|| RpcErr::Server(format!("unknown account {address}")))?;
        let sig = signer
            .sign_message_sync(&data)
            .map_err(|e| RpcErr::Internal(e.to_string()))?;
        Ok(Bytes::from(sig.as_bytes().to_vec()))
    }

    async fn transaction_by_hash(&self, hash: Hash) -> RpcResult<Option<Transaction>> {
        Ok(match self.find_transaction(hash.0).await? {
            Some(Found::Block(b, i)) => at(&b, i as u64),
            Some(Found::Pooled(t)) => Some(convert::rpc_pooled_tx(&t)),
            None => None,
        })
    }

    async fn transaction_by_block_hash_and_index(
        &self,
        hash: Hash,
        index: U64,
    ) -> RpcResult<Option<Transaction>> {
        Ok(self
            .block_for(BlockId::Hash(hash.0.into()))?
            .and_then(|b| at(&b, index.to())))
    }

    async fn transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: U64,
    ) -> RpcResult<Option<Transaction>> {
        Ok(self
            .block_for(BlockId::Number(number))?
            .and_then(|b| at(&b, index.to())))
    }

    async fn transaction_receipt(&self, hash: Hash) -> RpcResult<Option<TransactionReceipt>> {
        self.find_receipt(&hash.0)
    }
}
