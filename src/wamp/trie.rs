//! The URI trie: subscription and registration patterns, matched against concrete URIs.
//!
//! Owns: the map `(pattern, MatchPolicy) -> T` and the matching rules of the spec: exact, string
//! prefix, wildcard, and the RPC best-match order. Never: URI validation (callers check patterns
//! with `wamp::uri` first; the trie gives every string a well-defined meaning), ids, sessions,
//! I/O.
//!
//! Layout, after the nats Sublist: exact patterns live in a hash map and are looked up with the
//! URI itself. Prefix and wildcard patterns share one trie of `.`-separated components. Every node
//! has a map of literal children and one dedicated wildcard child (the empty component of a
//! wildcard pattern). A wildcard pattern's value sits at the node its last component leads to
//! (`terminal`). A prefix pattern `head.last` hangs in the `partial` map of the node that the
//! components of `head` lead to, keyed by `last`, and matches a URI whose component at that depth
//! starts with `last`. That is exactly "the pattern is a string prefix of the URI": `com.a`
//! matches `com.a`, `com.a.b` and `com.ab`; `com.a.` is `head = com.a, last = ""` and matches any
//! URI with a component after `com.a`, but not `com.a` itself. Empty components in the head of a
//! prefix pattern are literal empty components, never wildcards.
//!
//! Matching walks the URI as `&str` slices. It allocates nothing unless more than
//! [`INLINE_BRANCHES`] wildcard alternatives are pending at once. Nothing recurses over the depth
//! of the trie (walks are loops, teardown is iterative), so a pattern with very many components
//! cannot overflow the stack. Removing an entry prunes the nodes it leaves empty.

use std::collections::HashMap;
use std::ops::ControlFlow;

use foldhash::fast::RandomState;

use crate::wamp::MatchPolicy;

/// Hash maps keyed by URIs or URI components. foldhash is several times faster than SipHash on
/// the short keys hashed on every PUBLISH and CALL, and is seeded randomly per map.
type Map<K, V> = HashMap<K, V, RandomState>;

/// Wildcard alternatives a match keeps on the stack before it spills to the heap. Every node
/// that has both a matching literal child and a wildcard child leaves one alternative pending;
/// real pattern sets rarely nest that deep, so 16 keeps every match allocation-free in practice.
pub const INLINE_BRANCHES: usize = 16;

/// Maps `(pattern, MatchPolicy)` to one `T` and finds the entries matching a concrete URI.
///
/// Matching rules, for a concrete `uri`:
/// * [`MatchPolicy::Exact`]: the pattern equals `uri`.
/// * [`MatchPolicy::Prefix`]: the pattern is a string prefix of `uri` (`com.a` matches
///   `com.a.b` and `com.ab`; `com.a.` matches `com.a.b` but not `com.a`).
/// * [`MatchPolicy::Wildcard`]: the pattern has as many components as `uri` and every non-empty
///   pattern component equals the `uri` component at the same position.
#[derive(Debug)]
pub struct UriTrie<T> {
    exact: Map<Box<str>, T>,
    root: Node<T>,
    len: usize,
}

impl<T> Default for UriTrie<T> {
    fn default() -> Self {
        UriTrie::new()
    }
}

impl<T> UriTrie<T> {
    /// An empty trie.
    pub fn new() -> Self {
        UriTrie { exact: Map::default(), root: Node::new(), len: 0 }
    }

