//! Advanced Profile RPC over real sockets, across every transport x serializer, one shard and two,
//! with caller and callee on different shards: progressive call results and invocations, call
//! canceling, call timeout, caller identification, shared registrations and reroute, payload
//! passthru mode, and the bad input and limits that go with them. The simulator's test of the
//! same behaviour is `src/router/tests/rpc.rs`.
//!
//! "Nothing else arrived" is shown by a later message wherever one can stand in as proof: a
//! sentinel call ([`round_trip`]) travels the same ordered paths as anything the router might
//! have sent in error, so its INVOCATION and RESULT arriving next proves nothing came before.
//! Some replies are compared byte for byte with hand-written encodings, so a bug shared by the
//! project's encoder and decoder cannot hide.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use wampyard::codec::{Payload, Serializer};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Id, Message, Value};

/// Every caller feature the router reads.
const CALLER: [&str; 5] = [
    "caller.progressive_call_results",
    "caller.call_canceling",
    "caller.progressive_call_invocations",
    "caller.payload_passthru_mode",
    "caller.caller_identification",
];

/// Every callee feature the router reads.
const CALLEE: [&str; 5] = [
    "callee.progressive_call_results",
    "callee.call_canceling",
    "callee.progressive_call_invocations",
    "callee.payload_passthru_mode",
    "callee.caller_identification",
];

const CANCELED: &str = "wamp.error.canceled";

/// A caller announcing every feature, on the first shard.
fn caller(r: &TestRouter, kind: Kind, ser: Serializer) -> Client {
    Client::join_with(r, On::First, kind, ser, &CALLER)
}

/// A callee announcing every feature, on the last shard.
fn callee(r: &TestRouter, kind: Kind, ser: Serializer) -> Client {
    Client::join_with(r, On::Last, kind, ser, &CALLEE)
}

