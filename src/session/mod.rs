//! One client session on its shard: lifecycle state and the data each state carries, what a
//! joined session subscribed and registered, the calls it made and the invocations it owes, and
//! its outbox.
//!
//! Owns: [`Session`], its [`State`] machine, the per-session call records ([`OutCall`],
//! [`InCall`]) and the WELCOME it gets. Never: routing decisions (the `router` makes those) or
//! I/O (the `shard` drains the outbox).
//!
//! ```text
//!   AwaitingHello --HELLO ok--> Established --GOODBYE--> Closed
//!        |                          |   \--router GOODBYE--> Closing --GOODBYE--> Closed
//!        +--anything else--> Closed (ABORT)  +--protocol violation--> Closed (ABORT)
//! ```

pub mod calls;
pub mod outbox;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use crate::auth::authorize::{DecisionCache, RolePermissions};
use crate::auth::Pending;
use crate::config::{Action, ListenerAuth, RealmConfig};
use crate::meta::Testament;
use crate::realm::RealmIdx;
use crate::wamp::id::SessionScopeIds;
use crate::wamp::options::ClientRoles;
use crate::wamp::{Dict, ErrorUri, Id, MatchPolicy, Serializer};
pub use calls::{CalleeRef, Caller, InCall, OutCall, Reroute};
pub use outbox::{MessageClass, Outbox, Outgoing, Pushed};

/// The agent string the router announces in WELCOME.
pub const AGENT: &str = concat!("wampyard-", env!("CARGO_PKG_VERSION"));

/// A shard's index, `0..shards`: which shard owns a session.
pub type ShardId = usize;

/// Maps keyed by WAMP ids, touched for every call (calls made, invocations owed, session lookup):
/// foldhash is several times faster than SipHash on one integer, and is seeded per process, so
/// a peer choosing its request ids cannot aim at collisions (the maps are bounded anyway).
pub type IdMap<V> = HashMap<Id, V, foldhash::fast::RandomState>;

/// Where a session's lifecycle stands, with the data that state has.
#[derive(Debug)]
pub enum State {
    /// Connected; the first message must be HELLO before `deadline`.
    AwaitingHello {
        /// When the connection is closed if no HELLO came (the router's timer queue holds it).
        deadline: Instant,
    },
    /// HELLO came and a CHALLENGE went out; AUTHENTICATE must come before the same deadline.
    Challenged(Box<Challenged>),
    /// A login failed; its ABORT goes out at `deadline` (repeated failures are slowed down).
    Refused {
        /// When the ABORT is sent (the router's timer queue holds it).
        deadline: Instant,
        /// The ABORT's reason.
        error: ErrorUri,
        /// The ABORT's message.
        message: String,
    },
    /// WELCOME sent; the session may publish, subscribe, call and register.
    Established(Joined),
    /// The router sent GOODBYE and waits for the peer's GOODBYE; routing goes on until then.
    Closing(Joined),
    /// Over: ABORT or GOODBYE exchanged, or the transport is gone. Nothing more is routed.
    Closed,
}

/// A login waiting for its AUTHENTICATE: what the HELLO asked for.
#[derive(Debug)]
pub struct Challenged {
    /// The handshake deadline, the same as before HELLO (the router's timer queue holds it).
    pub deadline: Instant,
    /// The realm asked for.
    pub realm: RealmIdx,
    /// The roles and features the HELLO announced.
    pub roles: ClientRoles,
    /// The session id it will get (a WAMP-CRA challenge names it).
    pub session: Id,
    /// What the AUTHENTICATE must prove.
    pub pending: Pending,
}

impl State {
    /// The handshake deadline, while there is one (before WELCOME).
    pub fn handshake_deadline(&self) -> Option<Instant> {
        match self {
            State::AwaitingHello { deadline } => Some(*deadline),
            State::Challenged(c) => Some(c.deadline),
            State::Refused { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }
}

/// Who a joined session is, as authentication decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The authenticated identity (anonymous sessions get a generated one).
    pub authid: Arc<str>,
    /// The role the session acts under.
    pub authrole: Arc<str>,
    /// How the session authenticated (`anonymous`, ...).
    pub authmethod: &'static str,
    /// Who authenticated it (`static`, ...).
    pub authprovider: &'static str,
}

/// A session that joined a realm: everything it holds there.
#[derive(Debug)]
pub struct Joined {
    /// The session id (global scope: random).
    pub id: Id,
    /// The realm joined.
    pub realm: RealmIdx,
    /// Who the session is.
    pub identity: Identity,
    /// The roles and features the client announced in HELLO.
    pub roles: ClientRoles,
    /// Subscription ids this session holds; used to answer UNSUBSCRIBE and to clean up on leave.
    pub subscriptions: HashSet<Id>,
    /// registration id -> (procedure, policy): registrations this session serves, to answer
    /// UNREGISTER and to tell the home shards on leave.
    pub registrations: HashMap<Id, (Arc<str>, MatchPolicy)>,
    /// CALL request id -> the call in flight, as caller. Bounded by
    /// `limits.max_calls_per_session`.
    pub calls: IdMap<OutCall>,
    /// INVOCATION request id -> the call it belongs to, as callee; answered by YIELD or ERROR, or
    /// failed with `canceled` when the session leaves. Bounded by
    /// `limits.max_invocations_per_session`.
    pub invocations: IdMap<InCall>,
    /// INVOCATION request ids sent to this session: sequential per session, as the spec requires.
    pub invocation_ids: SessionScopeIds,
    /// The last request id the client used (SUBSCRIBE, PUBLISH, CALL, ...): checked to count up
    /// by one where the realm asks for sequential request ids, and to tell a late progressive
    /// CALL of a finished call from a new one.
    pub last_request: u64,
    /// The realm requires request ids to count up by one (`sequential_request_ids`).
    pub sequential_requests: bool,
    /// Events to publish when the session leaves, in the order added; at most
    /// `meta::testament::MAX_TESTAMENTS_PER_SESSION`.
    pub testaments: Vec<Testament>,
    /// Meta API calls waiting for every shard's answer; counted with `calls` against
    /// `limits.max_calls_per_session`.
    pub queries: usize,
    /// What the session's role may do; `None` in an open realm (no roles configured).
    pub permissions: Option<Arc<RolePermissions>>,
    /// The last decisions taken with `permissions` (cleared whenever they change).
    pub decisions: DecisionCache,
}

impl Joined {
    /// A session that just joined `realm` (configured as `realm`, at index `realm_idx`) as `id`.
    pub fn new(id: Id, realm: &RealmConfig, realm_idx: RealmIdx, identity: Identity, roles: ClientRoles) -> Joined {
        Joined {
            id,
            realm: realm_idx,
            identity,
            roles,
            subscriptions: HashSet::new(),
            registrations: HashMap::new(),
            calls: IdMap::default(),
            invocations: IdMap::default(),
            invocation_ids: SessionScopeIds::default(),
            last_request: 0,
            sequential_requests: realm.sequential_request_ids,
            testaments: Vec::new(),
            queries: 0,
            permissions: None,
            decisions: DecisionCache::default(),
        }
    }
}

impl Joined {
    /// True if the session may do `action` with `uri` (always in an open realm).
    pub fn may(&mut self, uri: &str, action: Action) -> bool {
        match &self.permissions {
            None => true,
            Some(p) => self.decisions.allows(p, uri, action),
        }
    }

