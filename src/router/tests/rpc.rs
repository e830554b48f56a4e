//! Advanced Profile RPC in the simulator: progressive results and invocations, cancel, timeout,
//! caller disclosure, shared registrations and reroute, payload passthru, request-id checks and
//! the per-session call limits, each for one to three shards with caller and callee on different
//! shards, and the calls the router makes itself; after every run all call tables are empty
//! (`matrix` and `Sim::finish` check that).

use std::time::Duration;

use super::sim::*;
use crate::codec::Payload;
use crate::config::Limits;
use crate::router::{CallOutcome, Token};
use crate::wamp::message::{self as m, code};
use crate::wamp::{Dict, ErrorUri, Id, Message, Value};

/// Everything a caller can announce.
const CALLER: [&str; 4] = [
    "caller.progressive_call_results",
    "caller.call_canceling",
    "caller.progressive_call_invocations",
    "caller.payload_passthru_mode",
];

/// Everything a callee can announce.
const CALLEE: [&str; 5] = [
    "callee.progressive_call_results",
    "callee.call_canceling",
    "callee.progressive_call_invocations",
    "callee.payload_passthru_mode",
    "callee.caller_identification",
];

fn caller(sim: &mut Sim, shard: usize, ser: crate::codec::Serializer) -> Client {
    sim.join_with(shard, ser, "realm1", &CALLER)
}

fn callee(sim: &mut Sim, shard: usize, ser: crate::codec::Serializer) -> Client {
    sim.join_with(shard, ser, "realm1", &CALLEE)
}

fn invocation(c: &Client) -> m::Invocation {
    match one(c) {
        Message::Invocation(i) => i,
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

fn interrupt(c: &Client) -> m::Interrupt {
    match one(c) {
        Message::Interrupt(i) => i,
        other => panic!("expected INTERRUPT, got {other:?}"),
    }
}

fn error(c: &Client) -> m::Error {
    match one(c) {
        Message::Error(e) => e,
        other => panic!("expected ERROR, got {other:?}"),
    }
}

fn result(c: &Client) -> m::CallResult {
    match one(c) {
        Message::Result(r) => r,
        other => panic!("expected RESULT, got {other:?}"),
    }
}

fn yield_msg(request: Id, args: Vec<Value>, options: Dict) -> Message {
    Message::Yield(m::Yield { request, options, payload: Payload::args(args) })
}

fn invocation_error(request: Id, error: &str) -> Message {
    Message::Error(m::Error {
        request_type: code::INVOCATION,
        request,
        details: Dict::new(),
        error: error.into(),
        payload: Payload::Empty,
    })
}

fn cancel(request: Id, mode: &str) -> Message {
    Message::Cancel(m::Cancel { request, options: Dict::new().with("mode", mode) })
}

fn progress() -> Dict {
    Dict::new().with("progress", true)
}

#[test]
fn progressive_results_reach_the_caller_in_order_and_the_final_yield_ends_the_call() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.stream", "exact").unwrap();
        let req = sim.call_with(&mut c, "com.stream", vec![], Dict::new().with("receive_progress", true));
        let inv = invocation(&e);
        assert_eq!(inv.details.get_bool("receive_progress"), Some(true));
        for i in 0..3u64 {
            sim.send(&e, yield_msg(inv.request, vec![Value::UInt(i)], progress()));
            let r = result(&c);
            assert_eq!((r.request, r.details.get_bool("progress")), (req, Some(true)));
            assert_eq!(args_of(&r.payload), vec![Value::UInt(i)]);
        }
        sim.send(&e, yield_msg(inv.request, vec![Value::from("done")], Dict::new()));
        let r = result(&c);
        assert_eq!(r.details.get_bool("progress"), None);
        assert_eq!(args_of(&r.payload), vec![Value::from("done")]);
        sim.send(&e, yield_msg(inv.request, vec![], Dict::new()));
        let Message::Abort(a) = one(&e) else { panic!("a YIELD after the final one is unknown") };
        assert_eq!(a.reason, "wamp.error.protocol_violation");
    });
}

