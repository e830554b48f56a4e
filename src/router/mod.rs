//! The routing core of one shard: sessions, broker, dealer, and this shard's part in the
//! realm-wide agreement on subscriptions and registrations.
//!
//! Owns: [`Router`], every session of its shard, the shard's replica of each realm's routing
//! tables, the home-shard state of the URIs homed here, the call tables of both sides, the
//! shard's deadlines and its random generator. Never: I/O, reading the clock or runtime imports.
//! The shard runtime feeds it decoded messages, [`ShardMsg`]s and the current time, and carries
//! out what it asks through a [`Sink`] and the sessions' outboxes; tests drive it the same way in
//! memory, with a seeded generator and a clock of their own.

mod agree;
mod broker;
mod dealer;
mod gather;
mod handshake;
mod logins;
mod meta;
pub mod shard_msg;
mod store;
mod timers;
pub mod violation;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use rand::rngs::StdRng;
use slab::Slab;

use crate::codec::{self, DecodeError};
use crate::config::Limits;
use crate::realm::{RealmIdx, Realms};
use crate::session::{Caller, ConnInfo, IdMap, MessageClass, Outbox, Session, ShardId, State};
use crate::wamp::message::{self as msg, code};
use crate::wamp::{Dict, ErrorUri, Id, MatchPolicy, Message, Payload, Value};
pub use broker::Publication;
pub use shard_msg::{CallOutcome, ShardMsg, Token};
pub use violation::{Violation, ViolationCounts};

/// Where the router sends messages for other shards. The shard runtime implements it over the
/// cross-shard inboxes; tests implement it with plain queues.
pub trait Sink {
    /// Queues `msg` for shard `to` (which may be this shard). Messages to one shard arrive in the
    /// order they were queued.
    fn to_shard(&mut self, to: ShardId, msg: ShardMsg);
}

/// A connection's handle inside its shard's router: the slab key of its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey(usize);

/// Counters of one shard, read by logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sessions aborted for a protocol violation, by kind.
    pub violations: ViolationCounts,
    /// Events not delivered because the subscriber read too slowly or had a smaller size limit.
    pub events_dropped: u64,
    /// Messages the router could not encode for a receiver (transcoding failures).
    pub encode_failures: u64,
    /// Connections closed because no HELLO came in time.
    pub hello_timeouts: u64,
    /// Calls that timed out at the dealer.
    pub call_timeouts: u64,
    /// Calls canceled by their callers.
    pub calls_canceled: u64,
    /// Answers dropped because the caller had its answer already (skip, killnowait, timeout) or
    /// was gone.
    pub late_answers_dropped: u64,
    /// CALLs refused because the caller or the callee was at its limit.
    pub call_limit_hits: u64,
    /// Retained events not kept because the store was at `limits.retained_max_events` or
    /// `retained_max_bytes`.
    pub retained_refused: u64,
    /// Logins refused for wrong credentials.
    pub login_failures: u64,
    /// Of those, the ones whose ABORT was held back (repeated failures from one address).
    pub logins_delayed: u64,
}

/// The sizes of every table a shard keeps, for tests that check nothing leaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableSizes {
    /// Connections (any state).
    pub connections: usize,
    /// Calls in flight on this shard's callers.
    pub calls: usize,
    /// Invocations owed by this shard's callees.
    pub invocations: usize,
    /// The router's own calls in flight, and their answers not taken yet.
    pub own_calls: usize,
    /// Entries of the (caller, request) -> invocation index.
    pub call_index: usize,
    /// Armed timers.
    pub timers: usize,
    /// Changes waiting for acknowledgments.
    pub pending: usize,
    /// Meta API calls waiting for every shard's answer.
    pub queries: usize,
    /// Subscriptions and registrations homed here.
    pub home: usize,
    /// Subscriptions and registrations in this shard's replicas, and in their id indexes.
    pub replica: usize,
}

impl TableSizes {
    /// True if nothing is held: what every shard must come back to when all sessions left.
    pub fn is_empty(&self) -> bool {
        *self == TableSizes::default()
    }
}

