//! The session meta API and testaments in the simulator: the caller, the subject session and the
//! meta subscribers on different shards.

use super::sim::*;
use crate::config::Limits;
use crate::wamp::message as m;
use crate::wamp::{Dict, Id, Message, Value};

/// Calls `procedure`: the first result argument, or the error URI.
fn answer(
    sim: &mut Sim,
    c: &mut Client,
    procedure: &str,
    args: Vec<Value>,
    kwargs: Option<Dict>,
) -> Result<Value, String> {
    let request = Sim::request(c);
    let payload = crate::codec::Payload::Values { args, kwargs };
    sim.send(c, Message::Call(m::Call { request, options: Dict::new(), procedure: procedure.into(), payload }));
    let mut got = recv(c);
    let at = got.iter().position(|msg| {
        matches!(msg, Message::Result(r) if r.request == request)
            || matches!(msg, Message::Error(e) if e.request == request)
    });
    match at.map(|i| got.remove(i)) {
        Some(Message::Result(r)) => Ok(args_of(&r.payload).into_iter().next().unwrap_or(Value::Null)),
        Some(Message::Error(e)) => Err(e.error),
        other => panic!("expected RESULT or ERROR for {procedure}, got {other:?} and {got:?}"),
    }
}

fn uint(v: u64) -> Value {
    Value::UInt(v)
}

fn sid(c: &Client) -> Value {
    Value::UInt(c.session.get())
}

fn sorted_ids(v: Value) -> Vec<u64> {
    let Value::List(l) = v else { panic!("expected a list, got {v:?}") };
    let mut out: Vec<u64> = l.iter().map(|x| x.as_u64().unwrap()).collect();
    out.sort_unstable();
    out
}

fn ids_of(cs: &[&Client]) -> Vec<u64> {
    let mut out: Vec<u64> = cs.iter().map(|c| c.session.get()).collect();
    out.sort_unstable();
    out
}

/// The events `c` received, as (topic-of-subscription, args).
fn meta_events(c: &Client) -> Vec<Vec<Value>> {
    events(c).into_iter().map(|e| args_of(&e.payload)).collect()
}

#[test]
fn on_join_carries_the_new_sessions_details_to_every_shard() {
    matrix(|sim, ser| {
        let mut watcher = sim.join(0, ser);
        sim.subscribe(&mut watcher, "wamp.session.on_join", "exact");
        let joiner = sim.join_as(last(sim), ser, "alice");
        let got = meta_events(&watcher);
        assert_eq!(got.len(), 1);
        let d = got[0][0].as_dict().unwrap();
        assert_eq!(d.get("session"), Some(&sid(&joiner)));
        assert_eq!((d.get_str("authid"), d.get_str("authrole")), (Some("alice"), Some("anonymous")));
        assert_eq!(d.get_str("serializer"), Some(ser.to_string().as_str()));
        assert!(d.get("transport").and_then(Value::as_dict).is_some_and(|t| t.get_str("type") == Some("test")));
    });
}

#[test]
fn on_leave_follows_goodbye_transport_loss_and_the_session_is_gone_from_lookups() {
    matrix(|sim, ser| {
        let mut watcher = sim.join(0, ser);
        sim.subscribe(&mut watcher, "wamp.session.on_leave", "exact");
        for how in ["goodbye", "transport"] {
            let leaver = sim.join_as(last(sim), ser, how);
            match how {
                "goodbye" => {
                    let bye = m::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() };
                    sim.send(&leaver, Message::Goodbye(bye));
                }
                _ => sim.close(&leaver),
            }
            assert_eq!(meta_events(&watcher), vec![vec![sid(&leaver), Value::from(how), Value::from("anonymous")]]);
            let gone = answer(sim, &mut watcher, "wamp.session.get", vec![sid(&leaver)], None);
            assert_eq!(gone, Err("wamp.error.no_such_session".into()));
            if how == "goodbye" {
                sim.close(&leaver);
            }
        }
    });
}

