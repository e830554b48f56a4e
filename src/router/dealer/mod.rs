//! Routed RPC on one shard: registrations (REGISTER / UNREGISTER and the dealer's side of the
//! realm-wide agreement), the choice of a callee, and the two halves of a call: the caller's
//! shard (`call.rs`) and the callee's shard (`invocation.rs`).
//!
//! Owns: per realm, this shard's replica of every registration (matched for each CALL) and its
//! round-robin cursors. Never: I/O; the home-shard state lives in the generic agreement
//! (`agree.rs`), which calls `apply_registration`, `on_registered` and
//! `on_register_refused` here.
//!
//! A CALL is matched on the caller's shard, which records it ([`OutCall`]) and sends an
//! [`Invoke`] to the callee's shard; that shard numbers the INVOCATION (sequential per callee)
//! and records it ([`InCall`]); YIELD and ERROR travel back as a `CallDone`. Shared
//! registrations: the caller's shard chooses the callee from its replica; round robin keeps one
//! cursor per registration per shard (see ARCHITECTURE.md for what that means across shards).
//!
//! [`OutCall`]: crate::session::OutCall
//! [`InCall`]: crate::session::InCall

mod call;
mod invocation;
mod own_call;

pub(super) use own_call::OwnCall;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use rand::rngs::StdRng;
use rand::RngExt;

use super::agree::Waiting;
use super::meta::MetaEvent;
use super::shard_msg::{CallDone, CallOutcome, Invoke, Op, ReplicaEntry};
use super::{ConnKey, Router, Sink};
use crate::config::Action;
use crate::realm::RealmIdx;
use crate::session::{CalleeRef, MessageClass};
use crate::wamp::message::{self as msg, code};
use crate::wamp::options::{InvokePolicy, RegisterOptions};
use crate::wamp::trie::UriTrie;
use crate::wamp::uri::{is_reserved, is_valid_pattern};
use crate::wamp::{ErrorUri, Id, MatchPolicy, Message};

/// One registration as every shard's replica knows it.
#[derive(Clone, Debug)]
pub(super) struct ReplicaReg {
    /// The registration id (router scope, assigned by the home shard).
    pub(super) id: Id,
    /// How a callee is chosen among `callees`.
    pub(super) invoke: InvokePolicy,
    /// Callees in registration order; with the `single` policy there is exactly one.
    pub(super) callees: Arc<[CalleeRef]>,
    /// When the registration was created (wall clock), for the meta API.
    pub(super) created: SystemTime,
}

/// Where round robin stands for one registration on this shard: the callee chosen last and its
/// position then, so that the next call goes to the one after it even if callees came or went.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    last: Id,
    index: usize,
}

/// A REGISTER waiting for every shard to apply it.
#[derive(Debug)]
pub(super) struct PendingReg {
    key: ConnKey,
    session: Id,
    request: Id,
    realm: RealmIdx,
    procedure: Arc<str>,
    policy: MatchPolicy,
    /// Calls that reached the callee before its REGISTERED went out; delivered right after it.
    queued: Vec<Invoke>,
}

/// The dealer state of one realm on one shard.
#[derive(Debug, Default)]
pub(super) struct DealerRealm {
    /// (procedure, policy) -> registration: the replica matched for every CALL.
    pub(super) replica: UriTrie<ReplicaReg>,
    /// registration id -> round-robin cursor, for shared registrations called from this shard.
    /// Bounded by the registrations in the replica: an entry goes with its registration.
    cursors: HashMap<Id, Cursor>,
    /// registration id -> (procedure, policy): finds a registration of the replica by id for the
    /// meta API. Same entries as `replica`.
    pub(super) by_id: HashMap<Id, (Arc<str>, MatchPolicy)>,
}

impl DealerRealm {
    /// The registration with this id, and its procedure and policy.
    pub(super) fn by_id(&self, id: Id) -> Option<(&ReplicaReg, &str, MatchPolicy)> {
        let (uri, policy) = self.by_id.get(&id)?;
        self.replica.get(uri, *policy).map(|r| (r, &**uri, *policy))
    }
}

