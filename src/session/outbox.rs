//! The outgoing queue of one connection, shared by the router (which fills it) and the
//! connection's writer task (which drains it once per executor tick into one batched write).
//!
//! Owns: queued encoded messages, the byte budget and the slow-consumer policy. Never: touches a
//! socket; the shard's writer task does. Single-threaded by design (`Rc`): a connection and
//! everything that writes to it live on one shard.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

/// How a queued message may be treated when the peer does not read fast enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageClass {
    /// An EVENT: dropped (and counted) when the outbox is over budget.
    Event,
    /// Anything else (results, errors, acknowledgments, invocations): never dropped; past twice
    /// the budget the connection is closed as a slow consumer instead.
    Control,
}

/// One item for the writer.
#[derive(Clone, Debug, PartialEq)]
pub enum Outgoing {
    /// An encoded WAMP message.
    Message(Bytes),
    /// A RawSocket PONG answering the peer's PING, with the PING's payload.
    Pong(Bytes),
}

/// What [`Outbox::push`] did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued for the writer.
    Queued,
    /// Dropped: the outbox is over budget and the message was an event.
    Dropped,
    /// Not queued: the outbox is closed, or the peer was too slow and it is now closing.
    Closed,
}

#[derive(Debug)]
struct Inner {
    /// Items in send order; the writer drains all of them at once.
    queue: VecDeque<Outgoing>,
    /// Sum of the queued items' lengths, checked against `budget`.
    queued_bytes: usize,
    /// Queued bytes above which events are dropped; twice this closes the connection.
    budget: usize,
    /// The writer task, parked while the queue is empty.
    waker: Option<Waker>,
    /// Set when the connection must close once the queue is flushed.
    closing: bool,
    /// Set when the connection is being closed because the peer reads too slowly.
    overflowed: bool,
    /// Events dropped because of the budget, for metrics and logs.
    dropped_events: u64,
}

/// A cheap handle to one connection's outbox.
#[derive(Clone, Debug)]
pub struct Outbox(Rc<RefCell<Inner>>);

impl Outbox {
    /// An empty outbox that starts dropping events past `budget` queued bytes.
    pub fn new(budget: usize) -> Outbox {
        Outbox(Rc::new(RefCell::new(Inner {
            queue: VecDeque::new(),
            queued_bytes: 0,
            budget,
            waker: None,
            closing: false,
            overflowed: false,
            dropped_events: 0,
        })))
    }

    /// Queues an encoded message, applying the slow-consumer policy.
    pub fn push(&self, bytes: Bytes, class: MessageClass) -> Pushed {
        let mut inner = self.0.borrow_mut();
        if inner.closing {
            return Pushed::Closed;
        }
        let after = inner.queued_bytes + bytes.len();
        if after > inner.budget && !inner.queue.is_empty() {
            match class {
                MessageClass::Event => {
                    inner.dropped_events += 1;
                    return Pushed::Dropped;
                }
                MessageClass::Control if after > inner.budget.saturating_mul(2) => {
                    inner.overflowed = true;
                    inner.closing = true;
                    wake(&mut inner);
                    return Pushed::Closed;
                }
                MessageClass::Control => {}
            }
        }
        inner.queued_bytes = after;
        inner.queue.push_back(Outgoing::Message(bytes));
        wake(&mut inner);
        Pushed::Queued
    }

    /// Queues a PONG (RawSocket), regardless of the budget: PINGs are rare and small.
    pub fn push_pong(&self, payload: Bytes) {
        let mut inner = self.0.borrow_mut();
        if !inner.closing {
            inner.queued_bytes += payload.len();
            inner.queue.push_back(Outgoing::Pong(payload));
            wake(&mut inner);
        }
    }

    /// Asks the writer to flush what is queued and then close the connection.
    pub fn close(&self) {
        let mut inner = self.0.borrow_mut();
        inner.closing = true;
        wake(&mut inner);
    }

