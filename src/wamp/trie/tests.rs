use proptest::prelude::*;

use super::*;
use crate::wamp::MatchPolicy::{Exact, Prefix, Wildcard};

/// Every value `for_each_match` reports for `uri`, sorted.
fn matches<T: Ord + Copy>(trie: &UriTrie<T>, uri: &str) -> Vec<T> {
    let mut found = Vec::new();
    trie.for_each_match(uri, |value| found.push(*value));
    found.sort();
    found
}

fn best<'t>(trie: &'t UriTrie<&'static str>, uri: &str) -> Option<(&'t str, MatchPolicy)> {
    trie.best_match(uri).map(|(value, policy)| (*value, policy))
}

fn trie_of(entries: &[(&'static str, MatchPolicy)]) -> UriTrie<&'static str> {
    let mut trie = UriTrie::new();
    for &(pattern, policy) in entries {
        assert!(trie.insert(pattern, policy, pattern).is_none());
    }
    trie
}

#[test]
fn exact_entry_matches_only_the_equal_uri() {
    let trie = trie_of(&[("com.a", Exact)]);
    assert_eq!(matches(&trie, "com.a"), ["com.a"]);
    assert!(matches(&trie, "com.a.b").is_empty());
    assert!(matches(&trie, "com.ab").is_empty());
    assert!(matches(&trie, "com").is_empty());
}

#[test]
fn prefix_is_a_string_prefix_so_com_a_matches_com_ab() {
    let trie = trie_of(&[("com.a", Prefix)]);
    for uri in ["com.a", "com.a.b", "com.ab", "com.abc.d"] {
        assert_eq!(matches(&trie, uri), ["com.a"], "{uri}");
    }
    for uri in ["com", "com.b", "co", "org.com.a"] {
        assert!(matches(&trie, uri).is_empty(), "{uri}");
    }
}

#[test]
fn prefix_with_trailing_dot_needs_a_further_component() {
    let trie = trie_of(&[("com.a.", Prefix)]);
    assert_eq!(matches(&trie, "com.a.b"), ["com.a."]);
    assert_eq!(matches(&trie, "com.a.b.c"), ["com.a."]);
    assert!(matches(&trie, "com.a").is_empty());
    assert!(matches(&trie, "com.ab").is_empty());
}

#[test]
fn single_component_prefix_matches_from_the_root() {
    let trie = trie_of(&[("co", Prefix)]);
    assert_eq!(matches(&trie, "com.a"), ["co"]);
    assert_eq!(matches(&trie, "co"), ["co"]);
    assert!(matches(&trie, "c").is_empty());
}

#[test]
fn wildcard_empty_component_matches_one_component_at_start_middle_and_end() {
    let trie = trie_of(&[(".a.b", Wildcard), ("x..y", Wildcard), ("p.q.", Wildcard)]);
    assert_eq!(matches(&trie, "z.a.b"), [".a.b"]);
    assert_eq!(matches(&trie, "x.z.y"), ["x..y"]);
    assert_eq!(matches(&trie, "p.q.z"), ["p.q."]);
    assert!(matches(&trie, "z.a.c").is_empty());
    assert!(matches(&trie, "x.z.w").is_empty());
}

#[test]
fn wildcard_component_count_must_match() {
    let trie = trie_of(&[("com..update", Wildcard), ("a..", Wildcard)]);
    assert_eq!(matches(&trie, "com.x.update"), ["com..update"]);
    assert!(matches(&trie, "com.update").is_empty());
    assert!(matches(&trie, "com.x.y.update").is_empty());
    assert!(matches(&trie, "com.x.update.more").is_empty());
    assert_eq!(matches(&trie, "a.b.c"), ["a.."]);
    assert!(matches(&trie, "a.b").is_empty());
    assert!(matches(&trie, "a.b.c.d").is_empty());
}

#[test]
fn wildcard_without_empty_components_matches_like_exact() {
    let trie = trie_of(&[("a.b", Wildcard)]);
    assert_eq!(matches(&trie, "a.b"), ["a.b"]);
    assert!(matches(&trie, "a.bc").is_empty());
}

#[test]
fn every_matching_entry_is_reported_once() {
    let trie = trie_of(&[
        ("com.a.b", Exact),
        ("com", Prefix),
        ("com.a", Prefix),
        ("com.a.", Prefix),
        ("com.a.b", Prefix),
        ("com..b", Wildcard),
        ("..b", Wildcard),
        ("com.a.", Wildcard),
        ("com.a.c", Wildcard),
    ]);
    let mut expected = vec!["com.a.b", "com", "com.a", "com.a.", "com.a.b", "com..b", "..b", "com.a."];
    expected.sort();
    assert_eq!(matches(&trie, "com.a.b"), expected);
}

#[test]
fn one_pattern_under_three_policies_is_three_entries() {
    let mut trie = UriTrie::new();
    assert!(trie.insert("com.a", Exact, 1).is_none());
    assert!(trie.insert("com.a", Prefix, 2).is_none());
    assert!(trie.insert("com.a", Wildcard, 3).is_none());
    assert_eq!(trie.len(), 3);
    assert_eq!(trie.get("com.a", Exact), Some(&1));
    assert_eq!(trie.get("com.a", Prefix), Some(&2));
    assert_eq!(trie.get("com.a", Wildcard), Some(&3));
    assert_eq!(matches(&trie, "com.a"), [1, 2, 3]);
}

#[test]
fn insert_replaces_and_returns_the_old_value() {
    let mut trie = UriTrie::new();
    for policy in [Exact, Prefix, Wildcard] {
        assert_eq!(trie.insert("a..b", policy, 1), None);
        assert_eq!(trie.insert("a..b", policy, 2), Some(1));
        assert_eq!(trie.get("a..b", policy), Some(&2));
    }
    assert_eq!(trie.len(), 3);
}

#[test]
fn get_mut_changes_the_stored_value() {
    let mut trie = UriTrie::new();
    for policy in [Exact, Prefix, Wildcard] {
        trie.insert("x..y.", policy, 0);
        *trie.get_mut("x..y.", policy).unwrap() += 5;
        assert_eq!(trie.get("x..y.", policy), Some(&5));
    }
    assert_eq!(trie.get_mut("x.y", Wildcard), None);
}

#[test]
fn best_match_prefers_exact_then_prefix_then_wildcard() {
    let mut trie = trie_of(&[("a.b.c", Exact), ("a.b", Prefix), ("a..c", Wildcard)]);
    assert_eq!(best(&trie, "a.b.c"), Some(("a.b.c", Exact)));
    trie.remove("a.b.c", Exact);
    assert_eq!(best(&trie, "a.b.c"), Some(("a.b", Prefix)));
    trie.remove("a.b", Prefix);
    assert_eq!(best(&trie, "a.b.c"), Some(("a..c", Wildcard)));
    trie.remove("a..c", Wildcard);
    assert_eq!(best(&trie, "a.b.c"), None);
}

#[test]
fn best_match_takes_the_longest_matching_prefix() {
    let trie = trie_of(&[("a1.b2", Prefix), ("a1.b2.c3", Prefix), ("a1.b2.c3.d", Prefix), ("a", Prefix)]);
    assert_eq!(best(&trie, "a1.b2.c3.d4"), Some(("a1.b2.c3.d", Prefix)));
    assert_eq!(best(&trie, "a1.b2.c98.d4"), Some(("a1.b2", Prefix)));
    assert_eq!(best(&trie, "a1.b3"), Some(("a", Prefix)));

    let trie = trie_of(&[("com.a", Prefix), ("com.ab", Prefix), ("com.", Prefix)]);
    assert_eq!(best(&trie, "com.abc"), Some(("com.ab", Prefix)));
    assert_eq!(best(&trie, "com.a.x"), Some(("com.a", Prefix)));
    assert_eq!(best(&trie, "com.b"), Some(("com.", Prefix)));
}

#[test]
fn best_match_follows_the_spec_examples() {
    let trie = trie_of(&[
        ("a1.b2.c3.d4.e55", Exact),
        ("a1.b2.c3", Prefix),
        ("a1.b2.c3.d4", Prefix),
        ("a1.b2..d4.e5", Wildcard),
        ("a1.b2.c3..e5", Wildcard),
        ("a1.b2..d4.e5..g7", Wildcard),
        ("a1.b2..d4..f6.g7", Wildcard),
    ]);
    assert_eq!(best(&trie, "a1.b2.c3.d4.e55"), Some(("a1.b2.c3.d4.e55", Exact)));
    assert_eq!(best(&trie, "a1.b2.c3.d98.e74"), Some(("a1.b2.c3", Prefix)));
    assert_eq!(best(&trie, "a1.b2.c3.d4.e325"), Some(("a1.b2.c3.d4", Prefix)));
    assert_eq!(best(&trie, "a1.b2.c55.d4.e5"), Some(("a1.b2..d4.e5", Wildcard)));
    assert_eq!(best(&trie, "a1.b2.c88.d4.e5.f6.g7"), Some(("a1.b2..d4.e5..g7", Wildcard)));
    assert_eq!(best(&trie, "a2.b2.c2.d2.e2"), None);
}

#[test]
fn best_wildcard_is_the_one_literal_at_the_first_difference() {
    let trie = trie_of(&[("a1.b2..d4.e5", Wildcard), ("a1.b2.c3..e5", Wildcard)]);
    assert_eq!(best(&trie, "a1.b2.c3.d4.e5"), Some(("a1.b2.c3..e5", Wildcard)));

    let trie = trie_of(&[("..c.d", Wildcard), (".b..", Wildcard), ("a...", Wildcard)]);
    assert_eq!(best(&trie, "a.b.c.d"), Some(("a...", Wildcard)));
    let trie = trie_of(&[("..c.d", Wildcard), (".b..", Wildcard)]);
    assert_eq!(best(&trie, "a.b.c.d"), Some((".b..", Wildcard)));
}

#[test]
fn best_wildcard_does_not_depend_on_insertion_order() {
    let patterns = ["a..c.", ".b.c.d", "a.b..d", "a...d", "...."];
    for rotation in 0..patterns.len() {
        let mut trie = UriTrie::new();
        for i in 0..patterns.len() {
            let pattern = patterns[(i + rotation) % patterns.len()];
            trie.insert(pattern, Wildcard, pattern);
        }
        assert_eq!(best(&trie, "a.b.c.d"), Some(("a.b..d", Wildcard)));
    }
}

/// True if nothing is left in the trie part: no values, no children.
fn trie_part_is_empty<T>(trie: &UriTrie<T>) -> bool {
    trie.root.child_count() == 0 && !trie.root.has_values() && trie.root.partial_lens.is_empty()
}

#[test]
fn removing_every_entry_prunes_every_node() {
    let entries = [
        ("a.b.c.d", Prefix),
        ("a.b.", Prefix),
        ("a..c.d", Wildcard),
        ("a.b.c.d", Wildcard),
        ("..", Wildcard),
        ("a.b.c.d", Exact),
    ];
    let mut trie = trie_of(&entries);
    for (i, &(pattern, policy)) in entries.iter().enumerate() {
        assert_eq!(trie.remove(pattern, policy), Some(pattern));
        assert_eq!(trie.len(), entries.len() - i - 1);
        for &(other, other_policy) in &entries[i + 1..] {
            assert_eq!(trie.get(other, other_policy), Some(&other), "{other} after removing {pattern}");
        }
    }
    assert!(trie.is_empty());
    assert!(trie_part_is_empty(&trie));
}

#[test]
fn removing_a_leaf_keeps_the_branch_other_entries_need() {
    let mut trie = trie_of(&[("a.b", Prefix), ("a.b.c.d.e", Wildcard)]);
    trie.remove("a.b.c.d.e", Wildcard);
    let a = trie.root.literal.get("a").unwrap();
    assert_eq!(a.child_count(), 0, "the chain below a must be gone");
    assert_eq!(best(&trie, "a.bx"), Some(("a.b", Prefix)));
}

#[test]
fn removing_a_missing_entry_changes_nothing() {
    let mut trie = trie_of(&[("a.b", Prefix), ("a..c", Wildcard)]);
    assert_eq!(trie.remove("a.b", Wildcard), None);
    assert_eq!(trie.remove("a.b.c", Prefix), None);
    assert_eq!(trie.remove("a..", Wildcard), None);
    assert_eq!(trie.remove("a.b", Exact), None);
    assert_eq!(trie.len(), 2);
    assert_eq!(matches(&trie, "a.b.c"), ["a..c", "a.b"]);
}

#[test]
fn iter_lists_every_entry_with_its_pattern_and_policy() {
    let entries = [
        ("com.a", Exact),
        ("com.a", Prefix),
        ("com.a.", Prefix),
        ("c", Prefix),
        (".", Prefix),
        ("", Prefix),
        ("com..x", Wildcard),
        ("..", Wildcard),
        ("", Wildcard),
    ];
    let trie = trie_of(&entries);
    let mut listed: Vec<_> = trie.iter().map(|(p, policy, v)| (p, policy, *v)).collect();
    listed.sort();
    let mut expected: Vec<_> = entries.iter().map(|&(p, policy)| (p.to_string(), policy, p)).collect();
    expected.sort();
    assert_eq!(listed, expected);
}

#[test]
fn many_pending_wildcard_branches_spill_past_the_inline_stack() {
    let depth = INLINE_BRANCHES + 8;
    let all_a = vec!["a"; depth];
    let mut trie = UriTrie::new();
    trie.insert(&all_a.join("."), Wildcard, depth);
    for hole in 0..depth {
        let mut components = all_a.clone();
        components[hole] = "";
        trie.insert(&components.join("."), Wildcard, hole);
    }
    let uri = all_a.join(".");
    assert_eq!(matches(&trie, &uri), (0..=depth).collect::<Vec<_>>());
    assert_eq!(trie.best_match(&uri), Some((&depth, Wildcard)));
    trie.remove(&uri, Wildcard);
    assert_eq!(trie.best_match(&uri), Some((&(depth - 1), Wildcard)));
}

#[test]
fn a_pattern_with_very_many_components_does_not_overflow_the_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let deep = vec!["a"; 200_000].join(".");
            let mut trie = UriTrie::new();
            trie.insert(&deep, Wildcard, 1);
            trie.insert(&deep, Prefix, 2);
            trie.insert(&format!("{deep}.b"), Wildcard, 3);
            assert_eq!(matches(&trie, &deep), [1, 2]);
            assert_eq!(trie.best_match(&deep), Some((&2, Prefix)));
            assert_eq!(trie.iter().count(), 3);
            assert_eq!(trie.remove(&deep, Wildcard), Some(1));
            assert_eq!(trie.remove(&deep, Prefix), Some(2));
            drop(trie);
        })
        .unwrap();
    handle.join().unwrap();
}

