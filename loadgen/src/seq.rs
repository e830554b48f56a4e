//! Per-(subscriber, publisher) sequence accounting: distinct, duplicated, out of order, missing.
//!
//! Owns: [`SeqTracker`], the bitmap of the most recent sequence numbers seen on one stream.
//! Never: decides what counts as lost at the end of a run (the caller compares the unique count
//! with what the publisher sent) and never allocates.

/// How many of the most recent sequence numbers the tracker remembers individually. Older ones
/// can no longer be told apart as duplicate or late; they are counted as late.
const WINDOW_BITS: u64 = 128;

/// What one observed sequence number turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// First time seen, in order or filling an earlier gap.
    New,
    /// Seen before.
    Duplicate,
}

/// Sequence accounting for one stream whose numbers start at 0 and grow by 1.
#[derive(Clone, Debug, Default)]
pub(crate) struct SeqTracker {
    /// One past the highest number seen.
    next: u64,
    /// Bit `i` set: number `next - 1 - i` was seen.
    recent: u128,
    /// Distinct numbers observed.
    pub(crate) unique: u64,
    /// Numbers observed again.
    pub(crate) duplicates: u64,
    /// Numbers that arrived after a higher one.
    pub(crate) out_of_order: u64,
    /// Numbers below the highest seen that have not arrived (yet).
    pub(crate) gaps: u64,
}

impl SeqTracker {
    /// Records number `n`.
    pub(crate) fn observe(&mut self, n: u64) -> Seen {
        if n >= self.next {
            let skipped = n - self.next;
            self.gaps += skipped;
            let shift = skipped + 1;
            self.recent = if shift >= WINDOW_BITS { 0 } else { self.recent << shift };
            self.recent |= 1;
            self.next = n + 1;
            self.unique += 1;
            return Seen::New;
        }
        let age = self.next - 1 - n;
        if age < WINDOW_BITS {
            let bit = 1u128 << age;
            if self.recent & bit != 0 {
                self.duplicates += 1;
                return Seen::Duplicate;
            }
            self.recent |= bit;
        }
        self.out_of_order += 1;
        self.gaps = self.gaps.saturating_sub(1);
        self.unique += 1;
        Seen::New
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn in_order_stream_has_no_gaps_or_duplicates() {
        let mut t = SeqTracker::default();
        for n in 0..1000 {
            assert_eq!(t.observe(n), Seen::New);
        }
        assert_eq!((t.unique, t.duplicates, t.out_of_order, t.gaps), (1000, 0, 0, 0));
    }

    #[test]
    fn skipped_numbers_count_as_gaps() {
        let mut t = SeqTracker::default();
        for n in [0, 1, 5, 6, 10] {
            t.observe(n);
        }
        assert_eq!(t.gaps, 3 + 3);
        assert_eq!(t.unique, 5);
    }

    #[test]
    fn late_arrival_fills_its_gap_and_counts_out_of_order() {
        let mut t = SeqTracker::default();
        for n in [0, 2, 3, 1] {
            assert_eq!(t.observe(n), Seen::New);
        }
        assert_eq!((t.unique, t.gaps, t.out_of_order, t.duplicates), (4, 0, 1, 0));
    }

    #[test]
    fn repeated_number_is_a_duplicate_not_a_new_delivery() {
        let mut t = SeqTracker::default();
        t.observe(0);
        t.observe(1);
        assert_eq!(t.observe(1), Seen::Duplicate);
        assert_eq!(t.observe(0), Seen::Duplicate);
        assert_eq!((t.unique, t.duplicates), (2, 2));
    }

    #[test]
    fn duplicate_is_recognised_across_a_large_jump_inside_the_window() {
        let mut t = SeqTracker::default();
        t.observe(0);
        t.observe(100);
        assert_eq!(t.observe(0), Seen::Duplicate);
        assert_eq!(t.observe(50), Seen::New);
        assert_eq!(t.gaps, 98);
    }

    #[test]
    fn number_older_than_the_window_counts_as_late() {
        let mut t = SeqTracker::default();
        t.observe(0);
        t.observe(1000);
        assert_eq!(t.observe(0), Seen::New);
        assert_eq!(t.out_of_order, 1);
    }
}