    /// Number of `(pattern, policy)` entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `value` under `(pattern, policy)`; returns the value it replaces, if any.
    pub fn insert(&mut self, pattern: &str, policy: MatchPolicy, value: T) -> Option<T> {
        let old = match Route::new(pattern, policy) {
            None => self.exact.insert(pattern.into(), value),
            Some(route) => {
                let mut node = &mut self.root;
                for edge in route.edges() {
                    node = node.child_or_insert(edge);
                }
                match route.slot {
                    Slot::Terminal => node.terminal.replace(value),
                    Slot::Partial(last) => node.insert_partial(last, value),
                }
            }
        };
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// The value stored under `(pattern, policy)`.
    pub fn get(&self, pattern: &str, policy: MatchPolicy) -> Option<&T> {
        let Some(route) = Route::new(pattern, policy) else {
            return self.exact.get(pattern);
        };
        let mut node = &self.root;
        for edge in route.edges() {
            node = node.child(edge)?;
        }
        match route.slot {
            Slot::Terminal => node.terminal.as_ref(),
            Slot::Partial(last) => node.partial.get(last),
        }
    }

    /// The value stored under `(pattern, policy)`, mutably.
    pub fn get_mut(&mut self, pattern: &str, policy: MatchPolicy) -> Option<&mut T> {
        let Some(route) = Route::new(pattern, policy) else {
            return self.exact.get_mut(pattern);
        };
        let mut node = &mut self.root;
        for edge in route.edges() {
            node = node.child_mut(edge)?;
        }
        match route.slot {
            Slot::Terminal => node.terminal.as_mut(),
            Slot::Partial(last) => node.partial.get_mut(last),
        }
    }

    /// Removes and returns the value under `(pattern, policy)`, then prunes the trie nodes the
    /// entry leaves empty, so memory does not grow with subscribe/unsubscribe churn.
    pub fn remove(&mut self, pattern: &str, policy: MatchPolicy) -> Option<T> {
        let removed = match Route::new(pattern, policy) {
            None => self.exact.remove(pattern),
            Some(route) => {
                let removed = self.remove_from_trie(&route);
                if removed.is_some() {
                    self.prune(&route);
                }
                removed
            }
        };
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    fn remove_from_trie(&mut self, route: &Route<'_>) -> Option<T> {
        let mut node = &mut self.root;
        for edge in route.edges() {
            node = node.child_mut(edge)?;
        }
        match route.slot {
            Slot::Terminal => node.terminal.take(),
            Slot::Partial(last) => node.remove_partial(last),
        }
    }

    /// Cuts the chain of empty nodes at the end of `route`: finds the deepest node on the route
    /// that must stay (the root, or a node with a value or another child) and removes its child on
    /// the route, whose subtree is then exactly that chain.
    fn prune(&mut self, route: &Route<'_>) {
        let mut keep_depth = 0;
        let mut node = &self.root;
        let mut depth = 0;
        for edge in route.edges() {
            let Some(child) = node.child(edge) else {
                return;
            };
            node = child;
            depth += 1;
            if node.has_values() || node.child_count() > 1 {
                keep_depth = depth;
            }
        }
        if node.child_count() > 0 {
            keep_depth = depth;
        }
        if keep_depth == depth {
            return;
        }
        let mut node = &mut self.root;
        for (at, edge) in route.edges().enumerate() {
            if at == keep_depth {
                node.remove_child(edge);
                return;
            }
            match node.child_mut(edge) {
                Some(child) => node = child,
                None => return,
            }
        }
    }

    /// Calls `f` with every entry whose pattern matches the concrete `uri`: the exact entry, every
    /// matching prefix entry and every matching wildcard entry (the broker's rule: one event per
    /// matching subscription). The order is unspecified.
    pub fn for_each_match(&self, uri: &str, mut f: impl FnMut(&T)) {
        if let Some(value) = self.exact.get(uri) {
            f(value);
        }
        self.root.walk(uri, true, |value| {
            f(value);
            ControlFlow::Continue(())
        });
    }

    /// The single entry a CALL to the concrete `uri` goes to, with its policy (the dealer's rule
    /// for pattern-based registrations):
    ///
    /// 1. the exact entry equal to `uri`;
    /// 2. else the longest matching prefix pattern. Among prefixes of one URI the longer string
    ///    never has fewer components, so this is the spec's "most components matched" with ties
    ///    broken by string length (`com.ab` beats `com.a` for `com.abc`); two different matching
    ///    prefix patterns never have the same length, so the answer is unique;
    /// 3. else the best matching wildcard pattern. All of them have as many components as `uri`;
    ///    they are compared component by component from the left, and at the first position
    ///    where one has a literal component and the other an empty one, the literal one wins.
    ///    This is the spec's "longest leading run of literal components, ties broken by the next
    ///    run" (for `a1.b2.c88.d4.e5.f6.g7`, `a1.b2..d4.e5..g7` beats `a1.b2..d4..f6.g7`). Two
    ///    different wildcard patterns matching one URI always differ that way, so the answer is
    ///    unique and independent of insertion order.
    pub fn best_match(&self, uri: &str) -> Option<(&T, MatchPolicy)> {
        if let Some(value) = self.exact.get(uri) {
            return Some((value, MatchPolicy::Exact));
        }
        if let Some(value) = self.longest_prefix(uri) {
            return Some((value, MatchPolicy::Prefix));
        }
        let mut best = None;
        // The walk tries the literal child before the wildcard child at every depth, so the
        // first wildcard entry it reaches is the best one by the order above.
        self.root.walk(uri, false, |value| {
            best = Some(value);
            ControlFlow::Break(())
        });
        best.map(|value| (value, MatchPolicy::Wildcard))
    }

    /// The longest prefix entry matching `uri`: the deepest node on the literal path of `uri`
    /// with a matching partial entry, and there the longest one.
    fn longest_prefix(&self, uri: &str) -> Option<&T> {
        let mut best = None;
        let mut node = &self.root;
        let mut rest = Some(uri);
        while let Some(remaining) = rest {
            let (component, next) = split_first(remaining);
            if let Some(value) = node.partials_of(component).next_back() {
                best = Some(value);
            }
            match node.literal.get(component) {
                Some(child) => node = child,
                None => break,
            }
            rest = next;
        }
        best
    }

    /// Every entry as `(pattern, policy, value)`, in no particular order. Builds the pattern
    /// strings, so it is meant for listings (the meta API), not for the per-message path.
    pub fn iter(&self) -> impl Iterator<Item = (String, MatchPolicy, &T)> + '_ {
        let mut entries = Vec::with_capacity(self.len);
        entries.extend(self.exact.iter().map(|(pattern, value)| (pattern.to_string(), MatchPolicy::Exact, value)));
        let mut stack = vec![(&self.root, String::new(), 0usize)];
        while let Some((node, path, depth)) = stack.pop() {
            let join = |component: &str| {
                if depth == 0 {
                    component.to_string()
                } else {
                    format!("{path}.{component}")
                }
            };
            if let Some(value) = &node.terminal {
                entries.push((path.clone(), MatchPolicy::Wildcard, value));
            }
            for (last, value) in &node.partial {
                entries.push((join(last), MatchPolicy::Prefix, value));
            }
            for (component, child) in &node.literal {
                stack.push((child, join(component), depth + 1));
            }
            if let Some(child) = &node.wildcard {
                stack.push((child, join(""), depth + 1));
            }
        }
        entries.into_iter()
    }
}

/// One step from a node to a child.
#[derive(Clone, Copy, Debug)]
enum Edge<'a> {
    /// A literal component (possibly empty, in the head of a prefix pattern).
    Literal(&'a str),
    /// The empty component of a wildcard pattern.
    Wildcard,
}

/// Where a non-exact entry's value sits in the node its route leads to.
#[derive(Clone, Copy, Debug)]
enum Slot<'a> {
    /// A wildcard pattern ending at the node.
    Terminal,
    /// A prefix pattern whose last component (possibly empty) is this string.
    Partial(&'a str),
}

/// The path of a prefix or wildcard pattern through the trie.
#[derive(Clone, Copy, Debug)]
struct Route<'a> {
    /// The components leading to the node, or `None` for the root.
    head: Option<&'a str>,
    /// Empty components are wildcard edges (wildcard patterns) or literal (prefix patterns).
    wildcard: bool,
    slot: Slot<'a>,
}

