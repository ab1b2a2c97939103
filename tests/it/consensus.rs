//! The consensus side on real processes: the payload server's status paths and whitelist reload,
//! fallback to local blocks when the builder degrades, a tampered or silent sequencer, and a
//! silent validator costing a round.

use crate::support::{Proc, hex_u64, request, wait_for};
use alloy_primitives::B256;
use preconf_core::{
    jwt::JwtSecret,
    preconf::{HEALTH_PATH, PAYLOAD_PATH, ValidatorSet, beacon_block_root, parse_validator_jwts},
};
use serde_json::{Value, json};
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The canonical head (`eth_blockNumber` names the preconfirmed block on the devnet).
fn head(p: &Proc) -> u64 {
    hex_u64(&p.call("eth_getBlockByNumber", json!(["finalized", false]))["result"]["number"])
}

/// Each validator's payload-server secret, from the devnet's file.
fn secrets(datadir: &Path, set: &ValidatorSet) -> Vec<JwtSecret> {
    let text = std::fs::read_to_string(datadir.join("preconf/validator-jwts.json")).unwrap();
    let jwts = parse_validator_jwts(&text).unwrap();
    set.0
        .iter()
        .map(|v| jwts.iter().find(|(k, _)| *k == v.pubkey).unwrap().1.clone())
        .collect()
}

fn fetch(addr: SocketAddr, token: &str, body: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let (status, body) = request(
        addr,
        "POST",
        PAYLOAD_PATH,
        &[("Authorization", &auth)],
        body,
    );
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn error(code: u16, message: &str) -> (u16, Value) {
    (code, json!({ "code": code, "message": message }))
}

fn payload_request(slot: u64, root: B256) -> String {
    json!({ "slot": format!("{slot:#x}"), "parent_block_root": root }).to_string()
}

fn write_whitelist(path: &Path, set: &ValidatorSet, which: &[usize]) {
    let keys: Vec<_> = which.iter().map(|&i| set.0[i].pubkey).collect();
    std::fs::write(path, serde_json::to_string(&keys).unwrap()).unwrap();
}

fn sighup(p: &Proc) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &p.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP failed");
}