#[test]
fn progressive_results_are_not_offered_to_a_callee_without_the_feature_and_dropped_if_sent() {
    matrix(|sim, ser| {
        let mut e = sim.join(last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.plain", "exact").unwrap();
        sim.call_with(&mut c, "com.plain", vec![], Dict::new().with("receive_progress", true));
        let inv = invocation(&e);
        assert_eq!(inv.details.get("receive_progress"), None);
        sim.send(&e, yield_msg(inv.request, vec![Value::UInt(1)], progress()));
        assert!(recv(&c).is_empty(), "a progressive result nobody asked for is dropped");
        sim.send(&e, yield_msg(inv.request, vec![Value::UInt(2)], Dict::new()));
        assert_eq!(args_of(&result(&c).payload), vec![Value::UInt(2)]);
    });
}

#[test]
fn progressive_call_invocations_stream_into_one_invocation_until_the_final_call() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.upload", "exact").unwrap();
        let req = sim.call_with(&mut c, "com.upload", vec![Value::UInt(0)], progress());
        let first = invocation(&e);
        assert_eq!(first.details.get_bool("progress"), Some(true));
        for (i, more) in [(1u64, true), (2, false)] {
            let options = if more { progress() } else { Dict::new() };
            let call = m::Call {
                request: req,
                options,
                procedure: "com.upload".into(),
                payload: Payload::args(vec![Value::UInt(i)]),
            };
            sim.send(&c, Message::Call(call));
            let inv = invocation(&e);
            assert_eq!(inv.request, first.request, "one invocation for the whole stream");
            assert_eq!(inv.details.get_bool("progress"), more.then_some(true));
            assert_eq!(args_of(&inv.payload), vec![Value::UInt(i)]);
        }
        sim.send(&e, yield_msg(first.request, vec![Value::from("ok")], Dict::new()));
        assert_eq!(result(&c).request, req);
        let late =
            m::Call { request: req, options: progress(), procedure: "com.upload".into(), payload: Payload::Empty };
        sim.send(&c, Message::Call(late));
        assert!(recv(&c).is_empty() && recv(&e).is_empty(), "a continuation of a finished call is dropped");
    });
}

#[test]
fn a_progressive_call_from_a_caller_that_did_not_announce_it_is_a_protocol_violation() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = sim.join(0, ser);
        sim.register(&mut e, "com.upload", "exact").unwrap();
        sim.call_with(&mut c, "com.upload", vec![], progress());
        let Message::Abort(a) = one(&c) else { panic!("expected ABORT") };
        assert_eq!(a.reason, "wamp.error.protocol_violation");
        assert!(recv(&e).is_empty());
    });
}

#[test]
fn a_progressive_call_to_a_callee_without_the_feature_gets_feature_not_supported() {
    matrix(|sim, ser| {
        let mut e = sim.join(last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.upload", "exact").unwrap();
        let req = sim.call_with(&mut c, "com.upload", vec![], progress());
        let err = error(&c);
        assert_eq!((err.request, err.error.as_str()), (req, "wamp.error.feature_not_supported"));
        assert!(recv(&e).is_empty());
    });
}

#[test]
fn cancel_skip_answers_at_once_interrupts_nobody_and_drops_the_late_result() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.slow", "exact").unwrap();
        let req = sim.call(&mut c, "com.slow", vec![]);
        let inv = invocation(&e);
        sim.send(&c, cancel(req, "skip"));
        assert_eq!(error(&c).error, "wamp.error.canceled");
        assert!(recv(&e).is_empty(), "skip sends no INTERRUPT");
        sim.send(&e, yield_msg(inv.request, vec![], Dict::new()));
        assert!(recv(&c).is_empty(), "the late result is dropped");
        assert!(recv(&e).is_empty(), "and the late YIELD is no violation");
    });
}

#[test]
fn cancel_kill_interrupts_the_callee_and_the_caller_gets_its_answer() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.slow", "exact").unwrap();
        let req = sim.call(&mut c, "com.slow", vec![]);
        let inv = invocation(&e);
        sim.send(&c, cancel(req, "kill"));
        assert!(recv(&c).is_empty(), "kill waits for the callee");
        let int = interrupt(&e);
        assert_eq!((int.request, int.options.get_str("mode")), (inv.request, Some("kill")));
        sim.send(&c, cancel(req, "kill"));
        assert!(recv(&e).is_empty(), "a second CANCEL changes nothing");
        sim.send(&c, cancel(req, "killnowait"));
        assert!(recv(&c).is_empty() && recv(&e).is_empty(), "nor does one in another mode");
        sim.send(&e, invocation_error(inv.request, "wamp.error.canceled"));
        let err = error(&c);
        assert_eq!((err.request, err.error.as_str()), (req, "wamp.error.canceled"));
    });
}

#[test]
fn cancel_killnowait_answers_at_once_interrupts_and_drops_the_callee_answer() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.slow", "exact").unwrap();
        let req = sim.call(&mut c, "com.slow", vec![]);
        let inv = invocation(&e);
        sim.send(&c, cancel(req, "killnowait"));
        assert_eq!(error(&c).error, "wamp.error.canceled");
        assert_eq!(interrupt(&e).options.get_str("mode"), Some("killnowait"));
        sim.send(&e, invocation_error(inv.request, "wamp.error.canceled"));
        assert!(recv(&c).is_empty());
    });
}

#[test]
fn cancel_of_a_call_to_a_callee_that_cannot_cancel_is_skip() {
    matrix(|sim, ser| {
        let mut e = sim.join(last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.slow", "exact").unwrap();
        let req = sim.call(&mut c, "com.slow", vec![]);
        let inv = invocation(&e);
        sim.send(&c, cancel(req, "kill"));
        assert_eq!(error(&c).error, "wamp.error.canceled");
        assert!(recv(&e).is_empty(), "no INTERRUPT to a callee without call_canceling");
        sim.send(&e, yield_msg(inv.request, vec![], Dict::new()));
        assert!(recv(&c).is_empty());
    });
}

#[test]
fn cancel_of_an_unknown_call_is_ignored_and_a_wrong_mode_is_an_invalid_argument() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.slow", "exact").unwrap();
        sim.send(&c, cancel(Id::new(999).unwrap(), "kill"));
        assert!(recv(&c).is_empty());
        let req = sim.call(&mut c, "com.slow", vec![]);
        invocation(&e);
        sim.send(&c, cancel(req, "explode"));
        let err = error(&c);
        assert_eq!((err.request_type, err.error.as_str()), (code::CANCEL, "wamp.error.invalid_argument"));
        assert!(recv(&e).is_empty(), "the call goes on");
    });
}

