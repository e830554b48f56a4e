//! One monotonic clock for the whole process: nanoseconds since a common anchor.
//!
//! Owns: the anchor `Instant` every thread measures from, so a timestamp written into a payload
//! by a publisher thread can be subtracted from a receive time read on a subscriber thread.
//! Never: wall-clock time (that is only for the result's timestamp, see `sysinfo`).

use std::sync::OnceLock;
use std::time::Instant;

static ANCHOR: OnceLock<Instant> = OnceLock::new();

/// Fixes the anchor; call once before any thread reads the clock (later calls change nothing).
pub(crate) fn init() {
    ANCHOR.get_or_init(Instant::now);
}

/// Nanoseconds since the anchor (CLOCK_MONOTONIC through `Instant`).
pub(crate) fn now_ns() -> u64 {
    let anchor = *ANCHOR.get_or_init(Instant::now);
    u64::try_from(anchor.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds in a second, as the integer used throughout for clock arithmetic.
pub(crate) const NS_PER_S: u64 = 1_000_000_000;
/// Nanoseconds per microsecond.
pub(crate) const NS_PER_US: u64 = 1_000;

/// Seconds (fractional allowed) as nanoseconds.
pub(crate) fn secs_to_ns(secs: f64) -> u64 {
    (secs.max(0.0) * NS_PER_S as f64) as u64
}
