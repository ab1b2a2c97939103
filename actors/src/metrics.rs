//! Metric names (one place, Prometheus base units, one `preconf_` prefix), their descriptions and
//! the recorder. The HTTP endpoint that serves them is [`crate::api::ops`].

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Blocks committed to the canonical chain.
pub(crate) const CHAIN_BLOCKS_IMPORTED: &str = "preconf_chain_blocks_imported_total";
/// Blocks rejected as invalid.
pub(crate) const CHAIN_INVALID_BLOCKS: &str = "preconf_chain_invalid_blocks_total";
/// Seconds to execute and validate a block.
pub(crate) const CHAIN_EXECUTION_SECONDS: &str = "preconf_chain_block_execution_seconds";
/// Seconds to commit a block to the database.
pub(crate) const CHAIN_COMMIT_SECONDS: &str = "preconf_chain_block_commit_seconds";
/// Gas used by committed blocks.
pub(crate) const CHAIN_GAS_USED: &str = "preconf_chain_gas_used_total";
/// Head block number.
pub(crate) const CHAIN_HEAD_NUMBER: &str = "preconf_chain_head_number";
/// Accounts in the warm cache handed from the last executed block to its child.
pub(crate) const CHAIN_WARM_ACCOUNTS: &str = "preconf_chain_warm_cache_accounts";
/// Bytes in the database's page cache (bounded by `preconf_core::storage::CACHE_BYTES`).
pub(crate) const CHAIN_DB_CACHE_BYTES: &str = "preconf_chain_db_cache_bytes";
/// Block commits that failed (a full disk, an I/O error); the block is kept and tried again.
pub(crate) const CHAIN_COMMIT_FAILURES: &str = "preconf_chain_commit_failures_total";
/// Times the database was closed and opened again after a failed write.
pub(crate) const CHAIN_DB_REOPENS: &str = "preconf_chain_db_reopens_total";
/// Free bytes on the file system of the datadir.
pub(crate) const DISK_FREE_BYTES: &str = "preconf_disk_free_bytes";
/// The free space below which new transactions are refused (`--datadir.min-free-mb`).
pub(crate) const DISK_MIN_FREE_BYTES: &str = "preconf_disk_min_free_bytes";
/// 1 while `/healthz` answers 200.
pub(crate) const NODE_HEALTHY: &str = "preconf_node_healthy";
/// Blocks built by the payload builder.
pub(crate) const BUILDER_BLOCKS_BUILT: &str = "preconf_builder_blocks_built_total";
/// Seconds to build a payload.
pub(crate) const BUILDER_BUILD_SECONDS: &str = "preconf_builder_build_seconds";
/// Transactions in the pool by state (`pending`, `queued`).
pub(crate) const MEMPOOL_SIZE: &str = "preconf_mempool_transactions";
/// Transactions accepted into the pool.
pub(crate) const MEMPOOL_ADDED: &str = "preconf_mempool_added_total";
/// Transactions rejected by the pool, by reason.
pub(crate) const MEMPOOL_REJECTED: &str = "preconf_mempool_rejected_total";
/// Transactions evicted or dropped from the pool.
pub(crate) const MEMPOOL_DROPPED: &str = "preconf_mempool_dropped_total";
/// JSON-RPC requests, by method.
pub(crate) const RPC_REQUESTS: &str = "preconf_rpc_requests_total";
/// JSON-RPC request errors, by method.
pub(crate) const RPC_ERRORS: &str = "preconf_rpc_errors_total";
/// JSON-RPC request latency, by method.
pub(crate) const RPC_LATENCY_SECONDS: &str = "preconf_rpc_request_seconds";
/// Engine API requests refused for authentication.
pub(crate) const ENGINE_AUTH_FAILURES: &str = "preconf_engine_auth_failures_total";
/// Engine API calls by method.
pub(crate) const ENGINE_REQUESTS: &str = "preconf_engine_requests_total";
/// Actor failures seen by the supervisor, by actor.
pub(crate) const SUPERVISOR_FAILURES: &str = "preconf_supervisor_failures_total";
/// Actor restarts, by actor.
pub(crate) const SUPERVISOR_RESTARTS: &str = "preconf_supervisor_restarts_total";
/// 1 when an actor exhausted its restart budget.
pub(crate) const SUPERVISOR_DEGRADED: &str = "preconf_supervisor_degraded";

