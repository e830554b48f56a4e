//! Codec hot path, per serializer, with a 100-byte payload (MessagePack; the same values take 101
//! bytes in CBOR and 118 in JSON):
//!
//! * `codec_decode_head_100B`: head-only decoding of PUBLISH, EVENT, CALL and RESULT (the payload
//!   stays raw bytes);
//! * `codec_encode_raw_100B`: encoding the same messages with a raw payload in the same
//!   serializer (what the router does for every EVENT, INVOCATION and RESULT);
//! * `publish_to_event_100B`: a PUBLISH turned into an EVENT, payload passed through as raw bytes
//!   (what the router does) against a full decode and re-encode of the payload (what a router
//!   without head-only decoding would do);
//! * `transcode_100B`: the payload converted between every ordered pair of serializers (what
//!   happens once per publication when subscribers use another serializer than the publisher).
//!
//! Throughput is one message (or payload) per iteration and its encoded bytes: the whole frame
//! for decode and encode, the payload for transcoding.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wampyard::codec::{decode, encode, transcode, Payload, PayloadCodec, RawPayload, Serializer};
use wampyard::wamp::message::{CallResult, Event, Publish};
use wampyard::wamp::{message, Dict, Id, Message, Value};

/// Warm-up per benchmark: the codec functions are sub-microsecond, so half a second is many
/// thousands of iterations, and keeps `cargo bench` short on a 2-core machine.
const WARM_UP: Duration = Duration::from_millis(500);

/// Measurement per benchmark: one second gives stable medians for sub-microsecond functions.
const MEASUREMENT: Duration = Duration::from_secs(1);

/// Samples per benchmark: fewer than criterion's 100, enough for its outlier analysis.
const SAMPLES: usize = 30;

/// Length of the string argument: with a timestamp and a two-entry kwargs dict the payload is
/// exactly 100 bytes in MessagePack (101 in CBOR, 118 in JSON).
const TEXT_LEN: usize = 72;

/// Arguments `[timestamp, text]` and ArgumentsKw `{seq, src}`: 100 bytes in MessagePack.
fn payload() -> Payload {
    let text: String = "sensor=42;temp=21.5;hum=40.1;status=ok;".chars().cycle().take(TEXT_LEN).collect();
    Payload::Values {
        args: vec![Value::UInt(1_732_000_000_000_000), Value::from(text)],
        kwargs: Some(Dict::new().with("seq", 42u64).with("src", "bench")),
    }
}

fn id(v: u64) -> Id {
    Id::new(v).unwrap()
}

/// The four messages that carry payloads on the hot path, named for benchmark ids.
fn messages() -> [(&'static str, Message); 4] {
    [
        (
            "publish",
            Message::Publish(Publish {
                request: id(7),
                options: Dict::new(),
                topic: "com.example.bench.topic".into(),
                payload: payload(),
            }),
        ),
        ("event", event(payload())),
        (
            "call",
            Message::Call(message::Call {
                request: id(8),
                options: Dict::new(),
                procedure: "com.example.bench.add".into(),
                payload: payload(),
            }),
        ),
        ("result", Message::Result(CallResult { request: id(8), details: Dict::new(), payload: payload() })),
    ]
}

fn event(payload: Payload) -> Message {
    Message::Event(Event { subscription: id(1234), publication: id(5_678_901_234), details: Dict::new(), payload })
}

/// One message or payload of `bytes` encoded bytes per iteration.
fn per_message(bytes: usize) -> Throughput {
    Throughput::ElementsAndBytes { elements: 1, bytes: bytes as u64 }
}

fn decode_head(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec_decode_head_100B");
    for (name, msg) in messages() {
        for ser in Serializer::ALL {
            let frame = encode(ser, &msg).unwrap();
            group.throughput(per_message(frame.len()));
            group.bench_with_input(BenchmarkId::new(name, ser.name()), &frame, |b, frame| {
                b.iter(|| black_box(decode(ser, frame.clone()).ok()))
            });
        }
    }
    group.finish();
}

fn encode_raw(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec_encode_raw_100B");
    for (name, msg) in messages() {
        for ser in Serializer::ALL {
            let frame = encode(ser, &msg).unwrap();
            let decoded = decode(ser, frame.clone()).unwrap();
            group.throughput(per_message(frame.len()));
            group.bench_with_input(BenchmarkId::new(name, ser.name()), &decoded, |b, decoded| {
                b.iter(|| black_box(encode(ser, decoded).ok()))
            });
        }
    }
    group.finish();
}

fn publish_frame(ser: Serializer) -> Bytes {
    let msg = Message::Publish(Publish {
        request: id(7),
        options: Dict::new(),
        topic: "com.example.bench.topic".into(),
        payload: payload(),
    });
    encode(ser, &msg).unwrap()
}

fn publish_to_event(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_to_event_100B");
    for ser in Serializer::ALL {
        let frame = publish_frame(ser);
        group.throughput(per_message(frame.len()));
        group.bench_with_input(BenchmarkId::new("pass_through", ser.name()), &frame, |b, frame| {
            b.iter(|| {
                let Ok(Message::Publish(p)) = decode(ser, frame.clone()) else { return };
                black_box(encode(ser, &event(p.payload)).ok());
            })
        });
        group.bench_with_input(BenchmarkId::new("full_decode_reencode", ser.name()), &frame, |b, frame| {
            b.iter(|| {
                let Ok(Message::Publish(p)) = decode(ser, frame.clone()) else { return };
                let Ok((args, kwargs)) = p.payload.to_values() else { return };
                black_box(encode(ser, &event(Payload::Values { args, kwargs })).ok());
            })
        });
    }
    group.finish();
}

/// The raw payload of a PUBLISH decoded from `ser`.
fn raw_payload(ser: Serializer) -> RawPayload {
    match decode(ser, publish_frame(ser)) {
        Ok(Message::Publish(Publish { payload: Payload::Raw(raw), .. })) => raw,
        other => panic!("expected a PUBLISH with a raw payload, got {other:?}"),
    }
}

fn transcoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("transcode_100B");
    for from in Serializer::ALL {
        let raw = raw_payload(from);
        group.throughput(per_message(raw.bytes.len()));
        for to in Serializer::ALL.into_iter().filter(|to| *to != from) {
            let name = format!("{}_to_{}", from.name(), to.name());
            group.bench_with_input(BenchmarkId::from_parameter(name), &raw, |b, raw| {
                b.iter(|| black_box(transcode(raw, to).ok()))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config(WARM_UP, MEASUREMENT, SAMPLES);
    targets = decode_head, encode_raw, publish_to_event, transcoding
}
criterion_main!(benches);
