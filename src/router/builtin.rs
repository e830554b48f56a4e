//! Procedures the router answers itself: calls to reserved `wamp.*` URIs are answered on the
//! caller's shard instead of going to a callee.
//!
//! Owns: [`Builtin`], the table of procedures the router implements, and their answers. Never:
//! registration by clients (a `wamp.*` REGISTER is refused as `invalid_uri`) or cross-shard
//! work: the procedures here answer from this shard's replicas, which hold the realm-wide
//! registrations and subscriptions. The meta API grows here.

use super::Router;
use crate::codec::PayloadCodec;
use crate::realm::RealmIdx;
use crate::wamp::{Dict, ErrorUri, MatchPolicy, Payload, Value};

/// A procedure the router answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Builtin {
    /// `wamp.registration.lookup(procedure, options)`: the registration of exactly this
    /// (procedure, `options.match`), or null.
    RegistrationLookup,
    /// `wamp.registration.match(procedure)`: the registration a CALL to `procedure` would go to,
    /// or null.
    RegistrationMatch,
    /// `wamp.subscription.lookup(topic, options)`: the subscription of exactly this
    /// (topic, `options.match`), or null.
    SubscriptionLookup,
    /// `wamp.subscription.match(topic)`: every subscription an event to `topic` would go to, or
    /// null if none.
    SubscriptionMatch,
}

impl Builtin {
    /// The builtin procedure called `uri`.
    pub(super) fn from_uri(uri: &str) -> Option<Builtin> {
        Some(match uri {
            "wamp.registration.lookup" => Builtin::RegistrationLookup,
            "wamp.registration.match" => Builtin::RegistrationMatch,
            "wamp.subscription.lookup" => Builtin::SubscriptionLookup,
            "wamp.subscription.match" => Builtin::SubscriptionMatch,
            _ => return None,
        })
    }
}

/// Why a builtin call failed: the ERROR's URI and message.
pub(super) type Refusal = (ErrorUri, String);

fn invalid(message: &str) -> Refusal {
    (ErrorUri::InvalidArgument, message.to_owned())
}

/// The URI argument.
fn uri(args: &[Value]) -> Result<&str, Refusal> {
    args.first().and_then(Value::as_str).ok_or_else(|| invalid("the first argument must be a URI"))
}

/// The URI argument and the `match` of the options argument (`exact` when absent).
fn uri_and_policy(args: &[Value]) -> Result<(&str, MatchPolicy), Refusal> {
    let uri = uri(args)?;
    let policy = match args.get(1) {
        None | Some(Value::Null) => MatchPolicy::Exact,
        Some(Value::Dict(options)) => match options.get("match") {
            None | Some(Value::Null) => MatchPolicy::Exact,
            Some(Value::Str(s)) => MatchPolicy::from_option(s).ok_or_else(|| invalid("unknown match policy"))?,
            Some(_) => return Err(invalid("options.match must be a string")),
        },
        Some(_) => return Err(invalid("the second argument must be an options dict")),
    };
    Ok((uri, policy))
}

fn id_or_null(id: Option<crate::wamp::Id>) -> Payload {
    Payload::Values { args: vec![id.map_or(Value::Null, |id| Value::UInt(id.get()))], kwargs: None }
}

impl Router {
    /// Answers a call to `builtin` in `realm` with `payload` as its arguments.
    pub(super) fn call_builtin(
        &self,
        builtin: Builtin,
        realm: RealmIdx,
        payload: &Payload,
    ) -> Result<Payload, Refusal> {
        let (args, _): (Vec<Value>, Option<Dict>) =
            payload.to_values().map_err(|e| invalid(&format!("arguments do not decode: {e}")))?;
        let (dealer, broker) = match (self.dealer.get(realm), self.broker.get(realm)) {
            (Some(d), Some(b)) => (d, b),
            _ => return Err((ErrorUri::NoSuchProcedure, "no such realm".to_owned())),
        };
        Ok(match builtin {
            Builtin::RegistrationLookup => {
                let (uri, policy) = uri_and_policy(&args)?;
                id_or_null(dealer.replica.get(uri, policy).map(|r| r.id))
            }
            Builtin::RegistrationMatch => id_or_null(dealer.replica.best_match(uri(&args)?).map(|(r, _)| r.id)),
            Builtin::SubscriptionLookup => {
                let (uri, policy) = uri_and_policy(&args)?;
                id_or_null(broker.replica.get(uri, policy).map(|s| s.id))
            }
            Builtin::SubscriptionMatch => {
                let mut ids = Vec::new();
                broker.replica.for_each_match(uri(&args)?, |s| ids.push(Value::UInt(s.id.get())));
                let answer = if ids.is_empty() { Value::Null } else { Value::List(ids) };
                Payload::Values { args: vec![answer], kwargs: None }
            }
        })
    }
}
