//! Dashboards and alerts, proven against a real Prometheus (Debian's `prometheus`, installed when
//! missing): a devnet under light load is scraped every second, then every panel's PromQL
//! expression in `dashboards/*.json` is evaluated through Prometheus' HTTP API — each must parse
//! and return data (a non-NaN sample), except the few listed below with the fault that fills
//! them. `promtool check metrics` must find nothing to lint in the exposition, and the alerting
//! rules must load and pass their unit tests.
//!
//! Its own test binary, so cargo runs it alone (test binaries run one after another).

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use serde_json::{Value, json};
use std::{
    io::Write,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};
use support::{Proc, free_port, wait_for};

/// The body of a GET over HTTP/1.0 (so no chunked encoding).
fn get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or(text)
}

/// Series that the single-process devnet does not produce until a fault or another topology
/// fills them, with what fills them: their expressions must parse, and may return nothing. (Every
/// counter is created at zero when its component starts, so counter panels are never here.)
const FAULT_ONLY: &[(&str, &str)] = &[
    (
        "preconf_chain_block_execution_seconds",
        "blocks built elsewhere imported by newPayload: an rpc node or a validator's node in the \
         multi-process devnet (the devnet's own node executed each block while building it)",
    ),
    (
        "preconf_builder_build_seconds",
        "a proposer building its block locally: kill the sequencer or inject a builder fault \
         (admin_injectFault with --dev.fault-injection)",
    ),
];

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `prometheus` and `promtool`, installed from Debian's packages when missing.
fn ensure_prometheus() {
    let has = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    if has("promtool") && has("prometheus") {
        return;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = ["install", "-y", "--no-install-recommends", "prometheus"];
    let ok = apt(&install) || (apt(&["update"]) && apt(&install));
    assert!(
        ok && has("promtool"),
        "Debian's prometheus is needed: apt-get install prometheus"
    );
}

fn query(prom: std::net::SocketAddr, expr: &str) -> Value {
    let mut url = String::from("/api/v1/query?query=");
    for b in expr.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    let body = get(prom, &url);
    serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{expr}: {e}: {body}"))
}

fn has_data(answer: &Value) -> bool {
    answer["data"]["result"].as_array().is_some_and(|r| {
        r.iter()
            .any(|s| s["value"][1].as_str().is_some_and(|v| v != "NaN"))
    })
}

#[test]
fn every_panel_returns_data_from_a_real_prometheus() {
    ensure_prometheus();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboards = root.join("dashboards");

    // The alerting rules: valid, and their unit tests pass.
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["test", "rules", "alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(&dashboards)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let node = Proc::start(&["devnet"]);
    // Light load: a transfer and a few reads every 200 ms.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (rpc, stop) = (node.rpc, stop.clone());
        std::thread::spawn(move || {
            let from = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                support::rpc(
                    rpc,
                    "eth_sendTransaction",
                    json!([{"from": from, "to": "0x0000000000000000000000000000000000000042", "value": "0x1"}]),
                );
                support::rpc(rpc, "eth_getBalance", json!([from, "latest"]));
                support::rpc(
                    rpc,
                    "eth_call",
                    json!([{"to": "0x0000000000000000000000000000000000000042"}, "latest"]),
                );
                support::rpc(rpc, "eth_getLogs", json!([{"fromBlock": "latest"}]));
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };

    // The exposition passes promtool's linter.
    let exposition = get(node.metrics, "/metrics");
    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    lint.stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let lint = lint.wait_with_output().unwrap();
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    assert!(
        lint.status.success() && findings.trim().is_empty(),
        "promtool check metrics: {findings}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(dashboards.join("alerts.yml"), dir.path().join("alerts.yml")).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [alerts.yml]\n\
             scrape_configs:\n  - job_name: preconf-node\n    static_configs:\n      - targets: [\"{}\"]\n",
            node.metrics
        ),
    )
    .unwrap();
    let port = free_port();
    let prom_addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let _prom = Prometheus(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    wait_for(Duration::from_secs(30), || {
        std::net::TcpStream::connect(prom_addr).ok()
    })
    .expect("prometheus listens");
    wait_for(Duration::from_secs(30), || {
        get(prom_addr, "/-/ready").contains("Ready").then_some(())
    })
    .expect("prometheus is ready");
    // Enough scrapes for every rate window to hold two samples and for blocks to be imported.
    wait_for(Duration::from_secs(60), || {
        let up = query(
            prom_addr,
            "sum(rate(preconf_chain_blocks_imported_total[1m])) > 0",
        );
        has_data(&up).then_some(())
    })
    .expect("prometheus scrapes the node");
    std::thread::sleep(Duration::from_secs(8));

    let rules = get(prom_addr, "/api/v1/rules");
    assert!(
        rules.contains("PreconfNoBlocks"),
        "alerting rules loaded: {rules}"
    );

    let mut failures = Vec::new();
    let mut checked = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dashboards)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in &files {
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for panel in dashboard["panels"].as_array().unwrap() {
            let title = panel["title"].as_str().unwrap();
            assert!(
                panel["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{title}: no description"
            );
            assert!(
                panel["fieldConfig"]["defaults"]["unit"].is_string(),
                "{title}: no unit"
            );
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                let fault_only = FAULT_ONLY.iter().any(|(series, _)| expr.contains(series));
                let answer = query(prom_addr, expr);
                checked += 1;
                let ok = answer["status"] == "success" && (fault_only || has_data(&answer));
                if !ok {
                    failures.push(format!("{} / {title}: {expr} → {answer}", file.display()));
                }
            }
        }
    }
    let scrape = query(prom_addr, "max_over_time(scrape_duration_seconds[1m])");
    println!(
        "{checked} panel expressions checked over {} dashboards; exposition {} bytes; scrape duration max {}",
        files.len(),
        exposition.len(),
        scrape["data"]["result"][0]["value"][1]
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().unwrap();
    assert!(
        failures.is_empty(),
        "panels without data:\n{}",
        failures.join("\n")
    );
}
