//! The meta API on one shard: calls to reserved `wamp.*` procedures, the session meta events and
//! testaments.
//!
//! Owns: answering [`MetaCall`]s (from this shard's replicas, or by gathering a [`Question`]'s
//! answer from every shard), answering other shards' questions about this shard's sessions,
//! `wamp.session.on_join` / `on_leave`, and publishing a leaving session's testaments. Never:
//! what the arguments mean (`crate::meta` decodes them) or client registrations: a CALL to a
//! reserved URI never reaches a callee.
//!
//! Consistency: a session is counted by its own shard from the moment its WELCOME is queued until
//! it leaves, and a question reaches every shard after the asking CALL arrived, so an answer
//! includes every session whose WELCOME the caller could have seen.

use std::sync::Arc;

use super::broker::publisher_details;
use super::shard_msg::{Part, Query, Question};
use super::{home_shard, ConnKey, Publication, Router, ShardMsg, Sink, Token};
use crate::codec::PayloadCodec;
use crate::config::Action;
use crate::meta::testament::MAX_TESTAMENTS_PER_SESSION;
use crate::meta::{self, BadCall, Kill, KillTarget, MetaCall, Revoke, SessionFacts, TestamentScope};
use crate::realm::RealmIdx;
use crate::session::{ConnInfo, Identity, Joined, MessageClass, ShardId, State};
use crate::wamp::message::{self as msg, code};
use crate::wamp::options::Features;
use crate::wamp::uri::is_reserved;
use crate::wamp::{Dict, ErrorUri, Id, MatchPolicy, Message, Payload, Value};

/// A change to a subscription or registration that has a meta event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MetaEvent {
    /// `wamp.subscription.on_create`: its first subscriber created it.
    SubscriptionCreated,
    /// `wamp.subscription.on_subscribe`.
    Subscribed,
    /// `wamp.subscription.on_unsubscribe`.
    Unsubscribed,
    /// `wamp.subscription.on_delete`: its last subscriber left.
    SubscriptionDeleted,
    /// `wamp.registration.on_create`: its first callee created it.
    RegistrationCreated,
    /// `wamp.registration.on_register`.
    Registered,
    /// `wamp.registration.on_unregister`.
    Unregistered,
    /// `wamp.registration.on_delete`: its last callee left.
    RegistrationDeleted,
}

impl MetaEvent {
    fn topic(self) -> &'static str {
        match self {
            MetaEvent::SubscriptionCreated => "wamp.subscription.on_create",
            MetaEvent::Subscribed => "wamp.subscription.on_subscribe",
            MetaEvent::Unsubscribed => "wamp.subscription.on_unsubscribe",
            MetaEvent::SubscriptionDeleted => "wamp.subscription.on_delete",
            MetaEvent::RegistrationCreated => "wamp.registration.on_create",
            MetaEvent::Registered => "wamp.registration.on_register",
            MetaEvent::Unregistered => "wamp.registration.on_unregister",
            MetaEvent::RegistrationDeleted => "wamp.registration.on_delete",
        }
    }

    fn of_subscription(self) -> bool {
        matches!(
            self,
            MetaEvent::SubscriptionCreated
                | MetaEvent::Subscribed
                | MetaEvent::Unsubscribed
                | MetaEvent::SubscriptionDeleted
        )
    }
}

/// How the merged parts become the caller's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reply {
    /// `[count]`.
    Count,
    /// `[[ids]]`.
    List,
    /// `[details]`, or `no_such_session`.
    Get,
    /// `[]` if a session was killed, else `no_such_session`.
    KillOne,
    /// `[[killed ids]]`.
    KillIds,
    /// `[count killed]`.
    KillCount,
    /// `[[subscriber ids]]`.
    Subscribers,
    /// `[count of subscribers]`.
    CountSubscribers,
    /// `[]` if the session was removed, else `no_such_session`.
    Revoked,
    /// PUBLISHED for this publication, once its retained event is kept.
    Published(Id),
    /// The retained events, as EVENTs of this subscription marked `retained`.
    Retained { subscription: Id, policy: MatchPolicy },
    /// `[[events]]` of `get_events` for this subscription.
    History(Id),
}

