//! Authentication and authorization over real sockets, across every transport x serializer, one
//! shard and two: ticket logins (CHALLENGE / AUTHENTICATE, checked on the wire), the ABORTs of
//! refused logins, anonymous logins as each listener allows them, the handshake deadline over
//! the CHALLENGE round, and the roles of realm `secure` deciding CALL, REGISTER, PUBLISH and
//! SUBSCRIBE (the meta API included), with callers and callees on different shards. The
//! simulator's tests of the same behaviour are in `src/router/tests/auth.rs`; the listeners,
//! principals and roles are described in `common/auth.rs`.
//!
//! An allowed CALL of a procedure nobody registered answers `no_such_procedure` and a denied one
//! `not_authorized`, so permissions are probed without callees. "Nothing arrived" is shown by a
//! later message on the same path (a sentinel), never by sleeping.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::auth::*;
use common::meta::{meta, pos};
use common::*;
use wampyard::codec::{Payload, Serializer};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Id, Message, Value};

/// A HELLO's listener view, `authmethods` and `authid`.
type Offer<'a> = (&'a TestRouter, Option<&'a [&'a str]>, Option<&'a str>);

fn denied() -> Option<String> {
    Some(NOT_AUTHORIZED.to_owned())
}

fn no_such_procedure() -> Option<String> {
    Some(NO_SUCH_PROCEDURE.to_owned())
}

/// The next EVENT of `c`, skipping events of other subscriptions than `subs` would be a failure:
/// returns it with the index of its subscription in `subs`.
fn event_among(c: &mut Client, subs: &[Id]) -> (usize, m::Event) {
    let e = c.event();
    let i = subs.iter().position(|s| *s == e.subscription).unwrap_or_else(|| panic!("an unexpected event {e:?}"));
    (i, e)
}

// ---------------------------------------------------------------------------------------------
// Logins

#[test]
fn a_ticket_login_gets_one_challenge_then_a_welcome_naming_the_principal() {
    auth_matrix(|r, kind, ser| {
        let cell = cell(kind, ser, r.shards);
        for on in [On::First, On::Last, On::Any] {
            let mut c = ticket_attempt(&r.ticket, on, kind, ser, SECURE, "writer", WRITER_TICKET);
            let details = welcome(&mut c);
            assert_ne!(c.session, Id::ZERO);
            assert_eq!(identity(&details), (Some("writer"), Some("writer"), Some("ticket"), Some("static")), "{cell}");
            let roles = details.get("roles").and_then(Value::as_dict).expect("WELCOME.Details.roles");
            assert!(roles.get("broker").is_some() && roles.get("dealer").is_some(), "{roles:?}");
            // The next message answers the first request: no second CHALLENGE or WELCOME came.
            assert_eq!(try_publish(&mut c, &format!("com.auth.public.{cell}.after_login")), None);
            c.goodbye();
        }
        // The same principal in the open realm1, and the pinned one in its own realm.
        let (_, details) = login(r, On::Last, kind, ser, "realm1", "writer");
        assert_eq!(identity(&details), (Some("writer"), Some("writer"), Some("ticket"), Some("static")));
        let (_, details) = login(r, On::First, kind, ser, PINNED, "pinned");
        assert_eq!(identity(&details), (Some("pinned"), Some("writer"), Some("ticket"), Some("static")));
        // The listener that also takes anonymous logins runs the same ticket login.
        let mut c = ticket_attempt(&r.mixed, On::Any, kind, ser, SECURE, "reader", "reader-ticket");
        assert_eq!(identity(&welcome(&mut c)), (Some("reader"), Some("reader"), Some("ticket"), Some("static")));
    });
}