/// The routing core of one shard.
#[derive(Debug)]
pub struct Router {
    /// This shard's index.
    shard: ShardId,
    /// How many shards the router runs; every agreement needs this many acknowledgments.
    shards: usize,
    /// The realms, same order on every shard.
    realms: Arc<Realms>,
    /// Timeouts and per-session bounds.
    limits: Limits,
    /// Every connection of this shard, from accept to transport close. A key is freed only when
    /// the transport is gone, so a stale key never names a newer connection. Boxed: the slab
    /// grows by doubling, and spare slots of a pointer cost far less than spare sessions.
    sessions: Slab<Box<Session>>,
    /// session id -> connection key, for messages from other shards naming a session.
    by_id: IdMap<ConnKey>,
    /// Per realm: broker state (replica, local subscribers).
    broker: Vec<broker::BrokerRealm>,
    /// Per realm: dealer state (replica, round-robin cursors).
    dealer: Vec<dealer::DealerRealm>,
    /// The agreement: home state of the URIs homed here and the changes this shard waits on.
    agree: agree::Agreement,
    /// Meta API calls of this shard's sessions waiting for every shard's answer; bounded per
    /// session by `limits.max_calls_per_session`.
    meta: gather::Gathers<meta::MetaWait>,
    /// Retained events and event histories homed on this shard.
    store: store::Store,
    /// Failed logins per peer address, to slow down guessing; bounded by `logins::MAX_TRACKED_PEERS`.
    login_failures: logins::LoginFailures,
    /// Per realm, its roles' permissions (`None`: an open realm), given to each session at login.
    roles: Vec<crate::auth::authorize::RealmRoles>,
    /// Per realm, the `[[realm.history]]` rules every publication is matched against.
    history_rules: Vec<crate::wamp::trie::UriTrie<store::RuleRef>>,
    /// Callee side: (caller, CALL request) -> (callee, INVOCATION request), for the calls that
    /// can be interrupted or streamed to. Bounded by the callees' invocation limits.
    call_index: HashMap<(Caller, Id), (ConnKey, Id), foldhash::fast::RandomState>,
    /// Calls the router made itself (token -> record), bounded with `own_answers` by
    /// `limits.max_calls_per_session`.
    own_calls: HashMap<u64, dealer::OwnCall>,
    /// Answers to the router's own calls, until `take_own_answers`.
    own_answers: Vec<(Token, CallOutcome)>,
    /// Source of own-call tokens.
    next_own_call: u64,
    /// Every deadline of this shard.
    timers: timers::Timers,
    /// Random global ids (sessions, publications) and random callee choice.
    rng: StdRng,
    /// The time of the event being handled, as the runtime passed it in.
    now: Instant,
    /// A moment and the wall-clock time it had, as the runtime set them (the Unix epoch at the
    /// router's creation until then): wall-clock times (`created`, event timestamps) are derived
    /// from `now`, never read.
    wall_origin: (Instant, SystemTime),
    /// Counters.
    stats: Stats,
    /// Reused by every PUBLISH for the subscriptions it matches, so matching allocates nothing.
    scratch_matches: Vec<broker::ReplicaSub>,
}

/// The home shard of (realm, uri, policy): the shard that orders every change to it.
pub fn home_shard(realm: RealmIdx, uri: &str, policy: MatchPolicy, shards: usize) -> ShardId {
    let mut h = std::hash::DefaultHasher::new();
    realm.hash(&mut h);
    uri.hash(&mut h);
    policy.hash(&mut h);
    (h.finish() % shards.max(1) as u64) as ShardId
}

impl Router {
    /// The router of shard `shard` out of `shards`, with its own random generator.
    pub fn new(
        shard: ShardId,
        shards: usize,
        realms: Arc<Realms>,
        limits: Limits,
        rng: StdRng,
        now: Instant,
    ) -> Router {
        let n = realms.len();
        let history_rules = store::history_rules(&realms);
        let roles = crate::auth::authorize::realm_roles(&realms);
        Router {
            shard,
            shards,
            broker: (0..n).map(|_| broker::BrokerRealm::default()).collect(),
            dealer: (0..n).map(|_| dealer::DealerRealm::default()).collect(),
            realms,
            limits,
            sessions: Slab::new(),
            by_id: IdMap::default(),
            agree: agree::Agreement::new(shard, shards),
            meta: gather::Gathers::default(),
            store: store::Store::default(),
            history_rules,
            roles,
            login_failures: logins::LoginFailures::default(),
            call_index: HashMap::default(),
            own_calls: HashMap::new(),
            own_answers: Vec::new(),
            next_own_call: 0,
            timers: timers::Timers::default(),
            rng,
            now,
            wall_origin: (now, SystemTime::UNIX_EPOCH),
            stats: Stats::default(),
            scratch_matches: Vec::new(),
        }
    }

    /// Tells the router the wall-clock time `wall` of the moment `at`; wall-clock times it reports
    /// are derived from its `now` from then on.
    pub fn set_wall_clock(&mut self, at: Instant, wall: SystemTime) {
        self.wall_origin = (at, wall);
    }