    /// True once [`Outbox::close`] was called or the peer overflowed the budget.
    pub fn is_closing(&self) -> bool {
        self.0.borrow().closing
    }

    /// True if the connection is closing because the peer read too slowly.
    pub fn overflowed(&self) -> bool {
        self.0.borrow().overflowed
    }

    /// True if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().queue.is_empty()
    }

    /// Events dropped so far because the peer read too slowly.
    pub fn dropped_events(&self) -> u64 {
        self.0.borrow().dropped_events
    }

    /// For the writer: moves every queued item into `into` (in order), or registers the waker
    /// and returns `Pending` if there is nothing to write. `Ready(false)` means "closing and
    /// drained": the writer should close the connection.
    pub fn poll_take(&self, cx: &mut Context<'_>, into: &mut Vec<Outgoing>) -> Poll<bool> {
        let mut inner = self.0.borrow_mut();
        if !inner.queue.is_empty() {
            into.extend(inner.queue.drain(..));
            inner.queued_bytes = 0;
            return Poll::Ready(true);
        }
        if inner.closing {
            return Poll::Ready(false);
        }
        inner.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

fn wake(inner: &mut Inner) {
    if let Some(w) = inner.waker.take() {
        w.wake();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn take(outbox: &Outbox) -> Poll<(bool, Vec<Outgoing>)> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut v = Vec::new();
        outbox.poll_take(&mut cx, &mut v).map(|open| (open, v))
    }

    #[test]
    fn writer_takes_everything_queued_in_order() {
        let o = Outbox::new(1024);
        o.push(Bytes::from_static(b"a"), MessageClass::Control);
        o.push(Bytes::from_static(b"b"), MessageClass::Event);
        o.push_pong(Bytes::from_static(b"p"));
        let Poll::Ready((true, items)) = take(&o) else { panic!("expected items") };
        assert_eq!(
            items,
            vec![
                Outgoing::Message(Bytes::from_static(b"a")),
                Outgoing::Message(Bytes::from_static(b"b")),
                Outgoing::Pong(Bytes::from_static(b"p")),
            ]
        );
        assert!(take(&o).is_pending());
    }

    #[test]
    fn events_past_the_budget_are_dropped_and_counted() {
        let o = Outbox::new(10);
        assert_eq!(o.push(Bytes::from(vec![0; 8]), MessageClass::Event), Pushed::Queued);
        assert_eq!(o.push(Bytes::from(vec![0; 8]), MessageClass::Event), Pushed::Dropped);
        assert_eq!(o.dropped_events(), 1);
        assert_eq!(o.push(Bytes::from(vec![0; 8]), MessageClass::Control), Pushed::Queued);
    }

    #[test]
    fn a_first_message_larger_than_the_budget_is_still_queued() {
        let o = Outbox::new(10);
        assert_eq!(o.push(Bytes::from(vec![0; 100]), MessageClass::Event), Pushed::Queued);
    }

    #[test]
    fn control_messages_past_twice_the_budget_close_the_connection() {
        let o = Outbox::new(10);
        o.push(Bytes::from(vec![0; 8]), MessageClass::Control);
        o.push(Bytes::from(vec![0; 8]), MessageClass::Control);
        assert_eq!(o.push(Bytes::from(vec![0; 8]), MessageClass::Control), Pushed::Closed);
        assert!(o.overflowed());
        assert!(o.is_closing());
    }

    #[test]
    fn close_lets_the_writer_drain_then_reports_closed() {
        let o = Outbox::new(1024);
        o.push(Bytes::from_static(b"bye"), MessageClass::Control);
        o.close();
        assert_eq!(o.push(Bytes::from_static(b"late"), MessageClass::Control), Pushed::Closed);
        assert!(matches!(take(&o), Poll::Ready((true, _))));
        assert!(matches!(take(&o), Poll::Ready((false, _))));
    }
}
