//! `eth_getLogs`: logs of stored blocks (and of the preconfirmed block for `pending`, and for
//! `latest` with `--rpc.preconf-latest`), scanned on the heavy-work threads.

use super::{EthApi, RpcErr, RpcResult, convert, eth::Named};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_rpc_types_eth::{Filter, Log};
use jsonrpsee::{core::async_trait, proc_macros::rpc};
use preconf_core::primitives::{Receipt, SealedBlock};

/// Maximum block range of one `eth_getLogs` query.
const MAX_LOG_RANGE: u64 = 10_000;
/// Maximum logs in one reply (~10 MB of JSON); a query matching more gets -32005.
pub(crate) const MAX_LOGS: usize = 10_000;

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
        // Hashes of the stored blocks to read, one at a time.
        let blocks: Vec<alloy_primitives::B256> = if let Some(hash) = filter.get_block_hash() {
            match self.named(BlockId::Hash(hash.into()))? {
                Named::Preconfirmed(p) => {
                    pending = Some(p);
                    Vec::new()
                }
                Named::Stored(Some(h)) => vec![h.hash],
                Named::Stored(None) => return Err(RpcErr::Server("unknown block".into())),
            }
        } else {
            // One view of the chain for the whole query: the head and the preconfirmed block on
            // it, which is block head + 1 for `pending` (and for `latest` and its number with
            // --rpc.preconf-latest).
            let head = r.head();
            let preconfirmed = self.pending.on(&head.hash);
            let head = head.header.number;
            let from_tag = filter.block_option.get_from_block().copied();
            let to_tag = filter
                .block_option
                .get_to_block()
                .copied()
                .unwrap_or(BlockNumberOrTag::Latest);
            let latest = match &preconfirmed {
                Some(p) if self.preconf_latest => p.block.number(),
                _ => head,
            };
            let resolve = |t: Option<BlockNumberOrTag>| -> RpcResult<u64> {
                Ok(match t {
                    None | Some(BlockNumberOrTag::Latest) => latest,
                    Some(BlockNumberOrTag::Pending) => {
                        preconfirmed.as_ref().map_or(head, |p| p.block.number())
                    }
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
            let reaches_preconfirmed = match to_tag {
                BlockNumberOrTag::Pending => true,
                BlockNumberOrTag::Latest | BlockNumberOrTag::Number(_) => self.preconf_latest,
                _ => false,
            };
            pending = preconfirmed
                .filter(|p| reaches_preconfirmed && (from..=to).contains(&p.block.number()));
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
                if filter.matches_bloom(h.header.logs_bloom) {
                    out.push(h.hash);
                }
            }
            out
        };
        let mut logs = Vec::new();
        let collect = |logs: &mut Vec<Log>, block: &SealedBlock, receipts: &[Receipt]| {
            for receipt in convert::rpc_receipts(&r.spec, block, receipts) {
                for log in receipt.inner.logs() {
                    if filter.matches(&log.inner) {
                        logs.push(log.clone());
                    }
                }
            }
        };
        let too_many = || RpcErr::Limit(format!("query exceeds max results {MAX_LOGS}"));
        for hash in &blocks {
            let Some(block) = r.block_shared(hash)? else {
                continue;
            };
            let receipts = self.receipts_of(&block)?;
            collect(&mut logs, &block, &receipts);
            if logs.len() > MAX_LOGS {
                return Err(too_many());
            }
        }
        if let Some(p) = pending {
            collect(&mut logs, &p.block, &p.receipts);
        }
        if logs.len() > MAX_LOGS {
            return Err(too_many());
        }
        Ok(logs)
    }
}