impl<'a> Route<'a> {
    /// The route of `pattern`, or `None` for exact patterns (they are not in the trie).
    fn new(pattern: &'a str, policy: MatchPolicy) -> Option<Route<'a>> {
        match policy {
            MatchPolicy::Exact => None,
            MatchPolicy::Wildcard => Some(Route { head: Some(pattern), wildcard: true, slot: Slot::Terminal }),
            MatchPolicy::Prefix => Some(match pattern.rsplit_once('.') {
                Some((head, last)) => Route { head: Some(head), wildcard: false, slot: Slot::Partial(last) },
                None => Route { head: None, wildcard: false, slot: Slot::Partial(pattern) },
            }),
        }
    }

    fn edges(self) -> impl Iterator<Item = Edge<'a>> {
        let wildcard = self.wildcard;
        self.head.into_iter().flat_map(|head| head.split('.')).map(move |component| {
            if wildcard && component.is_empty() {
                Edge::Wildcard
            } else {
                Edge::Literal(component)
            }
        })
    }
}

/// The first component of `uri` and the rest after its `.`, if there is one.
fn split_first(uri: &str) -> (&str, Option<&str>) {
    match uri.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (uri, None),
    }
}

/// A node of the component trie, reached by the components before it.
#[derive(Debug)]
struct Node<T> {
    literal: Map<Box<str>, Node<T>>,
    wildcard: Option<Box<Node<T>>>,
    /// The wildcard pattern whose components lead exactly here.
    terminal: Option<T>,
    /// Prefix patterns whose head leads here, keyed by their last component.
    partial: Map<Box<str>, T>,
    /// The distinct byte lengths of the keys of `partial`, ascending, with how many keys have
    /// each: a URI component is looked up once per length, not once per entry.
    partial_lens: Vec<(usize, usize)>,
}

