//! Retained events and event history: what the broker keeps of past publications, on the shard
//! each topic (or history rule) is homed on.
//!
//! Owns: [`Store`]: per realm, the retained event of every topic homed here
//! (`PUBLISH.Options.retain`; bounded by `limits.retained_max_events` and `retained_max_bytes`)
//! and the last events of every `[[realm.history]]` rule homed here (bounded by the rule's
//! `limit`); sending a publication to the shards that keep it; answering `get_retained` and
//! `get_events`. Never: live delivery (`broker.rs`).
//!
//! Where things live: a topic's retained event on `home_shard(realm, topic, exact)`, a history
//! rule's events on `home_shard(realm, rule topic, rule match)` (the home of the subscription of
//! exactly that topic and match). Every shard sends there, so there is one copy realm-wide and a
//! later SUBSCRIBE on any shard asks the same place. A PUBLISH with `retain` and `acknowledge` is
//! acknowledged only after the home shard kept it, so a session that subscribes after the
//! publisher saw PUBLISHED gets that event or a later one.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use super::meta::Reply;
use super::shard_msg::{Question, Reader};
use super::{home_shard, ConnKey, Publication, Router, ShardMsg, Sink, Token};
use crate::codec::PayloadCodec;
use crate::config::HistoryRule;
use crate::meta::history::Stored;
use crate::meta::{rfc3339, HistoryQuery};
use crate::realm::{RealmIdx, Realms};
use crate::session::{MessageClass, ShardId};
use crate::wamp::message as msg;
use crate::wamp::options::SubscriberFilter;
use crate::wamp::trie::UriTrie;
use crate::wamp::uri::pattern_matches;
use crate::wamp::{Dict, Id, MatchPolicy, Message, Payload, Serializer, Value};

/// One publication as the store keeps it.
#[derive(Debug, PartialEq)]
pub struct Kept {
    /// Its publication id.
    pub publication: Id,
    /// The concrete topic it was published to.
    pub topic: Arc<str>,
    /// Arguments and ArgumentsKw, as the publisher encoded them.
    pub payload: Payload,
    /// EVENT.Details of the publication (the publisher, when disclosed).
    pub details: Dict,
    /// The publisher, when it excluded itself.
    pub exclude_me: Option<Id>,
    /// The publication's black- and whitelists.
    pub filter: Option<Arc<SubscriberFilter>>,
    /// When it was published (wall clock).
    pub at: SystemTime,
    /// What it costs the store: its payload's encoded size.
    pub bytes: usize,
}

impl Kept {
    /// True if a session with this id, authid and authrole would have received the publication.
    pub fn admits(&self, session: Id, authid: &str, authrole: &str) -> bool {
        self.exclude_me != Some(session) && self.filter.as_ref().is_none_or(|f| f.admits(session, authid, authrole))
    }

    /// The event as `get_events` returns it: `timestamp`, `subscription`, `publication`, `topic`,
    /// `args`, `kwargs` and the publication's details (the publisher, when disclosed).
    pub fn history_entry(&self, subscription: Id) -> Dict {
        let (args, kwargs) = self.payload.to_values().unwrap_or_default();
        let mut d = self.details.clone();
        d.insert("timestamp", rfc3339(self.at));
        d.insert("subscription", subscription.get());
        d.insert("publication", self.publication.get());
        d.insert("topic", &*self.topic);
        d.insert("args", Value::List(args));
        d.insert("kwargs", Value::Dict(kwargs.unwrap_or_default()));
        d
    }
}

impl Stored for Arc<Kept> {
    fn at(&self) -> SystemTime {
        self.at
    }
    fn publication(&self) -> Id {
        self.publication
    }
    fn topic(&self) -> &str {
        &self.topic
    }
}

/// A history rule as every shard matches publications against it.
#[derive(Clone, Debug)]
pub(super) struct RuleRef {
    topic: Arc<str>,
    policy: MatchPolicy,
    limit: usize,
}

