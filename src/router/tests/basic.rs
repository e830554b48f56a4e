//! Basic Profile behaviour in the simulator, for one, two and three shards and every serializer.

use super::sim::*;
use crate::codec::{self, Payload, PayloadCodec, Serializer};
use crate::router::Violation;
use crate::wamp::message::{self as m, code};
use crate::wamp::{Dict, Id, MatchPolicy, Message, Value};

#[test]
fn hello_gets_welcome_with_broker_and_dealer_roles() {
    matrix(|sim, ser| {
        let c = sim.connect(0, ser);
        sim.send(&c, hello("realm1"));
        let Message::Welcome(w) = one(&c) else { panic!("unexpected message") };
        assert!((1..=1u64 << 53).contains(&w.session.get()));
        let roles = w.details.get("roles").and_then(Value::as_dict).unwrap();
        assert!(roles.get("broker").is_some() && roles.get("dealer").is_some());
    });
}

#[test]
fn hello_for_an_unknown_realm_is_aborted_with_no_such_realm() {
    matrix(|sim, ser| {
        let c = sim.connect(0, ser);
        sim.send(&c, hello("nope"));
        let Message::Abort(a) = one(&c) else { panic!("unexpected message") };
        assert_eq!(a.reason, "wamp.error.no_such_realm");
        assert!(c.outbox.is_closing());
    });
}

#[test]
fn message_before_hello_is_a_protocol_violation() {
    matrix(|sim, ser| {
        let mut c = sim.connect(0, ser);
        sim.publish(&mut c, "com.a", vec![], Dict::new());
        let Message::Abort(a) = one(&c) else { panic!("unexpected message") };
        assert_eq!(a.reason, "wamp.error.protocol_violation");
        let counted = sim.routers[0].stats().violations;
        assert_eq!((counted.total(), counted.of(&Violation::BeforeHello("PUBLISH"))), (1, 1));
        assert_eq!(format!("{counted:?}"), r#"{"before_hello": 1}"#);
    });
}

#[test]
fn second_hello_is_a_protocol_violation_and_drops_subscriptions() {
    matrix(|sim, ser| {
        let mut c = sim.join(0, ser);
        let mut p = sim.join(last(sim), ser);
        let mut sub = sim.join(last(sim), ser);
        sim.subscribe(&mut c, "com.t", "exact");
        sim.subscribe(&mut sub, "com.t", "exact");
        sim.send(&c, hello("realm1"));
        let Message::Abort(a) = one(&c) else { panic!("unexpected message") };
        assert_eq!(a.reason, "wamp.error.protocol_violation");
        sim.publish(&mut p, "com.t", vec![], Dict::new());
        assert!(recv(&c).is_empty());
        assert_eq!(events(&sub).len(), 1, "other sessions go on");
    });
}

#[test]
fn event_reaches_subscribers_on_every_shard_with_one_subscription_id() {
    matrix(|sim, ser| {
        let mut subs: Vec<Client> = (0..sim.shards).map(|s| sim.join(s, ser)).collect();
        let ids: Vec<Id> = subs.iter_mut().map(|c| sim.subscribe(c, "com.topic", "exact")).collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "one subscription id per topic: {ids:?}");
        let mut p = sim.join(0, ser);
        sim.publish(&mut p, "com.topic", vec![Value::from("hi"), Value::UInt(1 << 53)], Dict::new());
        for c in &subs {
            let ev = events(c);
            assert_eq!(ev.len(), 1);
            assert_eq!(ev[0].subscription, ids[0]);
            assert_eq!(args_of(&ev[0].payload), vec![Value::from("hi"), Value::UInt(1 << 53)]);
        }
    });
}

#[test]
fn publisher_is_excluded_by_default_and_included_with_exclude_me_false() {
    matrix(|sim, ser| {
        let mut c = sim.join(last(sim), ser);
        sim.subscribe(&mut c, "com.self", "exact");
        sim.publish(&mut c, "com.self", vec![], Dict::new());
        assert!(events(&c).is_empty());
        sim.publish(&mut c, "com.self", vec![], Dict::new().with("exclude_me", false));
        assert_eq!(events(&c).len(), 1);
    });
}

