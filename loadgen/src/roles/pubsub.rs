//! Publisher and subscriber roles, and the closed-loop window that couples them.
//!
//! Owns: the PUBLISH timetable or window of each publisher, the sequence accounting of each
//! subscriber, [`Window`], the per-publisher count of deliveries of each in-flight event, and
//! the `eligible` list (`--eligible N`): the first N subscribers share their session ids, which
//! publishers name in every PUBLISH. Never: allocation per event; the only cross-thread
//! traffic per delivery is one atomic add.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use wampyard::wamp::message::code;

use super::{Ctx, OpenLoop, Produced, MAX_BATCH, QUEUE_HIGH};
use crate::conn::Out;
use crate::seq::{Seen, SeqTracker};
use crate::wire::encode::{self, Options, Timed};
use crate::wire::scan;

/// Bits of an event's `seq` argument that number the publisher's events; the publisher's index
/// sits above them. 2^32 events per publisher and 2^21 publishers keep `seq` below 2^53, so
/// routers and clients that read numbers as doubles keep it exact.
const SEQ_BITS: u32 = 32;

/// A closed-loop publisher whose window has not moved for this long gives up on the events
/// that block it (they are lost and will be reported so) rather than stalling the run.
const WINDOW_STALL_NS: u64 = 1_000_000_000;

/// The `seq` argument of event `n` of publisher `publisher`.
pub(crate) fn seq_of(publisher: usize, n: u64) -> u64 {
    ((publisher as u64) << SEQ_BITS) | (n & ((1 << SEQ_BITS) - 1))
}

/// The publisher index and event number in a `seq` argument.
pub(crate) fn split_seq(seq: u64) -> (usize, u64) {
    (usize::try_from(seq >> SEQ_BITS).unwrap_or(usize::MAX), seq & ((1 << SEQ_BITS) - 1))
}

/// The topic URI of topic `t`.
pub(crate) fn topic_uri(t: usize) -> String {
    format!("topic.{t}")
}

/// Deliveries of one publisher's in-flight events: slot `n % size` counts the subscribers that
/// received event `n`. The publisher clears a slot once every subscriber has it, and never has
/// more than `size` events in flight, so a slot is never shared by two live events.
#[derive(Debug)]
pub(crate) struct Window {
    slots: Box<[AtomicU32]>,
    subscribers: u32,
    /// The publisher found the window full and waits for a wake-up.
    waiting: AtomicBool,
    /// The thread of the publisher.
    worker: usize,
}

impl Window {
    /// A window of `size` events for a publisher on thread `worker` whose topic has
    /// `subscribers` subscribers.
    pub(crate) fn new(size: usize, subscribers: u32, worker: usize) -> Window {
        Window {
            slots: (0..size.max(1)).map(|_| AtomicU32::new(0)).collect(),
            subscribers,
            waiting: AtomicBool::new(false),
            worker,
        }
    }

    fn size(&self) -> u64 {
        self.slots.len() as u64
    }

    fn slot(&self, n: u64) -> &AtomicU32 {
        &self.slots[(n % self.size()) as usize]
    }

    /// A subscriber on thread `worker` received event `n` for the first time. Returns the
    /// publisher's thread if it must be woken (the event completed and the publisher, on
    /// another thread, waits).
    pub(crate) fn delivered(&self, n: u64, worker: usize) -> Option<usize> {
        let before = self.slot(n).fetch_add(1, Ordering::SeqCst);
        let complete = before + 1 == self.subscribers;
        (complete
            && worker != self.worker
            && self.waiting.load(Ordering::SeqCst)
            && self.waiting.swap(false, Ordering::SeqCst))
        .then_some(self.worker)
    }
}

/// How a publisher decides when to send.
#[derive(Debug)]
enum Pace {
    /// Closed loop through the shared window of this publisher.
    Window,
    /// Open loop at a fixed total rate shared by `senders` publishers.
    Rate(OpenLoop),
}

/// A publishing session.
#[derive(Debug)]
pub(crate) struct Publisher {
    index: usize,
    topic_index: usize,
    topic: String,
    subscribers: u64,
    filler: Arc<str>,
    pace: Pace,
    request: u64,
    /// Events sent (the next event's number).
    n: u64,
    /// Events every subscriber has (closed loop).
    acked: u64,
    last_progress: u64,
    /// With `--eligible N`: N, the sessions every PUBLISH names (0: no list).
    eligible: usize,
    /// The Options of every PUBLISH with `eligible`, encoded when sending starts.
    options: Vec<u8>,
}

