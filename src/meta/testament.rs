//! Testaments: events a session asks the router to publish for it when it leaves.
//!
//! Owns: [`Testament`] as `wamp.session.add_testament` describes it, checked when it is added
//! (topic, payload, publish options), and [`TestamentScope`]. Never: publishing (the router does
//! it on the shard the session lived on, when the session leaves) or keeping them (the session's
//! `Joined` record does, at most [`MAX_TESTAMENTS_PER_SESSION`]).

use super::{invalid, BadCall};
use crate::wamp::options::PublishOptions;
use crate::wamp::uri::{is_reserved, is_valid_uri, UriCheck};
use crate::wamp::{Dict, ErrorUri, Payload, Value};

/// Testaments one session may leave. Each holds a payload of at most one message, so this bounds
/// what a session can make the router keep for it to 64 messages; applications leave one or two.
pub const MAX_TESTAMENTS_PER_SESSION: usize = 64;

/// When a testament is published. Both happen when a session leaves (the router does not resume
/// sessions): `detached` ones first, then `destroyed` ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TestamentScope {
    /// When the session's transport detaches from it.
    Detached,
    /// When the session ends (the default).
    #[default]
    Destroyed,
}

impl TestamentScope {
    /// The `scope` argument: absent means `destroyed`.
    pub fn decode(v: Option<&Value>) -> Result<TestamentScope, BadCall> {
        match v {
            None | Some(Value::Null) => Ok(TestamentScope::Destroyed),
            Some(Value::Str(s)) if s == "destroyed" => Ok(TestamentScope::Destroyed),
            Some(Value::Str(s)) if s == "detached" => Ok(TestamentScope::Detached),
            Some(_) => Err(invalid("`scope` must be \"destroyed\" or \"detached\"")),
        }
    }
}

/// An event to publish when its session leaves.
#[derive(Clone, Debug, PartialEq)]
pub struct Testament {
    /// The topic, a valid non-reserved URI.
    pub topic: String,
    /// Arguments and keyword arguments.
    pub payload: Payload,
    /// The publish options (`exclude_me` is moot: the publisher is gone).
    pub options: PublishOptions,
    /// When it is published.
    pub scope: TestamentScope,
}

impl Testament {
    /// `add_testament(topic, args, kwargs, publish_options=, scope=)`, positional or by name.
    pub fn decode(args: &[Value], kwargs: Option<&Dict>, uri_check: UriCheck) -> Result<Testament, BadCall> {
        let get = |i: usize, name: &str| {
            args.get(i).or_else(|| kwargs.and_then(|k| k.get(name))).filter(|v| !matches!(v, Value::Null))
        };
        let topic = get(0, "topic").and_then(Value::as_str).ok_or_else(|| invalid("`topic` must be a string"))?;
        if !is_valid_uri(topic, uri_check) || is_reserved(topic) {
            let message = format!("`{topic}` is not a topic a testament may publish to");
            return Err(BadCall { error: ErrorUri::InvalidUri, message });
        }
        let event_args = match get(1, "args") {
            None => Vec::new(),
            Some(Value::List(l)) => l.clone(),
            Some(_) => return Err(invalid("`args` must be a list")),
        };
        let event_kwargs = match get(2, "kwargs") {
            None => None,
            Some(Value::Dict(d)) => Some(d.clone()),
            Some(_) => return Err(invalid("`kwargs` must be a dict")),
        };
        let options = match get(3, "publish_options") {
            None => PublishOptions::default(),
            Some(Value::Dict(d)) => PublishOptions::decode(d).map_err(|e| BadCall::argument(e.to_string()))?,
            Some(_) => return Err(invalid("`publish_options` must be a dict")),
        };
        let scope = TestamentScope::decode(get(4, "scope"))?;
        let payload = if event_args.is_empty() && event_kwargs.is_none() {
            Payload::Empty
        } else {
            Payload::Values { args: event_args, kwargs: event_kwargs }
        };
        Ok(Testament { topic: topic.to_owned(), payload, options, scope })
    }
}
