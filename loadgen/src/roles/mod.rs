//! What each session does once joined: publish, subscribe, call, answer calls, connect and
//! leave, sit idle, or watch the session meta events.
//!
//! Owns: the [`Role`] enum, the per-message reactions of each role and the traffic they
//! produce. Never: sockets, session lifecycle (connect, HELLO, GOODBYE belong to the engine),
//! or allocation per message.

pub(crate) mod meta;
pub(crate) mod pubsub;
pub(crate) mod rpc;

use bytes::Bytes;
use wampyard::codec::{self, Serializer};
use wampyard::wamp::message::{code, name_of};
use wampyard::wamp::Message;

use crate::conn::Out;
use crate::engine::Shared;
use crate::pace::Schedule;
use crate::stats::Stats;
use crate::wire::encode;
use crate::wire::scan::Scanned;

/// Read buffer of sessions that carry traffic: 64 KiB takes hundreds of small events per read.
const DATA_READ_BUFFER: usize = 64 * 1024;

/// Read buffer of sessions that only set up and idle; 10,000 of them take 40 MB.
const SMALL_READ_BUFFER: usize = 4 * 1024;

/// Most messages one producer queues per loop iteration, so that reading keeps its turn.
pub(crate) const MAX_BATCH: u64 = 256;

/// Output queued on one connection past which its producer waits for the socket: enough to
/// keep the kernel's send buffer full, small enough to bound memory and latency.
pub(crate) const QUEUE_HIGH: usize = 256 * 1024;

/// The request id of the one SUBSCRIBE or REGISTER a session sends.
const SETUP_REQUEST: u64 = 1;

/// What a role sees of the thread it runs on.
pub(crate) struct Ctx<'a> {
    /// The serializer of every session.
    pub(crate) ser: Serializer,
    /// The clock, read once per wake-up.
    pub(crate) now: u64,
    /// This thread's figures.
    pub(crate) stats: &'a mut Stats,
    /// State shared by all threads.
    pub(crate) shared: &'a Shared,
    /// This thread's index.
    pub(crate) worker: usize,
}

/// What a role wants after a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing changes.
    Continue,
    /// Setup is complete: the session is ready for traffic.
    Ready,
    /// Leave: send GOODBYE.
    Leave,
    /// The session failed.
    Fail(String),
}

/// What a producer did in one turn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Produced {
    /// It could send more right away (it stopped at the batch limit).
    pub(crate) more: bool,
    /// When it wants to send next (open loop).
    pub(crate) due: Option<u64>,
}

/// Open-loop pacing of one sender: a fixed total rate shared by `senders` senders, scheduled
/// from the moment sending starts.
#[derive(Debug)]
pub(crate) struct OpenLoop {
    rate: f64,
    senders: usize,
    /// Release grid, see [`Schedule`].
    batch_ns: u64,
    /// Set by [`OpenLoop::start`].
    schedule: Option<Schedule>,
}

impl OpenLoop {
    /// `rate` messages/s in total over `senders` senders, released every `batch_ns`.
    pub(crate) fn new(rate: f64, senders: usize, batch_ns: u64) -> OpenLoop {
        OpenLoop { rate, senders, batch_ns, schedule: None }
    }

    /// Sending starts at `t0` for sender number `index`.
    pub(crate) fn start(&mut self, t0: u64, index: usize) {
        self.schedule = Some(Schedule::new(t0, self.rate, self.senders, index, self.batch_ns));
    }

    /// The scheduled send time of message `n` if it is due at `now`; otherwise what to tell the
    /// engine (wake me at the due time, or nothing before the start).
    pub(crate) fn due(&self, n: u64, now: u64) -> Result<u64, Produced> {
        let Some(schedule) = &self.schedule else { return Err(Produced::default()) };
        let due = schedule.due_ns(n);
        let release = schedule.release_ns(due);
        if release > now {
            return Err(Produced { more: false, due: Some(release) });
        }
        Ok(due)
    }
}

/// One session's job.
#[derive(Debug)]
pub(crate) enum Role {
    /// Publishes timed events.
    Publisher(pubsub::Publisher),
    /// Subscribes to one topic and accounts for every event.
    Subscriber(pubsub::Subscriber),
    /// Calls a procedure.
    Caller(rpc::Caller),
    /// Registers a procedure and echoes every invocation.
    Callee(rpc::Callee),
    /// Joins and leaves, again and again.
    Connector,
    /// Joins, subscribes to its own topic and stays.
    Idle(String),
    /// Joins, subscribes to the session meta events and counts them.
    MetaWatcher(meta::Watcher),
}

impl Role {
    /// The initial read-buffer size for this role's connection.
    pub(crate) fn read_buffer(&self) -> usize {
        match self {
            Role::Connector | Role::Idle(_) => SMALL_READ_BUFFER,
            _ => DATA_READ_BUFFER,
        }
    }

    /// True for roles that produce traffic on their own.
    pub(crate) fn produces(&self) -> bool {
        matches!(self, Role::Publisher(_) | Role::Caller(_))
    }

