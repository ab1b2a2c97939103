//! The load generator against a real devnet process, compared with a second run in one
//! invocation (`--compare`), as a user compares preconf-node with a peer.

use crate::support::{Proc, bin};
use serde_json::Value;

#[test]
fn bench_measures_pending_and_compares_with_a_peer() {
    // `latest` canonical (the devnet's default serves it preconfirmed), so the compared run,
    // which watches `latest`, measures canonical receipts.
    let node = Proc::start(&["devnet", "--block-time", "1s", "--rpc.preconf-latest=false"]);
    let url = format!("http://{}", node.rpc);
    let out = bin()
        .args([
            "bench",
            "--rpc",
            &url,
            "--rate",
            "40",
            "--duration",
            "1s",
            "--senders",
            "4",
            "--wait",
            "5s",
            "--sync",
            "--compare",
            &url,
        ])
        .output()
        .expect("run the bench");
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    assert_eq!(runs.len(), 2);
    let (ours, peer) = (&runs[0], &runs[1]);
    assert_eq!(
        (ours["tag"].as_str(), ours["mode"].as_str()),
        (Some("pending"), Some("sync"))
    );
    assert_eq!(
        (peer["tag"].as_str(), peer["mode"].as_str()),
        (Some("latest"), Some("poll"))
    );
    for run in &runs {
        assert_eq!(run["sent"], 40, "{run}");
        assert_eq!(run["send_errors"], 0, "{run}");
        assert_eq!(run["missing"], 0, "{run}");
        assert!(run["latency_ms"]["p50"].as_f64().unwrap() > 0.0, "{run}");
    }
    // Preconfirmed receipts come within a flashblock; canonical ones wait for a block.
    let p99 = |r: &Value| r["latency_ms"]["p99"].as_f64().unwrap();
    assert!(p99(ours) < 1000.0, "{ours}");
    assert!(
        p99(peer) > p99(ours),
        "canonical receipts should not beat preconfirmed ones: {runs:?}"
    );
}
