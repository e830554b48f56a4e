//! The in-memory simulator: N shards' routers in one thread, every cross-shard message delivered
//! through per-(from, to) FIFO queues in a seeded random interleaving, a clock the test moves,
//! clients speaking through the real codec.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::super::*;
use crate::codec::{Payload, PayloadCodec, Serializer};
use crate::config::{Action, Actions, HistoryRule, Limits, ListenerAuth, Permission, RealmConfig, RoleConfig};
use crate::realm::Realms;
use crate::session::{ConnInfo, Outbox, Outgoing};
use crate::wamp::message as m;
use crate::wamp::{Dict, Id, MatchPolicy, Message, UriCheck, Value};

/// Cross-shard queues, one per (from, to) pair, as the inboxes guarantee.
pub(super) struct PairSink<'a> {
    from: ShardId,
    queues: &'a mut Vec<VecDeque<ShardMsg>>,
    shards: usize,
}

impl Sink for PairSink<'_> {
    fn to_shard(&mut self, to: ShardId, msg: ShardMsg) {
        self.queues[self.from * self.shards + to].push_back(msg);
    }
}

pub(super) struct Sim {
    pub(super) routers: Vec<Router>,
    pub(super) queues: Vec<VecDeque<ShardMsg>>,
    pub(super) shards: usize,
    /// xorshift state choosing which pair queue delivers next.
    rng: u64,
    /// The simulated time, moved only by [`Sim::advance`].
    pub(super) now: Instant,
    /// Connections opened and not closed, closed by [`Sim::finish`].
    open: Vec<(ShardId, ConnKey)>,
}

#[derive(Clone)]
pub(super) struct Client {
    pub(super) shard: ShardId,
    pub(super) key: ConnKey,
    pub(super) outbox: Outbox,
    pub(super) ser: Serializer,
    pub(super) next_request: u64,
    pub(super) session: Id,
}

impl Sim {
    pub(super) fn new(shards: usize, seed: u64) -> Sim {
        Sim::with_limits(shards, seed, Limits::default())
    }