#[test]
fn cancel_racing_a_yield_gives_the_caller_exactly_one_answer() {
    for mode in ["skip", "kill", "killnowait"] {
        matrix(|sim, ser| {
            let mut e = callee(sim, last(sim), ser);
            let mut c = caller(sim, 0, ser);
            sim.register(&mut e, "com.race", "exact").unwrap();
            let req = sim.call(&mut c, "com.race", vec![]);
            let inv = invocation(&e);
            sim.send_unrun(&e, yield_msg(inv.request, vec![Value::UInt(1)], Dict::new()));
            sim.send_unrun(&c, cancel(req, mode));
            sim.run();
            let answers = recv(&c);
            assert_eq!(answers.len(), 1, "{mode}: {answers:?}");
            let _ = recv(&e);
        });
    }
}

#[test]
fn a_call_past_its_timeout_gets_timeout_and_the_callee_is_interrupted() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.slow", "exact").unwrap();
        let req = sim.call_with(&mut c, "com.slow", vec![], Dict::new().with("timeout", 100u64));
        let inv = invocation(&e);
        assert_eq!(inv.details.get("timeout"), None, "the dealer runs the timer");
        sim.advance(Duration::from_millis(99));
        assert!(recv(&c).is_empty());
        sim.advance(Duration::from_millis(1));
        let err = error(&c);
        assert_eq!((err.request, err.error.as_str()), (req, "wamp.error.timeout"));
        assert_eq!(interrupt(&e).options.get_str("mode"), Some("killnowait"));
        sim.send(&e, yield_msg(inv.request, vec![], Dict::new()));
        assert!(recv(&c).is_empty() && recv(&e).is_empty());
    });
}

#[test]
fn a_timeout_after_a_kill_cancel_answers_the_caller_without_a_second_interrupt() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.stuck", "exact").unwrap();
        let req = sim.call_with(&mut c, "com.stuck", vec![], Dict::new().with("timeout", 100u64));
        let inv = invocation(&e);
        sim.send(&c, cancel(req, "kill"));
        assert_eq!(interrupt(&e).options.get_str("mode"), Some("kill"));
        sim.advance(Duration::from_millis(100));
        assert_eq!(error(&c).error, "wamp.error.timeout");
        assert!(recv(&e).is_empty(), "one INTERRUPT per invocation");
        sim.send(&e, invocation_error(inv.request, "wamp.error.canceled"));
        assert!(recv(&c).is_empty(), "the caller had its one answer");
    });
}

#[test]
fn a_timeout_racing_a_yield_gives_the_caller_exactly_one_answer() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.race", "exact").unwrap();
        sim.call_with(&mut c, "com.race", vec![], Dict::new().with("timeout", 10u64));
        let inv = invocation(&e);
        sim.send_unrun(&e, yield_msg(inv.request, vec![], Dict::new()));
        sim.advance(Duration::from_millis(10));
        assert_eq!(recv(&c).len(), 1);
        let _ = recv(&e);
    });
}

#[test]
fn with_progressive_results_the_timeout_runs_between_results() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.stream", "exact").unwrap();
        let options = Dict::new().with("receive_progress", true).with("timeout", 100u64);
        let req = sim.call_with(&mut c, "com.stream", vec![], options);
        let inv = invocation(&e);
        for _ in 0..3 {
            sim.advance(Duration::from_millis(80));
            sim.send(&e, yield_msg(inv.request, vec![], progress()));
            assert_eq!(result(&c).details.get_bool("progress"), Some(true));
        }
        sim.advance(Duration::from_millis(99));
        assert!(recv(&c).is_empty(), "the timer restarted at the last result");
        sim.advance(Duration::from_millis(1));
        let err = error(&c);
        assert_eq!((err.request, err.error.as_str()), (req, "wamp.error.timeout"));
        let _ = recv(&e);
    });
}

#[test]
fn a_forward_timeout_registration_gets_the_timeout_and_the_dealer_runs_no_timer() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register_with(&mut e, "com.self_timed", Dict::new().with("forward_timeout", true)).unwrap();
        sim.call_with(&mut c, "com.self_timed", vec![], Dict::new().with("timeout", 50u64));
        let inv = invocation(&e);
        assert_eq!(inv.details.get("timeout"), Some(&Value::UInt(50)));
        sim.advance(Duration::from_millis(500));
        assert!(recv(&c).is_empty());
        sim.send(&e, invocation_error(inv.request, "wamp.error.timeout"));
        assert_eq!(error(&c).error, "wamp.error.timeout");
    });
}