    /// Records a request id the client used. With sequential request ids required, an id that
    /// does not count up by one is refused: the id that was due is returned.
    pub fn note_request(&mut self, request: Id) -> Result<(), u64> {
        let expected = if self.last_request >= crate::wamp::id::MAX_ID { 1 } else { self.last_request + 1 };
        if self.sequential_requests && request.get() != expected {
            return Err(expected);
        }
        self.last_request = request.get();
        Ok(())
    }
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
    /// The logins the connection's listener accepts.
    pub auth: Arc<ListenerAuth>,
}

/// One client connection and its session.
#[derive(Debug)]
pub struct Session {
    /// Lifecycle state and its data.
    pub state: State,
    /// Transport facts.
    pub conn: ConnInfo,
    /// Encoded messages waiting for the writer.
    pub outbox: Outbox,
}

impl Session {
    /// A new connection that must send HELLO before `deadline`.
    pub fn new(conn: ConnInfo, outbox: Outbox, deadline: Instant) -> Session {
        Session { state: State::AwaitingHello { deadline }, conn, outbox }
    }

    /// The joined session, if it may route messages (established or closing).
    pub fn joined(&self) -> Option<&Joined> {
        match &self.state {
            State::Established(j) | State::Closing(j) => Some(j),
            _ => None,
        }
    }

    /// The joined session, mutably.
    pub fn joined_mut(&mut self) -> Option<&mut Joined> {
        match &mut self.state {
            State::Established(j) | State::Closing(j) => Some(j),
            _ => None,
        }
    }

    /// The session id, once joined.
    pub fn id(&self) -> Option<Id> {
        self.joined().map(|j| j.id)
    }

    /// Ends a joined session: the state becomes `Closed` and what it held is returned for
    /// cleanup. Any other state is left as it is.
    pub fn leave(&mut self) -> Option<Joined> {
        self.joined()?;
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Established(j) | State::Closing(j) => Some(j),
            _ => None,
        }
    }
}

/// The WELCOME.Details the router sends: its roles with exactly the features implemented, the
/// agent, and the authentication outcome.
pub fn welcome_details(identity: &Identity) -> Dict {
    let broker_features = Dict::new()
        .with("publisher_exclusion", true)
        .with("pattern_based_subscription", true)
        .with("publisher_identification", true)
        .with("subscriber_blackwhite_listing", true)
        .with("session_meta_api", true)
        .with("subscription_meta_api", true)
        .with("subscription_revocation", true)
        .with("event_retention", true)
        .with("event_history", true);
    let dealer_features = Dict::new()
        .with("pattern_based_registration", true)
        .with("progressive_call_results", true)
        .with("progressive_call_invocations", true)
        .with("call_canceling", true)
        .with("call_timeout", true)
        .with("caller_identification", true)
        .with("shared_registration", true)
        .with("call_reroute", true)
        .with("sharded_registration", true)
        .with("payload_passthru_mode", true)
        .with("session_meta_api", true)
        .with("registration_meta_api", true)
        .with("registration_revocation", true)
        .with("testament_meta_api", true);
    let roles = Dict::new()
        .with("broker", Dict::new().with("features", broker_features))
        .with("dealer", Dict::new().with("features", dealer_features));
    Dict::new()
        .with("roles", roles)
        .with("agent", AGENT)
        .with("authid", &*identity.authid)
        .with("authrole", &*identity.authrole)
        .with("authmethod", identity.authmethod)
        .with("authprovider", identity.authprovider)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wamp::Value;

    #[test]
    fn welcome_announces_broker_and_dealer_and_the_agent() {
        let identity = Identity {
            authid: "anon".into(),
            authrole: "anonymous".into(),
            authmethod: "anonymous",
            authprovider: "static",
        };
        let d = welcome_details(&identity);
        let roles = d.get("roles").and_then(Value::as_dict).cloned().unwrap_or_default();
        assert!(roles.get("broker").is_some());
        assert!(roles.get("dealer").is_some());
        assert_eq!(d.get_str("agent"), Some(AGENT));
        assert_eq!(d.get_str("authrole"), Some("anonymous"));
    }
}