fn invocation(c: &mut Client) -> m::Invocation {
    match c.recv() {
        Some(Message::Invocation(i)) => i,
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

fn interrupt(c: &mut Client) -> m::Interrupt {
    match c.recv() {
        Some(Message::Interrupt(i)) => i,
        other => panic!("expected INTERRUPT, got {other:?}"),
    }
}

fn result(c: &mut Client) -> m::CallResult {
    match c.recv() {
        Some(Message::Result(r)) => r,
        other => panic!("expected RESULT, got {other:?}"),
    }
}

/// The next message, an ERROR answering a CALL.
fn call_error(c: &mut Client) -> m::Error {
    match c.recv() {
        Some(Message::Error(e)) if e.request_type == codes::CALL => e,
        other => panic!("expected ERROR for a CALL, got {other:?}"),
    }
}

/// The next message is ABORT `wamp.error.protocol_violation`, then the connection closes.
fn aborted(c: &mut Client) {
    match c.recv() {
        Some(Message::Abort(a)) => assert_eq!(a.reason, "wamp.error.protocol_violation"),
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert!(c.closes(), "the connection must be closed after ABORT");
}

fn args(p: &Payload) -> Vec<Value> {
    values(p).0
}

fn progress() -> Dict {
    Dict::new().with("progress", true)
}

fn timeout_ms(ms: u64) -> Dict {
    Dict::new().with("timeout", ms)
}

/// The callee answers invocation `request` with ERROR `error`.
fn invocation_error(c: &mut Client, request: Id, error: &str, payload: Payload) {
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
fn round_trip(caller: &mut Client, callee: &mut Client, procedure: &str) {
    let request = caller.call(procedure, Payload::args(vec![Value::from("sentinel")]));
    let inv = invocation(callee);
    assert_eq!(args(&inv.payload), vec![Value::from("sentinel")], "the callee's next message is the sentinel");
    callee.yield_(inv.request, Dict::new(), Payload::args(vec![Value::from("sentinel back")]));
    let res = result(caller);
    assert_eq!(res.request, request, "the caller's next message is the sentinel's RESULT");
    assert_eq!(args(&res.payload), vec![Value::from("sentinel back")]);
}

/// A fresh caller and callee, between the first and the last shard, can still call.
fn assert_healthy(r: &TestRouter, tag: &str) {
    let procedure = format!("com.test.adv.healthy.{tag}.s{}", r.shards);
    let mut e = Client::join(r, On::Last, Kind::RawTcp, Serializer::Cbor);
    e.register(&procedure, Dict::new()).unwrap();
    let mut c = Client::join(r, On::First, Kind::WebSocket, Serializer::Json);
    round_trip(&mut c, &mut e, &procedure);
}

// Hand-written encodings, independent of the project's codec. The binary ones are written for
// the small ids a fresh session uses (MessagePack positive fixint < 128, CBOR direct < 24).

fn small_msgpack(n: Id) -> u8 {
    assert!(n.get() < 128, "hand-written MessagePack needs a small id, got {n}");
    n.get() as u8
}

fn small_cbor(n: Id) -> u8 {
    assert!(n.get() < 24, "hand-written CBOR needs a small id, got {n}");
    n.get() as u8
}

/// `[INTERRUPT, request, {"mode": mode}]` in `ser`.
fn interrupt_wire(ser: Serializer, request: Id, mode: &str) -> Vec<u8> {
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
fn progressive_wire(ser: Serializer, code: u8, request: Id) -> Vec<u8> {
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
fn show(ser: Serializer, bytes: &[u8]) -> String {
    match ser {
        Serializer::Json => String::from_utf8_lossy(bytes).into_owned(),
        _ => format!("{bytes:02x?}"),
    }
}

fn assert_wire(ser: Serializer, got: Option<bytes::Bytes>, expected: &[u8]) {
    let got = got.expect("a message");
    assert_eq!(show(ser, &got), show(ser, expected));
}

// ---------------------------------------------------------------------------------------------
// Progressive call results

#[test]
fn progressive_results_arrive_in_order_before_the_final_result() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.progress", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        let req = c.call_with(&procedure, Payload::Empty, Dict::new().with("receive_progress", true));
        let inv = invocation(&mut e);
        assert_eq!(inv.details.get_bool("receive_progress"), Some(true));
        // The first progressive result on raw bytes, both ways.
        e.send_bytes(&progressive_wire(ser, 70, inv.request));
        assert_wire(ser, c.recv_bytes(), &progressive_wire(ser, 50, req));
        for i in 1..4u64 {
            e.yield_(inv.request, progress(), Payload::args(vec![Value::UInt(i)]));
            let res = result(&mut c);
            assert_eq!((res.request, res.details.get_bool("progress")), (req, Some(true)));
            assert_eq!(args(&res.payload), vec![Value::UInt(i)]);
        }
        e.yield_(inv.request, Dict::new(), Payload::args(vec![Value::from("done")]));
        let res = result(&mut c);
        assert_eq!((res.request, res.details.get("progress")), (req, None), "the final RESULT is not progressive");
        assert_eq!(args(&res.payload), vec![Value::from("done")]);
        round_trip(&mut c, &mut e, &procedure);
    });
}

#[test]
fn progressive_results_are_offered_only_to_a_callee_that_announced_them_and_call_canceling() {
    matrix(|r, kind, ser| {
        // Announcing progressive results without call canceling counts as not announcing them.
        for (i, features) in [&["callee.progressive_call_results"][..], &[]].into_iter().enumerate() {
            let procedure = uri(&format!("adv.noprogress{i}"), kind, ser, r);
            let mut e = Client::join_with(r, On::Last, kind, ser, features);
            e.register(&procedure, Dict::new()).unwrap();
            let mut c = caller(r, kind, ser);
            let req = c.call_with(&procedure, Payload::Empty, Dict::new().with("receive_progress", true));
            let inv = invocation(&mut e);
            assert_eq!(inv.details.get("receive_progress"), None, "{features:?}");
            // A progressive result nobody asked for is dropped: the final one arrives first.
            e.yield_(inv.request, progress(), Payload::args(vec![Value::UInt(1)]));
            e.yield_(inv.request, Dict::new(), Payload::args(vec![Value::UInt(2)]));
            let res = result(&mut c);
            assert_eq!((res.request, res.details.get("progress")), (req, None));
            assert_eq!(args(&res.payload), vec![Value::UInt(2)]);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Progressive call invocations

#[test]
fn progressive_calls_stream_into_one_invocation_until_the_final_call() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.upload", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        let req = c.call_with(&procedure, Payload::args(vec![Value::UInt(0)]), progress());
        let first = invocation(&mut e);
        assert_eq!(first.details.get_bool("progress"), Some(true));
        assert_eq!(args(&first.payload), vec![Value::UInt(0)]);
        for (i, more) in [(1u64, true), (2, true), (3, false)] {
            let options = if more { progress() } else { Dict::new() };
            let payload = Payload::args(vec![Value::UInt(i)]);
            c.send(&Message::Call(m::Call { request: req, options, procedure: procedure.clone(), payload }));
            let inv = invocation(&mut e);
            assert_eq!(inv.request, first.request, "one invocation for the whole stream");
            assert_eq!(inv.details.get_bool("progress"), more.then_some(true));
            assert_eq!(args(&inv.payload), vec![Value::UInt(i)]);
        }
        e.yield_(first.request, Dict::new(), Payload::args(vec![Value::from("ok")]));
        let res = result(&mut c);
        assert_eq!((res.request, args(&res.payload)), (req, vec![Value::from("ok")]));
        // A continuation of the finished call is dropped: no INVOCATION, no answer.
        let late = m::Call { request: req, options: progress(), procedure: procedure.clone(), payload: Payload::Empty };
        c.send(&Message::Call(late));
        round_trip(&mut c, &mut e, &procedure);
    });
}

#[test]
fn a_progressive_call_from_a_caller_that_did_not_announce_it_is_a_protocol_violation() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.upload_unannounced", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut plain = Client::join(r, On::First, kind, ser);
        plain.call_with(&procedure, Payload::args(vec![Value::UInt(0)]), progress());
        aborted(&mut plain);
        let mut c = caller(r, kind, ser);
        round_trip(&mut c, &mut e, &procedure);
    });
}

#[test]
fn a_progressive_call_to_a_callee_without_the_feature_gets_feature_not_supported() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.upload_plain_callee", kind, ser, r);
        let mut e = Client::join(r, On::Last, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        let req = c.call_with(&procedure, Payload::args(vec![Value::UInt(0)]), progress());
        let err = call_error(&mut c);
        assert_eq!((err.request, err.error.as_str()), (req, "wamp.error.feature_not_supported"));
        round_trip(&mut c, &mut e, &procedure);
    });
}

