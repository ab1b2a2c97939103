//! Connection admission for servers that must stay reachable while clients misbehave (the
//! payload server): a connection is always accepted, and when the server is at its total or
//! per-address limit, the oldest connection that is idle (no request being served: an idle
//! keep-alive, a client that never finishes its headers) is closed to make room. Only when every
//! connection is busy serving a request is the new one refused. So idle or slow clients can
//! occupy the server only until a real client arrives, instead of locking it out.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};
use tokio::sync::Notify;

/// Why a connection was turned away or closed, as metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Accepted without closing another.
    Admitted,
    /// Accepted by closing the oldest idle connection.
    EvictedIdle,
    /// Refused: every connection at the limit is busy.
    Refused,
}

#[derive(Debug)]
struct Entry {
    ip: IpAddr,
    busy: Arc<AtomicBool>,
    close: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Table {
    next: u64,
    /// By admission order: the first idle entry is the oldest idle connection.
    open: BTreeMap<u64, Entry>,
}

/// The connections of one server and its limits.
#[derive(Debug)]
pub(crate) struct Admission {
    max_total: usize,
    max_per_ip: usize,
    table: Mutex<Table>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Ticket {
    id: u64,
    admission: Arc<Admission>,
    busy: Arc<AtomicBool>,
    close: Arc<Notify>,
}

/// Marks a connection busy while it lives (a request is being served).
#[derive(Debug)]
pub(crate) struct Busy(Arc<AtomicBool>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Admission {
    /// Limits: connections in all, and from one address.
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            table: Mutex::new(Table::default()),
        })
    }

    /// Admits a connection from `ip`, closing the oldest idle connection (of the same address
    /// when that address is at its limit) if the server is full.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> (Outcome, Option<Ticket>) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let mut outcome = Outcome::Admitted;
        loop {
            let from_ip = t.open.values().filter(|e| e.ip == ip).count();
            let full_ip = from_ip >= self.max_per_ip;
            let full = t.open.len() >= self.max_total;
            if !full_ip && !full {
                break;
            }
            let victim = t
                .open
                .iter()
                .find(|(_, e)| !e.busy.load(Ordering::Acquire) && (!full_ip || e.ip == ip))
                .map(|(id, _)| *id);
            match victim {
                Some(id) => {
                    if let Some(e) = t.open.remove(&id) {
                        e.close.notify_one();
                    }
                    outcome = Outcome::EvictedIdle;
                }
                None => return (Outcome::Refused, None),
            }
        }
        let id = t.next;
        t.next += 1;
        let busy = Arc::new(AtomicBool::new(false));
        let close = Arc::new(Notify::new());
        t.open.insert(
            id,
            Entry {
                ip,
                busy: busy.clone(),
                close: close.clone(),
            },
        );
        let ticket = Ticket {
            id,
            admission: self.clone(),
            busy,
            close,
        };
        (outcome, Some(ticket))
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open
            .len()
    }
}

impl Ticket {
    /// A handle to mark the connection busy from inside its request handler ([`busy`]).
    pub(crate) fn marker(&self) -> Arc<AtomicBool> {
        self.busy.clone()
    }

    /// Resolves when the connection was chosen to be closed for a newer one.
    pub(crate) async fn closed(&self) {
        self.close.notified().await
    }
}

/// Marks the connection behind `marker` busy until the guard is dropped: while it serves a
/// request it is not closed for room.
pub(crate) fn busy(marker: &Arc<AtomicBool>) -> Busy {
    marker.store(true, Ordering::Release);
    Busy(marker.clone())
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission
            .table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn idle_connections_make_room_and_busy_ones_do_not() {
        let adm = Admission::new(3, 2);
        let (o, a1) = adm.admit(A);
        assert_eq!(o, Outcome::Admitted);
        let a1 = a1.unwrap();
        let _serving = busy(&a1.marker());
        let a2 = adm.admit(A).1.unwrap();
        // A is at its limit: its oldest idle connection (a2; a1 is busy) makes room.
        let (o, a3) = adm.admit(A);
        assert_eq!(o, Outcome::EvictedIdle);
        assert!(
            futures::FutureExt::now_or_never(a2.closed()).is_some(),
            "a2 was told to close"
        );
        drop(a2);
        let b1 = adm.admit(B).1.unwrap();
        assert_eq!(adm.open(), 3);
        // Full in all: the oldest idle one anywhere (a3) goes.
        let (o, b2) = adm.admit(B);
        assert_eq!(o, Outcome::EvictedIdle);
        let a3 = a3.unwrap();
        assert!(futures::FutureExt::now_or_never(a3.closed()).is_some());
        drop(a3);
        // Everything busy: refused.
        let _b1 = busy(&b1.marker());
        let b2 = b2.unwrap();
        let _b2 = busy(&b2.marker());
        let (o, none) = adm.admit(B);
        assert_eq!((o, none.is_none()), (Outcome::Refused, true));
        drop(_b2);
        assert_eq!(adm.admit(A).0, Outcome::EvictedIdle);
    }
}
