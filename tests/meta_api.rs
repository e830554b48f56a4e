//! The session meta API and testaments over real sockets, across every transport x serializer, one
//! shard and two: `wamp.session.on_join` / `on_leave`, `count`, `list`, `get`, the `kill*`
//! procedures, `add_testament` / `flush_testaments`, and their bad input. The simulator's tests of
//! the same behaviour are in `src/router/tests/`.
//!
//! Every matrix cell runs in a realm of its own (`common::meta::realm`), so counts and lists are
//! exact. The caller sits on the first shard, the session it asks about or kills on the last, and
//! the meta subscriber on the first, so with two shards every answer and event crosses shards.
//!
//! "Nothing else was published" is shown by a later event: a leaving session's testaments and its
//! `on_leave` come from its shard in that order, so `on_leave` arriving next proves that no
//! testament came before it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::meta::*;
use common::rpc::{aborted, assert_wire};
use common::*;
use wampyard::codec::Payload;
use wampyard::wamp::{Dict, Id, Value};

const TOPIC: &str = "com.test.meta.testament";

fn get(c: &mut Client, session: &Client) -> Dict {
    match meta_ok(c, "wamp.session.get", pos(vec![id(session)])).as_slice() {
        [Value::Dict(d)] => d.clone(),
        other => panic!("get answers [details], got {other:?}"),
    }
}

fn kill(c: &mut Client, victim: &Client) {
    assert_eq!(meta_ok(c, "wamp.session.kill", pos(vec![id(victim)])), Vec::<Value>::new(), "kill answers []");
}

fn strs(v: &[&str]) -> Value {
    Value::List(v.iter().map(|s| Value::from(*s)).collect())
}

// ---------------------------------------------------------------------------------------------
// Joining and leaving

#[test]
fn welcome_announces_the_meta_api_and_an_anonymous_session_keeps_its_authid() {
    meta_matrix(|r, kind, ser| {
        let realm = realm("welcome", kind, ser);
        let (named, details) = join_welcome(r, On::Last, kind, ser, &realm, Some("alice"));
        let roles = details.get("roles").and_then(Value::as_dict).expect("roles");
        let features = |role: &str| {
            roles.get(role).and_then(Value::as_dict).and_then(|d| d.get("features")).and_then(Value::as_dict).cloned()
        };
        let (broker, dealer) = (features("broker").unwrap(), features("dealer").unwrap());
        assert_eq!(broker.get_bool("session_meta_api"), Some(true));
        assert_eq!(dealer.get_bool("session_meta_api"), Some(true));
        assert_eq!(dealer.get_bool("testament_meta_api"), Some(true));
        assert_eq!((details.get_str("authid"), details.get_str("authrole")), (Some("alice"), Some("anonymous")));
        // Without an authid in HELLO the router makes one up, and the meta API reports it.
        let mut unnamed = join_as(r, On::First, kind, ser, &realm, None);
        assert!(!unnamed.authid.is_empty());
        assert_details(&get(&mut unnamed, &named), &named, r, "alice");
        let itself = pos(vec![id(&unnamed)]);
        let own = meta_ok(&mut unnamed, "wamp.session.get", itself);
        let [Value::Dict(own)] = own.as_slice() else { panic!("get answers [details], got {own:?}") };
        assert_details(own, &unnamed, r, &unnamed.authid);
    });
}

#[test]
fn on_join_reaches_subscribers_on_every_shard_with_the_session_details() {
    meta_matrix(|r, kind, ser| {
        let realm = realm("join", kind, ser);
        let mut far = join_as(r, On::First, kind, ser, &realm, None);
        let mut near = join_as(r, On::Last, kind, ser, &realm, None);
        let far_sub = watch(&mut far, ON_JOIN);
        let near_sub = watch(&mut near, ON_JOIN);
        let subject = join_as(r, On::Last, kind, ser, &realm, Some("subject"));
        for (watcher, sub) in [(&mut far, far_sub), (&mut near, near_sub)] {
            let e = event_of(watcher, sub);
            assert_eq!(e.details.get("publisher"), None, "the router publishes meta events undisclosed");
            let (args, kwargs) = values(&e.payload);
            let [Value::Dict(d)] = args.as_slice() else { panic!("on_join carries [details], got {args:?}") };
            assert_details(d, &subject, r, "subject");
            assert!(kwargs.as_ref().is_none_or(Dict::is_empty), "{kwargs:?}");
        }
        // wamp.session.get answers the same details.
        assert_details(&get(&mut far, &subject), &subject, r, "subject");
    });
}

