//! Routed RPC on one shard: REGISTER / UNREGISTER / CALL / YIELD / ERROR, INVOCATION delivery,
//! and the registration half of the realm-wide agreement.
//!
//! Owns: per realm, this shard's replica of every registration (matched for each CALL) and the
//! authoritative state of registrations homed here. Never: I/O.
//!
//! A CALL is matched on the caller's shard and travels to the callee's shard as a
//! [`ShardMsg::Invoke`]; the callee's shard numbers the INVOCATION (sequential per callee) and
//! remembers it in the callee's session; the YIELD or ERROR travels back as a
//! [`ShardMsg::CallDone`].

use std::collections::HashMap;
use std::sync::Arc;

use super::broker::match_option;
use super::trie::UriTrie;
use super::{home_shard, CallOutcome, Callee, ConnKey, Pending, RealmIdx, Router, ShardId, ShardMsg, Sink};
use crate::codec::{self, Payload};
use crate::session::{MessageClass, PendingInvocation};
use crate::wamp::message::{self as msg, code};
use crate::wamp::uri::{is_reserved, is_valid_pattern, is_valid_uri};
use crate::wamp::{Dict, ErrorUri, Id, MatchPolicy, Message};

/// One registration as every shard's replica knows it.
#[derive(Clone, Debug)]
pub(super) struct ReplicaReg {
    id: Id,
    /// Callees in registration order; with the `single` policy there is exactly one.
    callees: Arc<[Callee]>,
}

/// A registration homed on this shard.
#[derive(Debug)]
struct HomeReg {
    id: Id,
    callees: Vec<Callee>,
}

/// A CALL on its way to a callee.
#[derive(Debug)]
pub(super) struct Invoke {
    pub(super) realm: RealmIdx,
    pub(super) registration: Id,
    pub(super) callee: Id,
    pub(super) caller_shard: ShardId,
    pub(super) caller: Id,
    pub(super) call_request: Id,
    pub(super) details: Dict,
    pub(super) payload: Payload,
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
    /// Acknowledgments still expected.
    acks: usize,
    /// The registration id, known from the first acknowledgment.
    id: Option<Id>,
    /// Calls that reached the callee before its REGISTERED went out; delivered right after it.
    queued: Vec<Invoke>,
}

/// The dealer state of one realm on one shard.
#[derive(Debug, Default)]
pub(super) struct DealerRealm {
    /// (procedure, policy) -> registration: the replica matched for every CALL.
    pub(super) replica: UriTrie<ReplicaReg>,
    /// (procedure, policy) -> authoritative state, for registrations homed on this shard.
    home: HashMap<(Arc<str>, MatchPolicy), HomeReg>,
}

impl Router {
    pub(super) fn on_register(&mut self, key: ConnKey, m: msg::Register, sink: &mut dyn Sink) {
        let Some(s) = self.sessions.get(key.0) else { return };
        let (realm, session) = (s.realm, s.id);
        let Some(policy) = match_option(&m.options) else {
            let e = ErrorUri::InvalidArgument;
            return self.send_error(key, code::REGISTER, m.request, e, "unknown match policy");
        };
        if m.options.get_str("invoke").is_some_and(|p| p != "single") {
            let e = ErrorUri::InvalidArgument;
            return self.send_error(
                key,
                code::REGISTER,
                m.request,
                e,
                "only the 'single' invocation policy is supported",
            );
        }
        if !is_valid_pattern(&m.procedure, policy, self.uri_check(realm)) || is_reserved(&m.procedure) {
            let e = ErrorUri::InvalidUri;
            return self.send_error(key, code::REGISTER, m.request, e, "invalid procedure URI");
        }
        let procedure: Arc<str> = Arc::from(m.procedure);
        let token = self.token();
        let pending = PendingReg {
            key,
            session,
            request: m.request,
            realm,
            procedure: procedure.clone(),
            policy,
            acks: self.shards,
            id: None,
            queued: Vec::new(),
        };
        self.pending.insert(token, Pending::Reg(pending));
        let home = home_shard(realm, &procedure, policy, self.shards);
        sink.to_shard(home, ShardMsg::RegJoin { realm, procedure, policy, from: self.shard, session, token });
    }

