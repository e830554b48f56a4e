//! Every message one shard's router sends another: the closed set of cross-shard interactions.
//!
//! Owns: [`ShardMsg`] and the plain structs its variants carry. Never: how messages travel (the
//! shard runtime's inboxes do that). Messages from one shard to another arrive in the order they
//! were sent; the ordering guarantees of WAMP (per publisher-subscriber and caller-callee pair)
//! rest on that.
//!
//! Agreement protocol (see `agree.rs`): every (realm, URI, match policy) of a subscription or
//! registration has a home shard ([`super::home_shard`]). Changes go to the home shard as a
//! [`Change`]; it orders them, assigns ids, and broadcasts the new state as an [`Apply`] to every
//! shard (itself included). A shard that asked for a change waits for an `Applied` from every
//! shard before it acknowledges the client, so that any PUBLISH or CALL made after SUBSCRIBED /
//! REGISTERED, on any shard, sees the change.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

pub use super::store::{Keep, Kept};
use crate::meta::{HistoryQuery, Kill, Revoke};
use crate::realm::RealmIdx;
use crate::session::{CalleeRef, Caller, ShardId};
use crate::wamp::options::{CancelMode, InvokePolicy, SubscriberFilter};
use crate::wamp::{Dict, ErrorUri, Id, MatchPolicy, Payload, Serializer};

/// A token naming a change (or any request) a shard waits on; unique within that shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token(pub u64);

/// Everything one shard's router tells another.
#[derive(Debug)]
pub enum ShardMsg {
    /// To a home shard: change one subscription or registration.
    Change(Change),
    /// From a home shard to every shard: the new state of one subscription or registration.
    Apply(Apply),
    /// To the shard that asked: this shard applied change `token`, whose id is `id`.
    Applied { token: Token, id: Id },
    /// From a home shard to the shard that asked: change `token` was refused with `error`.
    Refused { token: Token, error: ErrorUri },
    /// One publication's EVENTs for the subscribers on the receiving shard.
    Event(Event),
    /// A CALL (or a progressive continuation of one) for a callee on the receiving shard.
    Invoke(Invoke),
    /// A canceled or timed-out call: INTERRUPT its callee on the receiving shard.
    Interrupt(Interrupt),
    /// A result, progressive result or error of a call, for the caller on the receiving shard.
    CallDone(CallDone),
    /// To every shard: answer a meta API question about your sessions.
    Query(Query),
    /// To the shard that asked: this shard's part of the answer to query `token`.
    Answer { token: Token, part: Part },
    /// To the shard that keeps a topic's retained event or a history rule's events: keep this
    /// publication.
    Keep(Keep),
}

/// A meta API question every shard answers about its own sessions of one realm.
#[derive(Clone, Debug)]
pub struct Query {
    /// The realm.
    pub realm: RealmIdx,
    /// The shard asking.
    pub from: ShardId,
    /// The token the asking shard waits under.
    pub token: Token,
    /// The question, shared by every shard.
    pub question: Arc<Question>,
}

/// What a [`Query`] asks.
#[derive(Debug)]
pub enum Question {
    /// How many sessions have one of these authroles (any, if `None`)?
    CountSessions(Option<Vec<String>>),
    /// Which sessions have one of these authroles (any, if `None`)?
    ListSessions(Option<Vec<String>>),
    /// The details of this session, if it is yours.
    GetSession(Id),
    /// Your subscribers of this subscription.
    Subscribers(Id),
    /// The retained events you keep of topics matching (`topic`, `policy`) that `reader` may
    /// receive.
    Retained { topic: Arc<str>, policy: MatchPolicy, reader: Reader },
    /// The events of the history rule (`topic`, `policy`) that `query` selects and `reader` may
    /// read.
    History { topic: Arc<str>, policy: MatchPolicy, query: HistoryQuery, reader: Reader },
    /// Remove this session from this subscription, if it is yours and subscribed.
    RemoveSubscriber(Revoke),
    /// Remove this session from this registration, if it is yours and a callee of it.
    RemoveCallee(Revoke),
    /// Kill these sessions (but never `except`, the killer); which did you kill?
    Kill { kill: Kill, except: Id },
}

