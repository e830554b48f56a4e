//! Advanced Profile RPC over real sockets, across every transport x serializer, one shard and two,
//! with caller and callee on different shards: progressive call results and invocations, call
//! canceling, call timeout and caller identification (`rpc_shared.rs` has shared registrations,
//! reroute, payload passthru and the limits). The simulator's test of the same behaviour is
//! `src/router/tests/rpc.rs`.
//!
//! "Nothing else arrived" is shown by a later message wherever one can stand in as proof: a
//! sentinel call ([`round_trip`]) travels the same ordered paths as anything the router might
//! have sent in error, so its INVOCATION and RESULT arriving next proves nothing came before.
//! Some replies are compared byte for byte with hand-written encodings, so a bug shared by the
//! project's encoder and decoder cannot hide.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::rpc::*;
use common::*;
use wampyard::codec::Payload;
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Id, Message, Value};

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
