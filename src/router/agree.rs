//! The realm-wide agreement on subscriptions and registrations, written once for both.
//!
//! Owns: [`Agreement`]: the authoritative state of the subscriptions and registrations homed on
//! this shard, the router-scope ids it hands out, and the requests this shard waits on until
//! every shard has acknowledged them. Never: what a subscription or registration means to the
//! broker or dealer; it calls them to update their replicas and to finish a request.
//!
//! A request travels in three steps (see `shard_msg.rs`): [`ShardMsg::Change`] to the home shard
//! of (realm, URI, policy), which applies it to its authoritative state (or refuses it) and
//! broadcasts [`ShardMsg::Apply`] to every shard; each shard updates its replica and answers the
//! asking shard with `Applied`; after all of them, the waiting request completes. Waiting for
//! every shard is the generic gather step of `gather.rs`.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::gather::Gathers;
use super::meta::MetaEvent;
use super::shard_msg::{Apply, Cause, Change, Op, Replica, ReplicaEntry};
use super::{broker, dealer, home_shard, Router, ShardMsg, Sink, Token};
use crate::realm::RealmIdx;
use crate::session::{CalleeRef, ShardId};
use crate::wamp::id::RouterScopeIds;
use crate::wamp::options::InvokePolicy;
use crate::wamp::{ErrorUri, Id, MatchPolicy};

/// Which table a URI lives in: a topic and a procedure may have the same URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Table {
    Subscriptions,
    Registrations,
}

/// (realm, table, URI, policy): one subscription or registration, realm-wide.
type HomeKey = (RealmIdx, Table, Arc<str>, MatchPolicy);

/// The authoritative state of one subscription or registration on its home shard.
#[derive(Debug)]
struct HomeEntry {
    id: Id,
    /// When the first change created it (wall clock), for the meta API.
    created: SystemTime,
    state: HomeState,
}

#[derive(Debug)]
enum HomeState {
    /// Per shard, a bit per serializer index.
    Subscription(Vec<u8>),
    /// The callees in registration order, and the policy the first one fixed.
    Registration { invoke: InvokePolicy, callees: Vec<CalleeRef> },
}

impl HomeState {
    fn replica(&self) -> Replica {
        match self {
            HomeState::Subscription(p) => Replica::Subscription { presence: Arc::from(p.as_slice()) },
            HomeState::Registration { invoke, callees } => {
                Replica::Registration { invoke: *invoke, callees: Arc::from(callees.as_slice()) }
            }
        }
    }
}

/// What a shard waits for until every shard applied a change.
#[derive(Debug)]
pub(super) enum Waiting {
    /// SUBSCRIBEs waiting for their subscription.
    Sub(broker::PendingSub),
    /// A REGISTER waiting for its registration.
    Reg(dealer::PendingReg),
}

/// A change this shard waits on.
#[derive(Debug)]
pub(super) struct Pending {
    /// The change created the subscription or registration (meta `on_create` is due).
    pub(super) created: bool,
    /// The id assigned by the home shard, known from the first acknowledgment.
    pub(super) id: Option<Id>,
    /// What completes when the last acknowledgment arrives.
    pub(super) waiting: Waiting,
}

/// What a change did, as the home shard broadcasts it.
#[derive(Debug)]
struct Applied {
    id: Id,
    created: SystemTime,
    /// This change created the entry.
    fresh: bool,
    state: Replica,
}

/// This shard's part in the agreement.
#[derive(Debug)]
pub(super) struct Agreement {
    /// How many acknowledgments a change needs.
    shards: usize,
    /// State of the subscriptions and registrations homed here.
    home: HashMap<HomeKey, HomeEntry>,
    /// Changes waiting for an acknowledgment from every shard.
    pending: Gathers<Pending>,
    /// Router-scope ids (subscriptions, registrations) homed on this shard.
    ids: RouterScopeIds,
}

impl Agreement {
    pub(super) fn new(shard: ShardId, shards: usize) -> Agreement {
        Agreement { shards, home: HashMap::new(), pending: Gathers::default(), ids: RouterScopeIds::new(shard, shards) }
    }

    /// A request waiting under `token`.
    pub(super) fn pending_mut(&mut self, token: Token) -> Option<&mut Pending> {
        self.pending.get_mut(token)
    }

    /// Every request waiting.
    pub(super) fn pending_iter_mut(&mut self) -> impl Iterator<Item = &mut Pending> {
        self.pending.values_mut()
    }

    pub(super) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub(super) fn home_len(&self) -> usize {
        self.home.len()
    }