impl Router {
    pub(super) fn on_register(&mut self, key: ConnKey, m: msg::Register, sink: &mut dyn Sink) {
        let Some(j) = self.sessions.get(key.0).and_then(|s| s.joined()) else { return };
        let (realm, session, features) = (j.realm, j.id, j.roles.features);
        let options = match RegisterOptions::decode(&m.options) {
            Ok(o) => o,
            Err(e) => {
                let e = e.to_string();
                return self.send_error(key, code::REGISTER, m.request, ErrorUri::InvalidArgument, &e);
            }
        };
        let policy = options.policy;
        if !is_valid_pattern(&m.procedure, policy, self.uri_check(realm)) || is_reserved(&m.procedure) {
            let e = ErrorUri::InvalidUri;
            return self.send_error(key, code::REGISTER, m.request, e, "invalid procedure URI");
        }
        if !self.may(key, &m.procedure, Action::Register) {
            let e = ErrorUri::NotAuthorized;
            return self.send_error(key, code::REGISTER, m.request, e, "the role may not register this procedure");
        }
        let procedure: Arc<str> = Arc::from(m.procedure);
        let callee = CalleeRef {
            shard: self.shard,
            session,
            features,
            disclose_caller: options.disclose_caller,
            forward_timeout: options.forward_timeout,
        };
        let pending = PendingReg {
            key,
            session,
            request: m.request,
            realm,
            procedure: procedure.clone(),
            policy,
            queued: Vec::new(),
        };
        let op = Op::Register(callee, options.invoke);
        self.request_change(realm, procedure, policy, op, Some(Waiting::Reg(pending)), sink);
    }

    pub(super) fn on_unregister(&mut self, key: ConnKey, m: msg::Unregister, sink: &mut dyn Sink) {
        let Some(j) = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()) else { return };
        let (realm, session) = (j.realm, j.id);
        let Some((procedure, policy)) = j.registrations.remove(&m.registration) else {
            let e = ErrorUri::NoSuchRegistration;
            return self.send_error(key, code::UNREGISTER, m.request, e, "not registered");
        };
        let reply = Message::Unregistered(msg::Unregistered { request: m.request, details: None });
        self.send(key, &reply, MessageClass::Control);
        self.leave_registration(realm, m.registration, procedure, policy, session, sink);
    }

    /// `session` no longer serves `registration`: `on_unregister`, then the home shard is told
    /// (which deletes the registration with its last callee: `on_delete` follows).
    pub(in super::super) fn leave_registration(
        &mut self,
        realm: RealmIdx,
        registration: Id,
        procedure: Arc<str>,
        policy: MatchPolicy,
        session: Id,
        sink: &mut dyn Sink,
    ) {
        self.announce_change(realm, MetaEvent::Unregistered, session, registration, &procedure, sink);
        let op = Op::Unregister { registration, session };
        self.request_change(realm, procedure, policy, op, None, sink);
    }

    /// Every shard: the home shard changed a registration's callees.
    pub(super) fn apply_registration(
        &mut self,
        realm: RealmIdx,
        e: ReplicaEntry,
        invoke: InvokePolicy,
        callees: Arc<[CalleeRef]>,
    ) {
        let Some(d) = self.dealer.get_mut(realm) else { return };
        if callees.is_empty() {
            d.replica.remove(&e.uri, e.policy);
            d.cursors.remove(&e.id);
            d.by_id.remove(&e.id);
        } else {
            d.replica.insert(&e.uri, e.policy, ReplicaReg { id: e.id, invoke, callees, created: e.created });
            d.by_id.insert(e.id, (e.uri, e.policy));
        }
    }

    /// The callee's shard: every shard applied a registration; REGISTERED and its meta events
    /// (`on_create` first if it created the registration), then the calls that arrived meanwhile.
    pub(super) fn on_registered(&mut self, id: Id, p: PendingReg, created: bool, sink: &mut dyn Sink) {
        let alive = self.sessions.get_mut(p.key.0).and_then(|s| s.joined_mut()).filter(|j| j.id == p.session);
        let registered = alive.is_some();
        if let Some(j) = alive {
            j.registrations.insert(id, (p.procedure.clone(), p.policy));
            let reply = Message::Registered(msg::Registered { request: p.request, registration: id });
            self.send(p.key, &reply, MessageClass::Control);
        }
        if created {
            self.announce_change(p.realm, MetaEvent::RegistrationCreated, p.session, id, &p.procedure, sink);
        }
        self.announce_change(p.realm, MetaEvent::Registered, p.session, id, &p.procedure, sink);
        match registered {
            true => {
                for inv in p.queued {
                    self.on_invoke(inv, sink);
                }
            }
            false => {
                self.leave_registration(p.realm, id, p.procedure, p.policy, p.session, sink);
                for inv in p.queued {
                    let outcome = CallOutcome::router_error(ErrorUri::Canceled, "the callee left");
                    let done =
                        CallDone { caller: inv.caller, call_request: inv.call_request, callee: inv.callee, outcome };
                    self.send_call_done(inv.caller_shard, done, sink);
                }
            }
        }
    }

    /// The callee's shard: the home shard refused a registration.
    pub(super) fn on_register_refused(&mut self, p: PendingReg, error: ErrorUri, _sink: &mut dyn Sink) {
        let alive = self.sessions.get(p.key.0).and_then(|s| s.id()) == Some(p.session);
        if alive {
            let message = "procedure already registered (with another invocation policy, or by this session)";
            self.send_error(p.key, code::REGISTER, p.request, error, message);
        }
    }
}

