//! The devnet as a user runs it: send a signed transaction and see its receipt within a slot,
//! deploy a contract and read its event, restart on the same datadir, and send bad input.

use crate::support::{Proc, Ws, post, rpc, wait_for};
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

fn signed(key: u32, nonce: u64, to: TxKind, value: U256, input: Bytes, gas: u64) -> String {
    let tx = TxEip1559 {
        chain_id: DEVNET_CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
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
fn included(p: &Proc, hash: &Value, within: Duration) -> Value {
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

fn hex_u64(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
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

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exited = wait_for(Duration::from_secs(20), || p.child.try_wait().unwrap());
    assert!(exited.expect("exits on SIGTERM").success());
    assert!(!datadir.exists(), "{} left behind", datadir.display());
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
/// show 0 instead of no data (the devnet runs every role).
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
}
