//! Procedures the router answers itself, called from any shard, and the protection of their
//! namespace from client registrations.

use super::sim::*;
use crate::wamp::{Dict, Id, Message, Value};

fn id(v: Id) -> Value {
    Value::UInt(v.get())
}

#[test]
fn the_router_answers_registration_and_subscription_lookups_on_every_shard() {
    matrix(|sim, ser| {
        let mut e = sim.join(last(sim), ser);
        let reg = sim.register(&mut e, "com.user", "prefix").unwrap();
        let mut s = sim.join(last(sim), ser);
        let exact = sim.subscribe(&mut s, "com.a.b", "exact");
        let wild = sim.subscribe(&mut s, "com..b", "wildcard");
        let mut c = sim.join(0, ser);
        let prefix = Value::Dict(Dict::new().with("match", "prefix"));
        for (procedure, args, expected) in [
            ("wamp.registration.lookup", vec!["com.user".into(), prefix], id(reg)),
            ("wamp.registration.lookup", vec!["com.user".into()], Value::Null),
            ("wamp.registration.match", vec!["com.user.get".into()], id(reg)),
            ("wamp.registration.match", vec!["org.other".into()], Value::Null),
            ("wamp.subscription.lookup", vec!["com.a.b".into()], id(exact)),
            ("wamp.subscription.match", vec!["org.other".into()], Value::Null),
        ] {
            assert_eq!(answer(sim, &mut c, procedure, args), Ok(expected), "{procedure}");
        }
        let Ok(Value::List(mut ids)) = answer(sim, &mut c, "wamp.subscription.match", vec!["com.a.b".into()]) else {
            panic!("expected a list")
        };
        ids.sort_by_key(|v| v.as_u64());
        let mut want = vec![id(exact), id(wild)];
        want.sort_by_key(|v| v.as_u64());
        assert_eq!(ids, want);
    });
}

#[test]
fn builtin_calls_with_bad_arguments_or_unknown_names_get_the_spec_errors() {
    matrix(|sim, ser| {
        let mut c = sim.join(0, ser);
        let bad = answer(sim, &mut c, "wamp.registration.lookup", vec![Value::UInt(5)]);
        assert_eq!(bad, Err("wamp.error.invalid_argument".into()));
        let bad = answer(sim, &mut c, "wamp.subscription.lookup", vec!["com.a".into(), Value::UInt(1)]);
        assert_eq!(bad, Err("wamp.error.invalid_argument".into()));
        let unknown = answer(sim, &mut c, "wamp.no.such.thing", vec![]);
        assert_eq!(unknown, Err("wamp.error.no_such_procedure".into()));
    });
}

#[test]
fn no_client_registration_captures_a_router_procedure() {
    matrix(|sim, ser| {
        let mut e = sim.join(last(sim), ser);
        for (procedure, policy) in [("wamp.session.count", "exact"), ("wamp", "prefix"), ("wamp.session", "prefix")] {
            let refused = sim.register(&mut e, procedure, policy);
            assert_eq!(refused, Err("wamp.error.invalid_uri".into()), "{procedure} {policy}");
        }
        sim.register(&mut e, "wam", "prefix").unwrap();
        sim.register(&mut e, ".session.count", "wildcard").unwrap();
        let mut c = sim.join(0, ser);
        assert!(matches!(answer(sim, &mut c, "wamp.session.count", vec![]), Ok(Value::UInt(2))));
        assert!(recv(&e).is_empty(), "no INVOCATION for a router procedure");
        let request = sim.call(&mut c, "wamx.session.count", vec![]);
        let Message::Invocation(inv) = one(&e) else { panic!("expected INVOCATION") };
        assert_eq!(inv.details.get_str("procedure"), Some("wamx.session.count"));
        sim.send(
            &e,
            Message::Yield(crate::wamp::message::Yield {
                request: inv.request,
                options: Dict::new(),
                payload: crate::codec::Payload::Empty,
            }),
        );
        assert!(matches!(one(&c), Message::Result(r) if r.request == request));
    });
}