#[test]
fn payload_server_answers_every_status_path_and_reloads_its_whitelist() {
    let dir = tempfile::tempdir().unwrap();
    let set = ValidatorSet::devnet(4);
    let whitelist = dir.path().join("whitelist.json");
    write_whitelist(&whitelist, &set, &[0, 1, 2]);
    let p = Proc::start(&[
        "devnet",
        "--datadir",
        dir.path().to_str().unwrap(),
        "--preconf.whitelist-path",
        whitelist.to_str().unwrap(),
    ]);
    let ps = p.payload_server.expect("payload server address");
    let secret = secrets(dir.path(), &set);
    let t = |i: usize| secret[i].token();
    let junk = payload_request(0xffff, B256::ZERO);

    // Checks in beacon-kit's order, each with its status and message.
    let (s, b) = request(ps, "GET", PAYLOAD_PATH, &[], "");
    assert_eq!(
        (s, serde_json::from_str::<Value>(&b).unwrap()),
        error(405, "method not allowed")
    );
    assert_eq!(request(ps, "POST", HEALTH_PATH, &[], "").0, 405);
    let (s, b) = request(ps, "POST", PAYLOAD_PATH, &[], &junk);
    assert_eq!(
        (s, serde_json::from_str::<Value>(&b).unwrap()),
        error(401, "unauthorized: missing Authorization header")
    );
    let (s, b) = request(
        ps,
        "POST",
        PAYLOAD_PATH,
        &[("Authorization", "Token abc")],
        &junk,
    );
    assert_eq!(
        (s, serde_json::from_str::<Value>(&b).unwrap()),
        error(401, "unauthorized: invalid Authorization header format")
    );
    let unknown = error(401, "unauthorized: invalid or unknown JWT token");
    assert_eq!(fetch(ps, &JwtSecret::random().token(), &junk), unknown);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(fetch(ps, &secret[0].token_at(now - 400), &junk), unknown);
    assert_eq!(
        fetch(ps, &t(3), &junk),
        error(403, "validator not whitelisted")
    );
    let huge = json!({ "slot": "0x1", "parent_block_root": B256::ZERO, "pad": "x".repeat(3000) });
    assert_eq!(
        fetch(ps, &t(0), &huge.to_string()),
        error(413, "request body too large")
    );
    for bad in [
        "{",
        r#"{"slot":"0x01","parent_block_root":"0x00"}"#,
        r#"{"slot":26}"#,
    ] {
        let (s, b) = fetch(ps, &t(0), bad);
        assert_eq!(s, 400, "{bad}");
        assert!(
            b["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid request body: "),
            "{b}"
        );
    }
    assert_eq!(
        fetch(ps, &t(0), &junk),
        error(403, "not the expected proposer for this slot")
    );

    // A hostile validator holding 50 connections with half-sent bodies does not stall the
    // server for others.
    let auth = format!("Bearer {}", t(0));
    let slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut c = TcpStream::connect(ps).unwrap();
            write!(
                c,
                "POST {PAYLOAD_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: 1000\r\n\r\n{{\"slot\":"
            )
            .unwrap();
            c
        })
        .collect();
    let started = std::time::Instant::now();
    assert_ne!(request(ps, "GET", HEALTH_PATH, &[], "").0, 0);
    assert_eq!(fetch(ps, &t(0), &junk).0, 403);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    drop(slow);

    // Right after a block H whose successor a whitelisted validator proposes: the tracked slot is
    // H + 1 and its proposer validator (H + 1) mod 4. The three answers are taken for one slot;
    // if block H + 1 lands meanwhile (the tracker then moves on), they are taken again.
    let mut attempts = 0;
    let (h, proposer, (s_other, b_other), (s_root, b_root), (s, b)) = loop {
        let h = wait_for(Duration::from_secs(30), || {
            let h = head(&p);
            let fresh = wait_for(Duration::from_secs(5), || (head(&p) > h).then(|| head(&p)))?;
            ((fresh + 1) % 4 != 3).then_some(fresh)
        })
        .expect("blocks");
        let proposer = ((h + 1) % 4) as usize;
        let other = (proposer + 1) % 3;
        let root = beacon_block_root(h, 0);
        let answers = (
            fetch(ps, &t(other), &payload_request(h + 1, root)),
            fetch(
                ps,
                &t(proposer),
                &payload_request(h + 1, B256::repeat_byte(7)),
            ),
            fetch(ps, &t(proposer), &payload_request(h + 1, root)),
        );
        if head(&p) == h {
            break (h, proposer, answers.0, answers.1, answers.2);
        }
        attempts += 1;
        assert!(attempts < 5, "the chain moved on during every attempt");
    };
    assert_eq!(
        (s_other, b_other),
        error(403, "not the expected proposer for this slot")
    );
    assert_eq!(s_root, 404, "{b_root}");
    assert!(
        b_root["message"]
            .as_str()
            .unwrap()
            .starts_with("payload not available")
    );
    assert_eq!(s, 200, "{b}");
    // The devnet is on Osaka: beacon-kit's Fulu.
    assert_eq!(b["fork_version"], "0x06000000");
    let payload = &b["execution_payload"];
    assert_eq!(hex_u64(&payload["blockNumber"]), h + 1);
    let parent =
        p.call("eth_getBlockByNumber", json!([format!("{h:#x}"), false]))["result"]["hash"].clone();
    assert_eq!(payload["parentHash"], parent);
    assert_eq!(
        payload["feeRecipient"],
        json!(set.0[proposer].fee_recipient)
    );
    for k in [
        "stateRoot",
        "receiptsRoot",
        "logsBloom",
        "prevRandao",
        "gasLimit",
        "gasUsed",
        "timestamp",
        "extraData",
        "baseFeePerGas",
        "blockHash",
        "transactions",
        "withdrawals",
        "blobGasUsed",
        "excessBlobGas",
    ] {
        assert!(!payload[k].is_null(), "{k} missing");
    }
    assert!(
        b["block_value"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_digit())
    );
    assert_eq!(
        b["blobs_bundle"],
        json!({"commitments": [], "proofs": [], "blobs": []})
    );
    assert!(b["execution_requests"].is_array());

    let (s, b) = request(ps, "GET", HEALTH_PATH, &[], "");
    assert_eq!(s, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap(),
        json!({"is_ready": true, "is_syncing": false, "el_connected": true})
    );

    // SIGHUP reloads the whitelist; an empty one is refused and the old one kept.
    write_whitelist(&whitelist, &set, &[1]);
    sighup(&p);
    let reloaded = wait_for(Duration::from_secs(5), || {
        (p.metric("preconf_payload_server_whitelist_reloads_total{result=\"ok\"}") >= 1.0)
            .then_some(())
    });
    assert!(reloaded.is_some(), "no reload counted");
    assert_eq!(
        fetch(ps, &t(0), &junk),
        error(403, "validator not whitelisted")
    );
    assert_eq!(fetch(ps, &t(1), &junk).0, 403);
    assert_ne!(
        fetch(ps, &t(1), &junk),
        error(403, "validator not whitelisted")
    );
    std::fs::write(&whitelist, "[]").unwrap();
    sighup(&p);
    let refused = wait_for(Duration::from_secs(5), || {
        (p.metric("preconf_payload_server_whitelist_reloads_total{result=\"refused\"}") >= 1.0)
            .then_some(())
    });
    assert!(refused.is_some(), "the empty list was not refused");
    assert_eq!(
        fetch(ps, &t(1), &junk),
        error(403, "not the expected proposer for this slot")
    );

    for result in [
        "ok",
        "unauthorized",
        "not_whitelisted",
        "wrong_proposer",
        "payload_not_found",
        "method_not_allowed",
        "bad_request",
        "request_too_large",
    ] {
        let series = format!("preconf_payload_server_requests_total{{result=\"{result}\"}}");
        assert!(p.metric(&series) >= 1.0, "{series}");
    }
    // Validators fetched from the sequencer, and validator 3 (never whitelisted) built locally.
    let both = wait_for(Duration::from_secs(20), || {
        (p.metric("preconf_proposer_blocks_total{source=\"sequencer\"}") >= 1.0
            && p.metric("preconf_proposer_blocks_total{source=\"local\"}") >= 1.0)
            .then_some(())
    });
    assert!(both.is_some(), "expected blocks from both sources");
}

