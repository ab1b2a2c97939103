//! `preconf-node bench`: a load generator that works against any Ethereum JSON-RPC node.
//!
//! It pre-signs EIP-1559 transfers from many senders (the dev accounts, or `--keys FILE`, plus
//! extra deterministic senders funded from the first key when `--senders` asks for more), sends
//! them at `--rate` for `--duration`, and measures for every transaction the time from send to the
//! first time it is seen in the block of `--tag` (`pending` by default: the preconfirmed block on
//! preconf-node, the pending block elsewhere; `latest` for canonical inclusion). A watcher polls
//! the tiny `eth_blockNumber` and `eth_getBlockTransactionCountByNumber` every millisecond and
//! fetches the block's transaction hashes only when one of them changes, so the measurement costs
//! the node little. Canonical blocks are read too, so inclusion throughput is measured in the
//! same run. With `--sync` each transaction is sent with `eth_sendRawTransactionSync` (EIP-7966)
//! instead, and the latency is the call's duration: the node reports the receipt itself, so no
//! polling perturbs the measurement (for nodes that implement the method; the watcher then only
//! reads canonical blocks, every 20 ms, for the inclusion count). Progress goes to
//! stderr each second; the summary is JSON on stdout.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use jsonrpsee::{
    core::client::ClientT,
    http_client::{HttpClient, HttpClientBuilder},
    rpc_params,
};
use serde::Serialize;
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// What the bench is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct BenchConfig {
    pub(crate) rpc: String,
    pub(crate) rate: u64,
    pub(crate) duration: Duration,
    pub(crate) tag: String,
    pub(crate) senders: usize,
    pub(crate) keys: Vec<PrivateKeySigner>,
    pub(crate) wait: Duration,
    pub(crate) sync: bool,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

/// The JSON summary.
#[derive(Debug, Serialize)]
struct Summary {
    rpc: String,
    tag: String,
    mode: &'static str,
    rate: u64,
    duration_s: f64,
    senders: usize,
    sent: u64,
    send_errors: u64,
    send_error_kinds: HashMap<String, u64>,
    seen: usize,
    missing: usize,
    latency_ms: Option<Percentiles>,
    send_ack_ms: Option<Percentiles>,
    included: usize,
    inclusion_tps: f64,
    offered_tps: f64,
}

type Client = HttpClient;

/// Most requests in flight at once.
const MAX_IN_FLIGHT: usize = 1000;

fn client(url: &str) -> eyre::Result<Client> {
    Ok(HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(30))
        .max_concurrent_requests(4096)
        .build(url)?)
}

fn quantity(v: &serde_json::Value) -> u64 {
    v.as_str()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0)
}

fn percentiles(mut v: Vec<f64>) -> Option<Percentiles> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    Some(Percentiles {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: v[v.len() - 1],
        mean: v.iter().sum::<f64>() / v.len() as f64,
    })
}

/// An error's kind for the summary: the JSON-RPC code and the message up to its first detail
/// (so errors that differ only in a nonce or a hash count together).
fn error_kind(e: &jsonrpsee::core::client::Error) -> String {
    match e {
        jsonrpsee::core::client::Error::Call(obj) => {
            let message = obj.message();
            let head = message.split([':', ',']).next().unwrap_or(message);
            format!("code {}: {}", obj.code(), head.trim())
        }
        other => other.to_string(),
    }
}

/// Extra senders: deterministic keys, so repeated runs reuse funded accounts.
fn extra_sender(i: usize) -> PrivateKeySigner {
    let seed = keccak256(format!("preconf-node bench sender {i}"));
    PrivateKeySigner::from_bytes(&seed).expect("a keccak output is a valid key")
}

fn sign(
    key: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: Address,
    value: U256,
    max_fee: u128,
) -> Bytes {
    let mut tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value,
        ..Default::default()
    };
    let sig = key
        .sign_transaction_sync(&mut tx)
        .expect("local signing does not fail");
    let envelope: TxEnvelope = tx.into_signed(sig).into();
    envelope.encoded_2718().into()
}