/// A meta call waiting for every shard's part of the answer.
#[derive(Debug)]
pub(super) struct MetaWait {
    key: ConnKey,
    session: Id,
    request: Id,
    reply: Reply,
    answer: Option<Part>,
}

/// What the meta API says of a session, from its identity and connection.
fn facts<'a>(id: Id, identity: &'a Identity, conn: &'a ConnInfo) -> SessionFacts<'a> {
    SessionFacts {
        session: id,
        authid: &identity.authid,
        authrole: &identity.authrole,
        authmethod: identity.authmethod,
        authprovider: identity.authprovider,
        transport: conn.transport,
        serializer: conn.serializer,
        peer: &conn.peer,
    }
}

fn single(v: Value) -> Payload {
    Payload::Values { args: vec![v], kwargs: None }
}

fn id_or_null(id: Option<Id>) -> Payload {
    single(id.map_or(Value::Null, |id| Value::UInt(id.get())))
}

fn ids(ids: &[Id]) -> Value {
    Value::List(ids.iter().map(|id| Value::UInt(id.get())).collect())
}

impl Router {
    /// A CALL to a reserved procedure in `realm`: answered here, after gathering from every shard,
    /// or refused (`no_such_procedure`, `invalid_argument`, ...).
    pub(super) fn answer_meta(
        &mut self,
        key: ConnKey,
        request: Id,
        realm: RealmIdx,
        procedure: &str,
        payload: &Payload,
        sink: &mut dyn Sink,
    ) {
        let decoded = match payload.to_values() {
            Ok((args, kwargs)) => MetaCall::decode(procedure, &args, kwargs.as_ref(), self.uri_check(realm)),
            Err(e) => Some(Err(BadCall::argument(format!("arguments do not decode: {e}")))),
        };
        let answer = match decoded {
            None => Err(BadCall { error: ErrorUri::NoSuchProcedure, message: "no such procedure".into() }),
            Some(Err(bad)) => Err(bad),
            Some(Ok(call)) => self.meta_call(key, request, realm, call, sink),
        };
        match answer {
            Ok(Some(payload)) => self.send_result(key, request, payload),
            Ok(None) => {}
            Err(bad) => self.send_error(key, code::CALL, request, bad.error, &bad.message),
        }
    }

    /// Carries out a meta call: its answer now, or `None` when every shard must answer first.
    fn meta_call(
        &mut self,
        key: ConnKey,
        request: Id,
        realm: RealmIdx,
        call: MetaCall,
        sink: &mut dyn Sink,
    ) -> Result<Option<Payload>, BadCall> {
        let (question, reply) = match call {
            MetaCall::SessionCount(roles) => (Question::CountSessions(roles), Reply::Count),
            MetaCall::SessionList(roles) => (Question::ListSessions(roles), Reply::List),
            MetaCall::SessionGet(id) => (Question::GetSession(id), Reply::Get),
            MetaCall::GetEvents(query) => {
                let b = self.broker.get(realm).ok_or_else(|| no_such(ErrorUri::NoSuchSubscription))?;
                let (_, topic, policy) =
                    b.by_id(query.subscription).ok_or_else(|| no_such(ErrorUri::NoSuchSubscription))?;
                if !self.has_history_rule(realm, topic, policy) {
                    return Ok(Some(single(Value::List(Vec::new()))));
                }
                let topic: Arc<str> = Arc::from(topic);
                let home = home_shard(realm, &topic, policy, self.shards);
                let reader = self.reader(key).ok_or_else(|| no_such(ErrorUri::NoSuchSubscription))?;
                let subscription = query.subscription;
                let question = Question::History { topic, policy, query, reader };
                self.ask(key, request, realm, (question, Reply::History(subscription)), Some(home), sink)?;
                return Ok(None);
            }
            MetaCall::RemoveSubscriber(r) => {
                if self.broker.get(realm).is_none_or(|b| b.by_id(r.id).is_none()) {
                    return Err(no_such(ErrorUri::NoSuchSubscription));
                }
                (Question::RemoveSubscriber(r), Reply::Revoked)
            }
            MetaCall::RemoveCallee(r) => {
                if self.dealer.get(realm).is_none_or(|d| d.by_id(r.id).is_none()) {
                    return Err(no_such(ErrorUri::NoSuchRegistration));
                }
                (Question::RemoveCallee(r), Reply::Revoked)
            }
            MetaCall::SubscriptionSubscribers(id) | MetaCall::SubscriptionCountSubscribers(id) => {
                let known = self.broker.get(realm).is_some_and(|b| b.by_id(id).is_some());
                if !known {
                    return Err(no_such(ErrorUri::NoSuchSubscription));
                }
                let reply = match call {
                    MetaCall::SubscriptionSubscribers(_) => Reply::Subscribers,
                    _ => Reply::CountSubscribers,
                };
                (Question::Subscribers(id), reply)
            }
            MetaCall::Kill(kill) => {
                let caller = self.sessions.get(key.0).and_then(|s| s.id()).unwrap_or(Id::ZERO);
                let reply = match kill.target {
                    KillTarget::Session(id) if id == caller => {
                        let message = "a session cannot kill itself with wamp.session.kill".to_owned();
                        return Err(BadCall { error: ErrorUri::NoSuchSession, message });
                    }
                    KillTarget::Session(_) => Reply::KillOne,
                    KillTarget::AuthId(_) => Reply::KillIds,
                    KillTarget::AuthRole(_) | KillTarget::All => Reply::KillCount,
                };
                (Question::Kill { kill, except: caller }, reply)
            }
            local => return self.local_meta_call(key, realm, local).map(Some),
        };
        self.ask(key, request, realm, (question, reply), None, sink)?;
        Ok(None)
    }