/// The naive reference: every entry checked one by one.
#[derive(Default)]
struct Reference {
    entries: Vec<(String, MatchPolicy, u32)>,
}

fn wildcard_matches(pattern: &str, uri: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let uri: Vec<&str> = uri.split('.').collect();
    pattern.len() == uri.len() && pattern.iter().zip(&uri).all(|(p, u)| p.is_empty() || p == u)
}

fn reference_matches(pattern: &str, policy: MatchPolicy, uri: &str) -> bool {
    match policy {
        Exact => pattern == uri,
        Prefix => uri.starts_with(pattern),
        Wildcard => wildcard_matches(pattern, uri),
    }
}

impl Reference {
    fn insert(&mut self, pattern: &str, policy: MatchPolicy, value: u32) -> Option<u32> {
        match self.entries.iter_mut().find(|(p, pol, _)| p == pattern && *pol == policy) {
            Some(entry) => Some(std::mem::replace(&mut entry.2, value)),
            None => {
                self.entries.push((pattern.to_string(), policy, value));
                None
            }
        }
    }

    fn remove(&mut self, pattern: &str, policy: MatchPolicy) -> Option<u32> {
        let at = self.entries.iter().position(|(p, pol, _)| p == pattern && *pol == policy)?;
        Some(self.entries.swap_remove(at).2)
    }

