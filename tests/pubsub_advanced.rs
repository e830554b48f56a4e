//! Advanced Profile Pub/Sub over real sockets, across every transport x serializer, one shard and
//! two: publisher identification (`disclose_me`) and subscriber black- and whitelisting
//! (`eligible`, `exclude` and their `_authid` / `_authrole` forms, combined, then `exclude_me`).
//! Subscribers sit on the first and the last shard in turn, publishers on the first, so every
//! list is applied on the publisher's shard and on another one. The simulator's test of the same
//! behaviour is `src/router/tests/pubsub.rs`.
//!
//! "Nobody else got it" is shown without sleeping: events of one publisher reach one subscriber in
//! order, across topics, so the publisher's sentinel to everyone ([`received_before_sentinel`])
//! arrives after anything its earlier publications delivered. EVENTs with and without disclosed
//! publishers are compared byte for byte with hand-written encodings ([`event_wire`]), so a bug
//! shared by the project's encoder and decoder cannot hide.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::pubsub::*;
use common::rpc::assert_wire;
use common::*;
use wampyard::codec::{Payload, Serializer};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Id, Message, Value};

/// Subscribers of `topic`, joined with `authids` (`None`: no authid in HELLO), on the first and
/// the last shard in turn.
fn subscribers(
    r: &TestRouter,
    kind: Kind,
    ser: Serializer,
    topic: &str,
    authids: &[Option<&str>],
) -> (Vec<Client>, Id) {
    let mut subs = Vec::new();
    let mut ids = Vec::new();
    for (i, authid) in authids.iter().enumerate() {
        let mut c = join_as(r, side(i), kind, ser, *authid);
        ids.push(c.subscribe(topic, Dict::new()));
        subs.push(c);
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "one subscription id per topic: {ids:?}");
    (subs, ids[0])
}

/// `publisher` publishes `tag` with `options` (acknowledged); then exactly the subscribers
/// `admitted` names must have got it, and nobody anything else.
fn reaches(publisher: &mut Client, topic: &str, subs: &mut [Client], options: Dict, tag: &str, admitted: &[bool]) {
    assert_eq!(subs.len(), admitted.len());
    let shown = format!("{options:?}");
    published(publisher, topic, options, tag);
    let got = received_before_sentinel(publisher, topic, &mut subs.iter_mut().collect::<Vec<_>>());
    assert_eq!(got, expected(admitted, tag), "who got {tag} with {shown}");
}

fn assert_no_publisher(e: &m::Event) {
    for key in ["publisher", "publisher_authid", "publisher_authrole"] {
        assert_eq!(e.details.get(key), None, "{key} must not be disclosed");
    }
}

fn assert_publisher(e: &m::Event, publisher: &Client, authid: &str) {
    assert_eq!(e.details.get("publisher"), Some(&Value::UInt(publisher.session.get())));
    assert_eq!(e.details.get_str("publisher_authid"), Some(authid));
    assert_eq!(e.details.get_str("publisher_authrole"), Some("anonymous"));
}

// ---------------------------------------------------------------------------------------------
// The handshake

#[test]
fn welcome_announces_publisher_identification_and_subscriber_blackwhite_listing() {
    matrix(|r, kind, ser| {
        let (_, details) = join_as_with_welcome(r, On::Any, kind, ser, None);
        let features = details
            .get("roles")
            .and_then(Value::as_dict)
            .and_then(|d| d.get("broker"))
            .and_then(Value::as_dict)
            .and_then(|d| d.get("features"))
            .and_then(Value::as_dict)
            .expect("WELCOME.Details.roles.broker.features");
        for feature in ["publisher_identification", "subscriber_blackwhite_listing", "publisher_exclusion"] {
            assert_eq!(features.get_bool(feature), Some(true), "{feature}");
        }
    });
}

#[test]
fn an_anonymous_session_keeps_the_authid_it_sent_and_has_the_role_anonymous() {
    matrix(|r, kind, ser| {
        let (c, details) = join_as_with_welcome(r, On::Any, kind, ser, Some("alice"));
        assert_eq!((c.authid.as_str(), details.get_str("authrole")), ("alice", Some("anonymous")));
        let (c, details) = join_as_with_welcome(r, On::Any, kind, ser, None);
        assert!(!c.authid.is_empty(), "the router gives a session without authid one");
        assert_eq!(details.get_str("authrole"), Some("anonymous"));
    });
}

