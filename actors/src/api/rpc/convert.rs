//! Conversions from the chain's types to the execution-apis JSON shapes (alloy's RPC types, over
//! the chain's own transaction, receipt and header types so that Berachain's PoL transaction
//! shows as `"type": "0x7e"` and the header's `parentProposerPubkey` appears).

use alloy_consensus::{
    ReceiptEnvelope, ReceiptWithBloom, Sealed, Transaction as _, TxReceipt,
    transaction::{Recovered, TransactionInfo},
};
use alloy_eips::eip4844::DATA_GAS_PER_BLOB;
use alloy_primitives::{Address, B256, U256};
use alloy_rlp::Encodable;
use alloy_rpc_types_eth::{BlockTransactions, Header as RpcHeader, Log};
use preconf_core::{
    chainspec::ChainSpec,
    pol::POL_TX_TYPE,
    primitives::{BlockTransaction, Header, Receipt, SealedBlock},
    txpool::PooledTx,
};

/// A transaction as JSON-RPC shows it.
pub(crate) type RpcTransaction = alloy_rpc_types_eth::Transaction<BlockTransaction>;
/// A block as JSON-RPC shows it.
pub(crate) type RpcBlock = alloy_rpc_types_eth::Block<RpcTransaction, RpcHeader<Header>>;
/// A receipt as JSON-RPC shows it.
pub(crate) type RpcReceipt = alloy_rpc_types_eth::TransactionReceipt<RpcReceiptFields>;

/// The type-specific part of an RPC receipt: Ethereum's, or the PoL transaction's (`type`
/// `0x7e`, then the same fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RpcReceiptFields {
    /// A user transaction's receipt.
    Ethereum(ReceiptEnvelope<Log>),
    /// The PoL transaction's receipt.
    Pol(ReceiptWithBloom<alloy_consensus::Receipt<Log>>),
}

impl RpcReceiptFields {
    /// The receipt's logs.
    pub(crate) fn logs(&self) -> &[Log] {
        match self {
            Self::Ethereum(r) => r.logs(),
            Self::Pol(r) => &r.receipt.logs,
        }
    }
}

impl serde::Serialize for RpcReceiptFields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Pol<'a> {
            #[serde(rename = "type", with = "alloy_serde::quantity")]
            ty: u8,
            #[serde(flatten)]
            fields: &'a ReceiptWithBloom<alloy_consensus::Receipt<Log>>,
        }
        match self {
            Self::Ethereum(r) => r.serialize(s),
            Self::Pol(r) => Pol {
                ty: POL_TX_TYPE,
                fields: r,
            }
            .serialize(s),
        }
    }
}

/// An RPC transaction at a position in a block (or pending, with no block).
pub(crate) fn rpc_tx(
    tx: BlockTransaction,
    sender: Address,
    block: Option<(&Header, B256, u64)>,
) -> RpcTransaction {
    let info = match block {
        Some((header, hash, index)) => TransactionInfo {
            hash: Some(*tx.tx_hash()),
            index: Some(index),
            block_hash: Some(hash),
            block_number: Some(header.number),
            base_fee: header.base_fee_per_gas,
            block_timestamp: None,
        },
        None => TransactionInfo {
            hash: Some(*tx.tx_hash()),
            ..Default::default()
        },
    };
    let mut t = RpcTransaction::from_transaction(Recovered::new_unchecked(tx, sender), info);
    if block.is_none() {
        t.effective_gas_price = None;
    }
    t
}

/// An RPC transaction waiting in the pool (no block).
pub(crate) fn rpc_pooled_tx(tx: &PooledTx) -> RpcTransaction {
    rpc_tx(tx.tx.inner().clone().into(), tx.sender(), None)
}

/// The block's RLP size.
fn block_size(block: &SealedBlock) -> U256 {
    let b = block.to_block();
    U256::from(b.length())
}