fn admin(p: &Proc, method: &str, params: Value) -> Value {
    p.call(method, params)
}

fn healthz(p: &Proc) -> Value {
    let text = crate::support::get(p.metrics, "/healthz");
    serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap_or("null")).unwrap_or(Value::Null)
}

#[test]
fn a_dead_builder_degrades_to_local_blocks_until_it_is_restarted() {
    let p = Proc::start(&[
        "devnet",
        "--block-time",
        "1s",
        "--dev.fault-injection",
        "--supervisor.cooldown",
        "600s",
    ]);
    // Six panics: five restarts within the budget, then degraded.
    for i in 0..6 {
        // Between incarnations (a restart under way) the builder cannot take a fault: the
        // supervisor says so, and the drill tries again.
        let r = wait_for(Duration::from_secs(10), || {
            let r = admin(
                &p,
                "admin_injectFault",
                json!([{"actor": "builder", "fault": "panic"}]),
            );
            let between = r["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("is not running"));
            (!between).then_some(r)
        })
        .expect("the builder takes the fault");
        assert_eq!(r["result"], true, "{r}");
        let next = wait_for(Duration::from_secs(10), || {
            let b = &healthz(&p)["actors"]["builder"];
            let back = b["running"] == true && b["restarts"].as_u64() == Some(i + 1);
            (back || b["degraded"] == true).then_some(())
        });
        assert!(next.is_some(), "builder did not come back: {}", healthz(&p));
    }
    let degraded = wait_for(Duration::from_secs(10), || {
        healthz(&p)["actors"]["builder"]["degraded"]
            .as_bool()
            .filter(|d| *d)
    });
    assert!(degraded.is_some(), "builder not degraded: {}", healthz(&p));
    assert_eq!(healthz(&p)["healthy"], false);
    // The reason is in the body, once.
    let problems = healthz(&p)["problems"].clone();
    let named: Vec<&Value> = problems
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| *m == "actor builder degraded")
        .collect();
    assert_eq!(named.len(), 1, "{problems}");
    let (s, body) = request(p.payload_server.unwrap(), "GET", HEALTH_PATH, &[], "");
    assert_eq!(s, 503);
    // The body agrees with the status: not ready while the builder is down.
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["is_ready"], false, "{body}");

    // Blocks keep coming, built locally, with the pool's transactions; pending is latest.
    let from = head(&p);
    let sent = p.call(
        "eth_sendTransaction",
        json!([{"from": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "to": "0x000000000000000000000000000000000000dEaD", "value": "0x1"}]),
    );
    let hash = sent["result"].clone();
    assert!(hash.is_string(), "{sent}");
    let mined = wait_for(Duration::from_secs(10), || {
        let r = p.call("eth_getTransactionReceipt", json!([hash]))["result"].clone();
        (!r.is_null()).then_some(r)
    })
    .expect("the transaction was not included by a local block");
    assert!(hex_u64(&mined["blockNumber"]) > from);
    assert!(
        wait_for(Duration::from_secs(5), || (head(&p) >= from + 3)
            .then_some(()))
        .is_some()
    );
    let pending = p.call("eth_getBlockByNumber", json!(["pending", false]))["result"].clone();
    let latest = p.call("eth_getBlockByNumber", json!(["latest", false]))["result"].clone();
    assert!(
        pending["hash"] == latest["hash"]
            || hex_u64(&pending["number"]) <= hex_u64(&latest["number"]),
        "pending {pending} ahead of latest {latest} without a builder"
    );
    assert!(p.metric("preconf_proposer_fallback_total{reason=\"other\"}") >= 1.0);
    assert!(p.metric("preconf_proposer_blocks_total{source=\"local\"}") >= 2.0);

    // admin_restartActor brings it back; preconfirmations (sequencer blocks) resume.
    let r = admin(&p, "admin_restartActor", json!(["builder"]));
    assert_eq!(r["result"], true, "{r}");
    let r = admin(&p, "admin_restartActor", json!(["builder"]));
    assert_eq!(r["error"]["code"], -32000, "{r}");
    let before = p.metric("preconf_proposer_blocks_total{source=\"sequencer\"}");
    let resumed = wait_for(Duration::from_secs(10), || {
        (p.metric("preconf_proposer_blocks_total{source=\"sequencer\"}") > before).then_some(())
    });
    assert!(resumed.is_some(), "no sequencer block after the restart");
    assert_eq!(healthz(&p)["healthy"], true);
    let r = admin(
        &p,
        "admin_injectFault",
        json!([{"actor": "nope", "fault": "panic"}]),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
}

