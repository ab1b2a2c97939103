//! The devnet as a user runs it: send a signed transaction and see its receipt within a slot,
//! deploy a contract and read its event, restart on the same datadir, and send bad input.

use crate::support::{Proc, Ws, hex_u64, post, rpc, wait_for};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256, hex};
use alloy_signer::SignerSync;
use preconf_core::devnet::{DEVNET_CHAIN_ID, dev_signer};
use serde_json::{Value, json};
use std::time::Duration;

/// Runtime: `mstore(0, 42); log1(0, 32, TOPIC); stop`, behind init code that returns it.
const TOPIC: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn emitter_initcode() -> Bytes {
    let runtime = format!("602a6000527f{TOPIC}60206000a100");
    let len = runtime.len() / 2;
    hex::decode(format!("60{len:02x}600c60003960{len:02x}6000f3{runtime}"))
        .unwrap()
        .into()
}

pub(crate) fn signed(
    key: u32,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Bytes,
    gas: u64,
) -> String {
    signed_with_tip(key, nonce, to, value, input, gas, 1_000_000_000)
}

/// [`signed`] with a priority fee of `tip` wei.
pub(crate) fn signed_with_tip(
    key: u32,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Bytes,
    gas: u64,
    tip: u128,
) -> String {
    let tx = TxEip1559 {
        chain_id: DEVNET_CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: tip,
        to,
        value,
        input,
        access_list: Default::default(),
    };
    let sig = dev_signer(key)
        .sign_hash_sync(&tx.signature_hash())
        .unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    format!("0x{}", hex::encode(env.encoded_2718()))
}

/// The first receipt (on the devnet: the preconfirmed one).
fn receipt(p: &Proc, hash: &Value, within: Duration) -> Value {
    wait_for(within, || {
        let r = p.call("eth_getTransactionReceipt", json!([hash]));
        (!r["result"].is_null()).then(|| r["result"].clone())
    })
    .unwrap_or_else(|| panic!("no receipt for {hash} within {within:?}"))
}

/// The receipt once its block is canonical (the devnet finalizes every block it commits; a
/// preconfirmed receipt names a block above `finalized`).
pub(crate) fn included(p: &Proc, hash: &Value, within: Duration) -> Value {
    wait_for(within, || {
        let r = p.call("eth_getTransactionReceipt", json!([hash]))["result"].clone();
        let finalized = p.call("eth_getBlockByNumber", json!(["finalized", false]));
        let canonical = !r.is_null()
            && hex_u64(&r["blockNumber"]) <= hex_u64(&finalized["result"]["number"])
            && finalized["result"]["hash"] != Value::Null;
        canonical.then_some(r)
    })
    .unwrap_or_else(|| panic!("{hash} not in a canonical block within {within:?}"))
}

