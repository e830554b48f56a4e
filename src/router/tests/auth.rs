//! Authentication and authorization in the simulator: anonymous and ticket logins through a
//! listener's methods, and the realm `secure`'s roles (see `sim.rs`) deciding each action.

use std::sync::Arc;
use std::time::Duration;

use super::sim::*;
use crate::auth::wampcra;
use crate::codec::{Payload, Serializer};
use crate::config::{
    wampcra_key, AnonymousAuth, ListenerAuth, Salting, Secret, TicketAuth, TicketPrincipal, WampcraAuth,
    WampcraPrincipal,
};
use crate::router::Violation;
use crate::wamp::message as m;
use crate::wamp::{Dict, Message, Value};

/// Anonymous logins as `reader`; ticket principals `w` (writer), `v` (watcher), `x` (a role the
/// realm `secure` does not have) and `only2` (may join only `strict`).
fn listener(anonymous: bool) -> Arc<ListenerAuth> {
    let p = |authid: &str, ticket: &str, role: &str, realm: Option<&str>| TicketPrincipal {
        authid: authid.into(),
        ticket: Secret::new(ticket),
        role: role.into(),
        realm: realm.map(Into::into),
    };
    Arc::new(ListenerAuth {
        anonymous: anonymous.then(|| AnonymousAuth { role: "reader".into(), keep_authid: false }),
        ticket: Some(TicketAuth {
            principals: vec![
                p("w", "wt", "writer", None),
                p("v", "vt", "watcher", None),
                p("x", "xt", "ghost", None),
                p("only2", "ot", "writer", Some("strict")),
            ],
        }),
        wampcra: Some(WampcraAuth {
            principals: vec![WampcraPrincipal {
                authid: "cra".into(),
                key: wampcra_key("cs", Some(&Salting { salt: "pepper".into(), iterations: 10, keylen: 32 })),
                salt: Some(Salting { salt: "pepper".into(), iterations: 10, keylen: 32 }),
                role: "writer".into(),
                realm: None,
            }],
        }),
        cryptosign: None,
    })
}

fn hello(realm: &str, methods: &[&str], authid: Option<&str>) -> Message {
    let Message::Hello(mut h) = super::sim::hello(realm) else { unreachable!("hello() builds a HELLO") };
    if !methods.is_empty() {
        h.details.insert("authmethods", Value::List(methods.iter().map(|x| Value::from(*x)).collect()));
    }
    if let Some(a) = authid {
        h.details.insert("authid", a);
    }
    Message::Hello(h)
}

fn authenticate(ticket: &str) -> Message {
    Message::Authenticate(m::Authenticate { signature: ticket.into(), extra: Dict::new() })
}