/// Payload server requests, by result (beacon-kit's labels).
pub(crate) const PAYLOAD_SERVER_REQUESTS: &str = "preconf_payload_server_requests_total";
/// Connections open on the payload server.
pub(crate) const PAYLOAD_SERVER_CONNECTIONS: &str = "preconf_payload_server_connections";
/// Payload-server connections closed to make room (`evicted_idle`) or refused because every
/// open one was serving a request (`refused_busy`).
pub(crate) const PAYLOAD_SERVER_CONNECTIONS_CLOSED: &str =
    "preconf_payload_server_connections_closed_total";
/// Whitelist reloads on SIGHUP, by result (`ok`, `refused`).
pub(crate) const PAYLOAD_SERVER_RELOADS: &str = "preconf_payload_server_whitelist_reloads_total";
/// Optimistic builds restarted for a new round's proposer.
pub(crate) const SEQUENCER_REBUILDS: &str = "preconf_sequencer_round_rebuilds_total";
/// Payload fetches by validators, by outcome.
pub(crate) const PROPOSER_FETCH: &str = "preconf_proposer_fetch_total";
/// Slots a proposer built locally instead of using the sequencer's payload, by reason.
pub(crate) const PROPOSER_FALLBACK: &str = "preconf_proposer_fallback_total";
/// 1 while validators consider the sequencer reachable.
pub(crate) const PROPOSER_SEQUENCER_AVAILABLE: &str = "preconf_proposer_sequencer_available";
/// Blocks proposed, by source (`sequencer`, `local`).
pub(crate) const PROPOSER_BLOCKS: &str = "preconf_proposer_blocks_total";
/// Seconds to fetch a payload from the sequencer.
pub(crate) const PROPOSER_FETCH_SECONDS: &str = "preconf_proposer_fetch_seconds";
/// Seconds to validate a fetched payload on the proposer's own execution.
pub(crate) const PROPOSER_VALIDATE_SECONDS: &str = "preconf_proposer_validate_seconds";
/// Rounds that ended without a block (the next round's proposer tries).
pub(crate) const CONSENSUS_ROUND_CHANGES: &str = "preconf_consensus_round_changes_total";
/// Seconds between consecutive committed blocks.
pub(crate) const CONSENSUS_SLOT_INTERVAL: &str = "preconf_consensus_slot_interval_seconds";
/// Committed height.
pub(crate) const CONSENSUS_HEIGHT: &str = "preconf_consensus_height";
/// Blocks a node did not take from the consensus.
pub(crate) const CONSENSUS_NODE_ERRORS: &str = "preconf_consensus_node_errors_total";

/// Payload jobs built without flashblocks, by reason.
pub(crate) const BUILDER_SKIPPED: &str = "preconf_builder_skipped_flashblock_jobs_total";
/// Flashblocks built by the sequencer.
pub(crate) const FLASHBLOCKS_BUILT: &str = "preconf_flashblocks_built_total";
/// Time to execute one flashblock's transactions.
pub(crate) const FLASHBLOCK_BUILD_SECONDS: &str = "preconf_flashblock_build_seconds";
/// Transactions per flashblock.
pub(crate) const FLASHBLOCK_TRANSACTIONS: &str = "preconf_flashblock_transactions";
/// Gas used per flashblock.
pub(crate) const FLASHBLOCK_GAS: &str = "preconf_flashblock_gas";
/// Flashblocks sealed early: a transaction arrived while the sequencer was idle
/// (`--flashblocks.early`).
pub(crate) const FLASHBLOCKS_EARLY: &str = "preconf_flashblocks_early_total";
/// Flashblock ticks skipped because the previous one ran late.
pub(crate) const FLASHBLOCK_MISSED_TICKS: &str = "preconf_flashblock_missed_ticks_total";
/// Delay between a flashblock tick's due time and its start.
pub(crate) const FLASHBLOCK_SCHEDULE_DEVIATION_SECONDS: &str =
    "preconf_flashblock_schedule_deviation_seconds";