#[test]
fn on_leave_reaches_another_shard_after_goodbye_transport_loss_and_kill_and_the_session_is_gone() {
    meta_matrix(|r, kind, ser| {
        let realm = realm("leave", kind, ser);
        let mut watcher = join_as(r, On::First, kind, ser, &realm, None);
        let on_leave = watch(&mut watcher, ON_LEAVE);
        let mut caller = join_as(r, On::First, kind, ser, &realm, None);
        for how in ["goodbye", "transport loss", "kill"] {
            let authid = format!("leaver {how}");
            let mut subject = join_as(r, On::Last, kind, ser, &realm, Some(&authid));
            let gone = subject.session.get();
            match how {
                "goodbye" => subject.goodbye(),
                "transport loss" => drop(subject),
                _ => {
                    kill(&mut caller, &subject);
                    killed(&mut subject, KILLED, None);
                }
            }
            left(&mut watcher, on_leave, (gone, &authid));
            // Once on_leave is in, no lookup finds the session.
            let err = meta_err(&mut caller, "wamp.session.get", pos(vec![Value::UInt(gone)]));
            assert_eq!(err, NO_SUCH_SESSION, "{how}");
            assert!(!list(&mut caller, None).contains(&gone), "{how}: still listed");
        }
        assert_eq!(count(&mut caller, None), 2);
    });
}

// ---------------------------------------------------------------------------------------------
// count, list, get

#[test]
fn count_list_and_get_see_sessions_on_every_shard_with_and_without_a_role_filter() {
    meta_matrix(|r, kind, ser| {
        let realm = realm("count", kind, ser);
        let mut caller = join_as(r, On::First, kind, ser, &realm, Some("caller"));
        let a = join_as(r, On::First, kind, ser, &realm, Some("a"));
        let mut b = join_as(r, On::Last, kind, ser, &realm, Some("b"));
        let c = join_as(r, On::Last, kind, ser, &realm, None);
        let all = ids(&[&caller, &a, &b, &c]);
        assert_eq!(count(&mut caller, None), 4);
        assert_eq!(count(&mut caller, Some(&["anonymous"])), 4);
        assert_eq!(count(&mut caller, Some(&["admin", "anonymous"])), 4);
        assert_eq!(count(&mut caller, Some(&["admin"])), 0);
        assert_eq!(count(&mut caller, Some(&[])), 0);
        assert_eq!(list(&mut caller, None), all);
        assert_eq!(list(&mut caller, Some(&["anonymous"])), all);
        assert_eq!(list(&mut caller, Some(&["admin"])), Vec::<u64>::new());
        // By keyword, and a null filter is no filter.
        let by_name = kw(Dict::new().with("filter_authroles", strs(&["admin"])));
        assert_eq!(meta_ok(&mut caller, "wamp.session.count", by_name.clone()), vec![Value::UInt(0)]);
        assert_eq!(meta_ok(&mut caller, "wamp.session.list", by_name), vec![Value::List(vec![])]);
        assert_eq!(meta_ok(&mut caller, "wamp.session.count", pos(vec![Value::Null])), vec![Value::UInt(4)]);
        for (subject, authid) in [(&a, "a"), (&b, "b"), (&c, c.authid.as_str())] {
            assert_details(&get(&mut caller, subject), subject, r, authid);
        }
        let by_name = meta_ok(&mut caller, "wamp.session.get", kw(Dict::new().with("session", id(&b))));
        assert_eq!(by_name, vec![Value::Dict(get(&mut caller, &b))]);
        // A session that said GOODBYE is no longer counted, listed or found.
        let gone = b.session.get();
        b.goodbye();
        assert_eq!(count(&mut caller, None), 3);
        assert_eq!(list(&mut caller, None), ids(&[&caller, &a, &c]));
        assert_eq!(meta_err(&mut caller, "wamp.session.get", pos(vec![Value::UInt(gone)])), NO_SUCH_SESSION);
    });
}

// ---------------------------------------------------------------------------------------------
// kill, kill_by_authid, kill_by_authrole, kill_all

