//! `wamp.subscription.get_events`: which stored events a caller asks for.
//!
//! Owns: [`HistoryQuery`], the arguments of `get_events` decoded once (limit, order, time and
//! publication bounds, topic), and [`HistoryQuery::select`], which applies them to a topic's
//! stored events. Never: storing events (the router does, on each rule's home shard) or
//! deciding who may read them.

use std::time::SystemTime;

use super::{invalid, Args, BadCall};
use crate::wamp::{Id, Value};

/// Events returned when the caller gives no `limit` (as Crossbar.io does).
pub const DEFAULT_EVENTS_LIMIT: usize = 10;

/// The arguments of `get_events(subscription, limit, ...)`; bounds may be combined.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// The subscription whose topic's events are asked for.
    pub subscription: Id,
    /// At most this many events, the most recent ones.
    pub limit: usize,
    /// Newest first (oldest first by default).
    pub reverse: bool,
    /// Only events published at or after this time.
    pub from_time: Option<SystemTime>,
    /// Only events published after this time.
    pub after_time: Option<SystemTime>,
    /// Only events published before this time.
    pub before_time: Option<SystemTime>,
    /// Only events published at or before this time.
    pub until_time: Option<SystemTime>,
    /// Only events published to this topic (for pattern subscriptions).
    pub topic: Option<String>,
    /// Only this publication and later ones.
    pub from_publication: Option<Id>,
    /// Only publications after this one.
    pub after_publication: Option<Id>,
    /// Only publications before this one.
    pub before_publication: Option<Id>,
    /// Only this publication and earlier ones.
    pub until_publication: Option<Id>,
}

/// What [`HistoryQuery::select`] needs to know of one stored event.
pub trait Stored {
    /// When it was published.
    fn at(&self) -> SystemTime;
    /// Its publication id.
    fn publication(&self) -> Id;
    /// The topic it was published to.
    fn topic(&self) -> &str;
}

fn time(args: &Args<'_>, name: &str) -> Result<Option<SystemTime>, BadCall> {
    let Some(text) = args.optional_string(usize::MAX, name)? else { return Ok(None) };
    let format = time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(text, &format)
        .map_err(|_| BadCall::argument(format!("`{name}` must be an RFC 3339 timestamp")))?;
    Ok(Some(t.into()))
}

fn publication(args: &Args<'_>, name: &str) -> Result<Option<Id>, BadCall> {
    match args.get(usize::MAX, name) {
        None => Ok(None),
        Some(_) => args.id(usize::MAX, name).map(Some),
    }
}

impl HistoryQuery {
    /// `get_events(subscription, limit=, reverse=, from_time=, after_time=, before_time=,
    /// until_time=, topic=, from_publication=, after_publication=, before_publication=,
    /// until_publication=)`: the first two positional or by name, the rest by name.
    pub(super) fn decode(a: &Args<'_>) -> Result<HistoryQuery, BadCall> {
        let limit = match a.get(1, "limit") {
            None => DEFAULT_EVENTS_LIMIT,
            Some(Value::UInt(n)) => usize::try_from(*n).unwrap_or(usize::MAX),
            Some(_) => return Err(invalid("`limit` must be a non-negative integer")),
        };
        let reverse = match a.get(usize::MAX, "reverse") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("`reverse` must be a boolean")),
        };
        Ok(HistoryQuery {
            subscription: a.id(0, "subscription")?,
            limit,
            reverse,
            from_time: time(a, "from_time")?,
            after_time: time(a, "after_time")?,
            before_time: time(a, "before_time")?,
            until_time: time(a, "until_time")?,
            topic: a.optional_string(usize::MAX, "topic")?.map(str::to_owned),
            from_publication: publication(a, "from_publication")?,
            after_publication: publication(a, "after_publication")?,
            before_publication: publication(a, "before_publication")?,
            until_publication: publication(a, "until_publication")?,
        })
    }

    /// The events of `stored` (oldest first) this query selects, in the order asked for. A
    /// publication bound naming a publication that is not stored selects nothing.
    pub fn select<'a, E: Stored>(&self, stored: impl DoubleEndedIterator<Item = &'a E> + Clone) -> Vec<&'a E> {
        let position = |id: Id| stored.clone().position(|e| e.publication() == id);
        let mut first = 0usize;
        let mut end = usize::MAX;
        for (bound, inclusive, lower) in [
            (self.from_publication, true, true),
            (self.after_publication, false, true),
            (self.before_publication, false, false),
            (self.until_publication, true, false),
        ] {
            let Some(id) = bound else { continue };
            let Some(at) = position(id) else { return Vec::new() };
            match (lower, inclusive) {
                (true, true) => first = first.max(at),
                (true, false) => first = first.max(at + 1),
                (false, false) => end = end.min(at),
                (false, true) => end = end.min(at + 1),
            }
        }
        let in_time = |t: SystemTime| {
            self.from_time.is_none_or(|b| t >= b)
                && self.after_time.is_none_or(|b| t > b)
                && self.before_time.is_none_or(|b| t < b)
                && self.until_time.is_none_or(|b| t <= b)
        };
        let mut chosen: Vec<&E> = stored
            .enumerate()
            .filter(|(i, e)| *i >= first && *i < end && in_time(e.at()))
            .map(|(_, e)| e)
            .filter(|e| self.topic.as_deref().is_none_or(|t| e.topic() == t))
            .collect();
        let skip = chosen.len().saturating_sub(self.limit);
        chosen.drain(..skip);
        if self.reverse {
            chosen.reverse();
        }
        chosen
    }
}