    /// Applies `change`, made at wall-clock time `now`, to the authoritative state: what to
    /// broadcast, nothing if the change does not apply (a stale leave), or the error refusing it.
    fn change(&mut self, c: &Change, now: SystemTime) -> Result<Option<Applied>, ErrorUri> {
        let table = match c.op {
            Op::Subscribe { .. } | Op::Unsubscribe { .. } => Table::Subscriptions,
            Op::Register(..) | Op::Unregister { .. } => Table::Registrations,
        };
        let key: HomeKey = (c.realm, table, c.uri.clone(), c.policy);
        let (ids, shards) = (&mut self.ids, self.shards);
        let mut fresh = false;
        let entry = match c.op {
            Op::Subscribe { serializer: ser, .. } => {
                let entry = self.home.entry(key.clone()).or_insert_with(|| {
                    fresh = true;
                    HomeEntry { id: ids.next_id(), created: now, state: HomeState::Subscription(vec![0; shards]) }
                });
                if let HomeState::Subscription(p) = &mut entry.state {
                    if let Some(bits) = p.get_mut(c.from) {
                        *bits |= 1 << ser.index();
                    }
                }
                entry
            }
            Op::Unsubscribe { serializer: ser, .. } => {
                let Some(entry) = self.home.get_mut(&key) else { return Ok(None) };
                if let HomeState::Subscription(p) = &mut entry.state {
                    if let Some(bits) = p.get_mut(c.from) {
                        *bits &= !(1 << ser.index());
                    }
                }
                entry
            }
            Op::Register(callee, invoke) => match self.home.entry(key.clone()) {
                Entry::Occupied(o) => {
                    let entry = o.into_mut();
                    if let HomeState::Registration { invoke: fixed, callees } = &mut entry.state {
                        let taken = *fixed == InvokePolicy::Single || *fixed != invoke;
                        if taken || callees.iter().any(|x| x.session == callee.session) {
                            return Err(ErrorUri::ProcedureAlreadyExists);
                        }
                        callees.push(callee);
                    }
                    entry
                }
                Entry::Vacant(v) => {
                    fresh = true;
                    v.insert(HomeEntry {
                        id: ids.next_id(),
                        created: now,
                        state: HomeState::Registration { invoke, callees: vec![callee] },
                    })
                }
            },
            Op::Unregister { registration, session } => {
                let Some(entry) = self.home.get_mut(&key).filter(|e| e.id == registration) else { return Ok(None) };
                if let HomeState::Registration { callees, .. } = &mut entry.state {
                    callees.retain(|x| !(x.shard == c.from && x.session == session));
                }
                entry
            }
        };
        let applied = Applied { id: entry.id, created: entry.created, fresh, state: entry.state.replica() };
        if applied.state.is_empty() {
            self.home.remove(&key);
        }
        Ok(Some(applied))
    }
}

impl Router {
    /// Asks the home shard of (realm, uri, policy) for `op`; with `waiting`, that request
    /// completes once every shard applied the change.
    pub(super) fn request_change(
        &mut self,
        realm: RealmIdx,
        uri: Arc<str>,
        policy: MatchPolicy,
        op: Op,
        waiting: Option<Waiting>,
        sink: &mut dyn Sink,
    ) -> Option<Token> {
        let shards = self.shards;
        let token =
            waiting.map(|waiting| self.agree.pending.start(shards, Pending { created: false, id: None, waiting }));
        let home = home_shard(realm, &uri, policy, self.shards);
        let change = Change { realm, uri, policy, from: self.shard, token, op };
        sink.to_shard(home, ShardMsg::Change(change));
        token
    }

    /// Home shard: apply a change and tell every shard, or refuse it.
    pub(super) fn on_change(&mut self, c: Change, sink: &mut dyn Sink) {
        let now = self.wall_now();
        match self.agree.change(&c, now) {
            Ok(Some(a)) => {
                let ack = c.token.map(|t| (c.from, t));
                for shard in 0..self.shards {
                    let apply = Apply {
                        realm: c.realm,
                        id: a.id,
                        uri: c.uri.clone(),
                        policy: c.policy,
                        created: a.created,
                        state: a.state.clone(),
                        cause: Cause { shard: c.from, session: c.op.session(), created: a.fresh },
                        ack,
                    };
                    sink.to_shard(shard, ShardMsg::Apply(apply));
                }
            }
            Ok(None) => {}
            Err(error) => {
                if let Some(token) = c.token {
                    sink.to_shard(c.from, ShardMsg::Refused { token, error });
                }
            }
        }
    }

    /// Every shard: update the replica, then acknowledge. The shard that asked for the change
    /// also publishes the meta event of a deletion, and notes a creation for its request.
    pub(super) fn on_apply(&mut self, a: Apply, sink: &mut dyn Sink) {
        let deleted = a.state.is_empty();
        let origin = a.cause.shard == self.shard;
        let entry = ReplicaEntry { id: a.id, uri: a.uri.clone(), policy: a.policy, created: a.created };
        let deletion = match a.state {
            Replica::Subscription { presence } => {
                self.apply_subscription(a.realm, entry, presence);
                MetaEvent::SubscriptionDeleted
            }
            Replica::Registration { invoke, callees } => {
                self.apply_registration(a.realm, entry, invoke, callees);
                MetaEvent::RegistrationDeleted
            }
        };
        if let Some((shard, token)) = a.ack {
            if shard == self.shard && a.cause.created {
                if let Some(p) = self.agree.pending_mut(token) {
                    p.created = true;
                }
            }
            sink.to_shard(shard, ShardMsg::Applied { token, id: a.id });
        }
        if origin && deleted {
            self.announce_change(a.realm, deletion, a.cause.session, a.id, &a.uri, sink);
        }
    }

    /// The asking shard: one more shard applied a change; after the last, the request completes.
    pub(super) fn on_applied(&mut self, token: Token, id: Id, sink: &mut dyn Sink) {
        let Some(p) = self.agree.pending.get_mut(token) else {
            tracing::warn!(?token, "acknowledgment for an unknown change");
            return;
        };
        p.id = Some(id);
        let Some(p) = self.agree.pending.reply(token) else { return };
        match p.waiting {
            Waiting::Sub(w) => self.on_subscribed(id, w, p.created, sink),
            Waiting::Reg(w) => self.on_registered(id, w, p.created, sink),
        }
    }

    /// The asking shard: the home shard refused the change.
    pub(super) fn on_refused(&mut self, token: Token, error: ErrorUri, sink: &mut dyn Sink) {
        let Some(p) = self.agree.pending.remove(token) else { return };
        match p.waiting {
            Waiting::Reg(w) => self.on_register_refused(w, error, sink),
            Waiting::Sub(_) => tracing::warn!(?token, "a subscription cannot be refused"),
        }
    }
}
