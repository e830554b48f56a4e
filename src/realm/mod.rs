//! The realms a router serves and their per-realm options.
//!
//! Owns: [`Realms`], the immutable table every shard holds a copy of, indexed the same way on
//! every shard so that cross-shard messages name a realm by index. Never: routing state (each
//! shard's `router` keeps that per realm).

use crate::router::RealmIdx;
use crate::wamp::UriCheck;

/// One realm's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Realm {
    /// The realm URI clients name in HELLO.
    pub name: String,
    /// How strictly topic and procedure URIs are checked in this realm.
    pub uri_check: UriCheck,
}

/// The realms of a router, in configuration order.
#[derive(Clone, Debug, Default)]
pub struct Realms(Vec<Realm>);

impl Realms {
    /// A table of `realms`; names are unique (the configuration validates that).
    pub fn new(realms: Vec<Realm>) -> Realms {
        Realms(realms)
    }

    /// The index of the realm called `name`.
    pub fn find(&self, name: &str) -> Option<RealmIdx> {
        self.0.iter().position(|r| r.name == name)
    }

    /// The realm at `idx`.
    pub fn get(&self, idx: RealmIdx) -> Option<&Realm> {
        self.0.get(idx)
    }

    /// Number of realms.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no realms.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