#[test]
fn count_list_and_get_see_every_welcomed_session_of_the_realm() {
    matrix(|sim, ser| {
        let mut c = sim.join(0, ser);
        let others: Vec<Client> = (0..4).map(|i| sim.join(i % sim.shards, ser)).collect();
        let _elsewhere = sim.join_with(last(sim), ser, "strict", &[]);
        assert_eq!(answer(sim, &mut c, "wamp.session.count", vec![], None), Ok(uint(5)));
        let mut all: Vec<&Client> = others.iter().collect();
        let me = c.session.get();
        let listed = sorted_ids(answer(sim, &mut c, "wamp.session.list", vec![], None).unwrap());
        let mut expected = ids_of(&all);
        expected.push(me);
        expected.sort_unstable();
        all.clear();
        assert_eq!(listed, expected);
        let roles = Value::List(vec![Value::from("anonymous")]);
        assert_eq!(answer(sim, &mut c, "wamp.session.count", vec![roles], None), Ok(uint(5)));
        let nobody = Value::List(vec![Value::from("admin")]);
        assert_eq!(answer(sim, &mut c, "wamp.session.list", vec![nobody], None), Ok(Value::List(vec![])));
        let d = answer(sim, &mut c, "wamp.session.get", vec![sid(&others[1])], None).unwrap();
        assert_eq!(d.as_dict().and_then(|d| d.get("session")), Some(&sid(&others[1])));
        let unknown = answer(sim, &mut c, "wamp.session.get", vec![uint(crate::wamp::id::MAX_ID)], None);
        assert_eq!(unknown, Err("wamp.error.no_such_session".into()));
        let bad = answer(sim, &mut c, "wamp.session.get", vec![Value::from("x")], None);
        assert_eq!(bad, Err("wamp.error.invalid_argument".into()));
    });
}

#[test]
fn kill_sends_goodbye_to_the_victim_and_answers_the_killer() {
    matrix(|sim, ser| {
        let mut killer = sim.join(0, ser);
        let mut watcher = sim.join(0, ser);
        sim.subscribe(&mut watcher, "wamp.session.on_leave", "exact");
        let victim = sim.join(last(sim), ser);
        let kwargs = Dict::new().with("message", "out you go");
        assert_eq!(answer(sim, &mut killer, "wamp.session.kill", vec![sid(&victim)], Some(kwargs)), Ok(Value::Null));
        match recv(&victim).as_slice() {
            [Message::Goodbye(g)] => {
                assert_eq!(
                    (g.reason.as_str(), g.details.get_str("message")),
                    ("wamp.close.killed", Some("out you go"))
                );
            }
            other => panic!("expected GOODBYE, got {other:?}"),
        }
        assert!(victim.outbox.is_closing());
        assert_eq!(meta_events(&watcher).len(), 1, "on_leave after a kill");
        let again = answer(sim, &mut killer, "wamp.session.kill", vec![sid(&victim)], None);
        assert_eq!(again, Err("wamp.error.no_such_session".into()));
        let own = sid(&killer);
        let me = answer(sim, &mut killer, "wamp.session.kill", vec![own], None);
        assert_eq!(me, Err("wamp.error.no_such_session".into()), "a session cannot kill itself");
        sim.close(&victim);
    });
}

#[test]
fn kill_by_authid_authrole_and_all_spare_the_killer() {
    matrix(|sim, ser| {
        let mut killer = sim.join_as(0, ser, "x");
        let xs: Vec<Client> = (0..3).map(|i| sim.join_as(i % sim.shards, ser, "x")).collect();
        let ys: Vec<Client> = (0..2).map(|i| sim.join_as((i + 1) % sim.shards, ser, "y")).collect();
        let killed = answer(sim, &mut killer, "wamp.session.kill_by_authid", vec![Value::from("x")], None).unwrap();
        assert_eq!(sorted_ids(killed), ids_of(&xs.iter().collect::<Vec<_>>()));
        assert!(recv(&killer).is_empty(), "the killer lives");
        let role = vec![Value::from("nobody")];
        assert_eq!(answer(sim, &mut killer, "wamp.session.kill_by_authrole", role, None), Ok(uint(0)));
        assert_eq!(answer(sim, &mut killer, "wamp.session.kill_all", vec![], None), Ok(uint(2)));
        for y in &ys {
            assert!(matches!(recv(y).as_slice(), [Message::Goodbye(_)]));
        }
        assert_eq!(answer(sim, &mut killer, "wamp.session.count", vec![], None), Ok(uint(1)));
        for c in xs.iter().chain(&ys) {
            sim.close(c);
        }
    });
}

