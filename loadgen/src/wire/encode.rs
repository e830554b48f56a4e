//! Encoders for what the load generator sends.
//!
//! Owns: the bytes of PUBLISH, CALL and YIELD, written straight into a reused buffer for each
//! serializer (no `Message`, no allocation), and the session-control messages (HELLO, SUBSCRIBE,
//! REGISTER, GOODBYE), which go through wampyard's codec because they are rare.
//! Never: framing or sockets.

use anyhow::Context as _;
use wampyard::codec::{self, Serializer};
use wampyard::wamp::message::{self as m, code};
use wampyard::wamp::{Dict, Id, Message};

/// The agent string announced in HELLO.
const AGENT: &str = "wampyard-loadgen";

/// The fields of a message that carries a timed payload.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timed<'a> {
    /// PUBLISH or CALL.
    pub(crate) kind: u64,
    /// The request id.
    pub(crate) request: u64,
    /// Topic or procedure.
    pub(crate) uri: &'a str,
    /// Send timestamp, clock ns.
    pub(crate) ts: u64,
    /// Sequence number.
    pub(crate) seq: u64,
    /// Padding to the payload size.
    pub(crate) filler: &'a str,
    /// Options.
    pub(crate) options: Options<'a>,
}

/// The Options of a message that carries a timed payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Options<'a> {
    /// `{}`.
    Empty,
    /// `{key: true}` (`receive_progress` for CALL).
    Flag(&'a str),
    /// A dict encoded beforehand in the message's serializer (PUBLISH's `eligible` list, see
    /// [`eligible`]).
    Encoded(&'a [u8]),
}

/// `[PUBLISH or CALL, Request, Options, Uri, [ts, seq, filler]]`: the shape of every message
/// that carries a timed payload.
pub(crate) fn timed(ser: Serializer, m: &Timed<'_>, out: &mut Vec<u8>) {
    let Timed { kind, request, uri, ts, seq, filler, options } = *m;
    match ser {
        Serializer::MsgPack => {
            out.push(0x95);
            mp_uint(out, kind);
            mp_uint(out, request);
            options_dict(ser, options, out);
            mp_str(out, uri);
            out.push(0x93);
            mp_uint(out, ts);
            mp_uint(out, seq);
            mp_str(out, filler);
        }
        Serializer::Cbor => {
            out.push(0x85);
            cbor_head(out, 0, kind);
            cbor_head(out, 0, request);
            options_dict(ser, options, out);
            cbor_str(out, uri);
            out.push(0x83);
            cbor_head(out, 0, ts);
            cbor_head(out, 0, seq);
            cbor_str(out, filler);
        }
        Serializer::Json => {
            out.push(b'[');
            json_uint(out, kind);
            out.push(b',');
            json_uint(out, request);
            out.push(b',');
            options_dict(ser, options, out);
            out.extend_from_slice(b",\"");
            out.extend_from_slice(uri.as_bytes());
            out.extend_from_slice(b"\",[");
            json_uint(out, ts);
            out.push(b',');
            json_uint(out, seq);
            out.extend_from_slice(b",\"");
            out.extend_from_slice(filler.as_bytes());
            out.extend_from_slice(b"\"]]");
        }
    }
}

/// The trailing elements of a received message, to be echoed as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Echo<'a> {
    /// The encoded elements (JSON: the text between the separators, without the outer `]`).
    pub(crate) bytes: &'a [u8],
    /// How many elements `bytes` holds (0, 1 or 2); JSON needs no count.
    pub(crate) count: usize,
}

/// The YIELD option that marks a progressive result.
pub(crate) const PROGRESS: &str = "progress";

/// The CALL option that asks for progressive results.
pub(crate) const RECEIVE_PROGRESS: &str = "receive_progress";