/// Sends a transfer from `key` to each of `to` and waits until all are in canonical blocks (a
/// preconfirmed balance is not yet spendable in every node's pool).
async fn fund(
    c: &Client,
    chain_id: u64,
    key: &PrivateKeySigner,
    to: &[Address],
    max_fee: u128,
) -> eyre::Result<()> {
    let nonce: serde_json::Value = c
        .request(
            "eth_getTransactionCount",
            rpc_params![key.address(), "pending"],
        )
        .await?;
    let mut nonce = quantity(&nonce);
    // 10 ether each: covers the fee cap of a few hundred pending transfers per sender.
    let amount = U256::from(10u128.pow(19));
    for chunk in to.chunks(32) {
        for addr in chunk {
            let raw = sign(key, chain_id, nonce, *addr, amount, max_fee);
            nonce += 1;
            let _: B256 = c
                .request("eth_sendRawTransaction", rpc_params![raw])
                .await?;
        }
        // Stay under per-sender pool limits: wait for this chunk before the next.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let n: serde_json::Value = c
                .request(
                    "eth_getTransactionCount",
                    rpc_params![key.address(), "latest"],
                )
                .await?;
            if quantity(&n) >= nonce {
                break;
            }
            if Instant::now() > deadline {
                eyre::bail!("funding transactions not included within a minute");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Shared between the sender, the watcher and the progress printer.
#[derive(Default)]
struct Shared {
    sent_at: Mutex<HashMap<B256, Instant>>,
    seen: Mutex<HashMap<B256, f64>>,
    included: Mutex<Vec<(Instant, usize)>>,
    sent: AtomicU64,
    errors: AtomicU64,
    error_kinds: Mutex<HashMap<String, u64>>,
    acks: Mutex<Vec<f64>>,
    /// Whether the hint about a base fee above the fee cap was printed.
    priced_out: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// Send → first-seen latencies so far, in milliseconds.
    fn latencies(&self) -> Vec<f64> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .copied()
            .collect()
    }
}

/// Watches the `tag` block and canonical blocks, recording when each hash is first seen.
async fn watch(
    c: Client,
    tag: String,
    poll: Duration,
    shared: Arc<Shared>,
    stop: Arc<tokio::sync::Notify>,
) {
    let mut last = (u64::MAX, u64::MAX);
    let mut canonical_done = None::<u64>;
    let mut seen_in_tag = HashSet::new();
    loop {
        tokio::select! {
            _ = stop.notified() => return,
            _ = tokio::time::sleep(poll) => {}
        }
        let (number, count) = tokio::join!(
            c.request::<serde_json::Value, _>("eth_blockNumber", rpc_params![]),
            c.request::<serde_json::Value, _>(
                "eth_getBlockTransactionCountByNumber",
                rpc_params![tag.as_str()]
            ),
        );
        let (Ok(number), Ok(count)) = (number, count) else {
            continue;
        };
        let now = (quantity(&number), quantity(&count));
        if now == last {
            continue;
        }
        last = now;
        let mut hashes: Vec<B256> = Vec::new();
        if let Ok(block) = c
            .request::<serde_json::Value, _>(
                "eth_getBlockByNumber",
                rpc_params![tag.as_str(), false],
            )
            .await
            && let Some(txs) = block["transactions"].as_array()
        {
            hashes.extend(txs.iter().filter_map(|t| t.as_str()?.parse::<B256>().ok()));
        }
        // Canonical blocks since the last look: inclusion throughput, and anything the tag's
        // block never showed. A block counts once the next one exists: on a node that serves
        // `latest` from its preconfirmed block, the newest block is still growing.
        let head = now.0.saturating_sub(1);
        let from = canonical_done.map_or(head, |d| d + 1);
        for n in from..=head {
            if let Ok(block) = c
                .request::<serde_json::Value, _>(
                    "eth_getBlockByNumber",
                    rpc_params![format!("0x{n:x}"), false],
                )
                .await
                && let Some(txs) = block["transactions"].as_array()
            {
                let in_block: Vec<B256> = txs
                    .iter()
                    .filter_map(|t| t.as_str()?.parse().ok())
                    .collect();
                let ours = {
                    let sent = shared.sent_at.lock().unwrap_or_else(|e| e.into_inner());
                    in_block.iter().filter(|h| sent.contains_key(*h)).count()
                };
                if canonical_done.is_some() {
                    shared
                        .included
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((Instant::now(), ours));
                }
                hashes.extend(in_block);
            }
        }
        canonical_done = Some(head);
        let t = Instant::now();
        let sent = shared.sent_at.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = shared.seen.lock().unwrap_or_else(|e| e.into_inner());
        for h in hashes {
            if seen_in_tag.insert(h)
                && !seen.contains_key(&h)
                && let Some(s) = sent.get(&h)
            {
                seen.insert(h, t.duration_since(*s).as_secs_f64() * 1000.0);
            }
        }
    }
}

/// Runs the bench and prints the summary.
/// Runs the bench against `cfg.rpc` and prints the JSON summary; with `compare`, runs the same
/// load against that node afterwards (with its own tag, polling: a peer may not implement
/// EIP-7966, or not its timeout parameter) and prints both summaries as an array.
pub(crate) async fn run(cfg: BenchConfig, compare: Option<(String, String)>) -> eyre::Result<()> {
    let first = measure(&cfg).await?;
    let Some((rpc, tag)) = compare else {
        println!("{}", serde_json::to_string_pretty(&first)?);
        return Ok(());
    };
    eprintln!("now the same load against {rpc} (tag {tag})");
    let second = measure(&BenchConfig {
        rpc,
        tag,
        sync: false,
        ..cfg
    })
    .await?;
    println!("{}", serde_json::to_string_pretty(&[first, second])?);
    Ok(())
}

/// One measurement.
async fn measure(cfg: &BenchConfig) -> eyre::Result<Summary> {
    let c = client(&cfg.rpc)?;
    let chain_id: serde_json::Value = c.request("eth_chainId", rpc_params![]).await?;
    let chain_id = quantity(&chain_id);
    let gas_price: serde_json::Value = c.request("eth_gasPrice", rpc_params![]).await?;
    // The transactions are signed up front, so their fee cap must outlast the base fee's rise
    // while the load fills blocks (12.5 % per full block): 100 gwei is ~39 full blocks above a
    // 1 gwei base fee. A too-low cap left transactions stuck behind a risen base fee (nonce gaps).
    let max_fee = (quantity(&gas_price) as u128 * 4).max(100_000_000_000) + 1_000_000_000;

    let mut keys = cfg.keys.clone();
    if keys.is_empty() {
        keys = preconf_core::devnet::dev_signers();
    }
    if cfg.senders > keys.len() {
        let extra: Vec<PrivateKeySigner> =
            (0..cfg.senders - keys.len()).map(extra_sender).collect();
        let mut unfunded = Vec::new();
        for k in &extra {
            let b: serde_json::Value = c
                .request("eth_getBalance", rpc_params![k.address(), "latest"])
                .await?;
            if b.as_str()
                .and_then(|s| U256::from_str_radix(s.trim_start_matches("0x"), 16).ok())
                .unwrap_or_default()
                < U256::from(10u128.pow(17))
            {
                unfunded.push(k.address());
            }
        }
        if !unfunded.is_empty() {
            eprintln!(
                "funding {} bench senders from {}",
                unfunded.len(),
                keys[0].address()
            );
            fund(&c, chain_id, &keys[0], &unfunded, max_fee).await?;
        }
        keys.extend(extra);
    }
    keys.truncate(cfg.senders.max(1));

    let total = (cfg.rate as f64 * cfg.duration.as_secs_f64()).round() as usize;
    eprintln!("pre-signing {total} transfers from {} senders", keys.len());
    let mut nonces = Vec::new();
    for k in &keys {
        let n: serde_json::Value = c
            .request(
                "eth_getTransactionCount",
                rpc_params![k.address(), "pending"],
            )
            .await?;
        nonces.push(quantity(&n));
    }
    let sink = Address::with_last_byte(0xbe);
    let keys = Arc::new(keys);
    let txs: Vec<(B256, Bytes)> = tokio::task::spawn_blocking({
        let keys = keys.clone();
        move || {
            (0..total)
                .map(|i| {
                    let s = i % keys.len();
                    let nonce = nonces[s] + (i / keys.len()) as u64;
                    let raw = sign(&keys[s], chain_id, nonce, sink, U256::from(1), max_fee);
                    (keccak256(&raw), raw)
                })
                .collect()
        }
    })
    .await?;

    let shared = Arc::new(Shared::default());
    let stop = Arc::new(tokio::sync::Notify::new());
    // With `--sync` the calls report the latency themselves: the watcher only counts canonical
    // inclusion, so it looks at `latest` and polls gently.
    let (watch_tag, poll) = if cfg.sync {
        ("latest".to_string(), Duration::from_millis(20))
    } else {
        (cfg.tag.clone(), Duration::from_millis(1))
    };
    let watcher = tokio::spawn(watch(
        client(&cfg.rpc)?,
        watch_tag,
        poll,
        shared.clone(),
        stop.clone(),
    ));
    let progress = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let seen = shared.latencies();
                let p = percentiles(seen.clone());
                eprintln!(
                    "sent {} (errors {}), seen {}, p50 {:.1} ms, p99 {:.1} ms",
                    shared.sent.load(Ordering::Relaxed),
                    shared.errors.load(Ordering::Relaxed),
                    seen.len(),
                    p.as_ref().map_or(0.0, |p| p.p50),
                    p.as_ref().map_or(0.0, |p| p.p99),
                );
            }
        })
    };

    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / cfg.rate.max(1) as f64);
    // Stay under the connection limit servers commonly apply (1,024 on preconf-node): one HTTP
    // request in flight per connection.
    let sem = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut sends = tokio::task::JoinSet::new();
    for (i, (hash, raw)) in txs.into_iter().enumerate() {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let permit = sem.clone().acquire_owned().await?;
        let c = c.clone();
        let shared = shared.clone();
        shared
            .sent_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, Instant::now());
        let sync = cfg.sync;
        sends.spawn(async move {
            let t = Instant::now();
            let r: Result<B256, _> = if sync {
                // EIP-7966: the call returns with the first receipt.
                c.request::<serde_json::Value, _>(
                    "eth_sendRawTransactionSync",
                    rpc_params![raw, 10_000],
                )
                .await
                .map(|_| {
                    shared
                        .seen
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(hash, t.elapsed().as_secs_f64() * 1000.0);
                    hash
                })
            } else {
                c.request("eth_sendRawTransaction", rpc_params![raw]).await
            };
            shared
                .acks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(t.elapsed().as_secs_f64() * 1000.0);
            match r {
                Ok(_) => shared.sent.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    let mut kinds = shared.error_kinds.lock().unwrap_or_else(|e| e.into_inner());
                    let kind = error_kind(&e);
                    if kind.contains("max fee per gas less than block base fee")
                        && !shared.priced_out.swap(true, Ordering::Relaxed)
                    {
                        eprintln!(
                            "the base fee has risen above the fee cap the transfers were signed with \
                             ({max_fee} wei): the offered load exceeds the chain's gas target (half \
                             the gas limit), so the base fee rises every block; every later transfer \
                             of that sender now fails (nonce gap). Run the devnet with a larger \
                             --gas-limit (a transfer is 21,000 gas)."
                        );
                    }
                    if kinds.len() < 16 || kinds.contains_key(&kind) {
                        *kinds.entry(kind).or_default() += 1;
                    }
                    shared.errors.fetch_add(1, Ordering::Relaxed)
                }
            };
            drop(permit);
        });
    }
    while sends.join_next().await.is_some() {}
    let send_span = started.elapsed();
    // Give stragglers time to show up.
    let deadline = Instant::now() + cfg.wait;
    while Instant::now() < deadline {
        let done = shared.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
            >= shared.sent.load(Ordering::Relaxed) as usize;
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One more canonical block for the inclusion count.
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.notify_one();
    let _ = watcher.await;
    progress.abort();

    let seen = shared.latencies();
    let included = shared
        .included
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let included_total: usize = included.iter().map(|(_, n)| n).sum();
    let inclusion_tps = match (
        included.iter().find(|(_, n)| *n > 0),
        included.iter().rev().find(|(_, n)| *n > 0),
    ) {
        (Some(first), Some(last)) if last.0 > first.0 => {
            // Blocks arrive every slot: count everything after the first block over the span.
            (included_total - first.1) as f64 / last.0.duration_since(first.0).as_secs_f64()
        }
        _ => 0.0,
    };
    let sent = shared.sent.load(Ordering::Relaxed);
    let summary = Summary {
        rpc: cfg.rpc.clone(),
        tag: cfg.tag.clone(),
        mode: if cfg.sync { "sync" } else { "poll" },
        rate: cfg.rate,
        duration_s: cfg.duration.as_secs_f64(),
        senders: keys.len(),
        sent,
        send_errors: shared.errors.load(Ordering::Relaxed),
        send_error_kinds: shared
            .error_kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        seen: seen.len(),
        missing: (sent as usize).saturating_sub(seen.len()),
        latency_ms: percentiles(seen),
        send_ack_ms: percentiles(
            shared
                .acks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        ),
        included: included_total,
        inclusion_tps,
        offered_tps: sent as f64 / send_span.as_secs_f64(),
    };
    Ok(summary)
}
