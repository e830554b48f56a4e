//! Caller and callee roles.
//!
//! Owns: how many calls each caller keeps in flight or when each is due, the per-call check of
//! progressive results, and the callee's echo (one YIELD, or N progressive YIELDs and a final
//! one). Never: allocation per call; a YIELD is the INVOCATION's payload bytes behind a new head.

use std::sync::Arc;

use wampyard::wamp::message::code;

use super::{Ctx, Next, OpenLoop, Produced, MAX_BATCH, QUEUE_HIGH};
use crate::conn::Out;
use crate::wire::encode::{self, Echo, Options, Timed, PROGRESS, RECEIVE_PROGRESS};

/// The procedure URI of callee `i`.
pub(crate) fn procedure_uri(i: usize) -> String {
    format!("proc.{i}")
}

/// The procedure every callee registers, and every caller calls, with `--shared`.
pub(crate) const SHARED_PROCEDURE: &str = "proc.shared";

/// Fewest slots of a [`ProgressCheck`].
const MIN_PROGRESS_SLOTS: usize = 1024;

/// Most slots of a [`ProgressCheck`] (16 MiB).
const MAX_PROGRESS_SLOTS: usize = 1 << 20;

/// A free [`ProgressCheck`] slot.
const FREE: u64 = u64::MAX;

/// How a caller decides when to call.
#[derive(Debug)]
enum Pace {
    /// Closed loop: keep this many calls in flight.
    InFlight(u64),
    /// Open loop at a fixed total rate shared by `senders` callers.
    Rate(OpenLoop),
}

/// One caller's count of the progressive results of each call in flight, in a ring indexed by
/// the call's sequence number (the `seq` its results echo), sized before the run.
#[derive(Debug)]
pub(crate) struct ProgressCheck {
    /// Progressive results every call should see before its final result.
    per_call: u64,
    /// `(seq, progressive results seen)` of the call owning each slot; `seq` is [`FREE`] when
    /// no call does.
    slots: Box<[(u64, u64)]>,
}

impl ProgressCheck {
    /// `per_call` progressive results per call, room for about `in_flight` calls at once (the
    /// ring is larger, a power of two within [`MIN_PROGRESS_SLOTS`]..=[`MAX_PROGRESS_SLOTS`]).
    pub(crate) fn new(per_call: u64, in_flight: usize) -> ProgressCheck {
        let n = in_flight.saturating_mul(4).clamp(MIN_PROGRESS_SLOTS, MAX_PROGRESS_SLOTS).next_power_of_two();
        ProgressCheck { per_call, slots: vec![(FREE, 0); n].into_boxed_slice() }
    }

    fn slot(&mut self, seq: u64) -> &mut (u64, u64) {
        let i = (seq & (self.slots.len() as u64 - 1)) as usize;
        &mut self.slots[i]
    }

    /// Call `seq` was sent. True if it took the slot of a call still awaiting its final result,
    /// which then goes unchecked.
    pub(crate) fn sent(&mut self, seq: u64) -> bool {
        let slot = self.slot(seq);
        let displaced = slot.0 != FREE;
        *slot = (seq, 0);
        displaced
    }

    /// A progressive result of call `seq` arrived.
    pub(crate) fn progress(&mut self, seq: u64) {
        let slot = self.slot(seq);
        if slot.0 == seq {
            slot.1 += 1;
        }
    }

    /// Call `seq` ended (final result or ERROR): whether it saw exactly `per_call` progressive
    /// results, or `None` if it was not tracked (displaced, or not a call of this caller).
    pub(crate) fn done(&mut self, seq: u64) -> Option<bool> {
        let per_call = self.per_call;
        let slot = self.slot(seq);
        if slot.0 != seq {
            return None;
        }
        let ok = slot.1 == per_call;
        *slot = (FREE, 0);
        Some(ok)
    }
}

/// A calling session.
#[derive(Debug)]
pub(crate) struct Caller {
    index: usize,
    procedure: String,
    filler: Arc<str>,
    pace: Pace,
    /// CALL.Request of the next call; always `n + 1`.
    request: u64,
    /// Calls sent, and the `seq` of the next one.
    n: u64,
    in_flight: u64,
    /// With `--progress`: calls ask for progressive results, which are checked per call.
    progress: Option<ProgressCheck>,
}

