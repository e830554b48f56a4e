//! Publish & subscribe over real sockets, across every transport x serializer, one shard and two.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use wampyard::codec::{Payload, Serializer};
use wampyard::wamp::{Dict, Message, Value};

#[test]
fn event_reaches_subscribers_on_every_shard_with_args_and_kwargs() {
    matrix(|r, kind, ser| {
        let topic = uri("fanout", kind, ser, r);
        let mut subs = vec![
            Client::join(r, On::First, kind, ser),
            Client::join(r, On::Last, kind, ser),
            Client::join(r, On::Any, kind, ser),
        ];
        let ids: Vec<_> = subs.iter_mut().map(|c| c.subscribe(&topic, Dict::new())).collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "one subscription id per topic");
        let mut publisher = Client::join(r, On::First, kind, ser);
        let kwargs = Dict::new().with("k", "v").with("n", 1u64 << 53);
        let payload = Payload::Values { args: rich_args(), kwargs: Some(kwargs.clone()) };
        assert!(matches!(publisher.publish_acked(&topic, payload), Message::Published(_)));
        for c in &mut subs {
            let e = c.event();
            assert_eq!(e.subscription, ids[0]);
            assert_eq!(values(&e.payload), (rich_args(), Some(kwargs.clone())));
        }
    });
}

#[test]
fn publisher_on_one_shard_reaches_subscriber_on_the_other() {
    matrix(|r, kind, ser| {
        let topic = uri("cross", kind, ser, r);
        let mut sub = Client::join(r, On::Last, kind, ser);
        sub.subscribe(&topic, Dict::new());
        let mut publisher = Client::join(r, On::First, kind, ser);
        publisher.publish(&topic, Dict::new(), Payload::args(vec![Value::from("x")]));
        assert_eq!(values(&sub.event().payload).0, vec![Value::from("x")]);
    });
}

#[test]
fn mixed_serializers_get_identical_payloads() {
    for r in routers() {
        for kind in KINDS {
            let topic = uri("mixed", kind, Serializer::Json, r);
            let mut subs: Vec<Client> = Serializer::ALL.iter().map(|s| Client::join(r, On::Last, kind, *s)).collect();
            for c in &mut subs {
                c.subscribe(&topic, Dict::new());
            }
            let mut publisher = Client::join(r, On::First, kind, Serializer::Json);
            let kwargs = Dict::new().with("bin", Value::Bytes(vec![9, 8, 7]));
            let payload = Payload::Values { args: rich_args(), kwargs: Some(kwargs.clone()) };
            publisher.publish(&topic, Dict::new(), payload);
            for c in &mut subs {
                let e = c.event();
                assert_eq!(values(&e.payload), (rich_args(), Some(kwargs.clone())), "{:?}", c.ser);
            }
        }
    }
}

#[test]
fn publisher_does_not_get_its_own_event_unless_exclude_me_is_false() {
    matrix(|r, kind, ser| {
        let topic = uri("exclude", kind, ser, r);
        let mut c = Client::join(r, On::Any, kind, ser);
        c.subscribe(&topic, Dict::new());
        c.publish(&topic, Dict::new(), Payload::args(vec![Value::UInt(1)]));
        c.publish(&topic, Dict::new().with("exclude_me", false), Payload::args(vec![Value::UInt(2)]));
        assert_eq!(values(&c.event().payload).0, vec![Value::UInt(2)]);
    });
}

