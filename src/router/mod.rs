//! The routing core of one shard: sessions, broker, dealer, and this shard's part in the
//! realm-wide agreement on subscriptions and registrations.
//!
//! Owns: [`Router`], every session of its shard, the shard's replica of each realm's routing
//! tables, and the home-shard state of the URIs homed here. Never: I/O, timers or runtime
//! imports. The shard runtime feeds it decoded messages and [`ShardMsg`]s and carries out what it
//! asks through a [`Sink`] and the sessions' outboxes; tests drive it the same way in memory.

mod broker;
mod dealer;
pub mod shard_msg;
pub mod trie;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use slab::Slab;

use crate::codec::{self, DecodeError, Payload};
use crate::realm::Realms;
use crate::session::{self, ConnInfo, MessageClass, Outbox, Session, State};
use crate::wamp::id::{random_global_id, RouterScopeIds};
use crate::wamp::message::{self as msg, code};
use crate::wamp::{Dict, ErrorUri, Id, MatchPolicy, Message, Value};
pub use shard_msg::{CallOutcome, Callee, EventCopy, RealmIdx, ShardId, ShardMsg};

/// Where the router sends messages for other shards. The shard runtime implements it over the
/// cross-shard inboxes; tests implement it with plain queues.
pub trait Sink {
    /// Queues `msg` for shard `to` (which may be this shard). Messages to one shard arrive in the
    /// order they were queued.
    fn to_shard(&mut self, to: ShardId, msg: ShardMsg);
}

/// A connection's handle inside its shard's router: the slab key of its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnKey(usize);

/// Counters of one shard, read by logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sessions aborted for a protocol violation (bad input).
    pub protocol_violations: u64,
    /// Events not delivered because the subscriber read too slowly or had a smaller size limit.
    pub events_dropped: u64,
    /// Messages the router could not encode for a receiver (transcoding failures).
    pub encode_failures: u64,
}

