//! The crash drill: the devnet is killed with SIGKILL at random moments while senders stream
//! transfers (each waiting for its preconfirmation), and restarted on the same datadir. Checked:
//! the canonical head never goes back, the node's own start-up check of the state root passes
//! (it refuses to start otherwise), the ledger is exact (the balances of every account involved
//! plus the burned fees equal their genesis balances), and every transaction that was
//! preconfirmed before a kill is in a canonical block in the end (or was counted invalid).
//!
//! `PRECONF_DRILL_KILLS` sets the number of kills (5 by default; `scripts/drill-crash.sh` runs
//! 100 on the release build).

use crate::{
    devnet::signed,
    support::{Proc, bin},
};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use preconf_core::devnet::dev_signer;
use serde_json::{Value, json};
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// Dev accounts that send (one thread each).
const SENDERS: [u32; 4] = [6, 7, 8, 9];
const SINK: Address = Address::with_last_byte(0x5c);

/// One JSON-RPC call that never panics: `None` when the node is gone or answers nonsense.
fn try_call(addr: SocketAddr, method: &str, params: Value) -> Option<Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (_, body) = raw.split_once("\r\n\r\n")?;
    serde_json::from_str(body).ok()
}

fn quantity(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16).unwrap_or(0)
}

fn wei(v: &Value) -> U256 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_default()
}

fn finalized(p: &Proc) -> u64 {
    quantity(&p.call("eth_getBlockByNumber", json!(["finalized", false]))["result"]["number"])
}

/// Sends transfers from `key` until `stop` or the node goes away; records each transaction
/// whose receipt (the preconfirmed one) the node returned.
fn sender(rpc: SocketAddr, key: u32, stop: Arc<AtomicBool>, preconfirmed: Arc<Mutex<Vec<String>>>) {
    let from = dev_signer(key).address();
    while !stop.load(Ordering::Relaxed) {
        let Some(n) = try_call(rpc, "eth_getTransactionCount", json!([from, "pending"])) else {
            return;
        };
        let raw = signed(
            key,
            quantity(&n["result"]),
            TxKind::Call(SINK),
            U256::from(1000),
            Bytes::new(),
            21_000,
        );
        let Some(sent) = try_call(rpc, "eth_sendRawTransaction", json!([raw])) else {
            return;
        };
        let Some(hash) = sent["result"].as_str().map(str::to_string) else {
            continue;
        };
        let Some(r) = try_call(rpc, "eth_getTransactionReceipt", json!([hash])) else {
            return;
        };
        if !r["result"].is_null() {
            preconfirmed.lock().unwrap().push(hash);
        }
    }
}

fn start(datadir: &str) -> (Proc, Duration) {
    let started = Instant::now();
    let p = Proc::start_command(bin(), &["devnet", "--datadir", datadir]);
    (p, started.elapsed())
}

