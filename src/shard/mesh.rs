//! Cross-shard channels: one bounded inbox per shard with a doorbell, and the per-shard sending
//! side that never blocks.
//!
//! Owns: [`Inbox`] (a `crossbeam_channel` bounded queue plus an `AtomicWaker`), [`Doorbells`]
//! (every shard's sender, shareable across threads) and [`Mesh`] (one shard's sending side, the
//! router's [`Sink`]). Never: interprets messages.
//!
//! Producers `try_send` and ring the doorbell once per batch; they never block, so two shards
//! flooding each other cannot deadlock. A full inbox spills into a local FIFO per destination
//! (kept in order: once a destination spills, everything after it queues behind), retried on the
//! next flush; while the spill is large, the shard stops reading from its clients, which bounds
//! it.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use atomic_waker::AtomicWaker;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use std::os::fd::OwnedFd;

use crate::realm::Realms;
use crate::router::{ShardMsg, Sink};
use crate::session::ShardId;

/// Spilled messages (over all destinations) above which a shard pauses reading from clients.
/// One inbox's worth: enough to absorb a burst, small enough to keep memory bounded.
pub const SPILL_PAUSE: usize = 4096;

/// What a shard's inbox carries: its router's messages from other shards, and the few that the
/// process's other threads send it.
#[derive(Debug)]
pub enum Inbound {
    /// A message for the router.
    Router(ShardMsg),
    /// A Unix-socket connection accepted by the listener's acceptor thread, for this shard to
    /// serve with the transport settings of listener number `listener`.
    Adopt { fd: OwnedFd, listener: usize },
    /// Stop accepting, say GOODBYE to every session, and stop.
    Shutdown,
    /// Apply the roles and permissions of these realms (a configuration reload), then say so.
    Reload(Arc<Realms>, std::sync::mpsc::Sender<()>),
}

/// The receiving end of one shard's inbox.
#[derive(Debug)]
pub struct Inbox {
    rx: Receiver<Inbound>,
    /// Rung by producers after they queue; wakes this shard's inbox task (through the
    /// executor's eventfd if it is parked).
    bell: Arc<AtomicWaker>,
}

/// Every shard's inbox sender, for the threads and shards that send to them.
#[derive(Clone, Debug)]
pub struct Doorbells {
    senders: Vec<Sender<Inbound>>,
    bells: Vec<Arc<AtomicWaker>>,
}

/// Creates `shards` inboxes of `capacity` messages each.
pub fn inboxes(shards: usize, capacity: usize) -> (Vec<Inbox>, Doorbells) {
    let mut inboxes = Vec::with_capacity(shards);
    let mut senders = Vec::with_capacity(shards);
    let mut bells = Vec::with_capacity(shards);
    for _ in 0..shards {
        let (tx, rx) = bounded(capacity.max(1));
        let bell = Arc::new(AtomicWaker::new());
        inboxes.push(Inbox { rx, bell: bell.clone() });
        senders.push(tx);
        bells.push(bell);
    }
    (inboxes, Doorbells { senders, bells })
}

impl Doorbells {
    /// Number of shards.
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// True if there are no shards.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// Sends a control message (shutdown) from outside the shards, waiting for room if needed.
    /// Only for threads that are not shards: it may block.
    pub fn send_blocking(&self, to: ShardId, msg: Inbound) {
        if let Some(tx) = self.senders.get(to) {
            let _ = tx.send(msg);
        }
        self.ring(to);
    }

    fn ring(&self, to: ShardId) {
        if let Some(bell) = self.bells.get(to) {
            bell.wake();
        }
    }
}

impl Inbox {
    /// Waits for the next message: drain, register the waker, drain again, then sleep.
    pub async fn recv(&self) -> Option<Inbound> {
        poll_fn(|cx| {
            if let Ok(m) = self.rx.try_recv() {
                return Poll::Ready(Some(m));
            }
            self.bell.register(cx.waker());
            match self.rx.try_recv() {
                Ok(m) => Poll::Ready(Some(m)),
                Err(crossbeam_channel::TryRecvError::Disconnected) => Poll::Ready(None),
                Err(crossbeam_channel::TryRecvError::Empty) => Poll::Pending,
            }
        })
        .await
    }

    /// The next message if one is already queued.
    pub fn try_recv(&self) -> Option<Inbound> {
        self.rx.try_recv().ok()
    }
}

