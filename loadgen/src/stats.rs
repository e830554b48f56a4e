//! What each load-generator thread counts and measures, and how the threads' figures merge.
//!
//! Owns: [`Stats`] (counters, latency histograms, throughput timelines), the measured-phase
//! marks, latency summaries and their formatting. Never: I/O, or allocation while recording
//! (histograms and timelines are sized before the run starts).

use hdrhistogram::Histogram;
use serde::Serialize;

/// Width of one throughput-timeline bin: 100 ms, fine enough to see stalls, coarse enough to be
/// a few hundred points for a ten-second run.
pub(crate) const BIN_NS: u64 = 100_000_000;

/// Highest latency the histograms track exactly (60 s); larger values are clamped.
const MAX_TRACKED_NS: u64 = 60_000_000_000;

/// Significant digits kept by the histograms (0.1 % resolution).
const SIGNIFICANT_DIGITS: u8 = 3;

/// How many failure messages a thread keeps for the report.
const KEPT_FAILURES: usize = 5;

/// When the run started sending and when the measured phase begins and ends (clock ns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Marks {
    /// Start of sending (warm-up begins).
    pub(crate) t0: u64,
    /// Start of the measured phase.
    pub(crate) m0: u64,
    /// End of the measured phase.
    pub(crate) m1: u64,
}

impl Marks {
    /// True if `ns` lies in the measured phase.
    pub(crate) fn measured(&self, ns: u64) -> bool {
        ns >= self.m0 && ns < self.m1
    }
}

/// Plain counters; every one is a sum over sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// PUBLISHes or CALLs sent, whole run.
    pub(crate) sent: u64,
    /// PUBLISHes or CALLs sent in the measured phase (by send time).
    pub(crate) sent_measured: u64,
    /// Distinct EVENTs or RESULTs received, whole run.
    pub(crate) received: u64,
    /// Distinct EVENTs or RESULTs received in the measured phase (by receive time).
    pub(crate) received_measured: u64,
    /// Deliveries the sent PUBLISHes should cause (sent x subscribers of the topic).
    pub(crate) expected: u64,
    /// EVENTs or RESULTs without a readable `[ts, seq]` or from an unknown publisher.
    pub(crate) foreign: u64,
    /// ERRORs answering CALLs, whole run.
    pub(crate) errors: u64,
    /// INVOCATIONs answered by callees.
    pub(crate) invocations: u64,
    /// Progressive RESULTs received, whole run.
    pub(crate) progress_results: u64,
    /// Progressive RESULTs received in the measured phase (by receive time).
    pub(crate) progress_results_measured: u64,
    /// Calls whose final RESULT came after another number of progressive RESULTs than asked.
    pub(crate) progress_mismatches: u64,
    /// Calls whose progressive RESULTs went unchecked (too many in flight for the ring).
    pub(crate) progress_untracked: u64,
    /// Progressive YIELDs sent by callees.
    pub(crate) progress_yields: u64,
    /// Times a closed-loop publisher's window made no progress for a whole stall period.
    pub(crate) window_stalls: u64,
    /// Sessions that reached WELCOME.
    pub(crate) sessions: u64,
    /// Sessions that reached WELCOME in the measured phase.
    pub(crate) sessions_measured: u64,
    /// Sessions that failed (connect, handshake, HELLO, timeout).
    pub(crate) failures: u64,
    /// Sessions that failed in the measured phase.
    pub(crate) failures_measured: u64,
    /// Sessions closed without the router's GOODBYE in time.
    pub(crate) unclean_closes: u64,
    /// EVENTs received by subscribers left out of the publications' `eligible` list.
    pub(crate) ineligible: u64,
    /// `wamp.session.on_join` events received by a meta watcher, whole run.
    pub(crate) meta_joins: u64,
    /// `wamp.session.on_leave` events received by a meta watcher, whole run.
    pub(crate) meta_leaves: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.sent += o.sent;
        self.sent_measured += o.sent_measured;
        self.received += o.received;
        self.received_measured += o.received_measured;
        self.expected += o.expected;
        self.foreign += o.foreign;
        self.errors += o.errors;
        self.invocations += o.invocations;
        self.progress_results += o.progress_results;
        self.progress_results_measured += o.progress_results_measured;
        self.progress_mismatches += o.progress_mismatches;
        self.progress_untracked += o.progress_untracked;
        self.progress_yields += o.progress_yields;
        self.window_stalls += o.window_stalls;
        self.sessions += o.sessions;
        self.sessions_measured += o.sessions_measured;
        self.failures += o.failures;
        self.failures_measured += o.failures_measured;
        self.unclean_closes += o.unclean_closes;
        self.ineligible += o.ineligible;
        self.meta_joins += o.meta_joins;
        self.meta_leaves += o.meta_leaves;
    }
}