#[test]
fn kill_sends_the_victim_goodbye_with_reason_and_message_and_closes_it() {
    meta_matrix(|r, kind, ser| {
        let realm = realm("kill", kind, ser);
        let mut caller = join_as(r, On::First, kind, ser, &realm, None);
        // The default reason and a message by keyword; the GOODBYE checked on raw bytes.
        let mut victim = join_as(r, On::Last, kind, ser, &realm, None);
        let payload = Payload::Values { args: vec![id(&victim)], kwargs: Some(Dict::new().with("message", "bye")) };
        assert_eq!(meta_ok(&mut caller, "wamp.session.kill", payload), Vec::<Value>::new());
        assert_wire(ser, victim.recv_bytes(), &goodbye_wire(ser, "bye", KILLED));
        assert!(victim.closes(), "the victim's connection must close");
        // A reason and a message given by position.
        let mut victim = join_as(r, On::Last, kind, ser, &realm, None);
        let payload = pos(vec![id(&victim), Value::from("com.example.kicked"), Value::from("go away")]);
        assert_eq!(meta_ok(&mut caller, "wamp.session.kill", payload), Vec::<Value>::new());
        killed(&mut victim, "com.example.kicked", Some("go away"));
        // Nulls mean the defaults; a victim on the caller's own shard.
        let mut victim = join_as(r, On::First, kind, ser, &realm, None);
        let payload = pos(vec![id(&victim), Value::Null, Value::Null]);
        assert_eq!(meta_ok(&mut caller, "wamp.session.kill", payload), Vec::<Value>::new());
        killed(&mut victim, KILLED, None);
        assert_eq!(list(&mut caller, None), ids(&[&caller]));
    });
}

#[test]
fn kill_of_oneself_or_of_an_unknown_session_gets_no_such_session_and_kills_nobody() {
    meta_matrix(|r, kind, ser| {
        let realm = realm("killbad", kind, ser);
        let mut caller = join_as(r, On::First, kind, ser, &realm, None);
        let mut other = join_as(r, On::Last, kind, ser, &realm, None);
        let itself = pos(vec![id(&caller)]);
        assert_eq!(meta_err(&mut caller, "wamp.session.kill", itself), NO_SUCH_SESSION);
        let mut gone = join_as(r, On::Last, kind, ser, &realm, None);
        let gone_id = gone.session.get();
        gone.goodbye();
        for unknown in [gone_id, 1, 1 << 53] {
            let unknown = pos(vec![Value::UInt(unknown)]);
            assert_eq!(meta_err(&mut caller, "wamp.session.get", unknown.clone()), NO_SUCH_SESSION);
            assert_eq!(meta_err(&mut caller, "wamp.session.kill", unknown), NO_SUCH_SESSION);
        }
        // The killer's own authid and an authrole nobody has kill nobody either.
        let own = pos(vec![Value::from(caller.authid.as_str())]);
        assert_eq!(meta_ok(&mut caller, "wamp.session.kill_by_authid", own), vec![Value::List(vec![])]);
        let nobody = pos(vec![Value::from("admin")]);
        assert_eq!(meta_ok(&mut caller, "wamp.session.kill_by_authrole", nobody), vec![Value::UInt(0)]);
        assert_eq!(list(&mut caller, None), ids(&[&caller, &other]));
        assert_eq!(count(&mut other, None), 2, "the other session still works");
    });
}

#[test]
fn kill_by_authid_kills_that_authid_on_every_shard_but_spares_the_killer() {
    meta_matrix(|r, kind, ser| {
        let realm = realm("authid", kind, ser);
        let mut killer = join_as(r, On::First, kind, ser, &realm, Some("ops"));
        let mut near = join_as(r, On::First, kind, ser, &realm, Some("ops"));
        let mut far = join_as(r, On::Last, kind, ser, &realm, Some("ops"));
        let mut bystander = join_as(r, On::Last, kind, ser, &realm, Some("dev"));
        let options = Dict::new().with("reason", "com.example.rotate").with("message", "rotating");
        let payload = Payload::Values { args: vec![Value::from("ops")], kwargs: Some(options) };
        let answer = meta_ok(&mut killer, "wamp.session.kill_by_authid", payload);
        assert_eq!(sorted_ids(&answer, "kill_by_authid"), ids(&[&near, &far]));
        killed(&mut near, "com.example.rotate", Some("rotating"));
        killed(&mut far, "com.example.rotate", Some("rotating"));
        assert_eq!(list(&mut killer, None), ids(&[&killer, &bystander]));
        assert_eq!(count(&mut bystander, None), 2, "the bystander still works");
        let nobody = meta_ok(&mut killer, "wamp.session.kill_by_authid", pos(vec![Value::from("nobody")]));
        assert_eq!(nobody, vec![Value::List(vec![])]);
    });
}

