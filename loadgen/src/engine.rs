//! The event loop of one load-generator thread, and the state all threads share.
//!
//! Owns: [`Worker`] (a mio poll over this thread's sessions, their lifecycle from connect to
//! close, batching of output, pacing through a timerfd) and [`Shared`] (run phase, marks, live
//! counters, closed-loop windows, wakers). Never: what a session sends or how it accounts for
//! what it receives (see `roles`), and no allocation per message.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use wampyard::codec::Serializer;
use wampyard::wamp::message::{code, name_of};

use crate::clock::{now_ns, NS_PER_S};
use crate::conn::{Conn, Fill, Flow, Out, Stream};
use crate::roles::pubsub::Window;
use crate::roles::{error_uri, Ctx, Next, Role};
use crate::stats::{Marks, Stats};
use crate::target::Target;
use crate::wire::encode;
use crate::wire::scan::{scan, Scanned};

/// Longest sleep without looking at the run phase; phase changes also ring the wakers.
const CONTROL_TICK: Duration = Duration::from_millis(10);

/// How often live counters are published and timeouts checked.
const HOUSEKEEPING_NS: u64 = 20_000_000;

/// Sessions one thread has between connect and ready at once: bounds the burst of SYNs against
/// the router's accept backlog (often 1024) and still sets up 10,000 sessions in about a second.
const SETUP_CONCURRENCY: usize = 256;

/// How long one setup step (connect, handshake, HELLO, SUBSCRIBE/REGISTER) may take.
const SETUP_TIMEOUT_NS: u64 = 10 * NS_PER_S;

/// How long a closing session waits for the router's GOODBYE (or its close).
const CLOSE_TIMEOUT_NS: u64 = 2 * NS_PER_S;

/// How long a connector waits after a failed session before it tries again.
const RETRY_DELAY_NS: u64 = 50_000_000;

/// Readiness events taken per poll.
const EVENTS_CAPACITY: usize = 1024;

/// The GOODBYE reason the load generator leaves with.
const LEAVE_REASON: &str = "wamp.close.close_realm";

/// The GOODBYE reason it answers the router's GOODBYE with.
const ANSWER_REASON: &str = "wamp.close.goodbye_and_out";

/// The token of each thread's pacing timer (session tokens are slot indices, far below).
const TIMER_TOKEN: Token = Token(usize::MAX - 1);
/// The token of each thread's waker.
pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX - 2);

/// The phases of a run, set by the main thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RunPhase {
    /// Sessions join and subscribe or register.
    Setup,
    /// Traffic flows (warm-up, then the measured phase).
    Run,
    /// No new traffic; what is in flight arrives.
    Drain,
    /// Every session leaves.
    Close,
}

impl RunPhase {
    fn from_u8(v: u8) -> RunPhase {
        match v {
            0 => RunPhase::Setup,
            1 => RunPhase::Run,
            2 => RunPhase::Drain,
            _ => RunPhase::Close,
        }
    }
}

/// One thread's counters as the main thread sees them while the run goes on.
#[derive(Debug, Default)]
pub(crate) struct Live {
    /// PUBLISHes or CALLs sent.
    pub(crate) sent: AtomicU64,
    /// Distinct EVENTs or RESULTs received (sessions for connect).
    pub(crate) received: AtomicU64,
    /// Deliveries expected from what was published.
    pub(crate) expected: AtomicU64,
    /// ERRORs for CALLs.
    pub(crate) errors: AtomicU64,
    /// Failed sessions.
    pub(crate) failures: AtomicU64,
    /// Open connections; stored after the other counters (see `Worker::publish_live`).
    pub(crate) open: AtomicU64,
    /// `wamp.session.on_join` events a meta watcher received.
    pub(crate) meta_joins: AtomicU64,
    /// `wamp.session.on_leave` events a meta watcher received.
    pub(crate) meta_leaves: AtomicU64,
    /// The last run phase this thread acted on.
    pub(crate) seen: AtomicU8,
}

