//! The sequencer role: the payload [`builder`] (with its flashblock schedule in `flash`), the
//! [`sealer`] that signs each flashblock, the [`broadcaster`] that streams them to rpc nodes, and
//! the [`payload_server`] with the proposer tracker (beacon-kit's sequencer side).
//!
//! Data flow: `preconf_trackProposer` (a whitelisted proposer) → builder job → every interval a
//! slice of the best pool transactions, executed on the parent → sealer (sign) → broadcaster
//! (WebSocket stream, `preconf_newPartialBlock` pushes). The proposer's
//! `POST /eth/v1/preconf/payload` ends the schedule and gets the block assembled from exactly
//! those slices.

mod broadcaster;
mod builder;
mod flash;
mod payload_server;
mod sealer;

pub use broadcaster::DEFAULT_MAX_SUBSCRIBERS;
pub(crate) use broadcaster::{
    BroadcasterActor, BroadcasterArgs, BroadcasterHandle, FlashblockText,
};
pub(crate) use builder::{
    BuildError, BuilderActor, BuilderArgs, BuilderHandle, BuilderMsg, BuiltPayload,
    FlashblockConfig, Preconfirmed,
};
pub(crate) use payload_server::{
    PayloadServer, SequencerDuties, TrackError, Whitelist, serve as serve_payloads,
};
pub(crate) use sealer::{SealerActor, SealerArgs, SealerHandle, SealerMsg};