// ---------------------------------------------------------------------------------------------
// Publisher identification

#[test]
fn the_publisher_is_not_disclosed_by_default_nor_with_disclose_me_false() {
    matrix(|r, kind, ser| {
        let topic = uri("psadv.hidden", kind, ser, r);
        let mut sub = join_as(r, On::Last, kind, ser, None);
        let subscription = sub.subscribe(&topic, Dict::new());
        let mut p = join_as(r, On::First, kind, ser, Some("alice"));
        // On raw bytes: empty details.
        let publication = published(&mut p, &topic, Dict::new(), "x");
        assert_wire(ser, sub.recv_bytes(), &event_wire(ser, subscription, publication, &[], "x"));
        published(&mut p, &topic, Dict::new().with("disclose_me", false), "y");
        let e = sub.event();
        assert_eq!(tag_of(&e), "y");
        assert_no_publisher(&e);
        assert!(e.details.is_empty(), "{:?}", e.details);
    });
}

#[test]
fn disclose_me_gives_every_subscriber_the_publisher_session_authid_and_authrole() {
    matrix(|r, kind, ser| {
        let topic = uri("psadv.disclosed", kind, ser, r);
        let (mut subs, subscription) = subscribers(r, kind, ser, &topic, &[None, None]);
        let mut p = join_as(r, On::First, kind, ser, Some("alice"));
        let publication = published(&mut p, &topic, Dict::new().with("disclose_me", true), "x");
        let details = [
            ("publisher", W::U(p.session.get())),
            ("publisher_authid", W::S("alice")),
            ("publisher_authrole", W::S("anonymous")),
        ];
        let want = event_wire(ser, subscription, publication, &details, "x");
        for s in &mut subs {
            assert_wire(ser, s.recv_bytes(), &want);
        }
        // A publisher that sent no authid is disclosed with the one the router gave it.
        let mut q = join_as(r, On::Last, kind, ser, None);
        published(&mut q, &topic, Dict::new().with("disclose_me", true), "y");
        for s in &mut subs {
            let e = s.event();
            assert_eq!(tag_of(&e), "y");
            assert_publisher(&e, &q, &q.authid);
        }
        // Disclosure is per publication: the next one without it is anonymous again.
        published(&mut q, &topic, Dict::new(), "z");
        for s in &mut subs {
            assert_no_publisher(&s.event());
        }
    });
}

#[test]
fn a_pattern_subscription_gets_the_disclosed_publisher_and_the_topic() {
    matrix(|r, kind, ser| {
        let base = uri("psadv.pattern", kind, ser, r);
        let topic = format!("{base}.leaf");
        let mut sub = join_as(r, On::Last, kind, ser, None);
        let subscription = sub.subscribe(&base, Dict::new().with("match", "prefix"));
        let mut p = join_as(r, On::First, kind, ser, Some("bob"));
        let publication = published(&mut p, &topic, Dict::new().with("disclose_me", true), "x");
        let details = [
            ("publisher", W::U(p.session.get())),
            ("publisher_authid", W::S("bob")),
            ("publisher_authrole", W::S("anonymous")),
            ("topic", W::S(&topic)),
        ];
        assert_wire(ser, sub.recv_bytes(), &event_wire(ser, subscription, publication, &details, "x"));
    });
}

// ---------------------------------------------------------------------------------------------
// Black- and whitelists by session id

#[test]
fn eligible_delivers_only_to_the_listed_sessions() {
    matrix(|r, kind, ser| {
        let topic = uri("psadv.eligible", kind, ser, r);
        let (mut subs, _) = subscribers(r, kind, ser, &topic, &[None; 4]);
        let mut p = join_as(r, On::First, kind, ser, None);
        let options = Dict::new().with("eligible", sessions(&[&subs[0], &subs[3]]));
        reaches(&mut p, &topic, &mut subs, options, "a", &[true, false, false, true]);
        let options = Dict::new().with("eligible", sessions(&[&subs[2]]));
        reaches(&mut p, &topic, &mut subs, options, "b", &[false, false, true, false]);
        // A listed session that is not subscribed changes nothing for the others.
        let options = Dict::new().with("eligible", sessions(&[&p, &subs[1]]));
        reaches(&mut p, &topic, &mut subs, options, "c", &[false, true, false, false]);
    });
}

