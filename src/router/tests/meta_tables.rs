//! The subscription and registration meta API in the simulator: procedures and events, with the
//! sessions concerned and the meta subscriber on different shards.

use super::sim::*;
use crate::wamp::message as m;
use crate::wamp::{Dict, Message, Value};

/// A session subscribed to every subscription (or registration) meta event, on shard 0.
fn watcher(sim: &mut Sim, ser: crate::codec::Serializer, table: &str) -> Client {
    let mut w = sim.join(0, ser);
    sim.subscribe(&mut w, &format!("wamp.{table}."), "prefix");
    w
}

/// The meta events `w` received: (event name, session, id or details).
fn seen(w: &Client) -> Vec<(String, u64, Value)> {
    events(w)
        .into_iter()
        .map(|e| {
            let topic =
                e.details.get_str("topic").unwrap_or_default().rsplit('.').next().unwrap_or_default().to_owned();
            let args = args_of(&e.payload);
            (topic, args[0].as_u64().unwrap(), args[1].clone())
        })
        .collect()
}

fn unsubscribe(sim: &mut Sim, c: &mut Client, subscription: crate::wamp::Id) {
    let request = Sim::request(c);
    sim.send(c, Message::Unsubscribe(m::Unsubscribe { request, subscription }));
    assert!(matches!(one(c), Message::Unsubscribed(_)));
}

#[test]
fn subscription_events_come_in_lifecycle_order_from_every_shard() {
    matrix(|sim, ser| {
        let w = watcher(sim, ser, "subscription");
        let mut a = sim.join(last(sim), ser);
        let mut b = sim.join(0, ser);
        let id = sim.subscribe(&mut a, "com.t", "exact");
        let got = seen(&w);
        assert_eq!(got.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["on_create", "on_subscribe"]);
        let d = got[0].2.as_dict().unwrap();
        assert_eq!(
            (d.get("id"), d.get_str("uri"), d.get_str("match")),
            (Some(&Value::UInt(id.get())), Some("com.t"), Some("exact"))
        );
        assert!(d.get_str("created").is_some_and(|t| t.ends_with('Z') && t.contains('T')), "{d:?}");
        assert_eq!((got[1].1, &got[1].2), (a.session.get(), &Value::UInt(id.get())));
        sim.subscribe(&mut b, "com.t", "exact");
        assert_eq!(seen(&w), vec![("on_subscribe".into(), b.session.get(), Value::UInt(id.get()))]);
        unsubscribe(sim, &mut a, id);
        assert_eq!(seen(&w), vec![("on_unsubscribe".into(), a.session.get(), Value::UInt(id.get()))]);
        sim.close(&b);
        let got: Vec<(String, u64)> = seen(&w).into_iter().map(|e| (e.0, e.1)).collect();
        assert_eq!(got, vec![("on_unsubscribe".into(), b.session.get()), ("on_delete".into(), b.session.get())]);
    });
}

#[test]
fn registration_events_come_in_lifecycle_order_from_every_shard() {
    matrix(|sim, ser| {
        let w = watcher(sim, ser, "registration");
        let mut a = sim.join(last(sim), ser);
        let mut b = sim.join(0, ser);
        let shared = || Dict::new().with("invoke", "roundrobin");
        let id = sim.register_with(&mut a, "com.p", shared()).unwrap();
        let got = seen(&w);
        assert_eq!(got.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["on_create", "on_register"]);
        assert_eq!(got[0].2.as_dict().and_then(|d| d.get_str("invoke")), Some("roundrobin"));
        sim.register_with(&mut b, "com.p", shared()).unwrap();
        assert_eq!(seen(&w), vec![("on_register".into(), b.session.get(), Value::UInt(id.get()))]);
        let request = Sim::request(&mut a);
        sim.send(&a, Message::Unregister(m::Unregister { request, registration: id }));
        assert!(matches!(one(&a), Message::Unregistered(_)));
        assert_eq!(seen(&w), vec![("on_unregister".into(), a.session.get(), Value::UInt(id.get()))]);
        sim.close(&b);
        let got: Vec<String> = seen(&w).into_iter().map(|e| e.0).collect();
        assert_eq!(got, ["on_unregister", "on_delete"]);
    });
}

