//! Where JSON-RPC work that may take long runs: EVM calls (`eth_call`, `eth_estimateGas`,
//! `eth_createAccessList`, the gas estimate of `eth_sendTransaction`) and wide scans of stored
//! blocks (`eth_getLogs`, `eth_feeHistory`).
//!
//! The async runtime has two worker threads on a 2-core machine, and they also run the flashblock
//! schedule, the overlay and every other request; a 50 M-gas call on one of them stalls all of
//! that. So heavy work goes to a small fixed set of OS threads instead, with a bounded queue in
//! front: past it a request gets -32005 at once rather than waiting without bound. On Linux the
//! threads run at a lower priority (nice 10), so when the cores are busy the
//! sequencer's ticks and cheap reads get them first.

use super::{RpcErr, RpcResult};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::oneshot;
use tracing::warn;

type Job = Box<dyn FnOnce() + Send>;

/// Limits of the heavy-work pool.
#[derive(Debug, Clone, Copy)]
pub struct HeavyLimits {
    /// Threads (calls executing at once).
    pub threads: usize,
    /// Calls waiting for a thread; one more is refused with -32005.
    pub queue: usize,
}

impl Default for HeavyLimits {
    fn default() -> Self {
        Self {
            threads: 2,
            queue: 32,
        }
    }
}

/// The heavy-work threads; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct HeavyPool {
    jobs: mpsc::SyncSender<Job>,
}

impl HeavyPool {
    /// Starts the threads.
    pub(crate) fn new(limits: HeavyLimits) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::sync_channel::<Job>(limits.queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..limits.threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("rpc-heavy-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match job {
                            // A panic is reported to the caller (its reply is dropped).
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `f` on a heavy-work thread and waits for its result; -32005 when the queue is full.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> RpcResult<R> + Send + 'static,
    ) -> RpcResult<R> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => {
                metrics::counter!(crate::metrics::RPC_HEAVY_REFUSED).increment(1);
                RpcErr::Limit(
                    "too many concurrent heavy requests (EVM calls, log scans); retry later".into(),
                )
            }
            mpsc::TrySendError::Disconnected(_) => {
                RpcErr::Internal("heavy-work threads stopped".into())
            }
        })?;
        // A panic in `f` drops `tx`: the caller gets an internal error, the thread lives on.
        rx.await
            .map_err(|_| RpcErr::Internal("the request failed while executing".into()))?
    }
}

/// Lowers the calling thread's priority (Linux: per-thread nice 10). Under
/// contention it gets about 1/9 of the CPU a default thread gets, so the sequencer's ticks and
/// cheap reads go first, yet it always progresses (the idle class would starve it whenever
/// anything else on the machine is busy). Elsewhere the thread keeps the default priority.
/// Background work uses it too (the KZG setup at start).
pub(crate) fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take no pointers; they only read the calling thread's id
        // and change its nice value.
        let rc = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 10)
        };
        if rc != 0 {
            warn!(target: "node", error = %std::io::Error::last_os_error(), "a background thread keeps the default priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_work_and_refuses_past_the_queue() {
        let pool = HeavyPool::new(HeavyLimits {
            threads: 1,
            queue: 1,
        })
        .unwrap();
        assert_eq!(pool.run(|| Ok(7)).await.unwrap(), 7);
        // Occupy the thread, fill the queue, and the next call is refused with -32005.
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let busy = pool.clone();
        let first = tokio::spawn(async move {
            busy.run(move || {
                let _ = wait.recv();
                Ok(())
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = pool.clone();
        let second = tokio::spawn(async move { queued.run(|| Ok(())).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = pool.run(|| Ok(())).await.unwrap_err();
        assert_eq!(refused.code(), -32005);
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_internal_error_and_the_thread_survives() {
        let pool = HeavyPool::new(HeavyLimits {
            threads: 1,
            queue: 4,
        })
        .unwrap();
        let err = pool.run::<()>(|| panic!("boom")).await.unwrap_err();
        assert_eq!(err.code(), -32603);
        assert_eq!(pool.run(|| Ok(1)).await.unwrap(), 1);
    }
}
