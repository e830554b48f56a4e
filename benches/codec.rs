//! Codec hot path: a 100-byte PUBLISH turned into an EVENT, per serializer, with the payload
//! passed through as raw bytes (what the router does) against a full decode and re-encode of
//! the payload (what a router without head-only decoding would do).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wampyard::codec::{decode, encode, Payload, Serializer};
use wampyard::wamp::message::{Event, Publish};
use wampyard::wamp::{Dict, Id, Message, Value};

/// A PUBLISH whose arguments are about 100 bytes: a timestamp and a 60-character string, plus a
/// small dict of keyword arguments.
fn publish(ser: Serializer) -> bytes::Bytes {
    let payload = Payload::Values {
        args: vec![Value::UInt(1_732_000_000_000_000), Value::from("x".repeat(60))],
        kwargs: Some(Dict::new().with("seq", 42u64).with("src", "bench")),
    };
    let msg = Message::Publish(Publish {
        request: Id::new(7).unwrap_or_default(),
        options: Dict::new(),
        topic: "com.example.bench.topic".into(),
        payload,
    });
    encode(ser, &msg).unwrap_or_default()
}

fn to_event(payload: Payload) -> Message {
    Message::Event(Event {
        subscription: Id::new(1234).unwrap_or_default(),
        publication: Id::new(5_678_901_234).unwrap_or_default(),
        details: Dict::new(),
        payload,
    })
}

fn publish_to_event(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_to_event_100B");
    group.throughput(Throughput::Elements(1));
    for ser in Serializer::ALL {
        let frame = publish(ser);
        group.bench_with_input(BenchmarkId::new("pass_through", ser.name()), &frame, |b, frame| {
            b.iter(|| {
                let Ok(Message::Publish(p)) = decode(ser, frame.clone()) else { return };
                black_box(encode(ser, &to_event(p.payload)).ok());
            })
        });
        group.bench_with_input(BenchmarkId::new("full_decode_reencode", ser.name()), &frame, |b, frame| {
            b.iter(|| {
                let Ok(Message::Publish(p)) = decode(ser, frame.clone()) else { return };
                let Ok((args, kwargs)) = p.payload.to_values() else { return };
                black_box(encode(ser, &to_event(Payload::Values { args, kwargs })).ok());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, publish_to_event);
criterion_main!(benches);