/// Everything one thread measured.
#[derive(Debug)]
pub(crate) struct Stats {
    /// The phase marks, copied from the shared state when sending starts.
    pub(crate) marks: Marks,
    /// Counters.
    pub(crate) counts: Counts,
    /// Delivery latency (pubsub) or round-trip time (rpc), ns, measured phase only.
    pub(crate) latency: Histogram<u64>,
    /// HELLO sent to WELCOME received, ns.
    pub(crate) hello_welcome: Histogram<u64>,
    /// Connect started to WELCOME received, ns.
    pub(crate) join: Histogram<u64>,
    /// PUBLISHes or CALLs sent per [`BIN_NS`] since `marks.t0`.
    pub(crate) sent_bins: Vec<u64>,
    /// Deliveries, RESULTs or sessions per [`BIN_NS`] since `marks.t0`.
    pub(crate) received_bins: Vec<u64>,
    /// The first few failure messages.
    pub(crate) failure_samples: Vec<String>,
    /// A latency value seen several times in a row and how often, not yet in `latency`:
    /// a batch of events sent together and read together has one latency.
    pending_latency: (u64, u64),
    /// The clock range of the current received-timeline bin and its index.
    received_bin: (u64, u64, usize),
}

/// A histogram for nanosecond latencies.
pub(crate) fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, MAX_TRACKED_NS, SIGNIFICANT_DIGITS)?)
}

impl Stats {
    /// Empty statistics with timelines long enough for `span_ns` after the start.
    pub(crate) fn new(span_ns: u64) -> anyhow::Result<Stats> {
        let bins = usize::try_from(span_ns / BIN_NS + 2).unwrap_or(0);
        Ok(Stats {
            marks: Marks::default(),
            counts: Counts::default(),
            latency: histogram()?,
            hello_welcome: histogram()?,
            join: histogram()?,
            sent_bins: vec![0; bins],
            received_bins: vec![0; bins],
            failure_samples: Vec::new(),
            pending_latency: (0, 0),
            received_bin: (0, 0, 0),
        })
    }

    /// Sets the phase marks (when sending starts).
    pub(crate) fn set_marks(&mut self, marks: Marks) {
        self.marks = marks;
        self.received_bin = (0, 0, 0);
    }

    /// Adds `n` to the timeline bin of clock time `ns`.
    fn bump(bins: &mut [u64], t0: u64, ns: u64, n: u64) {
        let i = usize::try_from(ns.saturating_sub(t0) / BIN_NS).unwrap_or(usize::MAX).min(bins.len().saturating_sub(1));
        if let Some(b) = bins.get_mut(i) {
            *b += n;
        }
    }

    /// Counts `n` messages sent at `ns`.
    pub(crate) fn sent(&mut self, ns: u64, n: u64) {
        self.counts.sent += n;
        if self.marks.measured(ns) {
            self.counts.sent_measured += n;
        }
        Stats::bump(&mut self.sent_bins, self.marks.t0, ns, n);
    }

    /// Counts one delivery or result received at `now` for a message timestamped `ts`.
    #[inline]
    pub(crate) fn received(&mut self, now: u64, ts: u64) {
        self.counts.received += 1;
        if self.marks.measured(now) {
            self.counts.received_measured += 1;
            let v = now.saturating_sub(ts).max(1);
            if v == self.pending_latency.0 {
                self.pending_latency.1 += 1;
            } else {
                self.flush_latency();
                self.pending_latency = (v, 1);
            }
        }
        let (lo, hi, i) = self.received_bin;
        if now >= lo && now < hi {
            if let Some(b) = self.received_bins.get_mut(i) {
                *b += 1;
            }
        } else {
            let i = usize::try_from(now.saturating_sub(self.marks.t0) / BIN_NS)
                .unwrap_or(usize::MAX)
                .min(self.received_bins.len().saturating_sub(1));
            let lo = self.marks.t0 + i as u64 * BIN_NS;
            self.received_bin = (lo, lo + BIN_NS, i);
            if let Some(b) = self.received_bins.get_mut(i) {
                *b += 1;
            }
        }
    }