// ---------------------------------------------------------------------------------------------
// Call canceling

#[test]
fn cancel_skip_errors_at_once_sends_no_interrupt_and_drops_the_late_yield() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.skip", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        let req = c.call(&procedure, Payload::Empty);
        let inv = invocation(&mut e);
        c.cancel(req, Some("skip"));
        let err = call_error(&mut c);
        assert_eq!((err.request, err.error.as_str()), (req, CANCELED));
        // The late YIELD is no violation and reaches nobody; the callee got no INTERRUPT.
        e.yield_(inv.request, Dict::new(), Payload::args(vec![Value::from("late")]));
        round_trip(&mut c, &mut e, &procedure);
    });
}

#[test]
fn cancel_kill_interrupts_the_callee_and_the_caller_gets_the_callee_answer() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.kill", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        let req = c.call(&procedure, Payload::Empty);
        let inv = invocation(&mut e);
        c.cancel(req, Some("kill"));
        assert_wire(ser, e.recv_bytes(), &interrupt_wire(ser, inv.request, "kill"));
        c.cancel(req, Some("kill"));
        invocation_error(&mut e, inv.request, CANCELED, Payload::args(vec![Value::from("stopped by the callee")]));
        // The caller's first answer is the callee's (kill waits for it), and its only one.
        let err = call_error(&mut c);
        assert_eq!((err.request, err.error.as_str()), (req, CANCELED));
        assert_eq!(args(&err.payload), vec![Value::from("stopped by the callee")]);
        // The second CANCEL sent no second INTERRUPT.
        round_trip(&mut c, &mut e, &procedure);
    });
}

#[test]
fn cancel_killnowait_errors_at_once_and_interrupts_the_callee() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.killnowait", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        let req = c.call(&procedure, Payload::Empty);
        let inv = invocation(&mut e);
        c.cancel(req, Some("killnowait"));
        let err = call_error(&mut c);
        assert_eq!((err.request, err.error.as_str()), (req, CANCELED));
        assert_wire(ser, e.recv_bytes(), &interrupt_wire(ser, inv.request, "killnowait"));
        // The callee's answer after the INTERRUPT is dropped.
        invocation_error(&mut e, inv.request, CANCELED, Payload::Empty);
        round_trip(&mut c, &mut e, &procedure);
    });
}

#[test]
fn cancel_of_a_call_to_a_callee_without_call_canceling_acts_as_skip() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.cannot_cancel", kind, ser, r);
        let mut e = Client::join(r, On::Last, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        for mode in ["kill", "killnowait"] {
            let req = c.call(&procedure, Payload::Empty);
            let inv = invocation(&mut e);
            c.cancel(req, Some(mode));
            let err = call_error(&mut c);
            assert_eq!((err.request, err.error.as_str()), (req, CANCELED), "{mode}");
            e.yield_(inv.request, Dict::new(), Payload::Empty);
            // No INTERRUPT reached the callee, the late result reached nobody.
            round_trip(&mut c, &mut e, &procedure);
        }
    });
}

#[test]
fn cancel_racing_a_yield_gives_the_caller_exactly_one_answer() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.race", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        for mode in ["skip", "kill", "killnowait"] {
            for _ in 0..3 {
                let req = c.call(&procedure, Payload::Empty);
                let inv = invocation(&mut e);
                e.yield_(inv.request, Dict::new(), Payload::args(vec![Value::from("won")]));
                c.cancel(req, Some(mode));
                match c.recv() {
                    Some(Message::Result(res)) if res.request == req => {
                        assert_eq!(args(&res.payload), vec![Value::from("won")]);
                    }
                    Some(Message::Error(err)) if err.request == req && mode != "kill" => {
                        assert_eq!(err.error, CANCELED);
                    }
                    other => panic!("{mode}: expected RESULT or (not with kill) ERROR canceled, got {other:?}"),
                }
                // Exactly one: the caller's next answer is the sentinel's. The callee may have
                // been interrupted if the CANCEL overtook its YIELD.
                let sentinel = c.call(&procedure, Payload::args(vec![Value::from("sentinel")]));
                let next = loop {
                    match e.recv() {
                        Some(Message::Interrupt(i)) => {
                            assert_ne!(mode, "skip");
                            assert_eq!(i.request, inv.request);
                        }
                        Some(Message::Invocation(next)) => break next,
                        other => panic!("expected INTERRUPT or INVOCATION, got {other:?}"),
                    }
                };
                e.yield_(next.request, Dict::new(), Payload::Empty);
                assert_eq!(result(&mut c).request, sentinel, "{mode}: a second answer to the raced call");
            }
        }
    });
}

