//! `SUBSCRIBE.Options` and `PUBLISH.Options`, with the subscriber black- and whitelists.
//!
//! Owns: decoding of those options and [`SubscriberFilter::admits`], the rule deciding whether a
//! subscriber may receive a publication. Never: where the filter is applied (the broker applies it
//! on the shard of each subscriber) or `exclude_me`, which the broker handles on its own.

use std::sync::Arc;

use super::{flag, match_policy, present, OptionError, Ppt};
use crate::wamp::{Dict, Id, MatchPolicy};

/// `SUBSCRIBE.Options` the router acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// `match`: how the topic URI is matched; exact by default.
    pub policy: MatchPolicy,
    /// `get_retained`: send the topic's retained event after SUBSCRIBED.
    pub get_retained: bool,
}

impl SubscribeOptions {
    /// Decodes `SUBSCRIBE.Options`.
    pub fn decode(options: &Dict) -> Result<SubscribeOptions, OptionError> {
        if options.is_empty() {
            return Ok(SubscribeOptions::default());
        }
        Ok(SubscribeOptions { policy: match_policy(options)?, get_retained: flag(options, "get_retained", false)? })
    }
}

/// `PUBLISH.Options` the router acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishOptions {
    /// `acknowledge`: the publisher wants PUBLISHED (or an ERROR).
    pub acknowledge: bool,
    /// `exclude_me`: the publisher gets no event of its own publication; true by default.
    pub exclude_me: bool,
    /// `disclose_me`: the publisher asks to be identified to subscribers.
    pub disclose_me: bool,
    /// `retain`: the event becomes the topic's retained event.
    pub retain: bool,
    /// The black- and whitelists, when the publication names any (shared: they travel with the
    /// publication to every shard).
    pub filter: Option<Arc<SubscriberFilter>>,
    /// The `ppt_*` keys, if the publication uses payload passthru mode.
    pub ppt: Option<Ppt>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            acknowledge: false,
            exclude_me: true,
            disclose_me: false,
            retain: false,
            filter: None,
            ppt: None,
        }
    }
}

impl PublishOptions {
    /// Decodes `PUBLISH.Options`.
    pub fn decode(options: &Dict) -> Result<PublishOptions, OptionError> {
        if options.is_empty() {
            return Ok(PublishOptions::default());
        }
        Ok(PublishOptions {
            acknowledge: flag(options, "acknowledge", false)?,
            exclude_me: flag(options, "exclude_me", true)?,
            disclose_me: flag(options, "disclose_me", false)?,
            retain: flag(options, "retain", false)?,
            filter: SubscriberFilter::decode(options)?.map(Arc::new),
            ppt: Ppt::decode(options)?,
        })
    }
}

/// The subscriber black- and whitelists of one publication (`eligible*`, `exclude*`). Every list
/// given must admit a subscriber (an empty whitelist admits nobody); lists are kept sorted so each
/// test is a binary search.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriberFilter {
    /// `eligible`: only these sessions.
    pub eligible: Option<Vec<Id>>,
    /// `eligible_authid`: only sessions with one of these authids.
    pub eligible_authid: Option<Vec<String>>,
    /// `eligible_authrole`: only sessions with one of these authroles.
    pub eligible_authrole: Option<Vec<String>>,
    /// `exclude`: never these sessions.
    pub exclude: Vec<Id>,
    /// `exclude_authid`: never sessions with these authids.
    pub exclude_authid: Vec<String>,
    /// `exclude_authrole`: never sessions with these authroles.
    pub exclude_authrole: Vec<String>,
}

impl SubscriberFilter {
    /// The lists of `PUBLISH.Options`; `None` when the publication names none.
    fn decode(options: &Dict) -> Result<Option<SubscriberFilter>, OptionError> {
        let f = SubscriberFilter {
            eligible: ids(options, "eligible")?,
            eligible_authid: strings(options, "eligible_authid")?,
            eligible_authrole: strings(options, "eligible_authrole")?,
            exclude: ids(options, "exclude")?.unwrap_or_default(),
            exclude_authid: strings(options, "exclude_authid")?.unwrap_or_default(),
            exclude_authrole: strings(options, "exclude_authrole")?.unwrap_or_default(),
        };
        Ok((f != SubscriberFilter::default()).then_some(f))
    }

    /// True if a subscriber with this session id, authid and authrole may receive the event:
    /// every whitelist given names it and no blacklist does.
    pub fn admits(&self, session: Id, authid: &str, authrole: &str) -> bool {
        let listed = |l: &[String], s: &str| l.binary_search_by(|x| x.as_str().cmp(s)).is_ok();
        self.eligible.as_ref().is_none_or(|l| l.binary_search(&session).is_ok())
            && self.eligible_authid.as_ref().is_none_or(|l| listed(l, authid))
            && self.eligible_authrole.as_ref().is_none_or(|l| listed(l, authrole))
            && self.exclude.binary_search(&session).is_err()
            && !listed(&self.exclude_authid, authid)
            && !listed(&self.exclude_authrole, authrole)
    }