/// State shared by the main thread and every worker.
#[derive(Debug)]
pub(crate) struct Shared {
    phase: AtomicU8,
    /// Sessions that completed setup.
    pub(crate) ready: AtomicUsize,
    fatal: Mutex<Option<String>>,
    t0: AtomicU64,
    m0: AtomicU64,
    m1: AtomicU64,
    /// Per worker.
    pub(crate) live: Vec<Live>,
    /// Per publisher, closed-loop pubsub only.
    pub(crate) windows: Vec<Window>,
    /// Session ids that sessions share with others, 0 until known (`pubsub --eligible N`: those
    /// of the first N subscribers, written at WELCOME, read by publishers when the run starts).
    pub(crate) ids: Vec<AtomicU64>,
    wakers: Vec<Waker>,
}

impl Shared {
    /// Shared state for workers with these `wakers`, with room for `ids` session ids.
    pub(crate) fn new(wakers: Vec<Waker>, windows: Vec<Window>, ids: usize) -> Shared {
        Shared {
            phase: AtomicU8::new(RunPhase::Setup as u8),
            ready: AtomicUsize::new(0),
            fatal: Mutex::new(None),
            t0: AtomicU64::new(0),
            m0: AtomicU64::new(0),
            m1: AtomicU64::new(0),
            live: wakers.iter().map(|_| Live::default()).collect(),
            windows,
            ids: (0..ids).map(|_| AtomicU64::new(0)).collect(),
            wakers,
        }
    }

    /// The current phase.
    pub(crate) fn phase(&self) -> RunPhase {
        RunPhase::from_u8(self.phase.load(Ordering::SeqCst))
    }

    /// Moves every worker to `phase` (never backwards).
    pub(crate) fn set_phase(&self, phase: RunPhase) {
        self.phase.fetch_max(phase as u8, Ordering::SeqCst);
        for i in 0..self.wakers.len() {
            self.wake(i);
        }
    }

    /// Wakes worker `i`.
    pub(crate) fn wake(&self, i: usize) {
        if let Some(w) = self.wakers.get(i) {
            let _ = w.wake();
        }
    }

    /// Records the first fatal error; the run then closes.
    pub(crate) fn fail(&self, why: String) {
        if let Ok(mut f) = self.fatal.lock() {
            f.get_or_insert(why);
        }
        self.set_phase(RunPhase::Close);
    }

    /// The first fatal error, if any.
    pub(crate) fn failure(&self) -> Option<String> {
        self.fatal.lock().ok().and_then(|f| f.clone())
    }

    /// Publishes the phase marks (before moving to [`RunPhase::Run`]).
    pub(crate) fn set_marks(&self, m: Marks) {
        self.t0.store(m.t0, Ordering::SeqCst);
        self.m0.store(m.m0, Ordering::SeqCst);
        self.m1.store(m.m1, Ordering::SeqCst);
    }

    fn marks(&self) -> Marks {
        Marks {
            t0: self.t0.load(Ordering::SeqCst),
            m0: self.m0.load(Ordering::SeqCst),
            m1: self.m1.load(Ordering::SeqCst),
        }
    }
}

/// What every session of the run connects to and how.
#[derive(Clone, Debug)]
pub(crate) struct Env {
    /// The router.
    pub(crate) target: Target,
    /// The serializer.
    pub(crate) ser: Serializer,
    /// The realm.
    pub(crate) realm: String,
    /// Poll without sleeping (`--busy-poll`).
    pub(crate) busy_poll: bool,
    /// Advanced Profile features announced in HELLO.
    pub(crate) features: encode::Features,
}

/// Where one session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not started (queued).
    Waiting,
    Connecting,
    Handshaking,
    Hello,
    /// Welcomed; SUBSCRIBE or REGISTER under way.
    Setup,
    Ready,
    /// GOODBYE sent, the router's awaited.
    Closing,
    /// GOODBYEs exchanged: the session is over and the load generator closes the transport
    /// (the spec lets either side close it; some routers wait for the client to).
    Lingering,
    /// A connector waiting to retry.
    Backoff,
    Done,
}

impl Phase {
    fn in_setup(self) -> bool {
        matches!(self, Phase::Connecting | Phase::Handshaking | Phase::Hello | Phase::Setup)
    }

    fn describe(self) -> &'static str {
        match self {
            Phase::Connecting => "connect",
            Phase::Handshaking => "transport handshake",
            Phase::Hello => "HELLO",
            Phase::Setup => "SUBSCRIBE/REGISTER",
            Phase::Closing | Phase::Lingering => "GOODBYE",
            _ => "session",
        }
    }
}

