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
        let best = match self.trie.best_match(uri) {
            Some((a, MatchPolicy::Exact | MatchPolicy::Prefix)) => Some(*a),
            Some((a, MatchPolicy::Wildcard)) => self.everything.or(Some(*a)),
            None => self.everything,
        };
        best.is_some_and(|a| a.allows(action))
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
    fn a_realm_without_roles_is_open() {
        assert!(roles_of(&RealmConfig::default()).is_none());
    }
}
