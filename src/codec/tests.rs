//! Tests shared by the three serializers: round trips of every message type, transcoding between
//! every pair, raw pass-through, and property tests on values. Also the fixtures the
//! per-serializer tests use.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::wamp::message::*;
use crate::wamp::{Dict, Id, Message, Value};

pub(super) fn id(v: u64) -> Id {
    Id::new(v).unwrap()
}

/// Arguments and ArgumentsKw exercising every value kind: unicode, nesting, 2^53, a negative
/// integer, a float, binary.
pub(super) fn sample_payload() -> (Vec<Value>, Dict) {
    let args = vec![
        Value::from("héllo ✓ 🦀 \"quoted\" \\ \n"),
        Value::List(vec![Value::UInt(1), Value::List(vec![Value::Null, Value::Dict(Dict::new().with("deep", true))])]),
        Value::UInt(1 << 53),
        Value::Int(-42),
        Value::Float(1.5),
        Value::Float(-2.25e-10),
        Value::Bytes(vec![0, 1, 2, 254, 255]),
        Value::UInt(u64::MAX),
        Value::Int(i64::MIN),
        Value::Bool(false),
    ];
    let kwargs = Dict::new()
        .with("ключ", "значение")
        .with("nested", Dict::new().with("list", Value::List(vec![Value::from("x")])))
        .with("empty", Dict::new());
    (args, kwargs)
}

fn details() -> Dict {
    Dict::new().with("roles", Dict::new().with("broker", Dict::new())).with("flag", true).with("n", 7u64)
}

/// One message of every type; those that carry a payload carry `payload`.
pub(super) fn every_message(payload: &Payload) -> Vec<Message> {
    let p = || payload.clone();
    vec![
        Message::Hello(Hello { realm: "realm1".into(), details: details() }),
        Message::Welcome(Welcome { session: id(1 << 53), details: details() }),
        Message::Abort(Abort { details: details(), reason: "wamp.error.no_such_realm".into(), payload: p() }),
        Message::Challenge(Challenge { method: "wampcra".into(), extra: details() }),
        Message::Authenticate(Authenticate { signature: "sig==".into(), extra: Dict::new() }),
        Message::Goodbye(Goodbye { details: Dict::new(), reason: "wamp.close.normal".into() }),
        Message::Error(Error {
            request_type: code::CALL,
            request: id(77),
            details: details(),
            error: "com.app.error".into(),
            payload: p(),
        }),
        Message::Publish(Publish { request: id(1), options: details(), topic: "com.topic".into(), payload: p() }),
        Message::Published(Published { request: id(1), publication: id(2) }),
        Message::Subscribe(Subscribe {
            request: id(3),
            options: Dict::new().with("match", "prefix"),
            topic: "com.".into(),
        }),
        Message::Subscribed(Subscribed { request: id(3), subscription: id(4) }),
        Message::Unsubscribe(Unsubscribe { request: id(5), subscription: id(4) }),
        Message::Unsubscribed(Unsubscribed { request: id(5), details: None }),
        Message::Unsubscribed(Unsubscribed {
            request: Id::ZERO,
            details: Some(Dict::new().with("subscription", 4u64).with("reason", "gone")),
        }),
        Message::Event(Event {
            subscription: id(4),
            publication: id(9_007_199_254_740_991),
            details: Dict::new(),
            payload: p(),
        }),
        Message::Call(Call {
            request: id(6),
            options: Dict::new().with("timeout", 1000u64),
            procedure: "com.proc".into(),
            payload: p(),
        }),
        Message::Cancel(Cancel { request: id(6), options: Dict::new().with("mode", "kill") }),
        Message::Result(CallResult { request: id(6), details: Dict::new(), payload: p() }),
        Message::Register(Register { request: id(7), options: Dict::new(), procedure: "com.proc".into() }),
        Message::Registered(Registered { request: id(7), registration: id(8) }),
        Message::Unregister(Unregister { request: id(9), registration: id(8) }),
        Message::Unregistered(Unregistered { request: id(9), details: None }),
        Message::Unregistered(Unregistered {
            request: Id::ZERO,
            details: Some(Dict::new().with("registration", 8u64)),
        }),
        Message::Invocation(Invocation { request: id(10), registration: id(8), details: Dict::new(), payload: p() }),
        Message::Interrupt(Interrupt { request: id(10), options: Dict::new() }),
        Message::Yield(Yield { request: id(10), options: Dict::new(), payload: p() }),
    ]
}

