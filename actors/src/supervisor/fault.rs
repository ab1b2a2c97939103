//! Injected faults (`--dev.fault-injection`, `admin_injectFault`): drills that make an actor fail
//! the way a bug would, so users can watch the node restart it, degrade and recover.

use std::time::Duration;

/// A fault delivered to an actor as a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The handler panics: the supervisor sees a failure.
    Panic,
    /// The actor handles no other message for this long.
    Stall(Duration),
}

/// An actor message type that can carry an injected fault.
pub(crate) trait Faultable: ractor::Message {
    /// The message that delivers `fault`.
    fn fault(fault: Fault) -> Self;
}

impl Fault {
    /// What the receiving actor does.
    pub(crate) async fn apply(self) {
        match self {
            Self::Panic => panic!("injected fault: panic"),
            Self::Stall(d) => tokio::time::sleep(d).await,
        }
    }
}

/// Implements [`Faultable`] for a message enum with a `Fault(Fault)` variant.
macro_rules! faultable {
    ($msg:ty) => {
        impl $crate::supervisor::Faultable for $msg {
            fn fault(fault: $crate::supervisor::Fault) -> Self {
                Self::Fault(fault)
            }
        }
    };
}
pub(crate) use faultable;
