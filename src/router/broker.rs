//! Publish & subscribe on one shard: SUBSCRIBE / UNSUBSCRIBE / PUBLISH, EVENT fan-out, and the
//! broker's side of the realm-wide agreement.
//!
//! Owns: per realm, this shard's replica of every subscription (matched for each PUBLISH) and its
//! local subscribers. Never: I/O; the home-shard state lives in the generic agreement
//! (`agree.rs`), which calls `apply_subscription` and `on_subscribed` here.
//!
//! A subscription is present on a shard per serializer: the publishing shard encodes one EVENT per
//! (subscription, serializer) that has subscribers anywhere, delivers it to its own subscribers
//! and sends the same bytes once to every other shard that has subscribers using that serializer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::agree::Waiting;
use super::meta::MetaEvent;
use super::shard_msg::{Event, EventCopy, Op, ReplicaEntry};
use super::{ConnKey, Router, ShardMsg, Sink, Token};
use crate::auth::authorize::RolePermissions;
use crate::codec::{self, Payload, PayloadCodec, Serializer};
use crate::config::Action;
use crate::realm::RealmIdx;
use crate::session::{Joined, MessageClass, Pushed, Session};
use crate::wamp::id::random_global_id;
use crate::wamp::message::{self as msg, code};
use crate::wamp::options::{PublishOptions, SubscribeOptions, SubscriberFilter};
use crate::wamp::trie::UriTrie;
use crate::wamp::uri::{is_reserved, is_valid_pattern, is_valid_uri};
use crate::wamp::{Dict, ErrorUri, Id, MatchPolicy, Message};
use slab::Slab;

/// One subscription as every shard's replica knows it.
#[derive(Clone, Debug)]
pub(super) struct ReplicaSub {
    /// The subscription id (router scope, assigned by the home shard).
    pub(super) id: Id,
    /// Its match policy; pattern subscriptions get `topic` in EVENT.Details.
    policy: MatchPolicy,
    /// Per shard, a bit per serializer index: who must receive its events.
    presence: Arc<[u8]>,
    /// When the subscription was created (wall clock), for the meta API.
    pub(super) created: SystemTime,
}

/// A subscriber on this shard.
#[derive(Clone, Copy, Debug)]
struct Member {
    key: ConnKey,
    session: Id,
}

/// A subscription's subscribers on this shard.
#[derive(Debug)]
pub(super) struct LocalSub {
    /// The pattern, to find the home shard when the last subscriber of a serializer leaves.
    topic: Arc<str>,
    /// The match policy, same reason.
    policy: MatchPolicy,
    /// Per serializer index: the subscribers using it. An EVENT encoded for that serializer goes
    /// to each of them.
    members: [Vec<Member>; 3],
}

/// A subscriber waiting for its SUBSCRIBED.
#[derive(Clone, Copy, Debug)]
struct Waiter {
    key: ConnKey,
    session: Id,
    request: Id,
    /// The subscriber asked for the retained events (`get_retained`).
    get_retained: bool,
}

/// A join of this shard to a subscription (for one serializer), waiting for every shard.
#[derive(Debug)]
pub(super) struct PendingSub {
    realm: RealmIdx,
    topic: Arc<str>,
    policy: MatchPolicy,
    serializer: Serializer,
    /// Subscribers to answer once every shard applied the join (several if they asked meanwhile).
    waiters: Vec<Waiter>,
}

/// The broker state of one realm on one shard.
#[derive(Debug, Default)]
pub(super) struct BrokerRealm {
    /// (topic, policy) -> subscription: the replica matched for every PUBLISH.
    pub(super) replica: UriTrie<ReplicaSub>,
    /// subscription id -> this shard's subscribers.
    pub(super) local: HashMap<Id, LocalSub>,
    /// (topic, policy, serializer) -> token of the join in flight, so that concurrent
    /// subscribers wait for the same join.
    joining: HashMap<(Arc<str>, MatchPolicy, Serializer), Token>,
    /// subscription id -> (topic, policy): finds a subscription of the replica by id for the meta
    /// API. Same entries as `replica`.
    pub(super) by_id: HashMap<Id, (Arc<str>, MatchPolicy)>,
}

impl BrokerRealm {
    /// The subscription with this id, and its topic and policy.
    pub(super) fn by_id(&self, id: Id) -> Option<(&ReplicaSub, &str, MatchPolicy)> {
        let (uri, policy) = self.by_id.get(&id)?;
        self.replica.get(uri, *policy).map(|r| (r, &**uri, *policy))
    }

