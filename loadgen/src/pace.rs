//! Open-loop pacing: when each message of a paced sender is due.
//!
//! Owns: [`Schedule`], the fixed timetable of one sender among several sharing a total rate.
//! Never: sleeps or reads the clock; the event loop asks when the next message is due.

use crate::clock::NS_PER_S;

/// The timetable of sender `index` of `senders`, which together send `rate` messages per
/// second from `start_ns`. Senders are interleaved evenly: message `n` of sender `i` is the
/// `(n * senders + i)`-th message overall, due at `start + that / rate`.
///
/// Messages are released in batches on a grid of `batch_ns` from the start: a message due
/// between two grid points goes at the later one, with the earlier due time as its timestamp,
/// so the wait counts as latency. One write per batch instead of one per message keeps the
/// load generator's own cost per message low enough that it does not lag its schedule.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Schedule {
    start_ns: u64,
    ns_per_msg: f64,
    senders: u64,
    index: u64,
    /// Grid spacing; 0 releases each message at its own due time.
    batch_ns: u64,
}

impl Schedule {
    /// A timetable; `rate` must be positive.
    pub(crate) fn new(start_ns: u64, rate: f64, senders: usize, index: usize, batch_ns: u64) -> Schedule {
        Schedule {
            start_ns,
            ns_per_msg: NS_PER_S as f64 / rate,
            senders: senders as u64,
            index: index as u64,
            batch_ns,
        }
    }

    /// When a message due at `due` may be sent: that time rounded up to the batch grid.
    pub(crate) fn release_ns(&self, due: u64) -> u64 {
        if self.batch_ns == 0 {
            return due;
        }
        let offset = due - self.start_ns;
        self.start_ns + offset.div_ceil(self.batch_ns) * self.batch_ns
    }

    /// When message `n` of this sender is due, in clock nanoseconds.
    pub(crate) fn due_ns(&self, n: u64) -> u64 {
        let overall = n * self.senders + self.index;
        self.start_ns + (overall as f64 * self.ns_per_msg) as u64
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn single_sender_is_due_at_even_intervals() {
        let s = Schedule::new(1_000, 1_000.0, 1, 0, 0);
        assert_eq!(s.due_ns(0), 1_000);
        assert_eq!(s.due_ns(1), 1_000 + 1_000_000);
        assert_eq!(s.due_ns(1000), 1_000 + NS_PER_S);
    }

    #[test]
    fn senders_interleave_to_make_the_total_rate() {
        let senders = 4;
        let schedules: Vec<Schedule> = (0..senders).map(|i| Schedule::new(0, 100.0, senders, i, 0)).collect();
        let mut due: Vec<u64> = schedules.iter().flat_map(|s| (0..25).map(|n| s.due_ns(n))).collect();
        due.sort_unstable();
        let expected: Vec<u64> = (0..100).map(|k| k * 10_000_000).collect();
        assert_eq!(due, expected);
    }

    #[test]
    fn fractional_rates_keep_their_average() {
        let s = Schedule::new(0, 2.5, 1, 0, 0);
        assert_eq!(s.due_ns(5), 2 * NS_PER_S);
    }

    #[test]
    fn messages_are_released_on_the_batch_grid_with_their_own_due_time() {
        // 1 message per µs, released every 10 µs.
        let s = Schedule::new(500, 1_000_000.0, 1, 0, 10_000);
        assert_eq!(s.due_ns(0), 500);
        assert_eq!(s.release_ns(s.due_ns(0)), 500);
        assert_eq!(s.due_ns(1), 1_500);
        assert_eq!(s.release_ns(s.due_ns(1)), 10_500);
        assert_eq!(s.release_ns(s.due_ns(10)), 10_500);
        assert_eq!(s.release_ns(s.due_ns(11)), 20_500);
    }

    #[test]
    fn a_zero_batch_releases_each_message_when_due() {
        let s = Schedule::new(0, 3.0, 2, 1, 0);
        assert_eq!(
            (0..5).map(|n| s.release_ns(s.due_ns(n))).collect::<Vec<_>>(),
            (0..5).map(|n| s.due_ns(n)).collect::<Vec<_>>()
        );
    }
}