#[test]
fn wrong_tickets_unknown_authids_and_foreign_realms_are_not_authorized() {
    let long = format!("{WRITER_TICKET}x");
    let short = &WRITER_TICKET[..WRITER_TICKET.len() - 3];
    let cases: [(&str, &str, &str); 9] = [
        (SECURE, "writer", "nope"),
        (SECURE, "writer", short),
        (SECURE, "writer", &long),
        (SECURE, "writer", ""),
        (SECURE, "reader", WRITER_TICKET),
        (SECURE, "nobody", WRITER_TICKET),
        (SECURE, "pinned", "pinned-ticket"),
        ("realm1", "pinned", "pinned-ticket"),
        (PINNED, "pinned", "pinned-ticket "),
    ];
    auth_matrix(|r, kind, ser| {
        for (i, (realm, authid, ticket)) in cases.iter().enumerate() {
            let view = if i % 2 == 0 { &r.ticket } else { &r.mixed };
            let on = [On::First, On::Last, On::Any][i % 3];
            // Every authid gets its CHALLENGE, so a peer cannot tell which authids exist.
            let mut c = ticket_attempt(view, on, kind, ser, realm, authid, ticket);
            let message = aborted_with(&mut c, NOT_AUTHORIZED);
            for secret in [ticket_of("writer"), ticket_of("pinned"), ticket] {
                assert!(secret.is_empty() || !message.contains(secret), "the ABORT shows a ticket: {message}");
            }
        }
    });
}

#[test]
fn a_ticket_login_without_an_authid_is_refused_before_any_challenge() {
    auth_matrix(|r, kind, ser| {
        for view in [&r.ticket, &r.mixed] {
            let mut c = connect(view, On::Any, kind, ser);
            c.send(&hello(SECURE, Some(&["ticket"]), None));
            aborted_with(&mut c, NOT_AUTHORIZED);
        }
    });
}

#[test]
fn a_hello_offering_no_accepted_method_is_refused_with_no_auth_method() {
    auth_matrix(|r, kind, ser| {
        let cases: [Offer<'_>; 6] = [
            // A ticket-only listener: no authmethods means anonymous, which it refuses.
            (&r.ticket, None, None),
            (&r.ticket, Some(&["anonymous"]), Some("writer")),
            (&r.ticket, Some(&["wampcra", "cryptosign"]), Some("writer")),
            (&r.mixed, Some(&["cryptosign", "scram"]), Some("writer")),
            // A listener without [listener.auth] takes anonymous only.
            (&r.open, Some(&["ticket"]), Some("writer")),
            (&r.open, Some(&["wampcra"]), None),
        ];
        for (i, (view, methods, authid)) in cases.into_iter().enumerate() {
            let on = [On::First, On::Last, On::Any][i % 3];
            let mut c = connect(view, on, kind, ser);
            c.send(&hello(SECURE, methods, authid));
            aborted_with(&mut c, NO_AUTH_METHOD);
        }
    });
}

#[test]
fn a_role_the_realm_does_not_have_is_refused_with_no_such_role() {
    auth_matrix(|r, kind, ser| {
        // A principal whose role `secure` lacks: CHALLENGE, the right ticket, then the refusal.
        let mut c = ticket_attempt(&r.ticket, On::Last, kind, ser, SECURE, "ghost", "ghost-ticket");
        aborted_with(&mut c, NO_SUCH_ROLE);
        // Anonymous sessions of a listener without [listener.auth] have role `anonymous`.
        let mut c = connect(&r.open, On::First, kind, ser);
        c.send(&hello(SECURE, None, None));
        aborted_with(&mut c, NO_SUCH_ROLE);
        // An open realm takes any role.
        let (_, details) = login(r, On::First, kind, ser, "realm1", "ghost");
        assert_eq!(identity(&details), (Some("ghost"), Some("ghost"), Some("ticket"), Some("static")));
    });
}