/// `[YIELD, Request, Options, <echoed Arguments and ArgumentsKw>]`; Options is `{}` or
/// `{flag: true}` (`{"progress": true}` for a progressive result).
pub(crate) fn yield_echo(ser: Serializer, request: u64, flag: Option<&str>, echo: Echo<'_>, out: &mut Vec<u8>) {
    match ser {
        Serializer::MsgPack => {
            out.push(0x90 | (3 + echo.count.min(2)) as u8);
            mp_uint(out, code::YIELD);
            mp_uint(out, request);
            flag_dict(ser, flag, out);
            out.extend_from_slice(echo.bytes);
        }
        Serializer::Cbor => {
            cbor_head(out, 4, 3 + echo.count.min(2) as u64);
            cbor_head(out, 0, code::YIELD);
            cbor_head(out, 0, request);
            flag_dict(ser, flag, out);
            out.extend_from_slice(echo.bytes);
        }
        Serializer::Json => {
            out.extend_from_slice(b"[70,");
            json_uint(out, request);
            out.push(b',');
            flag_dict(ser, flag, out);
            if !echo.bytes.is_empty() {
                out.push(b',');
                out.extend_from_slice(echo.bytes);
            }
            out.push(b']');
        }
    }
}

/// The Advanced Profile features a run announces in HELLO; none by default (Basic Profile).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Features {
    /// `progressive_call_results`, as caller and as callee, and `call_canceling` as callee: a
    /// router passes `receive_progress` on only to callees that announced both (the spec makes
    /// call canceling a condition of progressive results). The callee answers every invocation
    /// at once, so an INTERRUPT always finds nothing left to cancel and is ignored, as it should.
    pub(crate) progressive_call_results: bool,
    /// `shared_registration`, as callee.
    pub(crate) shared_registration: bool,
    /// `subscriber_blackwhite_listing`, as publisher (PUBLISH.Options `eligible`).
    pub(crate) subscriber_blackwhite_listing: bool,
}

/// HELLO announcing all four client roles, with `features` under caller and callee.
pub(crate) fn hello(realm: &str, features: Features) -> Message {
    let (mut publisher, mut caller, mut callee) = (Dict::new(), Dict::new(), Dict::new());
    if features.subscriber_blackwhite_listing {
        publisher.insert("subscriber_blackwhite_listing", true);
    }
    if features.progressive_call_results {
        caller.insert("progressive_call_results", true);
        callee.insert("progressive_call_results", true);
        callee.insert("call_canceling", true);
    }
    if features.shared_registration {
        callee.insert("shared_registration", true);
    }
    let role = |features: Dict| if features.is_empty() { Dict::new() } else { Dict::new().with("features", features) };
    let roles = Dict::new()
        .with("publisher", role(publisher))
        .with("subscriber", Dict::new())
        .with("caller", role(caller))
        .with("callee", role(callee));
    Message::Hello(m::Hello { realm: realm.to_owned(), details: Dict::new().with("roles", roles).with("agent", AGENT) })
}

/// SUBSCRIBE to an exact topic.
pub(crate) fn subscribe(request: u64, topic: &str) -> Message {
    Message::Subscribe(m::Subscribe { request: id(request), options: Dict::new(), topic: topic.to_owned() })
}

/// REGISTER an exact procedure; `invoke` is the shared-registration policy, if any
/// (`{"invoke": "roundrobin"}` and so on).
pub(crate) fn register(request: u64, procedure: &str, invoke: Option<&str>) -> Message {
    let options = match invoke {
        Some(policy) => Dict::new().with("invoke", policy),
        None => Dict::new(),
    };
    Message::Register(m::Register { request: id(request), options, procedure: procedure.to_owned() })
}

/// GOODBYE with `reason`.
pub(crate) fn goodbye(reason: &str) -> Message {
    Message::Goodbye(m::Goodbye { details: Dict::new(), reason: reason.to_owned() })
}

/// Appends a session-control message in `ser`.
pub(crate) fn control(ser: Serializer, msg: &Message, out: &mut Vec<u8>) -> anyhow::Result<()> {
    codec::encode_into(ser, msg, out).with_context(|| format!("encoding {}", msg.name()))
}

/// Request ids are session-scope counters starting at 1; the load generator never reaches 2^53.
fn id(v: u64) -> Id {
    Id::new(v).unwrap_or(Id::ZERO)
}

/// The PUBLISH option that lists the only sessions to receive the event.
pub(crate) const ELIGIBLE: &str = "eligible";