#[test]
fn list_get_and_subscribers_answer_from_every_shard() {
    matrix(|sim, ser| {
        let mut subs: Vec<Client> = (0..3).map(|i| sim.join(i % sim.shards, ser)).collect();
        let mut ids = Vec::new();
        for s in subs.iter_mut() {
            ids.push(sim.subscribe(s, "com.t", "exact"));
        }
        let wild = sim.subscribe(&mut subs[0], "com..x", "wildcard");
        let mut e = sim.join(last(sim), ser);
        let reg = sim.register(&mut e, "com.p", "prefix").unwrap();
        let mut c = sim.join(0, ser);
        sim.subscribe(&mut c, "wamp.session.on_join", "exact");
        let id = Value::UInt(ids[0].get());
        let list = answer(sim, &mut c, "wamp.subscription.list", vec![]).unwrap();
        let list = list.as_dict().unwrap();
        assert_eq!(list.get("exact"), Some(&Value::List(vec![id.clone()])), "meta topics are not listed");
        assert_eq!(list.get("wildcard"), Some(&Value::List(vec![Value::UInt(wild.get())])));
        let mut members = match answer(sim, &mut c, "wamp.subscription.list_subscribers", vec![id.clone()]).unwrap() {
            Value::List(l) => l.into_iter().map(|v| v.as_u64().unwrap()).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        members.sort_unstable();
        let mut expected: Vec<u64> = subs.iter().map(|s| s.session.get()).collect();
        expected.sort_unstable();
        assert_eq!(members, expected);
        assert_eq!(answer(sim, &mut c, "wamp.subscription.count_subscribers", vec![id.clone()]), Ok(Value::UInt(3)));
        let got = answer(sim, &mut c, "wamp.subscription.get", vec![id]).unwrap();
        assert_eq!(got.as_dict().and_then(|d| d.get_str("uri")), Some("com.t"));
        let r = Value::UInt(reg.get());
        let list = answer(sim, &mut c, "wamp.registration.list", vec![]).unwrap();
        assert_eq!(list.as_dict().and_then(|d| d.get("prefix")), Some(&Value::List(vec![r.clone()])));
        let got = answer(sim, &mut c, "wamp.registration.get", vec![r.clone()]).unwrap();
        let d = got.as_dict().unwrap();
        assert_eq!(
            (d.get_str("uri"), d.get_str("match"), d.get_str("invoke")),
            (Some("com.p"), Some("prefix"), Some("single"))
        );
        let callees = Value::List(vec![Value::UInt(e.session.get())]);
        assert_eq!(answer(sim, &mut c, "wamp.registration.list_callees", vec![r.clone()]), Ok(callees));
        assert_eq!(answer(sim, &mut c, "wamp.registration.count_callees", vec![r]), Ok(Value::UInt(1)));
    });
}

#[test]
fn unknown_subscription_and_registration_ids_get_no_such_errors() {
    matrix(|sim, ser| {
        let mut c = sim.join(0, ser);
        let unknown = || vec![Value::UInt(123_456)];
        for p in ["get", "list_subscribers", "count_subscribers"] {
            let got = answer(sim, &mut c, &format!("wamp.subscription.{p}"), unknown());
            assert_eq!(got, Err("wamp.error.no_such_subscription".into()), "{p}");
        }
        for p in ["get", "list_callees", "count_callees"] {
            let got = answer(sim, &mut c, &format!("wamp.registration.{p}"), unknown());
            assert_eq!(got, Err("wamp.error.no_such_registration".into()), "{p}");
        }
        let bad = answer(sim, &mut c, "wamp.subscription.get", vec![Value::from("1")]);
        assert_eq!(bad, Err("wamp.error.invalid_argument".into()));
    });
}

#[test]
fn remove_subscriber_revokes_with_a_notice_only_to_sessions_that_announced_it() {
    matrix(|sim, ser| {
        let mut admin = sim.join(0, ser);
        let mut p = sim.join(0, ser);
        let mut told = sim.join_with(last(sim), ser, "realm1", &["subscriber.subscription_revocation"]);
        let mut silent = sim.join(last(sim), ser);
        let id = sim.subscribe(&mut told, "com.t", "exact");
        sim.subscribe(&mut silent, "com.t", "exact");
        let sub = Value::UInt(id.get());
        for (who, notice) in [(&told, true), (&silent, false)] {
            let args = vec![sub.clone(), Value::UInt(who.session.get()), Value::from("com.app.banned")];
            assert_eq!(answer(sim, &mut admin, "wamp.subscription.remove_subscriber", args), Ok(Value::Null));
            match (recv(who).as_slice(), notice) {
                ([Message::Unsubscribed(u)], true) => {
                    assert_eq!(u.request.get(), 0);
                    let d = u.details.as_ref().unwrap();
                    assert_eq!((d.get("subscription"), d.get_str("reason")), (Some(&sub), Some("com.app.banned")));
                }
                ([], false) => {}
                (other, _) => panic!("unexpected {other:?}"),
            }
        }
        sim.publish(&mut p, "com.t", vec![], Dict::new());
        assert!(recv(&told).is_empty() && recv(&silent).is_empty(), "revoked subscribers get no events");
        let again = vec![sub.clone(), Value::UInt(told.session.get())];
        let gone = answer(sim, &mut admin, "wamp.subscription.remove_subscriber", again);
        assert_eq!(gone, Err("wamp.error.no_such_subscription".into()), "the last subscriber left: deleted");
    });
}

#[test]
fn remove_callee_revokes_and_later_calls_find_no_callee() {
    matrix(|sim, ser| {
        let mut admin = sim.join(0, ser);
        let mut e = sim.join_with(last(sim), ser, "realm1", &["callee.registration_revocation"]);
        let id = sim.register(&mut e, "com.p", "exact").unwrap();
        let reg = Value::UInt(id.get());
        let stranger = vec![reg.clone(), Value::UInt(admin.session.get())];
        let not_callee = answer(sim, &mut admin, "wamp.registration.remove_callee", stranger);
        assert_eq!(not_callee, Err("wamp.error.no_such_session".into()));
        let args = vec![reg.clone(), Value::UInt(e.session.get())];
        assert_eq!(answer(sim, &mut admin, "wamp.registration.remove_callee", args), Ok(Value::Null));
        match recv(&e).as_slice() {
            [Message::Unregistered(u)] => {
                assert_eq!(u.request.get(), 0);
                assert_eq!(u.details.as_ref().and_then(|d| d.get("registration")), Some(&reg));
            }
            other => panic!("expected UNREGISTERED, got {other:?}"),
        }
        let request = sim.call(&mut admin, "com.p", vec![]);
        match one(&admin) {
            Message::Error(err) => {
                assert_eq!((err.request, err.error.as_str()), (request, "wamp.error.no_such_procedure"))
            }
            other => panic!("expected ERROR, got {other:?}"),
        }
    });
}
