//! Advanced Profile RPC over real sockets, continued (`rpc_advanced.rs` has the rest): shared
//! registrations and reroute with callees on both shards, payload passthru mode, and the bad input
//! and limits of calls, across every transport x serializer, one shard and two. The simulator's
//! test of the same behaviour is `src/router/tests/rpc.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::rpc::*;
use common::*;
use wampyard::codec::{Payload, Serializer};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Id, Message, Value};

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