    /// True for roles whose sessions are opened again and again.
    pub(crate) fn cycles(&self) -> bool {
        matches!(self, Role::Connector)
    }

    /// The session was welcomed with WELCOME `msg`; `started` and `hello_sent` are when it
    /// began connecting and sent HELLO.
    pub(crate) fn on_welcome(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg: &[u8],
        out: &mut Out<'_>,
        started: u64,
        hello_sent: u64,
    ) -> Next {
        let sent = match self {
            Role::Subscriber(s) => match s.on_welcome(ctx, msg) {
                Ok(()) => out.control(ctx.ser, &encode::subscribe(SETUP_REQUEST, &s.topic)),
                Err(why) => return Next::Fail(why),
            },
            Role::MetaWatcher(w) => return w.on_welcome(ctx, out),
            Role::Idle(topic) => out.control(ctx.ser, &encode::subscribe(SETUP_REQUEST, topic)),
            Role::Callee(c) => out.control(ctx.ser, &encode::register(SETUP_REQUEST, &c.procedure, c.invoke)),
            Role::Connector => {
                ctx.stats.session(ctx.now, started, hello_sent);
                return Next::Leave;
            }
            Role::Publisher(_) | Role::Caller(_) => return Next::Ready,
        };
        match sent {
            Ok(()) => Next::Continue,
            Err(e) => Next::Fail(format!("{e:#}")),
        }
    }

    /// A message for a joined session.
    pub(crate) fn on_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        scanned: Scanned<'_>,
        msg: &[u8],
        out: &mut Out<'_>,
    ) -> Next {
        match (self, scanned) {
            (Role::Subscriber(s), Scanned::Event(timed)) => {
                s.on_event(ctx, timed);
                Next::Continue
            }
            (Role::MetaWatcher(w), Scanned::Event(_)) => {
                w.on_event(ctx, msg);
                Next::Continue
            }
            (Role::MetaWatcher(w), Scanned::Other(code::SUBSCRIBED)) => w.on_subscribed(ctx, msg),
            (Role::Caller(c), Scanned::Result(Some((ts, seq)))) => {
                c.on_result(ctx, ts, seq);
                Next::Continue
            }
            (Role::Caller(c), Scanned::Progress(Some((_, seq)))) => {
                c.on_progress(ctx, seq);
                Next::Continue
            }
            (Role::Callee(c), Scanned::Invocation { request, receive_progress, echo }) => {
                c.on_invocation(ctx, request, receive_progress, echo, out)
            }
            (Role::Caller(c), Scanned::Error { request_type: code::CALL, request }) => {
                c.on_error(ctx, Some(request));
                Next::Continue
            }
            (Role::Caller(c), Scanned::Result(None)) => {
                c.on_error(ctx, None);
                ctx.stats.counts.foreign += 1;
                Next::Continue
            }
            (Role::Caller(_), Scanned::Progress(None)) => {
                ctx.stats.counts.foreign += 1;
                Next::Continue
            }
            (Role::Idle(_), Scanned::Event(None)) => {
                ctx.stats.counts.foreign += 1;
                Next::Continue
            }
            // Every invocation is answered as it arrives: an INTERRUPT (the caller left, with
            // progressive results) finds nothing left to cancel.
            (Role::Callee(_), Scanned::Other(code::INTERRUPT)) => Next::Continue,
            (Role::Subscriber(_) | Role::Idle(_), Scanned::Other(code::SUBSCRIBED))
            | (Role::Callee(_), Scanned::Other(code::REGISTERED)) => Next::Ready,
            (_, Scanned::Error { request_type, .. }) => {
                Next::Fail(format!("router answered {} with {}", name_of(request_type), error_uri(ctx.ser, msg)))
            }
            _ => Next::Continue,
        }
    }

    /// Sends what is due; only called for ready producers while the run is on.
    pub(crate) fn produce(&mut self, ctx: &mut Ctx<'_>, out: &mut Out<'_>) -> Result<Produced, String> {
        match self {
            Role::Publisher(p) => p.produce(ctx, out),
            Role::Caller(c) => c.produce(ctx, out),
            _ => Ok(Produced::default()),
        }
    }

    /// Sending starts at `t0`: open-loop timetables begin there.
    pub(crate) fn on_run(&mut self, t0: u64) {
        match self {
            Role::Publisher(p) => p.start(t0),
            Role::Caller(c) => c.start(t0),
            _ => {}
        }
    }
}

/// The error URI (and message, if any) of an ERROR or ABORT, for reports.
pub(crate) fn error_uri(ser: Serializer, msg: &[u8]) -> String {
    match codec::decode(ser, Bytes::copy_from_slice(msg)) {
        Ok(Message::Error(e)) => e.error,
        Ok(Message::Abort(a)) => match a.details.get_str("message") {
            Some(m) => format!("{} ({m})", a.reason),
            None => a.reason,
        },
        Ok(Message::Goodbye(g)) => g.reason,
        Ok(other) => other.name().to_owned(),
        Err(e) => format!("undecodable message: {e}"),
    }
}
