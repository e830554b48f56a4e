//! The WAMP meta API as data: the reserved procedures the router answers, their arguments decoded
//! into typed requests, and the payloads of meta events.
//!
//! Owns: [`MetaCall`] (one variant per procedure, arguments checked once, `invalid_argument`
//! otherwise), the meta topics, the session details every meta answer and event shares, and
//! testaments as a session records them. Never: state or routing: the router answers the calls
//! from its replicas or by gathering from every shard, and publishes the events.

pub mod history;
pub mod testament;

use std::time::SystemTime;

use crate::wamp::uri::{is_valid_uri, UriCheck};
use crate::wamp::{Dict, ErrorUri, Id, MatchPolicy, Serializer, Value};
pub use history::HistoryQuery;
pub use testament::{Testament, TestamentScope};

/// `wamp.session.on_join`: a session joined the realm (its details as the only argument).
pub const ON_JOIN: &str = "wamp.session.on_join";
/// `wamp.session.on_leave`: a session left (session id, authid, authrole).
pub const ON_LEAVE: &str = "wamp.session.on_leave";

/// `t` as an RFC 3339 timestamp in UTC (`2026-12-01T21:00:26.123456Z`), as meta answers and the
/// event history give times.
pub fn rfc3339(t: SystemTime) -> String {
    let format = time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from(t).format(&format).unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// A meta procedure call the router refuses: its ERROR's URI and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BadCall {
    /// `wamp.error.invalid_argument`, or `wamp.error.invalid_uri` for a bad topic.
    pub error: ErrorUri,
    /// What was wrong, for the caller.
    pub message: String,
}

impl BadCall {
    /// An argument of the wrong type or value.
    pub fn argument(message: impl Into<String>) -> BadCall {
        BadCall { error: ErrorUri::InvalidArgument, message: message.into() }
    }
}

fn invalid(s: &str) -> BadCall {
    BadCall::argument(s)
}

/// Which sessions a kill names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KillTarget {
    /// One session by id.
    Session(Id),
    /// Every session with this authid.
    AuthId(String),
    /// Every session with this authrole.
    AuthRole(String),
    /// Every session of the realm.
    All,
}

/// A `wamp.session.kill*` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kill {
    /// Who is killed.
    pub target: KillTarget,
    /// The GOODBYE reason (`wamp.close.killed` unless given).
    pub reason: String,
    /// The GOODBYE message, if given.
    pub message: Option<String>,
}

/// A revocation: one session removed from a subscription or registration by the router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoke {
    /// The subscription or registration.
    pub id: Id,
    /// The session removed from it.
    pub session: Id,
    /// The reason given to the session, if any.
    pub reason: Option<String>,
}

/// A call to a procedure of the meta API, arguments decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaCall {
    /// `wamp.session.count(filter_authroles)`.
    SessionCount(Option<Vec<String>>),
    /// `wamp.session.list(filter_authroles)`.
    SessionList(Option<Vec<String>>),
    /// `wamp.session.get(session)`.
    SessionGet(Id),
    /// `wamp.session.kill`, `kill_by_authid`, `kill_by_authrole`, `kill_all`.
    Kill(Kill),
    /// `wamp.session.add_testament(topic, args, kwargs, publish_options, scope)`.
    AddTestament(Box<Testament>),
    /// `wamp.session.flush_testaments(scope)`.
    FlushTestaments(TestamentScope),
    /// `wamp.registration.list()`: ids by match policy.
    RegistrationList,
    /// `wamp.registration.get(registration)`.
    RegistrationGet(Id),
    /// `wamp.registration.list_callees(registration)`.
    RegistrationCallees(Id),
    /// `wamp.registration.count_callees(registration)`.
    RegistrationCountCallees(Id),
    /// `wamp.subscription.list()`: ids by match policy.
    SubscriptionList,
    /// `wamp.subscription.get(subscription)`.
    SubscriptionGet(Id),
    /// `wamp.subscription.list_subscribers(subscription)`.
    SubscriptionSubscribers(Id),
    /// `wamp.subscription.count_subscribers(subscription)`.
    SubscriptionCountSubscribers(Id),
    /// `wamp.subscription.get_events(subscription, limit, ...)`.
    GetEvents(HistoryQuery),
    /// `wamp.subscription.remove_subscriber(subscription, session, reason=)`.
    RemoveSubscriber(Revoke),
    /// `wamp.registration.remove_callee(registration, session, reason=)`.
    RemoveCallee(Revoke),
    /// `wamp.registration.lookup(procedure, options)`.
    RegistrationLookup(String, MatchPolicy),
    /// `wamp.registration.match(procedure)`.
    RegistrationMatch(String),
    /// `wamp.subscription.lookup(topic, options)`.
    SubscriptionLookup(String, MatchPolicy),
    /// `wamp.subscription.match(topic)`.
    SubscriptionMatch(String),
}