/// A publication on its way to the shard that keeps it.
#[derive(Debug)]
pub struct Keep {
    /// The realm.
    pub realm: RealmIdx,
    /// The publication.
    pub event: Arc<Kept>,
    /// It becomes its topic's retained event (this shard is the topic's home).
    pub retain: bool,
    /// The history rules homed on the receiving shard that keep it: (topic, match, limit).
    pub rules: Vec<(Arc<str>, MatchPolicy, usize)>,
    /// The PUBLISH waits for this shard to keep it: answer the token.
    pub ack: Option<(ShardId, Token)>,
}

/// The retained events and histories homed on one shard.
#[derive(Debug, Default)]
pub(super) struct Store {
    /// (realm, topic) -> the topic's retained event.
    retained: HashMap<(RealmIdx, Arc<str>), Arc<Kept>>,
    /// The payload bytes of `retained`.
    retained_bytes: usize,
    /// (realm, rule topic, rule match) -> the rule's events, oldest first, at most its limit.
    history: HashMap<(RealmIdx, Arc<str>, MatchPolicy), VecDeque<Arc<Kept>>>,
}

/// Per realm, the `[[realm.history]]` rules, matched against every publication of a realm that
/// has any.
pub(super) fn history_rules(realms: &Realms) -> Vec<UriTrie<RuleRef>> {
    (0..realms.len())
        .map(|i| {
            let mut trie = UriTrie::new();
            for HistoryRule { topic, policy, limit } in realms.get(i).map(|r| r.history.as_slice()).unwrap_or_default()
            {
                trie.insert(
                    topic,
                    *policy,
                    RuleRef { topic: Arc::from(topic.as_str()), policy: *policy, limit: *limit },
                );
            }
            trie
        })
        .collect()
}

/// What a payload costs the store: its encoded size (raw payloads are kept as received).
fn payload_bytes(p: &Payload) -> usize {
    match p {
        Payload::Empty => 0,
        Payload::Raw(raw) => raw.bytes.len(),
        Payload::Values { .. } => match p.for_serializer(Serializer::MsgPack) {
            Ok(Payload::Raw(raw)) => raw.bytes.len(),
            _ => 0,
        },
    }
}

impl Router {
    /// Publishes and, when the publication is retained or a history rule of the realm matches
    /// its topic, sends it to the shards that keep it. With `ack` (the publisher's connection
    /// and PUBLISH request) on a retained publication, PUBLISHED waits for the retaining shard:
    /// the second value says so.
    pub(super) fn publish_and_keep(
        &mut self,
        realm: RealmIdx,
        p: Publication<'_>,
        retain: bool,
        ack: Option<(ConnKey, Id)>,
        sink: &mut dyn Sink,
    ) -> (Id, bool) {
        if !self.stores(realm, p.topic, retain) {
            return (self.publish(realm, &p, sink), false);
        }
        let (topic, payload, details) = (Arc::<str>::from(p.topic), p.payload.clone(), p.details.clone());
        let (exclude_me, filter) = (p.exclude_me, p.filter.clone());
        let publication = self.publish(realm, &p, sink);
        let token = ack
            .filter(|_| retain)
            .and_then(|(key, request)| self.wait_for(key, request, Reply::Published(publication)));
        let bytes = payload_bytes(&payload);
        let kept = Kept { publication, topic, payload, details, exclude_me, filter, at: self.wall_now(), bytes };
        self.keep(realm, kept, retain, token, sink);
        (publication, token.is_some())
    }

    /// True if a publication to `topic` must go to the store: it asks to be retained, or a
    /// history rule of the realm may keep it. Costs nothing for realms without history rules,
    /// so the broker asks before building what the store needs.
    pub(super) fn stores(&self, realm: RealmIdx, topic: &str, retain: bool) -> bool {
        retain || self.history_rules.get(realm).is_some_and(|r| !r.is_empty() && has_match(r, topic))
    }

