//! One client session on its shard: lifecycle state, what it subscribed and registered, the
//! invocations it owes answers for, and its outbox.
//!
//! Owns: [`Session`], its [`State`] machine and the WELCOME it gets. Never: routing decisions
//! (the `router` makes those) or I/O (the `shard` drains the outbox).
//!
//! ```text
//!   AwaitingHello --HELLO ok--> Established --GOODBYE--> Closed
//!        |                          |   \--router GOODBYE--> Closing --GOODBYE--> Closed
//!        +--anything else--> Closed (ABORT)  +--protocol violation--> Closed (ABORT)
//! ```

pub mod outbox;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::codec::Serializer;
use crate::router::{RealmIdx, ShardId};
use crate::wamp::id::SessionScopeIds;
use crate::wamp::{Dict, Id, MatchPolicy, Value};
pub use outbox::{MessageClass, Outbox, Outgoing, Pushed};

/// The agent string the router announces in WELCOME.
pub const AGENT: &str = concat!("wampyard-", env!("CARGO_PKG_VERSION"));

/// Where a session's lifecycle stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Connected; the first message must be HELLO.
    AwaitingHello,
    /// WELCOME sent; the session may publish, subscribe, call and register.
    Established,
    /// The router sent GOODBYE and waits for the peer's GOODBYE.
    Closing,
    /// Over: ABORT or GOODBYE exchanged, or the transport is gone. Nothing more is routed.
    Closed,
}

/// What the transport tells the router about a new connection.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The serializer negotiated by the transport.
    pub serializer: Serializer,
    /// `websocket` or `rawsocket`, for logs and the meta API.
    pub transport: &'static str,
    /// The peer's address, for logs.
    pub peer: String,
    /// The largest message the peer accepts (RawSocket negotiates it; WebSocket: unlimited).
    pub max_outgoing: usize,
}

/// An INVOCATION this session (as callee) has not answered yet.
#[derive(Clone, Copy, Debug)]
pub struct PendingInvocation {
    /// The caller's shard.
    pub caller_shard: ShardId,
    /// The caller's session.
    pub caller: Id,
    /// The CALL's request id, to answer with.
    pub call_request: Id,
}

/// One client session.
#[derive(Debug)]
pub struct Session {
    /// Lifecycle state.
    pub state: State,
    /// The session id, assigned at WELCOME (global scope: random).
    pub id: Id,
    /// The realm joined (meaningful once established).
    pub realm: RealmIdx,
    /// Transport facts.
    pub conn: ConnInfo,
    /// Encoded messages waiting for the writer.
    pub outbox: Outbox,
    /// The authenticated identity (anonymous sessions get a generated one).
    pub authid: String,
    /// The role the session acts under.
    pub authrole: String,
    /// Subscription ids this session holds; used to answer UNSUBSCRIBE and to clean up on leave.
    pub subscriptions: HashSet<Id>,
    /// registration id -> (procedure, policy): registrations this session serves, to answer
    /// UNREGISTER and to tell the home shards on leave.
    pub registrations: HashMap<Id, (Arc<str>, MatchPolicy)>,
    /// INVOCATION request id -> the call it belongs to; answered by YIELD or ERROR, or failed
    /// with `canceled` when the session leaves.
    pub invocations: HashMap<Id, PendingInvocation>,
    /// INVOCATION request ids sent to this session: sequential per session, as the spec requires.
    pub invocation_ids: SessionScopeIds,
}

impl Session {
    /// A new connection waiting for HELLO.
    pub fn new(conn: ConnInfo, outbox: Outbox) -> Session {
        Session {
            state: State::AwaitingHello,
            id: Id::ZERO,
            realm: 0,
            conn,
            outbox,
            authid: String::new(),
            authrole: String::new(),
            subscriptions: HashSet::new(),
            registrations: HashMap::new(),
            invocations: HashMap::new(),
            invocation_ids: SessionScopeIds::default(),
        }
    }

    /// True if the session may route messages.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established | State::Closing)
    }
}

/// The roles a HELLO announces, if it announces at least one known role.
pub fn hello_has_roles(details: &Dict) -> bool {
    let Some(roles) = details.get("roles").and_then(Value::as_dict) else {
        return false;
    };
    ["publisher", "subscriber", "caller", "callee"].iter().any(|r| roles.get(r).is_some())
}

/// The WELCOME.Details the router sends: its roles with exactly the features implemented, the
/// agent, and the authentication outcome.
pub fn welcome_details(authid: &str, authrole: &str) -> Dict {
    let broker_features = Dict::new().with("publisher_exclusion", true).with("pattern_based_subscription", true);
    let dealer_features = Dict::new().with("pattern_based_registration", true);
    let roles = Dict::new()
        .with("broker", Dict::new().with("features", broker_features))
        .with("dealer", Dict::new().with("features", dealer_features));
    Dict::new()
        .with("roles", roles)
        .with("agent", AGENT)
        .with("authid", authid)
        .with("authrole", authrole)
        .with("authmethod", "anonymous")
        .with("authprovider", "static")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_without_any_known_role_is_refused() {
        assert!(!hello_has_roles(&Dict::new()));
        assert!(!hello_has_roles(&Dict::new().with("roles", Dict::new())));
        assert!(!hello_has_roles(&Dict::new().with("roles", Dict::new().with("boss", Dict::new()))));
        assert!(hello_has_roles(&Dict::new().with("roles", Dict::new().with("caller", Dict::new()))));
    }

    #[test]
    fn welcome_announces_broker_and_dealer_and_the_agent() {
        let d = welcome_details("anon", "anonymous");
        let roles = d.get("roles").and_then(Value::as_dict).cloned().unwrap_or_default();
        assert!(roles.get("broker").is_some());
        assert!(roles.get("dealer").is_some());
        assert_eq!(d.get_str("agent"), Some(AGENT));
        assert_eq!(d.get_str("authrole"), Some("anonymous"));
    }
}
