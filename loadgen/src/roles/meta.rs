//! The meta watcher: one session subscribed to `wamp.session.on_join` and
//! `wamp.session.on_leave` that counts the events of each (`connect --meta-subscriber`).
//!
//! Owns: the two subscriptions and the counts. Never: decodes an event beyond its subscription
//! id (two per session cycle, at tens of thousands of sessions per second).

use wampyard::wamp::message::code;

use super::{Ctx, Next};
use crate::conn::Out;
use crate::wire::encode;
use crate::wire::scan;

/// The meta event published when a session joins the realm.
pub(crate) const ON_JOIN: &str = "wamp.session.on_join";

/// The meta event published when a session leaves the realm.
pub(crate) const ON_LEAVE: &str = "wamp.session.on_leave";

/// The request id of the SUBSCRIBE to [`ON_JOIN`].
const JOIN_REQUEST: u64 = 1;

/// The request id of the SUBSCRIBE to [`ON_LEAVE`].
const LEAVE_REQUEST: u64 = 2;

/// A session watching the realm's sessions come and go.
#[derive(Debug, Default)]
pub(crate) struct Watcher {
    /// The subscription to [`ON_JOIN`], once SUBSCRIBED.
    join: Option<u64>,
    /// The subscription to [`ON_LEAVE`], once SUBSCRIBED.
    leave: Option<u64>,
}

impl Watcher {
    /// Subscribes to both meta events.
    pub(super) fn on_welcome(&self, ctx: &Ctx<'_>, out: &mut Out<'_>) -> Next {
        let sent = out
            .control(ctx.ser, &encode::subscribe(JOIN_REQUEST, ON_JOIN))
            .and_then(|()| out.control(ctx.ser, &encode::subscribe(LEAVE_REQUEST, ON_LEAVE)));
        match sent {
            Ok(()) => Next::Continue,
            Err(e) => Next::Fail(format!("{e:#}")),
        }
    }

    /// A SUBSCRIBED: ready once both subscriptions are in place.
    pub(super) fn on_subscribed(&mut self, ctx: &Ctx<'_>, msg: &[u8]) -> Next {
        let Some((code::SUBSCRIBED, Some(request), Some(subscription))) = scan::head(ctx.ser, msg) else {
            return Next::Fail("router sent a malformed SUBSCRIBED".to_owned());
        };
        match request {
            JOIN_REQUEST => self.join = Some(subscription),
            LEAVE_REQUEST => self.leave = Some(subscription),
            _ => return Next::Continue,
        }
        match (self.join, self.leave) {
            (Some(j), Some(l)) if j == l => {
                Next::Fail(format!("router gave {ON_JOIN} and {ON_LEAVE} one subscription ({j})"))
            }
            (Some(_), Some(_)) => Next::Ready,
            _ => Next::Continue,
        }
    }

    /// An EVENT: counted by the subscription it arrives for.
    pub(super) fn on_event(&self, ctx: &mut Ctx<'_>, msg: &[u8]) {
        let subscription = match scan::head(ctx.ser, msg) {
            Some((code::EVENT, Some(s), _)) => Some(s),
            _ => None,
        };
        let counts = &mut ctx.stats.counts;
        match subscription {
            Some(s) if Some(s) == self.join => counts.meta_joins += 1,
            Some(s) if Some(s) == self.leave => counts.meta_leaves += 1,
            _ => counts.foreign += 1,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::engine::Shared;
    use crate::stats::Stats;
    use wampyard::codec::{self, Payload, Serializer};
    use wampyard::wamp::message as m;
    use wampyard::wamp::{Dict, Id, Message, Value};

    fn encoded(ser: Serializer, msg: &Message) -> Vec<u8> {
        codec::encode(ser, msg).unwrap().to_vec()
    }

    fn subscribed(ser: Serializer, request: u64, subscription: u64) -> Vec<u8> {
        let msg = Message::Subscribed(m::Subscribed {
            request: Id::new(request).unwrap(),
            subscription: Id::new(subscription).unwrap(),
        });
        encoded(ser, &msg)
    }

    fn event(ser: Serializer, subscription: u64, args: Vec<Value>) -> Vec<u8> {
        let msg = Message::Event(m::Event {
            subscription: Id::new(subscription).unwrap(),
            publication: Id::new(9).unwrap(),
            details: Dict::new().with("topic", ON_JOIN),
            payload: Payload::args(args),
        });
        encoded(ser, &msg)
    }

    #[test]
    fn watcher_is_ready_after_both_subscriptions_and_counts_each_kind() {
        for ser in Serializer::ALL {
            let shared = Shared::new(Vec::new(), Vec::new(), 0);
            let mut stats = Stats::new(0).unwrap();
            let mut ctx = Ctx { ser, now: 1, stats: &mut stats, shared: &shared, worker: 0 };
            let mut w = Watcher::default();
            assert_eq!(w.on_subscribed(&ctx, &subscribed(ser, LEAVE_REQUEST, 1 << 40)), Next::Continue);
            assert_eq!(w.on_subscribed(&ctx, &subscribed(ser, JOIN_REQUEST, 5)), Next::Ready);
            let details = Value::Dict(Dict::new().with("session", 77u64).with("authrole", "anonymous"));
            w.on_event(&mut ctx, &event(ser, 5, vec![details]));
            w.on_event(&mut ctx, &event(ser, 5, vec![Value::UInt(1), Value::UInt(2)]));
            w.on_event(&mut ctx, &event(ser, 1 << 40, vec![Value::UInt(77), Value::from("a"), Value::from("r")]));
            w.on_event(&mut ctx, &event(ser, 6, Vec::new()));
            let c = &ctx.stats.counts;
            assert_eq!((c.meta_joins, c.meta_leaves, c.foreign), (2, 1, 1), "{ser}");
        }
    }

    #[test]
    fn one_subscription_for_both_topics_is_refused() {
        let ser = Serializer::Json;
        let shared = Shared::new(Vec::new(), Vec::new(), 0);
        let mut stats = Stats::new(0).unwrap();
        let ctx = Ctx { ser, now: 1, stats: &mut stats, shared: &shared, worker: 0 };
        let mut w = Watcher::default();
        assert_eq!(w.on_subscribed(&ctx, &subscribed(ser, JOIN_REQUEST, 3)), Next::Continue);
        assert!(matches!(w.on_subscribed(&ctx, &subscribed(ser, LEAVE_REQUEST, 3)), Next::Fail(_)));
        assert!(matches!(w.on_subscribed(&ctx, b"[33]"), Next::Fail(_)));
    }
}