/// What one readiness event says about a socket.
#[derive(Clone, Copy, Debug)]
struct Readiness {
    readable: bool,
    /// The peer closed (or the socket failed): read until the end.
    closed: bool,
    writable: bool,
}

#[derive(Debug)]
struct Slot {
    conn: Option<Conn>,
    phase: Phase,
    since: u64,
    started: u64,
    hello_sent: u64,
    counted_in_setup: bool,
    dirty: bool,
    role: Role,
}

/// A relative one-shot timer on a timerfd, for open-loop pacing with microsecond precision
/// (epoll's own timeout has millisecond granularity).
#[derive(Debug)]
struct Timer {
    fd: OwnedFd,
    armed: Option<u64>,
}

impl Timer {
    fn new() -> io::Result<Timer> {
        // SAFETY: timerfd_create has no memory preconditions; the result is checked.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        Ok(Timer { fd: unsafe { OwnedFd::from_raw_fd(fd) }, armed: None })
    }

    /// Fires at clock time `due` (at least 1 µs from `now`).
    fn arm(&mut self, due: u64, now: u64) -> io::Result<()> {
        if self.armed == Some(due) {
            return Ok(());
        }
        let after = due.saturating_sub(now).max(1_000);
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec {
                tv_sec: (after / NS_PER_S) as libc::time_t,
                tv_nsec: (after % NS_PER_S) as libc::c_long,
            },
        };
        // SAFETY: spec is a valid itimerspec and the old-value pointer may be null.
        if unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = Some(due);
        Ok(())
    }

    fn expired(&mut self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into an 8-byte buffer; failure (EAGAIN) is harmless.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        self.armed = None;
    }
}

/// What a worker hands back when it ends.
#[derive(Debug)]
pub(crate) struct WorkerReport {
    /// Its figures.
    pub(crate) stats: Stats,
    /// Its sessions' roles, for per-role summaries (sequence trackers, calls in flight).
    pub(crate) roles: Vec<Role>,
}

/// One load-generator thread.
#[derive(Debug)]
pub(crate) struct Worker {
    index: usize,
    env: Arc<Env>,
    shared: Arc<Shared>,
    poll: Poll,
    events: Events,
    ready: Vec<(usize, Readiness)>,
    slots: Vec<Slot>,
    pending: VecDeque<usize>,
    in_setup: usize,
    open: usize,
    producers: Vec<usize>,
    dirty: Vec<usize>,
    timer: Timer,
    stats: Stats,
    start_at_run: bool,
    seed: u64,
}

impl Worker {
    /// A worker running `roles`; their sessions open at once, except that with `start_at_run`
    /// those of cycling roles (connectors) open when the run starts. `span_ns` sizes the
    /// throughput timelines.
    pub(crate) fn new(
        index: usize,
        env: Arc<Env>,
        shared: Arc<Shared>,
        poll: Poll,
        roles: Vec<Role>,
        start_at_run: bool,
        span_ns: u64,
    ) -> anyhow::Result<Worker> {
        let timer = Timer::new().context("timerfd_create")?;
        poll.registry().register(&mut SourceFd(&timer.fd.as_raw_fd()), TIMER_TOKEN, Interest::READABLE)?;
        let producers = roles.iter().enumerate().filter(|(_, r)| r.produces()).map(|(i, _)| i).collect();
        let slots = roles
            .into_iter()
            .map(|role| Slot {
                conn: None,
                phase: Phase::Waiting,
                since: 0,
                started: 0,
                hello_sent: 0,
                counted_in_setup: false,
                dirty: false,
                role,
            })
            .collect::<Vec<_>>();
        Ok(Worker {
            index,
            env,
            shared,
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            ready: Vec::with_capacity(EVENTS_CAPACITY),
            dirty: Vec::with_capacity(slots.len()),
            slots,
            pending: VecDeque::new(),
            in_setup: 0,
            open: 0,
            producers,
            timer,
            stats: Stats::new(span_ns)?,
            start_at_run,
            seed: now_ns() ^ ((index as u64 + 1) << 48),
        })
    }