    /// Sends a publication to the shards that keep it: the topic's home if `retain`, the home of
    /// every history rule it matches (unless it names sessions, which histories never keep).
    /// With `ack`, the retaining shard answers that token once it kept the event.
    fn keep(&mut self, realm: RealmIdx, event: Kept, retain: bool, ack: Option<Token>, sink: &mut dyn Sink) {
        let names_sessions = event.filter.as_ref().is_some_and(|f| f.names_sessions());
        let event = Arc::new(event);
        let mut out: Vec<(ShardId, Keep)> = Vec::new();
        if retain {
            let home = home_shard(realm, &event.topic, MatchPolicy::Exact, self.shards);
            if let Some(k) = keep_for(&mut out, home, realm, &event) {
                k.retain = true;
                k.ack = ack.map(|t| (self.shard, t));
            }
        }
        if !names_sessions {
            let mut rules = Vec::new();
            if let Some(trie) = self.history_rules.get(realm) {
                trie.for_each_match(&event.topic, |r| rules.push(r.clone()));
            }
            for r in rules {
                let home = home_shard(realm, &r.topic, r.policy, self.shards);
                if let Some(k) = keep_for(&mut out, home, realm, &event) {
                    k.rules.push((r.topic, r.policy, r.limit));
                }
            }
        }
        for (shard, k) in out {
            sink.to_shard(shard, ShardMsg::Keep(k));
        }
    }

    /// The keeping shard: store the publication; answer the PUBLISH waiting for it.
    pub(super) fn on_keep(&mut self, k: Keep, sink: &mut dyn Sink) {
        if k.retain {
            let key = (k.realm, k.event.topic.clone());
            let old = self.store.retained.get(&key).map(|e| e.bytes);
            let count_ok = old.is_some() || self.store.retained.len() < self.limits.retained_max_events;
            let bytes = self.store.retained_bytes.saturating_sub(old.unwrap_or(0)) + k.event.bytes;
            if count_ok && bytes <= self.limits.retained_max_bytes {
                self.store.retained_bytes = bytes;
                self.store.retained.insert(key, k.event.clone());
            } else {
                // Not kept; a replacement that does not fit also removes the older event, so a
                // later subscriber never gets a value the topic no longer has.
                if let Some(stale) = self.store.retained.remove(&key) {
                    self.store.retained_bytes = self.store.retained_bytes.saturating_sub(stale.bytes);
                }
                self.stats.retained_refused += 1;
            }
        }
        for (topic, policy, limit) in k.rules {
            let events = self.store.history.entry((k.realm, topic, policy)).or_default();
            events.push_back(k.event.clone());
            while events.len() > limit {
                events.pop_front();
            }
        }
        if let Some((shard, token)) = k.ack {
            sink.to_shard(shard, ShardMsg::Answer { token, part: super::shard_msg::Part::Count(1) });
        }
    }

    /// The retained events of the topics homed here that match (`topic`, `policy`) and that a
    /// session with this identity may receive.
    pub(super) fn retained_for(
        &self,
        realm: RealmIdx,
        topic: &str,
        policy: MatchPolicy,
        who: &Reader,
    ) -> Vec<Arc<Kept>> {
        let admitted = |e: &&Arc<Kept>| e.admits(who.session, &who.authid, &who.authrole);
        match policy {
            MatchPolicy::Exact => {
                self.store.retained.get(&(realm, Arc::from(topic))).filter(admitted).cloned().into_iter().collect()
            }
            _ => (self.store.retained.iter())
                .filter(|((r, t), _)| *r == realm && pattern_matches(topic, policy, t))
                .map(|(_, e)| e)
                .filter(admitted)
                .cloned()
                .collect(),
        }
    }

    /// The stored events of the history rule (`topic`, `policy`) that `query` selects and a
    /// session with this identity may read.
    pub(super) fn history_for(
        &self,
        realm: RealmIdx,
        topic: &str,
        policy: MatchPolicy,
        query: &HistoryQuery,
        who: &Reader,
    ) -> Vec<Arc<Kept>> {
        let Some(events) = self.store.history.get(&(realm, Arc::from(topic), policy)) else { return Vec::new() };
        let readable: Vec<Arc<Kept>> =
            events.iter().filter(|e| e.admits(who.session, &who.authid, &who.authrole)).cloned().collect();
        query.select(readable.iter()).into_iter().cloned().collect()
    }

