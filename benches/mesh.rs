//! Cross-shard hand-off through `shard::mesh`: a [`Mesh`] (the router's `Sink`) sending
//! `ShardMsg::Applied` into another shard's [`Inbox`] (bounded `crossbeam_channel` queue plus
//! doorbell), between two threads, inboxes of the default capacity.
//!
//! * `mesh_throughput/glommio_pinned`: one producer and one consumer, each a glommio
//!   `LocalExecutor` pinned to its own CPU as the router runs its shards: the producer queues a
//!   batch, flushes (rings the doorbell once per batch) and retries spilled messages; the consumer
//!   awaits `Inbox::recv`, parking its executor when the inbox is empty. Throughput: messages/s.
//! * `mesh_throughput/spin_threads`: the same with plain unpinned threads that spin instead of
//!   parking: the queue alone, without executor wake-ups.
//! * `mesh_ping_pong/*`: one message bounced between two shards; each iteration is one round
//!   trip (two hand-offs), so one-way latency is half the iteration time. `glommio_pinned`
//!   executors park as soon as they are idle (the router's setting), so every hand-off wakes a
//!   parked executor on the other CPU; `glommio_unpinned` lets the kernel place them;
//!   `glommio_pinned_spin_before_park_100us` sets `LocalExecutorBuilder::spin_before_park`;
//!   `spin_threads` measures the queue alone.
//!
//! Executors and threads are started for every batch of iterations criterion asks for, and only
//! the messages are timed (from a ready handshake to the last message).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::future::Future;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use glommio::{LocalExecutorBuilder, Placement};
use wampyard::config::DEFAULT_SHARD_INBOX_CAPACITY;
use wampyard::router::{ShardMsg, Sink, Token};
use wampyard::shard::mesh::{inboxes, Doorbells, Inbound, Inbox, Mesh};
use wampyard::wamp::Id;

/// Messages a producer queues before it flushes: a shard flushes once per batch of work, and a
/// busy shard's batch holds tens of messages.
const BATCH: u64 = 64;

/// Warm-up per benchmark.
const WARM_UP: Duration = Duration::from_millis(500);

/// Measurement per benchmark: starting executors is not timed but costs wall time, so this is
/// kept short.
const MEASUREMENT: Duration = Duration::from_secs(2);

/// Samples per benchmark: criterion's minimum; each sample starts two executors.
const SAMPLES: usize = 10;

/// How long the executors of the `glommio_pinned_spin_before_park` variant spin before parking:
/// longer than a round trip, so neither side parks while a reply is on its way.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(100);

/// The consumer's shard; the producer is shard 0.
const CONSUMER: usize = 1;

fn applied(n: u64) -> ShardMsg {
    ShardMsg::Applied { token: Token(n), id: Id::new(n + 1).unwrap() }
}

/// The token that tells the echoing side to stop.
const STOP: u64 = u64::MAX;

fn is_stop(m: &Inbound) -> bool {
    matches!(m, Inbound::Router(ShardMsg::Applied { token: Token(STOP), .. }))
}

/// The echoing side sends a message back as it came.
fn echo(mesh: &mut Mesh, m: Inbound) {
    if let Inbound::Router(m) = m {
        mesh.to_shard(0, m);
    }
}

/// How the two glommio executors of a benchmark run.
#[derive(Clone, Copy)]
struct Executors {
    /// Pin them to CPUs 0 and 1, as `wampyard --cpus 0,1` pins its shards (when the machine has
    /// two CPUs).
    pinned: bool,
    /// Spin this long before parking (none: park at once, the router's setting).
    spin: Option<Duration>,
}

/// Pinned, parking at once: how the router runs its shards.
const ROUTER_LIKE: Executors = Executors { pinned: true, spin: None };

/// Runs `a` and `b` on two glommio executors set up as `how`; returns what `a` returns.
fn on_two_executors<A, FA, B, FB>(how: Executors, a: A, b: B) -> Duration
where
    A: FnOnce() -> FA + Send + 'static,
    FA: Future<Output = Duration> + 'static,
    B: FnOnce() -> FB + Send + 'static,
    FB: Future<Output = ()> + 'static,
{
    let two_cpus = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    let builder = |name, cpu| {
        let placement = if how.pinned && two_cpus { Placement::Fixed(cpu) } else { Placement::Unbound };
        let builder = LocalExecutorBuilder::new(placement).name(name);
        match how.spin {
            Some(spin) => builder.spin_before_park(spin),
            None => builder,
        }
    };
    let ha = builder("bench-a", 0).spawn(a).unwrap();
    let hb = builder("bench-b", 1).spawn(b).unwrap();
    hb.join().unwrap();
    ha.join().unwrap()
}

/// Queues `n` messages for the consumer, flushing every [`BATCH`] and whenever messages spilled;
/// `pause` runs while the consumer's inbox is full.
async fn produce(mesh: &mut Mesh, n: u64, mut pause: impl AsyncFnMut()) {
    for i in 0..n {
        mesh.to_shard(CONSUMER, applied(i));
        if (i + 1) % BATCH == 0 {
            mesh.flush();
            while mesh.spilled() > 0 {
                pause().await;
                mesh.flush();
            }
        }
    }
    mesh.flush();
    while mesh.spilled() > 0 {
        pause().await;
        mesh.flush();
    }
}