#[test]
fn cancel_with_an_unknown_mode_gets_invalid_argument_and_the_call_goes_on() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.badmode", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        // A CANCEL of a call that does not exist is ignored (the next reply is the one below).
        c.cancel(Id::new(999_999).unwrap(), Some("kill"));
        let req = c.call(&procedure, Payload::Empty);
        let inv = invocation(&mut e);
        c.cancel(req, Some("explode"));
        match c.recv() {
            Some(Message::Error(err)) => {
                assert_eq!((err.request_type, err.request), (codes::CANCEL, req));
                assert_eq!(err.error, "wamp.error.invalid_argument");
            }
            other => panic!("expected ERROR for CANCEL, got {other:?}"),
        }
        e.yield_(inv.request, Dict::new(), Payload::args(vec![Value::from("still on")]));
        let res = result(&mut c);
        assert_eq!((res.request, args(&res.payload)), (req, vec![Value::from("still on")]));
        round_trip(&mut c, &mut e, &procedure);
    });
}

// ---------------------------------------------------------------------------------------------
// Call timeout

#[test]
fn a_call_past_its_timeout_gets_wamp_error_timeout() {
    matrix_parallel(|r, kind, ser| {
        let procedure = uri("adv.timeout", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        let start = Instant::now();
        let req = c.call_with(&procedure, Payload::Empty, timeout_ms(200));
        let inv = invocation(&mut e);
        assert_eq!(inv.details.get("timeout"), None, "the dealer runs the timer");
        let err = call_error(&mut c);
        assert_eq!((err.request, err.error.as_str()), (req, "wamp.error.timeout"));
        assert!(start.elapsed() >= Duration::from_millis(190), "timed out after {:?}", start.elapsed());
        let int = interrupt(&mut e);
        assert_eq!((int.request, int.options.get_str("mode")), (inv.request, Some("killnowait")));
        // The late YIELD is no violation and reaches nobody.
        e.yield_(inv.request, Dict::new(), Payload::Empty);
        round_trip(&mut c, &mut e, &procedure);
    });
}

#[test]
fn each_progressive_result_restarts_the_call_timeout() {
    matrix_parallel(|r, kind, ser| {
        let procedure = uri("adv.timeout_progress", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        let options = Dict::new().with("receive_progress", true).with("timeout", 500u64);
        let req = c.call_with(&procedure, Payload::Empty, options);
        let inv = invocation(&mut e);
        // 4 x 150 ms: more than the timeout in all, never the timeout between two results.
        for i in 0..4u64 {
            std::thread::sleep(Duration::from_millis(150));
            e.yield_(inv.request, progress(), Payload::args(vec![Value::UInt(i)]));
            let res = result(&mut c);
            assert_eq!((res.request, res.details.get_bool("progress")), (req, Some(true)), "result {i}");
        }
        let last = Instant::now();
        let err = call_error(&mut c);
        assert_eq!((err.request, err.error.as_str()), (req, "wamp.error.timeout"));
        assert!(last.elapsed() >= Duration::from_millis(450), "timed out {:?} after the last result", last.elapsed());
        assert_eq!(interrupt(&mut e).options.get_str("mode"), Some("killnowait"));
    });
}

#[test]
fn a_forward_timeout_registration_gets_the_timeout_and_the_dealer_runs_no_timer() {
    matrix_parallel(|r, kind, ser| {
        let forwarded = uri("adv.forward_timeout", kind, ser, r);
        let timed = uri("adv.dealer_timeout", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&forwarded, Dict::new().with("forward_timeout", true)).unwrap();
        e.register(&timed, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        let req1 = c.call_with(&forwarded, Payload::Empty, timeout_ms(100));
        let inv1 = invocation(&mut e);
        assert_eq!(inv1.details.get("timeout"), Some(&Value::UInt(100)));
        // A dealer timer for the first call would fire before this one, on the same shard.
        let req2 = c.call_with(&timed, Payload::Empty, timeout_ms(300));
        let inv2 = invocation(&mut e);
        let err = call_error(&mut c);
        assert_eq!((err.request, err.error.as_str()), (req2, "wamp.error.timeout"));
        assert_eq!(interrupt(&mut e).request, inv2.request);
        // The callee runs the first call's timer and answers it.
        invocation_error(&mut e, inv1.request, "wamp.error.timeout", Payload::Empty);
        let err = call_error(&mut c);
        assert_eq!((err.request, err.error.as_str()), (req1, "wamp.error.timeout"));
    });
}

#[test]
fn a_timeout_of_the_wrong_type_gets_invalid_argument() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.badtimeout", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        for bad in [Value::from("10"), Value::Int(-5), Value::Float(1.5), Value::Bool(true)] {
            let req = c.call_with(&procedure, Payload::Empty, Dict::new().with("timeout", bad.clone()));
            let err = call_error(&mut c);
            assert_eq!((err.request, err.error.as_str()), (req, "wamp.error.invalid_argument"), "{bad:?}");
        }
        // None of them reached the callee.
        round_trip(&mut c, &mut e, &procedure);
    });
}