#[test]
fn a_timeout_of_the_wrong_type_is_an_invalid_argument() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.slow", "exact").unwrap();
        for bad in [Value::from("10"), Value::Int(-5), Value::Float(1.5)] {
            sim.call_with(&mut c, "com.slow", vec![], Dict::new().with("timeout", bad));
            assert_eq!(error(&c).error, "wamp.error.invalid_argument");
        }
        assert!(recv(&e).is_empty());
    });
}

#[test]
fn the_caller_is_disclosed_only_when_asked_by_the_call_or_the_registration() {
    matrix(|sim, ser| {
        let mut plain = callee(sim, last(sim), ser);
        let mut told = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut plain, "com.plain", "exact").unwrap();
        sim.register_with(&mut told, "com.told", Dict::new().with("disclose_caller", true)).unwrap();
        sim.call(&mut c, "com.plain", vec![]);
        let inv = invocation(&plain);
        assert_eq!((inv.details.get("caller"), inv.details.get("caller_authid")), (None, None));
        sim.call_with(&mut c, "com.plain", vec![], Dict::new().with("disclose_me", true));
        let inv = invocation(&plain);
        assert_eq!(inv.details.get("caller"), Some(&Value::UInt(c.session.get())));
        assert_eq!(inv.details.get_str("caller_authrole"), Some("anonymous"));
        assert!(inv.details.get_str("caller_authid").is_some());
        sim.call(&mut c, "com.told", vec![]);
        assert_eq!(invocation(&told).details.get("caller"), Some(&Value::UInt(c.session.get())));
    });
}

/// Registers `n` callees of `procedure` with `invoke`, on shards in turn; one registration id.
fn shared(sim: &mut Sim, ser: crate::codec::Serializer, procedure: &str, invoke: &str, n: usize) -> Vec<Client> {
    let mut callees = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let shard = i % sim.shards;
        let mut e = callee(sim, shard, ser);
        ids.push(sim.register_with(&mut e, procedure, Dict::new().with("invoke", invoke)).unwrap());
        callees.push(e);
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "one registration id: {ids:?}");
    callees
}

/// Calls once and returns which callee got the INVOCATION, answering it.
fn served_by(sim: &mut Sim, c: &mut Client, procedure: &str, callees: &[Client]) -> usize {
    served_by_with(sim, c, procedure, callees, Dict::new())
}

/// Calls once with `options` and returns which callee got the INVOCATION, answering it.
fn served_by_with(sim: &mut Sim, c: &mut Client, procedure: &str, callees: &[Client], options: Dict) -> usize {
    sim.call_with(c, procedure, vec![], options);
    let got: Vec<(usize, m::Invocation)> = callees
        .iter()
        .enumerate()
        .filter_map(|(i, e)| recv(e).into_iter().next().map(|msg| (i, msg)))
        .map(|(i, msg)| match msg {
            Message::Invocation(inv) => (i, inv),
            other => panic!("expected INVOCATION, got {other:?}"),
        })
        .collect();
    assert_eq!(got.len(), 1, "exactly one callee is invoked");
    let (i, inv) = &got[0];
    sim.send(&callees[*i], yield_msg(inv.request, vec![], Dict::new()));
    result(c);
    *i
}

fn partition(key: &str) -> Dict {
    Dict::new().with("runmode", "partition").with("rkey", key)
}

#[test]
fn a_partition_key_always_reaches_the_same_callee_from_every_shard() {
    matrix(|sim, ser| {
        let callees = shared(sim, ser, "com.part", "roundrobin", 4);
        let mut callers: Vec<Client> = (0..sim.shards).map(|s| caller(sim, s, ser)).collect();
        let keys: Vec<String> = (0..16).map(|k| format!("device-{k}")).collect();
        let mut owner = Vec::new();
        for key in &keys {
            let first = served_by_with(sim, &mut callers[0], "com.part", &callees, partition(key));
            for c in callers.iter_mut() {
                for _ in 0..2 {
                    assert_eq!(served_by_with(sim, c, "com.part", &callees, partition(key)), first, "{key}");
                }
            }
            owner.push(first);
        }
        owner.sort_unstable();
        owner.dedup();
        assert!(owner.len() >= 2, "16 keys spread over more than one of 4 callees: {owner:?}");
    });
}

#[test]
fn a_partition_moves_only_when_its_callee_leaves() {
    matrix(|sim, ser| {
        let mut callees = shared(sim, ser, "com.part", "random", 3);
        let mut c = caller(sim, 0, ser);
        let keys: Vec<String> = (0..24).map(|k| format!("k{k}")).collect();
        let before: Vec<usize> =
            keys.iter().map(|k| served_by_with(sim, &mut c, "com.part", &callees, partition(k))).collect();
        let gone = before[0];
        let leaver = callees.remove(gone);
        sim.close(&leaver);
        for (k, owner) in keys.iter().zip(&before) {
            let now = served_by_with(sim, &mut c, "com.part", &callees, partition(k));
            if *owner != gone {
                let same = if *owner > gone { owner - 1 } else { *owner };
                assert_eq!(now, same, "{k} kept its callee");
            }
        }
    });
}

