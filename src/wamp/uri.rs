//! URI rules of the spec: loose and strict checks, reserved prefixes, match policies.
//!
//! Owns: validation of topic, procedure, realm and error URIs, and the [`MatchPolicy`] of a
//! subscription or registration. Never: matching of URIs against patterns (see `router::trie`).

/// How strictly URIs are checked; a per-realm option (`uri_check` in the config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UriCheck {
    /// Components are non-empty and contain no `.`, `#` or whitespace (the spec's MUST).
    #[default]
    Loose,
    /// Components use only `[0-9a-z_]` (the spec's SHOULD).
    Strict,
}

/// How a subscription topic or registration procedure is matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchPolicy {
    /// The URI must be equal.
    #[default]
    Exact,
    /// The pattern is a string prefix of the URI (`com.a` matches `com.a.b` and `com.ab`).
    Prefix,
    /// Empty components of the pattern match exactly one component each.
    Wildcard,
}

impl MatchPolicy {
    /// Parses the `match` option of SUBSCRIBE / REGISTER.
    pub fn from_option(s: &str) -> Option<MatchPolicy> {
        match s {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }

    /// The option's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }
}

/// The byte at `at` of `uri` is allowed inside a component under `check` (`.` separates
/// components and is handled by [`is_valid`]). Non-ASCII characters are judged by their first
/// byte; their continuation bytes pass.
fn byte_ok(uri: &str, at: usize, b: u8, check: UriCheck) -> bool {
    match check {
        UriCheck::Strict => b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'_',
        UriCheck::Loose if b.is_ascii() => b != b'#' && !b.is_ascii_whitespace() && b != 0x0b,
        UriCheck::Loose if b & 0xc0 == 0x80 => true,
        UriCheck::Loose => uri.get(at..).and_then(|s| s.chars().next()).is_some_and(|ch| !ch.is_whitespace()),
    }
}

/// Checks `uri` under `check`. With `allow_empty` (wildcard patterns) empty components are
/// allowed; a prefix pattern may also end in `.` (`allow_trailing_dot`). Nothing else is.
///
/// One pass over the bytes: this runs for every CALL and PUBLISH.
fn is_valid(uri: &str, check: UriCheck, allow_empty: bool, allow_trailing_dot: bool) -> bool {
    if uri.is_empty() {
        return false;
    }
    let mut component_len = 0usize;
    for (at, &b) in uri.as_bytes().iter().enumerate() {
        if b == b'.' {
            if component_len == 0 && !allow_empty {
                return false;
            }
            component_len = 0;
        } else if byte_ok(uri, at, b, check) {
            component_len += 1;
        } else {
            return false;
        }
    }
    component_len > 0 || allow_empty || allow_trailing_dot
}

/// True if the URI's first component is `wamp` (reserved for the router).
pub fn is_reserved(uri: &str) -> bool {
    uri == "wamp" || uri.starts_with("wamp.")
}

/// A URI a client may publish to, call, or use as an error: valid, no empty components.
pub fn is_valid_uri(uri: &str, check: UriCheck) -> bool {
    is_valid(uri, check, false, false)
}

/// A subscription or registration pattern under `policy`. Exact: as [`is_valid_uri`]. Prefix:
/// may end with `.`. Wildcard: empty components allowed.
pub fn is_valid_pattern(uri: &str, policy: MatchPolicy, check: UriCheck) -> bool {
    match policy {
        MatchPolicy::Exact => is_valid(uri, check, false, false),
        MatchPolicy::Prefix => is_valid(uri, check, false, true),
        MatchPolicy::Wildcard => is_valid(uri, check, true, false),
    }
}

/// True if the concrete `uri` matches `pattern` under `policy`: equal (exact), a string prefix
/// (prefix), or as many components with every non-empty pattern component equal (wildcard). The
/// one-pattern test, for the few places that hold patterns outside a trie (retained events).
pub fn pattern_matches(pattern: &str, policy: MatchPolicy, uri: &str) -> bool {
    match policy {
        MatchPolicy::Exact => pattern == uri,
        MatchPolicy::Prefix => uri.starts_with(pattern),
        MatchPolicy::Wildcard => {
            let (mut p, mut u) = (pattern.split('.'), uri.split('.'));
            loop {
                match (p.next(), u.next()) {
                    (None, None) => return true,
                    (Some(pc), Some(uc)) if pc.is_empty() || pc == uc => {}
                    _ => return false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_accepts_unicode_and_dashes_but_not_hash_or_spaces() {
        assert!(is_valid_uri("com.myapp.topic-1", UriCheck::Loose));
        assert!(is_valid_uri("com.myäpp.Tüpic", UriCheck::Loose));
        assert!(!is_valid_uri("com.my app", UriCheck::Loose));
        assert!(!is_valid_uri("com.a#b", UriCheck::Loose));
        assert!(!is_valid_uri("com..a", UriCheck::Loose));
        assert!(!is_valid_uri(".com", UriCheck::Loose));
        assert!(!is_valid_uri("com.", UriCheck::Loose));
        assert!(!is_valid_uri("", UriCheck::Loose));
    }

    #[test]
    fn loose_refuses_every_whitespace_character_ascii_or_not() {
        for ws in ["\t", "\n", "\u{b}", "\u{c}", "\r", " ", "\u{85}", "\u{a0}", "\u{2003}", "\u{3000}"] {
            assert!(!is_valid_uri(&format!("com.a{ws}b"), UriCheck::Loose), "{ws:?} accepted");
        }
        assert!(is_valid_uri("com.\u{e9}t\u{e9}.\u{65e5}\u{672c}", UriCheck::Loose));
        assert!(!is_valid_uri("com.\u{e9}t\u{e9}", UriCheck::Strict));
    }

    #[test]
    fn strict_accepts_only_lowercase_digits_and_underscore() {
        assert!(is_valid_uri("com.my_app.topic1", UriCheck::Strict));
        assert!(!is_valid_uri("com.myApp", UriCheck::Strict));
        assert!(!is_valid_uri("com.my-app", UriCheck::Strict));
    }

    #[test]
    fn wildcard_patterns_allow_empty_components() {
        assert!(is_valid_pattern("com..update", MatchPolicy::Wildcard, UriCheck::Loose));
        assert!(is_valid_pattern(".a.", MatchPolicy::Wildcard, UriCheck::Strict));
        assert!(!is_valid_pattern("com..update", MatchPolicy::Exact, UriCheck::Loose));
        assert!(!is_valid_pattern("com..update", MatchPolicy::Prefix, UriCheck::Loose));
    }

    #[test]
    fn prefix_patterns_may_end_with_a_dot() {
        assert!(is_valid_pattern("com.myapp.", MatchPolicy::Prefix, UriCheck::Loose));
        assert!(!is_valid_pattern("com.myapp.", MatchPolicy::Exact, UriCheck::Loose));
    }

    #[test]
    fn one_pattern_matches_as_the_trie_does() {
        assert!(pattern_matches("com.a", MatchPolicy::Exact, "com.a"));
        assert!(!pattern_matches("com.a", MatchPolicy::Exact, "com.a.b"));
        assert!(pattern_matches("com.a", MatchPolicy::Prefix, "com.ab"));
        assert!(pattern_matches("com..c", MatchPolicy::Wildcard, "com.b.c"));
        assert!(!pattern_matches("com..c", MatchPolicy::Wildcard, "com.b.c.d"));
        assert!(!pattern_matches("com..c", MatchPolicy::Wildcard, "com.c"));
    }

    #[test]
    fn wamp_prefix_is_reserved() {
        assert!(is_reserved("wamp.session.count"));
        assert!(is_reserved("wamp"));
        assert!(!is_reserved("wampyard.topic"));
        assert!(!is_reserved("com.wamp"));
    }

    #[test]
    fn match_policy_parses_the_three_spec_values() {
        for p in [MatchPolicy::Exact, MatchPolicy::Prefix, MatchPolicy::Wildcard] {
            assert_eq!(MatchPolicy::from_option(p.as_str()), Some(p));
        }
        assert_eq!(MatchPolicy::from_option("regex"), None);
    }
}
