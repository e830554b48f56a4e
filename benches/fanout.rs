//! EVENT fan-out on one shard: one PUBLISH to a topic with 1, 100 and 1000 local subscribers,
//! handled by `Router::on_message`. The measured step covers topic matching, encoding the EVENT
//! once and pushing the same bytes into every subscriber's outbox; it excludes writing to
//! sockets.
//!
//! * `fanout_publish_decoded/N`: the PUBLISH arrives already decoded (decode excluded);
//! * `fanout_publish_from_bytes/N`: the PUBLISH arrives as a MessagePack frame and its head is
//!   decoded in the measured step (decode included).
//!
//! Throughput is N deliveries per publish, so criterion's elements/s is deliveries/s and the
//! time per delivery is the iteration time divided by N. Outboxes are drained, untimed, every
//! [`BATCH`] publishes, so memory does not grow.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/in_memory.rs"]
mod in_memory;

use in_memory::{take, Queue};

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::SeedableRng;
use wampyard::codec::{decode, encode, Payload, Serializer};
use wampyard::config::{Limits, RealmConfig};
use wampyard::realm::Realms;
use wampyard::router::{ConnKey, Router};
use wampyard::session::{ConnInfo, Outbox};
use wampyard::wamp::message::{Hello, Publish, Subscribe};
use wampyard::wamp::{Dict, Id, Message, UriCheck, Value};

/// Subscriber counts measured.
const SUBSCRIBERS: [usize; 3] = [1, 100, 1000];

/// Publishes timed back to back before the outboxes are drained (untimed): long enough that the
/// timer's cost vanishes, short enough that 1000 outboxes hold only a few hundred KiB.
const BATCH: u64 = 32;

/// Every connection's outbox budget: far above one batch of events, so nothing is dropped.
const OUTBOX_BUDGET: usize = 16 << 20;

/// Warm-up per benchmark.
const WARM_UP: Duration = Duration::from_millis(500);

/// Measurement per benchmark: a publish to 1000 subscribers takes about ten microseconds, so two
/// seconds still gives over a hundred thousand publishes.
const MEASUREMENT: Duration = Duration::from_secs(2);

/// Samples per benchmark: enough for criterion's outlier analysis.
const SAMPLES: usize = 30;

/// The serializer of every session: no transcoding, one encode per publish.
const SER: Serializer = Serializer::MsgPack;

/// Length of the string argument that makes the payload 100 bytes in MessagePack.
const TEXT_LEN: usize = 72;

/// The topic every subscriber subscribes to and the publisher publishes on.
const TOPIC: &str = "com.app.sensor1.reading";

/// A router on shard 0 of 1 and the queue of the cross-shard messages it sends itself.
struct Shard {
    router: Router,
    sink: Queue,
    /// The time every message is handled at: the router takes time as an input, and a fixed one
    /// keeps the clock out of the measurement.
    now: Instant,
}

impl Shard {
    /// Opens a connection and joins realm1; returns its key and outbox (WELCOME taken).
    fn join(&mut self) -> (ConnKey, Outbox) {
        let outbox = Outbox::new(OUTBOX_BUDGET);
        let info = ConnInfo {
            serializer: SER,
            transport: "bench",
            peer: "mem".into(),
            max_outgoing: usize::MAX,
            auth: Arc::default(),
        };
        let key = self.router.open(info, outbox.clone(), self.now);
        self.handle(key, hello());
        assert_eq!(take(&outbox), 1, "WELCOME expected");
        (key, outbox)
    }

    /// Handles a client message, then every cross-shard message it causes (the agreement on a
    /// subscription: SubJoin, SubApply, Applied).
    fn handle(&mut self, key: ConnKey, msg: Message) {
        self.router.on_message(key, msg, self.now, &mut self.sink);
        while let Some(m) = self.sink.0.pop_front() {
            self.router.on_shard_msg(m, self.now, &mut self.sink);
        }
    }
}

/// The shard, a publisher and `subscribers` sessions subscribed to [`TOPIC`].
struct Bench {
    shard: Shard,
    publisher: ConnKey,
    outboxes: Vec<Outbox>,
}

