#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::config::{
    wampcra_key, AnonymousAuth, CryptosignAuth, CryptosignPrincipal, Salting, Secret, TicketAuth, WampcraAuth,
};

/// What the router passes for a login: session 7, fixed random bytes and time.
fn login() -> Login<fn() -> Fresh> {
    Login {
        session: Id::new(7).unwrap(),
        fresh: || Fresh { random: [9; 32], timestamp: "2026-12-01T00:00:00Z".into() },
    }
}

/// A signing key from a fixed seed, and its public key as configured.
fn signer(seed: u8) -> (ed25519_dalek::SigningKey, [u8; 32]) {
    let k = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let public = k.verifying_key().to_bytes();
    (k, public)
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
        anonymous: anonymous.then(|| AnonymousAuth { role: "guest".into(), keep_authid: false }),
        ticket: Some(TicketAuth { principals: vec![joe, ann] }),
        wampcra: Some(WampcraAuth { principals: vec![cra("plain", None), cra("salted", Some(salt))] }),
        cryptosign: Some(CryptosignAuth {
            principals: vec![CryptosignPrincipal {
                authid: "device".into(),
                keys: vec![signer(1).1, signer(2).1],
                role: "device".into(),
                realm: None,
            }],
        }),
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
fn an_anonymous_session_keeps_its_authid_only_where_the_listener_says_so() {
    let d = hello_details(&["anonymous"], Some("writer"));
    let Step::Welcome(p) = hello(&listener(true), "realm1", &d) else { panic!() };
    assert_eq!(p.authid, None, "no claiming an identity a login could prove");
    let Step::Welcome(p) = hello(&ListenerAuth::default(), "realm1", &d) else { panic!() };
    assert_eq!(p.authid.as_deref(), Some("writer"), "the embedded default keeps it");
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

fn cryptosign_hello(authid: Option<&str>, pubkey: &[u8; 32]) -> Dict {
    hello_details(&["cryptosign"], authid).with("authextra", Dict::new().with("pubkey", hex::encode(pubkey)))
}

#[test]
fn a_cryptosign_login_is_proved_by_a_signature_of_the_challenge() {
    use ed25519_dalek::Signer;
    for (authid, seed) in [(Some("device"), 1), (None, 2)] {
        let (key, public) = signer(seed);
        let d = cryptosign_hello(authid, &public);
        let Step::Challenge { method, extra, pending } = hello(&listener(false), "realm1", &d) else { panic!() };
        assert_eq!(method, CRYPTOSIGN);
        let challenge = hex::decode(extra.get_str("challenge").unwrap()).unwrap();
        assert_eq!(challenge, vec![9u8; 32], "the router's random bytes");
        let sig = key.sign(&challenge).to_bytes();
        let with_challenge = format!("{}{}", hex::encode(sig), hex::encode(&challenge));
        for signature in [hex::encode(sig), with_challenge] {
            let p = authenticate(&pending, &signature).unwrap();
            assert_eq!(
                (p.authid.as_deref(), p.authrole.as_str(), p.authmethod),
                (Some("device"), "device", CRYPTOSIGN)
            );
        }
        let other = signer(3).0.sign(&challenge).to_bytes();
        assert_eq!(authenticate(&pending, &hex::encode(other)).unwrap_err().error, ErrorUri::NotAuthorized);
        let wrong_tail = format!("{}{}", hex::encode(sig), hex::encode([0u8; 32]));
        assert!(authenticate(&pending, &wrong_tail).is_err(), "the appended challenge must be the one sent");
        assert!(authenticate(&pending, "zz").is_err());
    }
}

#[test]
fn an_unknown_key_still_gets_a_challenge_and_fails_and_a_missing_key_is_refused() {
    use ed25519_dalek::Signer;
    let (key, public) = signer(4);
    let Step::Challenge { extra, pending, .. } = hello(&listener(false), "realm1", &cryptosign_hello(None, &public))
    else {
        panic!()
    };
    let challenge = hex::decode(extra.get_str("challenge").unwrap()).unwrap();
    assert!(authenticate(&pending, &hex::encode(key.sign(&challenge).to_bytes())).is_err());
    let (_, public1) = signer(1);
    let wrong_authid = cryptosign_hello(Some("someone"), &public1);
    let Step::Challenge { pending, .. } = hello(&listener(false), "realm1", &wrong_authid) else { panic!() };
    let sig = signer(1).0.sign(&challenge).to_bytes();
    assert!(authenticate(&pending, &hex::encode(sig)).is_err(), "the key belongs to another authid");
    let Step::Refuse(r) = hello(&listener(false), "realm1", &hello_details(&["cryptosign"], None)) else { panic!() };
    assert_eq!(r.error, ErrorUri::NoAuthMethod, "no public key: cryptosign cannot be used");
}