    pub(super) fn on_unregister(&mut self, key: ConnKey, m: msg::Unregister, sink: &mut dyn Sink) {
        let Some(s) = self.sessions.get_mut(key.0) else { return };
        let (realm, session) = (s.realm, s.id);
        let Some((procedure, policy)) = s.registrations.remove(&m.registration) else {
            let e = ErrorUri::NoSuchRegistration;
            return self.send_error(key, code::UNREGISTER, m.request, e, "not registered");
        };
        let home = home_shard(realm, &procedure, policy, self.shards);
        let leave =
            ShardMsg::RegLeave { realm, procedure, policy, registration: m.registration, from: self.shard, session };
        sink.to_shard(home, leave);
        let reply = Message::Unregistered(msg::Unregistered { request: m.request, details: None });
        self.send(key, &reply, MessageClass::Control);
    }

    pub(super) fn on_call(&mut self, key: ConnKey, m: msg::Call, sink: &mut dyn Sink) {
        let Some(s) = self.sessions.get(key.0) else { return };
        let (realm, caller) = (s.realm, s.id);
        if !is_valid_uri(&m.procedure, self.uri_check(realm)) {
            let e = ErrorUri::InvalidUri;
            return self.send_error(key, code::CALL, m.request, e, "invalid procedure URI");
        }
        let found = self.dealer.get(realm).and_then(|d| d.replica.best_match(&m.procedure));
        let Some((reg, policy)) = found else {
            let e = ErrorUri::NoSuchProcedure;
            return self.send_error(key, code::CALL, m.request, e, "no callee registered the procedure");
        };
        let Some(callee) = reg.callees.first().copied() else {
            let e = ErrorUri::NoSuchProcedure;
            return self.send_error(key, code::CALL, m.request, e, "no callee registered the procedure");
        };
        let details = match policy {
            MatchPolicy::Exact => Dict::new(),
            _ => Dict::new().with("procedure", m.procedure.as_str()),
        };
        let inv = Invoke {
            realm,
            registration: reg.id,
            callee: callee.session,
            caller_shard: self.shard,
            caller,
            call_request: m.request,
            details,
            payload: m.payload,
        };
        if callee.shard == self.shard {
            self.on_invoke(inv, sink);
        } else {
            let Invoke { realm, registration, callee: callee_id, caller_shard, caller, call_request, details, payload } =
                inv;
            let msg = ShardMsg::Invoke {
                realm,
                registration,
                callee: callee_id,
                caller_shard,
                caller,
                call_request,
                details,
                payload,
            };
            sink.to_shard(callee.shard, msg);
        }
    }

    /// The callee's shard: turn a routed CALL into an INVOCATION.
    pub(super) fn on_invoke(&mut self, inv: Invoke, sink: &mut dyn Sink) {
        let key = self.by_id.get(&inv.callee).copied();
        let registered =
            key.and_then(|k| self.sessions.get(k.0)).is_some_and(|s| s.registrations.contains_key(&inv.registration));
        let (Some(key), true) = (key, registered) else {
            let waiting = self.pending.values_mut().find_map(|p| match p {
                Pending::Reg(r) if r.session == inv.callee && r.id == Some(inv.registration) => Some(r),
                _ => None,
            });
            match waiting {
                Some(r) => r.queued.push(inv),
                None => {
                    let outcome = CallOutcome::router_error(ErrorUri::NoSuchProcedure);
                    self.send_call_done(inv.caller_shard, inv.caller, inv.call_request, outcome, sink);
                }
            }
            return;
        };
        let Some(s) = self.sessions.get_mut(key.0) else { return };
        let request = s.invocation_ids.next_id();
        let invocation = Message::Invocation(msg::Invocation {
            request,
            registration: inv.registration,
            details: inv.details,
            payload: inv.payload,
        });
        match codec::encode(s.conn.serializer, &invocation) {
            Ok(bytes) if bytes.len() <= s.conn.max_outgoing => {
                let pending = PendingInvocation {
                    caller_shard: inv.caller_shard,
                    caller: inv.caller,
                    call_request: inv.call_request,
                };
                s.invocations.insert(request, pending);
                s.outbox.push(bytes, MessageClass::Control);
            }
            other => {
                let error = match other {
                    Ok(_) => ErrorUri::PayloadSizeExceeded,
                    Err(_) => ErrorUri::InvalidArgument,
                };
                self.stats.encode_failures += 1;
                let outcome = CallOutcome::router_error(error);
                self.send_call_done(inv.caller_shard, inv.caller, inv.call_request, outcome, sink);
            }
        }
    }