/// `msg` with its payload, whatever its form, replaced by the values it holds.
pub(super) fn normalized(msg: &Message) -> Message {
    fn norm(p: &mut Payload) {
        let (args, kwargs) = p.to_values().unwrap();
        *p = if args.is_empty() && kwargs.is_none() { Payload::Empty } else { Payload::Values { args, kwargs } };
    }
    let mut m = msg.clone();
    if let Some(p) = m.payload_mut() {
        norm(p);
    }
    m
}

/// The payload of a message, if it has one.
pub(super) fn payload_of(msg: &Message) -> Option<&Payload> {
    match msg {
        Message::Abort(x) => Some(&x.payload),
        Message::Error(x) => Some(&x.payload),
        Message::Publish(x) => Some(&x.payload),
        Message::Event(x) => Some(&x.payload),
        Message::Call(x) => Some(&x.payload),
        Message::Result(x) => Some(&x.payload),
        Message::Invocation(x) => Some(&x.payload),
        Message::Yield(x) => Some(&x.payload),
        _ => None,
    }
}

/// Every payload form worth round-tripping, for `ser`.
fn payload_forms() -> Vec<Payload> {
    let (args, kwargs) = sample_payload();
    vec![
        Payload::Empty,
        Payload::Values { args: args.clone(), kwargs: None },
        Payload::Values { args: Vec::new(), kwargs: Some(kwargs.clone()) },
        Payload::Values { args, kwargs: Some(kwargs) },
    ]
}

/// A raw payload in `ser` holding `payload`'s values.
fn raw_in(ser: Serializer, payload: &Payload) -> Payload {
    let msg = Message::Result(CallResult { request: id(1), details: Dict::new(), payload: payload.clone() });
    let Message::Result(r) = decode(ser, encode(ser, &msg).unwrap()).unwrap() else {
        panic!("not a RESULT");
    };
    r.payload
}

#[test]
fn every_message_type_round_trips_with_value_payloads_in_every_serializer() {
    for ser in Serializer::ALL {
        for payload in payload_forms() {
            for msg in every_message(&payload) {
                let bytes = encode(ser, &msg).unwrap();
                let back = decode(ser, bytes.clone()).unwrap_or_else(|e| panic!("{ser}: {msg:?} -> {bytes:?}: {e}"));
                assert_eq!(normalized(&back), normalized(&msg), "{ser}");
            }
        }
    }
}

#[test]
fn every_message_type_round_trips_with_raw_payloads_exactly() {
    for ser in Serializer::ALL {
        for payload in payload_forms() {
            let raw = raw_in(ser, &payload);
            for msg in every_message(&raw) {
                let back = decode(ser, encode(ser, &msg).unwrap()).unwrap();
                assert_eq!(back, msg, "{ser}");
            }
        }
    }
}

#[test]
fn raw_payloads_of_another_serializer_are_transcoded_on_encode() {
    for from in Serializer::ALL {
        for to in Serializer::ALL {
            for payload in payload_forms() {
                let raw = raw_in(from, &payload);
                for msg in every_message(&raw) {
                    let back = decode(to, encode(to, &msg).unwrap()).unwrap();
                    assert_eq!(normalized(&back), normalized(&msg), "{from} -> {to}");
                    if let Some(Payload::Raw(r)) = payload_of(&back) {
                        assert_eq!(r.serializer, to);
                    }
                }
            }
        }
    }
}