// ---------------------------------------------------------------------------------------------
// Caller identification

fn assert_disclosed(inv: &m::Invocation, c: &Client) {
    assert_eq!(inv.details.get("caller"), Some(&Value::UInt(c.session.get())));
    assert_eq!(inv.details.get_str("caller_authid"), Some(c.authid.as_str()));
    assert_eq!(inv.details.get_str("caller_authrole"), Some("anonymous"));
}

#[test]
fn the_caller_is_not_disclosed_by_default() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.anonymous", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        c.call(&procedure, Payload::Empty);
        let inv = invocation(&mut e);
        for key in ["caller", "caller_authid", "caller_authrole"] {
            assert_eq!(inv.details.get(key), None, "{key}");
        }
        c.call_with(&procedure, Payload::Empty, Dict::new().with("disclose_me", false));
        let inv = invocation(&mut e);
        assert_eq!(inv.details.get("caller"), None, "disclose_me: false");
    });
}

#[test]
fn the_caller_is_disclosed_when_it_asks_with_disclose_me() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.disclose_me", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        assert!(!c.authid.is_empty());
        c.call_with(&procedure, Payload::Empty, Dict::new().with("disclose_me", true));
        assert_disclosed(&invocation(&mut e), &c);
    });
}

#[test]
fn the_caller_is_disclosed_to_a_registration_with_disclose_caller() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.disclose_caller", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new().with("disclose_caller", true)).unwrap();
        let mut c = caller(r, kind, ser);
        c.call(&procedure, Payload::Empty);
        assert_disclosed(&invocation(&mut e), &c);
    });
}

// ---------------------------------------------------------------------------------------------
// Shared registrations

/// Registers `n` callees of `procedure` with `invoke`, on the first and the last shard in turn;
/// they share one registration id.
fn shared(r: &TestRouter, kind: Kind, ser: Serializer, procedure: &str, invoke: &str, n: usize) -> Vec<Client> {
    let mut callees = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let on = if i % 2 == 0 { On::First } else { On::Last };
        let mut e = Client::join_with(r, on, kind, ser, &CALLEE);
        ids.push(e.register(procedure, Dict::new().with("invoke", invoke)).unwrap());
        callees.push(e);
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "one registration id: {ids:?}");
    callees
}

/// `c` calls `procedure` and callee `expected` must get the INVOCATION; it answers.
fn served_by(c: &mut Client, procedure: &str, callees: &mut [Client], expected: usize) {
    let tag = Value::UInt(c.request().get());
    let request = c.call(procedure, Payload::args(vec![tag.clone()]));
    let inv = invocation(&mut callees[expected]);
    assert_eq!(args(&inv.payload), vec![tag], "callee {expected} got this call");
    callees[expected].yield_(inv.request, Dict::new(), Payload::args(vec![Value::UInt(expected as u64)]));
    let res = result(c);
    assert_eq!((res.request, args(&res.payload)), (request, vec![Value::UInt(expected as u64)]));
}

/// Makes `leaver` leave, then registers one more callee (on the first shard) and returns it: its
/// REGISTERED means every shard applied the change, and so the leave queued before it.
fn leave_and_settle(
    r: &TestRouter,
    kind: Kind,
    ser: Serializer,
    procedure: &str,
    invoke: &str,
    leaver: &mut Client,
) -> Client {
    leaver.goodbye();
    let mut e = Client::join_with(r, On::First, kind, ser, &CALLEE);
    e.register(procedure, Dict::new().with("invoke", invoke)).unwrap();
    e
}

#[test]
fn round_robin_cycles_through_callees_on_both_shards() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.rr", kind, ser, r);
        let mut callees = shared(r, kind, ser, &procedure, "roundrobin", 4);
        let mut c = caller(r, kind, ser);
        for expected in [0, 1, 2, 3, 0, 1, 2, 3] {
            served_by(&mut c, &procedure, &mut callees, expected);
        }
    });
}

#[test]
fn round_robin_keeps_one_cursor_per_caller_shard() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.rr_cursor", kind, ser, r);
        let mut callees = shared(r, kind, ser, &procedure, "roundrobin", 4);
        let mut a = caller(r, kind, ser);
        let mut b = Client::join_with(r, On::Last, kind, ser, &CALLER);
        served_by(&mut a, &procedure, &mut callees, 0);
        served_by(&mut a, &procedure, &mut callees, 1);
        // On two shards the callers have a cursor each; on one shard they share it.
        let (b_first, a_next, b_next) = if r.shards > 1 { (0, 2, 1) } else { (2, 3, 0) };
        served_by(&mut b, &procedure, &mut callees, b_first);
        served_by(&mut a, &procedure, &mut callees, a_next);
        served_by(&mut b, &procedure, &mut callees, b_next);
    });
}

