//! The container, as far as it can be checked without a Docker daemon (none runs here, and no
//! base image can be pulled): the Dockerfile through Docker's own parser, and the binary run the
//! way the image runs it — the image's environment (every server on 0.0.0.0, the datadir), a
//! non-root user, everything read-only but the datadir — and reached.

use crate::support::{Proc, bin, get, python_path};
use std::process::Command;

#[test]
fn the_dockerfile_parses_and_matches_the_node() {
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/check-dockerfile.py"
        ))
        .arg(env!("CARGO_BIN_EXE_preconf-node"))
        .env("PYTHONPATH", python_path("dockerfile"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("ok   runtime user"));
}

/// As root (CI, this machine): a private mount namespace makes `/` read-only with the datadir
/// bound writable, and the node runs as uid/gid 65534 (nobody), as the image's `preconf` user.
#[cfg(target_os = "linux")]
#[test]
fn runs_as_the_image_runs_it() {
    let uid = Command::new("id").arg("-u").output().unwrap().stdout;
    assert_eq!(
        String::from_utf8_lossy(&uid).trim(),
        "0",
        "this test needs root to drop to another user in a mount namespace (CI runs as root)"
    );
    use std::os::unix::fs::{PermissionsExt, chown};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    chown(&data, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let data = data.to_str().unwrap().to_string();
    let script = format!(
        "mount --bind {data} {data} && mount -o remount,bind,ro / && \
         exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$0\" \"$@\""
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .arg(env!("CARGO_BIN_EXE_preconf-node"))
        .current_dir(&data)
        .env("HOME", &data)
        .env("PRECONF_DATADIR", &data);
    for var in [
        "PRECONF_HTTP_ADDR",
        "PRECONF_AUTHRPC_ADDR",
        "PRECONF_METRICS_ADDR",
        "PRECONF_FLASHBLOCKS_ADDR",
        "PRECONF_PRECONF_API_ADDR",
    ] {
        cmd.env(var, "0.0.0.0");
    }
    let p = Proc::start_command(cmd, &["devnet"]);
    assert!(p.rpc.ip().is_unspecified(), "bound to {}", p.rpc);
    let mut banner = String::new();
    let said = crate::support::wait_for(std::time::Duration::from_secs(10), || {
        banner.push_str(&p.new_output().join("\n"));
        banner
            .contains("JSON-RPC      http://0.0.0.0:")
            .then_some(())
    });
    assert!(said.is_some(), "the banner names 0.0.0.0: {banner}");
    // Reached over loopback and over the wildcard address.
    let port = p.rpc.port();
    let reached = crate::support::rpc(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        "eth_chainId",
        serde_json::json!([]),
    );
    assert_eq!(reached["result"], "0x138d7");
    assert!(get(p.metrics, "/healthz").contains("\"healthy\":true"));
    // The image's HEALTHCHECK.
    let health = bin()
        .args([
            "healthcheck",
            &format!("http://127.0.0.1:{}/healthz", p.metrics.port()),
        ])
        .status()
        .unwrap();
    assert!(health.success());
    // The chain is in the datadir, owned by the node's user.
    let meta = std::fs::metadata(format!("{data}/chain.redb")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 65534);
}