#[test]
fn kill_by_authrole_and_kill_all_answer_how_many_they_killed_and_spare_the_killer() {
    meta_matrix(|r, kind, ser| {
        let realm = realm("killall", kind, ser);
        let mut killer = join_as(r, On::First, kind, ser, &realm, None);
        let join = |on| join_as(r, on, kind, ser, &realm, None);
        let mut victims = vec![join(On::First), join(On::Last), join(On::Last)];
        let anonymous = pos(vec![Value::from("anonymous")]);
        assert_eq!(meta_ok(&mut killer, "wamp.session.kill_by_authrole", anonymous), vec![Value::UInt(3)]);
        for v in &mut victims {
            killed(v, KILLED, None);
        }
        assert_eq!(count(&mut killer, None), 1);
        let mut victims = vec![join(On::Last), join(On::First)];
        let options = Dict::new().with("reason", "wamp.close.system_shutdown").with("message", "maintenance");
        assert_eq!(meta_ok(&mut killer, "wamp.session.kill_all", kw(options)), vec![Value::UInt(2)]);
        for v in &mut victims {
            killed(v, "wamp.close.system_shutdown", Some("maintenance"));
        }
        assert_eq!(list(&mut killer, None), ids(&[&killer]));
        assert_eq!(meta_ok(&mut killer, "wamp.session.kill_all", Payload::Empty), vec![Value::UInt(0)]);
    });
}

// ---------------------------------------------------------------------------------------------
// Testaments

#[test]
fn testaments_are_published_when_a_session_leaves_detached_first_each_in_the_order_added() {
    meta_matrix(|r, kind, ser| {
        let realm = realm("testament", kind, ser);
        let mut watcher = join_as(r, On::First, kind, ser, &realm, None);
        let will = watch(&mut watcher, TOPIC);
        let on_leave = watch(&mut watcher, ON_LEAVE);
        let mut caller = join_as(r, On::First, kind, ser, &realm, None);
        for how in ["goodbye", "transport loss", "kill", "protocol violation"] {
            let mut subject = join_as(r, On::Last, kind, ser, &realm, None);
            let added = [
                ("destroyed 1", None),
                ("detached 1", Some("detached")),
                ("destroyed 2", Some("destroyed")),
                ("detached 2", Some("detached")),
            ];
            for (i, (name, scope)) in added.into_iter().enumerate() {
                let kwargs = Dict::new().with("n", i as u64);
                add_testament(&mut subject, TOPIC, vec![Value::from(how), Value::from(name)], kwargs, scope);
            }
            let (gone, authid) = (subject.session.get(), subject.authid.clone());
            match how {
                "goodbye" => subject.goodbye(),
                "transport loss" => drop(subject),
                "kill" => {
                    kill(&mut caller, &subject);
                    killed(&mut subject, KILLED, None);
                }
                _ => {
                    // A YIELD for an invocation the session does not owe.
                    subject.yield_(Id::new(4242).unwrap(), Dict::new(), Payload::Empty);
                    aborted(&mut subject);
                }
            }
            for (name, n) in [("detached 1", 1u64), ("detached 2", 3), ("destroyed 1", 0), ("destroyed 2", 2)] {
                let e = event_of(&mut watcher, will);
                assert_eq!(e.details.get("publisher"), None, "{how}: not disclosed unless asked");
                let (args, kwargs) = values(&e.payload);
                assert_eq!(args, vec![Value::from(how), Value::from(name)], "{how}");
                assert_eq!(kwargs, Some(Dict::new().with("n", n)), "{how}");
            }
            left(&mut watcher, on_leave, (gone, &authid));
        }
    });
}