    pub(super) fn on_yield(&mut self, key: ConnKey, m: msg::Yield, sink: &mut dyn Sink) {
        let Some(s) = self.sessions.get_mut(key.0) else { return };
        let Some(p) = s.invocations.remove(&m.request) else {
            return self.protocol_violation(key, "YIELD for an unknown invocation", sink);
        };
        let outcome = CallOutcome::Result { details: Dict::new(), payload: m.payload };
        self.send_call_done(p.caller_shard, p.caller, p.call_request, outcome, sink);
    }

    pub(super) fn on_invocation_error(&mut self, key: ConnKey, m: msg::Error, sink: &mut dyn Sink) {
        let Some(s) = self.sessions.get_mut(key.0) else { return };
        let Some(p) = s.invocations.remove(&m.request) else {
            tracing::debug!(request = %m.request, "ERROR for an unknown invocation ignored");
            return;
        };
        let outcome = CallOutcome::Error { details: m.details, error: Arc::from(m.error), payload: m.payload };
        self.send_call_done(p.caller_shard, p.caller, p.call_request, outcome, sink);
    }

    /// Sends a call's outcome to the caller's shard (or handles it here).
    pub(super) fn send_call_done(
        &mut self,
        caller_shard: ShardId,
        caller: Id,
        call_request: Id,
        outcome: CallOutcome,
        sink: &mut dyn Sink,
    ) {
        if caller_shard == self.shard {
            self.on_call_done(caller, call_request, outcome);
        } else {
            sink.to_shard(caller_shard, ShardMsg::CallDone { caller, call_request, outcome });
        }
    }

    /// The caller's shard: RESULT or ERROR to the caller, if it is still there.
    pub(super) fn on_call_done(&mut self, caller: Id, call_request: Id, outcome: CallOutcome) {
        let Some(&key) = self.by_id.get(&caller) else { return };
        let Some(s) = self.sessions.get(key.0) else { return };
        let message = match outcome {
            CallOutcome::Result { details, payload } => {
                Message::Result(msg::CallResult { request: call_request, details, payload })
            }
            CallOutcome::Error { details, error, payload } => Message::Error(msg::Error {
                request_type: code::CALL,
                request: call_request,
                details,
                error: error.to_string(),
                payload,
            }),
        };
        match codec::encode(s.conn.serializer, &message) {
            Ok(bytes) if bytes.len() <= s.conn.max_outgoing => {
                s.outbox.push(bytes, MessageClass::Control);
            }
            _ => {
                self.stats.encode_failures += 1;
                let e = ErrorUri::PayloadSizeExceeded;
                self.send_error(key, code::CALL, call_request, e, "the result cannot be delivered");
            }
        }
    }

