//! Every message one shard sends another (and the few that the process's other threads send a
//! shard): the closed set of cross-shard interactions.
//!
//! Owns: [`ShardMsg`]. Never: how messages travel (the shard runtime's inboxes do that). Messages
//! from one shard to another arrive in the order they were sent; the ordering guarantees of WAMP
//! (per publisher-subscriber and caller-callee pair) rest on that.
//!
//! Agreement protocol: every (realm, URI, match policy) has a home shard
//! ([`super::home_shard`]). Changes to a subscription or registration go to its home shard, which
//! orders them, assigns ids, and broadcasts the new state to every shard (itself included). A
//! shard that asked for a change waits for an [`ShardMsg::Applied`] from every shard before it
//! acknowledges the client, so that any PUBLISH or CALL made after SUBSCRIBED / REGISTERED, on any
//! shard, sees the change.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use bytes::Bytes;

use crate::codec::{Payload, Serializer};
use crate::wamp::{Dict, ErrorUri, Id, MatchPolicy};

/// A shard's index, `0..shards`.
pub type ShardId = usize;

/// A realm's index in the configuration, the same on every shard.
pub type RealmIdx = usize;

/// A callee of a registration: its shard and session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Callee {
    /// The shard that owns the callee's session.
    pub shard: ShardId,
    /// The callee's session id.
    pub session: Id,
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

/// A reply to a CALL, travelling from the callee's shard to the caller's.
#[derive(Clone, Debug)]
pub enum CallOutcome {
    /// RESULT: the callee's YIELD.
    Result {
        /// RESULT.Details.
        details: Dict,
        /// The callee's Arguments/ArgumentsKw.
        payload: Payload,
    },
    /// ERROR: the callee's ERROR, or one raised by the router (canceled, no_such_procedure).
    Error {
        /// ERROR.Details.
        details: Dict,
        /// The error URI.
        error: Arc<str>,
        /// The error's Arguments/ArgumentsKw.
        payload: Payload,
    },
}

impl CallOutcome {
    /// An error raised by the router itself.
    pub fn router_error(uri: ErrorUri) -> CallOutcome {
        CallOutcome::Error { details: Dict::new(), error: Arc::from(uri.uri()), payload: Payload::Empty }
    }
}

/// Everything one shard tells another.
#[derive(Debug)]
pub enum ShardMsg {
    /// To the home shard: shard `from` got its first local subscriber using `serializer` for
    /// (topic, policy). The home shard answers with a `SubApply` to every shard, acked to `from`.
    SubJoin { realm: RealmIdx, topic: Arc<str>, policy: MatchPolicy, serializer: Serializer, from: ShardId, token: u64 },
    /// To the home shard: shard `from` lost its last local subscriber using `serializer`.
    SubLeave { realm: RealmIdx, topic: Arc<str>, policy: MatchPolicy, serializer: Serializer, from: ShardId },
    /// From the home shard to every shard: the set of (shard, serializer) pairs with subscribers
    /// of this subscription changed; an empty set deletes it. `ack` names the shard waiting for
    /// the acknowledgment and its token.
    SubApply {
        realm: RealmIdx,
        subscription: Id,
        topic: Arc<str>,
        policy: MatchPolicy,
        /// Per shard, a bit per serializer index: who must receive this subscription's events.
        presence: Arc<[u8]>,
        ack: Option<(ShardId, u64)>,
    },
    /// To the requesting shard: this shard applied the change `token`, whose id is `id`.
    Applied { token: u64, id: Id },
    /// To the home shard: session `session` on shard `from` registers (procedure, policy).
    RegJoin { realm: RealmIdx, procedure: Arc<str>, policy: MatchPolicy, from: ShardId, session: Id, token: u64 },
    /// To the home shard: the callee `session` on `from` no longer serves `registration`.
    RegLeave { realm: RealmIdx, procedure: Arc<str>, policy: MatchPolicy, registration: Id, from: ShardId, session: Id },
    /// From the home shard to every shard: the callees of a registration; empty deletes it.
    RegApply {
        realm: RealmIdx,
        registration: Id,
        procedure: Arc<str>,
        policy: MatchPolicy,
        callees: Arc<[Callee]>,
        ack: Option<(ShardId, u64)>,
    },
    /// From the home shard to the requesting shard: the registration `token` was refused.
    RegRefused { token: u64, error: ErrorUri },
    /// One publication's EVENTs for the subscribers on the receiving shard.
    Event {
        realm: RealmIdx,
        /// The publisher's session, when publisher exclusion applies.
        exclude: Option<Id>,
        events: Vec<EventCopy>,
    },
    /// A CALL routed to the callee's shard, to become an INVOCATION.
    Invoke {
        realm: RealmIdx,
        registration: Id,
        callee: Id,
        caller_shard: ShardId,
        caller: Id,
        call_request: Id,
        details: Dict,
        payload: Payload,
    },
    /// The outcome of a CALL, back to the caller's shard.
    CallDone { caller: Id, call_request: Id, outcome: CallOutcome },
    /// A Unix-socket connection accepted by the listener's acceptor thread, for this shard to
    /// serve with the transport settings of listener number `listener`.
    Adopt { fd: OwnedFd, listener: usize },
    /// Stop accepting, say GOODBYE to every session, and stop.
    Shutdown,
}