#[test]
fn transfer_deploy_event_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().to_str().unwrap().to_string();
    let args = ["devnet", "--block-time", "1s", "--datadir", &datadir];
    let recipient = Address::repeat_byte(0x42);
    let (block_after, balance_after);
    {
        let p = Proc::start(&args);
        assert_eq!(
            p.call("eth_chainId", json!([]))["result"],
            format!("0x{DEVNET_CHAIN_ID:x}")
        );

        // A signed transfer is in a block within a slot (1 s here; allow a few for slow CI).
        let raw = signed(
            0,
            0,
            TxKind::Call(recipient),
            U256::from(12345),
            Bytes::new(),
            21_000,
        );
        let sent = p.call("eth_sendRawTransaction", json!([raw]));
        let hash = sent["result"].clone();
        assert!(hash.is_string(), "send failed: {sent}");
        let r = receipt(&p, &hash, Duration::from_secs(10));
        assert_eq!(r["status"], "0x1");
        assert_eq!(r["gasUsed"], "0x5208");
        let bal = p.call("eth_getBalance", json!([recipient, "pending"]));
        assert_eq!(bal["result"], "0x3039");
        let r = included(&p, &hash, Duration::from_secs(10));
        assert_eq!(r["gasUsed"], "0x5208");
        let bal = p.call("eth_getBalance", json!([recipient, "latest"]));
        assert_eq!(bal["result"], "0x3039");

        // Deploy the emitter, call it, find the event with eth_getLogs and in the receipt.
        let deploy = p.call(
            "eth_sendRawTransaction",
            json!([signed(
                1,
                0,
                TxKind::Create,
                U256::ZERO,
                emitter_initcode(),
                200_000
            )]),
        );
        let r = included(&p, &deploy["result"], Duration::from_secs(10));
        assert_eq!(r["status"], "0x1", "deploy failed: {r}");
        let contract: Address = serde_json::from_value(r["contractAddress"].clone()).unwrap();
        assert_eq!(contract, dev_signer(1).address().create(0));
        let code = p.call("eth_getCode", json!([contract, "latest"]));
        assert!(code["result"].as_str().unwrap().len() > 10);
        let call = p.call(
            "eth_sendRawTransaction",
            json!([signed(
                1,
                1,
                TxKind::Call(contract),
                U256::ZERO,
                Bytes::new(),
                100_000
            )]),
        );
        let r = included(&p, &call["result"], Duration::from_secs(10));
        let topic = format!("0x{TOPIC}");
        assert_eq!(r["logs"][0]["topics"][0], topic);
        let logs = p.call("eth_getLogs", json!([{"fromBlock": "0x0", "toBlock": "latest", "address": contract, "topics": [topic]}]));
        let logs = logs["result"].as_array().unwrap();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0]["data"], format!("0x{:064x}", 42));

        // Unlocked accounts: eth_sendTransaction as `cast send --unlocked` uses it.
        let from = dev_signer(2).address();
        let sent = p.call(
            "eth_sendTransaction",
            json!([{"from": from, "to": recipient, "value": "0x1"}]),
        );
        let r = included(&p, &sent["result"], Duration::from_secs(10));
        assert_eq!(r["from"], json!(from).as_str().unwrap().to_lowercase());

        block_after = u64::from_str_radix(
            r["blockNumber"].as_str().unwrap().trim_start_matches("0x"),
            16,
        )
        .unwrap();
        balance_after = p.call("eth_getBalance", json!([recipient, "latest"]))["result"].clone();
    }
    // Restart on the same datadir: the chain and state are intact and production continues.
    let p = Proc::start(&args);
    let n = p.call("eth_blockNumber", json!([]));
    let n =
        u64::from_str_radix(n["result"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert!(n >= block_after, "restarted at {n}, before {block_after}");
    assert_eq!(
        p.call("eth_getBalance", json!([recipient, "latest"]))["result"],
        balance_after
    );
    let grown = wait_for(Duration::from_secs(10), || {
        let m = p.call("eth_blockNumber", json!([]))["result"]
            .as_str()
            .map(|s| u64::from_str_radix(&s[2..], 16).unwrap())?;
        (m > n).then_some(m)
    });
    assert!(grown.is_some(), "no new block after restart");
}

#[test]
fn bad_input_gets_standard_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(&[
        "devnet",
        "--block-time",
        "1s",
        "--datadir",
        dir.path().to_str().unwrap(),
    ]);
    let (_, body) = post(p.rpc, "{not json", None);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], -32700);
    assert_eq!(
        p.call("eth_noSuchMethod", json!([]))["error"]["code"],
        -32601
    );
    assert_eq!(
        p.call("eth_getBalance", json!(["0x1234"]))["error"]["code"],
        -32602
    );
    assert_eq!(
        rpc(p.rpc, "eth_getBlockByHash", json!(["1234", false]))["error"]["code"],
        -32602
    );
    // An `id` that is neither a string, a number nor null: geth's -32600, not an empty body.
    let (status, body) = post(
        p.rpc,
        r#"{"jsonrpc":"2.0","id":{"a":1},"method":"eth_chainId","params":[]}"#,
        None,
    );
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
    assert_eq!(
        (status, v["error"]["code"].clone(), v["id"].clone()),
        (200, json!(-32600), Value::Null)
    );
    // A call that runs out of gas says so in geth's words (not revm's `OutOfGas(Basic)`).
    let v = p.call(
        "eth_call",
        json!([{"gas": "0x186a0", "data": "0x5b600056"}]),
    );
    assert_eq!(
        (v["error"]["code"].clone(), v["error"]["message"].clone()),
        (json!(-32000), json!("out of gas")),
        "{v}"
    );
    // Subscriptions need a WebSocket: over HTTP, geth's -32601 `notifications not supported`.
    let v = p.call("eth_subscribe", json!(["newHeads"]));
    assert_eq!(v["error"]["code"], -32601, "{v}");
    assert_eq!(v["error"]["message"], "notifications not supported");
    // An oversized body is 413 however it is framed (chunked here, no Content-Length).
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(p.rpc).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let chunk = vec![b' '; 1024 * 1024];
        let _ = write!(
            s,
            "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        // 20 MiB in 1 MiB chunks; the server may answer and close before the end.
        for _ in 0..20 {
            if write!(s, "{:x}\r\n", chunk.len()).is_err()
                || s.write_all(&chunk).is_err()
                || s.write_all(b"\r\n").is_err()
            {
                break;
            }
        }
        let _ = s.write_all(b"0\r\n\r\n");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    }
    // The KZG trusted setup is loaded at start, not by the first blob transaction.
    let loaded = wait_for(Duration::from_secs(30), || {
        p.new_output()
            .iter()
            .any(|l| l.contains("KZG trusted setup loaded"))
            .then_some(())
    });
    assert!(loaded.is_some());

    // Pool refusals carry the standard messages.
    let raw = signed(
        3,
        0,
        TxKind::Call(Address::ZERO),
        U256::ZERO,
        Bytes::new(),
        21_000,
    );
    assert!(p.call("eth_sendRawTransaction", json!([raw]))["result"].is_string());
    let again = p.call("eth_sendRawTransaction", json!([raw]));
    assert_eq!(again["error"]["message"], "already known");
    let low_gas = signed(
        3,
        1,
        TxKind::Call(Address::ZERO),
        U256::ZERO,
        Bytes::new(),
        20_000,
    );
    let e = p.call("eth_sendRawTransaction", json!([low_gas]));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("intrinsic gas too low"),
        "{e}"
    );
    let broke = signed(
        4,
        0,
        TxKind::Call(Address::ZERO),
        U256::MAX >> 1,
        Bytes::new(),
        21_000,
    );
    let e = p.call("eth_sendRawTransaction", json!([broke]));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("insufficient funds"),
        "{e}"
    );
    let garbage = p.call("eth_sendRawTransaction", json!(["0xdeadbeef"]));
    assert_eq!(garbage["error"]["code"], -32000);
    // A transaction without EIP-155 replay protection is refused over RPC, as geth does.
    let legacy = alloy_consensus::TxLegacy {
        chain_id: None,
        nonce: 0,
        gas_price: 100_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(Address::ZERO),
        ..Default::default()
    };
    let sig = dev_signer(5)
        .sign_hash_sync(&legacy.signature_hash())
        .unwrap();
    let unprotected: TxEnvelope = legacy.into_signed(sig).into();
    let e = p.call(
        "eth_sendRawTransaction",
        json!([Bytes::from(unprotected.encoded_2718())]),
    );
    assert_eq!(e["error"]["code"], -32000, "{e}");
    assert_eq!(
        e["error"]["message"],
        "only replay-protected (EIP-155) transactions allowed over RPC"
    );

    // A log range that ends before it starts is an error, as on geth.
    let e = p.call(
        "eth_getLogs",
        json!([{"fromBlock": "0x2", "toBlock": "0x1"}]),
    );
    assert_eq!(e["error"]["code"], -32000, "{e}");
    assert_eq!(e["error"]["message"], "invalid block range params");

    // A reverting call returns code 3 with the revert data.
    let revert = p.call("eth_call", json!([{"data": "0x60006000fd"}, "latest"]));
    assert_eq!(revert["error"]["code"], 3, "{revert}");

    // An oversized request is refused, and the node keeps serving.
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["{}"]}}"#,
        "a".repeat(16 * 1024 * 1024)
    );
    let (status, _) = post(p.rpc, &huge, None);
    assert!(
        status == 413 || status == 0,
        "oversized request got HTTP {status}"
    );
    assert!(p.call("eth_chainId", json!([]))["result"].is_string());
}

