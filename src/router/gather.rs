//! Waiting for one reply from every shard: the gather step of every realm-wide request.
//!
//! Owns: [`Gathers`], the requests of this shard that wait for replies under a [`Token`], and
//! the tokens themselves. Used by the agreement (every shard applied a change) and by the meta
//! API (every shard answered a query). Never: what a reply means; the owner merges each reply
//! into the waiting value before counting it.
//!
//! A reply for a token that is no longer waited on (its asker gave up, or a duplicate) is
//! ignored. Entries are bounded by their owners: a change per SUBSCRIBE or REGISTER in flight, a
//! query per meta call in flight, both within a session's call limit.

use std::collections::HashMap;

use super::Token;

/// A request waiting for its replies.
#[derive(Debug)]
struct Waiting<T> {
    /// Replies still expected.
    left: usize,
    /// What completes when the last reply arrives.
    value: T,
}

/// Requests of this shard waiting for replies, by token.
#[derive(Debug)]
pub(super) struct Gathers<T> {
    waiting: HashMap<Token, Waiting<T>>,
    /// Source of tokens, unique among this table's requests.
    next: u64,
}

impl<T> Default for Gathers<T> {
    fn default() -> Self {
        Gathers { waiting: HashMap::new(), next: 0 }
    }
}

impl<T> Gathers<T> {
    /// Starts waiting for `replies` replies; the token names the request in every reply.
    pub(super) fn start(&mut self, replies: usize, value: T) -> Token {
        self.next += 1;
        let token = Token(self.next);
        self.waiting.insert(token, Waiting { left: replies, value });
        token
    }

    /// The request waiting under `token`, to merge a reply into it.
    pub(super) fn get_mut(&mut self, token: Token) -> Option<&mut T> {
        self.waiting.get_mut(&token).map(|w| &mut w.value)
    }

    /// Counts one reply for `token`: the request, removed, when that was the last one.
    pub(super) fn reply(&mut self, token: Token) -> Option<T> {
        let w = self.waiting.get_mut(&token)?;
        w.left = w.left.saturating_sub(1);
        if w.left > 0 {
            return None;
        }
        self.waiting.remove(&token).map(|w| w.value)
    }

    /// Stops waiting for `token` (a refusal ends it early).
    pub(super) fn remove(&mut self, token: Token) -> Option<T> {
        self.waiting.remove(&token).map(|w| w.value)
    }

    /// Every request waiting.
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.waiting.values_mut().map(|w| &mut w.value)
    }

    /// How many requests wait.
    pub(super) fn len(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_request_completes_at_its_last_reply_only() {
        let mut g = Gathers::default();
        let t = g.start(3, 0u32);
        for _ in 0..2 {
            *g.get_mut(t).unwrap() += 1;
            assert_eq!(g.reply(t), None);
        }
        *g.get_mut(t).unwrap() += 1;
        assert_eq!(g.reply(t), Some(3));
        assert_eq!((g.len(), g.reply(t)), (0, None), "a late reply is ignored");
    }

    #[test]
    fn tokens_are_unique_and_requests_independent() {
        let mut g = Gathers::default();
        let (a, b) = (g.start(1, "a"), g.start(2, "b"));
        assert_ne!(a, b);
        assert_eq!(g.reply(b), None);
        assert_eq!(g.reply(a), Some("a"));
        assert_eq!(g.remove(b), Some("b"));
        assert_eq!(g.len(), 0);
    }
}