#[test]
fn acknowledged_publish_gets_published_with_a_global_id() {
    matrix(|sim, ser| {
        let mut c = sim.join(0, ser);
        let mut ids = Vec::new();
        for _ in 0..3 {
            sim.publish(&mut c, "com.ack", vec![], Dict::new().with("acknowledge", true));
            let Message::Published(p) = one(&c) else { panic!("unexpected message") };
            assert_eq!(p.request.get(), c.next_request, "PUBLISHED answers its PUBLISH");
            assert!((1..=1u64 << 53).contains(&p.publication.get()));
            ids.push(p.publication.get());
        }
        assert!(!(ids[0] + 1 == ids[1] && ids[1] + 1 == ids[2]), "global ids are random, not sequential: {ids:?}");
    });
}

#[test]
fn pattern_subscriptions_get_one_event_each_with_the_concrete_topic() {
    matrix(|sim, ser| {
        let mut c = sim.join(last(sim), ser);
        let exact = sim.subscribe(&mut c, "com.a.b", "exact");
        let prefix = sim.subscribe(&mut c, "com.a", "prefix");
        let wild = sim.subscribe(&mut c, "com..b", "wildcard");
        let mut p = sim.join(0, ser);
        sim.publish(&mut p, "com.a.b", vec![], Dict::new());
        let ev = events(&c);
        assert_eq!(ev.len(), 3);
        assert!(ev.windows(2).all(|w| w[0].publication == w[1].publication));
        for e in ev {
            if e.subscription == exact {
                assert_eq!(e.details.get_str("topic"), None);
            } else {
                assert!(e.subscription == prefix || e.subscription == wild);
                assert_eq!(e.details.get_str("topic"), Some("com.a.b"));
            }
        }
    });
}

#[test]
fn mixed_serializers_get_identical_payloads() {
    for shards in 1..=3 {
        let mut sim = Sim::new(shards, 3);
        let mut subs: Vec<Client> = Serializer::ALL.iter().map(|s| sim.join(shards - 1, *s)).collect();
        for c in &mut subs {
            sim.subscribe(c, "com.mix", "exact");
        }
        let mut p = sim.join(0, Serializer::Json);
        let args = vec![
            Value::from("ünïcødé ✓"),
            Value::UInt(1 << 53),
            Value::Int(-7),
            Value::Bytes(vec![0, 1, 2, 255]),
            Value::List(vec![Value::Dict(Dict::new().with("k", Value::Null))]),
        ];
        sim.publish(&mut p, "com.mix", args.clone(), Dict::new());
        for c in &subs {
            let ev = events(c);
            assert_eq!(ev.len(), 1, "{:?}", c.ser);
            assert_eq!(args_of(&ev[0].payload), args, "{:?}", c.ser);
        }
        sim.finish();
    }
}

#[test]
fn unsubscribe_stops_events_and_unknown_ids_get_no_such_subscription() {
    matrix(|sim, ser| {
        let mut c = sim.join(last(sim), ser);
        let mut p = sim.join(0, ser);
        let sub = sim.subscribe(&mut c, "com.u", "exact");
        let request = Sim::request(&mut c);
        sim.send(&c, Message::Unsubscribe(m::Unsubscribe { request, subscription: sub }));
        assert!(matches!(recv(&c).as_slice(), [Message::Unsubscribed(_)]));
        sim.publish(&mut p, "com.u", vec![], Dict::new());
        assert!(recv(&c).is_empty());
        let request = Sim::request(&mut c);
        sim.send(&c, Message::Unsubscribe(m::Unsubscribe { request, subscription: sub }));
        let Message::Error(e) = one(&c) else { panic!("unexpected message") };
        assert_eq!(e.error, "wamp.error.no_such_subscription");
    });
}

#[test]
fn subscriptions_of_a_session_that_leaves_are_gone_on_every_shard() {
    matrix(|sim, ser| {
        let mut c = sim.join(last(sim), ser);
        sim.subscribe(&mut c, "com.gone", "prefix");
        sim.close(&c);
        for r in &sim.routers {
            assert!(r.broker[0].replica.get("com.gone", MatchPolicy::Prefix).is_none());
            assert!(r.broker[0].local.is_empty());
            assert_eq!(r.table_sizes().home, 0);
        }
    });
}

