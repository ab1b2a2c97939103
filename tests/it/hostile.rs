//! Clients that try to hold the node's memory or connections, as an attacker on loopback would:
//! slow headers, slow bodies, many large bodies at once, huge batches, oversized WebSocket
//! frames, and a log query matching too much. Each gets a bounded answer and the node serves on.

use crate::{
    devnet::{included, signed},
    support::{Proc, Ws, post},
};
use alloy_primitives::{Bytes, TxKind, U256, hex};
use serde_json::{Value, json};
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

/// Writes `head` and `body` on a fresh connection and returns the status line of the answer
/// (empty when the server closed without one) and how long it took.
fn partial_request(addr: SocketAddr, head: String, body: Vec<u8>) -> (String, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(&body);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default().to_string();
    (status, started.elapsed())
}

fn post_head(len: usize) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// Init code that emits 10,001 empty `LOG0`s in a loop and deploys nothing.
const MANY_LOGS: &str = "6127115b60006000a060019003806003570000";

#[test]
fn hostile_clients_are_bounded_and_answered_as_geth() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(&[
        "devnet",
        "--block-time",
        "1s",
        "--datadir",
        dir.path().to_str().unwrap(),
    ]);
    let rpc = p.rpc;

    // Slow clients, all at once: headers never finished (closed after the 30 s header timeout),
    // a body that stops (408 after 15 s), and 14 bodies of 5 MB held open together: past the
    // 64 MiB shared budget one of them gets 503 at once, the others 408 when they time out.
    let slow_headers = std::thread::spawn(move || {
        partial_request(rpc, "POST / HTTP/1.1\r\nHost: local".into(), Vec::new())
    });
    let slow_body =
        std::thread::spawn(move || partial_request(rpc, post_head(100), vec![b' '; 10]));
    let held: Vec<_> = (0..14)
        .map(|_| {
            std::thread::spawn(move || {
                partial_request(rpc, post_head(5_200_000), vec![b' '; 5_000_000])
            })
        })
        .collect();
    // A WebSocket client stuck in the middle of a frame cannot answer pings: closed at the check
    // after 25 s without an answer (30 s).
    let stuck_frame = std::thread::spawn(move || {
        let started = Instant::now();
        let mut ws = Ws::connect(rpc);
        let mut frame = vec![0x81u8, 0x80 | 126];
        frame.extend_from_slice(&1000u16.to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(&[b' '; 10]);
        ws.send_raw(&frame);
        ws.wait_closed(Duration::from_secs(60));
        started.elapsed()
    });
    std::thread::sleep(Duration::from_secs(3));
    // Meanwhile the node answers as usual.
    assert!(p.call("eth_chainId", json!([]))["result"].is_string());

    // A batch of more than 1,000 calls: one -32600 `batch too large` with the first call's id.
    let batch: Vec<Value> = (0..1001)
        .map(|i| json!({"jsonrpc": "2.0", "id": i + 7, "method": "eth_chainId", "params": []}))
        .collect();
    let (status, body) = post(p.rpc, &Value::Array(batch).to_string(), None);
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!([{"jsonrpc": "2.0", "id": 7, "error": {"code": -32600, "message": "batch too large"}}])
    );
    let batch: Vec<Value> = (0..1000)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_chainId", "params": []}))
        .collect();
    let (_, body) = post(p.rpc, &Value::Array(batch).to_string(), None);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(1000));

    // WebSocket: a 1.5 MB message is served; a 3 MiB one is read past without being held, and
    // answered with an error; the connection then serves on.
    let mut ws = Ws::connect(p.rpc);
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000000","latest",{:?}]}}"#,
        "a".repeat(1_500_000)
    );
    ws.send(&big);
    let v = ws.recv();
    assert_eq!(v["id"], 1, "{v}");
    ws.send(&format!("{:?}", "a".repeat(3 * 1024 * 1024)));
    let v = ws.recv();
    assert_eq!(
        (v["id"].clone(), v["error"]["code"].clone()),
        (Value::Null, json!(-32007)),
        "{v}"
    );
    ws.send(r#"{"jsonrpc":"2.0","id":2,"method":"eth_chainId","params":[]}"#);
    assert!(ws.recv()["result"].is_string());

    // A log query matching more than 10,000 logs gets -32005, as reth answers.
    let raw = signed(
        6,
        0,
        TxKind::Create,
        U256::ZERO,
        Bytes::from(hex::decode(MANY_LOGS).unwrap()),
        6_000_000,
    );
    let hash = p.call("eth_sendRawTransaction", json!([raw]))["result"].clone();
    let receipt = included(&p, &hash, Duration::from_secs(20));
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    assert_eq!(receipt["logs"].as_array().map(Vec::len), Some(10_001));
    let block = receipt["blockNumber"].clone();
    let e = p.call(
        "eth_getLogs",
        json!([{"fromBlock": block, "toBlock": block}]),
    );
    assert_eq!(e["error"]["code"], -32005, "{e}");
    assert_eq!(e["error"]["message"], "query exceeds max results 10000");

    let (status, waited) = slow_body.join().unwrap();
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    assert!(waited >= Duration::from_secs(14), "{waited:?}");
    let held: Vec<String> = held.into_iter().map(|h| h.join().unwrap().0).collect();
    let busy = held
        .iter()
        .filter(|s| s.starts_with("HTTP/1.1 503"))
        .count();
    let timed_out = held
        .iter()
        .filter(|s| s.starts_with("HTTP/1.1 408"))
        .count();
    assert!(busy >= 1 && busy + timed_out == held.len(), "{held:?}");
    let (status, waited) = slow_headers.join().unwrap();
    assert!(
        status.is_empty() || status.starts_with("HTTP/1.1 408"),
        "{status}"
    );
    assert!(
        (Duration::from_secs(25)..Duration::from_secs(45)).contains(&waited),
        "{waited:?}"
    );

    let closed_after = stuck_frame.join().unwrap();
    assert!(
        (Duration::from_secs(19)..Duration::from_secs(45)).contains(&closed_after),
        "{closed_after:?}"
    );

    // Once they have gone the budget is free again: a 4 MB body is read and answered.
    let (status, _) = post(
        p.rpc,
        &format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[{:?}]}}"#,
            "a".repeat(4_000_000)
        ),
        None,
    );
    assert_eq!(status, 200);
    assert!(p.metric(r#"preconf_rpc_http_refused_total{reason="busy"}"#) >= 1.0);
    assert!(p.metric(r#"preconf_rpc_http_refused_total{reason="timeout"}"#) >= 2.0);
}

/// 2,000 idle connections and 500 slowloris clients (request headers a byte at a time) held
/// against the payload server do not make a single proposer fall back: every connection is
/// accepted, the oldest idle ones are closed to make room, and each validator's fetch is served.
#[test]
fn idle_and_slowloris_clients_cannot_lock_validators_out_of_the_payload_server() {
    let p = Proc::start(&["devnet", "--block-time", "1s"]);
    let server = p.payload_server.unwrap();
    let head = || crate::support::hex_u64(&p.call("eth_blockNumber", json!([]))["result"]);
    let start = head();
    crate::support::wait_for(Duration::from_secs(20), || {
        (head() >= start + 2).then_some(())
    })
    .expect("blocks");
    let sequencer = "preconf_proposer_blocks_total{source=\"sequencer\"}";
    let local = "preconf_proposer_blocks_total{source=\"local\"}";
    let (seq_before, local_before) = (p.metric(sequencer), p.metric(local));

    // The attack: 2,000 idle connections, then 500 that send their headers a byte at a time.
    let mut idle: Vec<TcpStream> = Vec::new();
    for _ in 0..2000 {
        if let Ok(s) = TcpStream::connect(server) {
            idle.push(s);
        }
    }
    let mut slow: Vec<TcpStream> = (0..500)
        .filter_map(|_| TcpStream::connect(server).ok())
        .collect();
    let head_bytes = b"POST /eth/v1/preconf/payload HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let attack_until = Instant::now() + Duration::from_secs(8);
    let mut i = 0;
    while Instant::now() < attack_until {
        for (n, s) in slow.iter_mut().enumerate() {
            // Reconnect a closed one: the attacker keeps 500 going.
            if s.write_all(&head_bytes[i % head_bytes.len()..][..1])
                .is_err()
                && let Ok(fresh) = TcpStream::connect(server)
            {
                *s = fresh;
            }
            if n % 100 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        i += 1;
    }
    let (seq_after, local_after) = (p.metric(sequencer), p.metric(local));
    let evicted =
        p.metric("preconf_payload_server_connections_closed_total{reason=\"evicted_idle\"}");
    eprintln!(
        "payload server under {} idle and {} slowloris clients: {} sequencer blocks during the attack, {} local, {evicted} idle connections closed to make room",
        idle.len(),
        slow.len(),
        seq_after - seq_before,
        local_after - local_before
    );
    drop(idle);
    drop(slow);
    assert!(
        seq_after >= seq_before + 4.0,
        "too few sequencer blocks during the attack: {seq_before} → {seq_after}"
    );
    assert_eq!(
        local_after, local_before,
        "proposers fell back to local builds during the attack"
    );
    assert!(
        p.metric("preconf_payload_server_connections_closed_total{reason=\"evicted_idle\"}")
            >= 1000.0
    );
}

/// 1,000 clients that finish the WebSocket handshake on the flashblock stream and then never
/// read cannot lock a new follower out: when the stream is full, a client that has not answered
/// the server's pings for 2 s gives its place, and the follower gets its first flashblock at
/// once (well within a second here; one flashblock interval is 200 ms).
#[test]
fn clients_that_never_read_cannot_lock_followers_out_of_the_flashblock_stream() {
    let p = Proc::start(&["devnet", "--block-time", "1s"]);
    let stream = p.flashblocks.unwrap();
    let silent: Vec<TcpStream> = (0..1000)
        .filter_map(|_| {
            let mut s = TcpStream::connect(stream).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
            write!(
                s,
                "GET / HTTP/1.1\r\nHost: {stream}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            .ok()?;
            // Read the handshake's answer, then never read again.
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut byte).ok()?;
                head.push(byte[0]);
            }
            Some(s)
        })
        .collect();
    assert!(silent.len() >= 256, "only {} handshakes", silent.len());
    // Past the 2 s grace, every silent client is evictable.
    std::thread::sleep(Duration::from_secs(3));
    let started = Instant::now();
    let mut follower = Ws::connect(stream);
    let first = follower.recv();
    let waited = started.elapsed();
    eprintln!(
        "flashblock stream after {} clients that never read: a new follower's first flashblock in {waited:?}",
        silent.len()
    );
    assert!(first["index"].is_u64(), "not a flashblock: {first}");
    assert!(
        waited < Duration::from_secs(1),
        "the follower waited {waited:?} for its first flashblock"
    );
    assert!(p.metric("preconf_broadcaster_dropped_peers_total{reason=\"evicted\"}") >= 1.0);
    // The follower answers pings and stays, while the silent ones are dropped.
    let until = Instant::now() + Duration::from_secs(12);
    while Instant::now() < until {
        assert!(follower.recv()["index"].is_u64());
    }
    assert!(
        p.metric("preconf_broadcaster_dropped_peers_total{reason=\"unresponsive\"}") >= 1.0,
        "silent clients were never dropped"
    );
    drop(silent);
}