#[test]
fn websocket_subscriptions_deliver_heads_logs_and_pending_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(&[
        "devnet",
        "--block-time",
        "1s",
        "--datadir",
        dir.path().to_str().unwrap(),
    ]);
    let mut heads = Ws::connect(p.rpc);
    heads.send(r#"{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}"#);
    let sub = heads.recv();
    assert!(
        sub["result"]
            .as_str()
            .is_some_and(|id| id.starts_with("0x")),
        "{sub}"
    );
    let mut pending = Ws::connect(p.rpc);
    pending.send(
        r#"{"jsonrpc":"2.0","id":2,"method":"eth_subscribe","params":["newPendingTransactions"]}"#,
    );
    assert!(pending.recv()["result"].is_string());
    let mut full = Ws::connect(p.rpc);
    full.send(
        r#"{"jsonrpc":"2.0","id":3,"method":"eth_subscribe","params":["newPendingTransactions",true]}"#,
    );
    assert!(full.recv()["result"].is_string());

    let head = heads.recv();
    assert_eq!(head["method"], "eth_subscription");
    assert_eq!(head["params"]["subscription"], sub["result"]);
    assert!(head["params"]["result"]["number"].is_string(), "{head}");

    let raw = signed(
        5,
        0,
        TxKind::Call(Address::ZERO),
        U256::from(1),
        Bytes::new(),
        21_000,
    );
    let hash = p.call("eth_sendRawTransaction", json!([raw]))["result"].clone();
    let note = pending.recv();
    assert_eq!(note["params"]["result"], hash);
    // With `true`, the whole transaction, as geth sends it.
    let tx = full.recv()["params"]["result"].clone();
    assert_eq!(tx["hash"], hash, "{tx}");
    assert_eq!(
        tx["from"],
        json!(dev_signer(5).address())
            .as_str()
            .unwrap()
            .to_lowercase()
    );
    assert_eq!(tx["nonce"], "0x0");
}