/// A subscription or registration request waiting for every shard to apply it.
#[derive(Debug)]
enum Pending {
    Sub(broker::PendingSub),
    Reg(dealer::PendingReg),
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
    /// Every connection of this shard, from accept to transport close. A key is freed only when
    /// the transport is gone, so a stale key never names a newer connection. Boxed: the slab
    /// grows by doubling, and spare slots of a pointer cost far less than spare sessions.
    sessions: Slab<Box<Session>>,
    /// session id -> connection key, for messages from other shards naming a session.
    by_id: HashMap<Id, ConnKey>,
    /// Per realm: broker state (replica, local subscribers, home subscriptions).
    broker: Vec<broker::BrokerRealm>,
    /// Per realm: dealer state (replica, home registrations).
    dealer: Vec<dealer::DealerRealm>,
    /// token -> change this shard asked for and is waiting to see applied everywhere.
    pending: HashMap<u64, Pending>,
    /// Source of `pending` tokens (unique within this shard).
    next_token: u64,
    /// Router-scope ids (subscriptions, registrations) homed on this shard.
    ids: RouterScopeIds,
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
    /// The router of shard `shard` out of `shards`.
    pub fn new(shard: ShardId, shards: usize, realms: Arc<Realms>) -> Router {
        let n = realms.len();
        Router {
            shard,
            shards,
            broker: (0..n).map(|_| broker::BrokerRealm::default()).collect(),
            dealer: (0..n).map(|_| dealer::DealerRealm::default()).collect(),
            realms,
            sessions: Slab::new(),
            by_id: HashMap::new(),
            pending: HashMap::new(),
            next_token: 0,
            ids: RouterScopeIds::new(shard, shards),
            stats: Stats::default(),
            scratch_matches: Vec::new(),
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

    /// Registers a new connection whose transport handshake succeeded.
    pub fn open(&mut self, conn: ConnInfo, outbox: Outbox) -> ConnKey {
        ConnKey(self.sessions.insert(Box::new(Session::new(conn, outbox))))
    }

    /// The session of a connection, if it is still open.
    pub fn session(&self, key: ConnKey) -> Option<&Session> {
        self.sessions.get(key.0).map(|s| &**s)
    }

    /// Handles one message from a client.
    pub fn on_message(&mut self, key: ConnKey, message: Message, sink: &mut dyn Sink) {
        let Some(state) = self.sessions.get(key.0).map(|s| s.state) else { return };
        match state {
            State::AwaitingHello => self.on_hello(key, message, sink),
            State::Established | State::Closing => self.on_established(key, message, sink),
            State::Closed => {}
        }
    }

    /// A message from the client could not be decoded: ABORT with `protocol_violation`.
    pub fn on_decode_error(&mut self, key: ConnKey, err: &DecodeError, sink: &mut dyn Sink) {
        self.protocol_violation(key, &err.to_string(), sink);
    }

    /// The transport is gone: the session leaves (if it had joined) and its key is freed.
    pub fn on_transport_closed(&mut self, key: ConnKey, sink: &mut dyn Sink) {
        self.leave(key, sink);
        if self.sessions.contains(key.0) {
            self.sessions.remove(key.0);
        }
    }

    /// Router shutdown: GOODBYE `wamp.close.system_shutdown` to every established session, and
    /// close connections still waiting for HELLO.
    pub fn shutdown(&mut self) {
        let keys: Vec<usize> = self.sessions.iter().map(|(k, _)| k).collect();
        for k in keys {
            let key = ConnKey(k);
            let Some(s) = self.sessions.get_mut(k) else { continue };
            match s.state {
                State::Established => {
                    s.state = State::Closing;
                    let goodbye = Message::Goodbye(msg::Goodbye {
                        details: Dict::new().with("message", "the router is shutting down"),
                        reason: ErrorUri::SystemShutdown.uri().into(),
                    });
                    self.send(key, &goodbye, MessageClass::Control);
                }
                State::AwaitingHello => {
                    s.state = State::Closed;
                    s.outbox.close();
                }
                State::Closing | State::Closed => {}
            }
        }
    }

    /// Handles a message from another shard (or from this shard to itself).
    pub fn on_shard_msg(&mut self, message: ShardMsg, sink: &mut dyn Sink) {
        match message {
            ShardMsg::SubJoin { realm, topic, policy, serializer, from, token } => {
                self.home_sub_join(realm, topic, policy, serializer, from, token, sink)
            }
            ShardMsg::SubLeave { realm, topic, policy, serializer, from } => {
                self.home_sub_leave(realm, topic, policy, serializer, from, sink)
            }
            ShardMsg::SubApply { realm, subscription, topic, policy, presence, ack } => {
                self.apply_sub(realm, subscription, topic, policy, presence, ack, sink)
            }
            ShardMsg::Applied { token, id } => self.on_applied(token, id, sink),
            ShardMsg::RegJoin { realm, procedure, policy, from, session, token } => {
                self.home_reg_join(realm, procedure, policy, from, session, token, sink)
            }
            ShardMsg::RegLeave { realm, procedure, policy, registration, from, session } => {
                self.home_reg_leave(realm, procedure, policy, registration, from, session, sink)
            }
            ShardMsg::RegApply { realm, registration, procedure, policy, callees, ack } => {
                self.apply_reg(realm, registration, procedure, policy, callees, ack, sink)
            }
            ShardMsg::RegRefused { token, error } => self.on_reg_refused(token, error),
            ShardMsg::Event { realm, exclude, events } => {
                for e in &events {
                    self.deliver_local(realm, e.subscription, e.serializer, &e.bytes, exclude);
                }
            }
            ShardMsg::Invoke { realm, registration, callee, caller_shard, caller, call_request, details, payload } => {
                let inv = dealer::Invoke {
                    realm,
                    registration,
                    callee,
                    caller_shard,
                    caller,
                    call_request,
                    details,
                    payload,
                };
                self.on_invoke(inv, sink)
            }
            ShardMsg::CallDone { caller, call_request, outcome } => self.on_call_done(caller, call_request, outcome),
            ShardMsg::Adopt { .. } | ShardMsg::Shutdown => {}
        }
    }

    fn on_hello(&mut self, key: ConnKey, message: Message, sink: &mut dyn Sink) {
        let Message::Hello(hello) = message else {
            let what = format!("{} before HELLO", message.name());
            return self.protocol_violation(key, &what, sink);
        };
        let Some(realm) = self.realms.find(&hello.realm) else {
            return self.abort(key, ErrorUri::NoSuchRealm, "no such realm");
        };
        if !session::hello_has_roles(&hello.details) {
            return self.protocol_violation(key, "HELLO announces no client role", sink);
        }
        let mut id = random_global_id();
        while self.by_id.contains_key(&id) {
            id = random_global_id();
        }
        let authid = match hello.details.get_str("authid") {
            Some(a) => a.to_owned(),
            None => format!("anonymous-{id}"),
        };
        let details = session::welcome_details(&authid, "anonymous");
        let Some(s) = self.sessions.get_mut(key.0) else { return };
        s.state = State::Established;
        s.id = id;
        s.realm = realm;
        s.authid = authid;
        s.authrole = "anonymous".into();
        self.by_id.insert(id, key);
        self.send(key, &Message::Welcome(msg::Welcome { session: id, details }), MessageClass::Control);
    }

    fn on_established(&mut self, key: ConnKey, message: Message, sink: &mut dyn Sink) {
        match message {
            Message::Publish(m) => self.on_publish(key, m, sink),
            Message::Subscribe(m) => self.on_subscribe(key, m, sink),
            Message::Unsubscribe(m) => self.on_unsubscribe(key, m, sink),
            Message::Call(m) => self.on_call(key, m, sink),
            Message::Register(m) => self.on_register(key, m, sink),
            Message::Unregister(m) => self.on_unregister(key, m, sink),
            Message::Yield(m) => self.on_yield(key, m, sink),
            Message::Error(m) if m.request_type == code::INVOCATION => self.on_invocation_error(key, m, sink),
            Message::Error(m) => {
                let what = format!("ERROR for request type {}", m.request_type);
                self.protocol_violation(key, &what, sink)
            }
            Message::Goodbye(_) => self.on_goodbye(key, sink),
            Message::Abort(_) => self.close_quietly(key, sink),
            Message::Cancel(_) => {
                tracing::debug!("CANCEL ignored: call canceling is not announced");
            }
            other => {
                let what = format!("unexpected {} in an established session", other.name());
                self.protocol_violation(key, &what, sink)
            }
        }
    }

    fn on_goodbye(&mut self, key: ConnKey, sink: &mut dyn Sink) {
        let Some(state) = self.sessions.get(key.0).map(|s| s.state) else { return };
        if state == State::Established {
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
            s.state = State::Closed;
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
            s.state = State::Closed;
            s.outbox.close();
        }
    }

    /// ABORT `wamp.error.protocol_violation`: the session loses everything and is closed.
    pub fn protocol_violation(&mut self, key: ConnKey, what: &str, sink: &mut dyn Sink) {
        self.stats.protocol_violations += 1;
        if let Some(s) = self.sessions.get(key.0) {
            tracing::info!(peer = %s.conn.peer, session = %s.id, "protocol violation: {what}");
        }
        self.leave(key, sink);
        self.abort(key, ErrorUri::ProtocolViolation, what);
    }

    /// The session leaves its realm: its subscriptions and registrations go on every shard, and
    /// callers waiting on it get `canceled`. Idempotent.
    fn leave(&mut self, key: ConnKey, sink: &mut dyn Sink) {
        let Some(s) = self.sessions.get_mut(key.0) else { return };
        if !s.is_established() {
            return;
        }
        s.state = State::Closed;
        let id = s.id;
        let realm = s.realm;
        let ser = s.conn.serializer;
        let subs: Vec<Id> = s.subscriptions.drain().collect();
        let regs: Vec<(Id, (Arc<str>, MatchPolicy))> = s.registrations.drain().collect();
        let invocations: Vec<_> = s.invocations.drain().map(|(_, p)| p).collect();
        self.by_id.remove(&id);
        for sub in subs {
            self.remove_local_subscriber(realm, sub, ser, key, sink);
        }
        for (reg, (procedure, policy)) in regs {
            let home = home_shard(realm, &procedure, policy, self.shards);
            let leave =
                ShardMsg::RegLeave { realm, procedure, policy, registration: reg, from: self.shard, session: id };
            sink.to_shard(home, leave);
        }
        for p in invocations {
            let outcome = CallOutcome::router_error(ErrorUri::Canceled);
            self.send_call_done(p.caller_shard, p.caller, p.call_request, outcome, sink);
        }
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

    /// A fresh token for a change that waits for acknowledgments.
    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn on_applied(&mut self, token: u64, id: Id, sink: &mut dyn Sink) {
        match self.pending.get(&token) {
            Some(Pending::Sub(_)) => self.on_sub_applied(token, id, sink),
            Some(Pending::Reg(_)) => self.on_reg_applied(token, id, sink),
            None => tracing::warn!(token, "acknowledgment for an unknown change"),
        }
    }

    /// The realm's URI check mode.
    fn uri_check(&self, realm: RealmIdx) -> crate::wamp::UriCheck {
        self.realms.get(realm).map(|r| r.uri_check).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
