//! Routed RPC on one shard: one CALL and its YIELD, handled by `Router::on_message`, caller and
//! callee on the same shard. The measured step covers matching the procedure, recording the call
//! on both sides, encoding the INVOCATION and the RESULT and queueing them; it excludes decoding
//! (the messages arrive decoded, their payloads as raw MessagePack bytes) and writing to sockets.
//!
//! * `rpc_round_trip/plain`: a CALL without options (the Basic Profile path);
//! * `rpc_round_trip/timeout`: a CALL with `timeout` (the dealer arms and disarms a timer).
//!
//! Outboxes are drained, untimed, every [`BATCH`] round trips, so memory does not grow.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/in_memory.rs"]
mod in_memory;

use in_memory::{take, Queue};

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::SeedableRng;
use wampyard::codec::{decode, encode, Payload, Serializer};
use wampyard::config::{Limits, RealmConfig};
use wampyard::realm::Realms;
use wampyard::router::{ConnKey, Router};
use wampyard::session::{ConnInfo, Outbox};
use wampyard::wamp::message::{Call, Hello, Register, Yield};
use wampyard::wamp::{Dict, Id, Message, UriCheck, Value};

/// Round trips timed back to back before the outboxes are drained (untimed).
const BATCH: u64 = 32;

/// Warm-up per benchmark.
const WARM_UP: Duration = Duration::from_millis(500);

/// Measurement per benchmark: a round trip takes about a microsecond, so two seconds give
/// millions of samples.
const MEASUREMENT: Duration = Duration::from_secs(2);

/// Samples per benchmark: enough for criterion's outlier analysis.
const SAMPLES: usize = 30;

/// The serializer of both sessions: no transcoding.
const SER: Serializer = Serializer::MsgPack;

/// The procedure called.
const PROCEDURE: &str = "com.app.echo";

/// A router on shard 0 of 1, a caller and a callee that registered [`PROCEDURE`].
struct Bench {
    router: Router,
    sink: Queue,
    /// The time every message is handled at (the router takes time as an input).
    now: Instant,
    caller: (ConnKey, Outbox),
    callee: (ConnKey, Outbox),
    /// Round trips so far: the CALL request id and the INVOCATION request id of the next one.
    n: u64,
}

/// Handles a client message, then every cross-shard message it causes.
fn handle(router: &mut Router, sink: &mut Queue, now: Instant, key: ConnKey, msg: Message) {
    router.on_message(key, msg, now, sink);
    while let Some(m) = sink.0.pop_front() {
        router.on_shard_msg(m, now, sink);
    }
}

/// Opens a connection and joins realm1 (WELCOME taken).
fn join(router: &mut Router, sink: &mut Queue, now: Instant) -> (ConnKey, Outbox) {
    let outbox = Outbox::new(16 << 20);
    let info = ConnInfo {
        serializer: SER,
        transport: "bench",
        peer: "mem".into(),
        max_outgoing: usize::MAX,
        auth: Arc::default(),
    };
    let key = router.open(info, outbox.clone(), now);
    handle(router, sink, now, key, hello());
    assert_eq!(take(&outbox), 1, "WELCOME expected");
    (key, outbox)
}

impl Bench {
    fn new() -> Bench {
        let realm = RealmConfig { name: "realm1".into(), uri_check: UriCheck::Loose, ..RealmConfig::default() };
        let now = Instant::now();
        let realms = Arc::new(Realms::new(vec![realm]));
        let mut router = Router::new(0, 1, realms, Limits::default(), StdRng::seed_from_u64(1), now);
        let mut sink = Queue::default();
        let caller = join(&mut router, &mut sink, now);
        let callee = join(&mut router, &mut sink, now);
        let register = Register { request: Id::new(1).unwrap(), options: Dict::new(), procedure: PROCEDURE.into() };
        handle(&mut router, &mut sink, now, callee.0, Message::Register(register));
        assert_eq!(take(&callee.1), 1, "REGISTERED expected");
        Bench { router, sink, now, caller, callee, n: 0 }
    }

    /// One CALL and its YIELD.
    fn round_trip(&mut self, call: &Call, answer: &Yield) {
        self.n += 1;
        let id = Id::new(self.n).unwrap();
        let call = Message::Call(Call { request: id, ..call.clone() });
        handle(&mut self.router, &mut self.sink, self.now, self.caller.0, black_box(call));
        let answer = Message::Yield(Yield { request: id, ..answer.clone() });
        handle(&mut self.router, &mut self.sink, self.now, self.callee.0, black_box(answer));
    }

    /// Times `iters` round trips, draining the outboxes every [`BATCH`], untimed.
    fn run(&mut self, iters: u64, call: &Call, answer: &Yield) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(BATCH);
            let start = Instant::now();
            for _ in 0..n {
                self.round_trip(call, answer);
            }
            total += start.elapsed();
            assert_eq!(take(&self.callee.1) as u64, n, "one INVOCATION per CALL");
            assert_eq!(take(&self.caller.1) as u64, n, "one RESULT per CALL");
            left -= n;
        }
        total
    }
}

fn hello() -> Message {
    let roles = Dict::new().with("caller", Dict::new()).with("callee", Dict::new());
    Message::Hello(Hello { realm: "realm1".into(), details: Dict::new().with("roles", roles) })
}

/// Arguments of about 100 bytes in MessagePack, raw as the codec leaves them.
fn payload() -> Payload {
    let text: String = "sensor=42;temp=21.5;hum=40.1;status=ok;".chars().cycle().take(72).collect();
    let values = Payload::Values { args: vec![Value::UInt(1_732_000_000_000_000), Value::from(text)], kwargs: None };
    let call =
        Call { request: Id::new(1).unwrap(), options: Dict::new(), procedure: PROCEDURE.into(), payload: values };
    let Message::Call(decoded) = decode(SER, encode(SER, &Message::Call(call)).unwrap()).unwrap() else {
        panic!("a CALL decodes as a CALL")
    };
    decoded.payload
}

fn rpc(c: &mut Criterion) {
    let payload = payload();
    let answer = Yield { request: Id::new(1).unwrap(), options: Dict::new(), payload: payload.clone() };
    let mut group = c.benchmark_group("rpc_round_trip");
    for (name, options) in [("plain", Dict::new()), ("timeout", Dict::new().with("timeout", 60_000u64))] {
        let call =
            Call { request: Id::new(1).unwrap(), options, procedure: PROCEDURE.into(), payload: payload.clone() };
        let mut bench: Option<Bench> = None;
        group.bench_function(name, |b| {
            let bench = bench.get_or_insert_with(Bench::new);
            b.iter_custom(|iters| bench.run(iters, &call, &answer));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config(WARM_UP, MEASUREMENT, SAMPLES);
    targets = rpc
}
criterion_main!(benches);