    /// The wall-clock time of `now`.
    fn wall_now(&self) -> SystemTime {
        let (at, wall) = self.wall_origin;
        match self.now.checked_duration_since(at) {
            Some(d) => wall + d,
            None => wall.checked_sub(at.duration_since(self.now)).unwrap_or(wall),
        }
    }

    /// Applies new roles and permissions (same realms, same order): every established session
    /// keeps its role and gets that role's new permissions; a role the realm no longer has may do
    /// nothing, a realm without roles is open. Cached decisions are dropped.
    pub fn reload_roles(&mut self, realms: &Realms) {
        self.roles = crate::auth::authorize::realm_roles(realms);
        for (_, s) in self.sessions.iter_mut() {
            let Some(j) = s.joined_mut() else { continue };
            j.permissions = match self.roles.get(j.realm) {
                Some(Some(by_name)) => Some(by_name.get(&*j.identity.authrole).cloned().unwrap_or_default()),
                _ => None,
            };
            j.decisions = crate::auth::authorize::DecisionCache::default();
        }
    }

    /// This shard's counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of connections (in any state) on this shard.
    pub fn connections(&self) -> usize {
        self.sessions.len()
    }

    /// Number of established sessions on this shard.
    pub fn established(&self) -> usize {
        self.by_id.len()
    }

    /// The sizes of every table this shard keeps.
    pub fn table_sizes(&self) -> TableSizes {
        let joined = self.sessions.iter().filter_map(|(_, s)| s.joined());
        let (calls, invocations) = joined.fold((0, 0), |(c, i), j| (c + j.calls.len(), i + j.invocations.len()));
        TableSizes {
            connections: self.sessions.len(),
            calls,
            invocations,
            own_calls: self.own_calls.len() + self.own_answers.len(),
            call_index: self.call_index.len(),
            timers: self.timers.len(),
            pending: self.agree.pending_len(),
            queries: self.meta.len(),
            home: self.agree.home_len(),
            replica: self.broker.iter().map(|b| b.replica.len() + b.by_id.len()).sum::<usize>()
                + self.dealer.iter().map(|d| d.replica.len() + d.by_id.len()).sum::<usize>(),
        }
    }

    /// Registers a new connection whose transport handshake succeeded at `now`; it must send
    /// HELLO within `limits.handshake_timeout`.
    pub fn open(&mut self, conn: ConnInfo, outbox: Outbox, now: Instant) -> ConnKey {
        self.now = now;
        let deadline = now + self.limits.handshake_timeout;
        let key = ConnKey(self.sessions.insert(Box::new(Session::new(conn, outbox, deadline))));
        self.timers.arm(deadline, timers::Timer::Hello(key));
        key
    }

    /// The session of a connection, if it is still open.
    pub fn session(&self, key: ConnKey) -> Option<&Session> {
        self.sessions.get(key.0).map(|s| &**s)
    }