    /// The ids of this shard's subscribers of subscription `id`.
    pub(super) fn local_subscribers(&self, id: Id) -> impl Iterator<Item = Id> + '_ {
        self.local.get(&id).into_iter().flat_map(|l| l.members.iter().flatten().map(|m| m.session))
    }
}

/// One publication, as the broker routes it.
#[derive(Debug)]
pub struct Publication<'a> {
    /// The topic published to.
    pub topic: &'a str,
    /// Arguments and ArgumentsKw.
    pub payload: &'a Payload,
    /// The publishing session, which gets no event of its own publication (`exclude_me`).
    pub exclude_me: Option<Id>,
    /// The publication's black- and whitelists, if it has any.
    pub filter: Option<Arc<SubscriberFilter>>,
    /// EVENT.Details common to every subscription (the publisher, when disclosed).
    pub details: Dict,
}

/// Who of a shard's subscribers get a publication's events.
#[derive(Clone, Copy, Debug)]
pub(super) struct Recipients<'a> {
    /// The publisher, when it excluded itself.
    pub(super) exclude_me: Option<Id>,
    /// The black- and whitelists; `None` costs nothing per subscriber.
    pub(super) filter: Option<&'a SubscriberFilter>,
    /// The concrete topic, when the publication matched a pattern subscription: a subscriber
    /// whose role restricts it gets a pattern's event only if it may subscribe to that topic.
    pub(super) topic: Option<&'a str>,
}

/// EVENT.Details naming the publisher (`disclose_me`).
pub(super) fn publisher_details(j: &Joined) -> Dict {
    Dict::new()
        .with("publisher", j.id.get())
        .with("publisher_authid", &*j.identity.authid)
        .with("publisher_authrole", &*j.identity.authrole)
}

/// What became of an EVENT offered to one subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Offered {
    /// Queued, or not meant for it (excluded, filtered out, gone).
    Done,
    /// Dropped: the subscriber reads too slowly or takes smaller messages.
    Dropped,
}

/// Queues `bytes` for subscriber `m` if `to` admits it. Inlined: it is the per-delivery step.
#[inline(always)]
fn offer(sessions: &Slab<Box<Session>>, m: &Member, bytes: &bytes::Bytes, to: Recipients<'_>) -> Offered {
    if Some(m.session) == to.exclude_me {
        return Offered::Done;
    }
    let Some(s) = sessions.get(m.key.0) else { return Offered::Done };
    if let Some(f) = to.filter {
        if !s.joined().is_some_and(|j| f.admits(m.session, &j.identity.authid, &j.identity.authrole)) {
            return Offered::Done;
        }
    }
    if bytes.len() > s.conn.max_outgoing || s.outbox.push(bytes.clone(), MessageClass::Event) == Pushed::Dropped {
        Offered::Dropped
    } else {
        Offered::Done
    }
}

fn bit(ser: Serializer) -> u8 {
    1 << ser.index()
}