    pub(super) fn with_limits(shards: usize, seed: u64, limits: Limits) -> Sim {
        let realm = |name: &str, uri_check, sequential_request_ids, history| RealmConfig {
            name: name.into(),
            uri_check,
            sequential_request_ids,
            history,
            roles: Vec::new(),
        };
        let secure = RealmConfig { name: "secure".into(), roles: secure_roles(), ..RealmConfig::default() };
        let realms = Arc::new(Realms::new(vec![
            realm("realm1", UriCheck::Loose, false, HISTORY.iter().map(|(t, p, l)| history_rule(t, p, *l)).collect()),
            realm("strict", UriCheck::Strict, true, Vec::new()),
            secure,
        ]));
        let now = Instant::now();
        let router = |i: usize| {
            let rng = StdRng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(i as u64));
            Router::new(i, shards, realms.clone(), limits.clone(), rng, now)
        };
        Sim {
            routers: (0..shards).map(router).collect(),
            queues: (0..shards * shards).map(|_| VecDeque::new()).collect(),
            shards,
            rng: seed | 1,
            now,
            open: Vec::new(),
        }
    }

    /// Moves the clock by `by` and fires every timer due, then delivers what that caused.
    pub(super) fn advance(&mut self, by: Duration) {
        self.now += by;
        let now = self.now;
        for shard in 0..self.shards {
            self.with_router(shard, |r, sink| r.on_tick(now, sink));
        }
        self.run();
    }

    /// Closes every connection still open and checks that every table of every shard is empty:
    /// nothing a session held outlives it.
    pub(super) fn finish(&mut self) {
        for (shard, key) in std::mem::take(&mut self.open) {
            self.with_router(shard, |r, sink| r.on_transport_closed(key, sink));
            self.run();
        }
        for (shard, r) in self.routers.iter().enumerate() {
            assert!(r.table_sizes().is_empty(), "shard {shard} holds {:?}", r.table_sizes());
        }
    }

    pub(super) fn with_router<R>(&mut self, shard: ShardId, f: impl FnOnce(&mut Router, &mut dyn Sink) -> R) -> R {
        let mut sink = PairSink { from: shard, queues: &mut self.queues, shards: self.shards };
        f(&mut self.routers[shard], &mut sink)
    }

    /// Delivers cross-shard messages, in a random interleaving of the pair queues, until none is left.
    pub(super) fn run(&mut self) {
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
            let now = self.now;
            self.with_router(to, |r, sink| r.on_shard_msg(msg, now, sink));
        }
    }

    pub(super) fn connect(&mut self, shard: ShardId, ser: Serializer) -> Client {
        self.connect_on(shard, ser, Arc::default())
    }

    /// Connects through a listener that accepts the logins of `auth`.
    pub(super) fn connect_on(&mut self, shard: ShardId, ser: Serializer, auth: Arc<ListenerAuth>) -> Client {
        let outbox = Outbox::new(1 << 24);
        let info = ConnInfo { serializer: ser, transport: "test", peer: "mem".into(), max_outgoing: usize::MAX, auth };
        let key = self.routers[shard].open(info, outbox.clone(), self.now);
        self.open.push((shard, key));
        Client { shard, key, outbox, ser, next_request: 0, session: Id::ZERO }
    }

    /// Connects and joins realm1, asserting WELCOME.
    pub(super) fn join(&mut self, shard: ShardId, ser: Serializer) -> Client {
        self.join_with(shard, ser, "realm1", &[])
    }

    /// Connects and joins `realm` announcing `features` (`role.feature`, e.g.
    /// `callee.call_canceling`), asserting WELCOME.
    pub(super) fn join_with(&mut self, shard: ShardId, ser: Serializer, realm: &str, features: &[&str]) -> Client {
        let mut c = self.connect(shard, ser);
        self.send(&c, hello_with(realm, features));
        match recv(&c).as_slice() {
            [Message::Welcome(w)] => c.session = w.session,
            other => panic!("expected WELCOME, got {other:?}"),
        }
        c
    }

    /// Connects and joins realm1 under `authid` (anonymous sessions keep the authid they ask for),
    /// asserting WELCOME.
    pub(super) fn join_as(&mut self, shard: ShardId, ser: Serializer, authid: &str) -> Client {
        let mut c = self.connect(shard, ser);
        let Message::Hello(mut hello) = hello("realm1") else { unreachable!("hello() builds a HELLO") };
        hello.details.insert("authid", authid);
        self.send(&c, Message::Hello(hello));
        match recv(&c).as_slice() {
            [Message::Welcome(w)] => c.session = w.session,
            other => panic!("expected WELCOME, got {other:?}"),
        }
        c
    }

    /// Sends a message as the client would: encoded, then decoded by the router's codec.
    pub(super) fn send(&mut self, c: &Client, msg: Message) {
        self.send_unrun(c, msg);
        self.run();
    }

    /// Hands an already decoded message from connection `key` to shard `shard`'s router.
    pub(super) fn message(&mut self, shard: ShardId, key: ConnKey, msg: Message) {
        let now = self.now;
        self.with_router(shard, |r, sink| r.on_message(key, msg, now, sink));
    }

    /// Hands one cross-shard message to shard `shard`'s router.
    pub(super) fn shard_msg(&mut self, shard: ShardId, msg: ShardMsg) {
        let now = self.now;
        self.with_router(shard, |r, sink| r.on_shard_msg(msg, now, sink));
    }

    /// Hands a message to the client's router without delivering what it sends other shards.
    pub(super) fn send_unrun(&mut self, c: &Client, msg: Message) {
        let bytes = codec::encode(c.ser, &msg).unwrap();
        let (key, now) = (c.key, self.now);
        self.with_router(c.shard, |r, sink| match codec::decode(c.ser, bytes) {
            Ok(msg) => r.on_message(key, msg, now, sink),
            Err(e) => r.on_decode_error(key, e, sink),
        });
    }

    pub(super) fn request(c: &mut Client) -> Id {
        c.next_request += 1;
        Id::new(c.next_request).unwrap()
    }

    pub(super) fn subscribe(&mut self, c: &mut Client, topic: &str, policy: &str) -> Id {
        let request = Self::request(c);
        let options = if policy == "exact" { Dict::new() } else { Dict::new().with("match", policy) };
        self.send(c, Message::Subscribe(m::Subscribe { request, options, topic: topic.into() }));
        match recv(c).as_slice() {
            [Message::Subscribed(s)] if s.request == request => s.subscription,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    pub(super) fn publish(&mut self, c: &mut Client, topic: &str, args: Vec<Value>, options: Dict) {
        let request = Self::request(c);
        let publish = m::Publish { request, options, topic: topic.into(), payload: Payload::args(args) };
        self.send(c, Message::Publish(publish));
    }

    pub(super) fn register(&mut self, c: &mut Client, procedure: &str, policy: &str) -> Result<Id, String> {
        let options = if policy == "exact" { Dict::new() } else { Dict::new().with("match", policy) };
        self.register_with(c, procedure, options)
    }

    pub(super) fn register_with(&mut self, c: &mut Client, procedure: &str, options: Dict) -> Result<Id, String> {
        let request = Self::request(c);
        self.send(c, Message::Register(m::Register { request, options, procedure: procedure.into() }));
        match recv(c).as_slice() {
            [Message::Registered(r)] if r.request == request => Ok(r.registration),
            [Message::Error(e)] if e.request == request => Err(e.error.clone()),
            other => panic!("expected REGISTERED or ERROR, got {other:?}"),
        }
    }

    pub(super) fn call(&mut self, c: &mut Client, procedure: &str, args: Vec<Value>) -> Id {
        self.call_with(c, procedure, args, Dict::new())
    }

    pub(super) fn call_with(&mut self, c: &mut Client, procedure: &str, args: Vec<Value>, options: Dict) -> Id {
        let request = Self::request(c);
        let call = m::Call { request, options, procedure: procedure.into(), payload: Payload::args(args) };
        self.send(c, Message::Call(call));
        request
    }

    pub(super) fn close(&mut self, c: &Client) {
        self.close_unrun(c);
        self.run();
    }

    /// Closes the client's transport without delivering what that sends other shards.
    pub(super) fn close_unrun(&mut self, c: &Client) {
        let key = c.key;
        self.open.retain(|o| *o != (c.shard, key));
        self.with_router(c.shard, |r, sink| r.on_transport_closed(key, sink));
    }
}

/// The roles of the realm `secure`: `reader` may subscribe to and call `com.public.*` except
/// `com.public.secret.*`, `writer`
/// may do everything, `watcher` may use the session meta API and subscribe under `com.`.
fn secure_roles() -> Vec<RoleConfig> {
    let perm = |uri: &str, policy: &str, allow: &[Action]| Permission {
        uri: uri.into(),
        policy: MatchPolicy::from_option(policy).unwrap_or_default(),
        allow: allow.iter().fold(Actions::default(), |a, x| a.with(*x)),
    };
    let all = [Action::Call, Action::Register, Action::Publish, Action::Subscribe];
    vec![
        RoleConfig {
            name: "reader".into(),
            permissions: vec![
                perm("com.public.", "prefix", &[Action::Subscribe, Action::Call]),
                perm("com.public.secret.", "prefix", &[]),
            ],
        },
        RoleConfig { name: "writer".into(), permissions: vec![perm("", "prefix", &all)] },
        RoleConfig {
            name: "watcher".into(),
            permissions: vec![
                perm("wamp.session.", "prefix", &[Action::Call, Action::Subscribe]),
                perm("com.", "prefix", &[Action::Subscribe]),
            ],
        },
    ]
}

/// realm1's `[[realm.history]]` rules: (topic, match, limit).
const HISTORY: &[(&str, &str, usize)] = &[("com.hist", "exact", 3), ("com.log", "prefix", 5)];

fn history_rule(topic: &str, policy: &str, limit: usize) -> HistoryRule {
    let policy = MatchPolicy::from_option(policy).unwrap_or_default();
    HistoryRule { topic: topic.into(), policy, limit }
}

pub(super) fn hello(realm: &str) -> Message {
    hello_with(realm, &[])
}

/// HELLO with every client role, announcing `features` (`role.feature`).
pub(super) fn hello_with(realm: &str, features: &[&str]) -> Message {
    let role = |name: &str| {
        let mut f = Dict::new();
        for feature in features.iter().filter_map(|x| x.strip_prefix(name).and_then(|r| r.strip_prefix('.'))) {
            f.insert(feature, true);
        }
        Dict::new().with("features", f)
    };
    let roles = Dict::new()
        .with("publisher", role("publisher"))
        .with("subscriber", role("subscriber"))
        .with("caller", role("caller"))
        .with("callee", role("callee"));
    Message::Hello(m::Hello { realm: realm.into(), details: Dict::new().with("roles", roles) })
}

/// Everything queued for the client, decoded.
pub(super) fn recv(c: &Client) -> Vec<Message> {
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
pub(super) fn one(c: &Client) -> Message {
    let mut got = recv(c);
    assert_eq!(got.len(), 1, "expected one message, got {got:?}");
    got.remove(0)
}

/// Calls `procedure` and takes the one reply: the first result argument (null if none), or the
/// error URI.
pub(super) fn answer(sim: &mut Sim, c: &mut Client, procedure: &str, args: Vec<Value>) -> Result<Value, String> {
    let request = sim.call(c, procedure, args);
    match one(c) {
        Message::Result(r) if r.request == request => Ok(args_of(&r.payload).into_iter().next().unwrap_or(Value::Null)),
        Message::Error(e) if e.request == request => Err(e.error),
        other => panic!("expected RESULT or ERROR, got {other:?}"),
    }
}

pub(super) fn args_of(p: &Payload) -> Vec<Value> {
    p.to_values().unwrap().0
}

pub(super) fn events(c: &Client) -> Vec<m::Event> {
    recv(c)
        .into_iter()
        .map(|msg| match msg {
            Message::Event(e) => e,
            other => panic!("expected EVENT, got {other:?}"),
        })
        .collect()
}

/// Runs `f` for 1, 2 and 3 shards, every serializer, several interleavings; after each run every
/// connection closes and every table must be empty.
pub(super) fn matrix(f: impl Fn(&mut Sim, Serializer)) {
    for shards in 1..=3 {
        for ser in Serializer::ALL {
            for seed in [1, 7, 12345] {
                let mut sim = Sim::new(shards, seed);
                f(&mut sim, ser);
                sim.finish();
            }
        }
    }
}

pub(super) fn last(sim: &Sim) -> ShardId {
    sim.shards - 1
}