#[test]
fn drills_are_absent_without_the_flag() {
    let p = Proc::start(&["devnet"]);
    for (m, params) in [
        (
            "admin_injectFault",
            json!([{"actor": "builder", "fault": "panic"}]),
        ),
        ("admin_restartActor", json!(["builder"])),
    ] {
        assert_eq!(p.call(m, params)["error"]["code"], -32601);
    }
}

/// What the proxy in front of the payload server does.
const PASS: u8 = 0;
const TAMPER: u8 = 1;
const SILENT: u8 = 2;

/// A proxy in front of the payload server: passes requests through, tampers with payloads (one
/// more digit in the timestamp: the block hash no longer matches), or never answers.
fn proxy(target: SocketAddr, mode: Arc<AtomicU8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { continue };
            let mode = mode.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let request = loop {
                    let Ok(n) = client.read(&mut chunk) else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break format!("{head}\r\nConnection: close\r\n\r\n{body}");
                        }
                    }
                };
                let m = mode.load(Ordering::Relaxed);
                if m == SILENT {
                    std::thread::sleep(Duration::from_secs(5));
                    return;
                }
                let mut up = TcpStream::connect(target).unwrap();
                up.write_all(request.as_bytes()).unwrap();
                let mut resp = String::new();
                let _ = up.read_to_string(&mut resp);
                if m == TAMPER && resp.contains("\"timestamp\":\"0x") {
                    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
                    let body = body.replacen("\"timestamp\":\"0x", "\"timestamp\":\"0x1", 1);
                    let head: String = head
                        .lines()
                        .map(|l| {
                            if l.to_ascii_lowercase().starts_with("content-length:") {
                                format!("content-length: {}", body.len())
                            } else {
                                l.to_string()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("\r\n");
                    resp = format!("{head}\r\n\r\n{body}");
                }
                let _ = client.write_all(resp.as_bytes());
            });
        }
    });
    addr
}