#[test]
fn a_partitioned_call_without_callees_left_gets_no_available_callee() {
    matrix(|sim, ser| {
        let callees = shared(sim, ser, "com.part", "roundrobin", 2);
        let mut c = caller(sim, 0, ser);
        let request = sim.call_with(&mut c, "com.part", vec![], partition("k"));
        for _ in 0..2 {
            let (i, inv) = callees
                .iter()
                .enumerate()
                .find_map(|(i, e)| recv(e).into_iter().next().map(|m| (i, m)))
                .map(|(i, m)| match m {
                    Message::Invocation(inv) => (i, inv),
                    other => panic!("expected INVOCATION, got {other:?}"),
                })
                .expect("one callee invoked");
            sim.send(&callees[i], invocation_error(inv.request, "wamp.error.unavailable"));
        }
        let e = error(&c);
        assert_eq!((e.request, e.error.as_str()), (request, "wamp.error.no_available_callee"));
    });
}

#[test]
fn round_robin_cycles_through_callees_on_every_shard_in_registration_order() {
    matrix(|sim, ser| {
        let callees = shared(sim, ser, "com.rr", "roundrobin", 4);
        let mut c = caller(sim, 0, ser);
        let order: Vec<usize> = (0..8).map(|_| served_by(sim, &mut c, "com.rr", &callees)).collect();
        assert_eq!(order, vec![0, 1, 2, 3, 0, 1, 2, 3]);
    });
}

#[test]
fn round_robin_skips_a_callee_that_left_mid_rotation() {
    matrix(|sim, ser| {
        let callees = shared(sim, ser, "com.rr", "roundrobin", 4);
        let mut c = caller(sim, 0, ser);
        assert_eq!(served_by(sim, &mut c, "com.rr", &callees), 0);
        assert_eq!(served_by(sim, &mut c, "com.rr", &callees), 1);
        sim.close(&callees[2]);
        let order: Vec<usize> = (0..4).map(|_| served_by(sim, &mut c, "com.rr", &callees)).collect();
        assert_eq!(order, vec![3, 0, 1, 3]);
    });
}

#[test]
fn a_call_racing_the_departure_of_a_shared_callee_goes_to_another_callee() {
    for shards in 2..=3 {
        for seed in 1..20 {
            let mut sim = Sim::new(shards, seed);
            let ser = crate::codec::Serializer::Cbor;
            let mut gone = callee(&mut sim, shards - 1, ser);
            let mut stays = callee(&mut sim, 0, ser);
            let options = || Dict::new().with("invoke", "roundrobin");
            sim.register_with(&mut gone, "com.rr", options()).unwrap();
            sim.register_with(&mut stays, "com.rr", options()).unwrap();
            let mut c = caller(&mut sim, 0, ser);
            sim.close_unrun(&gone);
            let req = sim.call(&mut c, "com.rr", vec![]);
            let inv = invocation(&stays);
            sim.send(&stays, yield_msg(inv.request, vec![], Dict::new()));
            assert_eq!(result(&c).request, req, "{shards} shards, seed {seed}");
            sim.finish();
        }
    }
}

#[test]
fn first_last_and_random_choose_as_their_names_say() {
    matrix(|sim, ser| {
        let first = shared(sim, ser, "com.first", "first", 3);
        let last_ = shared(sim, ser, "com.last", "last", 3);
        let random = shared(sim, ser, "com.random", "random", 3);
        let mut c = caller(sim, 0, ser);
        for _ in 0..3 {
            assert_eq!(served_by(sim, &mut c, "com.first", &first), 0);
            assert_eq!(served_by(sim, &mut c, "com.last", &last_), 2);
        }
        let mut seen = [false; 3];
        for _ in 0..60 {
            seen[served_by(sim, &mut c, "com.random", &random)] = true;
        }
        assert_eq!(seen, [true; 3], "random reaches every callee");
        sim.close(&first[0]);
        assert_eq!(served_by(sim, &mut c, "com.first", &first), 1);
    });
}

#[test]
fn a_registration_with_another_invocation_policy_gets_procedure_already_exists() {
    matrix(|sim, ser| {
        shared(sim, ser, "com.rr", "roundrobin", 2);
        let mut other = callee(sim, last(sim), ser);
        let refused = sim.register_with(&mut other, "com.rr", Dict::new().with("invoke", "random"));
        assert_eq!(refused, Err("wamp.error.procedure_already_exists".into()));
        let plain = sim.register(&mut other, "com.rr", "exact");
        assert_eq!(plain, Err("wamp.error.procedure_already_exists".into()));
        let bad = sim.register_with(&mut other, "com.x", Dict::new().with("invoke", "sometimes"));
        assert_eq!(bad, Err("wamp.error.invalid_argument".into()));
    });
}