#[test]
fn round_robin_skips_a_callee_that_left_and_takes_in_one_that_came() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.rr_leave", kind, ser, r);
        let mut callees = shared(r, kind, ser, &procedure, "roundrobin", 4);
        let mut c = caller(r, kind, ser);
        served_by(&mut c, &procedure, &mut callees, 0);
        served_by(&mut c, &procedure, &mut callees, 1);
        let newcomer = leave_and_settle(r, kind, ser, &procedure, "roundrobin", &mut callees[2]);
        callees.push(newcomer);
        for expected in [3, 4, 0, 1, 3, 4] {
            served_by(&mut c, &procedure, &mut callees, expected);
        }
    });
}

#[test]
fn first_and_last_invoke_the_oldest_and_the_newest_callee() {
    matrix(|r, kind, ser| {
        let first = uri("adv.first", kind, ser, r);
        let last = uri("adv.last", kind, ser, r);
        let mut firsts = shared(r, kind, ser, &first, "first", 3);
        let mut lasts = shared(r, kind, ser, &last, "last", 3);
        let mut c = caller(r, kind, ser);
        for _ in 0..3 {
            served_by(&mut c, &first, &mut firsts, 0);
            served_by(&mut c, &last, &mut lasts, 2);
        }
        let newcomer = leave_and_settle(r, kind, ser, &first, "first", &mut firsts[0]);
        firsts.push(newcomer);
        served_by(&mut c, &first, &mut firsts, 1);
        let newcomer = leave_and_settle(r, kind, ser, &last, "last", &mut lasts[1]);
        lasts.push(newcomer);
        served_by(&mut c, &last, &mut lasts, 3);
    });
}

#[test]
fn random_invokes_every_callee_of_a_shared_registration() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.random", kind, ser, r);
        let callees = shared(r, kind, ser, &procedure, "random", 3);
        // Each callee answers with its index on its own thread, until its own stop procedure.
        let handles: Vec<_> = callees
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                let stop = format!("{procedure}.stop{i}");
                e.register(&stop, Dict::new()).unwrap();
                std::thread::spawn(move || loop {
                    let inv = invocation(&mut e);
                    e.yield_(inv.request, Dict::new(), Payload::args(vec![Value::UInt(i as u64)]));
                    if args(&inv.payload) == vec![Value::from("stop")] {
                        return;
                    }
                })
            })
            .collect();
        let mut c = caller(r, kind, ser);
        let mut seen = [0usize; 3];
        for _ in 0..60 {
            c.call(&procedure, Payload::Empty);
            let index = match args(&result(&mut c).payload).as_slice() {
                [Value::UInt(i)] => *i as usize,
                other => panic!("expected a callee index, got {other:?}"),
            };
            seen[index] += 1;
        }
        for i in 0..3 {
            c.call(&format!("{procedure}.stop{i}"), Payload::args(vec![Value::from("stop")]));
            assert_eq!(args(&result(&mut c).payload), vec![Value::UInt(i as u64)]);
        }
        for h in handles {
            h.join().unwrap();
        }
        assert!(seen.iter().all(|n| *n > 0), "random reaches every callee: {seen:?}");
    });
}

#[test]
fn a_registration_with_a_conflicting_invocation_policy_gets_procedure_already_exists() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.conflict", kind, ser, r);
        let _callees = shared(r, kind, ser, &procedure, "roundrobin", 2);
        for on in [On::First, On::Last] {
            let mut other = Client::join_with(r, on, kind, ser, &CALLEE);
            for options in [Dict::new().with("invoke", "random"), Dict::new().with("invoke", "single"), Dict::new()] {
                let refused = other.register(&procedure, options.clone());
                assert_eq!(refused, Err("wamp.error.procedure_already_exists".into()), "{options:?}");
            }
            let bad = other.register(&uri("adv.conflict_bad", kind, ser, r), Dict::new().with("invoke", "sometimes"));
            assert_eq!(bad, Err("wamp.error.invalid_argument".into()));
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Call reroute

#[test]
fn an_unavailable_callee_is_rerouted_to_the_next() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.reroute", kind, ser, r);
        let mut callees = shared(r, kind, ser, &procedure, "roundrobin", 3);
        let mut c = caller(r, kind, ser);
        let req = c.call(&procedure, Payload::args(vec![Value::UInt(7)]));
        let inv = invocation(&mut callees[0]);
        invocation_error(&mut callees[0], inv.request, "wamp.error.unavailable", Payload::Empty);
        let inv = invocation(&mut callees[1]);
        assert_eq!(args(&inv.payload), vec![Value::UInt(7)], "the next callee gets the same call");
        callees[1].yield_(inv.request, Dict::new(), Payload::args(vec![Value::from("from 1")]));
        let res = result(&mut c);
        assert_eq!((res.request, args(&res.payload)), (req, vec![Value::from("from 1")]));
    });
}