#[test]
fn tampered_or_silent_sequencers_and_silent_validators_cost_no_slot() {
    // The proxy needs the payload server's port before the devnet starts.
    let port = crate::support::free_port();
    let mode = Arc::new(AtomicU8::new(PASS));
    let via = proxy(SocketAddr::from(([127, 0, 0, 1], port)), mode.clone());
    let p = Proc::start(&[
        "devnet",
        "--block-time",
        "1s",
        "--dev.fault-injection",
        "--preconf.api-port",
        &port.to_string(),
        "--preconf.sequencer-url",
        &format!("http://{via}"),
        "--preconf.health-check-interval",
        "1s",
    ]);
    let count = |series: &str| p.metric(series);
    let wait = |series: &'static str, at_least: f64| {
        wait_for(Duration::from_secs(15), || {
            (count(series) >= at_least).then_some(())
        })
        .unwrap_or_else(|| panic!("{series} stayed below {at_least}"))
    };
    wait("preconf_proposer_blocks_total{source=\"sequencer\"}", 1.0);

    // A tampered payload fails validation on the proposer's node: built locally instead.
    mode.store(TAMPER, Ordering::Relaxed);
    wait(
        "preconf_proposer_fallback_total{reason=\"local_validation_failed\"}",
        1.0,
    );
    assert!(count("preconf_proposer_fetch_total{outcome=\"validation_failed\"}") >= 1.0);

    // A silent sequencer times out: marked unavailable, local blocks, health probes.
    mode.store(SILENT, Ordering::Relaxed);
    wait(
        "preconf_proposer_fallback_total{reason=\"sequencer_unavailable\"}",
        1.0,
    );
    assert_eq!(count("preconf_proposer_sequencer_available"), 0.0);
    let h = head(&p);
    assert!(wait_for(Duration::from_secs(5), || (head(&p) >= h + 2).then_some(())).is_some());

    // Healthy again: fetching resumes.
    mode.store(PASS, Ordering::Relaxed);
    let before = count("preconf_proposer_blocks_total{source=\"sequencer\"}");
    let resumed = wait_for(Duration::from_secs(15), || {
        (count("preconf_proposer_blocks_total{source=\"sequencer\"}") > before).then_some(())
    });
    assert!(resumed.is_some(), "fetching did not resume");
    assert_eq!(count("preconf_proposer_sequencer_available"), 1.0);

    // A validator whose node does not answer costs a round, not the chain; what was
    // preconfirmed before the round change is kept by the rebuild (transactions keep coming).
    let reorged = count("preconf_overlay_preconfirmations_reorged_total");
    let r = p.call(
        "admin_injectFault",
        json!([{"actor": "validator-1", "fault": "stall", "durationMs": 6000}]),
    );
    assert_eq!(r["result"], true, "{r}");
    let sending = Arc::new(std::sync::atomic::AtomicBool::new(true));
    // Each from another account, each paying a higher tip than the one before: a block rebuilt
    // from the pool alone would put the newest first, not where they were preconfirmed.
    let sender = {
        let (rpc, sending) = (p.rpc, sending.clone());
        std::thread::spawn(move || {
            let mut k = 0u64;
            while sending.load(Ordering::Relaxed) {
                let from = preconf_core::devnet::dev_signer(2 + (k % 8) as u32).address();
                let tip = format!("{:#x}", (k + 1) * 1_000_000_000);
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction", "params": [{"from": from, "to": "0x000000000000000000000000000000000000dEaD", "value": "0x1", "maxPriorityFeePerGas": tip, "maxFeePerGas": "0x174876e800"}]});
                crate::support::post(rpc, &body.to_string(), None);
                std::thread::sleep(Duration::from_millis(100));
                k += 1;
            }
        })
    };
    wait("preconf_consensus_round_changes_total", 1.0);
    wait("preconf_sequencer_round_rebuilds_total", 1.0);
    let h = head(&p);
    assert!(wait_for(Duration::from_secs(8), || (head(&p) >= h + 3).then_some(())).is_some());
    sending.store(false, Ordering::Relaxed);
    sender.join().unwrap();
    // The sequencer rebuilt for the next round's proposer, starting with what it had
    // preconfirmed: the overlay took the rebuild as the block's sequence, nothing moved.
    for kind in ["conflicting_flashblock", "broken_promise"] {
        let series = format!("preconf_overlay_equivocations_total{{kind=\"{kind}\"}}");
        assert_eq!(count(&series), 0.0, "{series}");
    }
    assert!(count("preconf_overlay_sequences_replaced_total") >= 1.0);
    assert_eq!(
        count("preconf_overlay_preconfirmations_reorged_total"),
        reorged,
        "a rebuild for a new round moved preconfirmed transactions"
    );
    let sent = p.call(
        "eth_sendTransaction",
        json!([{"from": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "to": "0x000000000000000000000000000000000000dEaD", "value": "0x1"}]),
    );
    let hash = sent["result"].clone();
    let mined = wait_for(Duration::from_secs(8), || {
        let r = p.call("eth_getTransactionReceipt", json!([hash]))["result"].clone();
        (!r.is_null() && hex_u64(&r["blockNumber"]) <= head(&p)).then_some(())
    });
    assert!(
        mined.is_some(),
        "a transaction did not land during round changes"
    );
}

fn sequencer_blocks(c: &Proc) -> f64 {
    c.metric("preconf_proposer_blocks_total{source=\"sequencer\"}")
}