#[test]
fn invalid_and_reserved_uris_are_refused() {
    matrix(|sim, ser| {
        let mut c = sim.join(0, ser);
        let request = Sim::request(&mut c);
        let options = Dict::new();
        sim.send(&c, Message::Subscribe(m::Subscribe { request, options, topic: "com..bad".into() }));
        let Message::Error(e) = one(&c) else { panic!("unexpected message") };
        assert_eq!(e.error, "wamp.error.invalid_uri");
        assert_eq!(sim.register(&mut c, "wamp.mine", "exact"), Err("wamp.error.invalid_uri".into()));
        assert_eq!(sim.register(&mut c, "com#x", "exact"), Err("wamp.error.invalid_uri".into()));
        sim.publish(&mut c, "wamp.fake", vec![], Dict::new().with("acknowledge", true));
        let Message::Error(e) = one(&c) else { panic!("unexpected message") };
        assert_eq!(e.error, "wamp.error.invalid_uri");
        sim.subscribe(&mut c, "wamp.session.on_join", "exact");
    });
}

#[test]
fn call_is_invoked_on_the_callee_shard_and_the_result_returns() {
    matrix(|sim, ser| {
        let mut callee = sim.join(last(sim), ser);
        let mut caller = sim.join(0, ser);
        let reg = sim.register(&mut callee, "com.add", "exact").unwrap();
        let req = sim.call(&mut caller, "com.add", vec![Value::UInt(2), Value::UInt(3)]);
        let Message::Invocation(inv) = one(&callee) else { panic!("unexpected message") };
        assert_eq!(inv.registration, reg);
        assert_eq!(args_of(&inv.payload), vec![Value::UInt(2), Value::UInt(3)]);
        let y = m::Yield { request: inv.request, options: Dict::new(), payload: Payload::args(vec![Value::UInt(5)]) };
        sim.send(&callee, Message::Yield(y));
        let Message::Result(r) = one(&caller) else { panic!("unexpected message") };
        assert_eq!(r.request, req);
        assert_eq!(args_of(&r.payload), vec![Value::UInt(5)]);
    });
}

#[test]
fn callee_error_reaches_the_caller_with_args_and_kwargs() {
    matrix(|sim, ser| {
        let mut callee = sim.join(0, ser);
        let mut caller = sim.join(last(sim), ser);
        sim.register(&mut callee, "com.fail", "exact").unwrap();
        let req = sim.call(&mut caller, "com.fail", vec![]);
        let Message::Invocation(inv) = one(&callee) else { panic!("unexpected message") };
        let payload = Payload::Values { args: vec![Value::from("why")], kwargs: Some(Dict::new().with("code", 7u64)) };
        let err = m::Error {
            request_type: code::INVOCATION,
            request: inv.request,
            details: Dict::new(),
            error: "com.error.failed".into(),
            payload,
        };
        sim.send(&callee, Message::Error(err));
        let Message::Error(e) = one(&caller) else { panic!("unexpected message") };
        assert_eq!((e.request_type, e.request, e.error.as_str()), (code::CALL, req, "com.error.failed"));
        let (args, kwargs) = e.payload.to_values().unwrap();
        assert_eq!(args, vec![Value::from("why")]);
        assert_eq!(kwargs.unwrap().get("code"), Some(&Value::UInt(7)));
    });
}

#[test]
fn second_registration_fails_with_procedure_already_exists_on_any_shard() {
    matrix(|sim, ser| {
        let mut a = sim.join(0, ser);
        let mut b = sim.join(last(sim), ser);
        sim.register(&mut a, "com.once", "exact").unwrap();
        assert_eq!(sim.register(&mut b, "com.once", "exact"), Err("wamp.error.procedure_already_exists".into()));
        assert_eq!(sim.register(&mut a, "com.once", "exact"), Err("wamp.error.procedure_already_exists".into()));
    });
}

#[test]
fn call_fails_with_no_such_procedure_after_callee_leaves() {
    matrix(|sim, ser| {
        let mut callee = sim.join(last(sim), ser);
        let mut caller = sim.join(0, ser);
        sim.register(&mut callee, "com.leaving", "exact").unwrap();
        sim.close(&callee);
        let req = sim.call(&mut caller, "com.leaving", vec![]);
        let Message::Error(e) = one(&caller) else { panic!("unexpected message") };
        assert_eq!((e.request, e.error.as_str()), (req, "wamp.error.no_such_procedure"));
        let mut again = sim.join(0, ser);
        sim.register(&mut again, "com.leaving", "exact").unwrap();
    });
}