/// Flashblocks signed.
pub(crate) const SEALER_SIGNED: &str = "preconf_sealer_signed_total";
/// Flashblocks that could not be signed.
pub(crate) const SEALER_FAILURES: &str = "preconf_sealer_failures_total";
/// Time to sign a flashblock.
pub(crate) const SEALER_SECONDS: &str = "preconf_sealer_sign_seconds";
/// Time from sealing a flashblock to handing it to the stream.
pub(crate) const FLASHBLOCK_SEAL_TO_SEND_SECONDS: &str = "preconf_flashblock_seal_to_send_seconds";
/// Flashblock stream clients connected.
pub(crate) const BROADCAST_CONNECTIONS: &str = "preconf_broadcaster_connections";
/// Flashblock messages queued to stream clients.
pub(crate) const BROADCAST_SENT: &str = "preconf_broadcaster_messages_sent_total";
/// Stream clients dropped or refused, by reason (lagging, limit).
pub(crate) const BROADCAST_DROPPED_PEERS: &str = "preconf_broadcaster_dropped_peers_total";
/// Failed WebSocket handshakes on the stream port.
pub(crate) const BROADCAST_HANDSHAKE_FAILURES: &str =
    "preconf_broadcaster_handshake_failures_total";
/// preconf_newPartialBlock push failures, by reason.
pub(crate) const BROADCAST_PUSH_ERRORS: &str = "preconf_broadcaster_push_errors_total";
/// Flashblocks not pushed because a target's queue was full.
pub(crate) const BROADCAST_PUSH_DROPPED: &str = "preconf_broadcaster_push_dropped_total";
/// Flashblocks received by the overlay, by outcome.
pub(crate) const OVERLAY_FLASHBLOCKS: &str = "preconf_overlay_flashblocks_total";
/// Flashblocks rejected by the overlay, by reason.
pub(crate) const OVERLAY_REJECTED: &str = "preconf_overlay_rejected_total";
/// Flashblocks whose signature failed, by reason.
pub(crate) const OVERLAY_SIGNATURE_FAILURES: &str = "preconf_overlay_signature_failures_total";
/// Time to verify-order-execute-publish one flashblock.
pub(crate) const OVERLAY_APPLY_SECONDS: &str = "preconf_overlay_apply_seconds";
/// Time from the sequencer sealing a flashblock to the overlay serving it.
pub(crate) const OVERLAY_SEAL_TO_APPLIED_SECONDS: &str = "preconf_overlay_seal_to_applied_seconds";
/// Block number of the pending (preconfirmed) block.
pub(crate) const OVERLAY_PENDING_NUMBER: &str = "preconf_overlay_pending_block_number";
/// Index of the latest applied flashblock (-1 when none).
pub(crate) const OVERLAY_PENDING_INDEX: &str = "preconf_overlay_pending_flashblock_index";
/// Preconfirmed transactions found at the same position in the canonical block.
pub(crate) const OVERLAY_PRECONF_HONORED: &str = "preconf_overlay_preconfirmations_honored_total";
/// Preconfirmed transactions missing or moved in the canonical block.
pub(crate) const OVERLAY_PRECONF_REORGED: &str = "preconf_overlay_preconfirmations_reorged_total";
/// Sequences dropped because the sequencer rebuilt their block (a round change).
pub(crate) const OVERLAY_SEQUENCES_REPLACED: &str = "preconf_overlay_sequences_replaced_total";
/// Proven sequencer equivocations (two signed flashblocks for one block that contradict), by kind.
pub(crate) const OVERLAY_EQUIVOCATIONS: &str = "preconf_overlay_equivocations_total";
/// Flashblock stream reconnections, by reason.
pub(crate) const OVERLAY_STREAM_RECONNECTS: &str = "preconf_overlay_stream_reconnects_total";
/// Raw transactions that could not be forwarded to the sequencer.
pub(crate) const RPC_FORWARD_ERRORS: &str = "preconf_rpc_forward_errors_total";
/// Heavy JSON-RPC calls (EVM calls, log scans) refused because the heavy-work queue was full.
pub(crate) const RPC_HEAVY_REFUSED: &str = "preconf_rpc_heavy_refused_total";
/// Journaled transactions offered to the pool again at start, by journal (`preconfirmed`,
/// `pool`) and outcome (`readmitted`, `included`, `invalid`).
pub(crate) const JOURNAL_TRANSACTIONS: &str = "preconf_journal_transactions_total";
/// Journal writes that failed, by journal (`preconfirmed`: the flashblock was not sent; `pool`).
pub(crate) const JOURNAL_WRITE_FAILURES: &str = "preconf_journal_write_failures_total";
/// Time to append a flashblock's transactions to the journal and sync it to disk.
pub(crate) const JOURNAL_APPEND_SECONDS: &str = "preconf_journal_append_seconds";
/// Seconds one hand-back of free heap pages to the system took ([`crate::process`]).
pub(crate) const HEAP_TRIM_SECONDS: &str = "preconf_heap_trim_seconds";
/// HTTP requests refused before JSON-RPC saw them, by reason (`too_large`, `timeout`, `busy`,
/// `malformed`, `origin`).
pub(crate) const RPC_HTTP_REFUSED: &str = "preconf_rpc_http_refused_total";
/// Every `reason` label of [`RPC_HTTP_REFUSED`].
pub(crate) const RPC_HTTP_REFUSED_REASONS: &[&str] =
    &["too_large", "timeout", "busy", "malformed", "origin"];