/// Adds a testament publishing `[tag]` to `com.will`.
fn add_testament(sim: &mut Sim, c: &mut Client, tag: &str, scope: &str) {
    let args = vec![Value::from("com.will"), Value::List(vec![Value::from(tag)]), Value::Dict(Dict::new())];
    let kwargs = Dict::new().with("scope", scope);
    assert_eq!(answer(sim, c, "wamp.session.add_testament", args, Some(kwargs)), Ok(Value::Null));
}

#[test]
fn testaments_are_published_in_order_detached_first_however_the_session_ends() {
    matrix(|sim, ser| {
        let mut heir = sim.join(0, ser);
        sim.subscribe(&mut heir, "com.will", "exact");
        let mut killer = sim.join(0, ser);
        for how in ["goodbye", "transport", "kill", "violation"] {
            let mut dying = sim.join(last(sim), ser);
            add_testament(sim, &mut dying, "d1", "destroyed");
            add_testament(sim, &mut dying, "t1", "detached");
            add_testament(sim, &mut dying, "d2", "destroyed");
            assert!(meta_events(&heir).is_empty(), "nothing before the session leaves");
            match how {
                "goodbye" => {
                    let bye = m::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() };
                    sim.send(&dying, Message::Goodbye(bye));
                }
                "transport" => sim.close(&dying),
                "kill" => {
                    let r = answer(sim, &mut killer, "wamp.session.kill", vec![sid(&dying)], None);
                    assert_eq!(r, Ok(Value::Null));
                }
                _ => sim.send(&dying, hello("realm1")),
            }
            let order: Vec<Value> = meta_events(&heir).into_iter().map(|a| a[0].clone()).collect();
            assert_eq!(order, vec![Value::from("t1"), Value::from("d1"), Value::from("d2")], "after {how}");
            if how != "transport" {
                sim.close(&dying);
            }
        }
    });
}

#[test]
fn flushed_testaments_are_not_published() {
    matrix(|sim, ser| {
        let mut heir = sim.join(0, ser);
        sim.subscribe(&mut heir, "com.will", "exact");
        let mut c = sim.join(last(sim), ser);
        add_testament(sim, &mut c, "a", "destroyed");
        add_testament(sim, &mut c, "b", "detached");
        assert_eq!(answer(sim, &mut c, "wamp.session.flush_testaments", vec![], None), Ok(uint(1)));
        sim.close(&c);
        assert_eq!(meta_events(&heir), vec![vec![Value::from("b")]]);
    });
}

#[test]
fn testaments_are_bounded_per_session_and_checked_when_added() {
    let mut sim = Sim::new(2, 1);
    let mut c = sim.join(1, crate::codec::Serializer::Json);
    for i in 0..crate::meta::testament::MAX_TESTAMENTS_PER_SESSION {
        add_testament(&mut sim, &mut c, &i.to_string(), "destroyed");
    }
    let args = vec![Value::from("com.will"), Value::List(vec![])];
    let over = answer(&mut sim, &mut c, "wamp.session.add_testament", args, None);
    assert_eq!(over, Err("wampyard.error.limit_reached".into()));
    let bad = answer(&mut sim, &mut c, "wamp.session.add_testament", vec![Value::from("wamp.x")], None);
    assert_eq!(bad, Err("wamp.error.invalid_uri".into()));
    sim.close(&c);
    sim.finish();
}

#[test]
fn meta_calls_waiting_for_shards_count_against_the_call_limit() {
    let limits = Limits { max_calls_per_session: 2, ..Limits::default() };
    let mut sim = Sim::with_limits(3, 1, limits);
    let mut c = sim.join(0, crate::codec::Serializer::MsgPack);
    let mut requests = Vec::new();
    for _ in 0..3 {
        let request = Sim::request(&mut c);
        requests.push(request);
        let call = m::Call {
            request,
            options: Dict::new(),
            procedure: "wamp.session.count".into(),
            payload: crate::codec::Payload::Empty,
        };
        sim.send_unrun(&c, Message::Call(call));
    }
    sim.run();
    let got = recv(&c);
    let limited: Vec<Id> = got
        .iter()
        .filter_map(|msg| match msg {
            Message::Error(e) if e.error == "wampyard.error.limit_reached" => Some(e.request),
            _ => None,
        })
        .collect();
    assert_eq!(limited, vec![requests[2]]);
    assert_eq!(got.iter().filter(|msg| matches!(msg, Message::Result(_))).count(), 2);
    assert_eq!(sim.routers[0].stats().call_limit_hits, 1);
    sim.close(&c);
    sim.finish();
}