#[test]
fn anonymous_logins_follow_the_listener_and_the_clients_order_of_methods() {
    auth_matrix(|r, kind, ser| {
        // Ticket only: anonymous offered first is skipped, the ticket login runs.
        let mut c = connect(&r.ticket, On::Last, kind, ser);
        c.send(&hello(SECURE, Some(&["anonymous", "ticket"]), Some("reader")));
        expect_ticket_challenge(&mut c);
        authenticate(&mut c, "reader-ticket");
        assert_eq!(identity(&welcome(&mut c)).2, Some("ticket"));
        // Both: the client's first method wins.
        let mut c = connect(&r.mixed, On::First, kind, ser);
        c.send(&hello(SECURE, Some(&["anonymous", "ticket"]), Some("writer")));
        let details = welcome(&mut c);
        assert_eq!((identity(&details).1, identity(&details).2), (Some("reader"), Some("anonymous")));
        let mut c = connect(&r.mixed, On::Last, kind, ser);
        c.send(&hello(SECURE, Some(&["ticket", "anonymous"]), Some("writer")));
        expect_ticket_challenge(&mut c);
        authenticate(&mut c, WRITER_TICKET);
        assert_eq!(identity(&welcome(&mut c)), (Some("writer"), Some("writer"), Some("ticket"), Some("static")));
        // No authmethods: anonymous, with the listener's role, which the realm's rules then bind.
        let mut anon = connect(&r.mixed, On::Any, kind, ser);
        anon.send(&hello(SECURE, None, None));
        let details = welcome(&mut anon);
        assert_eq!((identity(&details).1, identity(&details).2), (Some("reader"), Some("anonymous")));
        assert!(!anon.authid.is_empty(), "an anonymous session gets an authid");
        assert_eq!(try_call(&mut anon, "wamp.session.count", Payload::Empty), denied());
        let cell = cell(kind, ser, r.shards);
        assert_eq!(try_subscribe(&mut anon, &format!("com.auth.public.{cell}.anon")), None);
        // The listener without [listener.auth]: role `anonymous`, in the open realm.
        let mut open = connect(&r.open, On::Any, kind, ser);
        open.send(&hello("realm1", None, None));
        let details = welcome(&mut open);
        assert_eq!((identity(&details).1, identity(&details).2), (Some("anonymous"), Some("anonymous")));
    });
}

#[test]
fn anything_but_authenticate_after_a_challenge_is_a_protocol_violation() {
    auth_matrix(|r, kind, ser| {
        let others = [
            hello(SECURE, Some(&["ticket"]), Some("writer")),
            Message::Subscribe(m::Subscribe {
                request: Id::new(1).unwrap(),
                options: Dict::new(),
                topic: "a.b".into(),
            }),
            Message::Goodbye(m::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() }),
        ];
        for (i, other) in others.iter().enumerate() {
            let on = [On::First, On::Last, On::Any][i % 3];
            let mut c = connect(&r.ticket, on, kind, ser);
            c.send(&hello(SECURE, Some(&["ticket"]), Some("writer")));
            expect_ticket_challenge(&mut c);
            c.send(other);
            aborted_with(&mut c, PROTOCOL_VIOLATION);
        }
    });
}