impl Router {
    pub(super) fn on_subscribe(&mut self, key: ConnKey, m: msg::Subscribe, sink: &mut dyn Sink) {
        let Some(s) = self.sessions.get(key.0) else { return };
        let Some(j) = s.joined() else { return };
        let (realm, session, ser) = (j.realm, j.id, s.conn.serializer);
        let (policy, get_retained) = match SubscribeOptions::decode(&m.options) {
            Ok(o) => (o.policy, o.get_retained),
            Err(e) => {
                return self.send_error(key, code::SUBSCRIBE, m.request, ErrorUri::InvalidArgument, &e.to_string())
            }
        };
        if !is_valid_pattern(&m.topic, policy, self.uri_check(realm)) {
            let e = ErrorUri::InvalidUri;
            return self.send_error(key, code::SUBSCRIBE, m.request, e, "invalid topic URI");
        }
        if !self.may(key, &m.topic, Action::Subscribe) {
            let e = ErrorUri::NotAuthorized;
            return self.send_error(key, code::SUBSCRIBE, m.request, e, "the role may not subscribe to this topic");
        }
        let topic: Arc<str> = Arc::from(m.topic);
        let Some(b) = self.broker.get_mut(realm) else { return };
        if let Some(id) = b.replica.get(&topic, policy).map(|r| r.id) {
            let joined = self.sessions.get(key.0).and_then(|s| s.joined());
            let already = joined.is_some_and(|j| j.subscriptions.contains(&id));
            let local = b.local.get_mut(&id).filter(|l| !l.members[ser.index()].is_empty());
            if already || local.is_some() {
                if let Some(l) = local.filter(|_| !already) {
                    l.members[ser.index()].push(Member { key, session });
                }
                if let Some(j) = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()) {
                    j.subscriptions.insert(id);
                }
                let reply = Message::Subscribed(msg::Subscribed { request: m.request, subscription: id });
                self.send(key, &reply, MessageClass::Control);
                if !already {
                    self.announce_change(realm, MetaEvent::Subscribed, session, id, &topic, sink);
                }
                if get_retained {
                    self.request_retained(key, id, topic, policy, sink);
                }
                return;
            }
        }
        let waiter = Waiter { key, session, request: m.request, get_retained };
        let join_key = (topic.clone(), policy, ser);
        if let Some(token) = b.joining.get(&join_key).copied() {
            if let Some(Waiting::Sub(p)) = self.agree.pending_mut(token).map(|p| &mut p.waiting) {
                p.waiters.push(waiter);
            }
            return;
        }
        let pending = PendingSub { realm, topic: topic.clone(), policy, serializer: ser, waiters: vec![waiter] };
        let waiting = Some(Waiting::Sub(pending));
        let token =
            self.request_change(realm, topic, policy, Op::Subscribe { serializer: ser, session }, waiting, sink);
        if let (Some(token), Some(b)) = (token, self.broker.get_mut(realm)) {
            b.joining.insert(join_key, token);
        }
    }

    pub(super) fn on_unsubscribe(&mut self, key: ConnKey, m: msg::Unsubscribe, sink: &mut dyn Sink) {
        let Some(s) = self.sessions.get_mut(key.0) else { return };
        let ser = s.conn.serializer;
        let Some(j) = s.joined_mut() else { return };
        let realm = j.realm;
        if !j.subscriptions.remove(&m.subscription) {
            let e = ErrorUri::NoSuchSubscription;
            return self.send_error(key, code::UNSUBSCRIBE, m.request, e, "not subscribed");
        }
        let session = j.id;
        let reply = Message::Unsubscribed(msg::Unsubscribed { request: m.request, details: None });
        self.send(key, &reply, MessageClass::Control);
        self.remove_local_subscriber(realm, m.subscription, ser, key, session, sink);
    }

    /// Removes one subscriber on this shard (`on_unsubscribe`); the last one of a serializer
    /// tells the home shard (which deletes the subscription when no shard is left: `on_delete`).
    pub(super) fn remove_local_subscriber(
        &mut self,
        realm: RealmIdx,
        sub: Id,
        ser: Serializer,
        key: ConnKey,
        session: Id,
        sink: &mut dyn Sink,
    ) {
        let Some(b) = self.broker.get_mut(realm) else { return };
        let Some(local) = b.local.get_mut(&sub) else { return };
        let members = &mut local.members[ser.index()];
        members.retain(|m| m.key != key);
        let last = members.is_empty();
        let (topic, policy) = (local.topic.clone(), local.policy);
        if local.members.iter().all(Vec::is_empty) {
            b.local.remove(&sub);
        }
        self.announce_change(realm, MetaEvent::Unsubscribed, session, sub, &topic, sink);
        if last {
            self.request_change(realm, topic, policy, Op::Unsubscribe { serializer: ser, session }, None, sink);
        }
    }

    pub(super) fn on_publish(&mut self, key: ConnKey, m: msg::Publish, sink: &mut dyn Sink) {
        let Some(j) = self.sessions.get(key.0).and_then(|s| s.joined()) else { return };
        let (realm, restricted) = (j.realm, j.permissions.is_some());
        let options = match PublishOptions::decode(&m.options) {
            Ok(o) => o,
            Err(e) => {
                if m.options.get_bool("acknowledge") == Some(true) {
                    let e = e.to_string();
                    self.send_error(key, code::PUBLISH, m.request, ErrorUri::InvalidArgument, &e);
                }
                return;
            }
        };
        if !is_valid_uri(&m.topic, self.uri_check(realm)) || is_reserved(&m.topic) {
            if options.acknowledge {
                let e = ErrorUri::InvalidUri;
                self.send_error(key, code::PUBLISH, m.request, e, "invalid topic URI");
            }
            return;
        }
        if restricted && !self.may(key, &m.topic, Action::Publish) {
            if options.acknowledge {
                let e = ErrorUri::NotAuthorized;
                self.send_error(key, code::PUBLISH, m.request, e, "the role may not publish to this topic");
            }
            return;
        }
        let Some(j) = self.sessions.get(key.0).and_then(|s| s.joined()) else { return };
        let details = if options.disclose_me { publisher_details(j) } else { Dict::new() };
        let publication = Publication {
            topic: &m.topic,
            payload: &m.payload,
            exclude_me: options.exclude_me.then_some(j.id),
            filter: options.filter,
            details,
        };
        let (publication, waiting) = if self.stores(realm, &m.topic, options.retain) {
            let ack = options.acknowledge.then_some((key, m.request));
            self.publish_and_keep(realm, publication, options.retain, ack, sink)
        } else {
            (self.publish(realm, &publication, sink), false)
        };
        if options.acknowledge && !waiting {
            let reply = Message::Published(msg::Published { request: m.request, publication });
            self.send(key, &reply, MessageClass::Control);
        }
    }

    /// Publishes in `realm` on behalf of a session or of the router itself (meta events,
    /// testaments): every matching subscription on every shard gets one EVENT, the lists of the
    /// publication travelling once per shard. Returns the publication id.
    pub fn publish(&mut self, realm: RealmIdx, p: &Publication<'_>, sink: &mut dyn Sink) -> Id {
        let publication = random_global_id(&mut self.rng);
        let mut matches = std::mem::take(&mut self.scratch_matches);
        if let Some(b) = self.broker.get(realm) {
            b.replica.for_each_match(p.topic, |r| matches.push(r.clone()));
        }
        let to = Recipients { exclude_me: p.exclude_me, filter: p.filter.as_deref(), topic: Some(p.topic) };
        let mut payloads: [Option<Payload>; 3] = Default::default();
        let mut remote: Vec<Vec<EventCopy>> = Vec::new();
        let patterns = matches.iter().any(|m| m.policy != MatchPolicy::Exact);
        for sub in &matches {
            let wanted = sub.presence.iter().fold(0u8, |acc, b| acc | b);
            let details = match (sub.policy, p.details.is_empty()) {
                (MatchPolicy::Exact, true) => Dict::new(),
                (MatchPolicy::Exact, false) => p.details.clone(),
                _ => p.details.clone().with("topic", p.topic),
            };
            for ser in Serializer::ALL.into_iter().filter(|s| wanted & bit(*s) != 0) {
                let Some(bytes) = self.encode_event(p.payload, &mut payloads, ser, sub.id, publication, &details)
                else {
                    continue;
                };
                for (shard, bits) in sub.presence.iter().enumerate() {
                    if bits & bit(ser) == 0 {
                        continue;
                    }
                    if shard == self.shard {
                        self.deliver_local(realm, sub.id, ser, &bytes, to);
                    } else {
                        if remote.is_empty() {
                            remote.resize_with(self.shards, Vec::new);
                        }
                        let copy = EventCopy { subscription: sub.id, serializer: ser, bytes: bytes.clone() };
                        remote[shard].push(copy);
                    }
                }
            }
        }
        matches.clear();
        self.scratch_matches = matches;
        let topic = (!remote.is_empty() && patterns).then(|| Arc::<str>::from(p.topic));
        for (shard, events) in remote.into_iter().enumerate() {
            if !events.is_empty() {
                let (exclude_me, filter, topic) = (p.exclude_me, p.filter.clone(), topic.clone());
                let event = Event { realm, exclude_me, filter, topic, events };
                sink.to_shard(shard, ShardMsg::Event(event));
            }
        }
        publication
    }

    /// One EVENT in `ser`; the payload is transcoded at most once per serializer per publication.
    fn encode_event(
        &mut self,
        payload: &Payload,
        payloads: &mut [Option<Payload>; 3],
        ser: Serializer,
        subscription: Id,
        publication: Id,
        details: &Dict,
    ) -> Option<bytes::Bytes> {
        let slot = &mut payloads[ser.index()];
        if slot.is_none() {
            match payload.for_serializer(ser) {
                Ok(p) => *slot = Some(p),
                Err(e) => {
                    tracing::debug!("payload cannot be transcoded to {ser}: {e}");
                    self.stats.encode_failures += 1;
                    return None;
                }
            }
        }
        let payload = slot.clone()?;
        let event = Message::Event(msg::Event { subscription, publication, details: details.clone(), payload });
        match codec::encode(ser, &event) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::debug!("cannot encode EVENT in {ser}: {e}");
                self.stats.encode_failures += 1;
                None
            }
        }
    }

    /// Queues an encoded EVENT for every subscriber on this shard using `ser` that `to` admits
    /// (and, for a pattern subscription, whose role may subscribe to the concrete topic).
    pub(super) fn deliver_local(
        &mut self,
        realm: RealmIdx,
        sub: Id,
        ser: Serializer,
        bytes: &bytes::Bytes,
        to: Recipients<'_>,
    ) {
        let Some(local) = self.broker.get(realm).and_then(|b| b.local.get(&sub)) else { return };
        if let Some(topic) = to.topic.filter(|_| local.policy != MatchPolicy::Exact) {
            return self.deliver_to_pattern(realm, sub, ser, bytes, to, topic);
        }
        for m in &local.members[ser.index()] {
            if offer(&self.sessions, m, bytes, to) == Offered::Dropped {
                self.stats.events_dropped += 1;
            }
        }
    }

    /// [`Router::deliver_local`] for a pattern subscription: a subscriber whose role restricts it
    /// gets the event only if it may subscribe to the concrete `topic` (its pattern was allowed,
    /// the topic need not be). Apart, so that exact subscriptions pay nothing for the check; it
    /// allocates only when restricted subscribers are present (one entry per role).
    fn deliver_to_pattern(
        &mut self,
        realm: RealmIdx,
        sub: Id,
        ser: Serializer,
        bytes: &bytes::Bytes,
        to: Recipients<'_>,
        topic: &str,
    ) {
        let Some(local) = self.broker.get(realm).and_then(|b| b.local.get(&sub)) else { return };
        // Subscribers of one role share its permissions: each role is asked once per delivery.
        let mut decided: Vec<(*const RolePermissions, bool)> = Vec::new();
        for m in &local.members[ser.index()] {
            let permissions = self.sessions.get(m.key.0).and_then(|s| s.joined()).and_then(|j| j.permissions.as_ref());
            if let Some(p) = permissions {
                let allowed = match decided.iter().find(|(q, _)| std::ptr::eq(*q, Arc::as_ptr(p))) {
                    Some((_, allowed)) => *allowed,
                    None => {
                        let allowed = p.allows(topic, Action::Subscribe);
                        decided.push((Arc::as_ptr(p), allowed));
                        allowed
                    }
                };
                if !allowed {
                    continue;
                }
            }
            if offer(&self.sessions, m, bytes, to) == Offered::Dropped {
                self.stats.events_dropped += 1;
            }
        }
    }

    /// Every shard: the home shard changed who has subscribers of a subscription.
    pub(super) fn apply_subscription(&mut self, realm: RealmIdx, e: ReplicaEntry, presence: Arc<[u8]>) {
        let Some(b) = self.broker.get_mut(realm) else { return };
        if presence.iter().all(|p| *p == 0) {
            b.replica.remove(&e.uri, e.policy);
            b.by_id.remove(&e.id);
        } else {
            let sub = ReplicaSub { id: e.id, policy: e.policy, presence, created: e.created };
            b.replica.insert(&e.uri, e.policy, sub);
            b.by_id.insert(e.id, (e.uri, e.policy));
        }
    }

    /// The asking shard: every shard applied a join; SUBSCRIBED to the waiting sessions, then
    /// the meta events (`on_create` first if the join created the subscription).
    pub(super) fn on_subscribed(&mut self, id: Id, p: PendingSub, created: bool, sink: &mut dyn Sink) {
        let Some(b) = self.broker.get_mut(p.realm) else { return };
        b.joining.remove(&(p.topic.clone(), p.policy, p.serializer));
        let local = b.local.entry(id).or_insert_with(|| LocalSub {
            topic: p.topic.clone(),
            policy: p.policy,
            members: Default::default(),
        });
        let mut replies = Vec::with_capacity(p.waiters.len());
        for w in &p.waiters {
            let Some(j) = self.sessions.get_mut(w.key.0).and_then(|s| s.joined_mut()) else { continue };
            if j.id != w.session {
                continue;
            }
            let added = j.subscriptions.insert(id);
            if added {
                local.members[p.serializer.index()].push(Member { key: w.key, session: w.session });
            }
            replies.push((w.key, w.request, added.then_some(w.session), w.get_retained));
        }
        let nobody = local.members[p.serializer.index()].is_empty();
        if nobody && local.members.iter().all(Vec::is_empty) {
            b.local.remove(&id);
        }
        for (key, request, _, _) in &replies {
            let reply = Message::Subscribed(msg::Subscribed { request: *request, subscription: id });
            self.send(*key, &reply, MessageClass::Control);
        }
        let first = p.waiters.first().map_or(Id::ZERO, |w| w.session);
        if created {
            self.announce_change(p.realm, MetaEvent::SubscriptionCreated, first, id, &p.topic, sink);
        }
        for session in replies.iter().filter_map(|(_, _, added, _)| *added) {
            self.announce_change(p.realm, MetaEvent::Subscribed, session, id, &p.topic, sink);
        }
        for (key, ..) in replies.iter().filter(|r| r.3) {
            self.request_retained(*key, id, p.topic.clone(), p.policy, sink);
        }
        if nobody {
            let op = Op::Unsubscribe { serializer: p.serializer, session: first };
            self.request_change(p.realm, p.topic, p.policy, op, None, sink);
        }
    }
}