    /// Home shard: a session asks to register.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn home_reg_join(
        &mut self,
        realm: RealmIdx,
        procedure: Arc<str>,
        policy: MatchPolicy,
        from: ShardId,
        session: Id,
        token: u64,
        sink: &mut dyn Sink,
    ) {
        let ids = &mut self.ids;
        let Some(d) = self.dealer.get_mut(realm) else { return };
        let k = (procedure.clone(), policy);
        if d.home.get(&k).is_some_and(|r| !r.callees.is_empty()) {
            sink.to_shard(from, ShardMsg::RegRefused { token, error: ErrorUri::ProcedureAlreadyExists });
            return;
        }
        let id = ids.next_id();
        let callees = vec![Callee { shard: from, session }];
        let shared: Arc<[Callee]> = Arc::from(callees.as_slice());
        d.home.insert(k, HomeReg { id, callees });
        self.broadcast_reg(realm, id, &procedure, policy, &shared, Some((from, token)), sink);
    }

    /// Home shard: a callee no longer serves a registration.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn home_reg_leave(
        &mut self,
        realm: RealmIdx,
        procedure: Arc<str>,
        policy: MatchPolicy,
        registration: Id,
        from: ShardId,
        session: Id,
        sink: &mut dyn Sink,
    ) {
        let Some(d) = self.dealer.get_mut(realm) else { return };
        let k = (procedure.clone(), policy);
        let Some(r) = d.home.get_mut(&k).filter(|r| r.id == registration) else { return };
        r.callees.retain(|c| !(c.shard == from && c.session == session));
        let shared: Arc<[Callee]> = Arc::from(r.callees.as_slice());
        if shared.is_empty() {
            d.home.remove(&k);
        }
        self.broadcast_reg(realm, registration, &procedure, policy, &shared, None, sink);
    }

    #[allow(clippy::too_many_arguments)]
    fn broadcast_reg(
        &self,
        realm: RealmIdx,
        registration: Id,
        procedure: &Arc<str>,
        policy: MatchPolicy,
        callees: &Arc<[Callee]>,
        ack: Option<(ShardId, u64)>,
        sink: &mut dyn Sink,
    ) {
        for shard in 0..self.shards {
            let apply = ShardMsg::RegApply {
                realm,
                registration,
                procedure: procedure.clone(),
                policy,
                callees: callees.clone(),
                ack,
            };
            sink.to_shard(shard, apply);
        }
    }

    /// Every shard: the home shard changed a registration's callees.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_reg(
        &mut self,
        realm: RealmIdx,
        id: Id,
        procedure: Arc<str>,
        policy: MatchPolicy,
        callees: Arc<[Callee]>,
        ack: Option<(ShardId, u64)>,
        sink: &mut dyn Sink,
    ) {
        if let Some(d) = self.dealer.get_mut(realm) {
            if callees.is_empty() {
                d.replica.remove(&procedure, policy);
            } else {
                d.replica.insert(&procedure, policy, ReplicaReg { id, callees });
            }
        }
        if let Some((shard, token)) = ack {
            sink.to_shard(shard, ShardMsg::Applied { token, id });
        }
    }

    /// The callee's shard: one more shard applied a registration; after the last, REGISTERED.
    pub(super) fn on_reg_applied(&mut self, token: u64, id: Id, sink: &mut dyn Sink) {
        let Some(Pending::Reg(p)) = self.pending.get_mut(&token) else { return };
        p.acks = p.acks.saturating_sub(1);
        p.id = Some(id);
        if p.acks > 0 {
            return;
        }
        let Some(Pending::Reg(p)) = self.pending.remove(&token) else { return };
        let alive = self
            .sessions
            .get_mut(p.key.0)
            .filter(|s| s.id == p.session && s.is_established() && s.state != crate::session::State::Closed);
        match alive {
            Some(s) => {
                s.registrations.insert(id, (p.procedure, p.policy));
                let reply = Message::Registered(msg::Registered { request: p.request, registration: id });
                self.send(p.key, &reply, MessageClass::Control);
                for inv in p.queued {
                    self.on_invoke(inv, sink);
                }
            }
            None => {
                let home = home_shard(p.realm, &p.procedure, p.policy, self.shards);
                let leave = ShardMsg::RegLeave {
                    realm: p.realm,
                    procedure: p.procedure,
                    policy: p.policy,
                    registration: id,
                    from: self.shard,
                    session: p.session,
                };
                sink.to_shard(home, leave);
                for inv in p.queued {
                    let outcome = CallOutcome::router_error(ErrorUri::Canceled);
                    self.send_call_done(inv.caller_shard, inv.caller, inv.call_request, outcome, sink);
                }
            }
        }
    }

    /// The callee's shard: the home shard refused a registration.
    pub(super) fn on_reg_refused(&mut self, token: u64, error: ErrorUri) {
        let Some(Pending::Reg(p)) = self.pending.remove(&token) else { return };
        let alive = self.sessions.get(p.key.0).is_some_and(|s| s.id == p.session && s.is_established());
        if alive {
            self.send_error(p.key, code::REGISTER, p.request, error, "procedure already registered");
        }
    }
}
