//! Router behaviour without sockets: N shards in memory, every cross-shard message delivered
//! through per-(from, to) FIFO queues in a seeded random interleaving, clients speaking through
//! the real codec. Each test runs for one, two and three shards and for every serializer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Waker};

use super::*;
use crate::codec::{Payload, Serializer};
use crate::realm::{Realm, Realms};
use crate::session::{ConnInfo, Outbox, Outgoing};
use crate::wamp::message as m;
use crate::wamp::{Dict, Id, Message, UriCheck, Value};

/// Cross-shard queues, one per (from, to) pair, as the inboxes guarantee.
struct PairSink<'a> {
    from: ShardId,
    queues: &'a mut Vec<VecDeque<ShardMsg>>,
    shards: usize,
}

impl Sink for PairSink<'_> {
    fn to_shard(&mut self, to: ShardId, msg: ShardMsg) {
        self.queues[self.from * self.shards + to].push_back(msg);
    }
}

struct Sim {
    routers: Vec<Router>,
    queues: Vec<VecDeque<ShardMsg>>,
    shards: usize,
    /// xorshift state choosing which pair queue delivers next.
    rng: u64,
}

#[derive(Clone)]
struct Client {
    shard: ShardId,
    key: ConnKey,
    outbox: Outbox,
    ser: Serializer,
    next_request: u64,
    session: Id,
}

impl Sim {
    fn new(shards: usize, seed: u64) -> Sim {
        let realms = Arc::new(Realms::new(vec![
            Realm { name: "realm1".into(), uri_check: UriCheck::Loose },
            Realm { name: "strict".into(), uri_check: UriCheck::Strict },
        ]));
        Sim {
            routers: (0..shards).map(|i| Router::new(i, shards, realms.clone())).collect(),
            queues: (0..shards * shards).map(|_| VecDeque::new()).collect(),
            shards,
            rng: seed | 1,
        }
    }

    fn with_router<R>(&mut self, shard: ShardId, f: impl FnOnce(&mut Router, &mut dyn Sink) -> R) -> R {
        let mut sink = PairSink { from: shard, queues: &mut self.queues, shards: self.shards };
        f(&mut self.routers[shard], &mut sink)
    }

    /// Delivers cross-shard messages, in a random interleaving of the pair queues, until none is left.
    fn run(&mut self) {
        loop {
            let busy: Vec<usize> = (0..self.queues.len()).filter(|i| !self.queues[*i].is_empty()).collect();
            if busy.is_empty() {
                return;
            }
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            let q = busy[(self.rng % busy.len() as u64) as usize];
            let msg = self.queues[q].pop_front().unwrap();
            let to = q % self.shards;
            self.with_router(to, |r, sink| r.on_shard_msg(msg, sink));
        }
    }

    fn connect(&mut self, shard: ShardId, ser: Serializer) -> Client {
        let outbox = Outbox::new(1 << 24);
        let info = ConnInfo { serializer: ser, transport: "test", peer: "mem".into(), max_outgoing: usize::MAX };
        let key = self.routers[shard].open(info, outbox.clone());
        Client { shard, key, outbox, ser, next_request: 0, session: Id::ZERO }
    }

    /// Connects and joins realm1, asserting WELCOME.
    fn join(&mut self, shard: ShardId, ser: Serializer) -> Client {
        let mut c = self.connect(shard, ser);
        self.send(&c, hello("realm1"));
        match recv(&c).as_slice() {
            [Message::Welcome(w)] => c.session = w.session,
            other => panic!("expected WELCOME, got {other:?}"),
        }
        c
    }

    /// Sends a message as the client would: encoded, then decoded by the router's codec.
    fn send(&mut self, c: &Client, msg: Message) {
        let bytes = codec::encode(c.ser, &msg).unwrap();
        let key = c.key;
        self.with_router(c.shard, |r, sink| match codec::decode(c.ser, bytes) {
            Ok(msg) => r.on_message(key, msg, sink),
            Err(e) => r.on_decode_error(key, &e, sink),
        });
        self.run();
    }

    fn request(c: &mut Client) -> Id {
        c.next_request += 1;
        Id::new(c.next_request).unwrap()
    }

