//! Advanced Profile pub/sub in the simulator: publisher identification and subscriber black- and
//! whitelists, with publisher and subscribers spread over every shard.

use super::sim::*;
use crate::codec::Serializer;
use crate::wamp::message::{self as m, code};
use crate::wamp::{Dict, Message, Value};

fn ids(v: &[&Client]) -> Value {
    Value::List(v.iter().map(|c| Value::UInt(c.session.get())).collect())
}

fn names(v: &[&str]) -> Value {
    Value::List(v.iter().map(|x| Value::from(*x)).collect())
}

/// Four subscribers to `com.t`, one per shard in turn (authids a, b, c, d), and a publisher.
fn audience(sim: &mut Sim, ser: Serializer) -> (Client, Vec<Client>) {
    let p = sim.join_as(0, ser, "pub");
    let mut subs = Vec::new();
    for (i, authid) in ["a", "b", "c", "d"].into_iter().enumerate() {
        let mut s = sim.join_as(i % sim.shards, ser, authid);
        sim.subscribe(&mut s, "com.t", "exact");
        subs.push(s);
    }
    (p, subs)
}

/// Which of `subs` got exactly one event (and nobody more than one).
fn receivers(subs: &[Client]) -> Vec<usize> {
    let mut got = Vec::new();
    for (i, s) in subs.iter().enumerate() {
        match events(s).len() {
            0 => {}
            1 => got.push(i),
            n => panic!("subscriber {i} got {n} events"),
        }
    }
    got
}

#[test]
fn disclose_me_names_the_publisher_and_nothing_is_disclosed_by_default() {
    matrix(|sim, ser| {
        let (mut p, subs) = audience(sim, ser);
        sim.publish(&mut p, "com.t", vec![], Dict::new());
        for s in &subs {
            let e = events(s);
            assert!(e[0].details.get("publisher").is_none(), "{:?}", e[0].details);
        }
        sim.publish(&mut p, "com.t", vec![], Dict::new().with("disclose_me", true));
        for s in &subs {
            let d = &events(s)[0].details;
            assert_eq!(d.get("publisher").and_then(Value::as_u64), Some(p.session.get()));
            assert_eq!(d.get_str("publisher_authid"), Some("pub"));
            assert_eq!(d.get_str("publisher_authrole"), Some("anonymous"));
        }
    });
}

#[test]
fn disclosure_on_a_pattern_subscription_keeps_the_topic() {
    matrix(|sim, ser| {
        let mut p = sim.join_as(0, ser, "pub");
        let mut s = sim.join(last(sim), ser);
        sim.subscribe(&mut s, "com", "prefix");
        sim.publish(&mut p, "com.x", vec![], Dict::new().with("disclose_me", true));
        let d = &events(&s)[0].details;
        assert_eq!((d.get_str("topic"), d.get_str("publisher_authid")), (Some("com.x"), Some("pub")));
    });
}

#[test]
fn eligible_admits_only_the_sessions_named_on_every_shard() {
    matrix(|sim, ser| {
        let (mut p, subs) = audience(sim, ser);
        sim.publish(&mut p, "com.t", vec![], Dict::new().with("eligible", ids(&[&subs[1], &subs[2]])));
        assert_eq!(receivers(&subs), vec![1, 2]);
        sim.publish(&mut p, "com.t", vec![], Dict::new().with("eligible", ids(&[])));
        assert_eq!(receivers(&subs), Vec::<usize>::new(), "an empty whitelist admits nobody");
    });
}

#[test]
fn exclude_removes_the_sessions_named_after_eligible() {
    matrix(|sim, ser| {
        let (mut p, subs) = audience(sim, ser);
        let options =
            Dict::new().with("eligible", ids(&[&subs[0], &subs[1], &subs[2]])).with("exclude", ids(&[&subs[1]]));
        sim.publish(&mut p, "com.t", vec![], options);
        assert_eq!(receivers(&subs), vec![0, 2]);
    });
}

#[test]
fn authid_and_authrole_lists_combine_with_and() {
    matrix(|sim, ser| {
        let (mut p, subs) = audience(sim, ser);
        let options =
            Dict::new().with("eligible_authid", names(&["a", "b", "d"])).with("exclude_authid", names(&["b"]));
        sim.publish(&mut p, "com.t", vec![], options);
        assert_eq!(receivers(&subs), vec![0, 3]);
        sim.publish(&mut p, "com.t", vec![], Dict::new().with("eligible_authrole", names(&["anonymous"])));
        assert_eq!(receivers(&subs), vec![0, 1, 2, 3]);
        sim.publish(&mut p, "com.t", vec![], Dict::new().with("exclude_authrole", names(&["anonymous"])));
        assert_eq!(receivers(&subs), Vec::<usize>::new());
        let options = Dict::new().with("eligible_authrole", names(&["admin"])).with("eligible_authid", names(&["a"]));
        sim.publish(&mut p, "com.t", vec![], options);
        assert_eq!(receivers(&subs), Vec::<usize>::new(), "every whitelist must admit");
    });
}

#[test]
fn an_eligible_publisher_gets_its_event_only_without_exclude_me() {
    matrix(|sim, ser| {
        let mut p = sim.join_as(0, ser, "pub");
        sim.subscribe(&mut p, "com.t", "exact");
        let me = ids(&[&p]);
        sim.publish(&mut p, "com.t", vec![], Dict::new().with("eligible", me.clone()));
        assert!(events(&p).is_empty(), "exclude_me applies after the whitelist");
        let options = Dict::new().with("eligible", me).with("exclude_me", false);
        sim.publish(&mut p, "com.t", vec![], options);
        assert_eq!(events(&p).len(), 1);
    });
}

#[test]
fn a_list_of_the_wrong_type_gets_invalid_argument_naming_the_key() {
    matrix(|sim, ser| {
        let (mut p, subs) = audience(sim, ser);
        let request = Sim::request(&mut p);
        let options = Dict::new().with("acknowledge", true).with("exclude", names(&["x"]));
        let publish = m::Publish { request, options, topic: "com.t".into(), payload: crate::codec::Payload::Empty };
        sim.send(&p, Message::Publish(publish));
        let Message::Error(e) = one(&p) else { panic!("expected ERROR") };
        assert_eq!(
            (e.request_type, e.request, e.error.as_str()),
            (code::PUBLISH, request, "wamp.error.invalid_argument")
        );
        assert!(format!("{:?}", e.payload).contains("exclude"));
        assert_eq!(receivers(&subs), Vec::<usize>::new(), "nothing is published");
    });
}

#[test]
fn lists_naming_unknown_sessions_are_harmless() {
    matrix(|sim, ser| {
        let (mut p, subs) = audience(sim, ser);
        let nobody = Value::List(vec![Value::UInt(crate::wamp::id::MAX_ID)]);
        sim.publish(&mut p, "com.t", vec![], Dict::new().with("exclude", nobody));
        assert_eq!(receivers(&subs), vec![0, 1, 2, 3]);
    });
}