    /// Runs until the run closes and every session has ended.
    pub(crate) fn run(mut self) -> WorkerReport {
        if let Err(e) = self.run_loop() {
            self.shared.fail(format!("{e:#}"));
        }
        self.publish_live(RunPhase::Close);
        self.stats.flush_latency();
        WorkerReport { stats: self.stats, roles: self.slots.into_iter().map(|s| s.role).collect() }
    }

    fn run_loop(&mut self) -> anyhow::Result<()> {
        let mut seen = RunPhase::Setup;
        let at_once = (0..self.slots.len()).filter(|&i| !(self.start_at_run && self.slots[i].role.cycles()));
        self.pending.extend(at_once);
        self.start_pending(now_ns());
        self.publish_live(seen);
        let mut next_housekeeping = 0;
        loop {
            let phase = self.shared.phase();
            let now = now_ns();
            if phase != seen {
                self.enter(phase, now);
                seen = phase;
                self.publish_live(phase);
            }
            if phase == RunPhase::Close && self.open == 0 {
                return Ok(());
            }
            let (busy, due) = if phase == RunPhase::Run { self.produce(now) } else { (false, None) };
            self.flush_dirty(now);
            if !busy {
                if let Some(due) = due {
                    self.timer.arm(due, now)?;
                }
            }
            let timeout = if busy || self.env.busy_poll { Duration::ZERO } else { CONTROL_TICK };
            match self.poll.poll(&mut self.events, Some(timeout)) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => r.context("epoll_wait")?,
            }
            self.ready.clear();
            for ev in self.events.iter() {
                let closed = ev.is_read_closed() || ev.is_error();
                let r = Readiness { readable: ev.is_readable() || closed, closed, writable: ev.is_writable() };
                self.ready.push((ev.token().0, r));
            }
            let now = now_ns();
            for k in 0..self.ready.len() {
                let (token, r) = self.ready[k];
                match Token(token) {
                    TIMER_TOKEN => self.timer.expired(),
                    WAKER_TOKEN => {}
                    _ => self.on_event(token, r, now),
                }
            }
            self.flush_dirty(now);
            if now >= next_housekeeping {
                self.housekeeping(now);
                self.publish_live(seen);
                next_housekeeping = now + HOUSEKEEPING_NS;
            }
        }
    }

    fn publish_live(&self, phase: RunPhase) {
        let live = &self.shared.live[self.index];
        let c = &self.stats.counts;
        live.sent.store(c.sent, Ordering::Relaxed);
        live.received
            .store(if self.slots.iter().any(|s| s.role.cycles()) { c.sessions } else { c.received }, Ordering::Relaxed);
        live.expected.store(c.expected, Ordering::Relaxed);
        live.errors.store(c.errors, Ordering::Relaxed);
        live.failures.store(c.failures, Ordering::Relaxed);
        live.meta_joins.store(c.meta_joins, Ordering::Relaxed);
        live.meta_leaves.store(c.meta_leaves, Ordering::Relaxed);
        // Last and released: whoever reads this count first (acquiring) sees the counters
        // stored with it or later ones, so once a thread's connections are all closed the
        // counts read after it are final.
        live.open.store(self.open as u64, Ordering::Release);
        live.seen.store(phase as u8, Ordering::SeqCst);
    }

    fn enter(&mut self, phase: RunPhase, now: u64) {
        match phase {
            RunPhase::Setup => {}
            RunPhase::Run => {
                self.stats.set_marks(self.shared.marks());
                let t0 = self.stats.marks.t0;
                for slot in &mut self.slots {
                    slot.role.on_run(t0);
                }
                if self.start_at_run {
                    let cycling = (0..self.slots.len()).filter(|&i| self.slots[i].role.cycles());
                    self.pending.extend(cycling);
                    self.start_pending(now);
                }
            }
            RunPhase::Drain => {}
            RunPhase::Close => {
                self.pending.clear();
                for i in 0..self.slots.len() {
                    match self.slots[i].phase {
                        Phase::Ready | Phase::Setup => self.leave(i, now),
                        Phase::Connecting | Phase::Handshaking | Phase::Hello => self.end(i, now, None),
                        Phase::Waiting | Phase::Backoff => self.slots[i].phase = Phase::Done,
                        Phase::Closing | Phase::Lingering | Phase::Done => {}
                    }
                }
            }
        }
    }

    fn start_pending(&mut self, now: u64) {
        while self.in_setup < SETUP_CONCURRENCY {
            let Some(i) = self.pending.pop_front() else { break };
            self.start(i, now);
        }
    }

    fn start(&mut self, i: usize, now: u64) {
        self.seed = self.seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let opened = Stream::connect(&self.env.target).and_then(|stream| {
            let mut conn =
                Conn::new(stream, &self.env.target, self.env.ser, self.slots[i].role.read_buffer(), self.seed);
            conn.register(self.poll.registry(), Token(i))?;
            Ok(conn)
        });
        let slot = &mut self.slots[i];
        slot.since = now;
        slot.started = now;
        match opened {
            Ok(conn) => {
                slot.conn = Some(conn);
                slot.phase = Phase::Connecting;
                slot.counted_in_setup = true;
                self.in_setup += 1;
                self.open += 1;
            }
            Err(e) => {
                slot.phase = Phase::Connecting;
                let why = format!("cannot connect to {}: {}", self.env.target, io_reason(&e));
                self.end(i, now, Some(why));
            }
        }
    }

    fn left_setup(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.counted_in_setup {
            slot.counted_in_setup = false;
            self.in_setup -= 1;
        }
    }

    fn mark_dirty(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if !slot.dirty && slot.conn.as_ref().is_some_and(|c| c.queued() > 0) {
            slot.dirty = true;
            self.dirty.push(i);
        }
    }

    fn flush_dirty(&mut self, now: u64) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &i in &dirty {
            let slot = &mut self.slots[i];
            slot.dirty = false;
            if let Some(conn) = slot.conn.as_mut() {
                if let Err(e) = conn.flush() {
                    self.end(i, now, Some(format!("write to {} failed: {}", self.env.target, io_reason(&e))));
                }
            }
        }
        dirty.clear();
        self.dirty = dirty;
    }

    /// Sends GOODBYE and waits for the router's.
    fn leave(&mut self, i: usize, now: u64) {
        let ser = self.env.ser;
        let slot = &mut self.slots[i];
        let Some(conn) = slot.conn.as_mut() else { return };
        if conn.out().control(ser, &encode::goodbye(LEAVE_REASON)).is_err() {
            return self.end(i, now, None);
        }
        slot.phase = Phase::Closing;
        slot.since = now;
        self.left_setup(i);
        self.mark_dirty(i);
    }

    /// Ends session `i`, closing its connection; `failure` says why if it failed.
    fn end(&mut self, i: usize, now: u64, failure: Option<String>) {
        let slot = &mut self.slots[i];
        let was = slot.phase;
        if let Some(mut conn) = slot.conn.take() {
            let _ = conn.flush();
            self.open -= 1;
        }
        self.left_setup(i);
        let run_phase = self.shared.phase();
        let slot = &mut self.slots[i];
        let cycles = slot.role.cycles();
        slot.phase = Phase::Done;
        match failure {
            Some(why) if cycles && run_phase < RunPhase::Close => {
                self.stats.failure(now, &why);
                slot.phase = Phase::Backoff;
                slot.since = now;
            }
            Some(why) if matches!(was, Phase::Closing | Phase::Lingering) || run_phase == RunPhase::Close => {
                if !cycles {
                    self.stats.counts.unclean_closes += 1;
                }
                if self.stats.failure_samples.is_empty() && !cycles {
                    self.stats.failure_samples.push(why);
                }
            }
            Some(why) => self.shared.fail(why),
            None if cycles && run_phase == RunPhase::Run => {
                slot.phase = Phase::Waiting;
                self.pending.push_back(i);
            }
            None => {}
        }
        self.start_pending(now);
    }

    fn on_event(&mut self, i: usize, r: Readiness, now: u64) {
        let Some(slot) = self.slots.get_mut(i) else { return };
        let Some(conn) = slot.conn.as_mut() else { return };
        if slot.phase == Phase::Connecting {
            match conn.try_open(&self.env.target, self.env.ser) {
                Ok(true) => {
                    slot.phase = Phase::Handshaking;
                    slot.since = now;
                    self.mark_dirty(i);
                }
                Ok(false) => return,
                Err(e) => {
                    let why = format!("cannot connect to {}: {}", self.env.target, io_reason(&e));
                    return self.end(i, now, Some(why));
                }
            }
        }
        if r.readable {
            self.read(i, now, r.closed);
        }
        if r.writable {
            if let Some(conn) = self.slots[i].conn.as_mut() {
                if let Err(e) = conn.flush() {
                    self.end(i, now, Some(format!("write to {} failed: {}", self.env.target, io_reason(&e))));
                }
            }
        }
    }

    /// Reads until the socket is drained. A read that leaves free space in the buffer drained it
    /// (edge-triggered epoll reports whatever arrives later), unless the peer already closed:
    /// then the end of stream has no edge of its own to come, so reading goes on until it.
    fn read(&mut self, i: usize, now: u64, closed: bool) {
        loop {
            let Some(conn) = self.slots[i].conn.as_mut() else { return };
            match conn.fill() {
                Err(e) => {
                    let why = format!("read from {} failed: {}", self.env.target, io_reason(&e));
                    return self.end(i, now, Some(why));
                }
                Ok(Fill::WouldBlock) => return,
                Ok(Fill::Eof) => return self.closed_by_router(i, now),
                Ok(Fill::Data { full }) => {
                    if !self.process(i, now) || !(full || closed) {
                        return;
                    }
                }
            }
        }
    }

    fn closed_by_router(&mut self, i: usize, now: u64) {
        let phase = self.slots[i].phase;
        if matches!(phase, Phase::Closing | Phase::Lingering) {
            self.end(i, now, None);
        } else {
            let why = format!("router closed the connection during {}", phase.describe());
            self.end(i, now, Some(why));
        }
    }

    /// Handles what was read; false if the session ended.
    fn process(&mut self, i: usize, now: u64) -> bool {
        let (ser, index) = (self.env.ser, self.index);
        let run_phase = self.shared.phase();
        let slot = &mut self.slots[i];
        let Some(conn) = slot.conn.as_mut() else { return false };
        if slot.phase == Phase::Handshaking {
            match conn.handshake(ser) {
                Ok(false) => return true,
                Ok(true) => {
                    if let Err(e) = conn.out().control(ser, &encode::hello(&self.env.realm, self.env.features)) {
                        self.end(i, now, Some(format!("{e:#}")));
                        return false;
                    }
                    slot.phase = Phase::Hello;
                    slot.since = now;
                    slot.hello_sent = now;
                    self.mark_dirty(i);
                }
                Err(why) => {
                    self.end(i, now, Some(format!("{}: {why}", self.env.target)));
                    return false;
                }
            }
        }
        let slot = &mut self.slots[i];
        let Some(conn) = slot.conn.as_mut() else { return false };
        let before = slot.phase;
        let mut d = Dispatch {
            phase: &mut slot.phase,
            since: &mut slot.since,
            role: &mut slot.role,
            started: slot.started,
            hello_sent: slot.hello_sent,
            run_phase,
            realm: &self.env.realm,
            ctx: Ctx { ser, now, stats: &mut self.stats, shared: &self.shared, worker: index },
        };
        let flow = conn.messages(|msg, out| d.message(msg, out));
        let after = self.slots[i].phase;
        if before.in_setup() && !after.in_setup() {
            self.left_setup(i);
            if after == Phase::Ready {
                self.shared.ready.fetch_add(1, Ordering::SeqCst);
            }
            self.start_pending(now);
        }
        self.mark_dirty(i);
        match flow {
            Flow::Continue => true,
            Flow::End => {
                self.closed_by_router(i, now);
                false
            }
            Flow::Fail(why) => {
                self.end(i, now, Some(why));
                false
            }
        }
    }

    /// Lets every ready producer send what it may; returns (could send more now, next due).
    fn produce(&mut self, now: u64) -> (bool, Option<u64>) {
        let (mut busy, mut due) = (false, None::<u64>);
        for k in 0..self.producers.len() {
            let i = self.producers[k];
            let slot = &mut self.slots[i];
            if slot.phase != Phase::Ready {
                continue;
            }
            let Some(conn) = slot.conn.as_mut() else { continue };
            let mut ctx =
                Ctx { ser: self.env.ser, now, stats: &mut self.stats, shared: &self.shared, worker: self.index };
            match slot.role.produce(&mut ctx, &mut conn.out()) {
                Ok(p) => {
                    busy |= p.more;
                    due = match (due, p.due) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                Err(why) => self.shared.fail(why),
            }
            self.mark_dirty(i);
        }
        (busy, due)
    }

    fn housekeeping(&mut self, now: u64) {
        let run_phase = self.shared.phase();
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            let age = now.saturating_sub(slot.since);
            match slot.phase {
                p if p.in_setup() && age > SETUP_TIMEOUT_NS => {
                    let why =
                        format!("router did not answer the {} within {} s", p.describe(), SETUP_TIMEOUT_NS / NS_PER_S);
                    self.end(i, now, Some(why));
                }
                Phase::Closing | Phase::Lingering if age > CLOSE_TIMEOUT_NS => {
                    let why = format!("router did not answer GOODBYE within {} s", CLOSE_TIMEOUT_NS / NS_PER_S);
                    self.end(i, now, Some(why));
                }
                Phase::Backoff if age > RETRY_DELAY_NS && run_phase == RunPhase::Run => {
                    self.slots[i].phase = Phase::Waiting;
                    self.pending.push_back(i);
                }
                _ => {}
            }
        }
        self.start_pending(now);
    }
}