    fn subscribe(&mut self, c: &mut Client, topic: &str, policy: &str) -> Id {
        let request = Self::request(c);
        let options = if policy == "exact" { Dict::new() } else { Dict::new().with("match", policy) };
        self.send(c, Message::Subscribe(m::Subscribe { request, options, topic: topic.into() }));
        match recv(c).as_slice() {
            [Message::Subscribed(s)] if s.request == request => s.subscription,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    fn publish(&mut self, c: &mut Client, topic: &str, args: Vec<Value>, options: Dict) {
        let request = Self::request(c);
        let publish = m::Publish { request, options, topic: topic.into(), payload: Payload::args(args) };
        self.send(c, Message::Publish(publish));
    }

    fn register(&mut self, c: &mut Client, procedure: &str, policy: &str) -> Result<Id, String> {
        let request = Self::request(c);
        let options = if policy == "exact" { Dict::new() } else { Dict::new().with("match", policy) };
        self.send(c, Message::Register(m::Register { request, options, procedure: procedure.into() }));
        match recv(c).as_slice() {
            [Message::Registered(r)] if r.request == request => Ok(r.registration),
            [Message::Error(e)] if e.request == request => Err(e.error.clone()),
            other => panic!("expected REGISTERED or ERROR, got {other:?}"),
        }
    }

    fn call(&mut self, c: &mut Client, procedure: &str, args: Vec<Value>) -> Id {
        let request = Self::request(c);
        let call = m::Call { request, options: Dict::new(), procedure: procedure.into(), payload: Payload::args(args) };
        self.send(c, Message::Call(call));
        request
    }

    fn close(&mut self, c: &Client) {
        let key = c.key;
        self.with_router(c.shard, |r, sink| r.on_transport_closed(key, sink));
        self.run();
    }
}

fn hello(realm: &str) -> Message {
    let roles = Dict::new()
        .with("publisher", Dict::new())
        .with("subscriber", Dict::new())
        .with("caller", Dict::new())
        .with("callee", Dict::new());
    Message::Hello(m::Hello { realm: realm.into(), details: Dict::new().with("roles", roles) })
}

/// Everything queued for the client, decoded.
fn recv(c: &Client) -> Vec<Message> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut items = Vec::new();
    let _ = c.outbox.poll_take(&mut cx, &mut items);
    items
        .into_iter()
        .filter_map(|o| match o {
            Outgoing::Message(b) => Some(codec::decode(c.ser, b).expect("router output decodes")),
            Outgoing::Pong(_) => None,
        })
        .collect()
}

/// The one message queued for the client.
fn one(c: &Client) -> Message {
    let mut got = recv(c);
    assert_eq!(got.len(), 1, "expected one message, got {got:?}");
    got.remove(0)
}

fn args_of(p: &Payload) -> Vec<Value> {
    p.to_values().unwrap().0
}

fn events(c: &Client) -> Vec<m::Event> {
    recv(c)
        .into_iter()
        .map(|msg| match msg {
            Message::Event(e) => e,
            other => panic!("expected EVENT, got {other:?}"),
        })
        .collect()
}

/// Runs `f` for 1, 2 and 3 shards, every serializer, several interleavings.
fn matrix(f: impl Fn(&mut Sim, Serializer)) {
    for shards in 1..=3 {
        for ser in Serializer::ALL {
            for seed in [1, 7, 12345] {
                let mut sim = Sim::new(shards, seed);
                f(&mut sim, ser);
            }
        }
    }
}

fn last(sim: &Sim) -> ShardId {
    sim.shards - 1
}

#[test]
fn hello_gets_welcome_with_broker_and_dealer_roles() {
    matrix(|sim, ser| {
        let c = sim.connect(0, ser);
        sim.send(&c, hello("realm1"));
        let Message::Welcome(w) = one(&c) else { panic!("unexpected message") };
        assert!((1..=1u64 << 53).contains(&w.session.get()));
        let roles = w.details.get("roles").and_then(Value::as_dict).unwrap();
        assert!(roles.get("broker").is_some() && roles.get("dealer").is_some());
    });
}

#[test]
fn hello_for_an_unknown_realm_is_aborted_with_no_such_realm() {
    matrix(|sim, ser| {
        let c = sim.connect(0, ser);
        sim.send(&c, hello("nope"));
        let Message::Abort(a) = one(&c) else { panic!("unexpected message") };
        assert_eq!(a.reason, "wamp.error.no_such_realm");
        assert!(c.outbox.is_closing());
    });
}

#[test]
fn message_before_hello_is_a_protocol_violation() {
    matrix(|sim, ser| {
        let mut c = sim.connect(0, ser);
        sim.publish(&mut c, "com.a", vec![], Dict::new());
        let Message::Abort(a) = one(&c) else { panic!("unexpected message") };
        assert_eq!(a.reason, "wamp.error.protocol_violation");
        assert_eq!(sim.routers[0].stats().protocol_violations, 1);
    });
}

#[test]
fn second_hello_is_a_protocol_violation_and_drops_subscriptions() {
    matrix(|sim, ser| {
        let mut c = sim.join(0, ser);
        let mut p = sim.join(last(sim), ser);
        let mut sub = sim.join(last(sim), ser);
        sim.subscribe(&mut c, "com.t", "exact");
        sim.subscribe(&mut sub, "com.t", "exact");
        sim.send(&c, hello("realm1"));
        let Message::Abort(a) = one(&c) else { panic!("unexpected message") };
        assert_eq!(a.reason, "wamp.error.protocol_violation");
        sim.publish(&mut p, "com.t", vec![], Dict::new());
        assert!(recv(&c).is_empty());
        assert_eq!(events(&sub).len(), 1, "other sessions go on");
    });
}

#[test]
fn event_reaches_subscribers_on_every_shard_with_one_subscription_id() {
    matrix(|sim, ser| {
        let mut subs: Vec<Client> = (0..sim.shards).map(|s| sim.join(s, ser)).collect();
        let ids: Vec<Id> = subs.iter_mut().map(|c| sim.subscribe(c, "com.topic", "exact")).collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "one subscription id per topic: {ids:?}");
        let mut p = sim.join(0, ser);
        sim.publish(&mut p, "com.topic", vec![Value::from("hi"), Value::UInt(1 << 53)], Dict::new());
        for c in &subs {
            let ev = events(c);
            assert_eq!(ev.len(), 1);
            assert_eq!(ev[0].subscription, ids[0]);
            assert_eq!(args_of(&ev[0].payload), vec![Value::from("hi"), Value::UInt(1 << 53)]);
        }
    });
}