impl Bench {
    fn new(subscribers: usize) -> Bench {
        let realm = RealmConfig { name: "realm1".into(), uri_check: UriCheck::Loose, ..RealmConfig::default() };
        let realms = Arc::new(Realms::new(vec![realm]));
        let now = Instant::now();
        let router = Router::new(0, 1, realms, Limits::default(), StdRng::seed_from_u64(1), now);
        let mut shard = Shard { router, sink: Queue::default(), now };
        let (publisher, _) = shard.join();
        let mut outboxes = Vec::with_capacity(subscribers);
        for n in 0..subscribers {
            let (key, outbox) = shard.join();
            let request = Id::new(n as u64 + 1).unwrap();
            shard.handle(key, Message::Subscribe(Subscribe { request, options: Dict::new(), topic: TOPIC.into() }));
            assert_eq!(take(&outbox), 1, "SUBSCRIBED expected");
            outboxes.push(outbox);
        }
        shard.handle(publisher, publish_message());
        let delivered: usize = outboxes.iter().map(take).sum();
        assert_eq!(delivered, subscribers, "one EVENT per subscriber");
        Bench { shard, publisher, outboxes }
    }

    /// Times `iters` calls of `step`, draining the outboxes every [`BATCH`] calls, untimed.
    fn run(&mut self, iters: u64, mut step: impl FnMut(&mut Shard, ConnKey)) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(BATCH);
            let start = Instant::now();
            for _ in 0..n {
                step(&mut self.shard, self.publisher);
            }
            total += start.elapsed();
            for outbox in &self.outboxes {
                take(outbox);
            }
            left -= n;
        }
        total
    }
}

fn hello() -> Message {
    let roles = Dict::new().with("publisher", Dict::new()).with("subscriber", Dict::new());
    Message::Hello(Hello { realm: "realm1".into(), details: Dict::new().with("roles", roles) })
}

/// A PUBLISH frame with a 100-byte MessagePack payload (the payload of the codec benchmark).
fn publish_frame() -> Bytes {
    let text: String = "sensor=42;temp=21.5;hum=40.1;status=ok;".chars().cycle().take(TEXT_LEN).collect();
    let payload = Payload::Values {
        args: vec![Value::UInt(1_732_000_000_000_000), Value::from(text)],
        kwargs: Some(Dict::new().with("seq", 42u64).with("src", "bench")),
    };
    let msg = Publish { request: Id::new(1).unwrap(), options: Dict::new(), topic: TOPIC.into(), payload };
    encode(SER, &Message::Publish(msg)).unwrap()
}

/// The PUBLISH as the router gets it from the codec: head decoded, payload raw bytes of the frame.
fn publish_message() -> Message {
    decode(SER, publish_frame()).unwrap()
}

fn fanout(c: &mut Criterion) {
    let frame = publish_frame();
    let decoded = publish_message();
    for (name, from_bytes) in [("fanout_publish_decoded", false), ("fanout_publish_from_bytes", true)] {
        let mut group = c.benchmark_group(name);
        for n in SUBSCRIBERS {
            group.throughput(Throughput::Elements(n as u64));
            // Built on first use, so a filtered run sets up only the benchmarks it runs.
            let mut bench: Option<Bench> = None;
            group.bench_function(BenchmarkId::from_parameter(n), |b| {
                let bench = bench.get_or_insert_with(|| Bench::new(n));
                b.iter_custom(|iters| {
                    bench.run(iters, |shard, publisher| {
                        let msg = if from_bytes { decode(SER, frame.clone()).unwrap() } else { decoded.clone() };
                        shard.router.on_message(publisher, black_box(msg), shard.now, &mut shard.sink);
                    })
                });
            });
            if let Some(bench) = bench {
                assert_eq!(bench.shard.router.stats().events_dropped, 0, "no event may be dropped");
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::config(WARM_UP, MEASUREMENT, SAMPLES);
    targets = fanout
}
criterion_main!(benches);
