//! `debug_getRaw*`: headers, blocks, receipts and transactions in their consensus encodings.

use super::{EthApi, RpcErr, RpcResult, eth::Hash, transactions::Found};
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
    /// EIP-2718 encoding of a transaction, preconfirmed, sealed or pooled (`0x` when unknown).
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
        Ok(match self.find_transaction(hash.0).await? {
            Some(Found::Block(b, i)) => b
                .body
                .transactions
                .get(i)
                .cloned()
                .map(raw)
                .unwrap_or_default(),
            Some(Found::Pooled(t)) => t.tx.inner().encoded_2718().into(),
            None => Bytes::new(),
        })
    }
}