#[test]
fn exclude_drops_the_listed_sessions() {
    matrix(|r, kind, ser| {
        let topic = uri("psadv.exclude", kind, ser, r);
        let (mut subs, _) = subscribers(r, kind, ser, &topic, &[None; 4]);
        let mut p = join_as(r, On::First, kind, ser, None);
        let options = Dict::new().with("exclude", sessions(&[&subs[1], &subs[2]]));
        reaches(&mut p, &topic, &mut subs, options, "a", &[true, false, false, true]);
        let options = Dict::new().with("exclude", Value::List(vec![Value::UInt(1)]));
        reaches(&mut p, &topic, &mut subs, options, "b", &[true; 4]);
        let options = Dict::new().with("exclude", Value::List(vec![]));
        reaches(&mut p, &topic, &mut subs, options, "c", &[true; 4]);
    });
}

// ---------------------------------------------------------------------------------------------
// By authid and authrole

#[test]
fn eligible_authid_and_exclude_authid_match_the_authid_of_each_subscriber() {
    matrix(|r, kind, ser| {
        let topic = uri("psadv.authid", kind, ser, r);
        let (mut subs, _) = subscribers(r, kind, ser, &topic, &[Some("alice"), Some("alice"), Some("bob"), None]);
        let generated = subs[3].authid.clone();
        let mut p = join_as(r, On::First, kind, ser, Some("alice"));
        let options = Dict::new().with("eligible_authid", names(&["alice"]));
        reaches(&mut p, &topic, &mut subs, options, "a", &[true, true, false, false]);
        let options = Dict::new().with("eligible_authid", names(&["bob", &generated]));
        reaches(&mut p, &topic, &mut subs, options, "b", &[false, false, true, true]);
        let options = Dict::new().with("exclude_authid", names(&["alice"]));
        reaches(&mut p, &topic, &mut subs, options, "c", &[false, false, true, true]);
        let options = Dict::new().with("exclude_authid", names(&["nobody", "bob"]));
        reaches(&mut p, &topic, &mut subs, options, "d", &[true, true, false, true]);
        // Authids are compared exactly.
        let options = Dict::new().with("eligible_authid", names(&["Alice", "alic", "alice "]));
        reaches(&mut p, &topic, &mut subs, options, "e", &[false; 4]);
    });
}