impl<T> Node<T> {
    fn new() -> Self {
        Node {
            literal: Map::default(),
            wildcard: None,
            terminal: None,
            partial: Map::default(),
            partial_lens: Vec::new(),
        }
    }

    fn child(&self, edge: Edge<'_>) -> Option<&Node<T>> {
        match edge {
            Edge::Literal(component) => self.literal.get(component),
            Edge::Wildcard => self.wildcard.as_deref(),
        }
    }

    fn child_mut(&mut self, edge: Edge<'_>) -> Option<&mut Node<T>> {
        match edge {
            Edge::Literal(component) => self.literal.get_mut(component),
            Edge::Wildcard => self.wildcard.as_deref_mut(),
        }
    }

    fn child_or_insert(&mut self, edge: Edge<'_>) -> &mut Node<T> {
        match edge {
            Edge::Literal(component) => self.literal.entry(component.into()).or_insert_with(Node::new),
            Edge::Wildcard => self.wildcard.get_or_insert_with(|| Box::new(Node::new())),
        }
    }

    fn remove_child(&mut self, edge: Edge<'_>) {
        match edge {
            Edge::Literal(component) => {
                self.literal.remove(component);
            }
            Edge::Wildcard => self.wildcard = None,
        }
    }

    fn child_count(&self) -> usize {
        self.literal.len() + usize::from(self.wildcard.is_some())
    }

    fn has_values(&self) -> bool {
        self.terminal.is_some() || !self.partial.is_empty()
    }

    fn insert_partial(&mut self, last: &str, value: T) -> Option<T> {
        let old = self.partial.insert(last.into(), value);
        if old.is_none() {
            match self.partial_lens.binary_search_by_key(&last.len(), |&(len, _)| len) {
                Ok(at) => self.partial_lens[at].1 += 1,
                Err(at) => self.partial_lens.insert(at, (last.len(), 1)),
            }
        }
        old
    }

    fn remove_partial(&mut self, last: &str) -> Option<T> {
        let removed = self.partial.remove(last)?;
        if let Ok(at) = self.partial_lens.binary_search_by_key(&last.len(), |&(len, _)| len) {
            self.partial_lens[at].1 -= 1;
            if self.partial_lens[at].1 == 0 {
                self.partial_lens.remove(at);
            }
        }
        Some(removed)
    }