    /// The earliest deadline: the runtime calls [`Router::on_tick`] then (or later).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Fires every timer due at `now`.
    pub fn on_tick(&mut self, now: Instant, sink: &mut dyn Sink) {
        self.now = now;
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                timers::Timer::Hello(key) => self.on_hello_deadline(key),
                timers::Timer::Call(key, request) => self.on_call_timeout(key, request, sink),
                timers::Timer::OwnCall(token) => self.on_own_call_timeout(token, sink),
            }
        }
    }

    /// Handles one message from a client, received at `now`.
    pub fn on_message(&mut self, key: ConnKey, message: Message, now: Instant, sink: &mut dyn Sink) {
        self.now = now;
        let Some(s) = self.sessions.get(key.0) else { return };
        let result = match s.state {
            State::AwaitingHello { .. } => self.on_hello(key, message, sink),
            State::Challenged(_) => self.on_authenticate(key, message, sink),
            State::Refused { .. } => Ok(()),
            State::Established(_) | State::Closing(_) => self.on_established(key, message, sink),
            State::Closed => Ok(()),
        };
        if let Err(v) = result {
            self.protocol_violation(key, v, sink);
        }
    }

    /// A message from the client could not be decoded: ABORT with `protocol_violation`.
    pub fn on_decode_error(&mut self, key: ConnKey, err: DecodeError, sink: &mut dyn Sink) {
        self.protocol_violation(key, Violation::Decode(err), sink);
    }

    /// The transport is gone: the session leaves (if it had joined) and its key is freed.
    pub fn on_transport_closed(&mut self, key: ConnKey, sink: &mut dyn Sink) {
        self.leave(key, sink);
        if let Some(s) = self.sessions.try_remove(key.0) {
            if let Some(deadline) = s.state.handshake_deadline() {
                self.timers.disarm(deadline, timers::Timer::Hello(key));
            }
        }
    }

    /// Router shutdown: GOODBYE `wamp.close.system_shutdown` to every established session, and
    /// close connections still waiting for HELLO.
    pub fn shutdown(&mut self) {
        let keys: Vec<usize> = self.sessions.iter().map(|(k, _)| k).collect();
        for k in keys {
            let key = ConnKey(k);
            let Some(s) = self.sessions.get_mut(k) else { continue };
            match std::mem::replace(&mut s.state, State::Closed) {
                State::Established(j) => {
                    s.state = State::Closing(j);
                    let goodbye = Message::Goodbye(msg::Goodbye {
                        details: Dict::new().with("message", "the router is shutting down"),
                        reason: ErrorUri::SystemShutdown.uri().into(),
                    });
                    self.send(key, &goodbye, MessageClass::Control);
                }
                other => match other.handshake_deadline() {
                    Some(deadline) => {
                        self.timers.disarm(deadline, timers::Timer::Hello(key));
                        s.outbox.close();
                    }
                    None => s.state = other,
                },
            }
        }
    }

    /// Handles a message from another shard (or from this shard to itself), received at `now`.
    pub fn on_shard_msg(&mut self, message: ShardMsg, now: Instant, sink: &mut dyn Sink) {
        self.now = now;
        match message {
            ShardMsg::Change(c) => self.on_change(c, sink),
            ShardMsg::Apply(a) => self.on_apply(a, sink),
            ShardMsg::Applied { token, id } => self.on_applied(token, id, sink),
            ShardMsg::Refused { token, error } => self.on_refused(token, error, sink),
            ShardMsg::Event(e) => {
                let to = broker::Recipients {
                    exclude_me: e.exclude_me,
                    filter: e.filter.as_deref(),
                    topic: e.topic.as_deref(),
                };
                for copy in &e.events {
                    self.deliver_local(e.realm, copy.subscription, copy.serializer, &copy.bytes, to);
                }
            }
            ShardMsg::Invoke(inv) => self.on_invoke(inv, sink),
            ShardMsg::Interrupt(i) => self.on_interrupt(i),
            ShardMsg::CallDone(done) => self.on_call_done(done, sink),
            ShardMsg::Query(q) => self.on_query(q, sink),
            ShardMsg::Answer { token, part } => self.on_answer(token, part),
            ShardMsg::Keep(k) => self.on_keep(k, sink),
        }
    }

    fn on_established(&mut self, key: ConnKey, message: Message, sink: &mut dyn Sink) -> Result<(), Violation> {
        match message {
            Message::Publish(m) => {
                self.check_request(key, m.request)?;
                self.on_publish(key, m, sink);
            }
            Message::Subscribe(m) => {
                self.check_request(key, m.request)?;
                self.on_subscribe(key, m, sink);
            }
            Message::Unsubscribe(m) => {
                self.check_request(key, m.request)?;
                self.on_unsubscribe(key, m, sink);
            }
            Message::Call(m) => return self.on_call(key, m, sink),
            Message::Cancel(m) => self.on_cancel(key, m, sink),
            Message::Register(m) => {
                self.check_request(key, m.request)?;
                self.on_register(key, m, sink);
            }
            Message::Unregister(m) => {
                self.check_request(key, m.request)?;
                self.on_unregister(key, m, sink);
            }
            Message::Yield(m) => return self.on_yield(key, m, sink),
            Message::Error(m) if m.request_type == code::INVOCATION => return self.on_invocation_error(key, m, sink),
            Message::Error(m) => return Err(Violation::ErrorRequestType(m.request_type)),
            Message::Goodbye(_) => self.on_goodbye(key, sink),
            Message::Abort(_) => self.close_quietly(key, sink),
            other => return Err(Violation::Unexpected(other.name())),
        }
        Ok(())
    }

    /// Checks a client request id where the realm asks for sequential ids, and records it.
    fn check_request(&mut self, key: ConnKey, request: Id) -> Result<(), Violation> {
        let Some(j) = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()) else { return Ok(()) };
        j.note_request(request).map_err(|expected| Violation::RequestSequence { got: request.get(), expected })
    }

    fn on_goodbye(&mut self, key: ConnKey, sink: &mut dyn Sink) {
        let established = self.sessions.get(key.0).is_some_and(|s| matches!(s.state, State::Established(_)));
        if established {
            let reply =
                Message::Goodbye(msg::Goodbye { details: Dict::new(), reason: ErrorUri::GoodbyeAndOut.uri().into() });
            self.send(key, &reply, MessageClass::Control);
        }
        self.close_quietly(key, sink);
    }

    /// Ends the session without a word: cleanup, then the writer flushes and closes.
    fn close_quietly(&mut self, key: ConnKey, sink: &mut dyn Sink) {
        self.leave(key, sink);
        if let Some(s) = self.sessions.get_mut(key.0) {
            s.outbox.close();
        }
    }

    /// ABORT with `reason`, then close; for failures before the session is established.
    fn abort(&mut self, key: ConnKey, reason: ErrorUri, message: &str) {
        let abort = Message::Abort(msg::Abort {
            details: Dict::new().with("message", message),
            reason: reason.uri().into(),
            payload: Payload::Empty,
        });
        self.send(key, &abort, MessageClass::Control);
        if let Some(s) = self.sessions.get_mut(key.0) {
            if let Some(deadline) = s.state.handshake_deadline() {
                self.timers.disarm(deadline, timers::Timer::Hello(key));
            }
            s.state = State::Closed;
            s.outbox.close();
        }
    }

    /// ABORT `wamp.error.protocol_violation`: the session loses everything and is closed.
    pub fn protocol_violation(&mut self, key: ConnKey, v: Violation, sink: &mut dyn Sink) {
        self.stats.violations.count(&v);
        if let Some(s) = self.sessions.get(key.0) {
            tracing::info!(peer = %s.conn.peer, session = ?s.id(), "protocol violation: {v}");
        }
        self.leave(key, sink);
        self.abort(key, ErrorUri::ProtocolViolation, &v.to_string());
    }

    /// The session leaves its realm: its subscriptions and registrations go on every shard,
    /// callers waiting on it get `canceled`, its own calls are withdrawn, then its testaments and
    /// `wamp.session.on_leave` are published. Idempotent.
    fn leave(&mut self, key: ConnKey, sink: &mut dyn Sink) {
        let Some(mut j) = self.sessions.get_mut(key.0).and_then(|s| s.leave()) else { return };
        self.by_id.remove(&j.id);
        let ser = self.sessions.get(key.0).map(|s| s.conn.serializer);
        for sub in j.subscriptions.drain() {
            if let Some(ser) = ser {
                self.remove_local_subscriber(j.realm, sub, ser, key, j.id, sink);
            }
        }
        for (registration, (procedure, policy)) in j.registrations.drain() {
            self.leave_registration(j.realm, registration, procedure, policy, j.id, sink);
        }
        self.withdraw_calls(key, &mut j, sink);
        self.fail_invocations(&mut j, sink);
        self.announce_leave(key, &mut j, sink);
    }

    /// Encodes `message` in the session's serializer and queues it.
    fn send(&mut self, key: ConnKey, message: &Message, class: MessageClass) {
        let Some(s) = self.sessions.get(key.0) else { return };
        match codec::encode(s.conn.serializer, message) {
            Ok(bytes) if bytes.len() <= s.conn.max_outgoing => {
                s.outbox.push(bytes, class);
            }
            Ok(bytes) => {
                tracing::debug!(len = bytes.len(), "message over the peer's size limit not sent");
                self.stats.encode_failures += 1;
            }
            Err(e) => {
                tracing::debug!("cannot encode {} for the peer: {e}", message.name());
                self.stats.encode_failures += 1;
            }
        }
    }

    /// Sends ERROR for request `request` of type `request_type`.
    fn send_error(&mut self, key: ConnKey, request_type: u64, request: Id, error: ErrorUri, message: &str) {
        let err = Message::Error(msg::Error {
            request_type,
            request,
            details: Dict::new(),
            error: error.uri().into(),
            payload: Payload::args(vec![Value::from(message)]),
        });
        self.send(key, &err, MessageClass::Control);
    }

    /// True if the session of `key` may do `action` with `uri` (its role's permissions; always in
    /// an open realm).
    fn may(&mut self, key: ConnKey, uri: &str, action: crate::config::Action) -> bool {
        self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()).is_some_and(|j| j.may(uri, action))
    }

    /// The realm's URI check mode.
    fn uri_check(&self, realm: RealmIdx) -> crate::wamp::UriCheck {
        self.realms.get(realm).map(|r| r.uri_check).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