/// Who asks for stored events: they get only what they would have received.
#[derive(Clone, Debug)]
pub struct Reader {
    /// The session id.
    pub session: Id,
    /// Its authid.
    pub authid: Arc<str>,
    /// Its authrole.
    pub authrole: Arc<str>,
}

/// One shard's answer to a [`Question`]; the asking shard merges them.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// A count.
    Count(u64),
    /// Session ids.
    Ids(Vec<Id>),
    /// A session's details, if the shard has it.
    Details(Option<Dict>),
    /// Stored events.
    Events(Vec<Arc<Kept>>),
}

impl Part {
    /// Adds another shard's part to this one.
    pub fn merge(&mut self, other: Part) {
        match (self, other) {
            (Part::Count(a), Part::Count(b)) => *a += b,
            (Part::Ids(a), Part::Ids(b)) => a.extend(b),
            (Part::Events(a), Part::Events(b)) => a.extend(b),
            (Part::Details(a), Part::Details(b)) => {
                if a.is_none() {
                    *a = b;
                }
            }
            (me, other) => tracing::warn!(?me, ?other, "answers of different kinds are not merged"),
        }
    }
}

/// A change to one subscription or registration, for its home shard.
#[derive(Clone, Debug)]
pub struct Change {
    /// The realm.
    pub realm: RealmIdx,
    /// The topic or procedure.
    pub uri: Arc<str>,
    /// Its match policy.
    pub policy: MatchPolicy,
    /// The shard asking.
    pub from: ShardId,
    /// The token the asking shard waits under; `None` when nobody waits (leaves).
    pub token: Option<Token>,
    /// What changes.
    pub op: Op,
}

/// The change itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The asking shard has a first local subscriber using this serializer (`session`).
    Subscribe { serializer: Serializer, session: Id },
    /// The asking shard lost its last local subscriber using this serializer (`session`).
    Unsubscribe { serializer: Serializer, session: Id },
    /// A callee registers with this invocation policy.
    Register(CalleeRef, InvokePolicy),
    /// A callee no longer serves registration `registration`.
    Unregister { registration: Id, session: Id },
}

impl Op {
    /// The session the change is made for (the meta events name it).
    pub fn session(&self) -> Id {
        match self {
            Op::Subscribe { session, .. } | Op::Unsubscribe { session, .. } | Op::Unregister { session, .. } => {
                *session
            }
            Op::Register(callee, _) => callee.session,
        }
    }
}

/// The state every shard's replica holds for one subscription or registration.
#[derive(Clone, Debug)]
pub enum Replica {
    /// Per shard, a bit per serializer index: who must receive this subscription's events.
    Subscription { presence: Arc<[u8]> },
    /// The callees in registration order and the policy choosing among them.
    Registration { invoke: InvokePolicy, callees: Arc<[CalleeRef]> },
}

impl Replica {
    /// True if nobody is left: the subscription or registration is deleted.
    pub fn is_empty(&self) -> bool {
        match self {
            Replica::Subscription { presence } => presence.iter().all(|p| *p == 0),
            Replica::Registration { callees, .. } => callees.is_empty(),
        }
    }
}

/// The new state of one subscription or registration, from its home shard to every shard.
#[derive(Clone, Debug)]
pub struct Apply {
    /// The realm.
    pub realm: RealmIdx,
    /// The subscription or registration id.
    pub id: Id,
    /// The topic or procedure.
    pub uri: Arc<str>,
    /// Its match policy.
    pub policy: MatchPolicy,
    /// When it was created (wall clock), for the meta API.
    pub created: SystemTime,
    /// The new state; an empty one deletes it.
    pub state: Replica,
    /// Who asked for the change, and whether it created the entry.
    pub cause: Cause,
    /// The shard waiting for the acknowledgment, and its token.
    pub ack: Option<(ShardId, Token)>,
}

/// The change behind an [`Apply`]: its shard publishes the meta events of the change.
#[derive(Clone, Copy, Debug)]
pub struct Cause {
    /// The shard that asked.
    pub shard: ShardId,
    /// The session it asked for.
    pub session: Id,
    /// The change created the subscription or registration.
    pub created: bool,
}

/// What every replica keeps of a subscription or registration besides its state.
#[derive(Clone, Debug)]
pub struct ReplicaEntry {
    /// The subscription or registration id.
    pub id: Id,
    /// The topic or procedure.
    pub uri: Arc<str>,
    /// Its match policy.
    pub policy: MatchPolicy,
    /// When it was created (wall clock).
    pub created: SystemTime,
}