    /// The publication names sessions (`eligible` or `exclude`): such events are not kept in the
    /// event history (session ids mean nothing to a later reader).
    pub fn names_sessions(&self) -> bool {
        self.eligible.is_some() || !self.exclude.is_empty()
    }
}

/// A list of session ids under `key`, sorted; `None` when absent.
fn ids(options: &Dict, key: &'static str) -> Result<Option<Vec<Id>>, OptionError> {
    let wrong = OptionError::WrongType { key, expected: "a list of session ids" };
    let Some(v) = present(options, key) else { return Ok(None) };
    let list = v.as_list().ok_or(wrong.clone())?;
    let mut out =
        list.iter().map(|v| v.as_u64().and_then(Id::new).ok_or(wrong.clone())).collect::<Result<Vec<_>, _>>()?;
    out.sort_unstable();
    Ok(Some(out))
}

/// A list of strings under `key`, sorted; `None` when absent.
fn strings(options: &Dict, key: &'static str) -> Result<Option<Vec<String>>, OptionError> {
    let wrong = OptionError::WrongType { key, expected: "a list of strings" };
    let Some(v) = present(options, key) else { return Ok(None) };
    let list = v.as_list().ok_or(wrong.clone())?;
    let mut out =
        list.iter().map(|v| v.as_str().map(str::to_owned).ok_or(wrong.clone())).collect::<Result<Vec<_>, _>>()?;
    out.sort_unstable();
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::wamp::Value;

    fn id(v: u64) -> Id {
        Id::new(v).unwrap()
    }

    fn list(v: &[u64]) -> Value {
        Value::List(v.iter().map(|x| Value::UInt(*x)).collect())
    }

    fn names(v: &[&str]) -> Value {
        Value::List(v.iter().map(|x| Value::from(*x)).collect())
    }

    #[test]
    fn a_publication_without_lists_has_no_filter() {
        let o = PublishOptions::decode(&Dict::new().with("acknowledge", true).with("retain", true)).unwrap();
        assert!(o.filter.is_none() && o.retain && o.acknowledge);
    }

    #[test]
    fn every_whitelist_must_admit_and_no_blacklist_may_name() {
        let d = Dict::new()
            .with("eligible", list(&[3, 1, 2]))
            .with("eligible_authrole", names(&["user", "admin"]))
            .with("exclude", list(&[2]))
            .with("exclude_authid", names(&["mallory"]));
        let f = PublishOptions::decode(&d).unwrap().filter.unwrap();
        assert!(f.admits(id(1), "alice", "user"));
        assert!(!f.admits(id(2), "bob", "user"), "excluded by session");
        assert!(!f.admits(id(3), "mallory", "admin"), "excluded by authid");
        assert!(!f.admits(id(1), "alice", "guest"), "role not eligible");
        assert!(!f.admits(id(4), "carol", "user"), "session not eligible");
        assert!(f.names_sessions());
    }

    #[test]
    fn an_empty_whitelist_admits_nobody() {
        let f = PublishOptions::decode(&Dict::new().with("eligible", list(&[]))).unwrap().filter.unwrap();
        assert!(!f.admits(id(1), "a", "b"));
    }

    #[test]
    fn authid_lists_alone_do_not_name_sessions() {
        let d = Dict::new().with("exclude_authid", names(&["x"]));
        let f = PublishOptions::decode(&d).unwrap().filter.unwrap();
        assert!(!f.names_sessions());
        assert!(f.admits(id(9), "y", "r") && !f.admits(id(9), "x", "r"));
    }

    #[test]
    fn lists_of_the_wrong_type_are_errors_naming_the_key() {
        for (key, bad) in [
            ("eligible", Value::from("1")),
            ("exclude", Value::List(vec![Value::from("1")])),
            ("exclude", Value::List(vec![Value::Int(-1)])),
            ("eligible_authid", Value::List(vec![Value::UInt(1)])),
            ("exclude_authrole", Value::from("admin")),
        ] {
            let e = PublishOptions::decode(&Dict::new().with(key, bad)).unwrap_err();
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn get_retained_is_a_boolean() {
        assert!(SubscribeOptions::decode(&Dict::new().with("get_retained", true)).unwrap().get_retained);
        assert!(SubscribeOptions::decode(&Dict::new().with("get_retained", 1u64)).is_err());
    }
}
