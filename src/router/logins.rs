//! Slowing down repeated login failures from one peer address, so credentials cannot be guessed
//! at the speed of the network.
//!
//! Owns: per peer address (the IP of a TCP peer, the path of a Unix one), the failed logins of
//! the current window, and the delay the next failure's ABORT gets. Never: deciding whether a
//! login fails (`auth`) or keeping a connection open (the handshake holds the refused session
//! until its delayed ABORT; its deadline is the timer).
//!
//! Bounded: at most [`MAX_TRACKED_PEERS`] addresses per shard; when full, addresses whose window
//! passed are forgotten first, and a failure that still finds no room is not slowed down (an
//! attacker with that many addresses is a job for the connection limits).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::config::Limits;

/// Peer addresses one shard remembers failed logins of.
pub(super) const MAX_TRACKED_PEERS: usize = 4096;

/// The delay of the first slowed-down failure; it doubles with each further one.
const FIRST_DELAY: Duration = Duration::from_millis(250);

/// Failed logins of one address.
#[derive(Debug)]
struct Failures {
    count: u32,
    since: Instant,
}

/// Failed logins per peer address, on one shard.
#[derive(Debug, Default)]
pub(super) struct LoginFailures {
    by_peer: HashMap<Box<str>, Failures>,
}

/// The address part of a peer string: the IP of `ip:port`, else the string itself.
fn address(peer: &str) -> &str {
    match peer.parse::<SocketAddr>() {
        Ok(_) => peer.rsplit_once(':').map_or(peer, |(ip, _)| ip),
        Err(_) => peer,
    }
}

impl LoginFailures {
    /// Counts a failed login of `peer` at `now`: how long its ABORT is held back.
    pub(super) fn failed(&mut self, peer: &str, now: Instant, limits: &Limits) -> Duration {
        let key = address(peer);
        if !self.by_peer.contains_key(key) && self.by_peer.len() >= MAX_TRACKED_PEERS {
            self.by_peer.retain(|_, f| now.duration_since(f.since) < limits.login_failure_window);
            if self.by_peer.len() >= MAX_TRACKED_PEERS {
                return Duration::ZERO;
            }
        }
        let f = self.by_peer.entry(key.into()).or_insert(Failures { count: 0, since: now });
        if now.duration_since(f.since) >= limits.login_failure_window {
            *f = Failures { count: 0, since: now };
        }
        f.count = f.count.saturating_add(1);
        match f.count.checked_sub(limits.login_failures_free) {
            None | Some(0) => Duration::ZERO,
            Some(over) => {
                let doubled = FIRST_DELAY.saturating_mul(1 << (over - 1).min(16));
                doubled.min(limits.login_failure_max_delay)
            }
        }
    }

    /// Addresses remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_peer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_free_ones_are_delayed_more_and_more_up_to_the_maximum() {
        let limits = Limits::default();
        let (mut f, now) = (LoginFailures::default(), Instant::now());
        let delays: Vec<Duration> = (0..10).map(|_| f.failed("10.0.0.1:5000", now, &limits)).collect();
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 0, 0, 0, 0, 250, 500, 1000, 2000, 4000]);
        assert_eq!(f.failed("10.0.0.1:6000", now, &limits).as_millis(), 5000, "the port does not matter");
        assert_eq!(f.failed("10.0.0.2:5000", now, &limits), Duration::ZERO, "another address");
        let later = now + limits.login_failure_window;
        assert_eq!(f.failed("10.0.0.1:5000", later, &limits), Duration::ZERO, "a new window");
    }

    #[test]
    fn the_table_is_bounded_and_forgets_old_windows_first() {
        let limits = Limits { login_failures_free: 0, ..Limits::default() };
        let (mut f, now) = (LoginFailures::default(), Instant::now());
        for i in 0..MAX_TRACKED_PEERS {
            f.failed(&format!("unix:/tmp/{i}"), now, &limits);
        }
        assert_eq!(f.failed("unix:/tmp/new", now, &limits), Duration::ZERO, "no room: not slowed");
        assert_eq!(f.len(), MAX_TRACKED_PEERS);
        let later = now + limits.login_failure_window;
        assert!(f.failed("unix:/tmp/new", later, &limits) > Duration::ZERO, "old windows made room");
        assert_eq!(f.len(), 1);
    }
}
