//! `debug_getRaw*`: headers, blocks, receipts and transactions in their consensus encodings.

use super::{EthApi, RpcErr, RpcResult, eth::Hash};
use alloy_eips::{BlockId, eip2718::Encodable2718};
use alloy_primitives::Bytes;
use jsonrpsee::{core::async_trait, proc_macros::rpc};

/// Raw encodings.
#[rpc(server, namespace = "debug")]
pub trait DebugApi {
    /// RLP of a header.
    #[method(name = "getRawHeader")]
    async fn raw_header(&self, block: BlockId) -> RpcResult<Bytes>;
    /// RLP of a block.
    #[method(name = "getRawBlock")]
    async fn raw_block(&self, block: BlockId) -> RpcResult<Bytes>;
    /// EIP-2718 encodings of a block's receipts.
    #[method(name = "getRawReceipts")]
    async fn raw_receipts(&self, block: BlockId) -> RpcResult<Vec<Bytes>>;
    /// EIP-2718 encoding of a transaction (`0x` when unknown).
    #[method(name = "getRawTransaction")]
    async fn raw_transaction(&self, hash: Hash) -> RpcResult<Bytes>;
}

fn raw(v: impl Encodable2718) -> Bytes {
    v.encoded_2718().into()
}

#[async_trait]
impl DebugApiServer for EthApi {
    async fn raw_header(&self, block: BlockId) -> RpcResult<Bytes> {
        let h = self
            .header_for(block)?
            .ok_or_else(|| RpcErr::Server("header not found".into()))?;
        Ok(Bytes::from(alloy_rlp::encode(&h.header)))
    }

    async fn raw_block(&self, block: BlockId) -> RpcResult<Bytes> {
        let b = self
            .block_for(block)?
            .ok_or_else(|| RpcErr::Server("block not found".into()))?;
        Ok(Bytes::from(alloy_rlp::encode(b.to_block())))
    }

    async fn raw_receipts(&self, block: BlockId) -> RpcResult<Vec<Bytes>> {
        let b = self
            .block_for(block)?
            .ok_or_else(|| RpcErr::Server("block not found".into()))?;
        Ok(self.receipts_of(&b)?.into_iter().map(raw).collect())
    }

    async fn raw_transaction(&self, hash: Hash) -> RpcResult<Bytes> {
        let r = &self.chain.reader;
        let Some(loc) = r.store.tx_location(&hash.0)? else {
            return Ok(Bytes::new());
        };
        let b = r
            .block(&loc.block_hash)?
            .ok_or_else(|| RpcErr::Internal("indexed block missing".into()))?;
        Ok(raw(b.body.transactions[loc.index as usize].clone()))
    }
}