#[test]
fn an_unavailable_callee_makes_the_dealer_try_the_next_until_none_is_left() {
    matrix(|sim, ser| {
        let callees = shared(sim, ser, "com.busy", "roundrobin", 3);
        let mut c = caller(sim, 0, ser);
        let req = sim.call(&mut c, "com.busy", vec![Value::UInt(7)]);
        for (i, e) in callees.iter().enumerate() {
            let inv = invocation(e);
            assert_eq!(args_of(&inv.payload), vec![Value::UInt(7)], "callee {i} gets the same call");
            assert!(recv(&c).is_empty());
            sim.send(e, invocation_error(inv.request, "wamp.error.unavailable"));
        }
        let err = error(&c);
        assert_eq!((err.request, err.error.as_str()), (req, "wamp.error.no_available_callee"));
    });
}

#[test]
fn an_unavailable_single_callee_gives_no_available_callee() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.one", "exact").unwrap();
        sim.call(&mut c, "com.one", vec![]);
        let inv = invocation(&e);
        sim.send(&e, invocation_error(inv.request, "wamp.error.unavailable"));
        assert_eq!(error(&c).error, "wamp.error.no_available_callee");
    });
}

#[test]
fn payload_passthru_keys_travel_untouched_both_ways() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.e2e", "exact").unwrap();
        let ppt = Dict::new().with("ppt_scheme", "x_custom").with("ppt_serializer", "cbor").with("ppt_keyid", "k1");
        let blob = Value::Bytes(vec![0, 159, 146, 150, 255]);
        sim.call_with(&mut c, "com.e2e", vec![blob.clone()], ppt);
        let inv = invocation(&e);
        assert_eq!(inv.details.get_str("ppt_scheme"), Some("x_custom"));
        assert_eq!(inv.details.get_str("ppt_keyid"), Some("k1"));
        assert_eq!(args_of(&inv.payload), vec![blob.clone()]);
        let back = Dict::new().with("ppt_scheme", "x_custom").with("ppt_cipher", "xsalsa20poly1305");
        sim.send(&e, yield_msg(inv.request, vec![blob.clone()], back));
        let r = result(&c);
        assert_eq!(r.details.get_str("ppt_cipher"), Some("xsalsa20poly1305"));
        assert_eq!(args_of(&r.payload), vec![blob]);
    });
}

#[test]
fn payload_passthru_needs_the_feature_on_both_ends() {
    matrix(|sim, ser| {
        let mut plain_callee = sim.join(last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut plain_callee, "com.plain", "exact").unwrap();
        sim.call_with(&mut c, "com.plain", vec![], Dict::new().with("ppt_scheme", "mqtt"));
        assert_eq!(error(&c).error, "wamp.error.feature_not_supported");
        let mut plain_caller = sim.join(0, ser);
        sim.call_with(&mut plain_caller, "com.plain", vec![], Dict::new().with("ppt_scheme", "mqtt"));
        let Message::Abort(a) = one(&plain_caller) else { panic!("expected ABORT") };
        assert_eq!(a.reason, "wamp.error.protocol_violation");
    });
}

#[test]
fn a_realm_with_sequential_request_ids_aborts_a_client_that_skips_one() {
    matrix(|sim, ser| {
        let mut c = sim.join_with(0, ser, "strict", &[]);
        sim.publish(&mut c, "com.a", vec![], Dict::new());
        sim.publish(&mut c, "com.a", vec![], Dict::new());
        assert!(recv(&c).is_empty(), "1, 2 are in sequence");
        c.next_request += 1;
        sim.publish(&mut c, "com.a", vec![], Dict::new());
        let Message::Abort(a) = one(&c) else { panic!("expected ABORT") };
        assert_eq!(a.reason, "wamp.error.protocol_violation");
        let mut loose = sim.join(0, ser);
        loose.next_request = 1000;
        sim.publish(&mut loose, "com.a", vec![], Dict::new().with("acknowledge", true));
        assert!(matches!(one(&loose), Message::Published(_)), "realm1 takes any ids");
    });
}

#[test]
fn calls_past_the_caller_or_callee_limit_get_an_error_naming_it_and_memory_stays_bounded() {
    for shards in 1..=3 {
        let limits = Limits { max_calls_per_session: 5, max_invocations_per_session: 3, ..Limits::default() };
        let mut sim = Sim::with_limits(shards, 9, limits);
        let ser = crate::codec::Serializer::MsgPack;
        let mut e1 = callee(&mut sim, shards - 1, ser);
        let mut e2 = callee(&mut sim, 0, ser);
        let mut c = caller(&mut sim, 0, ser);
        let mut d = caller(&mut sim, shards - 1, ser);
        sim.register(&mut e1, "com.never1", "exact").unwrap();
        sim.register(&mut e2, "com.never2", "exact").unwrap();
        for _ in 0..3 {
            sim.call(&mut c, "com.never1", vec![]);
        }
        for _ in 0..2 {
            sim.call(&mut c, "com.never2", vec![]);
        }
        assert!(recv(&c).is_empty());
        for _ in 0..100 {
            sim.call(&mut c, "com.never2", vec![]);
            let err = error(&c);
            assert_eq!(err.error, "wampyard.error.limit_reached");
            assert!(format!("{:?}", err.payload).contains("max_calls_per_session"));
        }
        for _ in 0..100 {
            sim.call(&mut d, "com.never1", vec![]);
            let err = error(&d);
            assert_eq!(err.error, "wampyard.error.limit_reached");
            assert!(format!("{:?}", err.payload).contains("max_invocations_per_session"));
        }
        assert_eq!((recv(&e1).len(), recv(&e2).len()), (3, 2));
        let calls: usize = sim.routers.iter().map(|r| r.table_sizes().calls).sum();
        let invocations: usize = sim.routers.iter().map(|r| r.table_sizes().invocations).sum();
        assert_eq!((calls, invocations), (5, 5), "refused calls leave no record");
        sim.finish();
    }
}