#[test]
fn publisher_is_excluded_by_default_and_included_with_exclude_me_false() {
    matrix(|sim, ser| {
        let mut c = sim.join(last(sim), ser);
        sim.subscribe(&mut c, "com.self", "exact");
        sim.publish(&mut c, "com.self", vec![], Dict::new());
        assert!(events(&c).is_empty());
        sim.publish(&mut c, "com.self", vec![], Dict::new().with("exclude_me", false));
        assert_eq!(events(&c).len(), 1);
    });
}

#[test]
fn acknowledged_publish_gets_published_with_a_global_id() {
    matrix(|sim, ser| {
        let mut c = sim.join(0, ser);
        sim.publish(&mut c, "com.ack", vec![], Dict::new().with("acknowledge", true));
        let Message::Published(p) = one(&c) else { panic!("unexpected message") };
        assert!(p.publication.get() >= 1);
    });
}

#[test]
fn pattern_subscriptions_get_one_event_each_with_the_concrete_topic() {
    matrix(|sim, ser| {
        let mut c = sim.join(last(sim), ser);
        let exact = sim.subscribe(&mut c, "com.a.b", "exact");
        let prefix = sim.subscribe(&mut c, "com.a", "prefix");
        let wild = sim.subscribe(&mut c, "com..b", "wildcard");
        let mut p = sim.join(0, ser);
        sim.publish(&mut p, "com.a.b", vec![], Dict::new());
        let ev = events(&c);
        assert_eq!(ev.len(), 3);
        assert!(ev.windows(2).all(|w| w[0].publication == w[1].publication));
        for e in ev {
            if e.subscription == exact {
                assert_eq!(e.details.get_str("topic"), None);
            } else {
                assert!(e.subscription == prefix || e.subscription == wild);
                assert_eq!(e.details.get_str("topic"), Some("com.a.b"));
            }
        }
    });
}