/// eth_sendRawTransactionSync calls that timed out.
pub(crate) const RPC_SYNC_TIMEOUTS: &str = "preconf_rpc_send_sync_timeouts_total";
/// Plain sends (with `--rpc.preconf-latest`) that returned before their transaction was
/// preconfirmed: the wait timed out, or no flashblock had come for a second so none was made.
pub(crate) const RPC_SETTLE_TIMEOUTS: &str = "preconf_rpc_send_settle_timeouts_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Creates `name{label=value}` at zero for every value, so dashboards show 0 rather than no data
/// before the first event. Components call it for their own counters when they start.
pub(crate) fn zero(name: &'static str, label: &'static str, values: &[&'static str]) {
    for &value in values {
        metrics::counter!(name, label => value).increment(0);
    }
}

/// [`zero`] for a counter with one more, fixed label.
pub(crate) fn zero2(
    name: &'static str,
    fixed: (&'static str, &'static str),
    label: &'static str,
    values: &[&'static str],
) {
    for &value in values {
        metrics::counter!(name, fixed.0 => fixed.1, label => value).increment(0);
    }
}

/// Installs the global recorder (once per process), describes every metric and starts the
/// exporter's upkeep.
pub(crate) fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ],
                )
                .expect("bucket list is non-empty")
                .set_buckets_for_metric(
                    Matcher::Full(CONSENSUS_SLOT_INTERVAL.into()),
                    &[0.5, 1.0, 1.5, 1.9, 2.0, 2.05, 2.1, 2.5, 3.0, 4.0, 6.0, 10.0],
                )
                .expect("bucket list is non-empty")
                .set_buckets_for_metric(
                    Matcher::Full(FLASHBLOCK_TRANSACTIONS.into()),
                    &[
                        0.0, 1.0, 5.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
                    ],
                )
                .expect("bucket list is non-empty")
                .set_buckets_for_metric(
                    Matcher::Full(FLASHBLOCK_GAS.into()),
                    &[0.0, 21e3, 1e5, 5e5, 1e6, 3e6, 1e7, 3e7],
                )
                .expect("bucket list is non-empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            describe();
            // Histogram samples are kept until upkeep folds them into the buckets; without it
            // they pile up (~18 bytes per RPC call) whenever nobody scrapes `/metrics`.
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        CHAIN_BLOCKS_IMPORTED,
        "Blocks committed to the canonical chain"
    );
    describe_counter!(CHAIN_INVALID_BLOCKS, "Blocks rejected as invalid");
    describe_histogram!(
        CHAIN_EXECUTION_SECONDS,
        Unit::Seconds,
        "Block execution and validation time"
    );
    describe_histogram!(CHAIN_COMMIT_SECONDS, Unit::Seconds, "Block commit time");
    describe_counter!(CHAIN_GAS_USED, "Gas used by committed blocks");
    describe_gauge!(CHAIN_HEAD_NUMBER, "Head block number");
    describe_counter!(
        CHAIN_COMMIT_FAILURES,
        "Block commits that failed (full disk, I/O error); the block is kept and tried again"
    );
    describe_counter!(
        CHAIN_DB_REOPENS,
        "Times the database was closed and opened again after a failed write"
    );
    describe_gauge!(
        DISK_FREE_BYTES,
        Unit::Bytes,
        "Free bytes on the file system of the datadir"
    );
    describe_gauge!(
        DISK_MIN_FREE_BYTES,
        Unit::Bytes,
        "Free space below which new transactions are refused (--datadir.min-free-mb)"
    );
    describe_gauge!(NODE_HEALTHY, "1 while /healthz answers 200");
    describe_gauge!(
        PAYLOAD_SERVER_CONNECTIONS,
        "Connections open on the payload server"
    );
    describe_counter!(
        PAYLOAD_SERVER_CONNECTIONS_CLOSED,
        "Payload-server connections closed to make room for a new one (evicted_idle) or refused because every open one was serving a request (refused_busy)"
    );
    describe_gauge!(
        CHAIN_DB_CACHE_BYTES,
        Unit::Bytes,
        "Bytes in the database's page cache (at most 64 MiB)"
    );
    describe_gauge!(
        CHAIN_WARM_ACCOUNTS,
        "Accounts carried from the last executed block to the next one built on it"
    );
    describe_counter!(BUILDER_BLOCKS_BUILT, "Payloads built");
    describe_histogram!(BUILDER_BUILD_SECONDS, Unit::Seconds, "Payload build time");
    describe_gauge!(MEMPOOL_SIZE, "Pool size by state");
    describe_counter!(MEMPOOL_ADDED, "Transactions accepted into the pool");
    describe_counter!(MEMPOOL_REJECTED, "Transactions rejected by reason");
    describe_counter!(MEMPOOL_DROPPED, "Transactions evicted or dropped");
    describe_counter!(RPC_REQUESTS, "JSON-RPC requests by method");
    describe_counter!(RPC_ERRORS, "JSON-RPC errors by method");
    describe_histogram!(
        RPC_LATENCY_SECONDS,
        Unit::Seconds,
        "JSON-RPC latency by method"
    );
    describe_counter!(
        ENGINE_AUTH_FAILURES,
        "Engine API requests refused for authentication"
    );
    describe_counter!(ENGINE_REQUESTS, "Engine API requests by method");
    describe_counter!(
        PAYLOAD_SERVER_REQUESTS,
        "Payload server requests by result (beacon-kit's labels)"
    );
    describe_counter!(
        PAYLOAD_SERVER_RELOADS,
        "Whitelist reloads on SIGHUP by result (ok, refused)"
    );
    describe_counter!(
        SEQUENCER_REBUILDS,
        "Optimistic builds restarted for a new round's proposer"
    );
    describe_counter!(PROPOSER_FETCH, "Payload fetches by validators, by outcome");
    describe_counter!(
        PROPOSER_FALLBACK,
        "Slots a proposer built locally instead of using the sequencer's payload, by reason"
    );
    describe_gauge!(
        PROPOSER_SEQUENCER_AVAILABLE,
        "1 while validators consider the sequencer reachable"
    );
    describe_counter!(
        PROPOSER_BLOCKS,
        "Blocks proposed, by source (sequencer, local)"
    );
    describe_histogram!(
        PROPOSER_FETCH_SECONDS,
        Unit::Seconds,
        "Time to fetch a payload from the sequencer"
    );
    describe_histogram!(
        PROPOSER_VALIDATE_SECONDS,
        Unit::Seconds,
        "Time to validate a fetched payload on the proposer's own execution"
    );
    describe_counter!(
        CONSENSUS_ROUND_CHANGES,
        "Rounds that ended without a block (the next round's proposer tries)"
    );
    describe_histogram!(
        CONSENSUS_SLOT_INTERVAL,
        Unit::Seconds,
        "Time between consecutive committed blocks"
    );
    describe_gauge!(CONSENSUS_HEIGHT, "Height committed by the devnet consensus");
    describe_counter!(
        CONSENSUS_NODE_ERRORS,
        "Blocks a node did not take from the devnet consensus, by node"
    );
    describe_counter!(SUPERVISOR_FAILURES, "Actor failures by actor");
    describe_counter!(SUPERVISOR_RESTARTS, "Actor restarts by actor");
    describe_gauge!(
        SUPERVISOR_DEGRADED,
        "1 when an actor exhausted its restart budget"
    );
    describe_counter!(
        BUILDER_SKIPPED,
        "Payload jobs built without flashblocks, by reason"
    );
    describe_counter!(FLASHBLOCKS_BUILT, "Flashblocks built by the sequencer");
    describe_histogram!(
        FLASHBLOCK_BUILD_SECONDS,
        Unit::Seconds,
        "Time to execute one flashblock's transactions"
    );
    describe_histogram!(FLASHBLOCK_TRANSACTIONS, "Transactions per flashblock");
    describe_histogram!(FLASHBLOCK_GAS, "Gas used per flashblock");
    describe_counter!(
        FLASHBLOCK_MISSED_TICKS,
        "Flashblock ticks skipped because the previous one ran late"
    );
    describe_histogram!(
        FLASHBLOCK_SCHEDULE_DEVIATION_SECONDS,
        Unit::Seconds,
        "Delay between a flashblock tick's due time and its start"
    );
    describe_counter!(SEALER_SIGNED, "Flashblocks signed");
    describe_counter!(SEALER_FAILURES, "Flashblocks that could not be signed");
    describe_histogram!(SEALER_SECONDS, Unit::Seconds, "Time to sign a flashblock");
    describe_histogram!(
        FLASHBLOCK_SEAL_TO_SEND_SECONDS,
        Unit::Seconds,
        "Time from sealing a flashblock to handing it to the stream"
    );
    describe_gauge!(BROADCAST_CONNECTIONS, "Flashblock stream clients connected");
    describe_counter!(
        BROADCAST_SENT,
        "Flashblock messages queued to stream clients"
    );
    describe_counter!(
        BROADCAST_DROPPED_PEERS,
        "Stream clients dropped or refused, by reason (lagging, limit)"
    );
    describe_counter!(
        BROADCAST_HANDSHAKE_FAILURES,
        "Failed WebSocket handshakes on the stream port"
    );
    describe_counter!(
        BROADCAST_PUSH_ERRORS,
        "preconf_newPartialBlock push failures, by reason"
    );
    describe_counter!(
        BROADCAST_PUSH_DROPPED,
        "Flashblocks not pushed because a target's queue was full"
    );
    describe_counter!(
        OVERLAY_FLASHBLOCKS,
        "Flashblocks received by the overlay, by outcome"
    );
    describe_counter!(
        OVERLAY_REJECTED,
        "Flashblocks rejected by the overlay, by reason"
    );
    describe_counter!(
        OVERLAY_SIGNATURE_FAILURES,
        "Flashblocks whose signature failed, by reason"
    );
    describe_histogram!(
        OVERLAY_APPLY_SECONDS,
        Unit::Seconds,
        "Time to verify-order-execute-publish one flashblock"
    );
    describe_histogram!(
        OVERLAY_SEAL_TO_APPLIED_SECONDS,
        Unit::Seconds,
        "Time from the sequencer sealing a flashblock to the overlay serving it"
    );
    describe_gauge!(
        OVERLAY_PENDING_NUMBER,
        "Block number of the pending (preconfirmed) block"
    );
    describe_gauge!(
        OVERLAY_PENDING_INDEX,
        "Index of the latest applied flashblock (-1 when none)"
    );
    describe_counter!(
        OVERLAY_PRECONF_HONORED,
        "Preconfirmed transactions found at the same position in the canonical block"
    );
    describe_counter!(
        OVERLAY_SEQUENCES_REPLACED,
        "Flashblock sequences dropped because the sequencer rebuilt their block (round change)"
    );
    describe_counter!(
        FLASHBLOCKS_EARLY,
        "Flashblocks sealed early: a transaction arrived while the sequencer was idle"
    );
    describe_counter!(
        OVERLAY_EQUIVOCATIONS,
        "Proven sequencer equivocations (two signed flashblocks for one block that contradict), by kind"
    );
    describe_counter!(
        OVERLAY_PRECONF_REORGED,
        "Preconfirmed transactions missing or moved in the canonical block"
    );
    describe_counter!(
        OVERLAY_STREAM_RECONNECTS,
        "Flashblock stream reconnections, by reason"
    );
    describe_counter!(
        RPC_FORWARD_ERRORS,
        "Raw transactions that could not be forwarded to the sequencer"
    );
    describe_counter!(
        JOURNAL_TRANSACTIONS,
        "Journaled transactions offered to the pool again at start, by journal and outcome"
    );
    describe_counter!(
        JOURNAL_WRITE_FAILURES,
        "Journal writes that failed (preconfirmed: the flashblock was not sent)"
    );
    describe_histogram!(
        JOURNAL_APPEND_SECONDS,
        Unit::Seconds,
        "Time to append a flashblock's transactions to the journal and sync it to disk"
    );
    describe_histogram!(
        HEAP_TRIM_SECONDS,
        Unit::Seconds,
        "Time to hand the allocator's free heap pages back to the system"
    );
    describe_counter!(
        RPC_HTTP_REFUSED,
        "HTTP requests refused before JSON-RPC saw them: body too large, too slow, too much request data in flight, broken, or a WebSocket from a foreign origin"
    );
    describe_counter!(
        RPC_HEAVY_REFUSED,
        "Heavy JSON-RPC calls (EVM calls, log scans) refused because the heavy-work queue was full"
    );
    describe_counter!(
        RPC_SYNC_TIMEOUTS,
        "eth_sendRawTransactionSync calls that timed out"
    );
    describe_counter!(
        RPC_SETTLE_TIMEOUTS,
        "Plain sends (--rpc.preconf-latest) that returned before their transaction was preconfirmed"
    );
    // Zero-initialise the unlabelled counters so dashboards show them before the first event
    // (labelled ones are zeroed per label by their components when they start).
    for name in [
        CHAIN_BLOCKS_IMPORTED,
        CHAIN_INVALID_BLOCKS,
        CHAIN_GAS_USED,
        BUILDER_BLOCKS_BUILT,
        MEMPOOL_ADDED,
        MEMPOOL_DROPPED,
        ENGINE_AUTH_FAILURES,
        FLASHBLOCKS_BUILT,
        FLASHBLOCK_MISSED_TICKS,
        FLASHBLOCKS_EARLY,
        SEALER_SIGNED,
        SEALER_FAILURES,
        BROADCAST_SENT,
        BROADCAST_HANDSHAKE_FAILURES,
        BROADCAST_PUSH_DROPPED,
        OVERLAY_PRECONF_HONORED,
        OVERLAY_PRECONF_REORGED,
        OVERLAY_SEQUENCES_REPLACED,
        RPC_FORWARD_ERRORS,
        RPC_HEAVY_REFUSED,
        RPC_SYNC_TIMEOUTS,
        RPC_SETTLE_TIMEOUTS,
    ] {
        metrics::counter!(name).increment(0);
    }
}
