//! Running a scenario: worker threads and their pinning, the run phases in time, samples of CPU
//! and memory at the edges of the measured phase, the drain, and merging the threads' figures.
//!
//! Owns: [`Running`] and the timing of a run on the main thread. Never: touches sockets (the
//! workers do) or decides what a scenario reports (its own module does).

pub(crate) mod connect;
pub(crate) mod idle;
pub(crate) mod pubsub;
pub(crate) mod rpc;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use mio::{Poll, Waker};

use crate::cli::Common;
use crate::clock::{now_ns, secs_to_ns, NS_PER_S};
use crate::engine::{Env, RunPhase, Shared, Worker, WorkerReport, WAKER_TOKEN};
use crate::progress::Progress;
use crate::report::Sample;
use crate::roles::pubsub::Window;
use crate::roles::Role;
use crate::stats::{fmt_rate, Marks, Stats};
use crate::sysinfo;
use crate::wire::encode::Features;

/// How long after the measured phase the load generator waits for what is still in flight.
const DRAIN_TIMEOUT_NS: u64 = 2 * NS_PER_S;

/// How often the main thread looks at progress, failures and deadlines.
const MAIN_TICK: Duration = Duration::from_millis(20);

/// Setup fails when no further session becomes ready for this long.
const SETUP_STALL_NS: u64 = 30 * NS_PER_S;

/// Extra timeline room after the drain, for stragglers.
const TIMELINE_SLACK_NS: u64 = NS_PER_S;

/// The sessions of a run and how they start.
pub(crate) struct Launch {
    /// One role per session; session `k` runs on thread `k % threads`.
    pub(crate) roles: Vec<Role>,
    /// Closed-loop windows, one per publisher.
    pub(crate) windows: Vec<Window>,
    /// Open the sessions of cycling roles (connectors) when the run starts rather than at once;
    /// the others always open at once.
    pub(crate) start_at_run: bool,
    /// Session ids the sessions share through [`Shared::ids`].
    pub(crate) ids: usize,
}

/// The thread session `k` runs on.
pub(crate) fn worker_of(k: usize, threads: usize) -> usize {
    k % threads.max(1)
}

/// Sums of the workers' live counters.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LiveSum {
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) expected: u64,
    pub(crate) errors: u64,
    pub(crate) failures: u64,
    pub(crate) open: u64,
    pub(crate) meta_joins: u64,
    pub(crate) meta_leaves: u64,
}

/// What the main thread observed around the measured phase.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Measured {
    /// The phase marks.
    pub(crate) marks: Marks,
    /// Sample at the start of the measured phase.
    pub(crate) before: Sample,
    /// Sample at its end.
    pub(crate) after: Sample,
    /// Everything in flight arrived before the drain timeout.
    pub(crate) drained: bool,
}

/// Takes a CPU/memory sample.
pub(crate) fn sample(pid: Option<u32>) -> anyhow::Result<Sample> {
    let router = pid.map(sysinfo::sample_process).transpose()?;
    Ok(Sample { router, self_cpu_ns: sysinfo::self_cpu_ns() })
}

/// A run in progress.
pub(crate) struct Running {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<WorkerReport>>,
    progress: Progress,
    name: &'static str,
}

/// Starts the worker threads.
pub(crate) fn launch(c: &Common, name: &'static str, launch: Launch, span_ns: u64) -> anyhow::Result<Running> {
    launch_announcing(c, name, launch, span_ns, Features::default())
}

/// Starts the worker threads, whose sessions announce `features` in HELLO.
pub(crate) fn launch_announcing(
    c: &Common,
    name: &'static str,
    launch: Launch,
    span_ns: u64,
    features: Features,
) -> anyhow::Result<Running> {
    let threads = c.threads;
    let mut polls = Vec::with_capacity(threads);
    let mut wakers = Vec::with_capacity(threads);
    for _ in 0..threads {
        let poll = Poll::new().context("epoll_create")?;
        wakers.push(Waker::new(poll.registry(), WAKER_TOKEN).context("eventfd")?);
        polls.push(poll);
    }
    let shared = Arc::new(Shared::new(wakers, launch.windows, launch.ids));
    let env = Arc::new(Env {
        target: c.target.clone(),
        ser: c.ser,
        realm: c.realm.clone(),
        busy_poll: c.busy_poll,
        features,
    });
    let mut per_worker: Vec<Vec<Role>> = (0..threads).map(|_| Vec::new()).collect();
    for (k, role) in launch.roles.into_iter().enumerate() {
        per_worker[worker_of(k, threads)].push(role);
    }
    let span = span_ns + DRAIN_TIMEOUT_NS + TIMELINE_SLACK_NS;
    let mut running = Running { shared: shared.clone(), handles: Vec::new(), progress: Progress::new(!c.quiet), name };
    for (i, (poll, roles)) in polls.into_iter().zip(per_worker).enumerate() {
        let worker = Worker::new(i, env.clone(), shared.clone(), poll, roles, launch.start_at_run, span)?;
        let cpu = c.cpu_of(i);
        let handle = std::thread::Builder::new()
            .name(format!("loadgen-{i}"))
            .spawn(move || {
                if let Some(id) = cpu {
                    core_affinity::set_for_current(core_affinity::CoreId { id });
                }
                sysinfo::precise_timers();
                worker.run()
            })
            .context("cannot start a thread")?;
        running.handles.push(handle);
    }
    Ok(running)
}