impl Publisher {
    /// Publisher `index`, on topic `topic` with `subscribers` subscribers expected to receive
    /// each event, in closed loop (`open` `None`, through `shared.windows[index]`) or paced by
    /// `open`; naming the sessions of the first `eligible` subscribers in every PUBLISH unless
    /// `eligible` is 0.
    pub(crate) fn new(
        index: usize,
        topic: usize,
        subscribers: usize,
        open: Option<OpenLoop>,
        filler: Arc<str>,
        eligible: usize,
    ) -> Publisher {
        let pace = match open {
            Some(open) => Pace::Rate(open),
            None => Pace::Window,
        };
        Publisher {
            index,
            topic_index: topic,
            topic: topic_uri(topic),
            subscribers: subscribers as u64,
            filler,
            pace,
            request: 1,
            n: 0,
            acked: 0,
            last_progress: 0,
            eligible,
            options: Vec::new(),
        }
    }

    /// The topic index.
    pub(crate) fn topic_index(&self) -> usize {
        self.topic_index
    }

    /// Events published.
    pub(crate) fn published(&self) -> u64 {
        self.n
    }

    /// Sending starts at `t0`.
    pub(crate) fn start(&mut self, t0: u64) {
        self.last_progress = t0;
        if let Pace::Rate(open) = &mut self.pace {
            open.start(t0, self.index);
        }
    }

    fn send(&mut self, ctx: &mut Ctx<'_>, ts: u64, out: &mut Out<'_>) -> Result<(), String> {
        let (request, seq) = (self.request, seq_of(self.index, self.n));
        let options = if self.eligible > 0 { Options::Encoded(&self.options) } else { Options::Empty };
        let m = Timed { kind: code::PUBLISH, request, uri: &self.topic, ts, seq, filler: &self.filler, options };
        let ser = ctx.ser;
        out.message(|b| encode::timed(ser, &m, b)).map_err(|e| e.to_string())?;
        self.request += 1;
        self.n += 1;
        ctx.stats.sent(ts, 1);
        ctx.stats.counts.expected += self.subscribers;
        Ok(())
    }

    /// Moves `acked` over every event all subscribers have, clearing their slots.
    fn advance(&mut self, window: &Window, now: u64) {
        let start = self.acked;
        while self.acked < self.n {
            let slot = window.slot(self.acked);
            if slot.load(Ordering::SeqCst) < window.subscribers {
                break;
            }
            slot.store(0, Ordering::Relaxed);
            self.acked += 1;
        }
        if self.acked > start {
            self.last_progress = now;
        }
    }

    /// True if the window has room, waiting (or, after a stall, giving up) otherwise.
    fn window_open(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let shared = ctx.shared;
        let Some(window) = shared.windows.get(self.index) else { return true };
        if self.n - self.acked < window.size() {
            return true;
        }
        self.advance(window, ctx.now);
        if self.n - self.acked < window.size() {
            return true;
        }
        window.waiting.store(true, Ordering::SeqCst);
        self.advance(window, ctx.now);
        if self.n - self.acked < window.size() {
            return true;
        }
        if ctx.now.saturating_sub(self.last_progress) < WINDOW_STALL_NS {
            return false;
        }
        while self.acked < self.n {
            window.slot(self.acked).store(0, Ordering::Relaxed);
            self.acked += 1;
        }
        self.last_progress = ctx.now;
        ctx.stats.counts.window_stalls += 1;
        true
    }

    pub(super) fn produce(&mut self, ctx: &mut Ctx<'_>, out: &mut Out<'_>) -> Result<Produced, String> {
        if self.eligible > 0 && self.options.is_empty() {
            self.options = eligible_options(ctx, self.eligible)?;
        }
        let mut sent = 0;
        while sent < MAX_BATCH {
            if out.queued() >= QUEUE_HIGH {
                return Ok(Produced::default());
            }
            let ts = match &self.pace {
                Pace::Window => {
                    if !self.window_open(ctx) {
                        return Ok(Produced::default());
                    }
                    ctx.now
                }
                Pace::Rate(open) => match open.due(self.n, ctx.now) {
                    Ok(ts) => ts,
                    Err(wait) => return Ok(wait),
                },
            };
            self.send(ctx, ts, out)?;
            sent += 1;
        }
        Ok(Produced { more: true, due: None })
    }
}

/// The Options naming the sessions of the first `n` subscribers, which all shared their ids
/// before the run started (every session is ready before anything is published).
fn eligible_options(ctx: &Ctx<'_>, n: usize) -> Result<Vec<u8>, String> {
    let ids: Vec<u64> = ctx.shared.ids.iter().take(n).map(|id| id.load(Ordering::SeqCst)).collect();
    if ids.len() < n || ids.contains(&0) {
        return Err(format!("the session ids of the first {n} subscribers are not all known"));
    }
    let mut options = Vec::new();
    encode::eligible(ctx.ser, &ids, &mut options);
    Ok(options)
}

/// Where a subscriber stands with respect to the publications' `eligible` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Eligibility {
    /// Publications name no sessions: it receives every event of its topic.
    All,
    /// Its session is number `k` of the list: it shares its session id at WELCOME (in
    /// `Shared::ids[k]`) and receives every event of its topic.
    Listed(usize),
    /// Publications name other sessions: every event it receives is counted as ineligible.
    Excluded,
}