/// Appends the Options dict `{"eligible": [ids...]}` in `ser`, for [`Options::Encoded`].
pub(crate) fn eligible(ser: Serializer, ids: &[u64], out: &mut Vec<u8>) {
    let n = ids.len() as u64;
    match ser {
        Serializer::MsgPack => {
            out.push(0x81);
            mp_str(out, ELIGIBLE);
            if n < 16 {
                out.push(0x90 | n as u8);
            } else if n <= u64::from(u16::MAX) {
                out.push(0xdc);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                out.push(0xdd);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            for &id in ids {
                mp_uint(out, id);
            }
        }
        Serializer::Cbor => {
            out.push(0xa1);
            cbor_str(out, ELIGIBLE);
            cbor_head(out, 4, n);
            for &id in ids {
                cbor_head(out, 0, id);
            }
        }
        Serializer::Json => {
            out.extend_from_slice(b"{\"");
            out.extend_from_slice(ELIGIBLE.as_bytes());
            out.extend_from_slice(b"\":[");
            for (k, &id) in ids.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                json_uint(out, id);
            }
            out.extend_from_slice(b"]}");
        }
    }
}

/// Options as written by [`timed`].
fn options_dict(ser: Serializer, options: Options<'_>, out: &mut Vec<u8>) {
    match options {
        Options::Empty => flag_dict(ser, None, out),
        Options::Flag(key) => flag_dict(ser, Some(key), out),
        Options::Encoded(bytes) => out.extend_from_slice(bytes),
    }
}

/// `{}`, or `{key: true}` with `Some(key)`.
fn flag_dict(ser: Serializer, key: Option<&str>, out: &mut Vec<u8>) {
    match (ser, key) {
        (Serializer::MsgPack, None) => out.push(0x80),
        (Serializer::MsgPack, Some(key)) => {
            out.push(0x81);
            mp_str(out, key);
            out.push(0xc3);
        }
        (Serializer::Cbor, None) => out.push(0xa0),
        (Serializer::Cbor, Some(key)) => {
            out.push(0xa1);
            cbor_str(out, key);
            out.push(0xf5);
        }
        (Serializer::Json, None) => out.extend_from_slice(b"{}"),
        (Serializer::Json, Some(key)) => {
            out.extend_from_slice(b"{\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":true}");
        }
    }
}

