//! The router's deadlines: one ordered queue per shard for every timer the protocol needs (HELLO
//! deadlines, call timeouts, the router's own calls; later authentication and keep-alive).
//!
//! Owns: [`Timers`]. Never: reads a clock. The shard runtime asks for the earliest deadline,
//! sleeps until then and calls `Router::on_tick(now)`; the simulator passes time explicitly.
//!
//! Each timer is stored once, under the deadline its owner record also holds, so re-arming or
//! cancelling removes exactly that entry: the queue never holds more entries than live timers
//! (bounded by connections awaiting HELLO plus calls in flight, both limited).

use std::collections::BTreeSet;
use std::time::Instant;

use super::ConnKey;
use crate::wamp::Id;

/// What a deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// A connection must have sent HELLO.
    Hello(ConnKey),
    /// A call of the session on this connection (by CALL request id) times out.
    Call(ConnKey, Id),
    /// A call the router made itself (by its token) times out.
    OwnCall(u64),
}

/// Deadlines in order.
#[derive(Debug, Default)]
pub(super) struct Timers(BTreeSet<(Instant, Timer)>);

impl Timers {
    /// Arms `timer` at `at`.
    pub(super) fn arm(&mut self, at: Instant, timer: Timer) {
        self.0.insert((at, timer));
    }

    /// Disarms `timer`, armed at `at`.
    pub(super) fn disarm(&mut self, at: Instant, timer: Timer) {
        self.0.remove(&(at, timer));
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.0.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest timer due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        if self.next()? > now {
            return None;
        }
        self.0.pop_first().map(|(_, t)| t)
    }

    /// Number of armed timers.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}
