//! The subscription and registration meta API, revocation and sharded registration over real
//! sockets, across every transport x serializer, one shard and two: the lifecycle events
//! (`on_create`, `on_subscribe` / `on_register`, `on_unsubscribe` / `on_unregister`, `on_delete`),
//! `list`, `get`, `lookup`, `match`, `list_subscribers` / `count_subscribers`, `list_callees` /
//! `count_callees`, `remove_subscriber` / `remove_callee` with and without the announced feature,
//! `runmode: "partition"`, and their bad input. The simulator's tests of the same behaviour are
//! `src/router/tests/meta_tables.rs` and `src/router/tests/rpc.rs`.
//!
//! Every matrix cell runs in a realm of its own (`common::tables::realm`), so lists and event
//! streams are exact. The session concerned sits on the last shard, the caller and the meta
//! subscriber on the first (and a second meta subscriber on the last), so with two shards every
//! answer and event crosses shards.
//!
//! "Nothing else was announced" is shown by sentinels, never by sleeping: a session on each shard
//! subscribes to a topic of its own, and lifecycle events about sessions of one shard reach a
//! watcher in order, so everything announced before is in when both sentinels' events are.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, SystemTime};

use common::rpc::assert_wire;
use common::tables::*;
use common::*;
use wampyard::codec::Payload;
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Id, Message, Value};

const SUB_REVOCATION: &str = "subscriber.subscription_revocation";
const REG_REVOCATION: &str = "callee.registration_revocation";
const REMOVE_SUBSCRIBER: &str = "wamp.subscription.remove_subscriber";
const REMOVE_CALLEE: &str = "wamp.registration.remove_callee";

fn subscription_get(c: &mut Client, id: Id) -> Dict {
    one(c, "wamp.subscription.get", vec![uint(id)]).as_dict().cloned().expect("get answers [details]")
}

fn registration_get(c: &mut Client, id: Id) -> Dict {
    one(c, "wamp.registration.get", vec![uint(id)]).as_dict().cloned().expect("get answers [details]")
}

fn created(event: &str, session: &Client, details: &Dict) -> Seen {
    Seen { event: event.into(), session: session.session.get(), arg: Value::Dict(details.clone()) }
}

/// The events about entry `id` (its id as the argument, or in the `on_create` details).
fn of_entry(events: &[Seen], id: Id) -> Vec<Seen> {
    let id = uint(id);
    events.iter().filter(|e| e.arg == id || e.arg.as_dict().and_then(|d| d.get("id")) == Some(&id)).cloned().collect()
}

fn unsubscribed(c: &mut Client, id: Id) {
    match c.unsubscribe(id) {
        Message::Unsubscribed(u) => assert_eq!(u.details, None),
        other => panic!("expected UNSUBSCRIBED, got {other:?}"),
    }
}

fn unregistered(c: &mut Client, id: Id) {
    let request = c.request();
    c.send(&Message::Unregister(m::Unregister { request, registration: id }));
    match c.recv() {
        Some(Message::Unregistered(u)) if u.request == request => {}
        other => panic!("expected UNREGISTERED, got {other:?}"),
    }
}

