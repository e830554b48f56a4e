//! Event retention and event history in the simulator: publishers, subscribers and readers on
//! different shards from the shard that keeps a topic.

use std::time::Duration;

use super::sim::*;
use crate::codec::Serializer;
use crate::config::Limits;
use crate::wamp::message::{self as m, code};
use crate::wamp::{Dict, Id, Message, Value};

/// PUBLISH with `options` and acknowledge; the publication id from PUBLISHED.
fn publish_acked(sim: &mut Sim, c: &mut Client, topic: &str, args: Vec<Value>, options: Dict) -> Id {
    let request = Sim::request(c);
    let options = options.with("acknowledge", true);
    let publish = m::Publish { request, options, topic: topic.into(), payload: crate::codec::Payload::args(args) };
    sim.send(c, Message::Publish(publish));
    match recv(c).as_slice() {
        [Message::Published(p)] if p.request == request => p.publication,
        other => panic!("expected PUBLISHED, got {other:?}"),
    }
}

fn retain() -> Dict {
    Dict::new().with("retain", true)
}

/// SUBSCRIBE with `get_retained`: the subscription id and the retained EVENTs that followed it.
fn subscribe_retained(sim: &mut Sim, c: &mut Client, topic: &str, policy: &str) -> (Id, Vec<m::Event>) {
    let request = Sim::request(c);
    let options = Dict::new().with("match", policy).with("get_retained", true);
    sim.send(c, Message::Subscribe(m::Subscribe { request, options, topic: topic.into() }));
    let mut got = recv(c).into_iter();
    let id = match got.next() {
        Some(Message::Subscribed(s)) if s.request == request => s.subscription,
        other => panic!("expected SUBSCRIBED first, got {other:?}"),
    };
    let events = got
        .map(|msg| match msg {
            Message::Event(e) => e,
            other => panic!("expected EVENT, got {other:?}"),
        })
        .collect();
    (id, events)
}

#[test]
fn a_later_subscriber_on_any_shard_gets_the_latest_retained_event_after_subscribed() {
    matrix(|sim, ser| {
        let mut p = sim.join(0, ser);
        publish_acked(sim, &mut p, "com.state", vec![Value::from("old")], retain());
        let latest = publish_acked(sim, &mut p, "com.state", vec![Value::from("new")], retain());
        publish_acked(sim, &mut p, "com.state", vec![Value::from("not kept")], Dict::new());
        for shard in 0..sim.shards {
            let mut s = sim.join(shard, ser);
            let (id, events) = subscribe_retained(sim, &mut s, "com.state", "exact");
            assert_eq!(events.len(), 1, "shard {shard}");
            let e = &events[0];
            assert_eq!((e.subscription, e.publication), (id, latest));
            assert_eq!(e.details.get("retained"), Some(&Value::Bool(true)));
            assert_eq!(args_of(&e.payload), vec![Value::from("new")]);
            let mut plain = sim.join(shard, ser);
            sim.subscribe(&mut plain, "com.state", "exact");
            assert!(recv(&plain).is_empty(), "no retained event without get_retained");
        }
    });
}

#[test]
fn a_pattern_subscription_gets_the_retained_event_of_every_matching_topic() {
    matrix(|sim, ser| {
        let mut p = sim.join(last(sim), ser);
        for t in ["com.dev.a", "com.dev.b", "com.other"] {
            publish_acked(sim, &mut p, t, vec![Value::from(t)], retain());
        }
        let mut s = sim.join(0, ser);
        let (_, events) = subscribe_retained(sim, &mut s, "com.dev", "prefix");
        let mut topics: Vec<&str> = events.iter().map(|e| e.details.get_str("topic").unwrap()).collect();
        topics.sort_unstable();
        assert_eq!(topics, ["com.dev.a", "com.dev.b"]);
    });
}

#[test]
fn retained_events_keep_the_lists_and_disclosure_of_their_publication() {
    matrix(|sim, ser| {
        let mut p = sim.join_as(0, ser, "pub");
        let names = Value::List(vec![Value::from("a")]);
        let options = retain().with("eligible_authid", names).with("disclose_me", true);
        publish_acked(sim, &mut p, "com.secret", vec![], options);
        let mut a = sim.join_as(last(sim), ser, "a");
        let mut b = sim.join_as(last(sim), ser, "b");
        let (_, got) = subscribe_retained(sim, &mut a, "com.secret", "exact");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].details.get_str("publisher_authid"), Some("pub"));
        assert!(subscribe_retained(sim, &mut b, "com.secret", "exact").1.is_empty(), "not eligible");
        assert!(subscribe_retained(sim, &mut p, "com.secret", "exact").1.is_empty(), "exclude_me");
    });
}

#[test]
fn the_retained_store_is_bounded_and_replacing_a_topic_is_always_allowed() {
    for shards in 1..=3 {
        let limits = Limits { retained_max_events: 2, ..Limits::default() };
        let mut sim = Sim::with_limits(shards, 1, limits);
        let mut p = sim.join(0, Serializer::Json);
        let topics: Vec<String> = (0..6).map(|i| format!("com.t{i}")).collect();
        for t in &topics {
            publish_acked(&mut sim, &mut p, t, vec![Value::from("x")], retain());
        }
        let kept: usize = sim.routers.iter().map(|r| r.stored().0).sum();
        let refused: u64 = sim.routers.iter().map(|r| r.stats().retained_refused).sum();
        assert!(kept <= 2 * shards, "{kept} kept on {shards} shards");
        assert_eq!(kept as u64 + refused, 6);
        for t in &topics {
            publish_acked(&mut sim, &mut p, t, vec![Value::from("y")], retain());
        }
        assert_eq!(sim.routers.iter().map(|r| r.stored().0).sum::<usize>(), kept, "replacements fit");
        sim.close(&p);
        sim.finish();
    }
}

