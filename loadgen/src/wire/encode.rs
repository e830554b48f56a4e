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
}

/// `[PUBLISH or CALL, Request, {}, Uri, [ts, seq, filler]]`: the shape of every message that
/// carries a timed payload.
pub(crate) fn timed(ser: Serializer, m: &Timed<'_>, out: &mut Vec<u8>) {
    let Timed { kind, request, uri, ts, seq, filler } = *m;
    match ser {
        Serializer::MsgPack => {
            out.push(0x95);
            mp_uint(out, kind);
            mp_uint(out, request);
            out.push(0x80);
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
            out.push(0xa0);
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
            out.extend_from_slice(b",{},\"");
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

/// `[YIELD, Request, {}, <echoed Arguments and ArgumentsKw>]`.
pub(crate) fn yield_echo(ser: Serializer, request: u64, echo: Echo<'_>, out: &mut Vec<u8>) {
    match ser {
        Serializer::MsgPack => {
            out.push(0x90 | (3 + echo.count.min(2)) as u8);
            mp_uint(out, code::YIELD);
            mp_uint(out, request);
            out.push(0x80);
            out.extend_from_slice(echo.bytes);
        }
        Serializer::Cbor => {
            cbor_head(out, 4, 3 + echo.count.min(2) as u64);
            cbor_head(out, 0, code::YIELD);
            cbor_head(out, 0, request);
            out.push(0xa0);
            out.extend_from_slice(echo.bytes);
        }
        Serializer::Json => {
            out.extend_from_slice(b"[70,");
            json_uint(out, request);
            out.extend_from_slice(b",{}");
            if !echo.bytes.is_empty() {
                out.push(b',');
                out.extend_from_slice(echo.bytes);
            }
            out.push(b']');
        }
    }
}

/// HELLO announcing all four client roles.
pub(crate) fn hello(realm: &str) -> Message {
    let roles = Dict::new()
        .with("publisher", Dict::new())
        .with("subscriber", Dict::new())
        .with("caller", Dict::new())
        .with("callee", Dict::new());
    Message::Hello(m::Hello { realm: realm.to_owned(), details: Dict::new().with("roles", roles).with("agent", AGENT) })
}

/// SUBSCRIBE to an exact topic.
pub(crate) fn subscribe(request: u64, topic: &str) -> Message {
    Message::Subscribe(m::Subscribe { request: id(request), options: Dict::new(), topic: topic.to_owned() })
}

/// REGISTER an exact procedure.
pub(crate) fn register(request: u64, procedure: &str) -> Message {
    Message::Register(m::Register { request: id(request), options: Dict::new(), procedure: procedure.to_owned() })
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
                let m = Timed { kind: code::PUBLISH, request: 300, uri: "topic.7", ts, seq, filler: &filler };
                timed(ser, &m, &mut out);
                let Message::Publish(p) = decode(ser, &out) else { panic!("not a PUBLISH in {ser}") };
                assert_eq!(p.request.get(), 300);
                assert_eq!(p.topic, "topic.7");
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
                &Timed { kind: code::CALL, request: 1, uri: "proc.0", ts: 11, seq: 22, filler: "abc" },
                &mut call,
            );
            let Message::Call(c) = decode(ser, &call) else { panic!() };
            let Payload::Raw(raw) = &c.payload else { panic!() };
            let mut out = Vec::new();
            let bytes = raw.bytes.clone();
            yield_echo(ser, 9, Echo { bytes: &bytes, count: usize::from(raw.count) }, &mut out);
            let Message::Yield(y) = decode(ser, &out) else { panic!("not a YIELD in {ser}") };
            assert_eq!(y.request.get(), 9);
            assert_eq!(y.payload.to_values().unwrap(), c.payload.to_values().unwrap());
        }
    }

    #[test]
    fn yield_without_payload_is_three_elements() {
        for ser in Serializer::ALL {
            let mut out = Vec::new();
            yield_echo(ser, 4, Echo { bytes: &[], count: 0 }, &mut out);
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
            timed(ser, &Timed { kind: code::PUBLISH, request: 1, uri: &uri, ts: 1, seq: 2, filler: &filler }, &mut out);
            let Message::Publish(p) = decode(ser, &out) else { panic!() };
            assert_eq!(p.topic.len(), 300);
            let (args, _) = p.payload.to_values().unwrap();
            assert_eq!(args[2].as_str().map(str::len), Some(70_000));
        }
    }
}