fn invocation(c: &mut Client) -> m::Invocation {
    match c.recv() {
        Some(Message::Invocation(i)) => i,
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

fn result_of(c: &mut Client, request: Id) -> Vec<Value> {
    match c.recv() {
        Some(Message::Result(r)) if r.request == request => values(&r.payload).0,
        other => panic!("expected RESULT for {request}, got {other:?}"),
    }
}

fn call_error(c: &mut Client, request: Id) -> String {
    match c.recv() {
        Some(Message::Error(e)) if e.request_type == codes::CALL && e.request == request => e.error,
        other => panic!("expected ERROR for call {request}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// WELCOME

#[test]
fn welcome_announces_the_meta_tables_revocation_and_sharded_registration() {
    tables_matrix("welcome", |cell| {
        let kind = if cell.kind == Kind::RawUnix && cell.r.shards > 1 { Kind::RawTcp } else { cell.kind };
        let mut c = Client::connect(cell.r, On::Last, kind, cell.ser);
        c.hello(&cell.realm());
        let Some(Message::Welcome(w)) = c.recv() else { panic!("expected WELCOME") };
        let roles = w.details.get("roles").and_then(Value::as_dict).expect("roles");
        let features = |role: &str| {
            let f = roles.get(role).and_then(Value::as_dict).and_then(|d| d.get("features"));
            f.and_then(Value::as_dict).cloned().expect("features")
        };
        let (broker, dealer) = (features("broker"), features("dealer"));
        for f in ["subscription_meta_api", "subscription_revocation", "pattern_based_subscription"] {
            assert_eq!(broker.get_bool(f), Some(true), "broker.{f}");
        }
        for f in ["registration_meta_api", "registration_revocation", "sharded_registration", "shared_registration"] {
            assert_eq!(dealer.get_bool(f), Some(true), "dealer.{f}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Lifecycle events

#[test]
fn subscription_events_come_in_lifecycle_order_to_watchers_on_every_shard() {
    tables_matrix("subev", |cell| {
        let mut far = Watcher::new(cell, On::First);
        let mut near = Watcher::new(cell, On::Last);
        let mut a = cell.join(On::Last, &[]);
        let mut b = cell.join(On::First, &[]);
        let (topic, prefix) = (cell.uri("t"), cell.uri("p"));
        let id = a.subscribe(&topic, Dict::new());
        assert_eq!(b.subscribe(&topic, Dict::new()), id, "one subscription");
        assert_eq!(a.subscribe(&topic, Dict::new()), id, "subscribing again gives the same id");
        let pattern = a.subscribe(&prefix, Dict::new().with("match", "prefix"));
        // Subscriptions to the meta API's own topics have no events.
        let meta = a.subscribe("wamp.session.on_join", Dict::new());
        unsubscribed(&mut a, meta);
        let (details, pattern_details) = (subscription_get(&mut b, id), subscription_get(&mut b, pattern));
        unsubscribed(&mut a, id);
        // Every shard answers count_subscribers, so once b has the answer the home shard has a's
        // change (see `sync`), and the deletion is b's.
        assert_eq!(one(&mut b, "wamp.subscription.count_subscribers", vec![uint(id)]), Value::UInt(1));
        b.goodbye();
        a.goodbye();
        let expected_a = vec![
            created("subscription.on_create", &a, &details),
            seen("subscription.on_subscribe", &a, id),
            created("subscription.on_create", &a, &pattern_details),
            seen("subscription.on_subscribe", &a, pattern),
            seen("subscription.on_unsubscribe", &a, id),
            seen("subscription.on_unsubscribe", &a, pattern),
            seen("subscription.on_delete", &a, pattern),
        ];
        let expected_b = vec![
            seen("subscription.on_subscribe", &b, id),
            seen("subscription.on_unsubscribe", &b, id),
            seen("subscription.on_delete", &b, id),
        ];
        for got in until_sentinels(cell, &mut [&mut far, &mut near]) {
            assert_eq!(got.len(), expected_a.len() + expected_b.len(), "only a's and b's events: {got:#?}");
            assert_eq!(about(&got, &a), expected_a);
            assert_eq!(about(&got, &b), expected_b);
            let last = of_entry(&got, id).pop();
            assert_eq!(last, Some(seen("subscription.on_delete", &b, id)), "on_delete after every on_unsubscribe");
        }
        // A session lost with its transport leaves its subscription the same way.
        let mut c = cell.join(On::Last, &[]);
        let lost = c.subscribe(&cell.uri("lost"), Dict::new());
        let lost_details = subscription_get(&mut c, lost);
        let session = c.session.get();
        drop(c);
        for w in [&mut far, &mut near] {
            let got: Vec<Seen> = (0..4).map(|_| w.next()).collect();
            assert_eq!(
                got,
                vec![
                    Seen { event: "subscription.on_create".into(), session, arg: Value::Dict(lost_details.clone()) },
                    Seen { event: "subscription.on_subscribe".into(), session, arg: uint(lost) },
                    Seen { event: "subscription.on_unsubscribe".into(), session, arg: uint(lost) },
                    Seen { event: "subscription.on_delete".into(), session, arg: uint(lost) },
                ]
            );
        }
    });
}

#[test]
fn registration_events_come_in_lifecycle_order_to_watchers_on_every_shard() {
    tables_matrix("regev", |cell| {
        let mut far = Watcher::new(cell, On::First);
        let mut near = Watcher::new(cell, On::Last);
        let mut a = cell.join(On::Last, &[]);
        let mut b = cell.join(On::First, &[]);
        let (procedure, prefix) = (cell.uri("p"), cell.uri("q"));
        let shared = || Dict::new().with("invoke", "roundrobin");
        let id = a.register(&procedure, shared()).unwrap();
        assert_eq!(b.register(&procedure, shared()).unwrap(), id, "one shared registration");
        // Refused registrations have no events.
        let mut c = cell.join(On::Last, &[]);
        let refused = c.register(&procedure, Dict::new());
        assert_eq!(refused, Err("wamp.error.procedure_already_exists".into()));
        let pattern = a.register(&prefix, Dict::new().with("match", "prefix")).unwrap();
        let (details, pattern_details) = (registration_get(&mut b, id), registration_get(&mut b, pattern));
        assert_eq!(details.get_str("invoke"), Some("roundrobin"));
        assert_eq!(pattern_details.get_str("invoke"), Some("single"));
        unregistered(&mut a, id);
        sync(&mut b);
        b.goodbye();
        a.goodbye();
        let expected_a = vec![
            created("registration.on_create", &a, &details),
            seen("registration.on_register", &a, id),
            created("registration.on_create", &a, &pattern_details),
            seen("registration.on_register", &a, pattern),
            seen("registration.on_unregister", &a, id),
            seen("registration.on_unregister", &a, pattern),
            seen("registration.on_delete", &a, pattern),
        ];
        let expected_b = vec![
            seen("registration.on_register", &b, id),
            seen("registration.on_unregister", &b, id),
            seen("registration.on_delete", &b, id),
        ];
        for got in until_sentinels(cell, &mut [&mut far, &mut near]) {
            assert_eq!(got.len(), expected_a.len() + expected_b.len(), "only a's and b's events: {got:#?}");
            assert_eq!(about(&got, &a), expected_a);
            assert_eq!(about(&got, &b), expected_b);
            let last = of_entry(&got, id).pop();
            assert_eq!(last, Some(seen("registration.on_delete", &b, id)), "on_delete after every on_unregister");
        }
        // A callee lost with its transport leaves its registration the same way.
        let lost = c.register(&cell.uri("lost"), Dict::new()).unwrap();
        let lost_details = registration_get(&mut c, lost);
        let session = c.session.get();
        drop(c);
        for w in [&mut far, &mut near] {
            let got: Vec<Seen> = (0..4).map(|_| w.next()).collect();
            assert_eq!(
                got,
                vec![
                    Seen { event: "registration.on_create".into(), session, arg: Value::Dict(lost_details.clone()) },
                    Seen { event: "registration.on_register".into(), session, arg: uint(lost) },
                    Seen { event: "registration.on_unregister".into(), session, arg: uint(lost) },
                    Seen { event: "registration.on_delete".into(), session, arg: uint(lost) },
                ]
            );
        }
    });
}

#[test]
fn on_create_carries_what_get_answers_with_an_rfc3339_creation_time() {
    tables_matrix("created", |cell| {
        let mut w = Watcher::new(cell, On::First);
        let mut near = cell.join(On::Last, &[]);
        let mut far = cell.join(On::First, &[]);
        let mut subject = cell.join(On::Last, &[]);
        let before = SystemTime::now();
        let sub = subject.subscribe(&cell.uri("t.x"), Dict::new());
        let wild = subject.subscribe(&cell.uri("w..x"), Dict::new().with("match", "wildcard"));
        let reg = subject.register(&cell.uri("p"), Dict::new().with("invoke", "first")).unwrap();
        let after = SystemTime::now();
        let got: Vec<Seen> = (0..6).map(|_| w.next()).collect();
        let events: Vec<&str> = got.iter().map(|e| e.event.as_str()).collect();
        let expected = [
            "subscription.on_create",
            "subscription.on_subscribe",
            "subscription.on_create",
            "subscription.on_subscribe",
            "registration.on_create",
            "registration.on_register",
        ];
        assert_eq!(events, expected);
        assert!(got.iter().all(|e| e.session == subject.session.get()), "all about the subject: {got:?}");
        let cases = [
            (&got[0], subscription_get(&mut far, sub), cell.uri("t.x"), "exact", None),
            (&got[2], subscription_get(&mut far, wild), cell.uri("w..x"), "wildcard", None),
            (&got[4], registration_get(&mut far, reg), cell.uri("p"), "exact", Some("first")),
        ];
        let mut times = Vec::new();
        for (event, details, uri, policy, invoke) in cases {
            assert_eq!(event.arg, Value::Dict(details.clone()), "on_create details are get's answer");
            let mut keys: Vec<&str> = details.iter().map(|(k, _)| k).collect();
            keys.sort_unstable();
            let expected_keys: &[&str] = match invoke {
                None => &["created", "id", "match", "uri"],
                Some(_) => &["created", "id", "invoke", "match", "uri"],
            };
            assert_eq!(keys, expected_keys, "{details:?}");
            assert_eq!((details.get_str("uri"), details.get_str("match")), (Some(uri.as_str()), Some(policy)));
            assert_eq!(details.get_str("invoke"), invoke);
            let stamp = details.get_str("created").expect("created is a string");
            assert!(stamp.ends_with('Z'), "created is in UTC: {stamp}");
            let t = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("created {stamp} is not RFC 3339: {e}"));
            let t = SystemTime::from(t);
            let slack = Duration::from_secs(2);
            assert!(t + slack >= before && t <= after + slack, "created {stamp} is the time of the first subscribe");
            times.push(t);
        }
        // Entries created one after the other are stamped in that order, up to the skew between
        // home shards' wall clocks (each shard derives its wall clock from its monotonic one).
        let skew = Duration::from_millis(100);
        assert!(times.windows(2).all(|w| w[0] <= w[1] + skew), "later entries are created later: {times:?}");
        // Every shard's replica has the same stamp.
        assert_eq!(subscription_get(&mut near, sub), subscription_get(&mut far, sub));
        assert_eq!(registration_get(&mut near, reg), registration_get(&mut far, reg));
    });
}

// ---------------------------------------------------------------------------------------------
// list, get, lookup, match, subscribers and callees

#[test]
fn lists_subscribers_and_callees_cover_every_shard_and_serializer() {
    tables_matrix("lists", |cell| {
        let _watcher = Watcher::new(cell, On::Last);
        let mut callers = [cell.join(On::First, &[]), cell.join(On::Last, &[])];
        let topic = cell.uri("t");
        let mut subs = Vec::new();
        let mut ids = Vec::new();
        for (i, ser) in wampyard::codec::Serializer::ALL.into_iter().enumerate() {
            for on in [On::First, On::Last] {
                let mut s = cell.join_as(on, ser, &[]);
                ids.push(s.subscribe(&topic, Dict::new()));
                subs.push(s);
            }
            assert_eq!(ids[2 * i], ids[0]);
        }
        let id = ids[0];
        assert!(ids.iter().all(|x| *x == id), "one subscription for every serializer and shard: {ids:?}");
        let prefix = subs[3].subscribe(&cell.uri("p"), Dict::new().with("match", "prefix"));
        let wild = subs[2].subscribe(&cell.uri("w..x"), Dict::new().with("match", "wildcard"));
        let mut callees = Vec::new();
        let mut regs = Vec::new();
        let shared = cell.uri("shared");
        for (i, ser) in wampyard::codec::Serializer::ALL.into_iter().enumerate() {
            let mut e = cell.join_as(side(i + 1), ser, &[]);
            regs.push(e.register(&shared, Dict::new().with("invoke", "roundrobin")).unwrap());
            callees.push(e);
        }
        let reg = regs[0];
        assert!(regs.iter().all(|x| *x == reg), "one shared registration: {regs:?}");
        let pre = callees[1].register(&cell.uri("q"), Dict::new().with("match", "prefix")).unwrap();
        let wreg = callees[2].register(&cell.uri("v..x"), Dict::new().with("match", "wildcard")).unwrap();
        let all: Vec<&Client> = subs.iter().collect();
        let all_callees: Vec<&Client> = callees.iter().collect();
        for c in callers.iter_mut() {
            let list = one(c, "wamp.subscription.list", vec![]);
            let expected = [vec![id.get()], vec![prefix.get()], vec![wild.get()]];
            assert_eq!(by_policy(&list), expected, "the meta subscriptions are not listed");
            assert_eq!(sorted(&one(c, "wamp.subscription.list_subscribers", vec![uint(id)])), sessions(&all));
            assert_eq!(one(c, "wamp.subscription.count_subscribers", vec![uint(id)]), Value::UInt(6));
            assert_eq!(sorted(&one(c, "wamp.subscription.list_subscribers", vec![uint(wild)])), sessions(&all[2..3]));
            let list = one(c, "wamp.registration.list", vec![]);
            assert_eq!(by_policy(&list), [vec![reg.get()], vec![pre.get()], vec![wreg.get()]]);
            assert_eq!(sorted(&one(c, "wamp.registration.list_callees", vec![uint(reg)])), sessions(&all_callees));
            assert_eq!(one(c, "wamp.registration.count_callees", vec![uint(reg)]), Value::UInt(3));
            assert_eq!(one(c, "wamp.registration.count_callees", vec![uint(pre)]), Value::UInt(1));
            let details = registration_get(c, reg);
            assert_eq!((details.get_str("match"), details.get_str("invoke")), (Some("exact"), Some("roundrobin")));
            let details = subscription_get(c, prefix);
            assert_eq!(
                (details.get_str("uri"), details.get_str("match")),
                (Some(cell.uri("p").as_str()), Some("prefix"))
            );
        }
        // One subscriber leaves on each shard; one callee unregisters, one leaves.
        let (gone_first, gone_last) = (subs.remove(0), subs.remove(0));
        let (mut gone_first, mut gone_last) = (gone_first, gone_last);
        unsubscribed(&mut gone_first, id);
        gone_last.goodbye();
        unregistered(&mut callees[0], reg);
        callees.remove(1).goodbye();
        unsubscribed(&mut subs[0], wild);
        let all: Vec<&Client> = subs.iter().collect();
        let remaining = sessions(&[&callees[1]]);
        for c in callers.iter_mut() {
            assert_eq!(sorted(&one(c, "wamp.subscription.list_subscribers", vec![uint(id)])), sessions(&all));
            assert_eq!(one(c, "wamp.subscription.count_subscribers", vec![uint(id)]), Value::UInt(4));
            // The caller's shard answers these from its replica: wait until it applied the leaves.
            settle(c, "wamp.registration.count_callees", vec![uint(reg)], Ok(vec![Value::UInt(1)]));
            assert_eq!(sorted(&one(c, "wamp.registration.list_callees", vec![uint(reg)])), remaining);
            settle(c, "wamp.registration.get", vec![uint(pre)], Err(NO_SUCH_REGISTRATION));
            settle(c, "wamp.subscription.get", vec![uint(wild)], Err(NO_SUCH_SUBSCRIPTION));
            let list = one(c, "wamp.subscription.list", vec![]);
            assert_eq!(by_policy(&list), [vec![id.get()], vec![prefix.get()], vec![]]);
            let list = one(c, "wamp.registration.list", vec![]);
            assert_eq!(by_policy(&list), [vec![reg.get()], vec![], vec![wreg.get()]]);
        }
    });
}

#[test]
fn lookup_and_match_find_entries_by_uri_and_policy() {
    tables_matrix("lookup", |cell| {
        let mut s = cell.join(On::Last, &[]);
        let mut c = cell.join(On::First, &[]);
        let exact = s.subscribe(&cell.uri("a.b"), Dict::new());
        let prefix = s.subscribe(&cell.uri("a"), Dict::new().with("match", "prefix"));
        let wild = s.subscribe(&cell.uri("a."), Dict::new().with("match", "wildcard"));
        let p_exact = s.register(&cell.uri("a.b"), Dict::new()).unwrap();
        let p_prefix = s.register(&cell.uri("a"), Dict::new().with("match", "prefix")).unwrap();
        let opts = |policy: &str| Value::Dict(Dict::new().with("match", policy));
        let uri = |name: &str| Value::from(cell.uri(name));
        let lookup = |c: &mut Client, what: &str, args: Vec<Value>| one(c, &format!("wamp.{what}.lookup"), args);
        assert_eq!(lookup(&mut c, "subscription", vec![uri("a.b")]), uint(exact));
        assert_eq!(lookup(&mut c, "subscription", vec![uri("a.b"), opts("exact")]), uint(exact));
        assert_eq!(lookup(&mut c, "subscription", vec![uri("a"), opts("prefix")]), uint(prefix));
        assert_eq!(lookup(&mut c, "subscription", vec![uri("a."), opts("wildcard")]), uint(wild));
        assert_eq!(lookup(&mut c, "subscription", vec![uri("a"), opts("exact")]), Value::Null);
        assert_eq!(lookup(&mut c, "registration", vec![uri("a.b")]), uint(p_exact));
        assert_eq!(lookup(&mut c, "registration", vec![uri("a"), opts("prefix")]), uint(p_prefix));
        assert_eq!(lookup(&mut c, "registration", vec![uri("a.c")]), Value::Null);
        // Keyword arguments by their names.
        let named = Dict::new().with("topic", cell.uri("a")).with("options", opts("prefix"));
        let got = answer(&mut c, "wamp.subscription.lookup", Payload::Values { args: vec![], kwargs: Some(named) });
        assert_eq!(got, Ok((vec![uint(prefix)], None)));
        let named = Payload::Values { args: vec![], kwargs: Some(Dict::new().with("subscription", exact.get())) };
        let got = answer(&mut c, "wamp.subscription.get", named).unwrap().0;
        assert_eq!(got[0].as_dict().and_then(|d| d.get_str("uri")), Some(cell.uri("a.b").as_str()));
        // match: every matching subscription; the registration a call would reach.
        let all = one(&mut c, "wamp.subscription.match", vec![uri("a.b")]);
        let mut expected = vec![exact.get(), prefix.get(), wild.get()];
        expected.sort_unstable();
        assert_eq!(sorted(&all), expected);
        let mut expected = vec![prefix.get(), wild.get()];
        expected.sort_unstable();
        assert_eq!(sorted(&one(&mut c, "wamp.subscription.match", vec![uri("a.zz")])), expected);
        assert_eq!(one(&mut c, "wamp.subscription.match", vec![uri("b")]), Value::Null);
        assert_eq!(one(&mut c, "wamp.registration.match", vec![uri("a.b")]), uint(p_exact), "exact wins");
        assert_eq!(one(&mut c, "wamp.registration.match", vec![uri("a.b.c")]), uint(p_prefix));
        assert_eq!(one(&mut c, "wamp.registration.match", vec![uri("b")]), Value::Null);
    });
}

// ---------------------------------------------------------------------------------------------
// Revocation

#[test]
fn remove_subscriber_notifies_once_only_a_subscriber_that_announced_revocation() {
    tables_matrix("revoke", |cell| {
        let ser = cell.ser;
        let mut w = Watcher::new(cell, On::First);
        let mut admin = cell.join(On::First, &[]);
        let mut publisher = cell.join(On::First, &[]);
        let (topic, after) = (cell.uri("t"), cell.uri("after"));
        let mut told = cell.join(On::Last, &[SUB_REVOCATION]);
        let mut bare = cell.join(On::Last, &[SUB_REVOCATION]);
        let mut silent = cell.join(On::Last, &[]);
        let mut stays = cell.join(On::First, &[SUB_REVOCATION]);
        let id = told.subscribe(&topic, Dict::new());
        let details = subscription_get(&mut admin, id);
        for c in [&mut bare, &mut silent, &mut stays] {
            assert_eq!(c.subscribe(&topic, Dict::new()), id);
        }
        for c in [&mut told, &mut bare, &mut silent, &mut stays] {
            c.subscribe(&after, Dict::new());
        }
        let reason = "com.example.banned";
        let revoke = |admin: &mut Client, who: &Client, reason: Option<&str>| {
            let mut args = vec![uint(id), sid(who)];
            args.extend(reason.map(Value::from));
            assert_eq!(ok(admin, REMOVE_SUBSCRIBER, args), Vec::<Value>::new(), "remove_subscriber answers []");
        };
        revoke(&mut admin, &told, Some(reason));
        assert_wire(ser, told.recv_bytes(), &revocation_wire(ser, 35, "subscription", id, Some(reason)));
        let left = sessions(&[&bare, &silent, &stays]);
        assert_eq!(sorted(&one(&mut admin, "wamp.subscription.list_subscribers", vec![uint(id)])), left);
        revoke(&mut admin, &bare, None);
        assert_wire(ser, bare.recv_bytes(), &revocation_wire(ser, 35, "subscription", id, None));
        revoke(&mut admin, &silent, Some(reason));
        assert_eq!(one(&mut admin, "wamp.subscription.count_subscribers", vec![uint(id)]), Value::UInt(1));
        let again = refused(&mut admin, REMOVE_SUBSCRIBER, Payload::args(vec![uint(id), sid(&told)]));
        assert_eq!(again, NO_SUCH_SESSION, "a revoked session is no longer a subscriber");
        // Only `stays` gets the event; the others' next message is the sentinel after it: each
        // notice came once, and the silent subscriber got none.
        for t in [&topic, &after] {
            assert!(matches!(
                publisher.publish_acked(t, Payload::args(vec![Value::from(t.as_str())])),
                Message::Published(_)
            ));
        }
        let topic_of = |e: m::Event| values(&e.payload).0;
        assert_eq!(topic_of(stays.event()), vec![Value::from(topic.as_str())]);
        for c in [&mut told, &mut bare, &mut silent, &mut stays] {
            assert_eq!(topic_of(c.event()), vec![Value::from(after.as_str())], "the next message is the sentinel");
        }
        // A revoked session can subscribe again, to the same subscription.
        assert_eq!(told.subscribe(&topic, Dict::new()), id);
        unsubscribed(&mut told, id);
        sync(&mut stays);
        unsubscribed(&mut stays, id);
        let got = of_entry(&until_sentinels(cell, &mut [&mut w]).remove(0), id);
        let expected = vec![
            created("subscription.on_create", &told, &details),
            seen("subscription.on_subscribe", &told, id),
            seen("subscription.on_unsubscribe", &told, id),
            seen("subscription.on_subscribe", &told, id),
            seen("subscription.on_unsubscribe", &told, id),
        ];
        assert_eq!(about(&got, &told), expected);
        for c in [&bare, &silent] {
            let expected = vec![seen("subscription.on_subscribe", c, id), seen("subscription.on_unsubscribe", c, id)];
            assert_eq!(about(&got, c), expected);
        }
        let expected = vec![
            seen("subscription.on_subscribe", &stays, id),
            seen("subscription.on_unsubscribe", &stays, id),
            seen("subscription.on_delete", &stays, id),
        ];
        assert_eq!(about(&got, &stays), expected);
        assert_eq!(got.len(), 12, "nothing else about the subscription: {got:#?}");
    });
}

#[test]
fn remove_callee_notifies_once_only_a_callee_that_announced_revocation_and_calls_go_elsewhere() {
    tables_matrix("unreg", |cell| {
        let ser = cell.ser;
        let mut w = Watcher::new(cell, On::First);
        let mut admin = cell.join(On::First, &[]);
        let mut caller = cell.join(On::First, &[]);
        let procedure = cell.uri("p");
        let shared = || Dict::new().with("invoke", "roundrobin");
        let mut told = cell.join(On::Last, &[REG_REVOCATION]);
        let mut silent = cell.join(On::Last, &[]);
        let mut stays = cell.join(On::First, &[REG_REVOCATION]);
        let id = told.register(&procedure, shared()).unwrap();
        let details = registration_get(&mut admin, id);
        for c in [&mut silent, &mut stays] {
            assert_eq!(c.register(&procedure, shared()).unwrap(), id);
        }
        told.register(&cell.uri("ping.told"), Dict::new()).unwrap();
        silent.register(&cell.uri("ping.silent"), Dict::new()).unwrap();
        // Round robin starts with the earliest callee: told owes this invocation when revoked.
        let owed = caller.call(&procedure, Payload::args(vec![Value::from("owed")]));
        let inv = invocation(&mut told);
        let reason = "com.example.moved";
        let args = vec![uint(id), sid(&told), Value::from(reason)];
        assert_eq!(ok(&mut admin, REMOVE_CALLEE, args), Vec::<Value>::new(), "remove_callee answers []");
        assert_wire(ser, told.recv_bytes(), &revocation_wire(ser, 67, "registration", id, Some(reason)));
        // An invocation owed stays owed.
        told.yield_(inv.request, Dict::new(), Payload::args(vec![Value::from("paid")]));
        assert_eq!(result_of(&mut caller, owed), vec![Value::from("paid")]);
        settle(&mut caller, "wamp.registration.count_callees", vec![uint(id)], Ok(vec![Value::UInt(2)]));
        let rest = sessions(&[&silent, &stays]);
        assert_eq!(sorted(&one(&mut caller, "wamp.registration.list_callees", vec![uint(id)])), rest);
        // Two calls in a row: one to each remaining callee, none to told.
        let mut calls = vec![caller.call(&procedure, Payload::Empty), caller.call(&procedure, Payload::Empty)];
        for e in [&mut silent, &mut stays] {
            let inv = invocation(e);
            e.yield_(inv.request, Dict::new(), Payload::Empty);
        }
        // The two callees sit on different shards: their results may come in either order.
        for _ in 0..2 {
            match caller.recv() {
                Some(Message::Result(r)) => calls.retain(|c| *c != r.request),
                other => panic!("expected RESULT, got {other:?}"),
            }
        }
        assert!(calls.is_empty(), "both calls answered");
        // Without the feature the callee is removed silently.
        let args = vec![uint(id), sid(&silent), Value::from(reason)];
        assert_eq!(ok(&mut admin, REMOVE_CALLEE, args), Vec::<Value>::new());
        // Each revoked callee's next message is its own sentinel call.
        for (e, ping) in [(&mut told, "ping.told"), (&mut silent, "ping.silent")] {
            let request = caller.call(&cell.uri(ping), Payload::args(vec![Value::from(ping)]));
            let inv = invocation(e);
            assert_eq!(values(&inv.payload).0, vec![Value::from(ping)], "the next message is the sentinel");
            e.yield_(inv.request, Dict::new(), Payload::Empty);
            result_of(&mut caller, request);
        }
        sync(&mut stays);
        unregistered(&mut stays, id);
        settle(&mut caller, "wamp.registration.lookup", vec![Value::from(procedure.as_str())], Ok(vec![Value::Null]));
        let request = caller.call(&procedure, Payload::Empty);
        assert_eq!(call_error(&mut caller, request), "wamp.error.no_such_procedure");
        let got = of_entry(&until_sentinels(cell, &mut [&mut w]).remove(0), id);
        let expected = vec![
            created("registration.on_create", &told, &details),
            seen("registration.on_register", &told, id),
            seen("registration.on_unregister", &told, id),
        ];
        assert_eq!(about(&got, &told), expected);
        let expected =
            vec![seen("registration.on_register", &silent, id), seen("registration.on_unregister", &silent, id)];
        assert_eq!(about(&got, &silent), expected);
        let expected = vec![
            seen("registration.on_register", &stays, id),
            seen("registration.on_unregister", &stays, id),
            seen("registration.on_delete", &stays, id),
        ];
        assert_eq!(about(&got, &stays), expected);
        assert_eq!(got.len(), 8, "nothing else about the registration: {got:#?}");
    });
}

#[test]
fn revocation_refuses_unknown_entries_and_sessions_that_are_not_members() {
    tables_matrix("refuse", |cell| {
        let mut admin = cell.join(On::First, &[]);
        let mut member = cell.join(On::Last, &[SUB_REVOCATION, REG_REVOCATION]);
        let other = cell.join(On::Last, &[]);
        let sub = member.subscribe(&cell.uri("t"), Dict::new());
        let reg = member.register(&cell.uri("p"), Dict::new()).unwrap();
        let nobody = Value::UInt((1 << 53) - 7);
        let unknown = Value::UInt(999_999_999);
        for (procedure, id, no_such) in
            [(REMOVE_SUBSCRIBER, uint(sub), NO_SUCH_SUBSCRIPTION), (REMOVE_CALLEE, uint(reg), NO_SUCH_REGISTRATION)]
        {
            let cases = [
                (vec![unknown.clone(), sid(&member)], no_such),
                (vec![id.clone(), sid(&other)], NO_SUCH_SESSION),
                (vec![id.clone(), sid(&admin)], NO_SUCH_SESSION),
                (vec![id.clone(), nobody.clone()], NO_SUCH_SESSION),
            ];
            for (args, error) in cases {
                assert_eq!(refused(&mut admin, procedure, Payload::args(args.clone())), error, "{procedure}{args:?}");
            }
        }
        // Nothing happened to the member: no notice, still subscribed and registered.
        assert_eq!(one(&mut admin, "wamp.subscription.count_subscribers", vec![uint(sub)]), Value::UInt(1));
        assert_eq!(sorted(&one(&mut admin, "wamp.registration.list_callees", vec![uint(reg)])), sessions(&[&member]));
        let request = admin.call(&cell.uri("p"), Payload::args(vec![Value::from("sentinel")]));
        let inv = invocation(&mut member);
        assert_eq!(values(&inv.payload).0, vec![Value::from("sentinel")], "the member's next message");
        member.yield_(inv.request, Dict::new(), Payload::Empty);
        result_of(&mut admin, request);
        // Keyword arguments by Crossbar's names.
        let named = Dict::new().with("subscription", sub.get()).with("subscriber_id", member.session.get());
        let got = answer(&mut admin, REMOVE_SUBSCRIBER, Payload::Values { args: vec![], kwargs: Some(named) });
        assert_eq!(got, Ok((vec![], None)));
        assert_wire(cell.ser, member.recv_bytes(), &revocation_wire(cell.ser, 35, "subscription", sub, None));
        let named = Dict::new().with("registration", reg.get()).with("callee_id", member.session.get());
        let named = named.with("reason", "com.example.k");
        let got = answer(&mut admin, REMOVE_CALLEE, Payload::Values { args: vec![], kwargs: Some(named) });
        assert_eq!(got, Ok((vec![], None)));
        let notice = revocation_wire(cell.ser, 67, "registration", reg, Some("com.example.k"));
        assert_wire(cell.ser, member.recv_bytes(), &notice);
    });
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn unknown_ids_get_no_such_errors_and_arguments_of_the_wrong_type_get_invalid_argument() {
    tables_matrix("bad", |cell| {
        let mut c = cell.join(On::First, &[]);
        let mut s = cell.join(On::Last, &[]);
        let sub = s.subscribe(&cell.uri("t"), Dict::new());
        let unknown = || vec![Value::UInt(999_999_999)];
        for p in ["get", "list_subscribers", "count_subscribers"] {
            let p = format!("wamp.subscription.{p}");
            assert_eq!(refused(&mut c, &p, Payload::args(unknown())), NO_SUCH_SUBSCRIPTION, "{p}");
        }
        for p in ["get", "list_callees", "count_callees"] {
            let p = format!("wamp.registration.{p}");
            assert_eq!(refused(&mut c, &p, Payload::args(unknown())), NO_SUCH_REGISTRATION, "{p}");
        }
        let not_ids = [
            Value::from("1"),
            Value::Int(-1),
            Value::Float(1.5),
            Value::Bool(true),
            Value::List(vec![uint(sub)]),
            Value::Dict(Dict::new()),
            Value::Null,
            Value::UInt(0),
            Value::UInt((1 << 53) + 1),
        ];
        let with_id = [
            "wamp.subscription.get",
            "wamp.subscription.list_subscribers",
            "wamp.subscription.count_subscribers",
            "wamp.registration.get",
            "wamp.registration.list_callees",
            "wamp.registration.count_callees",
        ];
        for p in with_id {
            assert_eq!(refused(&mut c, p, Payload::Empty), INVALID_ARGUMENT, "{p}() without an id");
            for bad in &not_ids {
                assert_eq!(refused(&mut c, p, Payload::args(vec![bad.clone()])), INVALID_ARGUMENT, "{p}({bad:?})");
            }
        }
        let session = sid(&s);
        let revocations = [
            vec![uint(sub), Value::from("x")],
            vec![Value::from("x"), session.clone()],
            vec![uint(sub)],
            vec![uint(sub), session.clone(), Value::UInt(5)],
            vec![uint(sub), session.clone(), Value::from("not a uri")],
        ];
        for p in [REMOVE_SUBSCRIBER, REMOVE_CALLEE] {
            for args in &revocations {
                assert_eq!(refused(&mut c, p, Payload::args(args.clone())), INVALID_ARGUMENT, "{p}{args:?}");
            }
        }
        let topic = || Value::from(cell.uri("t"));
        let lookups = [
            ("wamp.subscription.lookup", vec![Value::UInt(5)]),
            ("wamp.subscription.lookup", vec![topic(), Value::Dict(Dict::new().with("match", "sometimes"))]),
            ("wamp.subscription.lookup", vec![topic(), Value::Dict(Dict::new().with("match", 5u64))]),
            ("wamp.subscription.lookup", vec![topic(), Value::from("prefix")]),
            ("wamp.registration.lookup", vec![]),
            ("wamp.subscription.match", vec![Value::List(vec![])]),
            ("wamp.registration.match", vec![Value::Null]),
        ];
        for (p, args) in lookups {
            assert_eq!(refused(&mut c, p, Payload::args(args.clone())), INVALID_ARGUMENT, "{p}{args:?}");
        }
        let nope = refused(&mut c, "wamp.subscription.nope", Payload::Empty);
        assert_eq!(nope, "wamp.error.no_such_procedure");
        // The caller and the subscriber are unharmed.
        assert_eq!(one(&mut c, "wamp.subscription.count_subscribers", vec![uint(sub)]), Value::UInt(1));
        assert_eq!(by_policy(&one(&mut c, "wamp.subscription.list", vec![])), [vec![sub.get()], vec![], vec![]]);
    });
}

// ---------------------------------------------------------------------------------------------
// Sharded registration

const KEYS: usize = 64;

fn key(i: usize) -> String {
    format!("device-{i}")
}

/// Which callee serves each of the keys, from `c`.
fn owners(c: &mut Client, procedure: &str) -> Vec<usize> {
    (0..KEYS).map(|i| owner(c, procedure, &key(i))).collect()
}

#[test]
fn a_partition_key_reaches_the_same_callee_from_callers_on_both_shards_and_keys_spread() {
    tables_matrix("part", |cell| {
        let procedure = cell.uri("p");
        let mut pool = Pool::start(cell, &procedure, "roundrobin", 4);
        let mut first = cell.join(On::First, &[]);
        let mut last = cell.join(On::Last, &[]);
        let map = owners(&mut first, &procedure);
        assert_eq!(owners(&mut first, &procedure), map, "again from the same caller");
        assert_eq!(owners(&mut last, &procedure), map, "from a caller on the other shard");
        for callee in 0..4 {
            assert!(map.contains(&callee), "64 keys reach every one of 4 callees: {map:?}");
        }
        // Without a key the registration's own policy applies again.
        let rotation: Vec<usize> = (0..4)
            .map(|_| {
                let request = first.call(&procedure, Payload::Empty);
                result_of(&mut first, request)[0].as_u64().unwrap() as usize
            })
            .collect();
        let mut seen = rotation.clone();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3], "round robin without rkey: {rotation:?}");
        pool.stop_all(&mut first);
    });
}

#[test]
fn an_unavailable_partition_callee_hands_its_key_to_the_same_next_callee() {
    tables_matrix("busy", |cell| {
        let procedure = cell.uri("p");
        let mut pool = Pool::start(cell, &procedure, "roundrobin", 4);
        let mut first = cell.join(On::First, &[]);
        let mut last = cell.join(On::Last, &[]);
        for i in 0..8 {
            let k = key(i);
            let home = owner(&mut first, &procedure, &k);
            let busy = || Payload::args(vec![Value::from(format!("busy:{home}"))]);
            let next = owner_of(&mut first, &procedure, &k, busy());
            assert_ne!(next, home, "key {k}: the busy callee is skipped");
            assert_eq!(owner_of(&mut last, &procedure, &k, busy()), next, "key {k}: the same next callee");
            assert_eq!(owner(&mut last, &procedure, &k), home, "key {k}: unavailable once does not move it");
        }
        pool.stop_all(&mut first);
    });
}

#[test]
fn a_callee_leaving_moves_only_its_keys_and_a_newcomer_takes_keys_only_for_itself() {
    tables_matrix("leave", |cell| {
        let procedure = cell.uri("p");
        let mut pool = Pool::start(cell, &procedure, "roundrobin", 4);
        let mut callers = [cell.join(On::First, &[]), cell.join(On::Last, &[])];
        let before = owners(&mut callers[0], &procedure);
        assert_eq!(owners(&mut callers[1], &procedure), before);
        let leaver = 1;
        assert!(before.contains(&leaver), "callee {leaver} serves some of the 64 keys");
        pool.stop(leaver, &mut callers[0]).goodbye();
        for c in callers.iter_mut() {
            // Calls are routed from the caller's shard's replica: go on once it has the leave.
            settle(c, "wamp.registration.count_callees", vec![uint(pool.registration)], Ok(vec![Value::UInt(3)]));
        }
        let after = owners(&mut callers[0], &procedure);
        assert_eq!(owners(&mut callers[1], &procedure), after);
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            if *b == leaver {
                assert_ne!(*a, leaver, "key {i} moved off the callee that left");
            } else {
                assert_eq!(a, b, "key {i} stays with its callee: before {before:?}, after {after:?}");
            }
        }
        // A newcomer (its REGISTERED means every shard knows it) takes keys only for itself.
        pool.add(cell, On::Last, "roundrobin");
        let newest = owners(&mut callers[0], &procedure);
        assert_eq!(owners(&mut callers[1], &procedure), newest);
        assert!(newest.contains(&4), "the newcomer takes a share of the 64 keys: {newest:?}");
        for (i, (a, n)) in after.iter().zip(&newest).enumerate() {
            assert!(n == a || *n == 4, "key {i} stays or goes to the newcomer: {after:?} -> {newest:?}");
        }
        pool.stop_all(&mut callers[0]);
    });
}

#[test]
fn runmode_without_rkey_or_another_runmode_gets_invalid_argument() {
    tables_matrix("runmode", |cell| {
        let procedure = cell.uri("p");
        let mut pool = Pool::start(cell, &procedure, "single", 1);
        let mut c = cell.join(On::First, &[]);
        let bad = [
            Dict::new().with("runmode", "partition"),
            Dict::new().with("runmode", "partition").with("rkey", 5u64),
            Dict::new().with("runmode", "partition").with("rkey", Value::Null),
            Dict::new().with("runmode", "all").with("rkey", "k"),
            Dict::new().with("runmode", 1u64).with("rkey", "k"),
        ];
        for options in bad {
            let request = c.call_with(&procedure, Payload::Empty, options.clone());
            assert_eq!(call_error(&mut c, request), INVALID_ARGUMENT, "{options:?}");
        }
        // rkey alone is ignored; a partition of a registration with one callee reaches it.
        let request = c.call_with(&procedure, Payload::Empty, Dict::new().with("rkey", "k"));
        assert_eq!(result_of(&mut c, request), vec![Value::UInt(0)]);
        assert_eq!(owner(&mut c, &procedure, "k"), 0);
        // A key with no registration behind it is an ordinary no_such_procedure.
        let request = c.call_with(&cell.uri("nobody"), Payload::Empty, partition("k"));
        assert_eq!(call_error(&mut c, request), "wamp.error.no_such_procedure");
        pool.stop_all(&mut c);
    });
}