#[test]
fn a_caller_that_leaves_mid_call_gets_its_callee_interrupted_and_leaves_nothing_behind() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        let mut c = caller(sim, 0, ser);
        sim.register(&mut e, "com.slow", "exact").unwrap();
        sim.call_with(&mut c, "com.slow", vec![], Dict::new().with("timeout", 1000u64));
        let inv = invocation(&e);
        sim.close(&c);
        assert_eq!(interrupt(&e).options.get_str("mode"), Some("killnowait"));
        sim.send(&e, yield_msg(inv.request, vec![], Dict::new()));
        assert!(recv(&e).is_empty(), "the late YIELD is no violation");
        sim.advance(Duration::from_secs(2));
    });
}

/// One step of a call's life, as the test drives it.
#[derive(Clone, Copy, Debug)]
enum Step {
    Call,
    Progress,
    CancelKill,
    Answer,
}

#[test]
fn caller_or_callee_leaving_at_any_step_of_a_call_leaves_nothing_behind() {
    let steps = [Step::Call, Step::Progress, Step::CancelKill, Step::Answer];
    for shards in 1..=3 {
        for seed in [3, 11, 29] {
            for leave_after in 0..=steps.len() {
                for caller_leaves in [true, false] {
                    let mut sim = Sim::new(shards, seed);
                    let ser = crate::codec::Serializer::Json;
                    let mut e = callee(&mut sim, shards - 1, ser);
                    let mut c = caller(&mut sim, 0, ser);
                    sim.register(&mut e, "com.life", "exact").unwrap();
                    let mut req = Id::ZERO;
                    let mut inv = Id::ZERO;
                    for step in &steps[..leave_after] {
                        match step {
                            Step::Call => {
                                let options = Dict::new().with("receive_progress", true).with("timeout", 1000u64);
                                req = Sim::request(&mut c);
                                let call = m::Call {
                                    request: req,
                                    options,
                                    procedure: "com.life".into(),
                                    payload: Payload::Empty,
                                };
                                sim.send_unrun(&c, Message::Call(call));
                            }
                            Step::Progress => sim.send_unrun(&e, yield_msg(inv, vec![], progress())),
                            Step::CancelKill => sim.send_unrun(&c, cancel(req, "kill")),
                            Step::Answer => sim.send_unrun(&e, invocation_error(inv, "wamp.error.canceled")),
                        }
                        sim.run();
                        if let Step::Call = step {
                            inv = invocation(&e).request;
                        }
                    }
                    let _ = (recv(&c), recv(&e));
                    let (leaving, staying) = if caller_leaves { (&c, &e) } else { (&e, &c) };
                    sim.close_unrun(leaving);
                    sim.advance(Duration::from_secs(2));
                    let got = recv(staying);
                    let call_open = (1..steps.len()).contains(&leave_after);
                    match (caller_leaves, call_open) {
                        // The clock moves before the callee's shard reports the departure, so the
                        // timeout may win: either way the caller gets exactly one answer.
                        (false, true) => assert!(
                            matches!(got.as_slice(), [Message::Error(err)]
                                if err.error == "wamp.error.canceled" || err.error == "wamp.error.timeout"),
                            "{shards} shards, seed {seed}, callee left after {leave_after} steps: {got:?}"
                        ),
                        (true, true) if leave_after < 3 => assert!(
                            matches!(got.as_slice(), [Message::Interrupt(_)]),
                            "{shards} shards, seed {seed}, caller left after {leave_after} steps: {got:?}"
                        ),
                        _ => assert!(got.is_empty(), "{shards} shards, seed {seed}, after {leave_after}: {got:?}"),
                    }
                    sim.finish();
                }
            }
        }
    }
}

/// The router on shard 0 calls `procedure` itself.
fn own_call(sim: &mut Sim, procedure: &str, args: Vec<Value>, timeout: Duration) -> Result<Token, ErrorUri> {
    let result = sim.with_router(0, |r, sink| r.call_as_router(0, procedure, Payload::args(args), timeout, sink));
    sim.run();
    result
}

