//! The sealer actor: signs each flashblock the builder hands it with the sequencer's secp256k1
//! key (the digest is in [`preconf_core::flashblock`]), stamps the seal time into the metadata and
//! passes it to the broadcaster.

use crate::{
    metrics as m,
    sequencer::BroadcasterHandle,
    supervisor::{ActorError, ChildRef},
};
use alloy_signer_local::PrivateKeySigner;
use preconf_core::flashblock::{Flashblock, FlashblockMetadata};
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
}

/// The sealer actor.
#[derive(Debug, Clone)]
pub(crate) struct SealerActor;

impl Actor for SealerActor {
    type Msg = SealerMsg;
    type State = SealerArgs;
    type Arguments = SealerArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<SealerMsg>,
        args: SealerArgs,
    ) -> Result<SealerArgs, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _me: ActorRef<SealerMsg>,
        msg: SealerMsg,
        st: &mut SealerArgs,
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
        if let Err(e) = fb.sign(st.chain_id, &st.key) {
            metrics::counter!(m::SEALER_FAILURES).increment(1);
            warn!(target: "sealer", error = %e, "signing failed: flashblock dropped");
            return Ok(());
        }
        metrics::histogram!(m::SEALER_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::counter!(m::SEALER_SIGNED).increment(1);
        if let Err(e) = st.broadcaster.publish(*fb) {
            warn!(target: "sealer", error = %e, "broadcaster unavailable: flashblock not sent");
        }
        Ok(())
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