/// A subscribing session.
#[derive(Debug)]
pub(crate) struct Subscriber {
    /// The topic URI.
    pub(crate) topic: String,
    topic_index: usize,
    topics: usize,
    publishers: usize,
    closed_loop: bool,
    eligibility: Eligibility,
    /// Per publisher of this topic (publisher `topic_index + k * topics` at `k`).
    trackers: Vec<SeqTracker>,
}

impl Subscriber {
    /// A subscriber of topic `topic` of `topics`, which `publishers` publishers share.
    pub(crate) fn new(
        topic: usize,
        topics: usize,
        publishers: usize,
        closed_loop: bool,
        eligibility: Eligibility,
    ) -> Subscriber {
        let mine = (topic..publishers).step_by(topics.max(1)).count();
        Subscriber {
            topic: topic_uri(topic),
            topic_index: topic,
            topics: topics.max(1),
            publishers,
            closed_loop,
            eligibility,
            trackers: vec![SeqTracker::default(); mine],
        }
    }

    /// The sequence accounting per publisher of the topic.
    pub(crate) fn trackers(&self) -> &[SeqTracker] {
        &self.trackers
    }

    /// The session was welcomed with WELCOME `msg`: a listed subscriber shares its id.
    pub(super) fn on_welcome(&self, ctx: &Ctx<'_>, msg: &[u8]) -> Result<(), String> {
        let Eligibility::Listed(k) = self.eligibility else { return Ok(()) };
        let (Some((code::WELCOME, Some(id), _)), Some(slot)) = (scan::head(ctx.ser, msg), ctx.shared.ids.get(k)) else {
            return Err("router sent a WELCOME without a session id".to_owned());
        };
        slot.store(id, Ordering::SeqCst);
        Ok(())
    }

    /// An EVENT, with its `[ts, seq]` if it has them.
    #[inline]
    pub(super) fn on_event(&mut self, ctx: &mut Ctx<'_>, timed: Option<(u64, u64)>) {
        if self.eligibility == Eligibility::Excluded {
            ctx.stats.counts.ineligible += 1;
        } else if let Some((ts, seq)) = timed {
            self.on_timed(ctx, ts, seq);
        } else {
            ctx.stats.counts.foreign += 1;
        }
    }

    fn on_timed(&mut self, ctx: &mut Ctx<'_>, ts: u64, seq: u64) {
        let (publisher, n) = split_seq(seq);
        let tracker = (publisher < self.publishers && publisher % self.topics == self.topic_index)
            .then(|| self.trackers.get_mut(publisher / self.topics))
            .flatten();
        let Some(tracker) = tracker else {
            ctx.stats.counts.foreign += 1;
            return;
        };
        // Duplicates are counted by the tracker and change nothing else.
        if tracker.observe(n) == Seen::New {
            ctx.stats.received(ctx.now, ts);
            if self.closed_loop {
                if let Some(worker) = ctx.shared.windows.get(publisher).and_then(|w| w.delivered(n, ctx.worker)) {
                    ctx.shared.wake(worker);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn seq_carries_the_publisher_and_the_event_number() {
        assert_eq!(split_seq(seq_of(0, 0)), (0, 0));
        assert_eq!(split_seq(seq_of(7, 123_456)), (7, 123_456));
        assert!(seq_of((1 << 21) - 1, (1 << 32) - 1) < 1 << 53);
    }

    #[test]
    fn event_completes_when_every_subscriber_has_it() {
        let w = Window::new(4, 3, 0);
        assert_eq!(w.delivered(0, 0), None);
        assert_eq!(w.delivered(0, 0), None);
        assert_eq!(w.slot(0).load(Ordering::SeqCst), 2);
        assert_eq!(w.delivered(0, 0), None);
        assert_eq!(w.slot(0).load(Ordering::SeqCst), 3);
    }

    #[test]
    fn waiting_publisher_on_another_thread_is_woken_once() {
        let w = Window::new(2, 1, 5);
        w.waiting.store(true, Ordering::SeqCst);
        assert_eq!(w.delivered(0, 1), Some(5));
        assert_eq!(w.delivered(1, 1), None, "the flag was consumed");
        let same = Window::new(2, 1, 1);
        same.waiting.store(true, Ordering::SeqCst);
        assert_eq!(same.delivered(0, 1), None, "same thread needs no wake-up");
    }

    #[test]
    fn subscriber_tracks_only_the_publishers_of_its_topic() {
        let s = Subscriber::new(1, 3, 10, true, Eligibility::All);
        // Publishers 1, 4 and 7 publish to topic 1.
        assert_eq!(s.trackers().len(), 3);
        assert_eq!(s.topic, "topic.1");
        assert_eq!(Subscriber::new(0, 1, 1, false, Eligibility::Excluded).trackers().len(), 1);
    }
}
