#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::config::{AnonymousAuth, Secret, TicketAuth};

fn listener(anonymous: bool) -> ListenerAuth {
    let joe = TicketPrincipal { authid: "joe".into(), ticket: Secret::new("s3cret"), role: "user".into(), realm: None };
    let ann = TicketPrincipal {
        authid: "ann".into(),
        ticket: Secret::new("t1"),
        role: "admin".into(),
        realm: Some("other".into()),
    };
    ListenerAuth {
        anonymous: anonymous.then(|| AnonymousAuth { role: "guest".into() }),
        ticket: Some(TicketAuth { principals: vec![joe, ann] }),
    }
}

fn hello_details(methods: &[&str], authid: Option<&str>) -> Dict {
    let mut d = Dict::new().with("authmethods", Value::List(methods.iter().map(|m| Value::from(*m)).collect()));
    if let Some(a) = authid {
        d.insert("authid", a);
    }
    d
}

#[test]
fn without_authmethods_a_hello_is_anonymous_if_the_listener_allows_it() {
    let Step::Welcome(p) = hello(&listener(true), "realm1", &Dict::new()) else { panic!() };
    assert_eq!((p.authrole.as_str(), p.authmethod, p.authid), ("guest", ANONYMOUS, None));
    let Step::Refuse(r) = hello(&listener(false), "realm1", &Dict::new()) else { panic!() };
    assert_eq!(r.error, ErrorUri::NoAuthMethod);
}

#[test]
fn the_first_offered_method_the_listener_accepts_is_used() {
    let d = hello_details(&["cryptosign", "ticket", "anonymous"], Some("joe"));
    let Step::Challenge { method, pending, .. } = hello(&listener(true), "realm1", &d) else { panic!() };
    assert_eq!(method, TICKET);
    let p = authenticate(&pending, "s3cret").unwrap();
    assert_eq!((p.authid.as_deref(), p.authrole.as_str(), p.authmethod), (Some("joe"), "user", TICKET));
    let d = hello_details(&["cryptosign", "wampcra"], Some("joe"));
    let Step::Refuse(r) = hello(&listener(true), "realm1", &d) else { panic!() };
    assert_eq!(r.error, ErrorUri::NoAuthMethod);
}

#[test]
fn a_wrong_ticket_an_unknown_authid_and_a_foreign_realm_fail_alike() {
    for (authid, realm, ticket) in [("joe", "realm1", "nope"), ("nobody", "realm1", "s3cret"), ("ann", "realm1", "t1")]
    {
        let d = hello_details(&["ticket"], Some(authid));
        let Step::Challenge { pending, .. } = hello(&listener(false), realm, &d) else { panic!("{authid}") };
        let r = authenticate(&pending, ticket).unwrap_err();
        assert_eq!(r.error, ErrorUri::NotAuthorized, "{authid}");
        assert!(!r.message.contains(ticket) && !format!("{pending:?}").contains("s3cret"), "no secret shown");
    }
    let d = hello_details(&["ticket"], Some("ann"));
    let Step::Challenge { pending, .. } = hello(&listener(false), "other", &d) else { panic!() };
    assert_eq!(authenticate(&pending, "t1").unwrap().authrole, "admin");
}

#[test]
fn a_ticket_login_without_authid_is_refused() {
    let Step::Refuse(r) = hello(&listener(false), "realm1", &hello_details(&["ticket"], None)) else { panic!() };
    assert_eq!(r.error, ErrorUri::NotAuthorized);
}