#[test]
fn a_call_every_callee_refuses_as_unavailable_gets_no_available_callee() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.all_busy", kind, ser, r);
        let mut callees = shared(r, kind, ser, &procedure, "roundrobin", 3);
        let mut c = caller(r, kind, ser);
        let req = c.call(&procedure, Payload::args(vec![Value::UInt(7)]));
        for (i, e) in callees.iter_mut().enumerate() {
            let inv = invocation(e);
            assert_eq!(args(&inv.payload), vec![Value::UInt(7)], "callee {i} gets the same call");
            invocation_error(e, inv.request, "wamp.error.unavailable", Payload::Empty);
        }
        // The caller's first answer is the final one.
        let err = call_error(&mut c);
        assert_eq!((err.request, err.error.as_str()), (req, "wamp.error.no_available_callee"));
        // The next call starts a new round.
        served_by(&mut c, &procedure, &mut callees, 0);
    });
}

#[test]
fn an_unavailable_single_callee_gives_no_available_callee() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.one_busy", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        let req = c.call(&procedure, Payload::Empty);
        let inv = invocation(&mut e);
        invocation_error(&mut e, inv.request, "wamp.error.unavailable", Payload::Empty);
        let err = call_error(&mut c);
        assert_eq!((err.request, err.error.as_str()), (req, "wamp.error.no_available_callee"));
    });
}

// ---------------------------------------------------------------------------------------------
// Payload passthru mode

#[test]
fn ppt_options_pass_through_untouched() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.ppt", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        let blob = Value::Bytes(vec![0, 159, 146, 150, 255]);
        let there = [
            ("ppt_scheme", "x_custom"),
            ("ppt_serializer", "cbor"),
            ("ppt_cipher", "xsalsa20poly1305"),
            ("ppt_keyid", "k1"),
        ];
        let options = there.iter().fold(Dict::new(), |d, (k, v)| d.with(*k, *v));
        let req = c.call_with(&procedure, Payload::args(vec![blob.clone()]), options);
        let inv = invocation(&mut e);
        for (k, v) in there {
            assert_eq!(inv.details.get_str(k), Some(v), "INVOCATION.Details.{k}");
        }
        assert_eq!(args(&inv.payload), vec![blob.clone()]);
        let back = [("ppt_scheme", "x_custom"), ("ppt_serializer", "native"), ("ppt_keyid", "k2 ✓")];
        let options = back.iter().fold(Dict::new(), |d, (k, v)| d.with(*k, *v));
        e.yield_(inv.request, options, Payload::args(vec![blob.clone()]));
        let res = result(&mut c);
        assert_eq!(res.request, req);
        for (k, v) in back {
            assert_eq!(res.details.get_str(k), Some(v), "RESULT.Details.{k}");
        }
        assert_eq!(res.details.get("ppt_cipher"), None);
        assert_eq!(args(&res.payload), vec![blob]);
    });
}

#[test]
fn ppt_from_a_caller_that_did_not_announce_it_is_a_protocol_violation() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.ppt_caller", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut plain = Client::join(r, On::First, kind, ser);
        plain.call_with(&procedure, Payload::Empty, Dict::new().with("ppt_scheme", "mqtt"));
        aborted(&mut plain);
        let mut c = caller(r, kind, ser);
        round_trip(&mut c, &mut e, &procedure);
    });
}

#[test]
fn ppt_to_a_callee_without_the_feature_gets_feature_not_supported() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.ppt_callee", kind, ser, r);
        let mut e = Client::join(r, On::Last, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        let req = c.call_with(&procedure, Payload::Empty, Dict::new().with("ppt_scheme", "mqtt"));
        let err = call_error(&mut c);
        assert_eq!((err.request, err.error.as_str()), (req, "wamp.error.feature_not_supported"));
        round_trip(&mut c, &mut e, &procedure);
    });
}

// ---------------------------------------------------------------------------------------------
// Bad input and limits

#[test]
fn a_yield_for_a_finished_invocation_is_a_protocol_violation() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.yield_twice", kind, ser, r);
        let mut e = callee(r, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = caller(r, kind, ser);
        c.call(&procedure, Payload::Empty);
        let inv = e.echo_one();
        result(&mut c);
        e.yield_(inv.request, Dict::new(), Payload::Empty);
        aborted(&mut e);
        // The callee's registration went with it; a new callee takes its place.
        let mut again = callee(r, kind, ser);
        again.register(&procedure, Dict::new()).unwrap();
        round_trip(&mut c, &mut again, &procedure);
    });
}