/// One EVENT for one shard: the encoded bytes for a subscription in one serializer.
#[derive(Clone, Debug)]
pub struct EventCopy {
    /// The subscription the EVENT is for.
    pub subscription: Id,
    /// The serializer `bytes` are in; only local subscribers using it get them.
    pub serializer: Serializer,
    /// The encoded EVENT, shared (not copied) by every receiver.
    pub bytes: Bytes,
}

/// One publication's EVENTs for the subscribers of one shard.
#[derive(Debug)]
pub struct Event {
    /// The realm.
    pub realm: RealmIdx,
    /// The publisher's session, when publisher exclusion applies.
    pub exclude_me: Option<Id>,
    /// The publication's black- and whitelists, shared by every shard it goes to.
    pub filter: Option<Arc<SubscriberFilter>>,
    /// The concrete topic, when the publication matched a pattern subscription (restricted
    /// subscribers are checked against it).
    pub topic: Option<Arc<str>>,
    /// One encoding per (subscription, serializer) present on the receiving shard.
    pub events: Vec<EventCopy>,
}

/// A call on its way to a callee.
#[derive(Debug)]
pub struct Invoke {
    /// The realm.
    pub realm: RealmIdx,
    /// The registration matched.
    pub registration: Id,
    /// The callee's session.
    pub callee: Id,
    /// The caller's shard.
    pub caller_shard: ShardId,
    /// Who called.
    pub caller: Caller,
    /// The CALL's request id.
    pub call_request: Id,
    /// INVOCATION.Details.
    pub details: Dict,
    /// The CALL's Arguments/ArgumentsKw.
    pub payload: Payload,
    /// The callee is told it may send progressive results (`details` says so too).
    pub receive_progress: bool,
    /// A continuation of a progressive call invocation (not its first CALL).
    pub continuation: bool,
}

/// A canceled call, for the callee's shard.
#[derive(Clone, Copy, Debug)]
pub struct Interrupt {
    /// The callee's session.
    pub callee: Id,
    /// Who called.
    pub caller: Caller,
    /// The CALL's request id.
    pub call_request: Id,
    /// The mode the INTERRUPT carries.
    pub mode: CancelMode,
    /// The caller has its answer already: drop the callee's.
    pub abandon: bool,
}

/// A reply to a CALL, from the callee's shard to the caller's.
#[derive(Debug)]
pub struct CallDone {
    /// Who called.
    pub caller: Caller,
    /// The CALL's request id.
    pub call_request: Id,
    /// The callee that answered (or that the router answered for).
    pub callee: Id,
    /// The reply.
    pub outcome: CallOutcome,
}

/// What a callee (or the router on its behalf) answered.
#[derive(Clone, Debug)]
pub enum CallOutcome {
    /// RESULT: the callee's YIELD; `progress` for a progressive result.
    Result {
        /// RESULT.Details.
        details: Dict,
        /// The callee's Arguments/ArgumentsKw.
        payload: Payload,
        /// A progressive result: more follow.
        progress: bool,
    },
    /// ERROR: the callee's ERROR, or one the router raised for it (canceled when it left).
    Error {
        /// ERROR.Details.
        details: Dict,
        /// The error URI.
        error: Arc<str>,
        /// The error's Arguments/ArgumentsKw.
        payload: Payload,
    },
    /// The callee's shard could not hand the call to the callee: it left or unregistered before
    /// the call arrived, it owes too many invocations, or the call is too large for it.
    Refused {
        /// The error the caller gets if no other callee takes the call.
        error: ErrorUri,
        /// The ERROR's message.
        why: &'static str,
        /// Another callee of a shared registration may take the call (not for a call that is
        /// too large: it would be for any callee on that transport).
        retry: bool,
    },
}

impl CallOutcome {
    /// An error raised by the router itself, with a message for the caller.
    pub fn router_error(uri: ErrorUri, message: &str) -> CallOutcome {
        CallOutcome::Error {
            details: Dict::new(),
            error: Arc::from(uri.uri()),
            payload: Payload::args(vec![crate::wamp::Value::from(message)]),
        }
    }
}