#[test]
fn json_payload_transcodes_to_msgpack_and_cbor_with_equal_values() {
    let frame = concat!(
        r#"[16, 1, {}, "com.t", ["h\u00e9llo \u2713 \ud83e\udd80", [1, [2, {"a": null}]], "#,
        r#"9007199254740992, -5, 1.5, -0.25e-3, "\u0000AQID", "\u0000AQI", true], "#,
        r#"{"k": "v", "n": {"x": [true, false]}, "big": 18446744073709551615}]"#
    );
    let msg = decode(Serializer::Json, Bytes::from_static(frame.as_bytes())).unwrap();
    let Some(Payload::Raw(raw)) = payload_of(&msg) else { panic!("no raw payload") };
    let expected_args = vec![
        Value::from("héllo ✓ 🦀"),
        Value::List(vec![
            Value::UInt(1),
            Value::List(vec![Value::UInt(2), Value::Dict(Dict::new().with("a", Value::Null))]),
        ]),
        Value::UInt(1 << 53),
        Value::Int(-5),
        Value::Float(1.5),
        Value::Float(-0.25e-3),
        Value::Bytes(vec![1, 2, 3]),
        Value::Bytes(vec![1, 2]),
        Value::Bool(true),
    ];
    let expected_kwargs = Dict::new()
        .with("k", "v")
        .with("n", Dict::new().with("x", Value::List(vec![true.into(), false.into()])))
        .with("big", u64::MAX);
    let original = Payload::Raw(raw.clone()).to_values().unwrap();
    assert_eq!(original, (expected_args.clone(), Some(expected_kwargs.clone())));
    for to in [Serializer::MsgPack, Serializer::Cbor] {
        let converted = transcode(raw, to).unwrap();
        assert_eq!(converted.serializer, to);
        assert_eq!(converted.count, 2);
        let values = decode_values(&converted).unwrap();
        assert_eq!(values, vec![Value::List(expected_args.clone()), expected_kwargs.clone().into()]);
        let back = transcode(&converted, Serializer::Json).unwrap();
        assert_eq!(Payload::Raw(back).to_values().unwrap(), original);
    }
}

/// Checks that `frame` (a PUBLISH in `ser`) is forwarded as an EVENT with its payload bytes
/// unchanged.
fn assert_pass_through(ser: Serializer, frame: &'static [u8], tail: &[u8]) {
    let Message::Publish(publish) = decode(ser, Bytes::from_static(frame)).unwrap() else {
        panic!("not a PUBLISH");
    };
    let Payload::Raw(raw) = &publish.payload else { panic!("no raw payload") };
    assert_eq!(&raw.bytes[..], tail);
    let event = Message::Event(Event {
        subscription: id(5),
        publication: id(6),
        details: Dict::new(),
        payload: publish.payload.clone(),
    });
    let out = encode(ser, &event).unwrap();
    assert!(out.windows(tail.len()).any(|w| w == tail), "{ser}: tail not found in {out:?}");
    assert_eq!(decode(ser, out).unwrap(), event);
}

#[test]
fn raw_payload_passes_through_byte_exact() {
    assert_pass_through(
        Serializer::Json,
        br#"[16, 1, {}, "t", [1,  2.50, "\u00e9"] ,  {"b" : [ ] , "a":1}]"#,
        br#"[1,  2.50, "\u00e9"] ,  {"b" : [ ] , "a":1}"#,
    );
    // [16, 1, {}, "t", [1, 2.5 as f32], {"b": []}]
    assert_pass_through(
        Serializer::MsgPack,
        b"\x96\x10\x01\x80\xa1t\x92\x01\xca\x40\x20\x00\x00\x81\xa1b\x90",
        b"\x92\x01\xca\x40\x20\x00\x00\x81\xa1b\x90",
    );
    // [16, 1, {}, "t", [_ 1, 2], {_ "b": []}] with indefinite payload containers and a tag.
    assert_pass_through(
        Serializer::Cbor,
        b"\x86\x10\x01\xa0\x61t\x9f\x01\xc1\x02\xff\xbf\x61b\x80\xff",
        b"\x9f\x01\xc1\x02\xff\xbf\x61b\x80\xff",
    );
}

