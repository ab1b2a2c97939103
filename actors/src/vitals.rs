//! The node's vital signs beyond its actors: is the chain still committing blocks, did the last
//! commit fail, is the datadir's disk running out. The chain actor reports commits and failures,
//! a sampler reads the disk's free space every second, the mempool refuses new transactions
//! while the disk is low (so the space left goes to committing what was already accepted), and
//! `/healthz` turns every problem into a 503 with its reason ([`Vitals::problems`]).

use crate::{metrics as m, supervisor::HealthMap};
use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// How often the disk's free space is read.
const DISK_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// What the node needs to stay healthy (from its configuration).
#[derive(Debug, Clone)]
pub struct VitalsConfig {
    /// Below this many free bytes on the datadir's file system, new transactions are refused
    /// and `/healthz` reports the disk as low.
    pub min_free_bytes: u64,
    /// The chain counts as stalled when no block was committed for this long (`None`: the node
    /// does not know its slot clock and never reports a stall).
    pub stall_after: Option<Duration>,
}

impl Default for VitalsConfig {
    fn default() -> Self {
        Self {
            min_free_bytes: 128 * 1024 * 1024,
            stall_after: None,
        }
    }
}

/// Shared vital signs of one node.
#[derive(Debug, Clone)]
pub(crate) struct Vitals(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// The supervised actors' health.
    actors: HealthMap,
    datadir: PathBuf,
    config: VitalsConfig,
    /// Free bytes at the last sample (`u64::MAX` before the first, or when it cannot be read).
    free: AtomicU64,
    /// The last successful commit (or the start).
    last_commit: Mutex<Instant>,
    /// Why the last commit failed, until one succeeds.
    commit_error: Mutex<Option<String>>,
}

impl Vitals {
    /// Vital signs of a node whose database lives in `datadir` and whose actors report to
    /// `actors`.
    pub(crate) fn new(datadir: &Path, config: VitalsConfig, actors: HealthMap) -> Self {
        metrics::counter!(m::CHAIN_COMMIT_FAILURES).increment(0);
        metrics::counter!(m::CHAIN_DB_REOPENS).increment(0);
        let v = Self(Arc::new(Inner {
            actors,
            datadir: datadir.to_path_buf(),
            config,
            free: AtomicU64::new(u64::MAX),
            last_commit: Mutex::new(Instant::now()),
            commit_error: Mutex::new(None),
        }));
        v.sample_disk();
        v.problems();
        v
    }

    /// Reads the free space of the datadir's file system now (and publishes it).
    pub(crate) fn sample_disk(&self) -> u64 {
        let free = free_bytes(&self.0.datadir).unwrap_or(u64::MAX);
        self.0.free.store(free, Ordering::Relaxed);
        if free != u64::MAX {
            metrics::gauge!(m::DISK_FREE_BYTES).set(free as f64);
        }
        metrics::gauge!(m::DISK_MIN_FREE_BYTES).set(self.0.config.min_free_bytes as f64);
        free
    }

    /// Samples the disk (and refreshes `preconf_node_healthy`) every second until the returned
    /// guard is dropped.
    pub(crate) fn start_sampler(&self) -> crate::supervisor::TaskGuard {
        let v = self.clone();
        crate::supervisor::TaskGuard::spawn(async move {
            let mut tick = tokio::time::interval(DISK_SAMPLE_INTERVAL);
            loop {
                tick.tick().await;
                let sampled = v.clone();
                let _ = tokio::task::spawn_blocking(move || sampled.sample_disk()).await;
                v.problems();
            }
        })
    }

    /// `Some(free bytes)` while the disk is below the configured minimum.
    pub(crate) fn disk_low(&self) -> Option<u64> {
        let free = self.0.free.load(Ordering::Relaxed);
        (free < self.0.config.min_free_bytes).then_some(free)
    }

    /// The configured minimum of free bytes.
    pub(crate) fn min_free_bytes(&self) -> u64 {
        self.0.config.min_free_bytes
    }

    /// A block was committed.
    pub(crate) fn committed(&self) {
        *self.0.last_commit.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0
            .commit_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// A commit failed (the block is kept and tried again).
    pub(crate) fn commit_failed(&self, error: String) {
        metrics::counter!(m::CHAIN_COMMIT_FAILURES).increment(1);
        *self
            .0
            .commit_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    /// Everything wrong right now, each with its reason (empty: healthy): an actor down or
    /// degraded, a failing commit, a low disk, a stall.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = actor_problems(&self.0.actors);
        if let Some(e) = self
            .0
            .commit_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            out.push(format!("blocks cannot be committed: {e}"));
        }
        if let Some(free) = self.disk_low() {
            out.push(format!(
                "disk low: {} MiB free on {}, at least {} MiB needed; new transactions are refused",
                free / (1024 * 1024),
                self.0.datadir.display(),
                self.0.config.min_free_bytes / (1024 * 1024)
            ));
        }
        if let Some(limit) = self.0.config.stall_after {
            let since = self
                .0
                .last_commit
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .elapsed();
            if since > limit {
                out.push(format!(
                    "chain stalled: no block committed for {:.1} s (limit {:.1} s)",
                    since.as_secs_f64(),
                    limit.as_secs_f64()
                ));
            }
        }
        metrics::gauge!(m::NODE_HEALTHY).set(if out.is_empty() { 1.0 } else { 0.0 });
        out
    }
}

/// The actors that are down or out of their restart budget.
pub(crate) fn actor_problems(actors: &HealthMap) -> Vec<String> {
    actors
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(_, c)| !c.running || c.degraded)
        .map(|(name, c)| {
            let state = if c.degraded {
                "degraded"
            } else {
                "not running"
            };
            format!("actor {name} {state}")
        })
        .collect()
}

/// Free bytes available to this (unprivileged) process on the file system holding `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path and `s` points to writable memory of the right size;
    // statvfs only writes into it.
    let rc = unsafe { libc::statvfs(c.as_ptr(), s.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let s = unsafe { s.assume_init() };
    // The field types differ between platforms (u32 on some 32-bit ones).
    #[allow(clippy::unnecessary_cast)]
    Some((s.f_bavail as u64).saturating_mul(s.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_problem_with_its_reason_and_clears_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vitals::new(
            dir.path(),
            VitalsConfig {
                min_free_bytes: 0,
                stall_after: Some(Duration::from_millis(50)),
            },
            HealthMap::default(),
        );
        assert!(v.sample_disk() > 0 && v.sample_disk() != u64::MAX);
        assert_eq!(v.problems(), Vec::<String>::new());
        v.commit_failed("database: No space left on device".into());
        let p = v.problems();
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("No space left"), "{p:?}");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(v.problems().len(), 2, "{:?}", v.problems());
        assert!(v.problems()[1].starts_with("chain stalled"));
        v.committed();
        assert_eq!(v.problems(), Vec::<String>::new());

        let low = Vitals::new(
            dir.path(),
            VitalsConfig {
                min_free_bytes: u64::MAX - 1,
                stall_after: None,
            },
            HealthMap::default(),
        );
        assert!(low.disk_low().is_some());
        assert!(
            low.problems()[0].starts_with("disk low"),
            "{:?}",
            low.problems()
        );
    }
}
