//! The sequencer role: the payload [`builder`] (with its flashblock schedule in `flash`), the
//! [`sealer`] that signs each flashblock, and the [`broadcaster`] that streams them to rpc nodes.
//!
//! Data flow: `engine_forkchoiceUpdated` with attributes → builder job → every interval a slice of
//! the best pool transactions, executed on the parent → sealer (sign) → broadcaster (WebSocket
//! stream, `preconf_newPartialBlock` pushes). `engine_getPayload` ends the schedule and returns the
//! block assembled from exactly those slices.

mod broadcaster;
mod builder;
mod flash;
mod payload_server;
mod sealer;

pub(crate) use broadcaster::{
    BroadcasterActor, BroadcasterArgs, BroadcasterHandle, FlashblockText,
};
pub(crate) use builder::{
    BuildError, BuilderActor, BuilderArgs, BuilderHandle, BuilderMsg, BuiltPayload,
    FlashblockConfig,
};
pub(crate) use payload_server::{
    PayloadServer, SequencerDuties, Whitelist, serve as serve_payloads,
};
pub(crate) use sealer::{SealerActor, SealerArgs, SealerHandle, SealerMsg};