    /// The meta calls this shard answers alone.
    fn local_meta_call(&mut self, key: ConnKey, realm: RealmIdx, call: MetaCall) -> Result<Payload, BadCall> {
        let no_realm = || BadCall { error: ErrorUri::NoSuchProcedure, message: "no such realm".into() };
        Ok(match call {
            MetaCall::AddTestament(t) => {
                let j = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()).ok_or_else(no_realm)?;
                if !j.may(&t.topic, Action::Publish) {
                    let message = "the role may not publish to the testament's topic".to_owned();
                    return Err(BadCall { error: ErrorUri::NotAuthorized, message });
                }
                if j.testaments.len() >= MAX_TESTAMENTS_PER_SESSION {
                    let message = format!("a session may leave at most {MAX_TESTAMENTS_PER_SESSION} testaments");
                    return Err(BadCall { error: ErrorUri::LimitReached, message });
                }
                j.testaments.push(*t);
                Payload::Empty
            }
            MetaCall::FlushTestaments(scope) => {
                let j = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()).ok_or_else(no_realm)?;
                let before = j.testaments.len();
                j.testaments.retain(|t| t.scope != scope);
                single(Value::UInt((before - j.testaments.len()) as u64))
            }
            MetaCall::RegistrationList => {
                let d = self.dealer.get(realm).ok_or_else(no_realm)?;
                by_policy(d.by_id.iter().map(|(id, (_, p))| (*id, *p)))
            }
            MetaCall::SubscriptionList => {
                let b = self.broker.get(realm).ok_or_else(no_realm)?;
                by_policy(b.by_id.iter().filter(|(_, (uri, _))| !is_reserved(uri)).map(|(id, (_, p))| (*id, *p)))
            }
            MetaCall::RegistrationGet(id) => {
                let d = self.dealer.get(realm).ok_or_else(no_realm)?;
                let (r, uri, policy) = d.by_id(id).ok_or_else(|| no_such(ErrorUri::NoSuchRegistration))?;
                single(Value::Dict(meta::entry_details(id, r.created, uri, policy, Some(r.invoke.as_str()))))
            }
            MetaCall::RegistrationCallees(id) | MetaCall::RegistrationCountCallees(id) => {
                let d = self.dealer.get(realm).ok_or_else(no_realm)?;
                let (r, _, _) = d.by_id(id).ok_or_else(|| no_such(ErrorUri::NoSuchRegistration))?;
                let callees: Vec<Id> = r.callees.iter().map(|c| c.session).collect();
                match call {
                    MetaCall::RegistrationCallees(_) => single(ids(&callees)),
                    _ => single(Value::UInt(callees.len() as u64)),
                }
            }
            MetaCall::SubscriptionGet(id) => {
                let b = self.broker.get(realm).ok_or_else(no_realm)?;
                let (s, uri, policy) = b.by_id(id).ok_or_else(|| no_such(ErrorUri::NoSuchSubscription))?;
                single(Value::Dict(meta::entry_details(id, s.created, uri, policy, None)))
            }
            MetaCall::RegistrationLookup(uri, policy) => {
                let d = self.dealer.get(realm).ok_or_else(no_realm)?;
                id_or_null(d.replica.get(&uri, policy).map(|r| r.id))
            }
            MetaCall::RegistrationMatch(uri) => {
                let d = self.dealer.get(realm).ok_or_else(no_realm)?;
                id_or_null(d.replica.best_match(&uri).map(|(r, _)| r.id))
            }
            MetaCall::SubscriptionLookup(uri, policy) => {
                let b = self.broker.get(realm).ok_or_else(no_realm)?;
                id_or_null(b.replica.get(&uri, policy).map(|s| s.id))
            }
            MetaCall::SubscriptionMatch(uri) => {
                let b = self.broker.get(realm).ok_or_else(no_realm)?;
                let mut found = Vec::new();
                b.replica.for_each_match(&uri, |s| found.push(s.id));
                single(if found.is_empty() { Value::Null } else { ids(&found) })
            }
            gathered => {
                tracing::warn!(?gathered, "a gathered meta call reached the local path");
                return Err(no_realm());
            }
        })
    }

    /// Sends `question` to shard `to`, or to every shard (this one included) when `None`; the
    /// caller is answered by `reply` when all have answered. Counts against the caller's call
    /// limit until then.
    pub(super) fn ask(
        &mut self,
        key: ConnKey,
        request: Id,
        realm: RealmIdx,
        (question, reply): (Question, Reply),
        to: Option<ShardId>,
        sink: &mut dyn Sink,
    ) -> Result<(), BadCall> {
        let limit = self.limits.max_calls_per_session;
        let Some(j) = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()) else { return Ok(()) };
        if j.calls.len() + j.queries >= limit {
            self.stats.call_limit_hits += 1;
            let message = format!("limits.max_calls_per_session ({limit}) reached");
            return Err(BadCall { error: ErrorUri::LimitReached, message });
        }
        j.queries += 1;
        let wait = MetaWait { key, session: j.id, request, reply, answer: None };
        let token = self.meta.start(if to.is_some() { 1 } else { self.shards }, wait);
        let question = Arc::new(question);
        let shards = match to {
            Some(shard) => shard..shard + 1,
            None => 0..self.shards,
        };
        for shard in shards {
            let q = Query { realm, from: self.shard, token, question: question.clone() };
            sink.to_shard(shard, ShardMsg::Query(q));
        }
        Ok(())
    }

    /// A reply that waits for a shard to act (a retained event kept), outside any CALL: a token
    /// the acting shard answers. `None` when the session is at its call limit.
    pub(super) fn wait_for(&mut self, key: ConnKey, request: Id, reply: Reply) -> Option<Token> {
        let limit = self.limits.max_calls_per_session;
        let j = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut())?;
        if j.calls.len() + j.queries >= limit {
            self.stats.call_limit_hits += 1;
            return None;
        }
        j.queries += 1;
        Some(self.meta.start(1, MetaWait { key, session: j.id, request, reply, answer: None }))
    }

    /// Every shard: answers a question about its own sessions of the realm.
    pub(super) fn on_query(&mut self, q: Query, sink: &mut dyn Sink) {
        let mut in_realm = self
            .sessions
            .iter()
            .filter_map(|(k, s)| match &s.state {
                State::Established(j) if j.realm == q.realm => Some((ConnKey(k), j, &s.conn)),
                _ => None,
            })
            .map(|(k, j, conn)| (k, facts(j.id, &j.identity, conn)));
        let part = match &*q.question {
            Question::CountSessions(roles) => {
                Part::Count(in_realm.filter(|(_, f)| f.in_roles(roles.as_deref())).count() as u64)
            }
            Question::ListSessions(roles) => {
                Part::Ids(in_realm.filter(|(_, f)| f.in_roles(roles.as_deref())).map(|(_, f)| f.session).collect())
            }
            Question::Subscribers(id) => {
                Part::Ids(self.broker.get(q.realm).map(|b| b.local_subscribers(*id).collect()).unwrap_or_default())
            }
            Question::RemoveSubscriber(r) => {
                let found = in_realm.find(|(_, f)| f.session == r.session).map(|(k, _)| k);
                Part::Ids(found.and_then(|key| self.revoke_subscription(key, r, sink)).into_iter().collect())
            }
            Question::RemoveCallee(r) => {
                let found = in_realm.find(|(_, f)| f.session == r.session).map(|(k, _)| k);
                Part::Ids(found.and_then(|key| self.revoke_registration(key, r, sink)).into_iter().collect())
            }
            Question::Retained { topic, policy, reader } => {
                Part::Events(self.retained_for(q.realm, topic, *policy, reader))
            }
            Question::History { topic, policy, query, reader } => {
                Part::Events(self.history_for(q.realm, topic, *policy, query, reader))
            }
            Question::GetSession(id) => {
                Part::Details(in_realm.find(|(_, f)| f.session == *id).map(|(_, f)| f.details()))
            }
            Question::Kill { kill, except } => {
                let victims: Vec<(ConnKey, Id)> = in_realm
                    .filter(|(_, f)| f.session != *except && targeted(&kill.target, f))
                    .map(|(k, f)| (k, f.session))
                    .collect();
                for (key, _) in &victims {
                    self.kill_session(*key, kill, sink);
                }
                Part::Ids(victims.into_iter().map(|(_, id)| id).collect())
            }
        };
        sink.to_shard(q.from, ShardMsg::Answer { token: q.token, part });
    }

    /// The asking shard: one shard's part; after the last, the caller gets its answer.
    pub(super) fn on_answer(&mut self, token: Token, part: Part) {
        let Some(w) = self.meta.get_mut(token) else { return };
        match &mut w.answer {
            Some(a) => a.merge(part),
            None => w.answer = Some(part),
        }
        let Some(w) = self.meta.reply(token) else { return };
        let Some(j) = self.sessions.get_mut(w.key.0).and_then(|s| s.joined_mut()).filter(|j| j.id == w.session) else {
            return;
        };
        j.queries = j.queries.saturating_sub(1);
        let no_such_session = || BadCall { error: ErrorUri::NoSuchSession, message: "no such session".into() };
        let answer = match (w.reply, w.answer) {
            (Reply::Published(publication), _) => {
                let reply = Message::Published(msg::Published { request: w.request, publication });
                return self.send(w.key, &reply, MessageClass::Control);
            }
            (Reply::Retained { subscription, policy }, Some(Part::Events(events))) => {
                return self.send_retained(w.key, subscription, policy, events);
            }
            (Reply::History(subscription), Some(Part::Events(events))) => {
                let entries = events.iter().map(|e| Value::Dict(e.history_entry(subscription))).collect();
                Ok(single(Value::List(entries)))
            }
            (Reply::Count, Some(Part::Count(n))) => Ok(single(Value::UInt(n))),
            (Reply::List, Some(Part::Ids(v))) => Ok(single(ids(&v))),
            (Reply::Get, Some(Part::Details(Some(d)))) => Ok(single(Value::Dict(d))),
            (Reply::KillOne | Reply::Revoked, Some(Part::Ids(v))) if !v.is_empty() => Ok(Payload::Empty),
            (Reply::KillIds, Some(Part::Ids(v))) => Ok(single(ids(&v))),
            (Reply::KillCount, Some(Part::Ids(v))) => Ok(single(Value::UInt(v.len() as u64))),
            (Reply::Subscribers, Some(Part::Ids(v))) => Ok(single(ids(&v))),
            (Reply::CountSubscribers, Some(Part::Ids(v))) => Ok(single(Value::UInt(v.len() as u64))),
            _ => Err(no_such_session()),
        };
        match answer {
            Ok(payload) => self.send_result(w.key, w.request, payload),
            Err(bad) => self.send_error(w.key, code::CALL, w.request, bad.error, &bad.message),
        }
    }

    /// `wamp.session.kill*` on the victim's shard: it leaves (meta events, testaments), gets
    /// GOODBYE with the kill's reason and message, and its connection closes.
    fn kill_session(&mut self, key: ConnKey, kill: &Kill, sink: &mut dyn Sink) {
        self.leave(key, sink);
        let details = kill.message.as_deref().map_or_else(Dict::new, |m| Dict::new().with("message", m));
        let goodbye = Message::Goodbye(msg::Goodbye { details, reason: kill.reason.clone() });
        self.send(key, &goodbye, MessageClass::Control);
        if let Some(s) = self.sessions.get_mut(key.0) {
            s.outbox.close();
        }
    }

    /// `wamp.subscription.remove_subscriber` on the subscriber's shard: the session leaves the
    /// subscription (`on_unsubscribe`, and `on_delete` if it was the last) and, if it announced
    /// `subscription_revocation`, gets `UNSUBSCRIBED` with request 0. The session, if it was
    /// subscribed.
    fn revoke_subscription(&mut self, key: ConnKey, r: &Revoke, sink: &mut dyn Sink) -> Option<Id> {
        let s = self.sessions.get_mut(key.0)?;
        let ser = s.conn.serializer;
        let j = s.joined_mut()?;
        if !j.subscriptions.remove(&r.id) {
            return None;
        }
        let (realm, session) = (j.realm, j.id);
        if j.roles.features.contains(Features::SUBSCRIBER_SUBSCRIPTION_REVOCATION) {
            let details = revocation_details("subscription", r);
            let notice = Message::Unsubscribed(msg::Unsubscribed { request: Id::ZERO, details: Some(details) });
            self.send(key, &notice, MessageClass::Control);
        }
        self.remove_local_subscriber(realm, r.id, ser, key, session, sink);
        Some(session)
    }

    /// `wamp.registration.remove_callee` on the callee's shard: the session stops serving the
    /// registration (`on_unregister`, and `on_delete` if it was the last callee) and, if it
    /// announced `registration_revocation`, gets `UNREGISTERED` with request 0. Invocations it
    /// owes stay owed. The session, if it was a callee.
    fn revoke_registration(&mut self, key: ConnKey, r: &Revoke, sink: &mut dyn Sink) -> Option<Id> {
        let j = self.sessions.get_mut(key.0)?.joined_mut()?;
        let (procedure, policy) = j.registrations.remove(&r.id)?;
        let (realm, session) = (j.realm, j.id);
        if j.roles.features.contains(Features::CALLEE_REGISTRATION_REVOCATION) {
            let details = revocation_details("registration", r);
            let notice = Message::Unregistered(msg::Unregistered { request: Id::ZERO, details: Some(details) });
            self.send(key, &notice, MessageClass::Control);
        }
        self.leave_registration(realm, r.id, procedure, policy, session, sink);
        Some(session)
    }

    fn send_result(&mut self, key: ConnKey, request: Id, payload: Payload) {
        let result = Message::Result(msg::CallResult { request, details: Dict::new(), payload });
        self.send(key, &result, MessageClass::Control);
    }

    /// True if anyone in `realm` subscribed to a meta `topic`: a meta event is only built then.
    fn meta_wanted(&self, realm: RealmIdx, topic: &str) -> bool {
        let mut wanted = false;
        if let Some(b) = self.broker.get(realm) {
            b.replica.for_each_match(topic, |_| wanted = true);
        }
        wanted
    }

    /// Publishes a meta event from the router (no publisher, no lists).
    fn publish_meta(&mut self, realm: RealmIdx, topic: &str, payload: &Payload, sink: &mut dyn Sink) {
        let p = Publication { topic, payload, exclude_me: None, filter: None, details: Dict::new() };
        self.publish(realm, &p, sink);
    }

    /// A subscription or registration meta event about `session` and `id` (`uri` is its topic or
    /// procedure): `[session, id]`, or `[session, details]` for `on_create`. Subscriptions to
    /// `wamp.*` topics (the meta API's own) have none.
    pub(super) fn announce_change(
        &mut self,
        realm: RealmIdx,
        event: MetaEvent,
        session: Id,
        id: Id,
        uri: &str,
        sink: &mut dyn Sink,
    ) {
        if (event.of_subscription() && is_reserved(uri)) || !self.meta_wanted(realm, event.topic()) {
            return;
        }
        let details = match event {
            MetaEvent::SubscriptionCreated => self
                .broker
                .get(realm)
                .and_then(|b| b.by_id(id))
                .map(|(s, uri, policy)| meta::entry_details(id, s.created, uri, policy, None)),
            MetaEvent::RegistrationCreated => self
                .dealer
                .get(realm)
                .and_then(|d| d.by_id(id))
                .map(|(r, uri, policy)| meta::entry_details(id, r.created, uri, policy, Some(r.invoke.as_str()))),
            _ => None,
        };
        let second = details.map_or(Value::UInt(id.get()), Value::Dict);
        let payload = Payload::Values { args: vec![Value::UInt(session.get()), second], kwargs: None };
        self.publish_meta(realm, event.topic(), &payload, sink);
    }

    /// `wamp.session.on_join` for a session that was just welcomed.
    pub(super) fn announce_join(&mut self, key: ConnKey, sink: &mut dyn Sink) {
        let Some(s) = self.sessions.get(key.0) else { return };
        let Some(j) = s.joined() else { return };
        let realm = j.realm;
        if self.meta_wanted(realm, meta::ON_JOIN) {
            let details = facts(j.id, &j.identity, &s.conn).details();
            self.publish_meta(realm, meta::ON_JOIN, &single(Value::Dict(details)), sink);
        }
    }

    /// A session left (it is gone from every lookup): its testaments, `detached` ones first, then
    /// `wamp.session.on_leave`.
    pub(super) fn announce_leave(&mut self, key: ConnKey, j: &mut Joined, sink: &mut dyn Sink) {
        let mut testaments = std::mem::take(&mut j.testaments);
        testaments.sort_by_key(|t| t.scope != TestamentScope::Detached);
        for t in testaments {
            // Checked again: the roles may have been reloaded since the testament was added.
            if !j.may(&t.topic, Action::Publish) {
                continue;
            }
            let details = if t.options.disclose_me { publisher_details(j) } else { Dict::new() };
            let filter = t.options.filter;
            let p = Publication { topic: &t.topic, payload: &t.payload, exclude_me: None, filter, details };
            self.publish_and_keep(j.realm, p, t.options.retain, None, sink);
        }
        let Some(s) = self.sessions.get(key.0) else { return };
        if self.meta_wanted(j.realm, meta::ON_LEAVE) {
            let args = facts(j.id, &j.identity, &s.conn).leave_args();
            self.publish_meta(j.realm, meta::ON_LEAVE, &Payload::Values { args, kwargs: None }, sink);
        }
    }
}

