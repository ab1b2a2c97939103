//! The sealer actor: signs each flashblock the builder hands it with the sequencer's secp256k1
//! key (the digest is in [`preconf_core::flashblock`]), stamps the seal time into the metadata,
//! appends its transactions to the journal of preconfirmed transactions and syncs it to disk
//! ([`crate::journal`]), and only then passes it to the broadcaster: a preconfirmation that could
//! not be made durable is not sent.

use crate::journal::KEEP_BLOCKS;
use crate::{
    metrics as m,
    sequencer::BroadcasterHandle,
    supervisor::{ActorError, ChildRef},
};
use alloy_signer_local::PrivateKeySigner;
use preconf_core::{
    flashblock::{Flashblock, FlashblockMetadata},
    journal::Journal,
};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::time::Instant;
use tracing::warn;

/// Messages of the sealer.
#[derive(Debug)]
pub(crate) enum SealerMsg {
    /// An injected fault (drills).
    Fault(crate::supervisor::Fault),
    /// Sign and publish.
    Seal(Box<Flashblock>),
}

crate::supervisor::faultable!(SealerMsg);

/// Arguments of the sealer.
#[derive(Debug, Clone)]
pub(crate) struct SealerArgs {
    /// Chain id (part of the signing domain).
    pub chain_id: u64,
    /// The sequencer's key.
    pub key: PrivateKeySigner,
    /// Where signed flashblocks go.
    pub broadcaster: BroadcasterHandle,
    /// The journal of preconfirmed transactions.
    pub journal: std::path::PathBuf,
}

/// State of the sealer.
#[derive(Debug)]
pub(crate) struct SealerState {
    args: SealerArgs,
    /// Taken while a write is in progress on a blocking thread.
    journal: Option<Journal>,
}

/// The sealer actor.
#[derive(Debug, Clone)]
pub(crate) struct SealerActor;

impl Actor for SealerActor {
    type Msg = SealerMsg;
    type State = SealerState;
    type Arguments = SealerArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<SealerMsg>,
        args: SealerArgs,
    ) -> Result<SealerState, ActorProcessingErr> {
        let path = args.journal.clone();
        let (journal, _) = tokio::task::spawn_blocking(move || Journal::open(&path))
            .await?
            .map_err(|e| format!("journal {}: {e}", args.journal.display()))?;
        Ok(SealerState {
            args,
            journal: Some(journal),
        })
    }

    async fn handle(
        &self,
        _me: ActorRef<SealerMsg>,
        msg: SealerMsg,
        st: &mut SealerState,
    ) -> Result<(), ActorProcessingErr> {
        let mut fb = match msg {
            SealerMsg::Seal(fb) => fb,
            SealerMsg::Fault(f) => {
                f.apply().await;
                return Ok(());
            }
        };
        let started = Instant::now();
        fb.metadata.sealed_at_us = Some(FlashblockMetadata::now_us());
        if let Err(e) = fb.sign(st.args.chain_id, &st.args.key) {
            metrics::counter!(m::SEALER_FAILURES).increment(1);
            warn!(target: "sealer", error = %e, "signing failed: flashblock dropped");
            return Ok(());
        }
        metrics::histogram!(m::SEALER_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::counter!(m::SEALER_SIGNED).increment(1);
        if let Err(e) = st.journal(&fb).await {
            metrics::counter!(m::JOURNAL_WRITE_FAILURES, "journal" => "preconfirmed").increment(1);
            warn!(target: "sealer", error = %e, "cannot journal the preconfirmed transactions: flashblock not sent");
            return Ok(());
        }
        if let Err(e) = st.args.broadcaster.publish(*fb) {
            warn!(target: "sealer", error = %e, "broadcaster unavailable: flashblock not sent");
        }
        Ok(())
    }
}

impl SealerState {
    /// Appends the flashblock's transactions to the journal (forgetting blocks older than
    /// [`KEEP_BLOCKS`]) on a blocking thread, and returns once they are on disk.
    async fn journal(&mut self, fb: &Flashblock) -> std::io::Result<()> {
        let block = fb.metadata.block_number;
        let txs = fb.diff.transactions.clone();
        let Some(mut journal) = self.journal.take() else {
            return Err(std::io::Error::other(
                "the journal was lost in a failed write",
            ));
        };
        let started = Instant::now();
        let (journal, result) = tokio::task::spawn_blocking(move || {
            let result = journal
                .keep_from(block.saturating_sub(KEEP_BLOCKS - 1))
                .and_then(|()| journal.append(block, &txs));
            (journal, result)
        })
        .await
        .map_err(std::io::Error::other)?;
        self.journal = Some(journal);
        metrics::histogram!(m::JOURNAL_APPEND_SECONDS).record(started.elapsed().as_secs_f64());
        result
    }
}

/// Typed access to the sealer.
#[derive(Debug, Clone)]
pub(crate) struct SealerHandle {
    actor: ChildRef<SealerMsg>,
}

impl SealerHandle {
    /// A handle over the supervised actor's reference.
    pub(crate) fn new(actor: ChildRef<SealerMsg>) -> Self {
        Self { actor }
    }

    /// Signs and publishes a flashblock.
    pub(crate) fn seal(&self, fb: Flashblock) -> Result<(), ActorError> {
        self.actor.cast(SealerMsg::Seal(Box::new(fb)))
    }
}