/// The devnet's secrets are owner-only from the first write, and SIGTERM (what `kill`, systemd and
/// container runtimes send) stops it cleanly: its temporary datadir, secrets included, is removed.
#[cfg(unix)]
#[test]
fn secrets_are_private_and_sigterm_removes_the_temporary_datadir() {
    use std::os::unix::fs::PermissionsExt;
    let out = tempfile::tempdir().unwrap();
    let info = out.path().join("devnet.json");
    let mut p = Proc::start(&["devnet", "--config-out", info.to_str().unwrap()]);
    let v: Value = wait_for(Duration::from_secs(20), || {
        serde_json::from_str(&std::fs::read_to_string(&info).ok()?).ok()
    })
    .expect("--config-out written");
    let datadir = std::path::PathBuf::from(v["datadir"].as_str().unwrap());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&datadir), 0o700);
    assert_eq!(mode(&datadir.join("jwt.hex")), 0o600);
    assert_eq!(mode(&datadir.join("flashblocks.key")), 0o600);
    assert_eq!(mode(&datadir.join("chain.redb")), 0o600);
    for f in std::fs::read_dir(datadir.join("preconf")).unwrap() {
        let f = f.unwrap().path();
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    // The Engine API's token never shows in the clear, even in a trace log.
    let out = tempfile::tempdir().unwrap();
    let traced = Proc::start(&[
        "devnet",
        "--log.level",
        "trace",
        "--datadir",
        out.path().join("d").to_str().unwrap(),
    ]);
    let mut log = Vec::new();
    let seen = wait_for(Duration::from_secs(20), || {
        log.extend(traced.new_output());
        log.iter()
            .any(|l| l.contains("\"authorization\": Sensitive"))
            .then_some(())
    });
    assert!(seen.is_some(), "no Engine API request in the trace log");
    assert!(
        !log.iter().any(|l| l.contains("Bearer ")),
        "a bearer token in the log"
    );
    drop(traced);

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exited = wait_for(Duration::from_secs(20), || p.child.try_wait().unwrap());
    assert!(exited.expect("exits on SIGTERM").success());
    assert!(!datadir.exists(), "{} left behind", datadir.display());
}

