//! The error and close URIs the router sends, as data.
//!
//! Owns: [`ErrorUri`], one variant per URI, and its wire spelling. Never: carries Rust error
//! context; a WAMP error sent to a peer is a reply, not a propagated `Err`.

/// Every error and close URI the router itself puts on the wire: the spec's `wamp.error.*` and
/// `wamp.close.*`, and `wampyard.error.*` for the router's own limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorUri {
    /// A malformed topic, procedure, realm or reason URI.
    InvalidUri,
    /// CALL with no matching registration.
    NoSuchProcedure,
    /// REGISTER of a procedure that is already registered.
    ProcedureAlreadyExists,
    /// UNREGISTER of an unknown or foreign registration.
    NoSuchRegistration,
    /// UNSUBSCRIBE of an unknown or foreign subscription.
    NoSuchSubscription,
    /// HELLO for a realm the router does not have.
    NoSuchRealm,
    /// A meta procedure named a session that is not in the realm.
    NoSuchSession,
    /// ABORT: none of the authentication methods the client offered is accepted here.
    NoAuthMethod,
    /// ABORT: the authentication could not be carried out (an authenticator failed).
    AuthenticationFailed,
    /// ABORT: the session's role is not one of the realm's roles.
    NoSuchRole,
    /// The call was canceled; also sent to a caller whose callee left mid-call.
    Canceled,
    /// Any protocol error: ABORT reason, the session is closed.
    ProtocolViolation,
    /// An option or argument has a value the router does not accept.
    InvalidArgument,
    /// The peer is not allowed to do this.
    NotAuthorized,
    /// A message could not be delivered because of transport size limits.
    PayloadSizeExceeded,
    /// The router could not deliver a message to a peer.
    NetworkFailure,
    /// None of the offered authentication methods is acceptable.
    NoMatchingAuthMethod,
    /// GOODBYE reason: the router is shutting down.
    SystemShutdown,
    /// GOODBYE reason: the realm is closing.
    CloseRealm,
    /// GOODBYE reason in the reply to a peer's GOODBYE.
    GoodbyeAndOut,
    /// GOODBYE/ABORT reason: the session was killed.
    Killed,
    /// The dealer's call timeout passed before the callee answered.
    Timeout,
    /// The receiving peer lacks a feature the message requires.
    FeatureNotSupported,
    /// A callee's answer asking the dealer to try another callee (call reroute).
    Unavailable,
    /// Every callee of a registration answered `unavailable` (or none can take the call).
    NoAvailableCallee,
    /// A per-session limit of the router was reached (the ERROR's argument names it).
    LimitReached,
}

impl ErrorUri {
    /// The URI as sent on the wire.
    pub fn uri(self) -> &'static str {
        match self {
            ErrorUri::InvalidUri => "wamp.error.invalid_uri",
            ErrorUri::NoSuchProcedure => "wamp.error.no_such_procedure",
            ErrorUri::ProcedureAlreadyExists => "wamp.error.procedure_already_exists",
            ErrorUri::NoSuchRegistration => "wamp.error.no_such_registration",
            ErrorUri::NoSuchSubscription => "wamp.error.no_such_subscription",
            ErrorUri::NoSuchRealm => "wamp.error.no_such_realm",
            ErrorUri::NoSuchSession => "wamp.error.no_such_session",
            ErrorUri::NoAuthMethod => "wamp.error.no_auth_method",
            ErrorUri::AuthenticationFailed => "wamp.error.authentication_failed",
            ErrorUri::NoSuchRole => "wamp.error.no_such_role",
            ErrorUri::Canceled => "wamp.error.canceled",
            ErrorUri::ProtocolViolation => "wamp.error.protocol_violation",
            ErrorUri::InvalidArgument => "wamp.error.invalid_argument",
            ErrorUri::NotAuthorized => "wamp.error.not_authorized",
            ErrorUri::PayloadSizeExceeded => "wamp.error.payload_size_exceeded",
            ErrorUri::NetworkFailure => "wamp.error.network_failure",
            ErrorUri::NoMatchingAuthMethod => "wamp.error.no_matching_auth_method",
            ErrorUri::SystemShutdown => "wamp.close.system_shutdown",
            ErrorUri::CloseRealm => "wamp.close.close_realm",
            ErrorUri::GoodbyeAndOut => "wamp.close.goodbye_and_out",
            ErrorUri::Killed => "wamp.close.killed",
            ErrorUri::Timeout => "wamp.error.timeout",
            ErrorUri::FeatureNotSupported => "wamp.error.feature_not_supported",
            ErrorUri::Unavailable => "wamp.error.unavailable",
            ErrorUri::NoAvailableCallee => "wamp.error.no_available_callee",
            ErrorUri::LimitReached => "wampyard.error.limit_reached",
        }
    }
}

impl std::fmt::Display for ErrorUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.uri())
    }
}
