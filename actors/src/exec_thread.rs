//! A [`BlockBuilder`] kept across messages on its own OS thread. revm's EVM holds `Rc`s and
//! cannot move between threads, so a block built in slices (the sequencer's flashblocks, the
//! overlay's re-execution) lives on one dedicated thread, and async code sends it closures.
//! Execution never runs on the async runtime's threads.

use preconf_core::execution::BlockBuilder;
use std::sync::mpsc;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut Option<BlockBuilder>) + Send>;

/// The thread and its builder slot. Dropping the handle ends the thread.
#[derive(Debug)]
pub(crate) struct ExecThread {
    jobs: mpsc::Sender<Job>,
}

impl ExecThread {
    /// Starts the thread.
    pub(crate) fn spawn(name: &str) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut slot = None;
                while let Ok(job) = rx.recv() {
                    job(&mut slot);
                }
            })?;
        Ok(Self { jobs })
    }

    /// Runs `f` on the thread with the builder slot and returns its result.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Option<BlockBuilder>) -> R + Send + 'static,
    ) -> Result<R, ExecThreadError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |slot| {
                let _ = tx.send(f(slot));
            }))
            .map_err(|_| ExecThreadError::Stopped)?;
        rx.await.map_err(|_| ExecThreadError::Panicked)
    }
}

/// The execution thread could not run a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExecThreadError {
    /// The thread is gone (an earlier job panicked).
    #[error("execution thread stopped")]
    Stopped,
    /// The job panicked (the thread is gone with it).
    #[error("execution thread failed (panic)")]
    Panicked,
}