/// Positional arguments and keyword arguments of a call, looked up by position or name.
struct Args<'a> {
    args: &'a [Value],
    kwargs: Option<&'a Dict>,
}

impl<'a> Args<'a> {
    /// Argument `i`, or the keyword `name`; `None` when absent or null.
    fn get(&self, i: usize, name: &str) -> Option<&'a Value> {
        self.args.get(i).or_else(|| self.kwargs.and_then(|k| k.get(name))).filter(|v| !matches!(v, Value::Null))
    }

    fn id(&self, i: usize, name: &str) -> Result<Id, BadCall> {
        self.get(i, name)
            .and_then(Value::as_u64)
            .and_then(Id::new)
            .filter(|id| *id != Id::ZERO)
            .ok_or_else(|| BadCall::argument(format!("`{name}` must be an id")))
    }

    fn string(&self, i: usize, name: &str) -> Result<&'a str, BadCall> {
        self.optional_string(i, name)?.ok_or_else(|| BadCall::argument(format!("`{name}` must be a string")))
    }

    fn optional_string(&self, i: usize, name: &str) -> Result<Option<&'a str>, BadCall> {
        match self.get(i, name) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| BadCall::argument(format!("`{name}` must be a string"))),
        }
    }

    fn strings(&self, i: usize, name: &str) -> Result<Option<Vec<String>>, BadCall> {
        let Some(v) = self.get(i, name) else { return Ok(None) };
        let wrong = || BadCall::argument(format!("`{name}` must be a list of strings"));
        let list = match v {
            Value::List(l) => l,
            _ => return Err(wrong()),
        };
        list.iter().map(|v| v.as_str().map(str::to_owned).ok_or_else(wrong)).collect::<Result<_, _>>().map(Some)
    }

    fn policy(&self, i: usize) -> Result<MatchPolicy, BadCall> {
        match self.get(i, "options") {
            None => Ok(MatchPolicy::Exact),
            Some(Value::Dict(o)) => match o.get("match") {
                None | Some(Value::Null) => Ok(MatchPolicy::Exact),
                Some(Value::Str(s)) => MatchPolicy::from_option(s).ok_or_else(|| invalid("unknown match policy")),
                Some(_) => Err(invalid("options.match must be a string")),
            },
            Some(_) => Err(invalid("the options argument must be a dict")),
        }
    }

    /// `(id, session, reason=)` of a revocation; `what` and `who` name the first two arguments.
    fn revoke(&self, what: &str, who: &str) -> Result<Revoke, BadCall> {
        let reason = match self.optional_string(2, "reason")? {
            Some(r) if !is_valid_uri(r, UriCheck::Loose) => return Err(invalid("`reason` must be a valid URI")),
            r => r.map(str::to_owned),
        };
        Ok(Revoke { id: self.id(0, what)?, session: self.id(1, who)?, reason })
    }

    /// The `reason` and `message` of a kill, after `skip` positional arguments.
    fn kill(&self, target: KillTarget, skip: usize) -> Result<Kill, BadCall> {
        let reason = match self.optional_string(skip, "reason")? {
            None => ErrorUri::Killed.uri().to_owned(),
            Some(r) if is_valid_uri(r, UriCheck::Loose) => r.to_owned(),
            Some(_) => return Err(invalid("`reason` must be a valid URI")),
        };
        let message = self.optional_string(skip + 1, "message")?.map(str::to_owned);
        Ok(Kill { target, reason, message })
    }
}