/// `{exact: [ids], prefix: [ids], wildcard: [ids]}`, as `wamp.subscription.list` and
/// `wamp.registration.list` answer.
fn by_policy(entries: impl Iterator<Item = (Id, MatchPolicy)>) -> Payload {
    let mut lists: [Vec<Id>; 3] = Default::default();
    for (id, policy) in entries {
        let i = match policy {
            MatchPolicy::Exact => 0,
            MatchPolicy::Prefix => 1,
            MatchPolicy::Wildcard => 2,
        };
        if let Some(l) = lists.get_mut(i) {
            l.push(id);
        }
    }
    let [exact, prefix, wildcard] = lists.map(|mut l| {
        l.sort_unstable();
        ids(&l)
    });
    single(Value::Dict(Dict::new().with("exact", exact).with("prefix", prefix).with("wildcard", wildcard)))
}

/// `{subscription|registration: id, reason}` of a revocation notice.
fn revocation_details(what: &str, r: &Revoke) -> Dict {
    let d = Dict::new().with(what, r.id.get());
    match &r.reason {
        Some(reason) => d.with("reason", reason.as_str()),
        None => d,
    }
}

fn no_such(error: ErrorUri) -> BadCall {
    let what = if error == ErrorUri::NoSuchRegistration { "registration" } else { "subscription" };
    BadCall { error, message: format!("no such {what}") }
}

/// True if a kill aimed at `target` names the session of `f`.
fn targeted(target: &KillTarget, f: &SessionFacts<'_>) -> bool {
    match target {
        KillTarget::Session(id) => f.session == *id,
        KillTarget::AuthId(a) => f.authid == a,
        KillTarget::AuthRole(r) => f.authrole == r,
        KillTarget::All => true,
    }
}