#[test]
fn eligible_authrole_and_exclude_authrole_match_the_role_anonymous() {
    matrix(|r, kind, ser| {
        let topic = uri("psadv.authrole", kind, ser, r);
        let (mut subs, _) = subscribers(r, kind, ser, &topic, &[Some("alice"), None, Some("bob")]);
        let mut p = join_as(r, On::First, kind, ser, None);
        let cases = [
            ("eligible_authrole", &["anonymous"][..], "a", true),
            ("eligible_authrole", &["admin", "user"][..], "b", false),
            ("exclude_authrole", &["anonymous"][..], "c", false),
            ("exclude_authrole", &["admin"][..], "d", true),
        ];
        for (key, roles, tag, all) in cases {
            reaches(&mut p, &topic, &mut subs, Dict::new().with(key, names(roles)), tag, &[all; 3]);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Combined

#[test]
fn every_whitelist_must_admit_a_subscriber_and_no_blacklist_may_name_it() {
    matrix(|r, kind, ser| {
        let topic = uri("psadv.combined", kind, ser, r);
        let authids = [Some("alice"), Some("alice"), Some("bob"), Some("alice"), Some("carol")];
        let (mut subs, _) = subscribers(r, kind, ser, &topic, &authids);
        let mut p = join_as(r, On::First, kind, ser, None);
        // 0 is admitted; 1 excluded by session; 2's authid is not eligible; 3's session is not
        // eligible; 4 is admitted.
        let options = Dict::new()
            .with("eligible", sessions(&[&subs[0], &subs[1], &subs[2], &subs[4]]))
            .with("eligible_authid", names(&["alice", "carol"]))
            .with("exclude", sessions(&[&subs[1]]));
        reaches(&mut p, &topic, &mut subs, options.clone(), "a", &[true, false, false, false, true]);
        let options = options.with("exclude_authid", names(&["carol"]));
        reaches(&mut p, &topic, &mut subs, options, "b", &[true, false, false, false, false]);
        let options = Dict::new()
            .with("eligible", sessions(&[&subs[2], &subs[3]]))
            .with("eligible_authrole", names(&["anonymous"]))
            .with("exclude_authrole", names(&["admin"]))
            .with("exclude_authid", names(&["alice"]));
        reaches(&mut p, &topic, &mut subs, options, "c", &[false, false, true, false, false]);
        // A blacklist wins over a whitelist naming the same session.
        let options = Dict::new().with("eligible", sessions(&[&subs[0]])).with("exclude", sessions(&[&subs[0]]));
        reaches(&mut p, &topic, &mut subs, options, "d", &[false; 5]);
        let options =
            Dict::new().with("eligible_authid", names(&["bob"])).with("exclude_authrole", names(&["anonymous"]));
        reaches(&mut p, &topic, &mut subs, options, "e", &[false; 5]);
    });
}

#[test]
fn an_empty_whitelist_admits_nobody() {
    matrix(|r, kind, ser| {
        let topic = uri("psadv.empty", kind, ser, r);
        let (mut subs, _) = subscribers(r, kind, ser, &topic, &[Some("alice"), None]);
        let mut p = join_as(r, On::First, kind, ser, None);
        for (key, tag) in [("eligible", "a"), ("eligible_authid", "b"), ("eligible_authrole", "c")] {
            reaches(&mut p, &topic, &mut subs, Dict::new().with(key, Value::List(vec![])), tag, &[false, false]);
        }
        // Empty blacklists exclude nobody.
        for (key, tag) in [("exclude", "d"), ("exclude_authid", "e"), ("exclude_authrole", "f")] {
            reaches(&mut p, &topic, &mut subs, Dict::new().with(key, Value::List(vec![])), tag, &[true, true]);
        }
    });
}

/// `p`, subscribed itself, publishes `tag` with `options`, then the sentinel to everyone, both
/// unacknowledged (a PUBLISHED has no order with `p`'s own events); then exactly `admitted` (`p`
/// first) must have got `tag`.
fn reaches_self(p: &mut Client, topic: &str, subs: &mut [Client], options: Dict, tag: &str, admitted: [bool; 3]) {
    let shown = format!("{options:?}");
    p.publish(topic, options, Payload::args(vec![Value::from(tag)]));
    p.publish(topic, Dict::new().with("exclude_me", false), Payload::args(vec![Value::from(SENTINEL)]));
    let mut got = vec![until_sentinel(p)];
    got.extend(subs.iter_mut().map(until_sentinel));
    assert_eq!(got, expected(&admitted, tag), "who got {tag} with {shown} (the publisher first)");
}

#[test]
fn exclude_me_applies_after_the_lists_and_false_lets_an_eligible_publisher_receive() {
    matrix(|r, kind, ser| {
        let topic = uri("psadv.exclude_me", kind, ser, r);
        let mut p = join_as(r, On::First, kind, ser, Some("publisher"));
        p.subscribe(&topic, Dict::new());
        let (mut subs, _) = subscribers(r, kind, ser, &topic, &[Some("other"), Some("other")]);
        let me = sessions(&[&p]);
        let with_other = sessions(&[&p, &subs[0]]);
        let options = Dict::new().with("eligible", me.clone()).with("exclude_me", false);
        reaches_self(&mut p, &topic, &mut subs, options, "a", [true, false, false]);
        // exclude_me (true by default) still excludes an eligible publisher.
        let options = Dict::new().with("eligible", with_other.clone());
        reaches_self(&mut p, &topic, &mut subs, options, "b", [false, true, false]);
        let options = Dict::new().with("eligible", with_other).with("exclude_me", true);
        reaches_self(&mut p, &topic, &mut subs, options, "c", [false, true, false]);
        // A blacklist naming the publisher wins over exclude_me=false.
        let options = Dict::new().with("exclude", me).with("exclude_me", false);
        reaches_self(&mut p, &topic, &mut subs, options, "d", [false, true, true]);
        let options = Dict::new().with("eligible_authid", names(&["publisher"])).with("exclude_me", false);
        reaches_self(&mut p, &topic, &mut subs, options, "e", [true, false, false]);
        let options = Dict::new().with("exclude_authid", names(&["other"])).with("exclude_me", false);
        reaches_self(&mut p, &topic, &mut subs, options, "f", [true, false, false]);
    });
}

// ---------------------------------------------------------------------------------------------
// Bad lists

#[test]
fn a_list_of_the_wrong_type_gets_invalid_argument_when_acknowledged_and_is_dropped_otherwise() {
    matrix(|r, kind, ser| {
        let topic = uri("psadv.badlist", kind, ser, r);
        let (mut subs, _) = subscribers(r, kind, ser, &topic, &[None, None]);
        let mut p = join_as(r, On::First, kind, ser, None);
        let bad = [
            ("eligible", Value::from("1")),
            ("eligible", Value::List(vec![Value::from("1")])),
            ("eligible", Value::List(vec![Value::UInt((1 << 53) + 1)])),
            ("exclude", Value::UInt(subs[0].session.get())),
            ("exclude", Value::List(vec![Value::Int(-1)])),
            ("exclude", Value::List(vec![Value::Float(1.5)])),
            ("eligible_authid", Value::List(vec![Value::UInt(1)])),
            ("exclude_authid", Value::from("alice")),
            ("eligible_authrole", Value::Dict(Dict::new().with("anonymous", true))),
            ("exclude_authrole", Value::List(vec![Value::Bool(true)])),
            ("eligible", Value::Bool(true)),
        ];
        for (key, value) in bad {
            let shown = format!("{key}: {value:?}");
            match publish_tagged(&mut p, &topic, Dict::new().with(key, value.clone()), "acked") {
                Message::Error(e) => assert_eq!(e.error, "wamp.error.invalid_argument", "{shown}"),
                other => panic!("{shown}: expected ERROR invalid_argument, got {other:?}"),
            }
            // Without acknowledge: no reply (the sentinel's PUBLISHED comes next) and no event.
            p.publish(&topic, Dict::new().with(key, value), Payload::args(vec![Value::from("unacked")]));
            let got = received_before_sentinel(&mut p, &topic, &mut subs.iter_mut().collect::<Vec<_>>());
            assert_eq!(got, vec![Vec::<String>::new(); 2], "{shown}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Many publications in flight

#[test]
fn consecutive_publications_with_different_lists_each_reach_their_own_subscribers() {
    matrix(|r, kind, ser| {
        let topic = uri("psadv.stream", kind, ser, r);
        let authids = [Some("a0"), Some("a1"), Some("a2"), Some("a3")];
        let (mut subs, _) = subscribers(r, kind, ser, &topic, &authids);
        let mut p = join_as(r, On::First, kind, ser, None);
        let mut want = vec![Vec::new(); 4];
        for i in 0..48usize {
            let n = i % 4;
            let (options, admitted): (Dict, [bool; 4]) = match (i / 4) % 4 {
                0 => (Dict::new().with("eligible", sessions(&[&subs[n]])), std::array::from_fn(|k| k == n)),
                1 => (Dict::new().with("exclude", sessions(&[&subs[n]])), std::array::from_fn(|k| k != n)),
                2 => (
                    Dict::new().with("eligible_authid", names(&[authids[n].unwrap()])),
                    std::array::from_fn(|k| k == n),
                ),
                _ => (Dict::new().with("disclose_me", true), [true; 4]),
            };
            let tag = i.to_string();
            p.publish(&topic, options, Payload::args(vec![Value::from(tag.as_str())]));
            for (k, w) in want.iter_mut().enumerate() {
                if admitted[k] {
                    w.push(tag.clone());
                }
            }
        }
        let got = received_before_sentinel(&mut p, &topic, &mut subs.iter_mut().collect::<Vec<_>>());
        assert_eq!(got, want);
    });
}
