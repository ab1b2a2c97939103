//! The Ethereum JSON-RPC conformance suite (execution-apis, Prague chain, 95 cases) with the hive
//! rpc-compat rule: import chain.rlp into a fresh node on the suite's genesis, apply headfcu.json
//! over the JWT-authenticated Engine API, replay every `.io` file and compare responses by deep
//! JSON equality (error messages are ignored when both sides are errors; `speconly` files only
//! need a non-error result). Fails if fewer pass than the floor in
//! `tests/fixtures/conformance-floor.txt`, which only ever goes up.

use crate::support::{Proc, bin, fixtures, post};
use preconf_core::jwt::JwtSecret;
use serde_json::Value;
use std::path::PathBuf;

fn strip_error_messages(v: &mut Value) {
    if let Some(e) = v.get_mut("error").and_then(Value::as_object_mut) {
        e.remove("message");
    }
}

/// JSON numbers compare by value, as hive's Go comparison does (`0` equals `0.0`).
fn normalize(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().and_then(serde_json::Number::from_f64) {
                *n = f;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        Value::Object(o) => o.values_mut().for_each(normalize),
        _ => {}
    }
}

fn case_passes(proc: &Proc, file: &PathBuf) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let speconly = text.lines().any(|l| l.trim() == "// speconly");
    let mut request = None;
    for line in text.lines() {
        if let Some(r) = line.strip_prefix(">> ") {
            request = Some(r.to_string());
        } else if let Some(expected) = line.strip_prefix("<< ") {
            let req = request.take().ok_or("response without request")?;
            let (_, body) = post(proc.rpc, &req, None);
            let mut got: Value =
                serde_json::from_str(&body).map_err(|e| format!("unparsable reply {body}: {e}"))?;
            let mut want: Value = serde_json::from_str(expected).map_err(|e| e.to_string())?;
            if speconly {
                if got.get("error").is_some() {
                    return Err(format!("error where a result was expected: {got}"));
                }
                continue;
            }
            if got.get("error").is_some() && want.get("error").is_some() {
                strip_error_messages(&mut got);
                strip_error_messages(&mut want);
            }
            normalize(&mut got);
            normalize(&mut want);
            if got != want {
                return Err(format!(
                    "\n  request:  {req}\n  expected: {want}\n  got:      {got}"
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn execution_apis_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("data");
    let genesis = fixtures().join("genesis.json");
    let status = bin()
        .args([
            "import",
            fixtures().join("chain.rlp").to_str().unwrap(),
            "--genesis",
            genesis.to_str().unwrap(),
            "--datadir",
            datadir.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "import failed");
    let jwt_path = dir.path().join("jwt.hex");
    let secret = JwtSecret::random();
    std::fs::write(&jwt_path, secret.to_hex()).unwrap();
    let proc = Proc::start(&[
        "node",
        "--genesis",
        genesis.to_str().unwrap(),
        "--datadir",
        datadir.to_str().unwrap(),
        "--authrpc.jwtsecret",
        jwt_path.to_str().unwrap(),
    ]);

    // The head forkchoice update, authenticated; and the same without a token is refused.
    let fcu = std::fs::read_to_string(fixtures().join("headfcu.json")).unwrap();
    let fcu: Value = serde_json::from_str(&fcu).unwrap();
    let (status, _) = post(proc.engine, &fcu.to_string(), None);
    assert_eq!(status, 401, "engine API without JWT must be refused");
    let (status, body) = post(proc.engine, &fcu.to_string(), Some(&secret.token()));
    assert_eq!(status, 200);
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        reply["result"]["payloadStatus"]["status"], "VALID",
        "headfcu: {reply}"
    );

    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .flat_map(|d| {
            std::fs::read_dir(d.path())
                .unwrap()
                .filter_map(Result::ok)
                .map(|e| e.path())
        })
        .filter(|p| p.extension().is_some_and(|e| e == "io"))
        .collect();
    files.sort();
    let (mut passed, mut failed) = (0, 0);
    for f in &files {
        let name = f.strip_prefix(fixtures()).unwrap().display().to_string();
        match case_passes(&proc, f) {
            Ok(()) => passed += 1,
            Err(why) => {
                failed += 1;
                eprintln!("FAIL {name}: {why}");
            }
        }
    }
    println!("conformance: {passed} passed, {failed} failed");
    let floor: usize = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/conformance-floor.txt"
    ))
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    assert_eq!(files.len(), 95, "the suite has 95 cases");
    assert!(
        passed >= floor,
        "{passed} conformance cases passed, below the recorded floor of {floor}"
    );
}
