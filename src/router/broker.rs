//! Publish & subscribe on one shard: SUBSCRIBE / UNSUBSCRIBE / PUBLISH, EVENT fan-out, and the
//! subscription half of the realm-wide agreement.
//!
//! Owns: per realm, this shard's replica of every subscription (matched for each PUBLISH), its
//! local subscribers, and the authoritative state of subscriptions homed here. Never: I/O.
//!
//! A subscription is present on a shard per serializer: the publishing shard encodes one EVENT per
//! (subscription, serializer) that has subscribers anywhere, delivers it to its own subscribers
//! and sends the same bytes once to every other shard that has subscribers using that serializer.

use std::collections::HashMap;
use std::sync::Arc;

use super::trie::UriTrie;
use super::EventCopy;
use super::{home_shard, ConnKey, Pending, RealmIdx, Router, ShardId, ShardMsg, Sink};
use crate::codec::{self, Payload, Serializer};
use crate::session::{MessageClass, Pushed};
use crate::wamp::id::random_global_id;
use crate::wamp::message::{self as msg, code};
use crate::wamp::uri::{is_reserved, is_valid_pattern, is_valid_uri};
use crate::wamp::{Dict, ErrorUri, Id, MatchPolicy, Message, Value};

/// One subscription as every shard's replica knows it.
#[derive(Clone, Debug)]
pub(super) struct ReplicaSub {
    /// The subscription id (router scope, assigned by the home shard).
    id: Id,
    /// Its match policy; pattern subscriptions get `topic` in EVENT.Details.
    policy: MatchPolicy,
    /// Per shard, a bit per serializer index: who must receive its events.
    presence: Arc<[u8]>,
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

/// A subscription homed on this shard.
#[derive(Debug)]
pub(super) struct HomeSub {
    /// The id, assigned when the first subscriber anywhere arrived.
    id: Id,
    /// Per shard, a bit per serializer index.
    presence: Vec<u8>,
}

/// A subscriber waiting for its SUBSCRIBED.
#[derive(Clone, Copy, Debug)]
struct Waiter {
    key: ConnKey,
    session: Id,
    request: Id,
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
    /// Acknowledgments still expected.
    acks: usize,
}

/// The broker state of one realm on one shard.
#[derive(Debug, Default)]
pub(super) struct BrokerRealm {
    /// (topic, policy) -> subscription: the replica matched for every PUBLISH.
    pub(super) replica: UriTrie<ReplicaSub>,
    /// subscription id -> this shard's subscribers.
    pub(super) local: HashMap<Id, LocalSub>,
    /// (topic, policy) -> authoritative state, for subscriptions homed on this shard.
    pub(super) home: HashMap<(Arc<str>, MatchPolicy), HomeSub>,
    /// (topic, policy, serializer) -> token of the join in flight, so that concurrent
    /// subscribers wait for the same join.
    joining: HashMap<(Arc<str>, MatchPolicy, Serializer), u64>,
}

fn bit(ser: Serializer) -> u8 {
    1 << ser.index()
}

/// The `match` option of SUBSCRIBE / REGISTER; `None` if it is not a known policy.
pub(super) fn match_option(options: &Dict) -> Option<MatchPolicy> {
    match options.get("match") {
        None => Some(MatchPolicy::Exact),
        Some(Value::Str(s)) => MatchPolicy::from_option(s),
        Some(_) => None,
    }
}

impl Router {
    pub(super) fn on_subscribe(&mut self, key: ConnKey, m: msg::Subscribe, sink: &mut dyn Sink) {
        let Some(s) = self.sessions.get(key.0) else { return };
        let (realm, session, ser) = (s.realm, s.id, s.conn.serializer);
        let Some(policy) = match_option(&m.options) else {
            let e = ErrorUri::InvalidArgument;
            return self.send_error(key, code::SUBSCRIBE, m.request, e, "unknown match policy");
        };
        if !is_valid_pattern(&m.topic, policy, self.uri_check(realm)) {
            let e = ErrorUri::InvalidUri;
            return self.send_error(key, code::SUBSCRIBE, m.request, e, "invalid topic URI");
        }
        let topic: Arc<str> = Arc::from(m.topic);
        let b = &mut self.broker[realm];
        if let Some(id) = b.replica.get(&topic, policy).map(|r| r.id) {
            let already = s.subscriptions.contains(&id);
            let local = b.local.get_mut(&id).filter(|l| !l.members[ser.index()].is_empty());
            if already || local.is_some() {
                if let Some(l) = local.filter(|_| !already) {
                    l.members[ser.index()].push(Member { key, session });
                }
                if let Some(s) = self.sessions.get_mut(key.0) {
                    s.subscriptions.insert(id);
                }
                let reply = Message::Subscribed(msg::Subscribed { request: m.request, subscription: id });
                return self.send(key, &reply, MessageClass::Control);
            }
        }
        let waiter = Waiter { key, session, request: m.request };
        let join_key = (topic.clone(), policy, ser);
        if let Some(token) = self.broker[realm].joining.get(&join_key) {
            if let Some(Pending::Sub(p)) = self.pending.get_mut(token) {
                p.waiters.push(waiter);
            }
            return;
        }
        let token = self.token();
        self.broker[realm].joining.insert(join_key, token);
        let pending = PendingSub {
            realm,
            topic: topic.clone(),
            policy,
            serializer: ser,
            waiters: vec![waiter],
            acks: self.shards,
        };
        self.pending.insert(token, Pending::Sub(pending));
        let home = home_shard(realm, &topic, policy, self.shards);
        let join = ShardMsg::SubJoin { realm, topic, policy, serializer: ser, from: self.shard, token };
        sink.to_shard(home, join);
    }