#[test]
fn mixed_serializers_get_identical_payloads() {
    for shards in 1..=3 {
        let mut sim = Sim::new(shards, 3);
        let mut subs: Vec<Client> = Serializer::ALL.iter().map(|s| sim.join(shards - 1, *s)).collect();
        for c in &mut subs {
            sim.subscribe(c, "com.mix", "exact");
        }
        let mut p = sim.join(0, Serializer::Json);
        let args = vec![
            Value::from("ünïcødé ✓"),
            Value::UInt(1 << 53),
            Value::Int(-7),
            Value::Bytes(vec![0, 1, 2, 255]),
            Value::List(vec![Value::Dict(Dict::new().with("k", Value::Null))]),
        ];
        sim.publish(&mut p, "com.mix", args.clone(), Dict::new());
        for c in &subs {
            let ev = events(c);
            assert_eq!(ev.len(), 1, "{:?}", c.ser);
            assert_eq!(args_of(&ev[0].payload), args, "{:?}", c.ser);
        }
    }
}

#[test]
fn unsubscribe_stops_events_and_unknown_ids_get_no_such_subscription() {
    matrix(|sim, ser| {
        let mut c = sim.join(last(sim), ser);
        let mut p = sim.join(0, ser);
        let sub = sim.subscribe(&mut c, "com.u", "exact");
        let request = Sim::request(&mut c);
        sim.send(&c, Message::Unsubscribe(m::Unsubscribe { request, subscription: sub }));
        assert!(matches!(recv(&c).as_slice(), [Message::Unsubscribed(_)]));
        sim.publish(&mut p, "com.u", vec![], Dict::new());
        assert!(recv(&c).is_empty());
        let request = Sim::request(&mut c);
        sim.send(&c, Message::Unsubscribe(m::Unsubscribe { request, subscription: sub }));
        let Message::Error(e) = one(&c) else { panic!("unexpected message") };
        assert_eq!(e.error, "wamp.error.no_such_subscription");
    });
}

#[test]
fn subscriptions_of_a_session_that_leaves_are_gone_on_every_shard() {
    matrix(|sim, ser| {
        let mut c = sim.join(last(sim), ser);
        sim.subscribe(&mut c, "com.gone", "prefix");
        sim.close(&c);
        for r in &sim.routers {
            assert!(r.broker[0].replica.get("com.gone", MatchPolicy::Prefix).is_none());
            assert!(r.broker[0].home.is_empty() && r.broker[0].local.is_empty());
        }
    });
}

#[test]
fn invalid_and_reserved_uris_are_refused() {
    matrix(|sim, ser| {
        let mut c = sim.join(0, ser);
        let request = Sim::request(&mut c);
        let options = Dict::new();
        sim.send(&c, Message::Subscribe(m::Subscribe { request, options, topic: "com..bad".into() }));
        let Message::Error(e) = one(&c) else { panic!("unexpected message") };
        assert_eq!(e.error, "wamp.error.invalid_uri");
        assert_eq!(sim.register(&mut c, "wamp.mine", "exact"), Err("wamp.error.invalid_uri".into()));
        assert_eq!(sim.register(&mut c, "com#x", "exact"), Err("wamp.error.invalid_uri".into()));
        sim.publish(&mut c, "wamp.fake", vec![], Dict::new().with("acknowledge", true));
        let Message::Error(e) = one(&c) else { panic!("unexpected message") };
        assert_eq!(e.error, "wamp.error.invalid_uri");
        sim.subscribe(&mut c, "wamp.session.on_join", "exact");
    });
}