impl Caller {
    /// Caller `index` calling `procedure`, closed loop with `in_flight` calls or paced by `open`,
    /// asking for progressive results and checking them with `progress`.
    pub(crate) fn new(
        index: usize,
        procedure: String,
        in_flight: u64,
        open: Option<OpenLoop>,
        filler: Arc<str>,
        progress: Option<ProgressCheck>,
    ) -> Caller {
        let pace = match open {
            Some(open) => Pace::Rate(open),
            None => Pace::InFlight(in_flight.max(1)),
        };
        Caller { index, procedure, filler, pace, request: 1, n: 0, in_flight: 0, progress }
    }

    /// Calls sent and not answered.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// Sending starts at `t0`.
    pub(crate) fn start(&mut self, t0: u64) {
        if let Pace::Rate(open) = &mut self.pace {
            open.start(t0, self.index);
        }
    }

    pub(super) fn produce(&mut self, ctx: &mut Ctx<'_>, out: &mut Out<'_>) -> Result<Produced, String> {
        let mut sent = 0;
        let options = if self.progress.is_some() { Options::Flag(RECEIVE_PROGRESS) } else { Options::Empty };
        while sent < MAX_BATCH {
            if out.queued() >= QUEUE_HIGH {
                return Ok(Produced::default());
            }
            let ts = match &self.pace {
                Pace::InFlight(k) => {
                    if self.in_flight >= *k {
                        return Ok(Produced::default());
                    }
                    ctx.now
                }
                Pace::Rate(open) => match open.due(self.n, ctx.now) {
                    Ok(ts) => ts,
                    Err(wait) => return Ok(wait),
                },
            };
            let ser = ctx.ser;
            let m = Timed {
                kind: code::CALL,
                request: self.request,
                uri: &self.procedure,
                ts,
                seq: self.n,
                filler: &self.filler,
                options,
            };
            out.message(|b| encode::timed(ser, &m, b)).map_err(|e| e.to_string())?;
            if let Some(check) = &mut self.progress {
                if check.sent(self.n) {
                    ctx.stats.counts.progress_untracked += 1;
                }
            }
            self.request += 1;
            self.n += 1;
            self.in_flight += 1;
            ctx.stats.sent(ts, 1);
            sent += 1;
        }
        Ok(Produced { more: true, due: None })
    }

    /// A final RESULT for the call with sequence number `seq`, sent at `ts`.
    pub(super) fn on_result(&mut self, ctx: &mut Ctx<'_>, ts: u64, seq: u64) {
        self.in_flight = self.in_flight.saturating_sub(1);
        ctx.stats.received(ctx.now, ts);
        if let Some(check) = &mut self.progress {
            if check.done(seq) == Some(false) {
                ctx.stats.counts.progress_mismatches += 1;
            }
        }
    }

    /// A progressive RESULT for the call with sequence number `seq`.
    pub(super) fn on_progress(&mut self, ctx: &mut Ctx<'_>, seq: u64) {
        ctx.stats.progress(ctx.now);
        if let Some(check) = &mut self.progress {
            check.progress(seq);
        }
    }

    /// An ERROR for CALL.Request `request` (`None`: a RESULT that could not be read).
    pub(super) fn on_error(&mut self, ctx: &mut Ctx<'_>, request: Option<u64>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        ctx.stats.counts.errors += 1;
        if let (Some(check), Some(request)) = (&mut self.progress, request) {
            // The call is over; its progressive results no longer matter.
            check.done(request.wrapping_sub(1));
        }
    }
}

/// A session that registers one procedure and echoes every invocation.
#[derive(Debug)]
pub(crate) struct Callee {
    /// Its index among the callees.
    pub(crate) index: usize,
    /// The procedure URI.
    pub(crate) procedure: String,
    /// The REGISTER option `invoke` (shared registrations), if any.
    pub(crate) invoke: Option<&'static str>,
    /// Progressive YIELDs before the final one, for invocations that take them.
    progress: u64,
    /// INVOCATIONs answered.
    invocations: u64,
}

impl Callee {
    /// Callee `index` registering `procedure` with the policy `invoke` (if any), answering each
    /// invocation that takes progressive results with `progress` progressive YIELDs first.
    pub(crate) fn new(index: usize, procedure: String, invoke: Option<&'static str>, progress: u64) -> Callee {
        Callee { index, procedure, invoke, progress, invocations: 0 }
    }