#[test]
fn crash_drill() {
    let kills: u64 = std::env::var("PRECONF_DRILL_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().to_str().unwrap();
    let preconfirmed = Arc::new(Mutex::new(Vec::new()));
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut random_ms = |lo: u64, hi: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (seed >> 33) % (hi - lo)
    };
    let (mut invalid, mut readmitted, mut highest) = (0.0, 0.0, 0);
    let mut restarts = Vec::new();
    let mut lost = 0;
    for kill in 0..=kills {
        let (mut p, took) = start(datadir);
        if kill > 0 {
            restarts.push(took);
        }
        let series = |outcome: &str| {
            format!(
                r#"preconf_journal_transactions_total{{source="preconfirmed",outcome="{outcome}"}}"#
            )
        };
        invalid += p.metric(&series("invalid"));
        readmitted += p.metric(&series("readmitted"));
        let now = finalized(&p);
        assert!(now >= highest, "the head went back from {highest} to {now}");
        highest = now;
        if kill == kills {
            // The last start: no load; every promise must be kept within a few blocks.
            lost = check_ledger_and_promises(&p, &preconfirmed.lock().unwrap(), invalid);
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = SENDERS
            .iter()
            .map(|&key| {
                let (rpc, stop, done) = (p.rpc, stop.clone(), preconfirmed.clone());
                std::thread::spawn(move || sender(rpc, key, stop, done))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(random_ms(300, 4000)));
        highest = highest.max(finalized(&p));
        p.child.kill().unwrap();
        let _ = p.child.wait();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
    }
    let n = preconfirmed.lock().unwrap().len();
    restarts.sort();
    eprintln!(
        "crash drill: {kills} kills, {n} preconfirmed transactions, {lost} lost, {readmitted} re-admitted from the journal, {invalid} invalid; restart to listening p50 {:?}, max {:?}",
        restarts.get(restarts.len() / 2),
        restarts.last()
    );
}

/// Waits until every preconfirmed transaction is in a canonical block, then checks the ledger.
/// Returns how many preconfirmed transactions are in no block.
fn check_ledger_and_promises(p: &Proc, preconfirmed: &[String], invalid: f64) -> usize {
    assert!(!preconfirmed.is_empty(), "nothing was preconfirmed");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lost: Vec<&String> = preconfirmed.iter().collect();
    while !lost.is_empty() && Instant::now() < deadline {
        let head = finalized(p);
        lost.retain(|hash| {
            let r = p.call("eth_getTransactionReceipt", json!([hash]))["result"].clone();
            r.is_null() || quantity(&r["blockNumber"]) > head
        });
        if !lost.is_empty() {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    assert!(
        lost.len() as f64 <= invalid,
        "{} of {} preconfirmed transactions are in no block ({invalid} counted invalid): {:?}",
        lost.len(),
        preconfirmed.len(),
        &lost[..lost.len().min(5)]
    );
    // The ledger: every account that ever held or received value here, at genesis and now.
    let head = finalized(p);
    let mut accounts: Vec<Address> = SENDERS.iter().map(|&k| dev_signer(k).address()).collect();
    accounts.push(SINK);
    let mut burned = U256::ZERO;
    for n in 1..=head {
        let b = p.call("eth_getBlockByNumber", json!([format!("{n:#x}"), false]))["result"].clone();
        burned += wei(&b["baseFeePerGas"]) * wei(&b["gasUsed"]);
        let miner: Address = serde_json::from_value(b["miner"].clone()).unwrap();
        if !accounts.contains(&miner) {
            accounts.push(miner);
        }
    }
    let total = |block: String| -> U256 {
        accounts
            .iter()
            .map(|a| wei(&p.call("eth_getBalance", json!([a, block]))["result"]))
            .fold(U256::ZERO, |s, b| s + b)
    };
    let (genesis, now) = (total("0x0".into()), total(format!("{head:#x}")));
    assert_eq!(now + burned, genesis, "the ledger is off at block {head}");
    lost.len()
}

/// A builder fault while transactions stream in (a stall, then panics, at different moments):
/// the proposers build locally on the canonical head while later nonces are preconfirmed.
/// Nothing accepted is lost and no sender is jammed: every accepted transaction ends up in a
/// finalized block and each sender's account reaches the nonce it sent up to.
#[test]
fn a_builder_fault_loses_no_transaction_and_jams_no_sender() {
    let p = Proc::start(&["devnet", "--block-time", "1s", "--dev.fault-injection"]);
    let rpc = p.rpc;
    let stop = Arc::new(AtomicBool::new(false));
    let accepted: Arc<Mutex<Vec<(u32, String)>>> = Arc::default();
    let senders: Vec<_> = [5u32, 6]
        .into_iter()
        .map(|key| {
            let (stop, accepted) = (stop.clone(), accepted.clone());
            std::thread::spawn(move || {
                let mut nonce = 0;
                while !stop.load(Ordering::Relaxed) {
                    let raw = signed(
                        key,
                        nonce,
                        TxKind::Call(SINK),
                        U256::from(1),
                        Bytes::new(),
                        21_000,
                    );
                    if let Some(r) = try_call(rpc, "eth_sendRawTransaction", json!([raw]))
                        && let Some(h) = r["result"].as_str()
                    {
                        accepted.lock().unwrap().push((key, h.to_string()));
                        nonce += 1;
                    }
                    std::thread::sleep(Duration::from_millis(40));
                }
                nonce
            })
        })
        .collect();
    let fault = |fault: Value| {
        crate::support::wait_for(Duration::from_secs(10), || {
            let r = p.call("admin_injectFault", json!([fault]));
            (r["result"] == true).then_some(())
        })
        .expect("the builder takes the fault");
    };
    std::thread::sleep(Duration::from_millis(1500));
    fault(json!({"actor": "builder", "fault": "stall", "durationMs": 3000}));
    // While the builder stalls, a sender paying a far higher tip: the pool ranks its
    // transactions first, yet a fallback block must still start with what was preconfirmed.
    std::thread::sleep(Duration::from_millis(300));
    for nonce in 0..3 {
        let raw = crate::devnet::signed_with_tip(
            7,
            nonce,
            TxKind::Call(SINK),
            U256::from(1),
            Bytes::new(),
            21_000,
            50_000_000_000,
        );
        let r = p.call("eth_sendRawTransaction", json!([raw]));
        let hash = r["result"].as_str().expect("the high-tip send is accepted");
        accepted.lock().unwrap().push((7, hash.to_string()));
    }
    std::thread::sleep(Duration::from_millis(4000));
    fault(json!({"actor": "builder", "fault": "panic"}));
    std::thread::sleep(Duration::from_millis(2700));
    fault(json!({"actor": "builder", "fault": "panic"}));
    std::thread::sleep(Duration::from_millis(3000));
    stop.store(true, Ordering::Relaxed);
    let sent: Vec<u64> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    assert!(
        p.metric("preconf_proposer_blocks_total{source=\"local\"}") >= 1.0,
        "no proposer built locally: the drill did not hit the fallback path"
    );

    let accepted = accepted.lock().unwrap().clone();
    let done = crate::support::wait_for(Duration::from_secs(30), || {
        let finalized = quantity(
            &p.call("eth_getBlockByNumber", json!(["finalized", false]))["result"]["number"],
        );
        accepted
            .iter()
            .all(|(_, h)| {
                let r = p.call("eth_getTransactionReceipt", json!([h]))["result"].clone();
                !r.is_null() && quantity(&r["blockNumber"]) <= finalized
            })
            .then_some(())
    });
    let missing: Vec<&String> = accepted
        .iter()
        .map(|(_, h)| h)
        .filter(|h| p.call("eth_getTransactionReceipt", json!([h]))["result"].is_null())
        .collect();
    assert!(
        done.is_some(),
        "{} of {} accepted transactions never reached a finalized block: {:?}",
        missing.len(),
        accepted.len(),
        &missing[..missing.len().min(5)]
    );
    // The fallback blocks honour what was preconfirmed: a proposer building locally starts with
    // the preconfirmed block's transactions, in their order.
    let honored = p.metric("preconf_overlay_preconfirmations_honored_total");
    let reorged = p.metric("preconf_overlay_preconfirmations_reorged_total");
    eprintln!(
        "builder fault drill: {} accepted, {honored} preconfirmations honoured, {reorged} moved, {} local blocks",
        accepted.len(),
        p.metric("preconf_proposer_blocks_total{source=\"local\"}")
    );
    assert!(honored > 0.0);
    assert_eq!(reorged, 0.0, "a preconfirmation moved or was dropped");
    for (key, sent) in [5u32, 6].into_iter().zip(sent) {
        let nonce = quantity(
            &p.call(
                "eth_getTransactionCount",
                json!([dev_signer(key).address(), "finalized"]),
            )["result"],
        );
        assert_eq!(
            nonce, sent,
            "sender {key} is jammed below the nonce it sent up to"
        );
    }
}

/// Milliseconds since midnight of a log line's RFC 3339 timestamp (`…T15:27:14.418475Z`).
fn log_ms(line: &str) -> Option<f64> {
    let t = line
        .split_whitespace()
        .next()?
        .split_once('T')?
        .1
        .trim_end_matches('Z');
    let mut parts = t.split(':');
    let (h, m, s): (f64, f64, f64) = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    Some(((h * 60.0 + m) * 60.0 + s) * 1000.0)
}

/// The sequencer fault drill on the multi-process devnet (`init`): five senders stream 50
/// transfers a second into the rpc node while the sequencer is killed with SIGKILL (and
/// restarted on its datadir) and frozen with SIGSTOP (and resumed), each for 6 s, at different
/// moments of the slot. Checked: every accepted transaction is in a finalized block; every one
/// the rpc node showed preconfirmed is in that block at that position
/// (`preconf_getPreconfirmationStatus` says `honoured`), none moved or dropped; no equivocation.
/// Printed (figures, not asserted): the longest slot and how long preconfirmations took to come
/// back after each fault.
///
/// `PRECONF_DRILL_SEQUENCER_FAULTS` faults of each kind (1 by default) at
/// `PRECONF_DRILL_SLOT_MS` slots (1000 by default); `scripts/drill-sequencer.sh` runs 5 of each
/// at 2 s slots on the release build.
#[test]
fn sequencer_faults_on_separate_processes_keep_every_preconfirmation() {
    let faults: u64 = std::env::var("PRECONF_DRILL_SEQUENCER_FAULTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let slot_ms: u64 = std::env::var("PRECONF_DRILL_SLOT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let block_time = format!("{slot_ms}ms");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let base = crate::support::free_port_range(7);
    let ok = bin()
        .args(["init", "--out", out.to_str().unwrap()])
        .args([
            "--base-port",
            &base.to_string(),
            "--block-time",
            &block_time,
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "init failed");
    let config = |name: &str| out.join(format!("{name}.toml")).display().to_string();
    let node = |name: &str| Proc::start(&["node", "--config", &config(name)]);
    let mut seq = node("sequencer");
    let _validators: Vec<Proc> = (0..4).map(|i| node(&format!("validator-{i}"))).collect();
    let rpc = node("rpc-0");
    let consensus = Proc::start(&["consensus", "--config", &config("consensus")]);
    let applied = || rpc.metric("preconf_overlay_flashblocks_total{outcome=\"applied\"}");
    crate::support::wait_for(Duration::from_secs(30), || (applied() > 0.0).then_some(()))
        .expect("no preconfirmations on the rpc node");

    let stop = Arc::new(AtomicBool::new(false));
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let senders: Vec<_> = [5u32, 6, 7, 8, 9]
        .into_iter()
        .map(|key| {
            let (stop, accepted, to) = (stop.clone(), accepted.clone(), rpc.rpc);
            std::thread::spawn(move || {
                let mut nonce = 0;
                let mut tries = 0;
                while !stop.load(Ordering::Relaxed) {
                    let raw = signed(
                        key,
                        nonce,
                        TxKind::Call(SINK),
                        U256::from(1),
                        Bytes::new(),
                        21_000,
                    );
                    let r = try_call(to, "eth_sendRawTransaction", json!([raw]));
                    let known = r.as_ref().is_some_and(|r| {
                        r["error"]["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("already known"))
                    });
                    match r.as_ref().and_then(|r| r["result"].as_str()) {
                        Some(hash) => accepted.lock().unwrap().push(hash.to_string()),
                        None if known => {}
                        None => {
                            // Refused for now (the node is behind): the same nonce again.
                            tries += 1;
                            assert!(tries < 100, "sender {key} refused 100 times: {r:?}");
                            std::thread::sleep(Duration::from_millis(100));
                            continue;
                        }
                    }
                    tries = 0;
                    nonce += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        })
        .collect();

    let slot = Duration::from_millis(slot_ms);
    let signal = |sig: &str, p: &Proc| {
        let pid = p.child.id().to_string();
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status();
        assert!(ok.unwrap().success(), "kill {sig} {pid}");
    };
    let mut back = Vec::new();
    for i in 0..2 * faults {
        // Different moments of the slot: 0.37 slot apart.
        std::thread::sleep(slot.mul_f64(1.0 + (i as f64 * 0.37) % 1.0));
        let before = applied();
        let kind = if i % 2 == 0 {
            seq.child.kill().unwrap();
            let _ = seq.child.wait();
            std::thread::sleep(Duration::from_secs(6));
            seq = node("sequencer");
            "kill -9"
        } else {
            signal("-STOP", &seq);
            std::thread::sleep(Duration::from_secs(6));
            signal("-CONT", &seq);
            "SIGSTOP"
        };
        let at = Instant::now();
        crate::support::wait_for(Duration::from_secs(20), || {
            (applied() > before).then_some(())
        })
        .expect("preconfirmations did not come back");
        back.push(format!("{kind} {:?}", at.elapsed()));
        std::thread::sleep(Duration::from_secs(2));
    }
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }

    let accepted = accepted.lock().unwrap().clone();
    let status =
        |h: &String| rpc.call("preconf_getPreconfirmationStatus", json!([h]))["result"].clone();
    let done = crate::support::wait_for(Duration::from_secs(60), || {
        let finalized = finalized(&rpc);
        accepted
            .iter()
            .all(|h| {
                let r = rpc.call("eth_getTransactionReceipt", json!([h]))["result"].clone();
                !r.is_null() && quantity(&r["blockNumber"]) <= finalized
            })
            .then_some(())
    });
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut broken = Vec::new();
    for h in &accepted {
        let s = status(h);
        let kind = s["status"].as_str().unwrap_or("unknown").to_string();
        if !matches!(kind.as_str(), "honoured" | "included") {
            broken.push(s);
        }
        *counts.entry(kind).or_default() += 1;
    }
    let commits: Vec<f64> = consensus
        .new_output()
        .iter()
        .filter(|l| l.contains("committed"))
        .filter_map(|l| log_ms(l))
        .collect();
    let longest = commits.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    eprintln!(
        "sequencer fault drill: {faults} kills + {faults} stops at {block_time} slots, {} accepted, statuses {counts:?}, longest slot {longest:.0} ms, {} local blocks, preconfirmations back after the sequencer (restarted, resumed): {back:?}",
        accepted.len(),
        consensus.metric("preconf_proposer_blocks_total{source=\"local\"}"),
    );
    assert!(
        done.is_some(),
        "accepted transactions never reached a finalized block"
    );
    assert!(
        broken.is_empty(),
        "{} preconfirmations not honoured: {:?}",
        broken.len(),
        &broken[..broken.len().min(3)]
    );
    assert!(
        counts.get("honoured").is_some_and(|n| *n > 0),
        "nothing was preconfirmed"
    );
    for kind in ["conflicting_flashblock", "broken_promise"] {
        let series = format!("preconf_overlay_equivocations_total{{kind=\"{kind}\"}}");
        assert_eq!(rpc.metric(&series), 0.0, "{series}");
    }
}
