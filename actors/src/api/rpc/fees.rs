//! Fees: `eth_gasPrice`, `eth_maxPriorityFeePerGas`, `eth_blobBaseFee`, `eth_feeHistory`.

use super::{EthApi, RpcErr, RpcResult};
use alloy_consensus::Transaction as _;
use alloy_consensus::TxReceipt;
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{U64, U256};
use alloy_rpc_types_eth::FeeHistory;
use jsonrpsee::{core::async_trait, proc_macros::rpc};
use preconf_core::primitives::{Receipt, SealedBlock};

/// Maximum blocks of one `eth_feeHistory` query.
const MAX_FEE_HISTORY: u64 = 1024;
/// The priority fee suggested to wallets.
const SUGGESTED_TIP: u64 = 1_000_000_000;

/// Fee methods.
#[rpc(server, namespace = "eth")]
pub trait FeesApi {
    /// Base fee of the next block plus the suggested tip.
    #[method(name = "gasPrice")]
    async fn gas_price(&self) -> RpcResult<U256>;
    /// The suggested tip.
    #[method(name = "maxPriorityFeePerGas")]
    async fn max_priority_fee_per_gas(&self) -> RpcResult<U256>;
    /// Blob base fee of the next block.
    #[method(name = "blobBaseFee")]
    async fn blob_base_fee(&self) -> RpcResult<U256>;
    /// Base fees, gas ratios and reward percentiles of recent blocks (a wide range runs on the
    /// heavy-work threads).
    #[method(name = "feeHistory")]
    async fn fee_history(
        &self,
        count: U64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory>;
}

#[async_trait]
impl FeesApiServer for EthApi {
    async fn gas_price(&self) -> RpcResult<U256> {
        let base_fee = match self.current_pending() {
            Some(p) => p.block.header.base_fee_per_gas.unwrap_or_default(),
            None => self
                .chain
                .reader
                .spec
                .next_base_fee(&self.chain.reader.head().header),
        };
        Ok(U256::from(base_fee as u128 + SUGGESTED_TIP as u128))
    }

    async fn max_priority_fee_per_gas(&self) -> RpcResult<U256> {
        Ok(U256::from(SUGGESTED_TIP))
    }

    async fn blob_base_fee(&self) -> RpcResult<U256> {
        let r = &self.chain.reader;
        let head = r.head().header;
        let ts = head.timestamp + 1;
        r.spec
            .next_excess_blob_gas(&head, ts)
            .zip(r.spec.blob_params_at(ts))
            .map(|(e, p)| U256::from(p.calc_blob_fee(e)))
            .ok_or_else(|| RpcErr::Server("blob base fee unavailable before Cancun".into()))
    }

    async fn fee_history(
        &self,
        count: U64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        let api = self.clone();
        self.heavy
            .run(move || api.history(count.to(), newest, percentiles))
            .await
    }
}

impl EthApi {
    fn history(
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