#[test]
fn call_is_invoked_on_the_callee_shard_and_the_result_returns() {
    matrix(|sim, ser| {
        let mut callee = sim.join(last(sim), ser);
        let mut caller = sim.join(0, ser);
        let reg = sim.register(&mut callee, "com.add", "exact").unwrap();
        let req = sim.call(&mut caller, "com.add", vec![Value::UInt(2), Value::UInt(3)]);
        let Message::Invocation(inv) = one(&callee) else { panic!("unexpected message") };
        assert_eq!(inv.registration, reg);
        assert_eq!(args_of(&inv.payload), vec![Value::UInt(2), Value::UInt(3)]);
        let y = m::Yield { request: inv.request, options: Dict::new(), payload: Payload::args(vec![Value::UInt(5)]) };
        sim.send(&callee, Message::Yield(y));
        let Message::Result(r) = one(&caller) else { panic!("unexpected message") };
        assert_eq!(r.request, req);
        assert_eq!(args_of(&r.payload), vec![Value::UInt(5)]);
    });
}

#[test]
fn callee_error_reaches_the_caller_with_args_and_kwargs() {
    matrix(|sim, ser| {
        let mut callee = sim.join(0, ser);
        let mut caller = sim.join(last(sim), ser);
        sim.register(&mut callee, "com.fail", "exact").unwrap();
        let req = sim.call(&mut caller, "com.fail", vec![]);
        let Message::Invocation(inv) = one(&callee) else { panic!("unexpected message") };
        let payload = Payload::Values { args: vec![Value::from("why")], kwargs: Some(Dict::new().with("code", 7u64)) };
        let err = m::Error {
            request_type: code::INVOCATION,
            request: inv.request,
            details: Dict::new(),
            error: "com.error.failed".into(),
            payload,
        };
        sim.send(&callee, Message::Error(err));
        let Message::Error(e) = one(&caller) else { panic!("unexpected message") };
        assert_eq!((e.request_type, e.request, e.error.as_str()), (code::CALL, req, "com.error.failed"));
        let (args, kwargs) = e.payload.to_values().unwrap();
        assert_eq!(args, vec![Value::from("why")]);
        assert_eq!(kwargs.unwrap().get("code"), Some(&Value::UInt(7)));
    });
}

#[test]
fn second_registration_fails_with_procedure_already_exists_on_any_shard() {
    matrix(|sim, ser| {
        let mut a = sim.join(0, ser);
        let mut b = sim.join(last(sim), ser);
        sim.register(&mut a, "com.once", "exact").unwrap();
        assert_eq!(sim.register(&mut b, "com.once", "exact"), Err("wamp.error.procedure_already_exists".into()));
        assert_eq!(sim.register(&mut a, "com.once", "exact"), Err("wamp.error.procedure_already_exists".into()));
    });
}

#[test]
fn call_fails_with_no_such_procedure_after_callee_leaves() {
    matrix(|sim, ser| {
        let mut callee = sim.join(last(sim), ser);
        let mut caller = sim.join(0, ser);
        sim.register(&mut callee, "com.leaving", "exact").unwrap();
        sim.close(&callee);
        let req = sim.call(&mut caller, "com.leaving", vec![]);
        let Message::Error(e) = one(&caller) else { panic!("unexpected message") };
        assert_eq!((e.request, e.error.as_str()), (req, "wamp.error.no_such_procedure"));
        let mut again = sim.join(0, ser);
        sim.register(&mut again, "com.leaving", "exact").unwrap();
    });
}

#[test]
fn caller_gets_canceled_when_the_callee_leaves_mid_call() {
    matrix(|sim, ser| {
        let mut callee = sim.join(last(sim), ser);
        let mut caller = sim.join(0, ser);
        sim.register(&mut callee, "com.slow", "exact").unwrap();
        let req = sim.call(&mut caller, "com.slow", vec![]);
        assert_eq!(recv(&callee).len(), 1);
        sim.close(&callee);
        let Message::Error(e) = one(&caller) else { panic!("unexpected message") };
        assert_eq!((e.request, e.error.as_str()), (req, "wamp.error.canceled"));
    });
}

#[test]
fn yield_for_an_unknown_invocation_is_a_protocol_violation() {
    matrix(|sim, ser| {
        let c = sim.join(0, ser);
        let y = m::Yield { request: Id::new(99).unwrap(), options: Dict::new(), payload: Payload::Empty };
        sim.send(&c, Message::Yield(y));
        let Message::Abort(a) = one(&c) else { panic!("unexpected message") };
        assert_eq!(a.reason, "wamp.error.protocol_violation");
    });
}

