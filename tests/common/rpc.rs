//! Helpers of the Advanced Profile RPC tests (`rpc_advanced.rs`, `rpc_shared.rs`): clients that
//! announce every feature, the next message of a kind, sentinel round trips, and hand-written
//! encodings of the replies checked byte for byte.

use wampyard::codec::{Payload, Serializer};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Id, Message, Value};

use super::*;

/// Every caller feature the router reads.
pub const CALLER: [&str; 5] = [
    "caller.progressive_call_results",
    "caller.call_canceling",
    "caller.progressive_call_invocations",
    "caller.payload_passthru_mode",
    "caller.caller_identification",
];

/// Every callee feature the router reads.
pub const CALLEE: [&str; 5] = [
    "callee.progressive_call_results",
    "callee.call_canceling",
    "callee.progressive_call_invocations",
    "callee.payload_passthru_mode",
    "callee.caller_identification",
];

pub const CANCELED: &str = "wamp.error.canceled";

/// A caller announcing every feature, on the first shard.
pub fn caller(r: &TestRouter, kind: Kind, ser: Serializer) -> Client {
    Client::join_with(r, On::First, kind, ser, &CALLER)
}

/// A callee announcing every feature, on the last shard.
pub fn callee(r: &TestRouter, kind: Kind, ser: Serializer) -> Client {
    Client::join_with(r, On::Last, kind, ser, &CALLEE)
}

pub fn invocation(c: &mut Client) -> m::Invocation {
    match c.recv() {
        Some(Message::Invocation(i)) => i,
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

pub fn interrupt(c: &mut Client) -> m::Interrupt {
    match c.recv() {
        Some(Message::Interrupt(i)) => i,
        other => panic!("expected INTERRUPT, got {other:?}"),
    }
}

pub fn result(c: &mut Client) -> m::CallResult {
    match c.recv() {
        Some(Message::Result(r)) => r,
        other => panic!("expected RESULT, got {other:?}"),
    }
}

/// The next message, an ERROR answering a CALL.
pub fn call_error(c: &mut Client) -> m::Error {
    match c.recv() {
        Some(Message::Error(e)) if e.request_type == codes::CALL => e,
        other => panic!("expected ERROR for a CALL, got {other:?}"),
    }
}

/// The next message is ABORT `wamp.error.protocol_violation`, then the connection closes.
pub fn aborted(c: &mut Client) {
    match c.recv() {
        Some(Message::Abort(a)) => assert_eq!(a.reason, "wamp.error.protocol_violation"),
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert!(c.closes(), "the connection must be closed after ABORT");
}

pub fn args(p: &Payload) -> Vec<Value> {
    values(p).0
}

pub fn progress() -> Dict {
    Dict::new().with("progress", true)
}

pub fn timeout_ms(ms: u64) -> Dict {
    Dict::new().with("timeout", ms)
}

/// The callee answers invocation `request` with ERROR `error`.
pub fn invocation_error(c: &mut Client, request: Id, error: &str, payload: Payload) {
    c.send(&Message::Error(m::Error {
        request_type: codes::INVOCATION,
        request,
        details: Dict::new(),
        error: error.into(),
        payload,
    }));
}

/// A sentinel call: `caller` calls `procedure`, the callee's next message must be its INVOCATION
/// and the caller's next message its RESULT. Proves that neither had anything else queued on the
/// paths the sentinel took (caller's shard -> callee, callee's shard -> caller).
pub fn round_trip(caller: &mut Client, callee: &mut Client, procedure: &str) {
    let request = caller.call(procedure, Payload::args(vec![Value::from("sentinel")]));
    let inv = invocation(callee);
    assert_eq!(args(&inv.payload), vec![Value::from("sentinel")], "the callee's next message is the sentinel");
    callee.yield_(inv.request, Dict::new(), Payload::args(vec![Value::from("sentinel back")]));
    let res = result(caller);
    assert_eq!(res.request, request, "the caller's next message is the sentinel's RESULT");
    assert_eq!(args(&res.payload), vec![Value::from("sentinel back")]);
}

/// A fresh caller and callee, between the first and the last shard, can still call.
pub fn assert_healthy(r: &TestRouter, tag: &str) {
    let procedure = format!("com.test.adv.healthy.{tag}.s{}", r.shards);
    let mut e = Client::join(r, On::Last, Kind::RawTcp, Serializer::Cbor);
    e.register(&procedure, Dict::new()).unwrap();
    let mut c = Client::join(r, On::First, Kind::WebSocket, Serializer::Json);
    round_trip(&mut c, &mut e, &procedure);
}

// Hand-written encodings, independent of the project's codec. The binary ones are written for
// the small ids a fresh session uses (MessagePack positive fixint < 128, CBOR direct < 24).

pub fn small_msgpack(n: Id) -> u8 {
    assert!(n.get() < 128, "hand-written MessagePack needs a small id, got {n}");
    n.get() as u8
}

pub fn small_cbor(n: Id) -> u8 {
    assert!(n.get() < 24, "hand-written CBOR needs a small id, got {n}");
    n.get() as u8
}

/// `[INTERRUPT, request, {"mode": mode}]` in `ser`.
pub fn interrupt_wire(ser: Serializer, request: Id, mode: &str) -> Vec<u8> {
    let mut out = match ser {
        Serializer::Json => return format!(r#"[69,{request},{{"mode":"{mode}"}}]"#).into_bytes(),
        Serializer::MsgPack => vec![0x93, 0x45, small_msgpack(request), 0x81, 0xa4, b'm', b'o', b'd', b'e'],
        Serializer::Cbor => vec![0x83, 0x18, 0x45, small_cbor(request), 0xa1, 0x64, b'm', b'o', b'd', b'e'],
    };
    let tag = if ser == Serializer::MsgPack { 0xa0 } else { 0x60 };
    out.push(tag | mode.len() as u8);
    out.extend_from_slice(mode.as_bytes());
    out
}

/// `[YIELD, request, {"progress": true}, [7, "x"]]` (code 70) or the RESULT that carries it on
/// (code 50), in `ser`.
pub fn progressive_wire(ser: Serializer, code: u8, request: Id) -> Vec<u8> {
    match ser {
        Serializer::Json => format!(r#"[{code},{request},{{"progress":true}},[7,"x"]]"#).into_bytes(),
        Serializer::MsgPack => {
            let mut out = vec![0x94, code, small_msgpack(request), 0x81, 0xa8];
            out.extend_from_slice(b"progress");
            out.extend_from_slice(&[0xc3, 0x92, 0x07, 0xa1, b'x']);
            out
        }
        Serializer::Cbor => {
            let mut out = vec![0x84, 0x18, code, small_cbor(request), 0xa1, 0x68];
            out.extend_from_slice(b"progress");
            out.extend_from_slice(&[0xf5, 0x82, 0x07, 0x61, b'x']);
            out
        }
    }
}

/// What the wire bytes decode to, for readable failures.
pub fn show(ser: Serializer, bytes: &[u8]) -> String {
    match ser {
        Serializer::Json => String::from_utf8_lossy(bytes).into_owned(),
        _ => format!("{bytes:02x?}"),
    }
}

pub fn assert_wire(ser: Serializer, got: Option<Bytes>, expected: &[u8]) {
    let got = got.expect("a message");
    assert_eq!(show(ser, &got), show(ser, expected));
}