    /// The partial entries that are a prefix of `component`, shortest first: one lookup per
    /// distinct key length, none at all on a node without partial entries.
    fn partials_of<'s, 'c>(&'s self, component: &'c str) -> impl DoubleEndedIterator<Item = &'s T> + use<'s, 'c, T> {
        self.partial_lens
            .iter()
            .filter_map(move |&(len, _)| component.get(..len))
            .filter_map(|key| self.partial.get(key))
    }

    /// Depth-first walk over the nodes the concrete `uri` reaches, literal child before wildcard
    /// child at every depth. Calls `on_value` with each wildcard entry whose components match the
    /// whole URI and, if `with_prefixes`, with each prefix entry matching the URI; stops as soon
    /// as `on_value` returns `Break`.
    fn walk<'n>(&'n self, uri: &str, with_prefixes: bool, mut on_value: impl FnMut(&'n T) -> ControlFlow<()>) {
        let mut pending = Branches::new();
        pending.push((self, Some(uri)));
        while let Some((mut node, mut rest)) = pending.pop() {
            loop {
                let Some(remaining) = rest else {
                    if let Some(value) = &node.terminal {
                        if on_value(value).is_break() {
                            return;
                        }
                    }
                    break;
                };
                let (component, next) = split_first(remaining);
                if with_prefixes {
                    for value in node.partials_of(component) {
                        if on_value(value).is_break() {
                            return;
                        }
                    }
                }
                let literal = node.literal.get(component);
                let wildcard = node.wildcard.as_deref();
                node = match (literal, wildcard) {
                    (Some(literal), Some(wildcard)) => {
                        pending.push((wildcard, next));
                        literal
                    }
                    (Some(child), None) | (None, Some(child)) => child,
                    (None, None) => break,
                };
                rest = next;
            }
        }
    }
}

impl<T> Drop for Node<T> {
    /// Tears the subtree down with an explicit stack instead of recursion, so dropping a chain
    /// of many thousand nodes cannot overflow the stack.
    fn drop(&mut self) {
        let mut stack: Vec<Node<T>> = Vec::new();
        stack.extend(self.literal.drain().map(|(_, child)| child));
        stack.extend(self.wildcard.take().map(|child| *child));
        while let Some(mut node) = stack.pop() {
            stack.extend(node.literal.drain().map(|(_, child)| child));
            stack.extend(node.wildcard.take().map(|child| *child));
        }
    }
}

/// A node still to visit and the part of the URI it has left to match (`None`: all matched).
type Branch<'n, 'u, T> = (&'n Node<T>, Option<&'u str>);

/// The LIFO stack of pending walk alternatives: inline up to [`INLINE_BRANCHES`], then on the
/// heap.
struct Branches<'n, 'u, T> {
    inline: [Option<Branch<'n, 'u, T>>; INLINE_BRANCHES],
    inline_len: usize,
    spilled: Vec<Branch<'n, 'u, T>>,
}

impl<'n, 'u, T> Branches<'n, 'u, T> {
    fn new() -> Self {
        Branches { inline: [None; INLINE_BRANCHES], inline_len: 0, spilled: Vec::new() }
    }

    fn push(&mut self, branch: Branch<'n, 'u, T>) {
        match self.inline.get_mut(self.inline_len) {
            Some(slot) => {
                *slot = Some(branch);
                self.inline_len += 1;
            }
            None => self.spilled.push(branch),
        }
    }

    /// The most recently pushed branch: the heap holds only branches pushed while the inline
    /// part was full, so it is drained first.
    fn pop(&mut self) -> Option<Branch<'n, 'u, T>> {
        if let Some(branch) = self.spilled.pop() {
            return Some(branch);
        }
        self.inline_len = self.inline_len.checked_sub(1)?;
        self.inline.get_mut(self.inline_len).and_then(Option::take)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