    fn matches(&self, uri: &str) -> Vec<u32> {
        let mut found: Vec<u32> =
            (self.entries.iter()).filter(|(p, policy, _)| reference_matches(p, *policy, uri)).map(|e| e.2).collect();
        found.sort();
        found
    }

    fn best(&self, uri: &str) -> Option<(u32, MatchPolicy)> {
        let candidates = |policy| {
            (self.entries.iter()).filter(move |(p, pol, _)| *pol == policy && reference_matches(p, policy, uri))
        };
        if let Some(entry) = candidates(Exact).next() {
            return Some((entry.2, Exact));
        }
        if let Some(entry) = candidates(Prefix).max_by_key(|(p, _, _)| p.len()) {
            return Some((entry.2, Prefix));
        }
        let literal_mask = |p: &str| p.split('.').map(|c| !c.is_empty()).collect::<Vec<bool>>();
        candidates(Wildcard).max_by_key(|(p, _, _)| literal_mask(p)).map(|entry| (entry.2, Wildcard))
    }
}

fn uri_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "ab", ""]), 1..=4).prop_map(|c| c.join("."))
}

fn policy_strategy() -> impl Strategy<Value = MatchPolicy> {
    prop::sample::select(vec![Exact, Prefix, Wildcard])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn trie_agrees_with_the_naive_reference(
        ops in prop::collection::vec((any::<bool>(), uri_strategy(), policy_strategy()), 1..60),
        uris in prop::collection::vec(uri_strategy(), 1..12),
    ) {
        let mut trie = UriTrie::new();
        let mut reference = Reference::default();
        for (value, (insert, pattern, policy)) in (0u32..).zip(&ops) {
            if *insert {
                prop_assert_eq!(trie.insert(pattern, *policy, value), reference.insert(pattern, *policy, value));
            } else {
                prop_assert_eq!(trie.remove(pattern, *policy), reference.remove(pattern, *policy));
            }
            prop_assert_eq!(trie.len(), reference.entries.len());
            for uri in &uris {
                prop_assert_eq!(matches(&trie, uri), reference.matches(uri), "matches of {}", uri);
                let best = trie.best_match(uri).map(|(v, policy)| (*v, policy));
                prop_assert_eq!(best, reference.best(uri), "best match of {}", uri);
            }
        }
        let mut listed: Vec<_> = trie.iter().map(|(p, policy, v)| (p, policy, *v)).collect();
        listed.sort();
        let mut expected = reference.entries.clone();
        expected.sort();
        prop_assert_eq!(listed, expected);
        for (pattern, policy, value) in &reference.entries {
            prop_assert_eq!(trie.remove(pattern, *policy), Some(*value));
        }
        prop_assert!(trie.is_empty());
        prop_assert!(trie_part_is_empty(&trie));
    }
}