    pub(super) fn on_unsubscribe(&mut self, key: ConnKey, m: msg::Unsubscribe, sink: &mut dyn Sink) {
        let Some(s) = self.sessions.get_mut(key.0) else { return };
        let (realm, ser) = (s.realm, s.conn.serializer);
        if !s.subscriptions.remove(&m.subscription) {
            let e = ErrorUri::NoSuchSubscription;
            return self.send_error(key, code::UNSUBSCRIBE, m.request, e, "not subscribed");
        }
        self.remove_local_subscriber(realm, m.subscription, ser, key, sink);
        let reply = Message::Unsubscribed(msg::Unsubscribed { request: m.request, details: None });
        self.send(key, &reply, MessageClass::Control);
    }

    /// Removes one subscriber on this shard; the last one of a serializer tells the home shard.
    pub(super) fn remove_local_subscriber(
        &mut self,
        realm: RealmIdx,
        sub: Id,
        ser: Serializer,
        key: ConnKey,
        sink: &mut dyn Sink,
    ) {
        let b = &mut self.broker[realm];
        let Some(local) = b.local.get_mut(&sub) else { return };
        let members = &mut local.members[ser.index()];
        members.retain(|m| m.key != key);
        if !members.is_empty() {
            return;
        }
        let (topic, policy) = (local.topic.clone(), local.policy);
        if local.members.iter().all(Vec::is_empty) {
            b.local.remove(&sub);
        }
        let home = home_shard(realm, &topic, policy, self.shards);
        let leave = ShardMsg::SubLeave { realm, topic, policy, serializer: ser, from: self.shard };
        sink.to_shard(home, leave);
    }