#[test]
fn unsubscribed_session_gets_no_more_events() {
    matrix(|r, kind, ser| {
        let topic = uri("unsub", kind, ser, r);
        let mut sub = Client::join(r, On::Last, kind, ser);
        let id = sub.subscribe(&topic, Dict::new());
        assert!(matches!(sub.unsubscribe(id), Message::Unsubscribed(_)));
        assert_eq!(error_of(Some(sub.unsubscribe(id)), codes::UNSUBSCRIBE), "wamp.error.no_such_subscription");
        let mut publisher = Client::join(r, On::First, kind, ser);
        publisher.publish(&topic, Dict::new(), Payload::Empty);
        // A second subscription that does get the next event proves nothing else was queued.
        let other = format!("{topic}.other");
        sub.subscribe(&other, Dict::new());
        publisher.publish(&other, Dict::new(), Payload::args(vec![Value::from("only")]));
        assert_eq!(values(&sub.event().payload).0, vec![Value::from("only")]);
    });
}

#[test]
fn next_publish_after_subscribed_reaches_the_subscriber_200_times_in_a_row() {
    for r in routers() {
        let mut sub = Client::join(r, On::First, Kind::RawTcp, Serializer::MsgPack);
        let mut publisher = Client::join(r, On::Last, Kind::WebSocket, Serializer::Json);
        for i in 0..200u64 {
            let topic = format!("com.test.causal.s{}.t{i}", r.shards);
            let id = sub.subscribe(&topic, Dict::new());
            publisher.publish(&topic, Dict::new(), Payload::args(vec![Value::UInt(i)]));
            let e = sub.event();
            assert_eq!((e.subscription, values(&e.payload).0), (id, vec![Value::UInt(i)]), "round {i}");
            assert!(matches!(sub.unsubscribe(id), Message::Unsubscribed(_)));
        }
    }
}

#[test]
fn events_of_one_publisher_arrive_in_order_across_topics() {
    for r in routers() {
        let base = format!("com.test.order.s{}", r.shards);
        let mut sub = Client::join(r, On::Last, Kind::RawTcp, Serializer::Cbor);
        sub.subscribe(&format!("{base}.a"), Dict::new());
        sub.subscribe(&format!("{base}.b"), Dict::new());
        let mut publisher = Client::join(r, On::First, Kind::RawTcp, Serializer::MsgPack);
        for i in 0..500u64 {
            let topic = if i % 2 == 0 { format!("{base}.a") } else { format!("{base}.b") };
            publisher.publish(&topic, Dict::new(), Payload::args(vec![Value::UInt(i)]));
        }
        for i in 0..500u64 {
            assert_eq!(values(&sub.event().payload).0, vec![Value::UInt(i)]);
        }
    }
}

#[test]
fn prefix_and_wildcard_subscriptions_get_the_concrete_topic() {
    matrix(|r, kind, ser| {
        let base = uri("pattern", kind, ser, r);
        let mut sub = Client::join(r, On::Last, kind, ser);
        let prefix = sub.subscribe(&base, Dict::new().with("match", "prefix"));
        let mut publisher = Client::join(r, On::First, kind, ser);
        publisher.publish(&format!("{base}.leaf"), Dict::new(), Payload::Empty);
        let e = sub.event();
        assert_eq!(e.subscription, prefix);
        assert_eq!(e.details.get_str("topic"), Some(format!("{base}.leaf").as_str()));
        let wild = format!("{base}..leaf");
        let w = sub.subscribe(&wild, Dict::new().with("match", "wildcard"));
        publisher.publish(&format!("{base}.x.leaf"), Dict::new(), Payload::Empty);
        let mut got: Vec<_> = (0..2).map(|_| sub.event().subscription).collect();
        got.sort();
        let mut want = vec![prefix, w];
        want.sort();
        assert_eq!(got, want);
    });
}

#[test]
fn invalid_topics_are_refused_with_invalid_uri() {
    matrix(|r, kind, ser| {
        let mut c = Client::join(r, On::Any, kind, ser);
        let reply = c.publish_acked("com..bad", Payload::Empty);
        assert_eq!(error_of(Some(reply), codes::PUBLISH), "wamp.error.invalid_uri");
        let reply = c.publish_acked("wamp.reserved", Payload::Empty);
        assert_eq!(error_of(Some(reply), codes::PUBLISH), "wamp.error.invalid_uri");
    });
}