impl DealerRealm {
    /// The registration a CALL to `procedure` goes to, and the callee it goes to (by the call's
    /// partition key if it has one, else by the registration's policy), skipping the callees in
    /// `tried`. Chooses without cloning the replica entry: this runs for every CALL.
    fn route(&mut self, procedure: &str, rng: &mut StdRng, tried: &[Id], partition: Option<&str>) -> Option<Route> {
        let (reg, policy) = self.replica.best_match(procedure)?;
        let callee = match partition {
            Some(key) => by_partition(reg, key, tried)?,
            None => choose(reg, &mut self.cursors, rng, tried)?,
        };
        Some(Route { registration: reg.id, shared: reg.callees.len() > 1, policy, callee })
    }
}

/// Where a CALL goes: its registration and callee.
#[derive(Clone, Copy, Debug)]
pub(super) struct Route {
    registration: Id,
    /// The registration has several callees (a reroute may try another).
    shared: bool,
    /// How the registration matched the procedure.
    policy: MatchPolicy,
    /// The callee chosen.
    callee: CalleeRef,
}

/// The callee of `reg` that serves partition `key` (sharded registration), skipping those in
/// `tried`: rendezvous hashing, the callee with the highest weight for (key, callee). Every shard
/// picks the same callee from the same replica; a key moves only when its callee leaves (or
/// answers `unavailable`: the next highest takes it), and a new callee takes over only its share.
fn by_partition(reg: &ReplicaReg, key: &str, tried: &[Id]) -> Option<CalleeRef> {
    reg.callees.iter().filter(|c| !tried.contains(&c.session)).max_by_key(|c| partition_weight(key, c.session)).copied()
}

/// FNV-1a over the key and the callee's session id: a hash that is the same on every shard and
/// every host (a hasher with a per-process seed would not be), cheap for short keys.
fn partition_weight(key: &str, callee: Id) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let bytes = key.as_bytes().iter().copied().chain(callee.get().to_le_bytes());
    let h = bytes.fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    // FNV's low bits mix poorly for keys that differ only in their last bytes: finish with a
    // multiply-xorshift so every bit of the weight depends on every input byte.
    let h = (h ^ (h >> 32)).wrapping_mul(0xd6e8_feb8_6659_fd93);
    h ^ (h >> 32)
}

/// The callee for a call to `reg`, by the registration's policy, skipping those in `tried`.
fn choose(reg: &ReplicaReg, cursors: &mut HashMap<Id, Cursor>, rng: &mut StdRng, tried: &[Id]) -> Option<CalleeRef> {
    if let ([only], []) = (&*reg.callees, tried) {
        return Some(*only);
    }
    let untried = |c: &&CalleeRef| !tried.contains(&c.session);
    match reg.invoke {
        InvokePolicy::Single | InvokePolicy::First => reg.callees.iter().find(untried).copied(),
        InvokePolicy::Last => reg.callees.iter().rev().find(untried).copied(),
        InvokePolicy::Random => {
            let candidates: Vec<&CalleeRef> = reg.callees.iter().filter(untried).collect();
            if candidates.is_empty() {
                return None;
            }
            let at = rng.random_range(0..candidates.len());
            candidates.get(at).copied().copied()
        }
        InvokePolicy::RoundRobin => {
            let n = reg.callees.len();
            let start = match cursors.get(&reg.id) {
                Some(c) => match reg.callees.iter().position(|x| x.session == c.last) {
                    Some(p) => p + 1,
                    None => c.index,
                },
                None => 0,
            };
            let (index, callee) = (0..n)
                .map(|k| (start + k) % n)
                .filter_map(|i| reg.callees.get(i).map(|c| (i, c)))
                .find(|(_, c)| untried(c))?;
            cursors.insert(reg.id, Cursor { last: callee.session, index });
            Some(*callee)
        }
    }
}