    pub(super) fn on_publish(&mut self, key: ConnKey, m: msg::Publish, sink: &mut dyn Sink) {
        let Some(s) = self.sessions.get(key.0) else { return };
        let (realm, session) = (s.realm, s.id);
        let acknowledge = m.options.get_bool("acknowledge").unwrap_or(false);
        if !is_valid_uri(&m.topic, self.uri_check(realm)) || is_reserved(&m.topic) {
            if acknowledge {
                let e = ErrorUri::InvalidUri;
                self.send_error(key, code::PUBLISH, m.request, e, "invalid topic URI");
            }
            return;
        }
        let exclude = m.options.get_bool("exclude_me").unwrap_or(true).then_some(session);
        let publication = random_global_id();

        let mut matches = std::mem::take(&mut self.scratch_matches);
        self.broker[realm].replica.for_each_match(&m.topic, |r| matches.push(r.clone()));
        let mut payloads: [Option<Payload>; 3] = Default::default();
        let mut remote: Vec<Vec<EventCopy>> = Vec::new();
        for sub in &matches {
            let wanted = sub.presence.iter().fold(0u8, |acc, b| acc | b);
            let details = match sub.policy {
                MatchPolicy::Exact => Dict::new(),
                _ => Dict::new().with("topic", m.topic.as_str()),
            };
            for ser in Serializer::ALL.into_iter().filter(|s| wanted & bit(*s) != 0) {
                let Some(bytes) = self.encode_event(&m.payload, &mut payloads, ser, sub.id, publication, &details)
                else {
                    continue;
                };
                for (shard, bits) in sub.presence.iter().enumerate() {
                    if bits & bit(ser) == 0 {
                        continue;
                    }
                    if shard == self.shard {
                        self.deliver_local(realm, sub.id, ser, &bytes, exclude);
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
        for (shard, events) in remote.into_iter().enumerate() {
            if !events.is_empty() {
                sink.to_shard(shard, ShardMsg::Event { realm, exclude, events });
            }
        }
        if acknowledge {
            let reply = Message::Published(msg::Published { request: m.request, publication });
            self.send(key, &reply, MessageClass::Control);
        }
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

    /// Queues an encoded EVENT for every subscriber on this shard using `ser`, except `exclude`.
    pub(super) fn deliver_local(
        &mut self,
        realm: RealmIdx,
        sub: Id,
        ser: Serializer,
        bytes: &bytes::Bytes,
        exclude: Option<Id>,
    ) {
        let Some(local) = self.broker.get(realm).and_then(|b| b.local.get(&sub)) else { return };
        for m in &local.members[ser.index()] {
            if Some(m.session) == exclude {
                continue;
            }
            let Some(s) = self.sessions.get(m.key.0) else { continue };
            if bytes.len() > s.conn.max_outgoing || s.outbox.push(bytes.clone(), MessageClass::Event) == Pushed::Dropped
            {
                self.stats.events_dropped += 1;
            }
        }
    }

    /// Home shard: shard `from` has a first subscriber using `ser`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn home_sub_join(
        &mut self,
        realm: RealmIdx,
        topic: Arc<str>,
        policy: MatchPolicy,
        ser: Serializer,
        from: ShardId,
        token: u64,
        sink: &mut dyn Sink,
    ) {
        let shards = self.shards;
        let ids = &mut self.ids;
        let Some(b) = self.broker.get_mut(realm) else { return };
        let home = b
            .home
            .entry((topic.clone(), policy))
            .or_insert_with(|| HomeSub { id: ids.next_id(), presence: vec![0; shards] });
        if let Some(p) = home.presence.get_mut(from) {
            *p |= bit(ser);
        }
        let (id, presence) = (home.id, Arc::<[u8]>::from(home.presence.as_slice()));
        self.broadcast_sub(realm, id, &topic, policy, &presence, Some((from, token)), sink);
    }

    /// Home shard: shard `from` lost its last subscriber using `ser`.
    pub(super) fn home_sub_leave(
        &mut self,
        realm: RealmIdx,
        topic: Arc<str>,
        policy: MatchPolicy,
        ser: Serializer,
        from: ShardId,
        sink: &mut dyn Sink,
    ) {
        let Some(b) = self.broker.get_mut(realm) else { return };
        let k = (topic.clone(), policy);
        let Some(home) = b.home.get_mut(&k) else { return };
        if let Some(p) = home.presence.get_mut(from) {
            *p &= !bit(ser);
        }
        let (id, presence) = (home.id, Arc::<[u8]>::from(home.presence.as_slice()));
        if presence.iter().all(|p| *p == 0) {
            b.home.remove(&k);
        }
        self.broadcast_sub(realm, id, &topic, policy, &presence, None, sink);
    }

    #[allow(clippy::too_many_arguments)]
    fn broadcast_sub(
        &self,
        realm: RealmIdx,
        subscription: Id,
        topic: &Arc<str>,
        policy: MatchPolicy,
        presence: &Arc<[u8]>,
        ack: Option<(ShardId, u64)>,
        sink: &mut dyn Sink,
    ) {
        for shard in 0..self.shards {
            let apply = ShardMsg::SubApply {
                realm,
                subscription,
                topic: topic.clone(),
                policy,
                presence: presence.clone(),
                ack,
            };
            sink.to_shard(shard, apply);
        }
    }

    /// Every shard: the home shard changed who has subscribers of a subscription.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_sub(
        &mut self,
        realm: RealmIdx,
        id: Id,
        topic: Arc<str>,
        policy: MatchPolicy,
        presence: Arc<[u8]>,
        ack: Option<(ShardId, u64)>,
        sink: &mut dyn Sink,
    ) {
        if let Some(b) = self.broker.get_mut(realm) {
            if presence.iter().all(|p| *p == 0) {
                b.replica.remove(&topic, policy);
            } else {
                b.replica.insert(&topic, policy, ReplicaSub { id, policy, presence });
            }
        }
        if let Some((shard, token)) = ack {
            sink.to_shard(shard, ShardMsg::Applied { token, id });
        }
    }

    /// The requesting shard: one more shard applied a join; after the last, answer SUBSCRIBED.
    pub(super) fn on_sub_applied(&mut self, token: u64, id: Id, sink: &mut dyn Sink) {
        let Some(Pending::Sub(p)) = self.pending.get_mut(&token) else { return };
        p.acks = p.acks.saturating_sub(1);
        if p.acks > 0 {
            return;
        }
        let Some(Pending::Sub(p)) = self.pending.remove(&token) else { return };
        let Some(b) = self.broker.get_mut(p.realm) else { return };
        b.joining.remove(&(p.topic.clone(), p.policy, p.serializer));
        let local = b.local.entry(id).or_insert_with(|| LocalSub {
            topic: p.topic.clone(),
            policy: p.policy,
            members: Default::default(),
        });
        let mut replies = Vec::with_capacity(p.waiters.len());
        for w in &p.waiters {
            let Some(s) = self.sessions.get_mut(w.key.0) else { continue };
            if s.id != w.session || !s.is_established() {
                continue;
            }
            if s.subscriptions.insert(id) {
                local.members[p.serializer.index()].push(Member { key: w.key, session: w.session });
            }
            replies.push((w.key, w.request));
        }
        let nobody = local.members[p.serializer.index()].is_empty();
        if nobody && local.members.iter().all(Vec::is_empty) {
            b.local.remove(&id);
        }
        for (key, request) in replies {
            let reply = Message::Subscribed(msg::Subscribed { request, subscription: id });
            self.send(key, &reply, MessageClass::Control);
        }
        if nobody {
            let home = home_shard(p.realm, &p.topic, p.policy, self.shards);
            let leave = ShardMsg::SubLeave {
                realm: p.realm,
                topic: p.topic,
                policy: p.policy,
                serializer: p.serializer,
                from: self.shard,
            };
            sink.to_shard(home, leave);
        }
    }
}