impl MetaCall {
    /// The meta call to `procedure` with these arguments: `None` if the router has no such
    /// procedure, an error if the arguments do not fit it.
    pub fn decode(
        procedure: &str,
        args: &[Value],
        kwargs: Option<&Dict>,
        uri_check: UriCheck,
    ) -> Option<Result<MetaCall, BadCall>> {
        let a = Args { args, kwargs };
        let kill = |target: Result<KillTarget, BadCall>, skip| target.and_then(|t| a.kill(t, skip));
        Some(match procedure {
            "wamp.session.count" => a.strings(0, "filter_authroles").map(MetaCall::SessionCount),
            "wamp.session.list" => a.strings(0, "filter_authroles").map(MetaCall::SessionList),
            "wamp.session.get" => a.id(0, "session").map(MetaCall::SessionGet),
            "wamp.session.kill" => kill(a.id(0, "session").map(KillTarget::Session), 1).map(MetaCall::Kill),
            "wamp.session.kill_by_authid" => {
                kill(a.string(0, "authid").map(|s| KillTarget::AuthId(s.into())), 1).map(MetaCall::Kill)
            }
            "wamp.session.kill_by_authrole" => {
                kill(a.string(0, "authrole").map(|s| KillTarget::AuthRole(s.into())), 1).map(MetaCall::Kill)
            }
            "wamp.session.kill_all" => kill(Ok(KillTarget::All), 0).map(MetaCall::Kill),
            "wamp.session.add_testament" => {
                Testament::decode(args, kwargs, uri_check).map(|t| MetaCall::AddTestament(Box::new(t)))
            }
            "wamp.session.flush_testaments" => TestamentScope::decode(a.get(0, "scope")).map(MetaCall::FlushTestaments),
            "wamp.registration.list" => Ok(MetaCall::RegistrationList),
            "wamp.registration.get" => a.id(0, "registration").map(MetaCall::RegistrationGet),
            "wamp.registration.list_callees" => a.id(0, "registration").map(MetaCall::RegistrationCallees),
            "wamp.registration.count_callees" => a.id(0, "registration").map(MetaCall::RegistrationCountCallees),
            "wamp.subscription.list" => Ok(MetaCall::SubscriptionList),
            "wamp.subscription.get" => a.id(0, "subscription").map(MetaCall::SubscriptionGet),
            "wamp.subscription.list_subscribers" => a.id(0, "subscription").map(MetaCall::SubscriptionSubscribers),
            "wamp.subscription.count_subscribers" => {
                a.id(0, "subscription").map(MetaCall::SubscriptionCountSubscribers)
            }
            "wamp.subscription.get_events" => HistoryQuery::decode(&a).map(MetaCall::GetEvents),
            "wamp.subscription.remove_subscriber" => {
                a.revoke("subscription", "subscriber_id").map(MetaCall::RemoveSubscriber)
            }
            "wamp.registration.remove_callee" => a.revoke("registration", "callee_id").map(MetaCall::RemoveCallee),
            "wamp.registration.lookup" => {
                a.string(0, "procedure").and_then(|u| Ok(MetaCall::RegistrationLookup(u.into(), a.policy(1)?)))
            }
            "wamp.registration.match" => a.string(0, "procedure").map(|u| MetaCall::RegistrationMatch(u.into())),
            "wamp.subscription.lookup" => {
                a.string(0, "topic").and_then(|u| Ok(MetaCall::SubscriptionLookup(u.into(), a.policy(1)?)))
            }
            "wamp.subscription.match" => a.string(0, "topic").map(|u| MetaCall::SubscriptionMatch(u.into())),
            _ => return None,
        })
    }
}

/// The details of a subscription (`wamp.subscription.get`, `on_create`): `id`, `created`, `uri`,
/// `match`; a registration's add `invoke`.
pub fn entry_details(id: Id, created: SystemTime, uri: &str, policy: MatchPolicy, invoke: Option<&str>) -> Dict {
    let d = Dict::new()
        .with("id", id.get())
        .with("created", rfc3339(created))
        .with("uri", uri)
        .with("match", policy.as_str());
    match invoke {
        Some(i) => d.with("invoke", i),
        None => d,
    }
}

/// What the meta API says about one session: `wamp.session.get` answers it, `on_join` carries it.
#[derive(Clone, Copy, Debug)]
pub struct SessionFacts<'a> {
    /// The session id.
    pub session: Id,
    /// Its authid.
    pub authid: &'a str,
    /// Its authrole.
    pub authrole: &'a str,
    /// How it authenticated.
    pub authmethod: &'a str,
    /// Who authenticated it.
    pub authprovider: &'a str,
    /// `websocket` or `rawsocket`.
    pub transport: &'static str,
    /// The serializer it speaks.
    pub serializer: Serializer,
    /// The peer's address.
    pub peer: &'a str,
}

impl SessionFacts<'_> {
    /// The details dict: `session`, `authid`, `authrole`, `authmethod`, `authprovider`,
    /// `authextra`, `serializer` and `transport` (`type`, `peer`), as Crossbar.io sends them.
    pub fn details(&self) -> Dict {
        let transport = Dict::new().with("type", self.transport).with("peer", self.peer);
        Dict::new()
            .with("session", self.session.get())
            .with("authid", self.authid)
            .with("authrole", self.authrole)
            .with("authmethod", self.authmethod)
            .with("authprovider", self.authprovider)
            .with("authextra", Dict::new())
            .with("serializer", self.serializer.to_string())
            .with("transport", transport)
    }

    /// The arguments of `wamp.session.on_leave`: session id, authid, authrole.
    pub fn leave_args(&self) -> Vec<Value> {
        vec![Value::UInt(self.session.get()), Value::from(self.authid), Value::from(self.authrole)]
    }

    /// True if a `filter_authroles` list (absent: no filter) admits this session.
    pub fn in_roles(&self, roles: Option<&[String]>) -> bool {
        roles.is_none_or(|r| r.iter().any(|x| x == self.authrole))
    }
}

#[cfg(test)]
mod tests;