/// One shard's sending side.
#[derive(Debug)]
pub struct Mesh {
    doors: Doorbells,
    /// Per destination: messages that found its inbox full, in order; drained before anything
    /// newer is sent there.
    spill: Vec<VecDeque<Inbound>>,
    /// Total spilled messages, checked against [`SPILL_PAUSE`] by the connection readers.
    spilled: usize,
    /// Destinations that got messages since the last flush and must be rung.
    to_ring: Vec<bool>,
    /// True if anything was sent since the last flush: lets a flush after a message that went
    /// nowhere (most client messages) return at once.
    dirty: bool,
}

impl Mesh {
    /// The sending side for one shard.
    pub fn new(doors: Doorbells) -> Mesh {
        let n = doors.len();
        Mesh {
            doors,
            spill: (0..n).map(|_| VecDeque::new()).collect(),
            spilled: 0,
            to_ring: vec![false; n],
            dirty: false,
        }
    }

    /// Messages waiting because an inbox was full.
    pub fn spilled(&self) -> usize {
        self.spilled
    }

    /// Retries spilled messages and rings every destination that got something. Called after
    /// each batch of work, so a destination is rung once per batch, not once per message.
    pub fn flush(&mut self) {
        if !std::mem::take(&mut self.dirty) && self.spilled == 0 {
            return;
        }
        for to in 0..self.spill.len() {
            while let Some(msg) = self.spill[to].pop_front() {
                match self.doors.senders[to].try_send(msg) {
                    Ok(()) => {
                        self.spilled -= 1;
                        self.to_ring[to] = true;
                    }
                    Err(TrySendError::Full(msg)) => {
                        self.spill[to].push_front(msg);
                        self.to_ring[to] = true;
                        break;
                    }
                    Err(TrySendError::Disconnected(_)) => {
                        self.spilled -= 1;
                    }
                }
            }
        }
        for (to, ring) in self.to_ring.iter_mut().enumerate() {
            if std::mem::take(ring) {
                self.doors.ring(to);
            }
        }
    }
}

impl Sink for Mesh {
    fn to_shard(&mut self, to: ShardId, msg: ShardMsg) {
        let msg = Inbound::Router(msg);
        let Some(spill) = self.spill.get_mut(to) else { return };
        self.to_ring[to] = true;
        self.dirty = true;
        if !spill.is_empty() {
            spill.push_back(msg);
            self.spilled += 1;
            return;
        }
        match self.doors.senders[to].try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(msg)) => {
                spill.push_back(msg);
                self.spilled += 1;
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::router::Token;
    use crate::wamp::Id;

    fn applied(n: u64) -> ShardMsg {
        ShardMsg::Applied { token: Token(n), id: Id::new(n).unwrap() }
    }

    fn token(m: Inbound) -> u64 {
        match m {
            Inbound::Router(ShardMsg::Applied { token, .. }) => token.0,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_full_inbox_spills_and_keeps_order() {
        let (inboxes, doors) = inboxes(2, 2);
        let mut mesh = Mesh::new(doors);
        for n in 1..=5 {
            mesh.to_shard(1, applied(n));
        }
        assert_eq!(mesh.spilled(), 3);
        let mut got = Vec::new();
        while got.len() < 5 {
            while let Some(m) = inboxes[1].try_recv() {
                got.push(token(m));
            }
            mesh.flush();
        }
        assert_eq!(got, vec![1, 2, 3, 4, 5]);
        assert_eq!(mesh.spilled(), 0);
    }

    #[test]
    fn two_shards_flooding_each_other_never_block() {
        let (inboxes, doors) = inboxes(2, 4);
        let mut a = Mesh::new(doors.clone());
        let mut b = Mesh::new(doors);
        for n in 0..1000 {
            a.to_shard(1, applied(n + 1));
            b.to_shard(0, applied(n + 1));
        }
        let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
        for _ in 0..10_000 {
            if got_a.len() == 1000 && got_b.len() == 1000 {
                break;
            }
            while let Some(m) = inboxes[0].try_recv() {
                got_a.push(token(m));
            }
            while let Some(m) = inboxes[1].try_recv() {
                got_b.push(token(m));
            }
            a.flush();
            b.flush();
        }
        let all: Vec<u64> = (1..=1000).collect();
        assert_eq!(got_a, all, "every message arrives, in order");
        assert_eq!(got_b, all, "every message arrives, in order");
        assert_eq!((a.spilled(), b.spilled()), (0, 0));
    }
}
