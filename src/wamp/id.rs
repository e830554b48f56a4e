//! WAMP identifiers and the three id scopes of the spec.
//!
//! Owns: the [`Id`] newtype (always within `0..=2^53`), the random global-scope generator and the
//! sequential session-scope counter. Never: decides which scope a given message uses; callers do.

use rand::{Rng, RngExt};

/// The largest id WAMP allows: 2^53, so every id is exact in an IEEE double (JavaScript).
pub const MAX_ID: u64 = 1 << 53;

/// A WAMP id. Valid ids are `1..=2^53`; `0` appears only as the request id of a revocation
/// (`UNSUBSCRIBED`/`UNREGISTERED` sent by the router unasked).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(u64);

impl Id {
    /// The request id of router-initiated revocations.
    pub const ZERO: Id = Id(0);

    /// Wraps `v` if it is within `0..=2^53`.
    pub fn new(v: u64) -> Option<Id> {
        (v <= MAX_ID).then_some(Id(v))
    }

    /// The raw integer.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A global-scope id (session ids, publication ids): drawn uniformly from `1..=2^53` out of `rng`,
/// as the spec requires, so that ids carry no shard or sequence information. The caller owns the
/// generator (a shard seeds its own from the OS; the simulator seeds it to replay a run).
pub fn random_global_id<R: Rng + ?Sized>(rng: &mut R) -> Id {
    Id(rng.random_range(1..=MAX_ID))
}

/// A session-scope counter: starts at 1, increments by 1, wraps from 2^53 back to 1.
///
/// The router keeps one per session for the INVOCATION request ids it sends to that callee.
#[derive(Debug, Default)]
pub struct SessionScopeIds {
    last: u64,
}

impl SessionScopeIds {
    /// The next id in the sequence.
    pub fn next_id(&mut self) -> Id {
        self.last = if self.last >= MAX_ID { 1 } else { self.last + 1 };
        Id(self.last)
    }
}

/// A router-scope id allocator for one shard: ids `k * stride + offset + 1`, so that shards
/// hand out disjoint ids without talking to each other. Wraps before leaving `1..=2^53`.
#[derive(Debug)]
pub struct RouterScopeIds {
    next: u64,
    stride: u64,
    offset: u64,
}

impl RouterScopeIds {
    /// An allocator for shard `offset` of `stride` shards.
    pub fn new(offset: usize, stride: usize) -> Self {
        RouterScopeIds { next: 0, stride: stride.max(1) as u64, offset: offset as u64 }
    }

    /// The next unused id of this shard.
    pub fn next_id(&mut self) -> Id {
        let mut v = self.next * self.stride + self.offset + 1;
        if v > MAX_ID {
            self.next = 0;
            v = self.offset + 1;
        }
        self.next += 1;
        Id(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_ids_stay_within_one_to_two_pow_53() {
        let mut rng = rand::rng();
        for _ in 0..10_000 {
            let id = random_global_id(&mut rng).get();
            assert!((1..=MAX_ID).contains(&id));
        }
    }

    #[test]
    fn global_ids_are_not_sequential() {
        let mut rng = rand::rng();
        let a = random_global_id(&mut rng);
        let b = random_global_id(&mut rng);
        let c = random_global_id(&mut rng);
        assert!(!(a.get() + 1 == b.get() && b.get() + 1 == c.get()));
    }

    #[test]
    fn session_scope_ids_start_at_one_and_wrap_after_two_pow_53() {
        let mut ids = SessionScopeIds::default();
        assert_eq!(ids.next_id().get(), 1);
        assert_eq!(ids.next_id().get(), 2);
        ids.last = MAX_ID - 1;
        assert_eq!(ids.next_id().get(), MAX_ID);
        assert_eq!(ids.next_id().get(), 1);
    }

    #[test]
    fn router_scope_ids_of_different_shards_never_collide() {
        let mut a = RouterScopeIds::new(0, 3);
        let mut b = RouterScopeIds::new(1, 3);
        let mut c = RouterScopeIds::new(2, 3);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            for g in [&mut a, &mut b, &mut c] {
                let id = g.next_id().get();
                assert!((1..=MAX_ID).contains(&id));
                assert!(seen.insert(id));
            }
        }
    }

    #[test]
    fn id_new_rejects_values_above_two_pow_53() {
        assert!(Id::new(MAX_ID).is_some());
        assert!(Id::new(MAX_ID + 1).is_none());
    }
}