/// A datadir is one node's: a second node on it is refused before it writes anything, a datadir
/// others can read is narrowed to owner-only, and an emptied or missing database is refused
/// rather than taken for a new chain.
#[cfg(unix)]
#[test]
fn a_datadir_in_use_open_to_others_or_truncated_is_handled() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    let args = ["devnet", "--datadir", data.to_str().unwrap()];
    let first = Proc::start(&args);
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let validators = data.join("preconf").join("validators.json");
    let before = std::fs::read(&validators).unwrap();
    std::fs::write(&validators, b"marker").unwrap();
    // A node that must not start: its last error line.
    let refused = || {
        let out = crate::support::bin()
            .args(args)
            .args([
                "--http.port",
                "0",
                "--authrpc.port",
                "0",
                "--metrics.port",
                "0",
            ])
            .args(["--flashblocks.port", "0", "--preconf.api-port", "0"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "it started");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let stderr = refused();
    assert!(
        stderr.contains("is in use by another preconf-node process"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&validators).unwrap(),
        b"marker",
        "the refused node rewrote validators.json"
    );
    std::fs::write(&validators, before).unwrap();
    drop(first);

    std::fs::File::create(data.join("chain.redb")).unwrap();
    let stderr = refused();
    assert!(stderr.contains("is empty (truncated?)"), "{stderr}");

    // The database gone altogether: the journal beside it says there was a chain.
    std::fs::remove_file(data.join("chain.redb")).unwrap();
    let stderr = refused();
    assert!(stderr.contains("chain.redb is missing"), "{stderr}");
    assert!(!data.join("chain.redb").exists(), "a new chain was started");
}

/// A port already in use stops the node with one line naming the server, address and flag: no
/// panic text, no backtrace (even with `RUST_BACKTRACE=1`).
#[test]
fn a_port_in_use_is_one_clear_line() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = crate::support::bin()
        .args(["devnet", "--datadir", dir.path().to_str().unwrap()])
        .args([
            "--http.port",
            &port,
            "--authrpc.port",
            "0",
            "--metrics.port",
            "0",
        ])
        .args(["--flashblocks.port", "0"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().last().unwrap_or_default(),
        format!("error: cannot bind JSON-RPC on 127.0.0.1:{port} (--http.port): address in use")
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
}

/// Every counter the node defines is exported at start, before its first event, so dashboards
/// show 0 instead of no data (the devnet runs every role); the process and allocator figures too.
#[test]
fn every_counter_is_exported_from_the_start() {
    let p = Proc::start(&["devnet"]);
    let names: Vec<&str> = include_str!("../../actors/src/metrics.rs")
        .split('"')
        .filter(|s| s.starts_with("preconf_") && s.ends_with("_total"))
        .collect();
    assert!(names.len() > 30, "{names:?}");
    let missing = || {
        let text = crate::support::get(p.metrics, "/metrics");
        names
            .iter()
            .filter(|n| {
                !text
                    .lines()
                    .any(|l| l.starts_with(&format!("{n} ")) || l.starts_with(&format!("{n}{{")))
            })
            .copied()
            .collect::<Vec<_>>()
    };
    // The block producer joins the supervisor just after the servers listen: allow it a moment.
    let all_there = wait_for(Duration::from_secs(5), || {
        missing().is_empty().then_some(())
    });
    assert!(
        all_there.is_some(),
        "not exported at start: {:?}",
        missing()
    );
    // The process figures: the allocator's, and its free pages handed back every 10 s.
    for gauge in [
        "preconf_heap_in_use_bytes",
        "preconf_heap_free_bytes",
        "preconf_heap_mapped_bytes",
        "process_resident_memory_bytes",
    ] {
        assert!(p.metric(gauge) > 0.0, "{gauge}");
    }
    wait_for(Duration::from_secs(15), || {
        (p.metric("preconf_heap_trim_seconds_count") >= 1.0).then_some(())
    })
    .expect("a heap trim within 15 s");
}

/// Settings that cannot make a working chain are refused before anything starts, with the reason.
#[test]
fn impossible_settings_are_refused_with_a_reason() {
    let refused = |args: &[&str]| {
        let out = crate::support::bin().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} started");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let e = refused(&["devnet", "--gas-limit", "0"]);
    assert!(e.contains("at least one plain transfer"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let e = refused(&[
        "devnet",
        "--block-time",
        "100ms",
        "--datadir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        e.contains("--block-time 100ms is shorter than --flashblocks.interval-ms 200"),
        "{e}"
    );
    // A genesis that is no genesis, or has a field of the wrong type: the reason once, the field
    // named.
    let genesis = dir.path().join("genesis.json");
    let path = genesis.to_str().unwrap();
    std::fs::write(&genesis, "[]").unwrap();
    let e = refused(&["devnet", "--genesis", path]);
    assert!(e.contains("a genesis is a JSON object"), "{e}");
    std::fs::write(&genesis, r#"{"config": {"chainId": "one"}, "alloc": {}}"#).unwrap();
    let e = refused(&["devnet", "--genesis", path]);
    assert!(e.contains("field config.chainId"), "{e}");
    let missing = dir.path().join("missing.json");
    let e = refused(&["devnet", "--genesis", missing.to_str().unwrap()]);
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
}

/// `preconf-node devnet` serves BRIP-0007 phase 3 consistently: a plain send returns once the
/// transaction is preconfirmed; `eth_blockNumber`, `latest` and its number name the preconfirmed
/// block, whose header carries the true roots; every hash a receipt showed resolves while the
/// block is built and, once sealed, to the canonical block of that height.
#[test]
fn latest_is_the_preconfirmed_block_and_its_hashes_resolve() {
    let p = Proc::start(&["devnet"]);
    wait_for(Duration::from_secs(10), || {
        let b = p.call("eth_getBlockByNumber", json!(["pending", false]));
        (b["result"]["parentHash"] != Value::Null).then_some(())
    })
    .expect("flashblocks");
    let to = Address::repeat_byte(0x42);
    let mut shown = Vec::new();
    for nonce in 0..3 {
        let raw = signed(
            7,
            nonce,
            TxKind::Call(to),
            U256::from(1),
            Bytes::new(),
            21_000,
        );
        let settle_timeouts = p.metric("preconf_rpc_send_settle_timeouts_total");
        let hash = p.call("eth_sendRawTransaction", json!([raw]))["result"].clone();
        // No wait: the send returned once the transaction was preconfirmed — unless the node
        // counted it as returning early (it gave up after a second, or no flashblock had come
        // for a second so it did not wait: a starved CI machine can stall that long).
        let mut r = p.call("eth_getTransactionReceipt", json!([hash]))["result"].clone();
        if r.is_null() {
            assert!(
                p.metric("preconf_rpc_send_settle_timeouts_total") > settle_timeouts,
                "no receipt right after the send, and the node did not count an early return"
            );
            r = wait_for(Duration::from_secs(10), || {
                let r = p.call("eth_getTransactionReceipt", json!([hash]))["result"].clone();
                (!r.is_null()).then_some(r)
            })
            .expect("a receipt");
        }
        assert_eq!(r["status"], "0x1", "{r}");
        let bytes = p.call("debug_getRawTransaction", json!([hash]))["result"].clone();
        assert_eq!(bytes, json!(raw), "a preconfirmed transaction's bytes");
        // The next nonce at `latest` already counts it (cast and web3.py take it from there).
        let count = p.call(
            "eth_getTransactionCount",
            json!([dev_signer(7).address(), "latest"]),
        );
        assert_eq!(hex_u64(&count["result"]), nonce + 1);
        let n = hex_u64(&r["blockNumber"]);
        let block_number = hex_u64(&p.call("eth_blockNumber", json!([]))["result"]);
        let latest = p.call("eth_getBlockByNumber", json!(["latest", false]))["result"].clone();
        assert!(block_number >= n && hex_u64(&latest["number"]) >= n);
        if block_number == n {
            let by_number = p.call("eth_getBlockByNumber", json!([format!("{n:#x}"), false]));
            assert_eq!(by_number["result"]["number"], r["blockNumber"]);
        }
        // The receipt's block resolves, with its receipts and count.
        let h = &r["blockHash"];
        let block = p.call("eth_getBlockByHash", json!([h, false]))["result"].clone();
        assert_eq!(block["number"], r["blockNumber"], "{block}");
        let receipts = p.call("eth_getBlockReceipts", json!([h]))["result"].clone();
        assert!(
            receipts
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["transactionHash"] == hash)
        );
        let count = p.call("eth_getBlockTransactionCountByHash", json!([h]));
        assert!(hex_u64(&count["result"]) >= 1);
        shown.push((n, h.clone(), block));
    }
    // A transaction that cannot execute yet (a nonce gap) is found in the pool.
    let gapped = signed(7, 10, TxKind::Call(to), U256::from(1), Bytes::new(), 21_000);
    let hash = p.call("eth_sendRawTransaction", json!([gapped]))["result"].clone();
    let pooled = p.call("eth_getTransactionByHash", json!([hash]))["result"].clone();
    assert_eq!(pooled["nonce"], "0xa", "{pooled}");
    assert_eq!(pooled["blockHash"], Value::Null, "{pooled}");
    let bytes = p.call("debug_getRawTransaction", json!([hash]))["result"].clone();
    assert_eq!(bytes, json!(gapped));
    // A preconfirmed header is a real one: its roots are not the empty trie's and its hash is
    // the hash of its fields (checked by the canonical block having the same roots when it holds
    // the same transactions).
    let empty = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421";
    for (_, _, b) in &shown {
        assert_ne!(b["transactionsRoot"], empty, "{b}");
        assert_ne!(b["receiptsRoot"], empty, "{b}");
        assert_ne!(b["logsBloom"], Value::Null);
    }
    let last = shown.last().unwrap().0;
    wait_for(Duration::from_secs(10), || {
        let f = p.call("eth_getBlockByNumber", json!(["finalized", false]));
        (hex_u64(&f["result"]["number"]) >= last).then_some(())
    })
    .expect("the blocks are sealed");
    for (n, h, preconfirmed) in &shown {
        let canonical =
            p.call("eth_getBlockByNumber", json!([format!("{n:#x}"), false]))["result"].clone();
        let resolved = p.call("eth_getBlockByHash", json!([h, false]))["result"].clone();
        assert_eq!(
            resolved["hash"], canonical["hash"],
            "{h} resolves to the sealed block"
        );
        if preconfirmed["transactions"] == canonical["transactions"] {
            for root in [
                "transactionsRoot",
                "receiptsRoot",
                "stateRoot",
                "requestsHash",
                "logsBloom",
                "gasUsed",
            ] {
                assert_eq!(preconfirmed[root], canonical[root], "{root}");
            }
        }
        let receipts = p.call("eth_getBlockReceipts", json!([h]))["result"].clone();
        assert_eq!(receipts[0]["blockHash"], canonical["hash"]);
    }
    // `safe` and `finalized` stay canonical.
    let safe = p.call("eth_getBlockByNumber", json!(["safe", false]))["result"].clone();
    let head = hex_u64(&p.call("eth_blockNumber", json!([]))["result"]);
    assert!(hex_u64(&safe["number"]) <= head);
    assert!(p.metric("preconf_rpc_send_settle_timeouts_total") < 3.0);
}

/// With `--rpc.preconf-latest=false` the devnet serves bera-reth's pending-only view: the
/// preconfirmed block is `pending` and `eth_blockNumber` is the canonical head.
#[test]
fn preconf_latest_can_be_turned_off() {
    let p = Proc::start(&["devnet", "--rpc.preconf-latest=false"]);
    let raw = signed(
        8,
        0,
        TxKind::Call(Address::ZERO),
        U256::from(1),
        Bytes::new(),
        21_000,
    );
    let hash = p.call("eth_sendRawTransaction", json!([raw]))["result"].clone();
    let r = receipt(&p, &hash, Duration::from_secs(5));
    let n = hex_u64(&r["blockNumber"]);
    let head = hex_u64(&p.call("eth_blockNumber", json!([]))["result"]);
    let pending = p.call("eth_getBlockByNumber", json!(["pending", false]))["result"].clone();
    if hex_u64(&pending["number"]) == n {
        assert_eq!(head + 1, n, "latest is canonical while {n} is preconfirmed");
        let by_number = p.call("eth_getBlockByNumber", json!([format!("{n:#x}"), false]));
        assert_eq!(by_number["result"], Value::Null);
    }
}

/// `--log.format json`: every line the devnet writes is one JSON object with a timestamp, a
/// level, a target and fields — the banner included, as one line carrying the `--config-out`
/// JSON.
#[test]
fn json_logs_are_one_object_per_line() {
    use std::io::{BufRead, BufReader};
    let mut child = crate::support::bin()
        .args(["devnet", "--log.format", "json"])
        .args([
            "--http.port",
            "0",
            "--authrpc.port",
            "0",
            "--metrics.port",
            "0",
        ])
        .args(["--flashblocks.port", "0", "--preconf.api-port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        let done = line.contains("committed");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(lines.len() > 10, "{lines:?}");
    let mut banner = None;
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        for key in ["timestamp", "level", "target", "fields"] {
            assert!(v.get(key).is_some(), "{key} missing in {line}");
        }
        if v["fields"]["message"] == "devnet ready" {
            banner = Some(v["fields"]["devnet"].as_str().unwrap().to_string());
        }
    }
    let banner: Value = serde_json::from_str(&banner.expect("the banner line")).unwrap();
    assert_eq!(banner["chainId"], DEVNET_CHAIN_ID);
}

/// The first status line a raw HTTP request gets.
fn status_of(addr: std::net::SocketAddr, head: &str) -> String {
    use std::io::{BufRead, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut line = String::new();
    let _ = std::io::BufReader::new(s).read_line(&mut line);
    line.trim().to_string()
}

/// A web page cannot reach the node through a DNS name it controls (`--http.vhosts`), nor open
/// a WebSocket from an origin `--http.corsdomain` does not list; a devnet listening beyond
/// loopback with unlocked accounts says so in its banner.
#[test]
fn hosts_and_origins_are_checked_and_open_binds_are_announced() {
    let p = Proc::start(&[
        "devnet",
        "--http.addr",
        "0.0.0.0",
        "--http.corsdomain",
        "http://dapp.localhost:3000",
    ]);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], p.rpc.port()));
    let post = |host: &str| {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
        status_of(
            addr,
            &format!(
                "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    assert!(post(&format!("localhost:{}", p.rpc.port())).contains(" 200"));
    assert!(post(&format!("127.0.0.1:{}", p.rpc.port())).contains(" 200"));
    assert!(post("rebound.example.com").contains(" 403"));
    let upgrade = |origin: Option<&str>| {
        let origin = origin
            .map(|o| format!("Origin: {o}\r\n"))
            .unwrap_or_default();
        status_of(
            addr,
            &format!(
                "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n"
            ),
        )
    };
    assert!(upgrade(None).contains(" 101"), "a non-browser client");
    assert!(upgrade(Some("http://dapp.localhost:3000")).contains(" 101"));
    assert!(upgrade(Some("http://evil.example")).contains(" 403"));
    let mut banner = String::new();
    let said = wait_for(Duration::from_secs(10), || {
        banner.push_str(&p.new_output().join("\n"));
        banner
            .contains("WARNING: JSON-RPC listens on 0.0.0.0")
            .then_some(())
    });
    assert!(said.is_some(), "{banner}");
}

/// By default only pages served from this machine may call the node from a browser: a page of
/// another site gets no CORS approval (so it can neither send JSON-RPC with the unlocked accounts
/// nor read answers) and cannot open a WebSocket.
#[test]
fn only_local_pages_get_cors_by_default() {
    use std::io::{Read, Write};
    let p = Proc::start(&["devnet"]);
    let preflight = |origin: &str| {
        let mut s = std::net::TcpStream::connect(p.rpc).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "OPTIONS / HTTP/1.1\r\nHost: localhost\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.to_ascii_lowercase()
    };
    let local = preflight("http://localhost:5173");
    assert!(
        local.contains("access-control-allow-origin: http://localhost:5173"),
        "{local}"
    );
    let foreign = preflight("https://evil.example");
    assert!(
        !foreign.contains("access-control-allow-origin"),
        "{foreign}"
    );
    let upgrade = |origin: &str| {
        status_of(
            p.rpc,
            &format!(
                "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
            ),
        )
    };
    assert!(upgrade("http://127.0.0.1:3000").contains(" 101"));
    assert!(upgrade("https://evil.example").contains(" 403"));
}

/// A WebSocket subscriber that answers the server's pings stays connected however long nothing
/// happens (it was dropped after 20 s), and still receives its subscription afterwards.
#[test]
fn an_idle_websocket_subscriber_that_answers_pings_stays() {
    let p = Proc::start(&["devnet", "--block-time", "1s"]);
    let mut ws = Ws::connect(p.rpc);
    ws.send(
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newPendingTransactions"]}"#,
    );
    assert!(ws.recv()["result"].is_string());
    assert!(
        ws.stay(Duration::from_secs(35)),
        "the server dropped an idle subscriber that answered its pings"
    );
    let raw = signed(
        2,
        0,
        TxKind::Call(Address::repeat_byte(0x77)),
        U256::from(1),
        Bytes::new(),
        21_000,
    );
    let hash = p.call("eth_sendRawTransaction", json!([raw]))["result"].clone();
    let note = ws.recv();
    assert_eq!(note["params"]["result"], hash, "{note}");
}

/// A client that sends one transaction after another (each send returns once preconfirmed) is
/// not held to one transaction per flashblock interval: a transaction arriving while the
/// sequencer is idle gets a flashblock at once (`preconf_flashblocks_early_total`); with
/// `--flashblocks.early=false` the 200 ms cadence decides. (How long 50 such sends take is a
/// benchmark: `scripts/bench-sequential.sh`.)
#[test]
fn a_sequential_sender_gets_early_flashblocks_unless_they_are_off() {
    for (flag, early) in [
        ("--flashblocks.early=true", true),
        ("--flashblocks.early=false", false),
    ] {
        let p = Proc::start(&["devnet", flag]);
        let mut last = Value::Null;
        for nonce in 0..10 {
            let raw = signed(
                4,
                nonce,
                TxKind::Call(Address::repeat_byte(0x44)),
                U256::from(1),
                Bytes::new(),
                21_000,
            );
            let r = p.call("eth_sendRawTransaction", json!([raw]));
            last = r["result"].clone();
            assert!(last.is_string(), "{r}");
        }
        let count = p.metric("preconf_flashblocks_early_total");
        if early {
            assert!(
                count >= 5.0,
                "{flag}: {count} early flashblocks for 10 sequential sends"
            );
        } else {
            assert_eq!(count, 0.0, "{flag}");
        }
        let landed = wait_for(Duration::from_secs(10), || {
            let r = p.call("eth_getTransactionReceipt", json!([last]));
            (!r["result"].is_null()).then_some(())
        });
        assert!(
            landed.is_some(),
            "{flag}: the last send never got a receipt"
        );
    }
}
