//! The records of calls in flight, kept on both sides: what a caller's shard knows of each call
//! its session made ([`OutCall`]) and what a callee's shard knows of each invocation its session
//! owes ([`InCall`]).
//!
//! Owns: the record types and their invariants. Never: the protocol steps (the dealer drives
//! them) or timers (the router's timer queue holds the deadlines these records name).
//!
//! Every path that ends a call (final YIELD, ERROR, cancel, timeout, the callee or the caller
//! leaving) removes its record on each side; nothing else does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ShardId;
use crate::wamp::options::{CallOptions, Features};
use crate::wamp::{Id, Payload};

/// Who made a call: a client session, or the router itself (a dynamic authenticator or authorizer
/// it consults, later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Caller {
    /// A client session, by session id.
    Session(Id),
    /// The router of the caller's shard, by the token its answer is filed under.
    Router(u64),
}

/// The callee serving a call, as the caller's shard knows it from its registration replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CalleeRef {
    /// The shard that owns the callee's session.
    pub shard: ShardId,
    /// The callee's session id.
    pub session: Id,
    /// The callee's announced features (call canceling, progressive results, ...).
    pub features: Features,
    /// The callee registered with `disclose_caller`: every INVOCATION names the caller.
    pub disclose_caller: bool,
    /// The callee registered with `forward_timeout`: it gets `timeout` and runs the timer itself.
    pub forward_timeout: bool,
}

/// A call in flight, on the caller's shard.
#[derive(Debug)]
pub struct OutCall {
    /// The callee the call went to (the latest one, after a reroute).
    pub callee: CalleeRef,
    /// The registration matched.
    pub registration: Id,
    /// The caller asked for progressive results and the callee was told so.
    pub receive_progress: bool,
    /// The caller is still streaming input (progressive call invocations).
    pub streaming: bool,
    /// The dealer's timer: how long the callee gets (between results, with progressive
    /// results), and the deadline armed now. `None` without `CALL.Options.timeout`, or when the
    /// registration forwards the timeout to the callee.
    pub timer: Option<(Duration, Instant)>,
    /// A CANCEL in `kill` mode was sent on; the callee's answer ends the call.
    pub kill_requested: bool,
    /// What a reroute needs, for calls to shared registrations (`None` otherwise).
    pub reroute: Option<Box<Reroute>>,
}

/// What the caller's shard keeps to send a call to another callee of a shared registration when
/// the first answers `wamp.error.unavailable`.
#[derive(Debug)]
pub struct Reroute {
    /// The procedure called (to find the registration's current callees).
    pub procedure: Arc<str>,
    /// The CALL's options, to build the INVOCATION.Details for the next callee.
    pub options: CallOptions,
    /// The CALL payload (a shared slice of the received frame, not a copy).
    pub payload: Payload,
    /// Callees that answered `unavailable` already.
    pub tried: Vec<Id>,
}

/// An invocation owed by a callee, on the callee's shard.
#[derive(Clone, Copy, Debug)]
pub struct InCall {
    /// The caller's shard.
    pub caller_shard: ShardId,
    /// Who called.
    pub caller: Caller,
    /// The CALL's request id, to answer with.
    pub call_request: Id,
    /// The callee was told it may send progressive results.
    pub receive_progress: bool,
    /// The caller no longer waits (killnowait, timeout, caller gone): the callee's answer is
    /// dropped here, and the record goes when it comes (or when the callee leaves).
    pub abandoned: bool,
    /// An INTERRUPT went to the callee already; a later cancel or timeout sends no second one.
    pub interrupted: bool,
    /// The call is in the shard's (caller, request) -> invocation index (callees that can be
    /// interrupted or streamed to).
    pub indexed: bool,
}