#[test]
fn flushed_testaments_are_not_published_and_publish_options_apply_to_the_rest() {
    meta_matrix(|r, kind, ser| {
        let realm = realm("flush", kind, ser);
        let mut watcher = join_as(r, On::First, kind, ser, &realm, None);
        let will = watch(&mut watcher, TOPIC);
        let on_leave = watch(&mut watcher, ON_LEAVE);
        let mut subject = join_as(r, On::Last, kind, ser, &realm, Some("testator"));
        for (name, scope) in [("a", None), ("b", Some("destroyed")), ("c", Some("detached"))] {
            add_testament(&mut subject, TOPIC, vec![Value::from(name)], Dict::new(), scope);
        }
        let flush = "wamp.session.flush_testaments";
        assert_eq!(meta_ok(&mut subject, flush, Payload::Empty), vec![Value::UInt(2)], "destroyed is the default");
        let detached = kw(Dict::new().with("scope", "detached"));
        assert_eq!(meta_ok(&mut subject, flush, detached), vec![Value::UInt(1)]);
        assert_eq!(meta_ok(&mut subject, flush, pos(vec![Value::from("detached")])), vec![Value::UInt(0)]);
        // One more, asking for publisher disclosure.
        let options = Dict::new().with("disclose_me", true);
        let args = vec![Value::from(TOPIC), Value::List(vec![Value::from("kept")]), Value::Dict(Dict::new())];
        let payload = Payload::Values { args, kwargs: Some(Dict::new().with("publish_options", options)) };
        assert_eq!(meta_ok(&mut subject, "wamp.session.add_testament", payload), Vec::<Value>::new());
        let gone = subject.session.get();
        subject.goodbye();
        // A flushed testament would have come before this one (detached first, then in order).
        let e = event_of(&mut watcher, will);
        assert_eq!(values(&e.payload).0, vec![Value::from("kept")]);
        assert_eq!(e.details.get("publisher"), Some(&Value::UInt(gone)));
        assert_eq!(e.details.get_str("publisher_authid"), Some("testator"));
        left(&mut watcher, on_leave, (gone, "testator"));
    });
}

