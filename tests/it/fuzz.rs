//! The fuzz targets' bodies (`fuzz/src/lib.rs`) on the stable toolchain: every seed of their
//! corpus, then pseudo-random mutations of each seed (bytes flipped, cut, spliced). The seeds are
//! real inputs taken from a devnet (`fuzz/seeds.py`), checked here to still be what they claim.
//! The coverage-guided runs are `cargo +nightly fuzz run <target>` (README, Fuzzing).

#[path = "../../fuzz/src/lib.rs"]
#[allow(unreachable_pub)]
mod bodies;

use std::path::Path;

type Body = fn(&[u8]);

const TARGETS: [(&str, Body); 5] = [
    ("transaction", bodies::transaction),
    ("flashblock", bodies::flashblock),
    ("engine_payload", bodies::engine_payload),
    ("payload_request", bodies::payload_request),
    ("rpc_params", bodies::rpc_params),
];

/// Mutations of each seed run per target.
const MUTATIONS: usize = 20_000;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

#[test]
fn fuzz_targets_survive_their_corpus_and_mutations_of_it() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (target, body) in TARGETS {
        let seeds = corpus(target);
        for seed in &seeds {
            body(seed);
        }
        for i in 0..MUTATIONS {
            let mut input = seeds[i % seeds.len()].clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % input.len().max(1);
                match next() % 4 {
                    0 if !input.is_empty() => input[at] ^= 1 << (next() % 8),
                    1 => input.truncate(at),
                    2 => {
                        let other = &seeds[(next() as usize) % seeds.len()];
                        let from = (next() as usize) % other.len().max(1);
                        input.splice(at.min(input.len()).., other[from..].iter().copied());
                    }
                    _ => input.insert(at.min(input.len()), next() as u8),
                }
            }
            body(&input);
        }
    }
}

#[test]
fn the_seeds_are_real_inputs() {
    use alloy_consensus::transaction::SignerRecoverable;
    for raw in corpus("transaction") {
        let (tx, _) =
            preconf_core::txpool::decode_raw(&raw, true).expect("a seed transaction decodes");
        tx.recover_signer().expect("and is signed");
    }
    for text in corpus("flashblock") {
        let fb: preconf_core::flashblock::Flashblock = serde_json::from_slice(&text).unwrap();
        fb.signer(preconf_core::devnet::DEVNET_CHAIN_ID)
            .expect("a seed flashblock is signed");
    }
    for text in corpus("engine_payload") {
        let payload: alloy_rpc_types_engine::ExecutionPayloadV3 =
            serde_json::from_slice(&text).unwrap();
        let hash = payload.payload_inner.payload_inner.block_hash;
        let block = payload
            .try_into_block::<preconf_core::primitives::BlockTransaction>()
            .unwrap();
        let mut block = preconf_core::primitives::SealedBlock::block_from_payload(block, None);
        // The hash also covers the beacon root and the requests hash, which travel beside the
        // payload (the seeds carry them as extra fields).
        let beside: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let field = |k: &str| serde_json::from_value(beside[k].clone()).unwrap();
        block.header.parent_beacon_block_root = Some(field("parentBeaconBlockRoot"));
        block.header.requests_hash = Some(field("requestsHash"));
        assert_eq!(
            block.header.hash_slow(),
            hash,
            "a seed payload is a real block"
        );
        preconf_core::primitives::SealedBlock::recover(block).expect("senders recover");
    }
}

/// The targets themselves compile under cargo-fuzz (nightly, sanitizer flags), where it is
/// installed; elsewhere — a fresh machine, CI — this says so and passes, the bodies above having
/// run on stable.
#[test]
fn fuzz_targets_compile_with_cargo_fuzz_where_installed() {
    let root = env!("CARGO_MANIFEST_DIR");
    let available = std::process::Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .current_dir(root)
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!(
            "cargo-fuzz on the nightly toolchain is not installed: the fuzz targets are not compiled \
             with it (`cargo install cargo-fuzz`); their bodies ran over the corpus above"
        );
        return;
    }
    let out = std::process::Command::new("cargo")
        .args(["+nightly", "fuzz", "check"])
        .current_dir(root)
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("cargo fuzz check runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