#[test]
fn separate_processes_survive_a_killed_sequencer_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let base = crate::support::free_port_range(7);
    let ok = crate::support::bin()
        .args([
            "init",
            "--out",
            out.to_str().unwrap(),
            "--base-port",
            &base.to_string(),
            "--block-time",
            "1s",
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "init failed");
    let network: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("network.json")).unwrap()).unwrap();
    assert_eq!(network["chain_id"], 80087);
    let names: Vec<&str> = network["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "consensus",
            "sequencer",
            "validator-0",
            "validator-1",
            "validator-2",
            "validator-3",
            "rpc-0"
        ]
    );
    let seq_entry = &network["processes"][1];
    assert_eq!(
        seq_entry["payload_server"],
        format!("http://127.0.0.1:{}", base + 14)
    );
    assert!(network["processes"][0]["http"].is_null());
    let config = |name: &str| {
        out.join(format!("{name}.toml"))
            .to_str()
            .unwrap()
            .to_string()
    };
    let node = |name: &str| Proc::start(&["node", "--config", &config(name)]);
    let mut seq = node("sequencer");
    let _validators: Vec<Proc> = (0..4).map(|i| node(&format!("validator-{i}"))).collect();
    let rpc = node("rpc-0");
    let consensus = Proc::start(&[
        "consensus",
        "--config",
        &config("consensus"),
        "--preconf.health-check-interval",
        "1s",
    ]);
    assert!(wait_for(Duration::from_secs(20), || (head(&rpc) >= 3).then_some(())).is_some());
    assert!(sequencer_blocks(&consensus) >= 1.0);

    // Preconfirmed on the rpc node through the sequencer's stream.
    let to = alloy_primitives::Address::repeat_byte(0x42);
    let (hash, raw) = crate::flashblocks::transfer(0, 0, to, 1);
    assert_eq!(
        rpc.call("eth_sendRawTransaction", json!([raw]))["result"],
        json!(hash)
    );
    let seen = wait_for(Duration::from_secs(3), || {
        let r = rpc.call("eth_getTransactionReceipt", json!([hash]))["result"].clone();
        (!r.is_null()).then_some(())
    });
    assert!(seen.is_some(), "no receipt on the rpc node");

    // kill -9 the sequencer: blocks keep coming every slot from local builds, with the
    // transactions the rpc node forwarded to the validators.
    seq.child.kill().unwrap();
    let _ = seq.child.wait();
    let h = head(&rpc);
    assert!(
        wait_for(Duration::from_secs(6), || (head(&rpc) >= h + 3)
            .then_some(()))
        .is_some()
    );
    assert!(
        consensus.metric("preconf_proposer_fallback_total{reason=\"sequencer_unavailable\"}")
            >= 1.0
    );
    let (hash, raw) = crate::flashblocks::transfer(0, 1, to, 1);
    assert_eq!(
        rpc.call("eth_sendRawTransaction", json!([raw]))["result"],
        json!(hash)
    );
    let mined = wait_for(Duration::from_secs(6), || {
        let r = rpc.call("eth_getTransactionReceipt", json!([hash]))["result"].clone();
        (!r.is_null() && hex_u64(&r["blockNumber"]) <= head(&rpc)).then_some(())
    });
    assert!(
        mined.is_some(),
        "the transaction did not land while the sequencer was down"
    );

    // Restarted (same datadir): caught up by the consensus, healthy again, fetched from.
    let before = sequencer_blocks(&consensus);
    let applied = || rpc.metric("preconf_overlay_flashblocks_total{outcome=\"applied\"}");
    let applied_before = applied();
    seq = node("sequencer");
    let resumed = wait_for(Duration::from_secs(20), || {
        (sequencer_blocks(&consensus) > before).then_some(())
    });
    assert!(
        resumed.is_some(),
        "validators did not fetch from the restarted sequencer"
    );
    // The rpc node's stream reconnected: preconfirmations resume there.
    let flowing = wait_for(Duration::from_secs(15), || {
        (applied() > applied_before).then_some(())
    });
    assert!(
        flowing.is_some(),
        "no flashblocks reached the rpc node after the restart"
    );
    let same = wait_for(Duration::from_secs(5), || {
        (head(&seq) == head(&rpc)).then_some(())
    });
    assert!(same.is_some(), "the restarted sequencer did not catch up");
    let log = consensus.new_output();
    let count = |s: &str| log.iter().filter(|l| l.contains(s)).count();
    assert_eq!(count("sequencer offline"), 1, "{log:#?}");
    assert_eq!(count("sequencer healthy again"), 1);
}