/// An RPC block, with full transactions or their hashes.
pub(crate) fn rpc_block(block: &SealedBlock, full: bool) -> RpcBlock {
    let header = RpcHeader::from_consensus(
        Sealed::new_unchecked(block.header.clone(), block.hash),
        None,
        Some(block_size(block)),
    );
    let transactions = if full {
        BlockTransactions::Full(
            block
                .body
                .transactions
                .iter()
                .zip(&block.senders)
                .enumerate()
                .map(|(i, (tx, s))| {
                    rpc_tx(tx.clone(), *s, Some((&block.header, block.hash, i as u64)))
                })
                .collect(),
        )
    } else {
        BlockTransactions::Hashes(
            block
                .body
                .transactions
                .iter()
                .map(|t| *t.tx_hash())
                .collect(),
        )
    };
    RpcBlock {
        header,
        uncles: Vec::new(),
        transactions,
        withdrawals: block.body.withdrawals.clone(),
    }
}

/// The RPC receipts of every transaction of a block.
/// The RPC receipt of transaction `i` of a block whose first log has index `log_start`.
fn receipt_at(
    spec: &ChainSpec,
    block: &SealedBlock,
    receipts: &[Receipt],
    i: usize,
    log_start: u64,
) -> Option<RpcReceipt> {
    let tx = block.body.transactions.get(i)?;
    let sender = *block.senders.get(i)?;
    let receipt = receipts.get(i)?;
    let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
    let prev_cumulative = i
        .checked_sub(1)
        .and_then(|p| receipts.get(p))
        .map_or(0, |r| r.cumulative_gas_used());
    let gas_used = receipt.cumulative_gas_used() - prev_cumulative;
    let mut log_index = log_start;
    let to_rpc = |l| {
        let log = Log {
            inner: l,
            block_hash: Some(block.hash),
            block_number: Some(block.header.number),
            block_timestamp: None,
            transaction_hash: Some(*tx.tx_hash()),
            transaction_index: Some(i as u64),
            log_index: Some(log_index),
            removed: false,
        };
        log_index += 1;
        log
    };
    let inner = match receipt.clone() {
        Receipt::Ethereum(r) => RpcReceiptFields::Ethereum(r.map_logs(to_rpc)),
        Receipt::Pol(r) => RpcReceiptFields::Pol(r.map_receipt(|r| r.map_logs(to_rpc))),
    };
    let is_blob = tx.blob_versioned_hashes().is_some();
    // The PoL transaction is a system call: it pays nothing.
    let effective_gas_price = match tx {
        BlockTransaction::Pol(_) => 0,
        BlockTransaction::Ethereum(tx) => {
            tx.effective_tip_per_gas(base_fee).unwrap_or_default() + base_fee as u128
        }
    };
    Some(RpcReceipt {
        inner,
        transaction_hash: *tx.tx_hash(),
        transaction_index: Some(i as u64),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        gas_used,
        effective_gas_price,
        blob_gas_used: is_blob
            .then(|| tx.blob_versioned_hashes().map_or(0, |h| h.len() as u64) * DATA_GAS_PER_BLOB),
        blob_gas_price: if is_blob {
            spec.blob_base_fee(&block.header)
        } else {
            None
        },
        from: sender,
        to: tx.to(),
        contract_address: tx.kind().is_create().then(|| sender.create(tx.nonce())),
    })
}

/// Every RPC receipt of a block.
pub(crate) fn rpc_receipts(
    spec: &ChainSpec,
    block: &SealedBlock,
    receipts: &[Receipt],
) -> Vec<RpcReceipt> {
    let mut log_start = 0u64;
    let mut out = Vec::with_capacity(receipts.len());
    for i in 0..receipts.len().min(block.body.transactions.len()) {
        if let Some(r) = receipt_at(spec, block, receipts, i, log_start) {
            out.push(r);
        }
        log_start += receipts[i].logs().len() as u64;
    }
    out
}

/// The RPC receipt of transaction `i` of a block.
pub(crate) fn rpc_receipt(
    spec: &ChainSpec,
    block: &SealedBlock,
    receipts: &[Receipt],
    i: usize,
) -> Option<RpcReceipt> {
    let log_start = receipts.iter().take(i).map(|r| r.logs().len() as u64).sum();
    receipt_at(spec, block, receipts, i, log_start)
}