    /// INVOCATIONs answered, whole run.
    pub(crate) fn invocations(&self) -> u64 {
        self.invocations
    }

    pub(super) fn on_invocation(
        &mut self,
        ctx: &mut Ctx<'_>,
        request: u64,
        receive_progress: bool,
        echo: Echo<'_>,
        out: &mut Out<'_>,
    ) -> Next {
        let ser = ctx.ser;
        let progressive = if receive_progress { self.progress } else { 0 };
        for _ in 0..progressive {
            if let Err(e) = out.message(|b| encode::yield_echo(ser, request, Some(PROGRESS), echo, b)) {
                return Next::Fail(e.to_string());
            }
        }
        match out.message(|b| encode::yield_echo(ser, request, None, echo, b)) {
            Ok(()) => {
                ctx.stats.counts.invocations += 1;
                ctx.stats.counts.progress_yields += progressive;
                self.invocations += 1;
                Next::Continue
            }
            Err(e) => Next::Fail(e.to_string()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::engine::Shared;
    use crate::stats::Stats;
    use crate::wire::frame::{self, Framing};
    use crate::wire::scan::{scan, Scanned};
    use bytes::Bytes;
    use wampyard::codec::PayloadCodec;
    use wampyard::codec::{self, Serializer};
    use wampyard::wamp::Message;

    /// The messages in RawSocket-framed `buf`.
    fn frames(buf: &[u8]) -> Vec<&[u8]> {
        let mut rest = buf;
        let mut msgs = Vec::new();
        while let Some(p) = frame::parse_rawsocket(rest).unwrap() {
            msgs.push(&rest[p.payload.clone()]);
            rest = &rest[p.consumed..];
        }
        assert!(rest.is_empty());
        msgs
    }

    /// What `callee` sends for one INVOCATION of `[ts, seq, "pad"]` with `receive_progress`.
    fn answer(ser: Serializer, callee: &mut Callee, stats: &mut Stats, receive_progress: bool) -> Vec<Message> {
        let shared = Shared::new(Vec::new(), Vec::new(), 0);
        let mut ctx = Ctx { ser, now: 1, stats, shared: &shared, worker: 0 };
        let mut call = Vec::new();
        let m =
            Timed { kind: code::CALL, request: 1, uri: "p", ts: 500, seq: 7, filler: "pad", options: Options::Empty };
        encode::timed(ser, &m, &mut call);
        let Message::Call(c) = codec::decode(ser, Bytes::from(call)).unwrap() else { panic!() };
        let details = if receive_progress {
            wampyard::wamp::Dict::new().with("receive_progress", true)
        } else {
            wampyard::wamp::Dict::new()
        };
        let inv = Message::Invocation(wampyard::wamp::message::Invocation {
            request: wampyard::wamp::Id::new(99).unwrap(),
            registration: wampyard::wamp::Id::new(3).unwrap(),
            details,
            payload: c.payload,
        });
        let inv = codec::encode(ser, &inv).unwrap();
        let Some(Scanned::Invocation { request, receive_progress, echo }) = scan(ser, &inv) else { panic!() };
        let (mut framing, mut wbuf, mut scratch) = (Framing::RawSocket { peer_max: 1 << 24 }, Vec::new(), Vec::new());
        let mut out = Out::over(&mut framing, &mut wbuf, &mut scratch);
        assert_eq!(callee.on_invocation(&mut ctx, request, receive_progress, echo, &mut out), Next::Continue);
        frames(&wbuf).into_iter().map(|b| codec::decode(ser, Bytes::copy_from_slice(b)).unwrap()).collect()
    }

    #[test]
    fn callee_sends_n_progressive_yields_then_the_final_one_in_every_serializer() {
        for ser in Serializer::ALL {
            let mut stats = Stats::new(0).unwrap();
            let mut callee = Callee::new(0, SHARED_PROCEDURE.to_owned(), Some("roundrobin"), 3);
            let yields = answer(ser, &mut callee, &mut stats, true);
            assert_eq!(yields.len(), 4, "{ser}");
            for (k, y) in yields.iter().enumerate() {
                let Message::Yield(y) = y else { panic!("{ser}: not a YIELD") };
                assert_eq!(y.request.get(), 99);
                let progressive = y.options.get_bool("progress") == Some(true);
                assert_eq!(progressive, k < 3, "{ser} yield {k}: {:?}", y.options);
                if !progressive {
                    assert!(y.options.is_empty(), "{ser}");
                }
                let (args, _) = y.payload.to_values().unwrap();
                assert_eq!((args[0].as_u64(), args[1].as_u64(), args[2].as_str()), (Some(500), Some(7), Some("pad")));
            }
            assert_eq!((stats.counts.invocations, stats.counts.progress_yields, callee.invocations()), (1, 3, 1));
        }
    }

    #[test]
    fn callee_sends_one_yield_when_the_invocation_takes_no_progressive_results() {
        for ser in Serializer::ALL {
            for (progress, receive_progress) in [(3, false), (0, true), (0, false)] {
                let mut stats = Stats::new(0).unwrap();
                let mut callee = Callee::new(1, procedure_uri(1), None, progress);
                let yields = answer(ser, &mut callee, &mut stats, receive_progress);
                assert_eq!(yields.len(), 1, "{ser}");
                let Message::Yield(y) = &yields[0] else { panic!() };
                assert!(y.options.is_empty(), "{ser}");
                assert_eq!((stats.counts.invocations, stats.counts.progress_yields), (1, 0));
            }
        }
    }

    #[test]
    fn progress_check_counts_per_call_and_flags_mismatches() {
        let mut c = ProgressCheck::new(2, 1);
        assert_eq!(c.slots.len(), MIN_PROGRESS_SLOTS);
        assert!(!c.sent(0));
        assert!(!c.sent(1));
        c.progress(1);
        c.progress(0);
        c.progress(1);
        c.progress(0);
        assert_eq!(c.done(1), Some(true));
        c.progress(1); // after its final result: ignored
        assert_eq!(c.done(1), None);
        c.progress(0);
        assert_eq!(c.done(0), Some(false), "three progressive results, two expected");
        assert!(!c.sent(2));
        assert_eq!(c.done(2), Some(false), "none seen");
        // A call still open when its slot comes round again goes unchecked.
        let n = MIN_PROGRESS_SLOTS as u64;
        assert!(!c.sent(5));
        assert!(c.sent(5 + n));
        assert_eq!(c.done(5), None);
        c.progress(5 + n);
        c.progress(5 + n);
        assert_eq!(c.done(5 + n), Some(true));
        assert_eq!(ProgressCheck::new(0, 100_000).slots.len(), 1 << 19);
        assert_eq!(ProgressCheck::new(0, usize::MAX).slots.len(), MAX_PROGRESS_SLOTS);
    }

    #[test]
    fn caller_asks_for_progressive_results_only_with_a_check() {
        for (check, want) in [(Some(ProgressCheck::new(2, 1)), Some(true)), (None, None)] {
            let ser = Serializer::Json;
            let mut stats = Stats::new(0).unwrap();
            let shared = Shared::new(Vec::new(), Vec::new(), 0);
            let mut ctx = Ctx { ser, now: 1, stats: &mut stats, shared: &shared, worker: 0 };
            let mut caller = Caller::new(0, "proc.0".to_owned(), 2, None, "f".into(), check);
            let (mut framing, mut wbuf, mut scratch) =
                (Framing::RawSocket { peer_max: 1 << 24 }, Vec::new(), Vec::new());
            let mut out = Out::over(&mut framing, &mut wbuf, &mut scratch);
            caller.produce(&mut ctx, &mut out).unwrap();
            let calls = frames(&wbuf);
            assert_eq!(calls.len(), 2);
            for (k, b) in calls.iter().enumerate() {
                let Message::Call(c) = codec::decode(ser, Bytes::copy_from_slice(b)).unwrap() else { panic!() };
                assert_eq!(c.request.get(), k as u64 + 1);
                assert_eq!(c.options.get_bool("receive_progress"), want);
            }
            // Call 0 gets its two progressive results, call 1 one: one mismatch.
            caller.on_progress(&mut ctx, 0);
            caller.on_progress(&mut ctx, 0);
            caller.on_progress(&mut ctx, 1);
            caller.on_result(&mut ctx, 1, 0);
            caller.on_result(&mut ctx, 1, 1);
            assert_eq!(caller.in_flight(), 0);
            assert_eq!(stats.counts.progress_results, 3);
            assert_eq!(stats.counts.progress_mismatches, u64::from(want.is_some()));
            assert_eq!(stats.counts.received, 2);
        }
    }
}
