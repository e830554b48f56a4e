//! The realms a router serves and their per-realm options.
//!
//! Owns: [`Realms`], the immutable table every shard holds a copy of, indexed the same way on
//! every shard so that cross-shard messages name a realm by [`RealmIdx`]. Never: routing state
//! (each shard's `router` keeps that per realm).

use crate::config::RealmConfig;

/// A realm's index in the configuration, the same on every shard.
pub type RealmIdx = usize;

/// The realms of a router, in configuration order: the `[[realm]]` sections as configured.
#[derive(Clone, Debug, Default)]
pub struct Realms(Vec<RealmConfig>);

impl Realms {
    /// A table of `realms`; names are unique (the configuration validates that).
    pub fn new(realms: Vec<RealmConfig>) -> Realms {
        Realms(realms)
    }

    /// The index of the realm called `name`.
    pub fn find(&self, name: &str) -> Option<RealmIdx> {
        self.0.iter().position(|r| r.name == name)
    }

    /// The realm at `idx`.
    pub fn get(&self, idx: RealmIdx) -> Option<&RealmConfig> {
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