    /// Counts one progressive RESULT received at `now` (no latency: that is the final one's).
    #[inline]
    pub(crate) fn progress(&mut self, now: u64) {
        self.counts.progress_results += 1;
        if self.marks.measured(now) {
            self.counts.progress_results_measured += 1;
        }
    }

    /// Moves the pending run of equal latencies into the histogram.
    pub(crate) fn flush_latency(&mut self) {
        let (v, n) = self.pending_latency;
        if n > 0 {
            let _ = self.latency.record_n(v.min(MAX_TRACKED_NS), n);
            self.pending_latency = (0, 0);
        }
    }

    /// Counts one session that reached WELCOME at `now`.
    pub(crate) fn session(&mut self, now: u64, started: u64, hello_sent: u64) {
        self.counts.sessions += 1;
        if self.marks.measured(now) {
            self.counts.sessions_measured += 1;
            self.hello_welcome.saturating_record(now.saturating_sub(hello_sent).max(1));
            self.join.saturating_record(now.saturating_sub(started).max(1));
        }
        Stats::bump(&mut self.received_bins, self.marks.t0, now, 1);
    }

    /// Counts one failed session.
    pub(crate) fn failure(&mut self, now: u64, why: &str) {
        self.counts.failures += 1;
        if self.marks.measured(now) {
            self.counts.failures_measured += 1;
        }
        if self.failure_samples.len() < KEPT_FAILURES {
            self.failure_samples.push(why.to_owned());
        }
    }

    /// Adds another thread's figures to these.
    pub(crate) fn merge(&mut self, o: &Stats) {
        self.flush_latency();
        self.counts.add(&o.counts);
        let _ = self.latency.add(&o.latency);
        let _ = self.hello_welcome.add(&o.hello_welcome);
        let _ = self.join.add(&o.join);
        for (a, b) in self.sent_bins.iter_mut().zip(&o.sent_bins) {
            *a += b;
        }
        for (a, b) in self.received_bins.iter_mut().zip(&o.received_bins) {
            *a += b;
        }
        for f in &o.failure_samples {
            if self.failure_samples.len() < KEPT_FAILURES {
                self.failure_samples.push(f.clone());
            }
        }
    }
}

/// Percentiles of a latency histogram, in microseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Latency {
    /// Samples.
    pub(crate) count: u64,
    /// Mean.
    pub(crate) mean_us: f64,
    /// Median.
    pub(crate) p50_us: f64,
    /// 90th percentile.
    pub(crate) p90_us: f64,
    /// 99th percentile.
    pub(crate) p99_us: f64,
    /// 99.9th percentile.
    pub(crate) p99_9_us: f64,
    /// Largest sample.
    pub(crate) max_us: f64,
}

impl Latency {
    /// The summary of `h` (nanoseconds), or `None` if it holds no sample.
    pub(crate) fn of(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| round3(ns as f64 / 1000.0);
        Some(Latency {
            count: h.len(),
            mean_us: round3(h.mean() / 1000.0),
            p50_us: us(h.value_at_quantile(0.5)),
            p90_us: us(h.value_at_quantile(0.9)),
            p99_us: us(h.value_at_quantile(0.99)),
            p99_9_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        })
    }

    /// One table line: `p50 … max` with units.
    pub(crate) fn line(&self) -> String {
        format!(
            "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (n={})",
            fmt_us(self.p50_us),
            fmt_us(self.p90_us),
            fmt_us(self.p99_us),
            fmt_us(self.p99_9_us),
            fmt_us(self.max_us),
            self.count
        )
    }
}