#[test]
fn a_callee_that_never_answers_bounds_the_router_at_its_invocation_limit() {
    matrix(|r, kind, ser| {
        let limit = MAX_INVOCATIONS_PER_SESSION;
        let procedure = uri("adv.never", kind, ser, r);
        let mut e = Client::join(r, On::Last, kind, ser);
        e.register(&procedure, Dict::new()).unwrap();
        // Two callers on different shards, `limit` calls each (the caller limit is not reached).
        let mut a = Client::join(r, On::First, kind, ser);
        let mut b = Client::join(r, On::Last, kind, ser);
        let a_requests: Vec<Id> = (0..limit).map(|_| a.call(&procedure, Payload::Empty)).collect();
        let mut first = None;
        for i in 1..=limit as u64 {
            let inv = invocation(&mut e);
            assert_eq!(inv.request.get(), i);
            first.get_or_insert(inv.request);
        }
        for _ in 0..limit {
            b.call(&procedure, Payload::Empty);
        }
        for _ in 0..limit {
            let err = call_error(&mut b);
            assert_eq!(err.error, "wampyard.error.limit_reached");
            let first_arg = args(&err.payload).first().and_then(|v| v.as_str().map(str::to_owned));
            assert!(
                first_arg.as_deref().is_some_and(|s| s.contains("limits.max_invocations_per_session")),
                "the first argument names the limit: {first_arg:?}"
            );
        }
        // One answer frees one place: the next call reaches the callee, as its next message.
        e.yield_(first.unwrap(), Dict::new(), Payload::Empty);
        assert_eq!(result(&mut a).request, a_requests[0]);
        let req = b.call(&procedure, Payload::args(vec![Value::from("after")]));
        let inv = invocation(&mut e);
        assert_eq!((inv.request.get(), args(&inv.payload)), (limit as u64 + 1, vec![Value::from("after")]));
        e.yield_(inv.request, Dict::new(), Payload::Empty);
        assert_eq!(result(&mut b).request, req);
        assert_healthy(r, &format!("never.{kind:?}.{}", ser.name()));
    });
}

#[test]
fn a_caller_past_its_call_limit_gets_limit_reached_naming_max_calls_per_session() {
    matrix(|r, kind, ser| {
        let limit = MAX_CALLS_PER_SESSION;
        let p1 = uri("adv.callcap1", kind, ser, r);
        let p2 = uri("adv.callcap2", kind, ser, r);
        let mut e1 = Client::join(r, On::Last, kind, ser);
        let mut e2 = Client::join(r, On::First, kind, ser);
        e1.register(&p1, Dict::new()).unwrap();
        e2.register(&p2, Dict::new()).unwrap();
        let mut c = Client::join(r, On::First, kind, ser);
        let first = c.call(&p1, Payload::Empty);
        for i in 1..limit {
            c.call(if i % 2 == 0 { &p1 } else { &p2 }, Payload::Empty);
        }
        let inv1: Vec<m::Invocation> = (0..limit / 2).map(|_| invocation(&mut e1)).collect();
        for _ in 0..limit / 2 {
            invocation(&mut e2);
        }
        for p in [&p1, &p2] {
            let req = c.call(p, Payload::Empty);
            let err = call_error(&mut c);
            assert_eq!((err.request, err.error.as_str()), (req, "wampyard.error.limit_reached"));
            let first_arg = args(&err.payload).first().and_then(|v| v.as_str().map(str::to_owned));
            assert!(
                first_arg.as_deref().is_some_and(|s| s.contains("limits.max_calls_per_session")),
                "the first argument names the limit: {first_arg:?}"
            );
        }
        e1.yield_(inv1[0].request, Dict::new(), Payload::Empty);
        assert_eq!(result(&mut c).request, first);
        let req = c.call(&p1, Payload::args(vec![Value::from("after")]));
        let inv = invocation(&mut e1);
        assert_eq!(args(&inv.payload), vec![Value::from("after")]);
        e1.yield_(inv.request, Dict::new(), Payload::Empty);
        assert_eq!(result(&mut c).request, req);
    });
}

#[test]
fn a_request_id_out_of_sequence_is_a_protocol_violation_in_a_sequential_realm() {
    matrix(|r, kind, ser| {
        let procedure = uri("adv.sequence", kind, ser, r);
        let mut e = Client::join_realm(r, On::Last, kind, ser, "sequential", &[]);
        e.register(&procedure, Dict::new()).unwrap();
        let mut c = Client::join_realm(r, On::First, kind, ser, "sequential", &[]);
        for _ in 0..2 {
            c.call(&procedure, Payload::Empty);
            e.echo_one();
            result(&mut c);
        }
        c.request();
        c.call(&procedure, Payload::Empty);
        aborted(&mut c);
        // realm1 takes any request ids.
        let mut loose = Client::join(r, On::First, kind, ser);
        for request in [1000, 7] {
            let request = Id::new(request).unwrap();
            let call = m::Call {
                request,
                options: Dict::new(),
                procedure: uri("adv.nobody", kind, ser, r),
                payload: Payload::Empty,
            };
            loose.send(&Message::Call(call));
            let err = call_error(&mut loose);
            assert_eq!((err.request, err.error.as_str()), (request, "wamp.error.no_such_procedure"));
        }
    });
}
