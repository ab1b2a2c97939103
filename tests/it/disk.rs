//! A full disk under load: the devnet's datadir sits on a small tmpfs, senders stream transfers,
//! a filler takes every free byte, then is removed. Checked: while full, `/healthz` answers 503
//! with the reasons (commits failing, disk low, then the stall), new transactions are refused
//! with a clear error, and the chain does not move; once space is back the chain resumes
//! without a restart, `/healthz` is 200 again, every transaction the node accepted is in a
//! canonical block, and no temporary journal file is left behind.
//!
//! Mounting a tmpfs needs root (CI runs as root); elsewhere the test fails and says so.

use crate::{
    devnet::signed,
    support::{Proc, get, hex_u64, wait_for},
};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use preconf_core::devnet::dev_signer;
use serde_json::{Value, json};
use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// A tmpfs mounted for the test; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> (tempfile::TempDir, Tmpfs) {
        let uid = Command::new("id").arg("-u").output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "this test mounts a tmpfs to fill a disk and needs root (CI runs as root)"
        );
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount -t tmpfs failed");
        let path = dir.path().to_path_buf();
        (dir, Tmpfs(path))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn healthz(p: &Proc) -> (u16, Value) {
    let raw = get(p.metrics, "/healthz");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn head(p: &Proc) -> u64 {
    hex_u64(&p.call("eth_blockNumber", json!([]))["result"])
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 1 << 20];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

/// Sends transfers from `key` one after the other until `stop`, recording each accepted hash and
/// each refusal's message; a refused nonce is sent again.
fn sender(
    p_rpc: std::net::SocketAddr,
    key: u32,
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<String>>>,
    refusals: Arc<Mutex<Vec<String>>>,
) {
    let from = dev_signer(key).address();
    let nonce = crate::support::rpc(p_rpc, "eth_getTransactionCount", json!([from, "pending"]));
    let mut nonce = hex_u64(&nonce["result"]);
    while !stop.load(Ordering::Relaxed) {
        let raw = signed(
            key,
            nonce,
            TxKind::Call(Address::with_last_byte(0xd1)),
            U256::from(1),
            Bytes::new(),
            21_000,
        );
        let r = crate::support::rpc(p_rpc, "eth_sendRawTransaction", json!([raw]));
        match r["result"].as_str() {
            Some(hash) => {
                accepted.lock().unwrap().push(hash.to_string());
                nonce += 1;
            }
            None => {
                refusals
                    .lock()
                    .unwrap()
                    .push(r["error"]["message"].as_str().unwrap_or("").to_string());
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_full_disk_stalls_the_chain_honestly_and_it_resumes_without_a_restart_losing_nothing() {
    let (_dir, fs) = Tmpfs::mount("48m");
    let data = fs.0.join("data");
    let p = Proc::start(&[
        "devnet",
        "--datadir",
        data.to_str().unwrap(),
        "--block-time",
        "1s",
        "--datadir.min-free-mb",
        "4",
        "--health.stall-after",
        "5s",
    ]);
    assert_eq!(healthz(&p).0, 200, "{:?}", healthz(&p));

    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = [3, 4]
        .into_iter()
        .map(|key| {
            let (stop, accepted, refusals) = (stop.clone(), accepted.clone(), refusals.clone());
            let rpc = p.rpc;
            std::thread::spawn(move || sender(rpc, key, stop, accepted, refusals))
        })
        .collect();
    let started = head(&p);
    assert!(
        wait_for(Duration::from_secs(20), || (head(&p) >= started + 2
            && accepted.lock().unwrap().len() >= 20)
            .then_some(()))
        .is_some(),
        "the devnet did not carry the load before the disk filled"
    );

    // Take every free byte.
    let filler = fs.0.join("filler");
    fill(&filler);
    let stalled = wait_for(Duration::from_secs(30), || {
        let (status, body) = healthz(&p);
        let problems = body["problems"].to_string();
        (status == 503
            && problems.contains("blocks cannot be committed")
            && problems.contains("disk low"))
        .then_some(body)
    });
    assert!(
        stalled.is_some(),
        "/healthz did not report the failing commits: {:?}",
        healthz(&p)
    );
    let stuck = head(&p);
    let refused = wait_for(Duration::from_secs(10), || {
        refusals
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.starts_with("insufficient disk space"))
            .cloned()
    });
    assert!(refused.is_some(), "no send was refused for disk space");
    // The stall itself is reported once it lasts longer than --health.stall-after.
    let reported = wait_for(Duration::from_secs(15), || {
        healthz(&p).1["problems"]
            .to_string()
            .contains("chain stalled")
            .then_some(())
    });
    assert!(reported.is_some(), "no stall reported: {:?}", healthz(&p));
    assert!(
        head(&p) <= stuck + 1,
        "the chain went on while its disk was full"
    );
    assert!(p.metric("preconf_chain_commit_failures_total") >= 1.0);
    assert!(p.metric("preconf_mempool_rejected_total{reason=\"disk_low\"}") >= 1.0);

    // Space comes back: the chain resumes by itself.
    std::fs::remove_file(&filler).unwrap();
    let resumed = wait_for(Duration::from_secs(30), || {
        (head(&p) >= stuck + 3 && healthz(&p).0 == 200).then_some(())
    });
    assert!(
        resumed.is_some(),
        "the chain did not resume once space was freed: head {} (stuck at {stuck}), {:?}",
        head(&p),
        healthz(&p)
    );
    assert!(p.metric("preconf_chain_db_reopens_total") >= 1.0);
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }

    // Every accepted transaction ends up in a finalized block.
    let accepted = accepted.lock().unwrap().clone();
    let missing = wait_for(Duration::from_secs(30), || {
        let finalized =
            p.call("eth_getBlockByNumber", json!(["finalized", false]))["result"]["number"].clone();
        let finalized = hex_u64(&finalized);
        let missing = accepted.iter().any(|h| {
            let r = p.call("eth_getTransactionReceipt", json!([h]))["result"].clone();
            r.is_null()
                || hex_u64(&r["blockNumber"]) > finalized
                || p.call("eth_getBlockByNumber", json!([r["blockNumber"], false]))["result"]
                    ["hash"]
                    != r["blockHash"]
        });
        (!missing).then_some(())
    });
    assert!(
        missing.is_some(),
        "accepted transactions were lost after the disk filled ({} accepted)",
        accepted.len()
    );
    let leftovers: Vec<_> = std::fs::read_dir(data.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
