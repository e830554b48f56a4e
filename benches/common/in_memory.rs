//! A one-shard router driven in memory, for the benchmarks of the routing core (`fanout`, `rpc`):
//! where its cross-shard messages go, and how an outbox is emptied.
//!
//! Owns: [`Queue`] and [`take`]. Never: anything measured.

use std::collections::VecDeque;
use std::task::{Context, Waker};

use wampyard::router::{ShardMsg, Sink};
use wampyard::session::{Outbox, Outgoing, ShardId};

/// Cross-shard messages queued by the router; with one shard they all go back to it.
#[derive(Default)]
pub(crate) struct Queue(pub(crate) VecDeque<ShardMsg>);

impl Sink for Queue {
    fn to_shard(&mut self, _to: ShardId, msg: ShardMsg) {
        self.0.push_back(msg);
    }
}

/// Empties an outbox as a connection's writer would; returns how many items it held.
pub(crate) fn take(outbox: &Outbox) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut items: Vec<Outgoing> = Vec::new();
    let _ = outbox.poll_take(&mut cx, &mut items);
    items.len()
}
