//! Protocol violations: everything a peer can do wrong that ends its session with ABORT
//! `wamp.error.protocol_violation`, as one error enum counted by kind.
//!
//! Owns: [`Violation`] and [`ViolationCounts`]. Never: decides what to do about one (the router
//! aborts the session; other sessions go on).

use crate::codec::DecodeError;
use crate::wamp::options::OptionError;

/// A protocol violation by a peer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Violation {
    /// The bytes did not decode as a WAMP message.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// Something other than HELLO came first.
    #[error("{0} before HELLO")]
    BeforeHello(&'static str),
    /// HELLO named no client role.
    #[error("HELLO announces no client role")]
    NoRoles,
    /// A message a client must not send once joined (a second HELLO, WELCOME, ...).
    #[error("unexpected {0} in an established session")]
    Unexpected(&'static str),
    /// An ERROR for a request type a client cannot answer.
    #[error("ERROR for request type {0}")]
    ErrorRequestType(u64),
    /// A YIELD naming an invocation the callee does not owe.
    #[error("YIELD for an unknown invocation")]
    UnknownInvocation,
    /// A YIELD whose options do not decode.
    #[error("YIELD options: {0}")]
    YieldOptions(OptionError),
    /// A request id that does not count up by one (realms with sequential request ids).
    #[error("request id {got} where {expected} was due")]
    RequestSequence {
        /// The id sent.
        got: u64,
        /// The id due.
        expected: u64,
    },
    /// A CALL reusing the request id of a call in flight that takes no more input.
    #[error("CALL reuses the request id of a call in flight")]
    DuplicateCall,
    /// A progressive CALL from a caller that did not announce progressive call invocations.
    #[error("progressive CALL without announcing progressive_call_invocations")]
    ProgressiveCallNotAnnounced,
    /// Payload passthru options from a peer that did not announce the feature.
    #[error("ppt_* options without announcing payload_passthru_mode")]
    PassthruNotAnnounced,
    /// Something other than AUTHENTICATE answered a CHALLENGE.
    #[error("{0} before WELCOME")]
    BeforeWelcome(&'static str),
}

impl Violation {
    /// Number of kinds, for per-kind counters.
    pub const KINDS: usize = 12;

    /// A dense index per kind, `0..KINDS`.
    pub fn kind(&self) -> usize {
        match self {
            Violation::Decode(_) => 0,
            Violation::BeforeHello(_) => 1,
            Violation::NoRoles => 2,
            Violation::Unexpected(_) => 3,
            Violation::ErrorRequestType(_) => 4,
            Violation::UnknownInvocation => 5,
            Violation::YieldOptions(_) => 6,
            Violation::RequestSequence { .. } => 7,
            Violation::DuplicateCall => 8,
            Violation::ProgressiveCallNotAnnounced => 9,
            Violation::PassthruNotAnnounced => 10,
            Violation::BeforeWelcome(_) => 11,
        }
    }

    /// The kind's name, for logs and metrics.
    pub fn kind_name(kind: usize) -> &'static str {
        [
            "decode",
            "before_hello",
            "no_roles",
            "unexpected_message",
            "error_request_type",
            "unknown_invocation",
            "yield_options",
            "request_sequence",
            "duplicate_call",
            "progressive_call_not_announced",
            "passthru_not_announced",
            "before_welcome",
        ]
        .get(kind)
        .copied()
        .unwrap_or("unknown")
    }
}

/// Protocol violations counted by kind; `Debug` names the kinds that occurred.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct ViolationCounts(pub [u64; Violation::KINDS]);

impl std::fmt::Debug for ViolationCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seen = self.0.iter().enumerate().filter(|(_, n)| **n > 0);
        f.debug_map().entries(seen.map(|(kind, n)| (Violation::kind_name(kind), n))).finish()
    }
}

impl ViolationCounts {
    /// Counts one violation.
    pub fn count(&mut self, v: &Violation) {
        if let Some(c) = self.0.get_mut(v.kind()) {
            *c += 1;
        }
    }

    /// All violations of every kind.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The violations of one kind.
    pub fn of(&self, v: &Violation) -> u64 {
        self.0.get(v.kind()).copied().unwrap_or(0)
    }
}