#[test]
fn encoding_leaves_the_buffer_untouched_on_error() {
    let deep = (0..MAX_NESTING + 1).fold(Value::Null, |v, _| Value::List(vec![v]));
    let msg = Message::Yield(Yield { request: id(1), options: Dict::new(), payload: Payload::args(vec![deep]) });
    for ser in Serializer::ALL {
        let mut out = b"prefix".to_vec();
        assert!(matches!(encode_into(ser, &msg, &mut out), Err(EncodeError::Unrepresentable(..))));
        assert_eq!(out, b"prefix");
    }
}

/// Values that every serializer represents exactly: finite floats, strings not starting with
/// NUL (JSON's binary marker), nesting well within [`MAX_NESTING`].
fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::UInt),
        (i64::MIN..0).prop_map(Value::Int),
        prop_oneof![Just(1u64 << 53), Just((1u64 << 53) + 1)].prop_map(Value::UInt),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::Float),
        any::<String>().prop_filter("no binary marker", |s| !s.starts_with('\0')).prop_map(Value::Str),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            proptest::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|entries| Value::Dict(entries.into_iter().collect())),
        ]
    })
}

fn encode_elements(ser: Serializer, values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    match ser {
        Serializer::Json => json::encode_values(values, &mut out),
        Serializer::MsgPack => msgpack::encode_values(values, &mut out),
        Serializer::Cbor => cbor::encode_values(values, &mut out),
    }
    .unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn values_survive_every_serializer(a in arb_value(), b in arb_value()) {
        let values = vec![a, b];
        for ser in Serializer::ALL {
            let bytes = encode_elements(ser, &values);
            let raw = RawPayload { serializer: ser, count: 2, bytes: Bytes::from(bytes) };
            prop_assert_eq!(&decode_values(&raw).unwrap(), &values, "{}", ser);
        }
    }

    #[test]
    fn transcoding_between_every_pair_preserves_values(a in arb_value()) {
        let values = vec![a];
        for from in Serializer::ALL {
            let raw = RawPayload {
                serializer: from,
                count: 1,
                bytes: Bytes::from(encode_elements(from, &values)),
            };
            for to in Serializer::ALL {
                let converted = transcode(&raw, to).unwrap();
                prop_assert_eq!(converted.serializer, to);
                prop_assert_eq!(&decode_values(&converted).unwrap(), &values, "{} -> {}", from, to);
            }
        }
    }

    #[test]
    fn messages_with_random_payloads_round_trip(args in proptest::collection::vec(arb_value(), 0..4),
                                               kw in proptest::collection::vec((any::<String>(), arb_value()), 0..4)) {
        let kwargs: Dict = kw.into_iter().collect();
        let payload = Payload::Values { args, kwargs: Some(kwargs) };
        let msg = Message::Call(Call {
            request: id(1),
            options: Dict::new(),
            procedure: "p".into(),
            payload,
        });
        for ser in Serializer::ALL {
            let back = decode(ser, encode(ser, &msg).unwrap()).unwrap();
            prop_assert_eq!(normalized(&back), normalized(&msg));
        }
    }
}

/// Decodes `frame` with `ser`.
pub(super) fn dec(ser: Serializer, frame: &[u8]) -> Result<Message, DecodeError> {
    decode(ser, Bytes::copy_from_slice(frame))
}

/// Checks that every strict prefix of a valid `frame` fails to decode (and does not panic).
pub(super) fn assert_truncations_fail(ser: Serializer, frame: &[u8]) {
    dec(ser, frame).unwrap();
    for end in 0..frame.len() {
        assert!(dec(ser, &frame[..end]).is_err(), "{ser}: prefix of {end} bytes decoded");
    }
}

#[test]
fn options_with_many_keys_round_trip_in_every_serializer() {
    let options: Dict = (0..50_000).map(|i| (format!("_k{i}"), Value::UInt(i))).collect();
    let msg = Message::Subscribe(Subscribe { request: Id::new(1).unwrap(), options, topic: "com.a".into() });
    for ser in Serializer::ALL {
        let bytes = encode(ser, &msg).unwrap();
        assert_eq!(decode(ser, bytes).unwrap(), msg, "{ser}");
    }
}
