//! Caller and callee roles.
//!
//! Owns: how many calls each caller keeps in flight or when each is due, and the callee's echo.
//! Never: allocation per call; a YIELD is the INVOCATION's payload bytes behind a new head.

use std::sync::Arc;

use wampyard::wamp::message::code;

use super::{Ctx, Next, OpenLoop, Produced, MAX_BATCH, QUEUE_HIGH};
use crate::conn::Out;
use crate::wire::encode::{self, Echo, Timed};

/// The procedure URI of callee `i`.
pub(crate) fn procedure_uri(i: usize) -> String {
    format!("proc.{i}")
}

/// How a caller decides when to call.
#[derive(Debug)]
enum Pace {
    /// Closed loop: keep this many calls in flight.
    InFlight(u64),
    /// Open loop at a fixed total rate shared by `senders` callers.
    Rate(OpenLoop),
}

/// A calling session.
#[derive(Debug)]
pub(crate) struct Caller {
    index: usize,
    procedure: String,
    filler: Arc<str>,
    pace: Pace,
    request: u64,
    /// Calls sent.
    n: u64,
    in_flight: u64,
}

impl Caller {
    /// Caller `index` calling callee `callee`'s procedure, closed loop with `in_flight` calls
    /// or paced by `open`.
    pub(crate) fn new(index: usize, callee: usize, in_flight: u64, open: Option<OpenLoop>, filler: Arc<str>) -> Caller {
        let pace = match open {
            Some(open) => Pace::Rate(open),
            None => Pace::InFlight(in_flight.max(1)),
        };
        Caller { index, procedure: procedure_uri(callee), filler, pace, request: 1, n: 0, in_flight: 0 }
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
            };
            out.message(|b| encode::timed(ser, &m, b)).map_err(|e| e.to_string())?;
            self.request += 1;
            self.n += 1;
            self.in_flight += 1;
            ctx.stats.sent(ts, 1);
            sent += 1;
        }
        Ok(Produced { more: true, due: None })
    }

    pub(super) fn on_result(&mut self, ctx: &mut Ctx<'_>, ts: u64) {
        self.in_flight = self.in_flight.saturating_sub(1);
        ctx.stats.received(ctx.now, ts);
    }

    pub(super) fn on_error(&mut self, ctx: &mut Ctx<'_>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        ctx.stats.counts.errors += 1;
    }
}

/// A session that registers one procedure and echoes every invocation.
#[derive(Debug)]
pub(crate) struct Callee {
    /// The procedure URI.
    pub(crate) procedure: String,
}

impl Callee {
    /// Callee `i`.
    pub(crate) fn new(i: usize) -> Callee {
        Callee { procedure: procedure_uri(i) }
    }

    pub(super) fn on_invocation(&mut self, ctx: &mut Ctx<'_>, request: u64, echo: Echo<'_>, out: &mut Out<'_>) -> Next {
        let ser = ctx.ser;
        match out.message(|b| encode::yield_echo(ser, request, echo, b)) {
            Ok(()) => {
                ctx.stats.counts.invocations += 1;
                Next::Continue
            }
            Err(e) => Next::Fail(e.to_string()),
        }
    }
}