/// Takes one message, spinning while the inbox is empty.
fn spin_recv(inbox: &Inbox) -> Inbound {
    loop {
        if let Some(m) = inbox.try_recv() {
            return m;
        }
        std::hint::spin_loop();
    }
}

fn mesh_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("mesh_throughput");
    group.throughput(Throughput::Elements(1));
    group.bench_function("glommio_pinned", |b| b.iter_custom(throughput_glommio));
    group.bench_function("spin_threads", |b| b.iter_custom(throughput_spin));
    group.finish();
}

/// `iters` messages from an executor to another; timed on the consumer, from the producer's
/// first message to the last one received.
fn throughput_glommio(iters: u64) -> Duration {
    let (mut inboxes, doors) = inboxes(2, DEFAULT_SHARD_INBOX_CAPACITY);
    let inbox = inboxes.swap_remove(CONSUMER);
    let ready = std::sync::Arc::new(Barrier::new(2));
    let ready_b = ready.clone();
    on_two_executors(
        ROUTER_LIKE,
        move || async move {
            ready.wait();
            let start = Instant::now();
            for _ in 0..iters {
                inbox.recv().await.unwrap();
            }
            start.elapsed()
        },
        move || async move {
            let mut mesh = Mesh::new(doors);
            ready_b.wait();
            produce(&mut mesh, iters, async || futures_lite::future::yield_now().await).await;
        },
    )
}

/// `iters` messages between two spinning threads; timed on the consumer.
fn throughput_spin(iters: u64) -> Duration {
    let (mut inboxes, doors) = inboxes(2, DEFAULT_SHARD_INBOX_CAPACITY);
    let inbox = inboxes.swap_remove(CONSUMER);
    let ready = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut mesh = Mesh::new(doors);
            ready.wait();
            futures_lite::future::block_on(produce(&mut mesh, iters, async || std::hint::spin_loop()));
        });
        ready.wait();
        let start = Instant::now();
        for _ in 0..iters {
            spin_recv(&inbox);
        }
        start.elapsed()
    })
}

fn mesh_ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("mesh_ping_pong");
    group.throughput(Throughput::Elements(1));
    let unpinned = Executors { pinned: false, spin: None };
    let spinning = Executors { pinned: true, spin: Some(SPIN_BEFORE_PARK) };
    let spinning_name = format!("glommio_pinned_spin_before_park_{}us", SPIN_BEFORE_PARK.as_micros());
    for (name, how) in
        [("glommio_pinned", ROUTER_LIKE), ("glommio_unpinned", unpinned), (spinning_name.as_str(), spinning)]
    {
        group.bench_function(name, |b| b.iter_custom(|iters| ping_pong_glommio(iters, how)));
    }
    group.bench_function("spin_threads", |b| b.iter_custom(ping_pong_spin));
    group.finish();
}

/// Shard 0's inbox, shard 1's inbox, and the doorbells of both.
fn two_shards() -> (Inbox, Inbox, Doorbells) {
    let (mut inboxes, doors) = inboxes(2, DEFAULT_SHARD_INBOX_CAPACITY);
    let one = inboxes.swap_remove(1);
    let zero = inboxes.swap_remove(0);
    (zero, one, doors)
}

/// `iters` round trips between two executors; timed on shard 0 after shard 1 said it is ready.
fn ping_pong_glommio(iters: u64, how: Executors) -> Duration {
    let (zero, one, doors) = two_shards();
    let doors_b = doors.clone();
    on_two_executors(
        how,
        move || async move {
            let mut mesh = Mesh::new(doors);
            zero.recv().await.unwrap();
            let start = Instant::now();
            for i in 0..iters {
                mesh.to_shard(1, applied(i));
                mesh.flush();
                zero.recv().await.unwrap();
            }
            let elapsed = start.elapsed();
            mesh.to_shard(1, applied(STOP));
            mesh.flush();
            elapsed
        },
        move || async move {
            let mut mesh = Mesh::new(doors_b);
            mesh.to_shard(0, applied(0));
            mesh.flush();
            while let Some(m) = one.recv().await {
                if is_stop(&m) {
                    break;
                }
                echo(&mut mesh, m);
                mesh.flush();
            }
        },
    )
}

/// `iters` round trips between two spinning threads; timed on shard 0.
fn ping_pong_spin(iters: u64) -> Duration {
    let (zero, one, doors) = two_shards();
    let doors_b = doors.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut mesh = Mesh::new(doors_b);
            loop {
                let m = spin_recv(&one);
                if is_stop(&m) {
                    break;
                }
                echo(&mut mesh, m);
                mesh.flush();
            }
        });
        let mut mesh = Mesh::new(doors);
        let start = Instant::now();
        for i in 0..iters {
            mesh.to_shard(1, applied(i));
            mesh.flush();
            spin_recv(&zero);
        }
        let elapsed = start.elapsed();
        mesh.to_shard(1, applied(STOP));
        mesh.flush();
        elapsed
    })
}

criterion_group! {
    name = benches;
    config = common::config(WARM_UP, MEASUREMENT, SAMPLES);
    targets = mesh_throughput, mesh_ping_pong
}
criterion_main!(benches);