#[test]
fn the_handshake_deadline_covers_the_challenge_round() {
    const DEADLINE: Duration = Duration::from_millis(1_000);
    let r = start_auth(1, DEADLINE.as_millis() as u64, "deadline");
    let r = &r;
    std::thread::scope(|s| {
        for kind in KINDS {
            for ser in Serializer::ALL {
                s.spawn(move || {
                    let start = Instant::now();
                    let mut silent = connect(&r.ticket, On::Any, kind, ser);
                    silent.send(&hello(SECURE, Some(&["ticket"]), Some("writer")));
                    expect_ticket_challenge(&mut silent);
                    let mut prompt = connect(&r.ticket, On::Any, kind, ser);
                    prompt.send(&hello(SECURE, Some(&["ticket"]), Some("writer")));
                    expect_ticket_challenge(&mut prompt);
                    std::thread::sleep(Duration::from_millis(100));
                    authenticate(&mut prompt, WRITER_TICKET);
                    welcome(&mut prompt);
                    // No AUTHENTICATE: closed once the deadline passes, not before.
                    assert!(silent.closes(), "{kind:?} {ser:?}: the silent login must be closed");
                    let waited = start.elapsed();
                    assert!(waited >= DEADLINE * 7 / 10, "{kind:?} {ser:?}: closed after {waited:?}");
                    assert!(waited < DEADLINE * 5, "{kind:?} {ser:?}: closed only after {waited:?}");
                    // WELCOME disarmed the deadline: the session answered in time lives on.
                    std::thread::sleep((DEADLINE + Duration::from_millis(500)).saturating_sub(start.elapsed()));
                    let topic = format!("com.auth.public.deadline.{}", cell(kind, ser, 1));
                    assert_eq!(try_publish(&mut prompt, &topic), None, "{kind:?} {ser:?}");
                    prompt.goodbye();
                });
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Roles

#[test]
fn a_restricted_role_may_do_only_what_its_permissions_allow() {
    auth_matrix(|r, kind, ser| {
        let cell = cell(kind, ser, r.shards);
        let (mut reader, _) = login(r, On::First, kind, ser, SECURE, "reader");
        let public = format!("com.auth.public.{cell}");
        let status = format!("com.auth.{cell}.status");
        // SUBSCRIBE: the prefix com.auth.public. and the wildcard com.auth..status allow it.
        assert_eq!(try_subscribe(&mut reader, &format!("{public}.news")), None);
        assert_eq!(try_subscribe(&mut reader, &status), None);
        assert_eq!(try_subscribe(&mut reader, &format!("com.auth.private.{cell}")), denied());
        assert_eq!(try_subscribe(&mut reader, &format!("com.auth.public.secret.{cell}")), denied(), "longer prefix");
        // PUBLISH (acknowledged): only the wildcard allows it, and the prefix beats the wildcard.
        assert_eq!(try_publish(&mut reader, &status), None);
        assert_eq!(try_publish(&mut reader, "com.auth.public.status"), denied(), "prefix beats wildcard");
        assert_eq!(try_publish(&mut reader, &format!("{public}.news")), denied());
        assert_eq!(try_publish(&mut reader, &format!("com.auth.private.{cell}")), denied());
        // REGISTER: nowhere.
        for procedure in [format!("{public}.f"), format!("com.auth.private.{cell}.f"), status.clone()] {
            assert_eq!(try_register(&mut reader, &procedure), denied(), "{procedure}");
        }
        // CALL: allowed ones find no callee; the longer prefix denies; the exact one allows again.
        assert_eq!(try_call(&mut reader, &format!("{public}.nobody"), Payload::Empty), no_such_procedure());
        let secret = format!("com.auth.public.secret.{cell}");
        assert_eq!(try_call(&mut reader, &secret, Payload::Empty), denied(), "longer prefix");
        assert_eq!(try_call(&mut reader, "com.auth.public.secret.ping", Payload::Empty), no_such_procedure(), "exact");
        assert_eq!(try_call(&mut reader, "com.auth.public.secret.ping.x", Payload::Empty), denied());
        assert_eq!(try_call(&mut reader, &status, Payload::Empty), denied());
        assert_eq!(try_call(&mut reader, &format!("org.other.{cell}"), Payload::Empty), denied(), "no match");
        // Still a working session: the allowed subscription gets a writer's event.
        let (mut writer, _) = login(r, On::Last, kind, ser, SECURE, "writer");
        assert_eq!(try_publish(&mut writer, &format!("{public}.news")), None);
        assert_eq!(reader.event().details.get_str("topic"), None, "an exact subscription's event");
    });
}

/// Decisions are cached per session for a few URIs: cycling through more URIs than that, in
/// changing order and with every action, two sessions of different roles on the same shard keep
/// getting what their own permissions say.
#[test]
fn decisions_stay_right_for_many_uris_actions_and_sessions() {
    auth_matrix(|r, kind, ser| {
        let cell = cell(kind, ser, r.shards);
        // (uri, reader may call, publish, subscribe); the writer may do everything.
        let cases = [
            (format!("com.auth.public.{cell}.cache"), true, false, true),
            (format!("com.auth.public.secret.{cell}"), false, false, false),
            ("com.auth.public.secret.ping".to_owned(), true, false, false),
            (format!("com.auth.{cell}.status"), false, true, true),
            ("com.auth.public.status".to_owned(), true, false, true),
            (format!("org.other.{cell}"), false, false, false),
        ];
        let (mut reader, _) = login(r, On::First, kind, ser, SECURE, "reader");
        let (mut writer, _) = login(r, On::First, kind, ser, SECURE, "writer");
        let verdict = |allowed: bool, otherwise: Option<String>| if allowed { otherwise } else { denied() };
        for round in 0..3 {
            let order: Vec<usize> =
                if round == 1 { (0..cases.len()).rev().collect() } else { (0..cases.len()).collect() };
            for i in order {
                let (uri, call, publish, subscribe) = &cases[i];
                let at = format!("round {round}, {uri}");
                assert_eq!(try_call(&mut reader, uri, Payload::Empty), verdict(*call, no_such_procedure()), "{at}");
                assert_eq!(try_call(&mut writer, uri, Payload::Empty), no_such_procedure(), "{at}");
                assert_eq!(try_publish(&mut reader, uri), verdict(*publish, None), "{at}");
                assert_eq!(try_subscribe(&mut reader, uri), verdict(*subscribe, None), "{at}");
                assert_eq!(try_register(&mut reader, uri), denied(), "{at}");
                assert_eq!(try_publish(&mut writer, uri), None, "{at}");
            }
        }
    });
}

#[test]
fn an_allowed_role_works_across_shards_and_denied_actions_reach_nobody() {
    auth_matrix(|r, kind, ser| {
        let cell = cell(kind, ser, r.shards);
        let (echo, forbidden) = (format!("com.auth.public.{cell}.echo"), format!("com.auth.public.secret.{cell}.f"));
        let (private, status, news) = (
            format!("com.auth.private.{cell}"),
            format!("com.auth.{cell}.status"),
            format!("com.auth.public.{cell}.n"),
        );
        // The writer (everything allowed) on the last shard, the reader on the first.
        let (mut writer, _) = login(r, On::Last, kind, ser, SECURE, "writer");
        let (mut reader, _) = login(r, On::First, kind, ser, SECURE, "reader");
        let echo_reg = writer.register(&echo, Dict::new()).unwrap();
        writer.register(&forbidden, Dict::new()).unwrap();
        let subs = [writer.subscribe(&private, Dict::new()), writer.subscribe(&status, Dict::new())];
        // A denied call never reaches the callee: its next INVOCATION is the allowed call's.
        assert_eq!(try_call(&mut reader, &forbidden, Payload::Empty), denied());
        let request = reader.call(&echo, Payload::args(vec![Value::from("across")]));
        let inv = writer.echo_one();
        assert_eq!((inv.registration, values(&inv.payload).0), (echo_reg, vec![Value::from("across")]));
        match reader.recv() {
            Some(Message::Result(res)) => {
                assert_eq!(res.request, request);
                assert_eq!(values(&res.payload).0, vec![Value::from("across")]);
            }
            other => panic!("expected RESULT, got {other:?}"),
        }
        // A denied publish without acknowledge is dropped silently: the writer's next event is the
        // allowed one published after it, and the reader's next message answers its next request.
        reader.publish(&private, Dict::new(), Payload::args(vec![Value::from("dropped")]));
        reader.publish(&status, Dict::new(), Payload::args(vec![Value::from("allowed")]));
        let (i, e) = event_among(&mut writer, &subs);
        assert_eq!((i, values(&e.payload).0), (1, vec![Value::from("allowed")]), "the denied event was delivered");
        assert_eq!(try_publish(&mut reader, &status), None, "no ERROR for an unacknowledged denied publish");
        assert_eq!(event_among(&mut writer, &subs).0, 1);
        // Events the reader may subscribe to cross shards too.
        let sub = reader.subscribe(&news, Dict::new());
        assert_eq!(try_publish(&mut writer, &news), None);
        assert_eq!(reader.event().subscription, sub);
        writer.goodbye();
        reader.goodbye();
    });
}

#[test]
fn the_meta_api_obeys_the_roles() {
    auth_matrix(|r, kind, ser| {
        let (mut reader, _) = login(r, On::First, kind, ser, SECURE, "reader");
        let (mut watcher, _) = login(r, On::First, kind, ser, SECURE, "watcher");
        let (mut writer, _) = login(r, On::Last, kind, ser, SECURE, "writer");
        let writer_id = pos(vec![Value::UInt(writer.session.get())]);
        for (procedure, payload) in [
            ("wamp.session.count", Payload::Empty),
            ("wamp.session.list", Payload::Empty),
            ("wamp.session.get", writer_id.clone()),
            ("wamp.session.kill", writer_id.clone()),
            ("wamp.session.kill_by_authid", pos(vec![Value::from("writer")])),
            ("wamp.session.add_testament", pos(vec![Value::from("com.auth.public.t")])),
            ("wamp.registration.list", Payload::Empty),
            ("wamp.subscription.list", Payload::Empty),
        ] {
            assert_eq!(try_call(&mut reader, procedure, payload), denied(), "reader calling {procedure}");
        }
        assert_eq!(try_subscribe(&mut reader, "wamp.session.on_join"), denied());
        assert_eq!(try_subscribe(&mut reader, "wamp.registration.on_create"), denied());
        // The watcher may use the session meta API (answered from every shard), and only that.
        let count = meta(&mut watcher, "wamp.session.count", Payload::Empty).expect("watcher: count");
        assert!(matches!(count.0.as_slice(), [Value::UInt(n)] if *n >= 3), "{count:?}");
        let got = meta(&mut watcher, "wamp.session.get", writer_id).expect("watcher: get of a session elsewhere");
        let Some(Value::Dict(d)) = got.0.first() else { panic!("get answers [details], got {got:?}") };
        assert_eq!((d.get_str("authid"), d.get_str("authrole")), (Some("writer"), Some("writer")));
        assert_eq!(try_call(&mut watcher, "wamp.registration.list", Payload::Empty), denied());
        assert_eq!(try_call(&mut watcher, "wamp.subscription.lookup", pos(vec![Value::from("a.b")])), denied());
        assert_eq!(try_subscribe(&mut watcher, "wamp.registration.on_create"), denied());
        assert_eq!(try_publish(&mut watcher, "com.auth.public.w"), denied());
        // The writer's prefix "" covers the meta API too.
        assert_eq!(try_call(&mut writer, "wamp.registration.list", Payload::Empty), None);
        // The watcher's on_join subscription sees a session that joins on another shard.
        let on_join = watcher.subscribe("wamp.session.on_join", Dict::new());
        let (joiner, _) = login(r, On::Last, kind, ser, SECURE, "reader");
        loop {
            let e = watcher.event();
            assert_eq!(e.subscription, on_join);
            if let [Value::Dict(d), ..] = values(&e.payload).0.as_slice() {
                if d.get("session").and_then(Value::as_u64) == Some(joiner.session.get()) {
                    assert_eq!(d.get_str("authrole"), Some("reader"));
                    break;
                }
            }
        }
    });
}

/// A testament is a publish made when the session leaves; a role that may not publish to a topic
/// must not reach its subscribers through `wamp.session.add_testament` either: the router refuses
/// it with `not_authorized` and checks again when the session leaves.
#[test]
fn a_testament_does_not_publish_where_the_role_may_not() {
    auth_matrix(|r, kind, ser| {
        let topic = format!("com.auth.private.{}.testament", cell(kind, ser, r.shards));
        let (mut writer, _) = login(r, On::First, kind, ser, SECURE, "writer");
        let subs = [writer.subscribe(&topic, Dict::new()), writer.subscribe("wamp.session.on_leave", Dict::new())];
        let (mut watcher, _) = login(r, On::Last, kind, ser, SECURE, "watcher");
        assert_eq!(try_publish(&mut watcher, &topic), denied(), "the watcher may not publish there");
        let added = meta(&mut watcher, "wamp.session.add_testament", pos(vec![Value::from(topic.as_str())]));
        assert!(format!("{added:?}").contains("not_authorized"), "add_testament refused: {added:?}");
        let gone = watcher.session.get();
        watcher.goodbye();
        // The watcher's testaments come from its shard before its on_leave.
        loop {
            let (i, e) = event_among(&mut writer, &subs);
            assert_eq!(i, 1, "the testament of a role that may not publish to {topic} was published (add_testament answered {added:?})");
            if values(&e.payload).0.first().and_then(Value::as_u64) == Some(gone) {
                break;
            }
        }
    });
}