/// Rounds to three decimals, so JSON shows nanosecond resolution without float noise.
pub(crate) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// A latency in microseconds for people: three significant digits, switching to ms and s.
pub(crate) fn fmt_us(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.2}µs")
    } else if us < 100.0 {
        format!("{us:.1}µs")
    } else if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 1_000_000.0 {
        let ms = us / 1000.0;
        if ms < 10.0 {
            format!("{ms:.2}ms")
        } else if ms < 100.0 {
            format!("{ms:.1}ms")
        } else {
            format!("{ms:.0}ms")
        }
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}

/// A rate for people: `1.23M/s`, `45.6k/s`, `789/s`.
pub(crate) fn fmt_rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2}M/s", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{:.1}k/s", per_s / 1e3)
    } else {
        format!("{per_s:.0}/s")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_are_formatted_with_three_significant_digits() {
        assert_eq!(fmt_us(0.5), "0.50µs");
        assert_eq!(fmt_us(9.994), "9.99µs");
        assert_eq!(fmt_us(45.25), "45.2µs");
        assert_eq!(fmt_us(812.4), "812µs");
        assert_eq!(fmt_us(1500.0), "1.50ms");
        assert_eq!(fmt_us(25_000.0), "25.0ms");
        assert_eq!(fmt_us(250_000.0), "250ms");
        assert_eq!(fmt_us(2_500_000.0), "2.50s");
    }

    #[test]
    fn rates_are_formatted_with_si_prefixes() {
        assert_eq!(fmt_rate(999.4), "999/s");
        assert_eq!(fmt_rate(45_600.0), "45.6k/s");
        assert_eq!(fmt_rate(1_234_567.0), "1.23M/s");
    }

    #[test]
    fn latency_summary_converts_nanoseconds_to_microseconds() {
        let mut h = histogram().unwrap();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let l = Latency::of(&h).unwrap();
        assert_eq!(l.count, 1000);
        assert!((l.p50_us - 500.0).abs() < 1.0, "{l:?}");
        assert!((l.p99_us - 990.0).abs() < 1.0, "{l:?}");
        assert!((l.max_us - 1000.0).abs() < 1.0, "{l:?}");
        assert!(l.line().starts_with("p50 500µs  p90 "), "{}", l.line());
        assert_eq!(Latency::of(&histogram().unwrap()), None);
    }

    #[test]
    fn only_the_measured_phase_is_counted_and_recorded() {
        let mut s = Stats::new(10 * BIN_NS).unwrap();
        s.set_marks(Marks { t0: 1_000, m0: 2_000, m1: 3_000 });
        s.sent(1_500, 2);
        s.sent(2_500, 3);
        s.received(1_999, 1_000);
        s.received(2_000, 1_000);
        s.received(3_000, 1_000);
        s.flush_latency();
        assert_eq!((s.counts.sent, s.counts.sent_measured), (5, 3));
        assert_eq!((s.counts.received, s.counts.received_measured), (3, 1));
        assert_eq!(s.latency.len(), 1);
        assert_eq!(s.sent_bins[0], 5);
    }

    #[test]
    fn equal_latencies_in_a_row_are_recorded_with_their_count() {
        let mut s = Stats::new(BIN_NS).unwrap();
        s.set_marks(Marks { t0: 0, m0: 0, m1: u64::MAX });
        for _ in 0..5 {
            s.received(10_000, 4_000);
        }
        s.received(10_000, 9_000);
        s.received(20_000, 14_000);
        s.flush_latency();
        assert_eq!(s.latency.len(), 7);
        assert_eq!(s.latency.count_at(6_000), 6);
        assert_eq!(s.received_bins[0], 7);
    }

    #[test]
    fn merged_stats_add_counts_histograms_and_bins() {
        let mut a = Stats::new(5 * BIN_NS).unwrap();
        let mut b = Stats::new(5 * BIN_NS).unwrap();
        for s in [&mut a, &mut b] {
            s.set_marks(Marks { t0: 0, m0: 0, m1: u64::MAX });
            s.received(BIN_NS + 5, 5);
            s.failure(0, "x");
            s.flush_latency();
        }
        a.merge(&b);
        assert_eq!(a.counts.received, 2);
        assert_eq!(a.counts.failures, 2);
        assert_eq!(a.latency.len(), 2);
        assert_eq!(a.received_bins[1], 2);
        assert_eq!(a.failure_samples.len(), 2);
    }
}