impl Running {
    /// The workers' live counters, summed. Each thread's `open` is read first: the counters
    /// read after it are at least as recent (a thread with nothing open has final counts).
    pub(crate) fn live(&self) -> LiveSum {
        let mut s = LiveSum::default();
        for l in &self.shared.live {
            s.open += l.open.load(Ordering::Acquire);
            s.sent += l.sent.load(Ordering::Relaxed);
            s.received += l.received.load(Ordering::Relaxed);
            s.expected += l.expected.load(Ordering::Relaxed);
            s.errors += l.errors.load(Ordering::Relaxed);
            s.failures += l.failures.load(Ordering::Relaxed);
            s.meta_joins += l.meta_joins.load(Ordering::Relaxed);
            s.meta_leaves += l.meta_leaves.load(Ordering::Relaxed);
        }
        s
    }

    fn check(&self) -> anyhow::Result<()> {
        match self.shared.failure() {
            Some(why) => Err(anyhow!(why)),
            None => Ok(()),
        }
    }

    /// Waits until `n` sessions completed setup; returns how long that took, s.
    pub(crate) fn wait_ready(&self, n: usize) -> anyhow::Result<f64> {
        let start = now_ns();
        let (mut last, mut last_change) = (0, start);
        loop {
            self.check()?;
            let ready = self.shared.ready.load(Ordering::SeqCst);
            let now = now_ns();
            if ready >= n {
                return Ok((now - start) as f64 / 1e9);
            }
            if ready != last {
                (last, last_change) = (ready, now);
            } else if now - last_change > SETUP_STALL_NS {
                bail!("setup stalled: {ready} of {n} sessions ready after {} s", (now - start) / NS_PER_S);
            }
            if self.progress.shown() {
                self.progress.set(format!("{}: setting up sessions {ready}/{n}", self.name));
            }
            std::thread::sleep(MAIN_TICK);
        }
    }

    /// Sleeps until clock time `until`, updating the progress line.
    pub(crate) fn wait_until(&self, until: u64, phase: &str) -> anyhow::Result<()> {
        let (mut prev, mut prev_t) = (self.live(), now_ns());
        loop {
            self.check()?;
            let now = now_ns();
            if now >= until {
                return Ok(());
            }
            std::thread::sleep(Duration::from_nanos((until - now).min(MAIN_TICK.as_nanos() as u64)));
            if self.progress.shown() {
                let (live, t) = (self.live(), now_ns());
                let dt = (t - prev_t).max(1) as f64 / 1e9;
                if dt >= 0.25 {
                    let rate = |a: u64, b: u64| fmt_rate(a.saturating_sub(b) as f64 / dt);
                    self.progress.set(format!(
                        "{}: {phase}, {:.1} s left | sent {} | received {} | open {}{}",
                        self.name,
                        until.saturating_sub(t) as f64 / 1e9,
                        rate(live.sent, prev.sent),
                        rate(live.received, prev.received),
                        live.open,
                        if live.failures > 0 { format!(" | failures {}", live.failures) } else { String::new() },
                    ));
                    (prev, prev_t) = (live, t);
                }
            }
        }
    }

    /// Runs warm-up and the measured phase, then drains until `drained` holds (or the drain
    /// timeout passes).
    pub(crate) fn measure(&self, c: &Common, drained: impl Fn(&LiveSum) -> bool) -> anyhow::Result<Measured> {
        let t0 = now_ns();
        let m0 = t0 + secs_to_ns(c.warmup);
        let marks = Marks { t0, m0, m1: m0 + secs_to_ns(c.duration) };
        self.shared.set_marks(marks);
        self.shared.set_phase(RunPhase::Run);
        self.wait_until(marks.m0, "warm-up")?;
        let before = sample(c.router_pid)?;
        self.wait_until(marks.m1, "measuring")?;
        let after = sample(c.router_pid)?;
        self.shared.set_phase(RunPhase::Drain);
        let deadline = now_ns() + DRAIN_TIMEOUT_NS;
        let drained = loop {
            self.check()?;
            let all_seen = self.shared.live.iter().all(|l| l.seen.load(Ordering::SeqCst) >= RunPhase::Drain as u8);
            if all_seen && drained(&self.live()) {
                break true;
            }
            if now_ns() >= deadline {
                break false;
            }
            if self.progress.shown() {
                self.progress.set(format!("{}: draining", self.name));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        Ok(Measured { marks, before, after, drained })
    }

    /// Closes every session, joins the threads and merges their figures.
    pub(crate) fn finish(mut self) -> anyhow::Result<(Stats, Vec<Role>)> {
        if self.progress.shown() {
            self.progress.set(format!("{}: closing sessions", self.name));
        }
        self.shared.set_phase(RunPhase::Close);
        let mut merged: Option<Stats> = None;
        let mut roles = Vec::new();
        for h in std::mem::take(&mut self.handles) {
            let report = h.join().map_err(|_| anyhow!("a load-generator thread panicked"))?;
            match &mut merged {
                Some(m) => m.merge(&report.stats),
                None => merged = Some(report.stats),
            }
            roles.extend(report.roles);
        }
        self.progress.finish();
        self.check()?;
        let stats = merged.ok_or_else(|| anyhow!("no load-generator thread ran"))?;
        Ok((stats, roles))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.set_phase(RunPhase::Close);
        for h in std::mem::take(&mut self.handles) {
            let _ = h.join();
        }
        self.progress.finish();
    }
}
