//! Authorization: what a session's role may do with a URI, decided on the shard the action
//! arrives at, without any cross-shard step.
//!
//! Owns: per realm, each role's permissions as a trie built once from the configuration, and the
//! check of CALL, REGISTER, PUBLISH and SUBSCRIBE against them. Never: who a session is (login
//! decides, see the module above) or what happens to a denied action (the broker and dealer
//! answer `wamp.error.not_authorized`).
//!
//! A realm without `[[realm.role]]` tables is open: every session may do everything, and a check
//! costs one branch. In a realm with roles, the best-matching permission decides (exact, then the
//! longest prefix, then the most specific wildcard, as for pattern registrations; a prefix `""`
//! matches every URI), and a URI no permission matches is denied.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Action, Actions, RealmConfig};
use crate::realm::Realms;
use crate::wamp::trie::UriTrie;
use crate::wamp::MatchPolicy;

/// One role's permissions.
#[derive(Debug, Default)]
pub struct RolePermissions {
    /// Exact, non-empty prefix and wildcard permissions.
    trie: UriTrie<Actions>,
    /// The permission of prefix `""` (every URI), if the role has one.
    everything: Option<Actions>,
}

impl RolePermissions {
    /// True if the role may do `action` with `uri`.
    pub fn allows(&self, uri: &str, action: Action) -> bool {
        self.actions(uri).allows(action)
    }

    /// Everything the role may do with `uri`: the best-matching permission's actions.
    pub fn actions(&self, uri: &str) -> Actions {
        let best = match self.trie.best_match(uri) {
            Some((a, MatchPolicy::Exact | MatchPolicy::Prefix)) => Some(*a),
            Some((a, MatchPolicy::Wildcard)) => self.everything.or(Some(*a)),
            None => self.everything,
        };
        best.unwrap_or_default()
    }
}

/// URIs one session's permissions were looked up for last, with what they allow: a session
/// that calls or publishes to the same few URIs again and again (the common case) pays a string
/// comparison instead of a trie lookup. Its entries are only valid for the permissions they
/// were computed from; whoever replaces a session's permissions clears it.
#[derive(Debug, Default)]
pub struct DecisionCache {
    /// (URI, actions allowed), at most [`DECISION_CACHE_SIZE`], replaced round-robin.
    entries: Vec<(Box<str>, Actions)>,
    /// The entry replaced next.
    next: usize,
}

/// URIs a [`DecisionCache`] remembers: enough for a client's hot procedures and topics, small
/// enough that a miss (a linear scan) stays cheaper than a trie lookup.
pub const DECISION_CACHE_SIZE: usize = 4;

impl DecisionCache {
    /// True if `permissions` allow `action` on `uri`, from the cache when it knows `uri`.
    pub fn allows(&mut self, permissions: &RolePermissions, uri: &str, action: Action) -> bool {
        if let Some((_, a)) = self.entries.iter().find(|(u, _)| **u == *uri) {
            return a.allows(action);
        }
        let actions = permissions.actions(uri);
        if self.entries.len() < DECISION_CACHE_SIZE {
            self.entries.push((uri.into(), actions));
        } else if let Some(slot) = self.entries.get_mut(self.next) {
            *slot = (uri.into(), actions);
            self.next = (self.next + 1) % DECISION_CACHE_SIZE;
        }
        actions.allows(action)
    }
}

/// Per realm: `None` for an open realm, else role name -> permissions.
pub type RealmRoles = Option<HashMap<String, Arc<RolePermissions>>>;

/// The roles of every realm, in realm order.
pub fn realm_roles(realms: &Realms) -> Vec<RealmRoles> {
    (0..realms.len()).map(|i| realms.get(i).and_then(roles_of)).collect()
}

fn roles_of(realm: &RealmConfig) -> RealmRoles {
    if realm.roles.is_empty() {
        return None;
    }
    let roles = realm.roles.iter().map(|role| {
        let mut p = RolePermissions::default();
        for perm in &role.permissions {
            if perm.uri.is_empty() && perm.policy == MatchPolicy::Prefix {
                p.everything = Some(perm.allow);
            } else {
                p.trie.insert(&perm.uri, perm.policy, perm.allow);
            }
        }
        (role.name.clone(), Arc::new(p))
    });
    Some(roles.collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::{Permission, RoleConfig};

    fn role(perms: &[(&str, MatchPolicy, &[Action])]) -> Arc<RolePermissions> {
        let permissions = perms
            .iter()
            .map(|(uri, policy, allow)| Permission {
                uri: (*uri).into(),
                policy: *policy,
                allow: allow.iter().fold(Actions::default(), |a, x| a.with(*x)),
            })
            .collect();
        let realm = RealmConfig { roles: vec![RoleConfig { name: "r".into(), permissions }], ..RealmConfig::default() };
        roles_of(&realm).unwrap().remove("r").unwrap()
    }

    #[test]
    fn the_best_matching_permission_decides() {
        let r = role(&[
            ("com.app.", MatchPolicy::Prefix, &[Action::Call, Action::Subscribe]),
            ("com.app.admin.", MatchPolicy::Prefix, &[]),
            ("com.app.admin.ping", MatchPolicy::Exact, &[Action::Call]),
            ("com..status", MatchPolicy::Wildcard, &[Action::Publish]),
        ]);
        assert!(r.allows("com.app.x", Action::Call) && r.allows("com.app.x", Action::Subscribe));
        assert!(!r.allows("com.app.x", Action::Publish));
        assert!(!r.allows("com.app.admin.kill", Action::Call), "the longer prefix wins");
        assert!(r.allows("com.app.admin.ping", Action::Call), "exact wins");
        assert!(r.allows("com.dev.status", Action::Publish));
        assert!(!r.allows("org.other", Action::Call), "no match: denied");
    }

    #[test]
    fn an_empty_prefix_matches_everything_and_beats_wildcards() {
        let r = role(&[
            ("", MatchPolicy::Prefix, &[Action::Subscribe]),
            ("com..x", MatchPolicy::Wildcard, &[Action::Call]),
        ]);
        assert!(r.allows("any.thing", Action::Subscribe));
        assert!(!r.allows("com.a.x", Action::Call) && r.allows("com.a.x", Action::Subscribe));
    }

    #[test]
    fn the_decision_cache_answers_as_the_permissions_do_for_more_uris_than_it_holds() {
        let r = role(&[
            ("com.a.", MatchPolicy::Prefix, &[Action::Call]),
            ("com.b", MatchPolicy::Exact, &[Action::Publish]),
        ]);
        let mut cache = DecisionCache::default();
        let uris = ["com.a.x", "com.b", "com.c", "com.a.y", "com.b.z", "com.b", "com.a.x"];
        for _ in 0..3 {
            for uri in uris {
                for action in [Action::Call, Action::Publish, Action::Subscribe] {
                    assert_eq!(cache.allows(&r, uri, action), r.allows(uri, action), "{uri} {action:?}");
                }
            }
        }
        assert_eq!(cache.entries.len(), DECISION_CACHE_SIZE);
    }

    #[test]
    fn a_realm_without_roles_is_open() {
        assert!(roles_of(&RealmConfig::default()).is_none());
    }
}
