//! Routed RPC over real sockets, across every transport x serializer, one shard and two.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use wampyard::codec::{Payload, Serializer};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Message, Value};

#[test]
fn call_with_args_and_kwargs_returns_the_callee_result() {
    matrix(|r, kind, ser| {
        let procedure = uri("echo", kind, ser, r);
        let mut callee = Client::join(r, On::Last, kind, ser);
        let reg = callee.register(&procedure, Dict::new()).unwrap();
        let mut caller = Client::join(r, On::First, kind, ser);
        let kwargs = Dict::new().with("ünï", "✓").with("max", 1u64 << 53);
        let request = caller.call(&procedure, Payload::Values { args: rich_args(), kwargs: Some(kwargs.clone()) });
        let inv = callee.echo_one();
        assert_eq!(inv.registration, reg);
        match caller.recv() {
            Some(Message::Result(res)) => {
                assert_eq!(res.request, request);
                assert_eq!(values(&res.payload), (rich_args(), Some(kwargs)));
            }
            other => panic!("expected RESULT, got {other:?}"),
        }
    });
}

#[test]
fn callers_with_other_serializers_get_identical_results() {
    for r in routers() {
        let procedure = format!("com.test.rpcmix.s{}", r.shards);
        let mut callee = Client::join(r, On::Last, Kind::WebSocket, Serializer::Json);
        callee.register(&procedure, Dict::new()).unwrap();
        for ser in Serializer::ALL {
            let mut caller = Client::join(r, On::First, Kind::RawTcp, ser);
            caller.call(&procedure, Payload::args(rich_args()));
            callee.echo_one();
            match caller.recv() {
                Some(Message::Result(res)) => assert_eq!(values(&res.payload).0, rich_args(), "{ser:?}"),
                other => panic!("expected RESULT, got {other:?}"),
            }
        }
    }
}

#[test]
fn a_one_megabyte_payload_round_trips() {
    for r in routers() {
        for ser in Serializer::ALL {
            let procedure = format!("com.test.big.{}.s{}", ser.name(), r.shards);
            let mut callee = Client::join(r, On::Last, Kind::RawTcp, ser);
            callee.register(&procedure, Dict::new()).unwrap();
            let mut caller = Client::join(r, On::First, Kind::WebSocket, ser);
            let big = Value::from("x".repeat(1_000_000));
            caller.call(&procedure, Payload::args(vec![big.clone()]));
            callee.echo_one();
            match caller.recv() {
                Some(Message::Result(res)) => assert_eq!(values(&res.payload).0, vec![big]),
                other => panic!("expected RESULT, got {other:?}"),
            }
        }
    }
}

#[test]
fn callee_error_reaches_the_caller_with_uri_args_and_kwargs() {
    matrix(|r, kind, ser| {
        let procedure = uri("fails", kind, ser, r);
        let mut callee = Client::join(r, On::First, kind, ser);
        callee.register(&procedure, Dict::new()).unwrap();
        let mut caller = Client::join(r, On::Last, kind, ser);
        let request = caller.call(&procedure, Payload::Empty);
        let Some(Message::Invocation(inv)) = callee.recv() else { panic!("expected INVOCATION") };
        let payload = Payload::Values { args: vec![Value::from("no")], kwargs: Some(Dict::new().with("code", 42u64)) };
        callee.send(&Message::Error(m::Error {
            request_type: codes::INVOCATION,
            request: inv.request,
            details: Dict::new(),
            error: "com.myapp.error.refused".into(),
            payload,
        }));
        match caller.recv() {
            Some(Message::Error(e)) => {
                assert_eq!((e.request, e.error.as_str()), (request, "com.myapp.error.refused"));
                let (args, kwargs) = values(&e.payload);
                assert_eq!(args, vec![Value::from("no")]);
                assert_eq!(kwargs.and_then(|k| k.get("code").cloned()), Some(Value::UInt(42)));
            }
            other => panic!("expected ERROR, got {other:?}"),
        }
    });
}

#[test]
fn call_to_an_unregistered_procedure_fails_with_no_such_procedure() {
    matrix(|r, kind, ser| {
        let mut caller = Client::join(r, On::Any, kind, ser);
        caller.call(&uri("nobody", kind, ser, r), Payload::Empty);
        assert_eq!(error_of(caller.recv(), codes::CALL), "wamp.error.no_such_procedure");
    });
}

#[test]
fn second_registration_from_another_shard_fails_with_procedure_already_exists() {
    matrix(|r, kind, ser| {
        let procedure = uri("taken", kind, ser, r);
        let mut a = Client::join(r, On::First, kind, ser);
        let mut b = Client::join(r, On::Last, kind, ser);
        a.register(&procedure, Dict::new()).unwrap();
        assert_eq!(b.register(&procedure, Dict::new()), Err("wamp.error.procedure_already_exists".into()));
    });
}

#[test]
fn call_fails_with_no_such_procedure_after_callee_leaves() {
    matrix(|r, kind, ser| {
        let procedure = uri("gone", kind, ser, r);
        let mut callee = Client::join(r, On::Last, kind, ser);
        callee.register(&procedure, Dict::new()).unwrap();
        callee.goodbye();
        drop(callee);
        let mut caller = Client::join(r, On::First, kind, ser);
        caller.call(&procedure, Payload::Empty);
        assert_eq!(error_of(caller.recv(), codes::CALL), "wamp.error.no_such_procedure");
    });
}

#[test]
fn caller_gets_canceled_when_the_callee_disconnects_mid_call() {
    matrix(|r, kind, ser| {
        let procedure = uri("dies", kind, ser, r);
        let mut callee = Client::join(r, On::Last, kind, ser);
        callee.register(&procedure, Dict::new()).unwrap();
        let mut caller = Client::join(r, On::First, kind, ser);
        caller.call(&procedure, Payload::Empty);
        assert!(matches!(callee.recv(), Some(Message::Invocation(_))));
        drop(callee);
        assert_eq!(error_of(caller.recv(), codes::CALL), "wamp.error.canceled");
    });
}

#[test]
fn unregister_then_call_fails_with_no_such_procedure() {
    matrix(|r, kind, ser| {
        let procedure = uri("unreg", kind, ser, r);
        let mut callee = Client::join(r, On::Last, kind, ser);
        let reg = callee.register(&procedure, Dict::new()).unwrap();
        let request = callee.request();
        callee.send(&Message::Unregister(m::Unregister { request, registration: reg }));
        assert!(matches!(callee.recv(), Some(Message::Unregistered(_))));
        let mut caller = Client::join(r, On::First, kind, ser);
        caller.call(&procedure, Payload::Empty);
        assert_eq!(error_of(caller.recv(), codes::CALL), "wamp.error.no_such_procedure");
    });
}

#[test]
fn invocation_ids_count_up_from_one_per_callee() {
    for r in routers() {
        let procedure = format!("com.test.seq.s{}", r.shards);
        let mut callee = Client::join(r, On::Last, Kind::RawTcp, Serializer::MsgPack);
        callee.register(&procedure, Dict::new()).unwrap();
        let mut caller = Client::join(r, On::First, Kind::RawTcp, Serializer::MsgPack);
        for expected in 1..=20u64 {
            caller.call(&procedure, Payload::Empty);
            assert_eq!(callee.echo_one().request.get(), expected);
            assert!(matches!(caller.recv(), Some(Message::Result(_))));
        }
    }
}