    /// The session of `key` as a reader of stored events.
    pub(super) fn reader(&self, key: ConnKey) -> Option<Reader> {
        let j = self.sessions.get(key.0)?.joined()?;
        Some(Reader { session: j.id, authid: j.identity.authid.clone(), authrole: j.identity.authrole.clone() })
    }

    /// `SUBSCRIBE.Options.get_retained`: asks for the retained events of the topics the new
    /// subscription matches (one home shard for an exact topic, every shard for a pattern); they
    /// follow SUBSCRIBED as EVENTs marked `retained`. Skipped when the session is at its call limit.
    pub(super) fn request_retained(
        &mut self,
        key: ConnKey,
        subscription: Id,
        topic: Arc<str>,
        policy: MatchPolicy,
        sink: &mut dyn Sink,
    ) {
        let Some(reader) = self.reader(key) else { return };
        let Some(realm) = self.sessions.get(key.0).and_then(|s| s.joined()).map(|j| j.realm) else { return };
        let to = (policy == MatchPolicy::Exact).then(|| home_shard(realm, &topic, MatchPolicy::Exact, self.shards));
        let question = Question::Retained { topic, policy, reader };
        let reply = Reply::Retained { subscription, policy };
        if self.ask(key, Id::ZERO, realm, (question, reply), to, sink).is_err() {
            tracing::debug!(%subscription, "retained events not sent: the session is at its call limit");
        }
    }

    /// The retained events for a new subscription, oldest first, as EVENTs with
    /// `details.retained = true` (and `topic` for a pattern subscription).
    pub(super) fn send_retained(
        &mut self,
        key: ConnKey,
        subscription: Id,
        policy: MatchPolicy,
        mut events: Vec<Arc<Kept>>,
    ) {
        let Some(ser) = self.sessions.get(key.0).map(|s| s.conn.serializer) else { return };
        events.sort_by_key(|e| e.at);
        for e in events {
            let mut details = e.details.clone();
            if policy != MatchPolicy::Exact {
                details.insert("topic", &*e.topic);
            }
            details.insert("retained", true);
            let Ok(payload) = e.payload.for_serializer(ser) else {
                self.stats.encode_failures += 1;
                continue;
            };
            let event = Message::Event(msg::Event { subscription, publication: e.publication, details, payload });
            self.send(key, &event, MessageClass::Event);
        }
    }

    /// True if `realm` has a history rule for exactly (`topic`, `policy`).
    pub(super) fn has_history_rule(&self, realm: RealmIdx, topic: &str, policy: MatchPolicy) -> bool {
        self.history_rules.get(realm).is_some_and(|r| r.get(topic, policy).is_some())
    }

    /// Retained events and history entries this shard holds (for tests of the bounds).
    pub fn stored(&self) -> (usize, usize) {
        (self.store.retained.len(), self.store.history.values().map(VecDeque::len).sum())
    }
}

fn has_match(trie: &UriTrie<RuleRef>, topic: &str) -> bool {
    let mut any = false;
    trie.for_each_match(topic, |_| any = true);
    any
}

/// The `Keep` for `shard` in `out`, added if there is none yet.
fn keep_for<'a>(
    out: &'a mut Vec<(ShardId, Keep)>,
    shard: ShardId,
    realm: RealmIdx,
    event: &Arc<Kept>,
) -> Option<&'a mut Keep> {
    if !out.iter().any(|(s, _)| *s == shard) {
        let k = Keep { realm, event: event.clone(), retain: false, rules: Vec::new(), ack: None };
        out.push((shard, k));
    }
    out.iter_mut().find(|(s, _)| *s == shard).map(|(_, k)| k)
}