#[test]
fn a_session_may_leave_at_most_64_testaments() {
    meta_matrix(|r, kind, ser| {
        let realm = realm("limit", kind, ser);
        let mut watcher = join_as(r, On::First, kind, ser, &realm, None);
        let will = watch(&mut watcher, TOPIC);
        let on_leave = watch(&mut watcher, ON_LEAVE);
        let mut subject = join_as(r, On::Last, kind, ser, &realm, None);
        let testament = |i: u64| pos(vec![Value::from(TOPIC), Value::List(vec![Value::UInt(i)])]);
        for i in 0..64 {
            assert_eq!(meta_ok(&mut subject, "wamp.session.add_testament", testament(i)), Vec::<Value>::new());
        }
        let refused = meta_err(&mut subject, "wamp.session.add_testament", testament(64));
        assert_eq!(refused, "wampyard.error.limit_reached");
        let flush = "wamp.session.flush_testaments";
        assert_eq!(meta_ok(&mut subject, flush, Payload::Empty), vec![Value::UInt(64)]);
        for i in 100..164 {
            assert_eq!(meta_ok(&mut subject, "wamp.session.add_testament", testament(i)), Vec::<Value>::new());
        }
        let detached = Payload::Values {
            args: vec![Value::from(TOPIC), Value::List(vec![])],
            kwargs: Some(Dict::new().with("scope", "detached")),
        };
        assert_eq!(meta_err(&mut subject, "wamp.session.add_testament", detached), "wampyard.error.limit_reached");
        let (gone, authid) = (subject.session.get(), subject.authid.clone());
        subject.goodbye();
        for i in 100..164 {
            assert_eq!(event_args(&mut watcher, will), vec![Value::UInt(i)]);
        }
        left(&mut watcher, on_leave, (gone, &authid));
    });
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn bad_arguments_get_invalid_argument_and_bad_testament_topics_invalid_uri() {
    meta_matrix(|r, kind, ser| {
        let realm = realm("bad", kind, ser);
        let mut c = join_as(r, On::First, kind, ser, &realm, None);
        let other = join_as(r, On::Last, kind, ser, &realm, None);
        let (s, n) = (|v: &str| Value::from(v), Value::UInt);
        let (empty_list, empty_dict) = (Value::List(vec![]), Value::Dict(Dict::new()));
        let testament = |topic: &str| pos(vec![s(topic), empty_list.clone(), empty_dict.clone()]);
        let cases: Vec<(&str, Payload, &str)> = vec![
            ("wamp.session.count", pos(vec![s("anonymous")]), INVALID_ARGUMENT),
            ("wamp.session.count", pos(vec![Value::List(vec![n(1)])]), INVALID_ARGUMENT),
            ("wamp.session.list", pos(vec![empty_dict.clone()]), INVALID_ARGUMENT),
            ("wamp.session.list", kw(Dict::new().with("filter_authroles", true)), INVALID_ARGUMENT),
            ("wamp.session.get", Payload::Empty, INVALID_ARGUMENT),
            ("wamp.session.get", pos(vec![s("1")]), INVALID_ARGUMENT),
            ("wamp.session.get", pos(vec![Value::Int(-1)]), INVALID_ARGUMENT),
            ("wamp.session.get", pos(vec![Value::Float(1.5)]), INVALID_ARGUMENT),
            ("wamp.session.get", pos(vec![n(0)]), INVALID_ARGUMENT),
            ("wamp.session.kill", pos(vec![s("x")]), INVALID_ARGUMENT),
            ("wamp.session.kill", pos(vec![id(&other), n(5)]), INVALID_ARGUMENT),
            ("wamp.session.kill", pos(vec![id(&other), s("not a uri")]), INVALID_ARGUMENT),
            ("wamp.session.kill", pos(vec![id(&other), Value::Null, n(5)]), INVALID_ARGUMENT),
            ("wamp.session.kill_by_authid", Payload::Empty, INVALID_ARGUMENT),
            ("wamp.session.kill_by_authid", pos(vec![n(5)]), INVALID_ARGUMENT),
            ("wamp.session.kill_by_authrole", pos(vec![empty_list.clone()]), INVALID_ARGUMENT),
            ("wamp.session.kill_all", kw(Dict::new().with("reason", true)), INVALID_ARGUMENT),
            ("wamp.session.add_testament", Payload::Empty, INVALID_ARGUMENT),
            ("wamp.session.add_testament", pos(vec![n(1)]), INVALID_ARGUMENT),
            ("wamp.session.add_testament", pos(vec![s(TOPIC), s("not a list")]), INVALID_ARGUMENT),
            (
                "wamp.session.add_testament",
                pos(vec![s(TOPIC), empty_list.clone(), empty_list.clone()]),
                INVALID_ARGUMENT,
            ),
            (
                "wamp.session.add_testament",
                pos(vec![s(TOPIC), empty_list.clone(), empty_dict.clone(), s("options")]),
                INVALID_ARGUMENT,
            ),
            (
                "wamp.session.add_testament",
                pos(vec![s(TOPIC), empty_list.clone(), empty_dict.clone(), empty_dict.clone(), s("forever")]),
                INVALID_ARGUMENT,
            ),
            ("wamp.session.flush_testaments", pos(vec![s("forever")]), INVALID_ARGUMENT),
            ("wamp.session.flush_testaments", kw(Dict::new().with("scope", 1u64)), INVALID_ARGUMENT),
            ("wamp.session.add_testament", testament("wamp.session.on_leave"), "wamp.error.invalid_uri"),
            ("wamp.session.add_testament", testament("wamp.custom"), "wamp.error.invalid_uri"),
            ("wamp.session.add_testament", testament("com.bad topic"), "wamp.error.invalid_uri"),
            ("wamp.session.add_testament", testament("com..empty"), "wamp.error.invalid_uri"),
            ("wamp.session.add_testament", testament("com.hash#tag"), "wamp.error.invalid_uri"),
            ("wamp.session.add_testament", testament(""), "wamp.error.invalid_uri"),
            ("wamp.session.no_such_thing", Payload::Empty, "wamp.error.no_such_procedure"),
        ];
        for (procedure, payload, expected) in cases {
            assert_eq!(meta_err(&mut c, procedure, payload.clone()), expected, "{procedure} {payload:?}");
        }
        // None of it killed anyone or left a testament.
        assert_eq!(list(&mut c, None), ids(&[&c, &other]));
        assert_eq!(meta_ok(&mut c, "wamp.session.flush_testaments", Payload::Empty), vec![Value::UInt(0)]);
        assert_eq!(meta_ok(&mut c, "wamp.session.flush_testaments", pos(vec![s("detached")])), vec![Value::UInt(0)]);
    });
}