/// `wamp.subscription.get_events(subscription, limit)` with extra keyword arguments: the events.
fn get_events(sim: &mut Sim, c: &mut Client, sub: Id, limit: u64, kwargs: Dict) -> Result<Vec<Dict>, String> {
    let request = Sim::request(c);
    let payload =
        crate::codec::Payload::Values { args: vec![Value::UInt(sub.get()), Value::UInt(limit)], kwargs: Some(kwargs) };
    let call = m::Call { request, options: Dict::new(), procedure: "wamp.subscription.get_events".into(), payload };
    sim.send(c, Message::Call(call));
    match one(c) {
        Message::Result(r) => match args_of(&r.payload).into_iter().next() {
            Some(Value::List(l)) => Ok(l.into_iter().map(|v| v.as_dict().cloned().unwrap()).collect()),
            other => panic!("expected a list, got {other:?}"),
        },
        Message::Error(e) if e.request_type == code::CALL => Err(e.error),
        other => panic!("unexpected {other:?}"),
    }
}

fn tags(events: &[Dict]) -> Vec<Value> {
    events
        .iter()
        .map(|d| {
            d.get("args")
                .and_then(|a| match a {
                    Value::List(l) => l.first().cloned(),
                    _ => None,
                })
                .unwrap()
        })
        .collect()
}

#[test]
fn history_keeps_the_last_events_of_a_rule_and_get_events_selects_them() {
    matrix(|sim, ser| {
        let mut p = sim.join(0, ser);
        let mut reader = sim.join(last(sim), ser);
        let sub = sim.subscribe(&mut reader, "com.hist", "exact");
        let mut ids = Vec::new();
        for i in 0..5u64 {
            ids.push(publish_acked(sim, &mut p, "com.hist", vec![Value::UInt(i)], Dict::new()));
            sim.advance(Duration::from_secs(1));
        }
        let _ = events(&reader);
        let all = get_events(sim, &mut reader, sub, 10, Dict::new()).unwrap();
        assert_eq!(tags(&all), vec![Value::UInt(2), Value::UInt(3), Value::UInt(4)], "the rule keeps 3");
        let e = &all[0];
        assert_eq!(e.get("publication"), Some(&Value::UInt(ids[2].get())));
        assert_eq!(e.get("subscription"), Some(&Value::UInt(sub.get())));
        assert_eq!(e.get_str("topic"), Some("com.hist"));
        assert_eq!(e.get_str("timestamp"), Some("1970-01-01T00:00:02Z"));
        let two = get_events(sim, &mut reader, sub, 2, Dict::new().with("reverse", true)).unwrap();
        assert_eq!(tags(&two), vec![Value::UInt(4), Value::UInt(3)]);
        let after = Dict::new().with("after_publication", ids[2].get());
        assert_eq!(tags(&get_events(sim, &mut reader, sub, 10, after).unwrap()), vec![Value::UInt(3), Value::UInt(4)]);
        let until = Dict::new().with("until_time", "1970-01-01T00:00:03Z");
        assert_eq!(tags(&get_events(sim, &mut reader, sub, 10, until).unwrap()), vec![Value::UInt(2), Value::UInt(3)]);
        let bad = get_events(sim, &mut reader, sub, 10, Dict::new().with("from_time", "yesterday"));
        assert_eq!(bad, Err("wamp.error.invalid_argument".into()));
    });
}

#[test]
fn history_of_a_prefix_rule_keeps_every_matching_topic_but_not_events_naming_sessions() {
    matrix(|sim, ser| {
        let mut p = sim.join(last(sim), ser);
        let mut reader = sim.join(0, ser);
        let sub = sim.subscribe(&mut reader, "com.log", "prefix");
        publish_acked(sim, &mut p, "com.log.a", vec![Value::from("a")], Dict::new());
        let only_me = Value::List(vec![Value::UInt(reader.session.get())]);
        publish_acked(sim, &mut p, "com.log.b", vec![Value::from("listed")], Dict::new().with("eligible", only_me));
        publish_acked(sim, &mut p, "com.log.b", vec![Value::from("b")], Dict::new());
        let _ = events(&reader);
        let all = get_events(sim, &mut reader, sub, 10, Dict::new()).unwrap();
        assert_eq!(tags(&all), vec![Value::from("a"), Value::from("b")]);
        let b = get_events(sim, &mut reader, sub, 10, Dict::new().with("topic", "com.log.b")).unwrap();
        assert_eq!(tags(&b), vec![Value::from("b")]);
    });
}

#[test]
fn get_events_without_a_rule_is_empty_and_an_unknown_subscription_is_an_error() {
    matrix(|sim, ser| {
        let mut c = sim.join(0, ser);
        let sub = sim.subscribe(&mut c, "com.nohist", "exact");
        assert_eq!(get_events(sim, &mut c, sub, 10, Dict::new()), Ok(Vec::new()));
        let unknown = get_events(sim, &mut c, Id::new(987_654).unwrap(), 10, Dict::new());
        assert_eq!(unknown, Err("wamp.error.no_such_subscription".into()));
    });
}