/// The message handler of one session for one batch of input.
struct Dispatch<'a> {
    phase: &'a mut Phase,
    since: &'a mut u64,
    role: &'a mut Role,
    started: u64,
    hello_sent: u64,
    run_phase: RunPhase,
    realm: &'a str,
    ctx: Ctx<'a>,
}

impl Dispatch<'_> {
    fn message(&mut self, msg: &[u8], out: &mut Out<'_>) -> Flow {
        let ser = self.ctx.ser;
        let Some(scanned) = scan(ser, msg) else {
            return Flow::Fail(format!("router sent a malformed {ser} message ({} bytes)", msg.len()));
        };
        match (*self.phase, scanned) {
            (Phase::Hello, Scanned::Other(code::WELCOME)) => {
                *self.phase = Phase::Setup;
                *self.since = self.ctx.now;
                let next = self.role.on_welcome(&mut self.ctx, msg, out, self.started, self.hello_sent);
                self.apply(next, out)
            }
            (Phase::Hello, Scanned::Other(code::ABORT)) => {
                Flow::Fail(format!("router refused to join realm '{}': {}", self.realm, error_uri(ser, msg)))
            }
            (Phase::Hello, Scanned::Other(other)) => {
                Flow::Fail(format!("router answered HELLO with {}", name_of(other)))
            }
            (Phase::Hello, _) => Flow::Fail("router sent traffic before WELCOME".to_owned()),
            (phase, Scanned::Other(code::GOODBYE)) => {
                if phase != Phase::Closing {
                    let _ = out.control(ser, &encode::goodbye(ANSWER_REASON));
                    if self.run_phase < RunPhase::Close && !self.role.cycles() {
                        return Flow::Fail(format!("router ended the session: {}", error_uri(ser, msg)));
                    }
                }
                *self.phase = Phase::Lingering;
                *self.since = self.ctx.now;
                Flow::End
            }
            (_, Scanned::Other(code::ABORT)) => {
                Flow::Fail(format!("router aborted the session: {}", error_uri(ser, msg)))
            }
            (Phase::Setup | Phase::Ready, s) => {
                let next = self.role.on_message(&mut self.ctx, s, msg, out);
                self.apply(next, out)
            }
            (Phase::Closing | Phase::Lingering, s) => {
                // Stragglers still count (an event in flight when the run closed).
                let _ = self.role.on_message(&mut self.ctx, s, msg, out);
                Flow::Continue
            }
            _ => Flow::Continue,
        }
    }

    fn apply(&mut self, next: Next, out: &mut Out<'_>) -> Flow {
        match next {
            Next::Continue => Flow::Continue,
            Next::Ready => {
                if *self.phase == Phase::Setup {
                    *self.phase = Phase::Ready;
                }
                Flow::Continue
            }
            Next::Leave => {
                if let Err(e) = out.control(self.ctx.ser, &encode::goodbye(LEAVE_REASON)) {
                    return Flow::Fail(format!("{e:#}"));
                }
                *self.phase = Phase::Closing;
                *self.since = self.ctx.now;
                Flow::Continue
            }
            Next::Fail(why) => Flow::Fail(why),
        }
    }
}

/// An I/O error without the "(os error N)" suffix, for one-line messages.
pub(crate) fn io_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}