#[test]
fn caller_gets_canceled_when_the_callee_leaves_mid_call() {
    matrix(|sim, ser| {
        let mut callee = sim.join(last(sim), ser);
        let mut caller = sim.join(0, ser);
        sim.register(&mut callee, "com.slow", "exact").unwrap();
        let req = sim.call(&mut caller, "com.slow", vec![]);
        assert_eq!(recv(&callee).len(), 1);
        sim.close(&callee);
        let Message::Error(e) = one(&caller) else { panic!("unexpected message") };
        assert_eq!((e.request, e.error.as_str()), (req, "wamp.error.canceled"));
    });
}

#[test]
fn yield_for_an_unknown_invocation_is_a_protocol_violation() {
    matrix(|sim, ser| {
        let c = sim.join(0, ser);
        let y = m::Yield { request: Id::new(99).unwrap(), options: Dict::new(), payload: Payload::Empty };
        sim.send(&c, Message::Yield(y));
        let Message::Abort(a) = one(&c) else { panic!("unexpected message") };
        assert_eq!(a.reason, "wamp.error.protocol_violation");
    });
}

#[test]
fn invocation_request_ids_are_sequential_per_callee() {
    matrix(|sim, ser| {
        let mut callee = sim.join(last(sim), ser);
        let mut callers: Vec<Client> = (0..sim.shards).map(|s| sim.join(s, ser)).collect();
        sim.register(&mut callee, "com.seq", "exact").unwrap();
        for c in &mut callers {
            sim.call(c, "com.seq", vec![]);
            sim.call(c, "com.seq", vec![]);
        }
        let ids: Vec<u64> = recv(&callee)
            .into_iter()
            .map(|msg| match msg {
                Message::Invocation(i) => i.request.get(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    });
}

#[test]
fn pattern_registrations_resolve_exact_then_prefix_then_wildcard() {
    matrix(|sim, ser| {
        let mut callee = sim.join(last(sim), ser);
        let mut caller = sim.join(0, ser);
        let wild = sim.register(&mut callee, "com..get", "wildcard").unwrap();
        let prefix = sim.register(&mut callee, "com.user", "prefix").unwrap();
        sim.call(&mut caller, "com.user.get", vec![]);
        let Message::Invocation(i) = one(&callee) else { panic!("unexpected message") };
        assert_eq!(i.registration, prefix);
        assert_eq!(i.details.get_str("procedure"), Some("com.user.get"));
        sim.call(&mut caller, "com.item.get", vec![]);
        let Message::Invocation(i) = one(&callee) else { panic!("unexpected message") };
        assert_eq!(i.registration, wild);
    });
}

#[test]
fn events_keep_publisher_order_across_topics_on_every_interleaving() {
    for seed in 1..40 {
        let mut sim = Sim::new(3, seed);
        let mut sub = sim.join(2, Serializer::MsgPack);
        sim.subscribe(&mut sub, "com.x", "exact");
        sim.subscribe(&mut sub, "com.y", "exact");
        sim.subscribe(&mut sub, "com", "prefix");
        let mut p = sim.join(0, Serializer::Json);
        let topics = ["com.x", "com.y", "com.z"];
        let mut queued = Vec::new();
        for i in 0..30u64 {
            let request = Sim::request(&mut p);
            let publish = m::Publish {
                request,
                options: Dict::new(),
                topic: topics[(i % 3) as usize].into(),
                payload: Payload::args(vec![Value::UInt(i)]),
            };
            let bytes = codec::encode(p.ser, &Message::Publish(publish)).unwrap();
            queued.push(codec::decode(p.ser, bytes).unwrap());
        }
        let key = p.key;
        for msg in queued {
            sim.message(0, key, msg);
        }
        sim.run();
        let seen: Vec<u64> = events(&sub).iter().map(|e| args_of(&e.payload)[0].as_u64().unwrap()).collect();
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "seed {seed}");
        assert_eq!(seen.len(), 50, "x and y twice (exact + prefix), z once");
        sim.finish();
    }
}

#[test]
fn subscribed_is_sent_only_after_every_shard_applied_the_subscription() {
    for seed in 1..40 {
        let mut sim = Sim::new(3, seed);
        let mut sub = sim.join(1, Serializer::Cbor);
        let mut pubs: Vec<Client> = (0..3).map(|s| sim.join(s, Serializer::Json)).collect();
        let request = Sim::request(&mut sub);
        let subscribe = m::Subscribe { request, options: Dict::new(), topic: "com.causal".into() };
        let bytes = codec::encode(sub.ser, &Message::Subscribe(subscribe)).unwrap();
        let key = sub.key;
        sim.message(1, key, codec::decode(Serializer::Cbor, bytes).unwrap());
        // Deliver cross-shard messages one at a time; as soon as SUBSCRIBED is out, every
        // shard's publisher must reach the subscriber.
        let mut got = Vec::new();
        while got.is_empty() {
            let busy: Vec<usize> = (0..sim.queues.len()).filter(|i| !sim.queues[*i].is_empty()).collect();
            assert!(!busy.is_empty(), "SUBSCRIBED never came");
            let q = busy[(seed as usize) % busy.len()];
            let msg = sim.queues[q].pop_front().unwrap();
            sim.shard_msg(q % 3, msg);
            got = recv(&sub);
        }
        assert!(matches!(got.as_slice(), [Message::Subscribed(_)]));
        for p in &mut pubs {
            sim.publish(p, "com.causal", vec![], Dict::new());
        }
        assert_eq!(events(&sub).len(), 3, "seed {seed}");
        sim.finish();
    }
}

#[test]
fn registered_precedes_every_invocation() {
    for seed in 1..40 {
        let mut sim = Sim::new(3, seed);
        let mut callee = sim.join(2, Serializer::MsgPack);
        let mut caller = sim.join(0, Serializer::Json);
        let request = Sim::request(&mut callee);
        let register = m::Register { request, options: Dict::new(), procedure: "com.race".into() };
        let bytes = codec::encode(callee.ser, &Message::Register(register)).unwrap();
        let key = callee.key;
        sim.message(2, key, codec::decode(Serializer::MsgPack, bytes).unwrap());
        // The caller calls as soon as its own shard knows the registration.
        let mut called = false;
        loop {
            let busy: Vec<usize> = (0..sim.queues.len()).filter(|i| !sim.queues[*i].is_empty()).collect();
            if busy.is_empty() {
                break;
            }
            let q = busy[(seed as usize * 7) % busy.len()];
            let msg = sim.queues[q].pop_front().unwrap();
            sim.shard_msg(q % 3, msg);
            if !called && sim.routers[0].dealer[0].replica.get("com.race", MatchPolicy::Exact).is_some() {
                called = true;
                let req = Sim::request(&mut caller);
                let call = m::Call {
                    request: req,
                    options: Dict::new(),
                    procedure: "com.race".into(),
                    payload: Payload::Empty,
                };
                let ck = caller.key;
                sim.message(0, ck, Message::Call(call));
            }
        }
        let got = recv(&callee);
        assert!(called);
        assert!(matches!(got.as_slice(), [Message::Registered(_), Message::Invocation(_)]), "seed {seed}: {got:?}");
        sim.finish();
    }
}

#[test]
fn goodbye_is_answered_with_goodbye_and_out() {
    matrix(|sim, ser| {
        let c = sim.join(0, ser);
        let g = m::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() };
        sim.send(&c, Message::Goodbye(g));
        let Message::Goodbye(g) = one(&c) else { panic!("unexpected message") };
        assert_eq!(g.reason, "wamp.close.goodbye_and_out");
        assert!(c.outbox.is_closing());
    });
}

#[test]
fn shutdown_says_goodbye_with_system_shutdown() {
    matrix(|sim, ser| {
        let c = sim.join(0, ser);
        sim.routers[0].shutdown();
        let Message::Goodbye(g) = one(&c) else { panic!("unexpected message") };
        assert_eq!(g.reason, "wamp.close.system_shutdown");
        sim.send(
            &c,
            Message::Goodbye(m::Goodbye { details: Dict::new(), reason: "wamp.close.goodbye_and_out".into() }),
        );
        assert!(recv(&c).is_empty());
        assert!(c.outbox.is_closing());
    });
}

#[test]
fn strict_realm_refuses_uppercase_topics() {
    let mut sim = Sim::new(2, 1);
    let mut c = sim.connect(0, Serializer::Json);
    sim.send(&c, hello("strict"));
    assert!(matches!(recv(&c).as_slice(), [Message::Welcome(_)]));
    let request = Sim::request(&mut c);
    sim.send(&c, Message::Subscribe(m::Subscribe { request, options: Dict::new(), topic: "com.Upper".into() }));
    let Message::Error(e) = one(&c) else { panic!("unexpected message") };
    assert_eq!(e.error, "wamp.error.invalid_uri");
    sim.finish();
}