fn mp_uint(out: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        out.push(v as u8);
    } else if v <= u64::from(u8::MAX) {
        out.extend_from_slice(&[0xcc, v as u8]);
    } else if v <= u64::from(u16::MAX) {
        out.push(0xcd);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= u64::from(u32::MAX) {
        out.push(0xce);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn mp_str(out: &mut Vec<u8>, s: &str) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= usize::from(u8::MAX) {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= usize::from(u16::MAX) {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn cbor_head(out: &mut Vec<u8>, major: u8, v: u64) {
    let m = major << 5;
    if v < 24 {
        out.push(m | v as u8);
    } else if v <= u64::from(u8::MAX) {
        out.extend_from_slice(&[m | 24, v as u8]);
    } else if v <= u64::from(u16::MAX) {
        out.push(m | 25);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= u64::from(u32::MAX) {
        out.push(m | 26);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn cbor_str(out: &mut Vec<u8>, s: &str) {
    cbor_head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn json_uint(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use wampyard::codec::{Payload, PayloadCodec};
    use wampyard::wamp::Value;

    fn decode(ser: Serializer, bytes: &[u8]) -> Message {
        codec::decode(ser, Bytes::copy_from_slice(bytes)).unwrap()
    }

    #[test]
    fn timed_publish_decodes_with_wampyards_codec_in_every_serializer() {
        for ser in Serializer::ALL {
            for (ts, seq) in [(0u64, 0u64), (127, 128), (70_000, 1 << 33), (u64::from(u32::MAX) + 1, 5)] {
                let mut out = Vec::new();
                let filler = "x".repeat(40);
                let m = Timed {
                    kind: code::PUBLISH,
                    request: 300,
                    uri: "topic.7",
                    ts,
                    seq,
                    filler: &filler,
                    options: Options::Empty,
                };
                timed(ser, &m, &mut out);
                let Message::Publish(p) = decode(ser, &out) else { panic!("not a PUBLISH in {ser}") };
                assert_eq!(p.request.get(), 300);
                assert_eq!(p.topic, "topic.7");
                assert!(p.options.is_empty());
                let (args, kwargs) = p.payload.to_values().unwrap();
                assert_eq!(kwargs, None);
                assert_eq!(args[0], Value::UInt(ts), "{ser}");
                assert_eq!(args[1], Value::UInt(seq), "{ser}");
                assert_eq!(args[2].as_str().map(str::len), Some(40));
            }
        }
    }

    #[test]
    fn yield_echoes_the_invocation_payload_in_every_serializer() {
        for ser in Serializer::ALL {
            let mut call = Vec::new();
            timed(
                ser,
                &Timed {
                    kind: code::CALL,
                    request: 1,
                    uri: "proc.0",
                    ts: 11,
                    seq: 22,
                    filler: "abc",
                    options: Options::Empty,
                },
                &mut call,
            );
            let Message::Call(c) = decode(ser, &call) else { panic!() };
            let Payload::Raw(raw) = &c.payload else { panic!() };
            let mut out = Vec::new();
            let bytes = raw.bytes.clone();
            yield_echo(ser, 9, None, Echo { bytes: &bytes, count: usize::from(raw.count) }, &mut out);
            let Message::Yield(y) = decode(ser, &out) else { panic!("not a YIELD in {ser}") };
            assert_eq!(y.request.get(), 9);
            assert!(y.options.is_empty());
            assert_eq!(y.payload.to_values().unwrap(), c.payload.to_values().unwrap());
        }
    }

    #[test]
    fn yield_without_payload_is_three_elements() {
        for ser in Serializer::ALL {
            let mut out = Vec::new();
            yield_echo(ser, 4, None, Echo { bytes: &[], count: 0 }, &mut out);
            let Message::Yield(y) = decode(ser, &out) else { panic!() };
            assert_eq!(y.payload, Payload::Empty);
        }
    }

    #[test]
    fn long_uris_and_fillers_use_the_wider_length_forms() {
        let filler = "y".repeat(70_000);
        for ser in Serializer::ALL {
            let mut out = Vec::new();
            let uri = "a".repeat(300);
            let m = Timed {
                kind: code::PUBLISH,
                request: 1,
                uri: &uri,
                ts: 1,
                seq: 2,
                filler: &filler,
                options: Options::Empty,
            };
            timed(ser, &m, &mut out);
            let Message::Publish(p) = decode(ser, &out) else { panic!() };
            assert_eq!(p.topic.len(), 300);
            let (args, _) = p.payload.to_values().unwrap();
            assert_eq!(args[2].as_str().map(str::len), Some(70_000));
        }
    }

    #[test]
    fn call_asking_for_progressive_results_decodes_in_every_serializer() {
        for ser in Serializer::ALL {
            let mut out = Vec::new();
            let m = Timed {
                kind: code::CALL,
                request: 77,
                uri: "proc.shared",
                ts: 5,
                seq: 6,
                filler: "f",
                options: Options::Flag(RECEIVE_PROGRESS),
            };
            timed(ser, &m, &mut out);
            let Message::Call(c) = decode(ser, &out) else { panic!("not a CALL in {ser}") };
            assert_eq!((c.request.get(), c.procedure.as_str()), (77, "proc.shared"));
            assert_eq!(c.options, Dict::new().with("receive_progress", true), "{ser}");
            let (args, _) = c.payload.to_values().unwrap();
            assert_eq!(args[..2], [Value::UInt(5), Value::UInt(6)]);
        }
    }

    #[test]
    fn progressive_yield_carries_the_progress_option_and_the_payload_in_every_serializer() {
        for ser in Serializer::ALL {
            let mut call = Vec::new();
            let m = Timed {
                kind: code::CALL,
                request: 1,
                uri: "p",
                ts: 300,
                seq: 1 << 40,
                filler: "xyz",
                options: Options::Empty,
            };
            timed(ser, &m, &mut call);
            let Message::Call(c) = decode(ser, &call) else { panic!() };
            let Payload::Raw(raw) = &c.payload else { panic!() };
            let bytes = raw.bytes.clone();
            let echo = Echo { bytes: &bytes, count: usize::from(raw.count) };
            for flag in [Some(PROGRESS), None] {
                let mut out = Vec::new();
                yield_echo(ser, 1 << 33, flag, echo, &mut out);
                let Message::Yield(y) = decode(ser, &out) else { panic!("not a YIELD in {ser}") };
                assert_eq!(y.request.get(), 1 << 33);
                let want = if flag.is_some() { Dict::new().with("progress", true) } else { Dict::new() };
                assert_eq!(y.options, want, "{ser}");
                assert_eq!(y.payload.to_values().unwrap(), c.payload.to_values().unwrap(), "{ser}");
            }
            let mut empty = Vec::new();
            yield_echo(ser, 2, Some(PROGRESS), Echo { bytes: &[], count: 0 }, &mut empty);
            let Message::Yield(y) = decode(ser, &empty) else { panic!() };
            assert_eq!((y.options.get_bool("progress"), &y.payload), (Some(true), &Payload::Empty), "{ser}");
        }
    }

    #[test]
    fn publish_with_an_eligible_list_decodes_in_every_serializer() {
        let many: Vec<u64> = (0..20).map(|k| (1 << 52) + k).collect();
        for ser in Serializer::ALL {
            for ids in [&[][..], &[1], &[7, 300, 70_000, (1 << 53) - 1], &many] {
                let mut options = Vec::new();
                eligible(ser, ids, &mut options);
                let mut out = Vec::new();
                let opts = Options::Encoded(&options);
                let m = Timed {
                    kind: code::PUBLISH,
                    request: 5,
                    uri: "topic.0",
                    ts: 9,
                    seq: 8,
                    filler: "f",
                    options: opts,
                };
                timed(ser, &m, &mut out);
                let Message::Publish(p) = decode(ser, &out) else { panic!("not a PUBLISH in {ser}") };
                let want: Vec<Value> = ids.iter().map(|&id| Value::UInt(id)).collect();
                assert_eq!(p.options, Dict::new().with(ELIGIBLE, Value::List(want)), "{ser} {ids:?}");
                assert_eq!((p.request.get(), p.topic.as_str()), (5, "topic.0"));
                let (args, _) = p.payload.to_values().unwrap();
                assert_eq!(args[..2], [Value::UInt(9), Value::UInt(8)]);
            }
        }
    }

    #[test]
    fn register_carries_the_invocation_policy_only_when_given() {
        let Message::Register(r) = register(1, "proc.shared", Some("roundrobin")) else { panic!() };
        assert_eq!(r.options, Dict::new().with("invoke", "roundrobin"));
        let Message::Register(r) = register(1, "proc.0", None) else { panic!() };
        assert!(r.options.is_empty());
        for ser in Serializer::ALL {
            let mut out = Vec::new();
            control(ser, &register(3, "proc.shared", Some("last")), &mut out).unwrap();
            let Message::Register(r) = decode(ser, &out) else { panic!() };
            assert_eq!(r.options.get_str("invoke"), Some("last"), "{ser}");
        }
    }

    #[test]
    fn hello_announces_advanced_features_only_when_asked() {
        let roles = |m: Message| {
            let Message::Hello(h) = m else { panic!() };
            h.details.get("roles").and_then(Value::as_dict).cloned().unwrap()
        };
        let basic = roles(hello("realm1", Features::default()));
        for role in ["publisher", "subscriber", "caller", "callee"] {
            assert_eq!(basic.get(role), Some(&Value::Dict(Dict::new())), "{role}");
        }
        let features = Features {
            progressive_call_results: true,
            shared_registration: true,
            subscriber_blackwhite_listing: false,
        };
        let advanced = roles(hello("realm1", features));
        let of = |role: &str| advanced.get(role).and_then(Value::as_dict).and_then(|d| d.get("features")).cloned();
        assert_eq!(of("caller"), Some(Value::Dict(Dict::new().with("progressive_call_results", true))));
        let callee = Dict::new()
            .with("progressive_call_results", true)
            .with("call_canceling", true)
            .with("shared_registration", true);
        assert_eq!(of("callee"), Some(Value::Dict(callee)));
        assert_eq!(of("publisher"), None);
        let shared_only = roles(hello("r", Features { shared_registration: true, ..Features::default() }));
        assert_eq!(shared_only.get("caller"), Some(&Value::Dict(Dict::new())));
        let listing = roles(hello("r", Features { subscriber_blackwhite_listing: true, ..Features::default() }));
        let publisher = Dict::new().with("subscriber_blackwhite_listing", true);
        assert_eq!(listing.get("publisher"), Some(&Value::Dict(Dict::new().with("features", publisher))));
        assert_eq!(listing.get("subscriber"), Some(&Value::Dict(Dict::new())));
        for ser in Serializer::ALL {
            let mut out = Vec::new();
            control(ser, &hello("realm1", features), &mut out).unwrap();
            let Message::Hello(h) = decode(ser, &out) else { panic!() };
            assert_eq!(h.realm, "realm1");
        }
    }
}
