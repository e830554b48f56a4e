#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::config::{wampcra_key, AnonymousAuth, Salting, Secret, TicketAuth, WampcraAuth};

/// What the router passes for a login: session 7, a fixed nonce and time.
fn login() -> Login<fn() -> (String, String)> {
    Login { session: Id::new(7).unwrap(), fresh: || ("nonce".to_owned(), "2026-12-01T00:00:00Z".to_owned()) }
}

fn hello(listener: &ListenerAuth, realm: &str, details: &Dict) -> Step {
    super::hello(listener, realm, details, login())
}

fn listener(anonymous: bool) -> ListenerAuth {
    let joe = TicketPrincipal { authid: "joe".into(), ticket: Secret::new("s3cret"), role: "user".into(), realm: None };
    let ann = TicketPrincipal {
        authid: "ann".into(),
        ticket: Secret::new("t1"),
        role: "admin".into(),
        realm: Some("other".into()),
    };
    let salt = Salting { salt: "salt123".into(), iterations: 1000, keylen: 32 };
    let cra = |authid: &str, salt: Option<Salting>| WampcraPrincipal {
        authid: authid.into(),
        key: wampcra_key("secret2", salt.as_ref()),
        salt,
        role: "user".into(),
        realm: None,
    };
    ListenerAuth {
        anonymous: anonymous.then(|| AnonymousAuth { role: "guest".into() }),
        ticket: Some(TicketAuth { principals: vec![joe, ann] }),
        wampcra: Some(WampcraAuth { principals: vec![cra("plain", None), cra("salted", Some(salt))] }),
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
    let d = hello_details(&["cryptosign", "wamp-scram"], Some("joe"));
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

#[test]
fn salted_keys_and_signatures_match_an_independent_implementation() {
    // Python's hashlib and hmac: pbkdf2_hmac("sha256", b"secret2", b"salt123", 1000, 32), base64;
    // then base64(HMAC-SHA256(key, challenge)).
    let salt = Salting { salt: "salt123".into(), iterations: 1000, keylen: 32 };
    assert!(wampcra_key("secret2", Some(&salt)).matches("nythvFZ7EuM5sPCQrrgnz1oJiZXUNcZZFlDIdGSiNUs="));
    let challenge = r#"{"authid":"joe"}"#;
    assert_eq!(wampcra::sign(b"secret2", challenge), "L1Y7fq65IkPY2znSe3cO/fslPZZbz7IZo82K4pQ7EoQ=");
    let key = "nythvFZ7EuM5sPCQrrgnz1oJiZXUNcZZFlDIdGSiNUs=";
    assert_eq!(wampcra::sign(key.as_bytes(), challenge), "KSyn8vAck8FIkPfhSHsR7Nn5d9ILUWPz09MuPurRXmQ=");
}

#[test]
fn a_wampcra_login_signs_the_challenge_it_was_sent() {
    for (authid, salted) in [("plain", false), ("salted", true)] {
        let d = hello_details(&["wampcra"], Some(authid));
        let Step::Challenge { method, extra, pending } = hello(&listener(false), "realm1", &d) else { panic!() };
        assert_eq!(method, WAMPCRA);
        let challenge = extra.get_str("challenge").unwrap().to_owned();
        let fields: serde_json::Value = serde_json::from_str(&challenge).unwrap();
        assert_eq!((fields["authid"].as_str(), fields["session"].as_u64()), (Some(authid), Some(7)));
        assert_eq!(extra.get_str("salt").is_some(), salted, "{authid}");
        let key = match extra.get_str("salt") {
            Some(salt) => {
                let iterations = extra.get("iterations").and_then(Value::as_u64).unwrap() as u32;
                let keylen = extra.get("keylen").and_then(Value::as_u64).unwrap() as u32;
                let s = Salting { salt: salt.into(), iterations, keylen };
                let derived = wampcra_key("secret2", Some(&s));
                assert_eq!(format!("{derived:?}"), "Secret(***)", "a derived key is not shown either");
                derived
            }
            None => Secret::new("secret2"),
        };
        let good = wampcra::sign(key.expose(), &challenge);
        assert_eq!(authenticate(&pending, &good).unwrap().authid.as_deref(), Some(authid));
        let bad = wampcra::sign(b"wrong", &challenge);
        assert_eq!(authenticate(&pending, &bad).unwrap_err().error, ErrorUri::NotAuthorized);
    }
    let d = hello_details(&["wampcra"], Some("nobody"));
    let Step::Challenge { pending, .. } = hello(&listener(false), "realm1", &d) else { panic!() };
    assert!(authenticate(&pending, "anything").is_err());
}