#[test]
fn the_router_calls_a_client_procedure_itself_and_files_the_answer() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        sim.register(&mut e, "com.auth", "exact").unwrap();
        let token = own_call(sim, "com.auth", vec!["alice".into()], Duration::from_secs(1)).unwrap();
        let inv = invocation(&e);
        assert_eq!(args_of(&inv.payload), vec![Value::from("alice")]);
        assert_eq!(inv.details.get("caller"), None, "the router discloses no caller");
        sim.send(&e, yield_msg(inv.request, vec!["user".into()], Dict::new()));
        let answers = sim.routers[0].take_own_answers();
        let [(t, CallOutcome::Result { payload, .. })] = answers.as_slice() else { panic!("{answers:?}") };
        assert_eq!((*t, args_of(payload)), (token, vec![Value::from("user")]));
        let token = own_call(sim, "com.auth", vec![], Duration::from_secs(1)).unwrap();
        let inv = invocation(&e);
        sim.send(&e, invocation_error(inv.request, "com.auth.denied"));
        let answers = sim.routers[0].take_own_answers();
        let [(t, CallOutcome::Error { error, .. })] = answers.as_slice() else { panic!("{answers:?}") };
        assert_eq!((*t, &**error), (token, "com.auth.denied"));
        assert_eq!(own_call(sim, "com.nobody", vec![], Duration::from_secs(1)), Err(ErrorUri::NoSuchProcedure));
    });
}

#[test]
fn an_own_call_the_callee_never_answers_times_out_and_interrupts_the_callee() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        sim.register(&mut e, "com.auth", "exact").unwrap();
        let token = own_call(sim, "com.auth", vec![], Duration::from_millis(200)).unwrap();
        let inv = invocation(&e);
        sim.advance(Duration::from_millis(199));
        assert!(sim.routers[0].take_own_answers().is_empty());
        sim.advance(Duration::from_millis(1));
        let answers = sim.routers[0].take_own_answers();
        let [(t, CallOutcome::Error { error, .. })] = answers.as_slice() else { panic!("{answers:?}") };
        assert_eq!((*t, &**error), (token, "wamp.error.timeout"));
        assert_eq!(interrupt(&e).options.get_str("mode"), Some("killnowait"));
        sim.send(&e, yield_msg(inv.request, vec![], Dict::new()));
        assert!(sim.routers[0].take_own_answers().is_empty(), "the late answer is dropped");
    });
}

#[test]
fn an_own_call_whose_callee_leaves_is_answered_canceled() {
    matrix(|sim, ser| {
        let mut e = callee(sim, last(sim), ser);
        sim.register(&mut e, "com.auth", "exact").unwrap();
        let token = own_call(sim, "com.auth", vec![], Duration::from_secs(1)).unwrap();
        invocation(&e);
        sim.close(&e);
        let answers = sim.routers[0].take_own_answers();
        let [(t, CallOutcome::Error { error, .. })] = answers.as_slice() else { panic!("{answers:?}") };
        assert_eq!((*t, &**error), (token, "wamp.error.canceled"));
    });
}

#[test]
fn own_calls_and_unclaimed_answers_are_bounded_by_the_call_limit() {
    let limits = Limits { max_calls_per_session: 3, ..Limits::default() };
    let mut sim = Sim::with_limits(2, 5, limits);
    let ser = crate::codec::Serializer::MsgPack;
    let mut e = callee(&mut sim, 1, ser);
    sim.register(&mut e, "com.auth", "exact").unwrap();
    for _ in 0..3 {
        own_call(&mut sim, "com.auth", vec![], Duration::from_secs(1)).unwrap();
    }
    assert_eq!(own_call(&mut sim, "com.auth", vec![], Duration::from_secs(1)), Err(ErrorUri::LimitReached));
    for inv in recv(&e) {
        let Message::Invocation(inv) = inv else { panic!("expected INVOCATION") };
        sim.send(&e, yield_msg(inv.request, vec![], Dict::new()));
    }
    assert_eq!(
        own_call(&mut sim, "com.auth", vec![], Duration::from_secs(1)),
        Err(ErrorUri::LimitReached),
        "answers not taken count"
    );
    assert_eq!(sim.routers[0].take_own_answers().len(), 3);
    own_call(&mut sim, "com.auth", vec![], Duration::from_secs(1)).unwrap();
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.routers[0].take_own_answers().len(), 1);
    sim.finish();
}

#[test]
fn a_call_reusing_the_request_id_of_a_call_in_flight_is_a_protocol_violation() {
    for features in [&[][..], &CALLER[..]] {
        matrix(|sim, ser| {
            let mut e = sim.join(last(sim), ser);
            let mut c = sim.join_with(0, ser, "realm1", features);
            sim.register(&mut e, "com.slow", "exact").unwrap();
            let req = sim.call(&mut c, "com.slow", vec![]);
            let inv = invocation(&e);
            let again =
                m::Call { request: req, options: Dict::new(), procedure: "com.slow".into(), payload: Payload::Empty };
            sim.send(&c, Message::Call(again));
            let Message::Abort(a) = one(&c) else { panic!("expected ABORT") };
            assert_eq!(a.reason, "wamp.error.protocol_violation");
            assert!(recv(&e).is_empty(), "the reused id reaches no callee");
            sim.send(&e, yield_msg(inv.request, vec![], Dict::new()));
            assert!(recv(&e).is_empty(), "the callee's answer to the aborted caller is no violation");
        });
    }
}