fn abort_reason(c: &Client) -> String {
    match one(c) {
        Message::Abort(a) => {
            assert!(c.outbox.is_closing(), "ABORT closes the connection");
            a.reason
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
}

/// Logs in with a ticket and returns the client, WELCOME checked.
fn ticket_login(sim: &mut Sim, shard: usize, ser: Serializer, authid: &str, ticket: &str) -> (Client, m::Welcome) {
    let mut c = sim.connect_on(shard, ser, listener(false));
    sim.send(&c, hello("secure", &["ticket"], Some(authid)));
    match one(&c) {
        Message::Challenge(ch) => assert_eq!(ch.method, "ticket"),
        other => panic!("expected CHALLENGE, got {other:?}"),
    }
    sim.send(&c, authenticate(ticket));
    match one(&c) {
        Message::Welcome(w) => {
            c.session = w.session;
            (c, w)
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

#[test]
fn a_ticket_login_gets_a_challenge_then_welcome_naming_the_principal() {
    matrix(|sim, ser| {
        let (_, w) = ticket_login(sim, last(sim), ser, "w", "wt");
        let d = &w.details;
        let got = (d.get_str("authid"), d.get_str("authrole"), d.get_str("authmethod"), d.get_str("authprovider"));
        assert_eq!(got, (Some("w"), Some("writer"), Some("ticket"), Some("static")));
    });
}

#[test]
fn a_salted_wampcra_login_challenges_with_the_salt_and_welcomes_the_signer() {
    matrix(|sim, ser| {
        let c = sim.connect_on(last(sim), ser, listener(false));
        sim.send(&c, hello("secure", &["wampcra"], Some("cra")));
        let Message::Challenge(ch) = one(&c) else { panic!("expected CHALLENGE") };
        assert_eq!((ch.method.as_str(), ch.extra.get_str("salt")), ("wampcra", Some("pepper")));
        let challenge = ch.extra.get_str("challenge").unwrap().to_owned();
        let salting = Salting { salt: "pepper".into(), iterations: 10, keylen: 32 };
        let key = wampcra_key("cs", Some(&salting));
        sim.send(&c, authenticate(&wampcra::sign(key.expose(), &challenge)));
        let Message::Welcome(w) = one(&c) else { panic!("expected WELCOME") };
        let session: serde_json::Value = serde_json::from_str(&challenge).unwrap();
        assert_eq!(session["session"].as_u64(), Some(w.session.get()), "the challenge named the session id");
        assert_eq!((w.details.get_str("authid"), w.details.get_str("authmethod")), (Some("cra"), Some("wampcra")));
    });
}

#[test]
fn an_anonymous_login_gets_the_listeners_role() {
    matrix(|sim, ser| {
        let c = sim.connect_on(0, ser, listener(true));
        sim.send(&c, hello("secure", &[], None));
        let Message::Welcome(w) = one(&c) else { panic!("expected WELCOME") };
        assert_eq!(
            (w.details.get_str("authrole"), w.details.get_str("authmethod")),
            (Some("reader"), Some("anonymous"))
        );
    });
}

#[test]
fn wrong_tickets_unknown_authids_and_foreign_realms_are_not_authorized() {
    matrix(|sim, ser| {
        for (authid, ticket) in [("w", "nope"), ("nobody", "wt"), ("only2", "ot")] {
            let c = sim.connect_on(0, ser, listener(false));
            sim.send(&c, hello("secure", &["ticket"], Some(authid)));
            assert!(matches!(one(&c), Message::Challenge(_)), "a challenge whatever the authid");
            sim.send(&c, authenticate(ticket));
            assert_eq!(abort_reason(&c), "wamp.error.not_authorized", "{authid}");
        }
    });
}

#[test]
fn no_acceptable_method_and_an_unknown_role_are_refused_with_their_errors() {
    matrix(|sim, ser| {
        let c = sim.connect_on(0, ser, listener(false));
        sim.send(&c, hello("secure", &[], None));
        assert_eq!(abort_reason(&c), "wamp.error.no_auth_method");
        let c = sim.connect_on(0, ser, listener(false));
        sim.send(&c, hello("secure", &["cryptosign", "wamp-scram"], Some("w")));
        assert_eq!(abort_reason(&c), "wamp.error.no_auth_method");
        let c = sim.connect_on(0, ser, listener(false));
        sim.send(&c, hello("secure", &["ticket"], Some("x")));
        let _ = one(&c);
        sim.send(&c, authenticate("xt"));
        assert_eq!(abort_reason(&c), "wamp.error.no_such_role");
        let anonymous_elsewhere = sim.connect_on(0, ser, listener(true));
        sim.send(&anonymous_elsewhere, hello("realm1", &[], None));
        assert!(matches!(one(&anonymous_elsewhere), Message::Welcome(_)), "an open realm takes any role");
    });
}

#[test]
fn anything_but_authenticate_after_a_challenge_is_a_protocol_violation() {
    matrix(|sim, ser| {
        let c = sim.connect_on(0, ser, listener(false));
        sim.send(&c, hello("secure", &["ticket"], Some("w")));
        let _ = one(&c);
        sim.send(&c, hello("secure", &["ticket"], Some("w")));
        assert_eq!(abort_reason(&c), "wamp.error.protocol_violation");
        assert_eq!(sim.routers[0].stats().violations.of(&Violation::BeforeWelcome("HELLO")), 1);
    });
}

#[test]
fn the_handshake_deadline_covers_the_challenge() {
    let mut sim = Sim::new(1, 1);
    let c = sim.connect_on(0, Serializer::Json, listener(false));
    sim.send(&c, hello("secure", &["ticket"], Some("w")));
    let _ = one(&c);
    sim.advance(Duration::from_secs(60));
    assert!(c.outbox.is_closing(), "no AUTHENTICATE in time: closed");
    assert_eq!(sim.routers[0].stats().hello_timeouts, 1);
    sim.finish();
}

/// Sends `msg` and returns the ERROR's URI, or `None` if the router answered otherwise.
fn refused(sim: &mut Sim, c: &Client, msg: Message) -> Option<String> {
    sim.send(c, msg);
    match recv(c).into_iter().next() {
        Some(Message::Error(e)) => Some(e.error),
        _ => None,
    }
}

#[test]
fn a_role_may_do_only_what_its_permissions_allow() {
    matrix(|sim, ser| {
        let mut reader = sim.connect_on(last(sim), ser, listener(true));
        sim.send(&reader, hello("secure", &[], None));
        let _ = one(&reader);
        let denied = Some("wamp.error.not_authorized".to_owned());
        let mut next = || Sim::request(&mut reader);
        let sub = |request, topic: &str| {
            Message::Subscribe(m::Subscribe { request, options: Dict::new(), topic: topic.into() })
        };
        let (r1, r2, r3, r4, r5, r6) = (next(), next(), next(), next(), next(), next());
        assert_eq!(refused(sim, &reader, sub(r1, "com.public.news")), None);
        assert_eq!(refused(sim, &reader, sub(r2, "com.private.news")), denied);
        let publish = m::Publish {
            request: r3,
            options: Dict::new().with("acknowledge", true),
            topic: "com.public.news".into(),
            payload: Payload::Empty,
        };
        assert_eq!(refused(sim, &reader, Message::Publish(publish)), denied);
        let register = m::Register { request: r4, options: Dict::new(), procedure: "com.public.f".into() };
        assert_eq!(refused(sim, &reader, Message::Register(register)), denied);
        let call = |request, procedure: &str| {
            Message::Call(m::Call {
                request,
                options: Dict::new(),
                procedure: procedure.into(),
                payload: Payload::Empty,
            })
        };
        assert_eq!(refused(sim, &reader, call(r5, "com.public.f")), Some("wamp.error.no_such_procedure".into()));
        assert_eq!(refused(sim, &reader, call(r6, "wamp.session.count")), denied, "the meta API obeys the roles");
        let (mut watcher, _) = ticket_login(sim, 0, ser, "v", "vt");
        assert_eq!(answer(sim, &mut watcher, "wamp.session.count", vec![]), Ok(Value::UInt(2)));
        let (mut writer, _) = ticket_login(sim, 0, ser, "w", "wt");
        sim.register(&mut writer, "com.private.f", "exact").unwrap();
        let request = Sim::request(&mut writer);
        let publish = m::Publish {
            request,
            options: Dict::new().with("acknowledge", true),
            topic: "com.public.news".into(),
            payload: Payload::Empty,
        };
        sim.send(&writer, Message::Publish(publish));
        assert!(matches!(one(&writer), Message::Published(_)));
        let got = events(&reader);
        assert_eq!(got.len(), 1, "the reader's permitted subscription works");
    });
}

/// The simulator's realms with `secure` given `roles` instead (same realms, same order).
fn realms_with(roles: Vec<crate::config::RoleConfig>) -> crate::realm::Realms {
    use crate::config::RealmConfig;
    crate::realm::Realms::new(vec![
        RealmConfig { name: "realm1".into(), ..RealmConfig::default() },
        RealmConfig { name: "strict".into(), ..RealmConfig::default() },
        RealmConfig { name: "secure".into(), roles, ..RealmConfig::default() },
    ])
}

#[test]
fn reloaded_roles_apply_to_the_next_action_of_sessions_already_joined() {
    use crate::config::{Action, Actions, Permission, RoleConfig};
    matrix(|sim, ser| {
        let mut reader = sim.connect_on(last(sim), ser, listener(true));
        sim.send(&reader, hello("secure", &[], None));
        let _ = one(&reader);
        let publish = |sim: &mut Sim, reader: &mut Client| {
            let request = Sim::request(reader);
            let options = Dict::new().with("acknowledge", true);
            let p = m::Publish { request, options, topic: "com.public.news".into(), payload: Payload::Empty };
            refused(sim, reader, Message::Publish(p))
        };
        assert_eq!(publish(sim, &mut reader), Some("wamp.error.not_authorized".into()));
        let may_publish = Permission {
            uri: "com.public.".into(),
            policy: crate::wamp::MatchPolicy::Prefix,
            allow: Actions::default().with(Action::Publish),
        };
        let widened = realms_with(vec![RoleConfig { name: "reader".into(), permissions: vec![may_publish] }]);
        for r in sim.routers.iter_mut() {
            r.reload_roles(&widened);
        }
        assert_eq!(publish(sim, &mut reader), None, "allowed after the reload, same session");
        let without_reader = realms_with(vec![RoleConfig { name: "other".into(), permissions: Vec::new() }]);
        for r in sim.routers.iter_mut() {
            r.reload_roles(&without_reader);
        }
        assert_eq!(
            publish(sim, &mut reader),
            Some("wamp.error.not_authorized".into()),
            "a removed role may do nothing"
        );
        let open = realms_with(Vec::new());
        for r in sim.routers.iter_mut() {
            r.reload_roles(&open);
        }
        assert_eq!(publish(sim, &mut reader), None, "a realm without roles is open");
    });
}

#[test]
fn repeated_failures_from_one_address_get_their_abort_later_and_later() {
    let mut sim = Sim::new(2, 1);
    let free = crate::config::DEFAULT_LOGIN_FAILURES_FREE;
    let fail = |sim: &mut Sim| {
        let c = sim.connect_on(0, Serializer::Json, listener(false));
        sim.send(&c, hello("secure", &["ticket"], Some("w")));
        let _ = one(&c);
        sim.send(&c, authenticate("wrong"));
        c
    };
    for _ in 0..free {
        let c = fail(&mut sim);
        assert_eq!(abort_reason(&c), "wamp.error.not_authorized", "the free failures are answered at once");
    }
    let c = fail(&mut sim);
    assert!(recv(&c).is_empty() && !c.outbox.is_closing(), "held back");
    sim.send(&c, authenticate("wt"));
    assert!(recv(&c).is_empty(), "nothing is taken while held back");
    sim.advance(Duration::from_millis(249));
    assert!(recv(&c).is_empty());
    sim.advance(Duration::from_millis(1));
    assert_eq!(abort_reason(&c), "wamp.error.not_authorized");
    let stats = sim.routers[0].stats();
    assert_eq!((stats.login_failures, stats.logins_delayed), (u64::from(free) + 1, 1));
    let (_, w) = ticket_login(&mut sim, 0, Serializer::Json, "w", "wt");
    assert_eq!(w.details.get_str("authid"), Some("w"), "a right ticket is still welcome at once");
    sim.finish();
}

#[test]
fn a_pattern_subscription_delivers_only_the_topics_the_role_may_subscribe_to() {
    matrix(|sim, ser| {
        let mut reader = sim.connect_on(last(sim), ser, listener(true));
        sim.send(&reader, hello("secure", &[], None));
        let _ = one(&reader);
        sim.subscribe(&mut reader, "com.public.", "prefix");
        let (mut writer, _) = ticket_login(sim, 0, ser, "w", "wt");
        for topic in ["com.public.secret.news", "com.public.news"] {
            let request = Sim::request(&mut writer);
            let publish = m::Publish {
                request,
                options: Dict::new().with("acknowledge", true),
                topic: topic.into(),
                payload: Payload::Empty,
            };
            sim.send(&writer, Message::Publish(publish));
            assert!(matches!(one(&writer), Message::Published(_)));
        }
        let topics: Vec<String> =
            events(&reader).into_iter().map(|e| e.details.get_str("topic").unwrap_or_default().to_owned()).collect();
        assert_eq!(topics, ["com.public.news"], "the denied topic does not reach the prefix subscription");
    });
}
