//! `eth_getLogs`: logs of stored blocks (and of the preconfirmed block for `pending`), scanned on
//! the heavy-work threads.

use super::{EthApi, RpcErr, RpcResult, convert};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_rpc_types_eth::{Filter, Log};
use jsonrpsee::{core::async_trait, proc_macros::rpc};
use preconf_core::primitives::{Receipt, SealedBlock};

/// Maximum block range of one `eth_getLogs` query.
const MAX_LOG_RANGE: u64 = 10_000;

/// Log queries.
#[rpc(server, namespace = "eth")]
pub trait LogsApi {
    /// Logs matching a filter.
    #[method(name = "getLogs")]
    async fn get_logs(&self, filter: Filter) -> RpcResult<Vec<Log>>;
}

#[async_trait]
impl LogsApiServer for EthApi {
    async fn get_logs(&self, filter: Filter) -> RpcResult<Vec<Log>> {
        let api = self.clone();
        self.heavy.run(move || api.logs(&filter)).await
    }
}

impl EthApi {
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
                    // A number past the head stays as asked (it matches nothing yet).
                    Some(BlockNumberOrTag::Number(n)) => n,
                    Some(tag) => self
                        .header_for(BlockId::Number(tag))?
                        .map(|h| h.header.number)
                        .unwrap_or(head),
                })
            };
            let from = resolve(from_tag)?;
            let to = resolve(Some(to_tag))?;
            if from > to {
                return Err(RpcErr::Server("invalid block range params".into()));
            }
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
}
