//! Blocks: the head number, blocks by number or hash, transaction counts, receipts of a block.
//! `pending` (and `latest` and its number with `--rpc.preconf-latest`) is the preconfirmed block
//! when there is one, and so is every hash it has shown ([`EthApi::named`]).

use super::convert::{RpcBlock, RpcReceipt as TransactionReceipt};
use super::{EthApi, RpcResult, convert, eth::Hash};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::U64;
use jsonrpsee::{core::async_trait, proc_macros::rpc};

/// Block reads.
#[rpc(server, namespace = "eth")]
pub trait BlocksApi {
    /// The number of the block `latest` names (the preconfirmed block's with
    /// `--rpc.preconf-latest`).
    #[method(name = "blockNumber")]
    async fn block_number(&self) -> RpcResult<U64>;
    /// A block by number or tag; with `full`, whole transactions instead of hashes.
    #[method(name = "getBlockByNumber")]
    async fn block_by_number(
        &self,
        number: BlockNumberOrTag,
        full: Option<bool>,
    ) -> RpcResult<Option<RpcBlock>>;
    /// A block by hash (a preconfirmed block's hash too, see [`EthApi::named`]).
    #[method(name = "getBlockByHash")]
    async fn block_by_hash(&self, hash: Hash, full: Option<bool>) -> RpcResult<Option<RpcBlock>>;
    /// Number of transactions in a block by number or tag.
    #[method(name = "getBlockTransactionCountByNumber")]
    async fn transaction_count_by_number(&self, number: BlockNumberOrTag)
    -> RpcResult<Option<U64>>;
    /// Number of transactions in a block by hash.
    #[method(name = "getBlockTransactionCountByHash")]
    async fn transaction_count_by_hash(&self, hash: Hash) -> RpcResult<Option<U64>>;
    /// Always 0 (no uncles after the merge).
    #[method(name = "getUncleCountByBlockNumber")]
    async fn uncle_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<U64>;
    /// Always 0 (no uncles after the merge).
    #[method(name = "getUncleCountByBlockHash")]
    async fn uncle_count_by_hash(&self, hash: Hash) -> RpcResult<U64>;
    /// Every receipt of a block.
    #[method(name = "getBlockReceipts")]
    async fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<TransactionReceipt>>>;
}

#[async_trait]
impl BlocksApiServer for EthApi {
    async fn block_number(&self) -> RpcResult<U64> {
        Ok(U64::from(self.latest_number()))
    }

    async fn block_by_number(
        &self,
        number: BlockNumberOrTag,
        full: Option<bool>,
    ) -> RpcResult<Option<RpcBlock>> {
        Ok(self
            .block_for(BlockId::Number(number))?
            .map(|b| convert::rpc_block(&b, full.unwrap_or(false))))
    }

    async fn block_by_hash(&self, hash: Hash, full: Option<bool>) -> RpcResult<Option<RpcBlock>> {
        Ok(self
            .block_for(BlockId::Hash(hash.0.into()))?
            .map(|b| convert::rpc_block(&b, full.unwrap_or(false))))
    }

    async fn transaction_count_by_number(
        &self,
        number: BlockNumberOrTag,
    ) -> RpcResult<Option<U64>> {
        Ok(self
            .block_for(BlockId::Number(number))?
            .map(|b| U64::from(b.body.transactions.len())))
    }

    async fn transaction_count_by_hash(&self, hash: Hash) -> RpcResult<Option<U64>> {
        Ok(self
            .block_for(BlockId::Hash(hash.0.into()))?
            .map(|b| U64::from(b.body.transactions.len())))
    }

    async fn uncle_count_by_number(&self, _number: BlockNumberOrTag) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }

    async fn uncle_count_by_hash(&self, _hash: Hash) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }

    async fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<TransactionReceipt>>> {
        let Some(b) = self.block_for(block)? else {
            return Ok(None);
        };
        let receipts = self.receipts_of(&b)?;
        Ok(Some(convert::rpc_receipts(
            &self.chain.reader.spec,
            &b,
            &receipts,
        )))
    }
}