#[test]
fn invocation_request_ids_are_sequential_per_callee() {
    matrix(|sim, ser| {
        let mut callee = sim.join(last(sim), ser);
        let mut callers: Vec<Client> = (0..sim.shards).map(|s| sim.join(s, ser)).collect();
        sim.register(&mut callee, "com.seq", "exact").unwrap();
        for c in &mut callers {
            sim.call(c, "com.seq", vec![]);
            sim.call(c, "com.seq", vec![]);
        }
        let ids: Vec<u64> = recv(&callee)
            .into_iter()
            .map(|msg| match msg {
                Message::Invocation(i) => i.request.get(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    });
}

#[test]
fn pattern_registrations_resolve_exact_then_prefix_then_wildcard() {
    matrix(|sim, ser| {
        let mut callee = sim.join(last(sim), ser);
        let mut caller = sim.join(0, ser);
        let wild = sim.register(&mut callee, "com..get", "wildcard").unwrap();
        let prefix = sim.register(&mut callee, "com.user", "prefix").unwrap();
        sim.call(&mut caller, "com.user.get", vec![]);
        let Message::Invocation(i) = one(&callee) else { panic!("unexpected message") };
        assert_eq!(i.registration, prefix);
        assert_eq!(i.details.get_str("procedure"), Some("com.user.get"));
        sim.call(&mut caller, "com.item.get", vec![]);
        let Message::Invocation(i) = one(&callee) else { panic!("unexpected message") };
        assert_eq!(i.registration, wild);
    });
}

#[test]
fn events_keep_publisher_order_across_topics_on_every_interleaving() {
    for seed in 1..40 {
        let mut sim = Sim::new(3, seed);
        let mut sub = sim.join(2, Serializer::MsgPack);
        sim.subscribe(&mut sub, "com.x", "exact");
        sim.subscribe(&mut sub, "com.y", "exact");
        sim.subscribe(&mut sub, "com", "prefix");
        let mut p = sim.join(0, Serializer::Json);
        let topics = ["com.x", "com.y", "com.z"];
        let mut queued = Vec::new();
        for i in 0..30u64 {
            let request = Sim::request(&mut p);
            let publish = m::Publish {
                request,
                options: Dict::new(),
                topic: topics[(i % 3) as usize].into(),
                payload: Payload::args(vec![Value::UInt(i)]),
            };
            let bytes = codec::encode(p.ser, &Message::Publish(publish)).unwrap();
            queued.push(codec::decode(p.ser, bytes).unwrap());
        }
        let key = p.key;
        for msg in queued {
            sim.with_router(0, |r, s| r.on_message(key, msg, s));
        }
        sim.run();
        let seen: Vec<u64> = events(&sub).iter().map(|e| args_of(&e.payload)[0].as_u64().unwrap()).collect();
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "seed {seed}");
        assert_eq!(seen.len(), 50, "x and y twice (exact + prefix), z once");
    }
}

#[test]
fn subscribed_is_sent_only_after_every_shard_applied_the_subscription() {
    for seed in 1..40 {
        let mut sim = Sim::new(3, seed);
        let mut sub = sim.join(1, Serializer::Cbor);
        let mut pubs: Vec<Client> = (0..3).map(|s| sim.join(s, Serializer::Json)).collect();
        let request = Sim::request(&mut sub);
        let subscribe = m::Subscribe { request, options: Dict::new(), topic: "com.causal".into() };
        let bytes = codec::encode(sub.ser, &Message::Subscribe(subscribe)).unwrap();
        let key = sub.key;
        sim.with_router(1, |r, s| r.on_message(key, codec::decode(Serializer::Cbor, bytes).unwrap(), s));
        // Deliver cross-shard messages one at a time; as soon as SUBSCRIBED is out, every
        // shard's publisher must reach the subscriber.
        let mut got = Vec::new();
        while got.is_empty() {
            let busy: Vec<usize> = (0..sim.queues.len()).filter(|i| !sim.queues[*i].is_empty()).collect();
            assert!(!busy.is_empty(), "SUBSCRIBED never came");
            let q = busy[(seed as usize) % busy.len()];
            let msg = sim.queues[q].pop_front().unwrap();
            sim.with_router(q % 3, |r, s| r.on_shard_msg(msg, s));
            got = recv(&sub);
        }
        assert!(matches!(got.as_slice(), [Message::Subscribed(_)]));
        for p in &mut pubs {
            sim.publish(p, "com.causal", vec![], Dict::new());
        }
        assert_eq!(events(&sub).len(), 3, "seed {seed}");
    }
}

#[test]
fn registered_precedes_every_invocation() {
    for seed in 1..40 {
        let mut sim = Sim::new(3, seed);
        let mut callee = sim.join(2, Serializer::MsgPack);
        let mut caller = sim.join(0, Serializer::Json);
        let request = Sim::request(&mut callee);
        let register = m::Register { request, options: Dict::new(), procedure: "com.race".into() };
        let bytes = codec::encode(callee.ser, &Message::Register(register)).unwrap();
        let key = callee.key;
        sim.with_router(2, |r, s| r.on_message(key, codec::decode(Serializer::MsgPack, bytes).unwrap(), s));
        // The caller calls as soon as its own shard knows the registration.
        let mut called = false;
        loop {
            let busy: Vec<usize> = (0..sim.queues.len()).filter(|i| !sim.queues[*i].is_empty()).collect();
            if busy.is_empty() {
                break;
            }
            let q = busy[(seed as usize * 7) % busy.len()];
            let msg = sim.queues[q].pop_front().unwrap();
            sim.with_router(q % 3, |r, s| r.on_shard_msg(msg, s));
            if !called && sim.routers[0].dealer[0].replica.get("com.race", MatchPolicy::Exact).is_some() {
                called = true;
                let req = Sim::request(&mut caller);
                let call = m::Call {
                    request: req,
                    options: Dict::new(),
                    procedure: "com.race".into(),
                    payload: Payload::Empty,
                };
                let ck = caller.key;
                sim.with_router(0, |r, s| r.on_message(ck, Message::Call(call), s));
            }
        }
        let got = recv(&callee);
        assert!(called);
        assert!(matches!(got.as_slice(), [Message::Registered(_), Message::Invocation(_)]), "seed {seed}: {got:?}");
    }
}

#[test]
fn goodbye_is_answered_with_goodbye_and_out() {
    matrix(|sim, ser| {
        let c = sim.join(0, ser);
        let g = m::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() };
        sim.send(&c, Message::Goodbye(g));
        let Message::Goodbye(g) = one(&c) else { panic!("unexpected message") };
        assert_eq!(g.reason, "wamp.close.goodbye_and_out");
        assert!(c.outbox.is_closing());
    });
}

#[test]
fn shutdown_says_goodbye_with_system_shutdown() {
    matrix(|sim, ser| {
        let c = sim.join(0, ser);
        sim.routers[0].shutdown();
        let Message::Goodbye(g) = one(&c) else { panic!("unexpected message") };
        assert_eq!(g.reason, "wamp.close.system_shutdown");
        sim.send(
            &c,
            Message::Goodbye(m::Goodbye { details: Dict::new(), reason: "wamp.close.goodbye_and_out".into() }),
        );
        assert!(recv(&c).is_empty());
        assert!(c.outbox.is_closing());
    });
}

#[test]
fn strict_realm_refuses_uppercase_topics() {
    let mut sim = Sim::new(2, 1);
    let mut c = sim.connect(0, Serializer::Json);
    sim.send(&c, hello("strict"));
    assert!(matches!(recv(&c).as_slice(), [Message::Welcome(_)]));
    let request = Sim::request(&mut c);
    sim.send(&c, Message::Subscribe(m::Subscribe { request, options: Dict::new(), topic: "com.Upper".into() }));
    let Message::Error(e) = one(&c) else { panic!("unexpected message") };
    assert_eq!(e.error, "wamp.error.invalid_uri");
}
