#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn decode(procedure: &str, args: Vec<Value>) -> Option<Result<MetaCall, BadCall>> {
    MetaCall::decode(procedure, &args, None, UriCheck::Loose)
}

fn names(v: &[&str]) -> Value {
    Value::List(v.iter().map(|x| Value::from(*x)).collect())
}

#[test]
fn unknown_procedures_are_not_meta_calls() {
    assert!(decode("wamp.session.nope", vec![]).is_none());
    assert!(decode("wamp.reflection.topic.list", vec![]).is_none());
}

#[test]
fn session_procedures_take_positional_or_keyword_arguments() {
    assert_eq!(decode("wamp.session.count", vec![]).unwrap(), Ok(MetaCall::SessionCount(None)));
    let roles = Some(vec!["user".to_owned()]);
    assert_eq!(decode("wamp.session.list", vec![names(&["user"])]).unwrap(), Ok(MetaCall::SessionList(roles)));
    let kwargs = Dict::new().with("session", 42u64);
    let by_name = MetaCall::decode("wamp.session.get", &[], Some(&kwargs), UriCheck::Loose).unwrap();
    assert_eq!(by_name, Ok(MetaCall::SessionGet(Id::new(42).unwrap())));
}

#[test]
fn kill_defaults_to_the_killed_reason_and_checks_the_reason_uri() {
    let Ok(MetaCall::Kill(k)) = decode("wamp.session.kill", vec![Value::UInt(7)]).unwrap() else { panic!() };
    assert_eq!((k.reason.as_str(), k.message), ("wamp.close.killed", None));
    let kwargs = Dict::new().with("reason", "com.app.bye").with("message", "go");
    let Ok(MetaCall::Kill(k)) = MetaCall::decode("wamp.session.kill_all", &[], Some(&kwargs), UriCheck::Loose).unwrap()
    else {
        panic!()
    };
    assert_eq!((k.target, k.reason.as_str(), k.message.as_deref()), (KillTarget::All, "com.app.bye", Some("go")));
    let bad = Dict::new().with("reason", "not a uri");
    let e = MetaCall::decode("wamp.session.kill_all", &[], Some(&bad), UriCheck::Loose).unwrap().unwrap_err();
    assert_eq!(e.error, ErrorUri::InvalidArgument);
}

#[test]
fn wrong_argument_types_are_invalid_arguments_naming_the_argument() {
    for (procedure, args, name) in [
        ("wamp.session.get", vec![Value::from("1")], "session"),
        ("wamp.session.get", vec![], "session"),
        ("wamp.session.get", vec![Value::UInt(0)], "session"),
        ("wamp.session.count", vec![Value::from("user")], "filter_authroles"),
        ("wamp.session.kill_by_authid", vec![Value::UInt(1)], "authid"),
        ("wamp.registration.lookup", vec![Value::UInt(1)], "procedure"),
    ] {
        let e = decode(procedure, args).unwrap().unwrap_err();
        assert_eq!(e.error, ErrorUri::InvalidArgument, "{procedure}");
        assert!(e.message.contains(name), "{procedure}: {}", e.message);
    }
}

#[test]
fn a_testament_needs_a_topic_a_client_may_publish_to() {
    for topic in ["wamp.session.on_leave", "com..x", ""] {
        let e = decode("wamp.session.add_testament", vec![Value::from(topic), Value::List(vec![])]).unwrap();
        assert_eq!(e.unwrap_err().error, ErrorUri::InvalidUri, "{topic:?}");
    }
    let args = vec![Value::from("com.dev.gone"), Value::List(vec![Value::UInt(1)]), Value::Dict(Dict::new())];
    let kwargs = Dict::new().with("scope", "detached").with("publish_options", Dict::new().with("retain", true));
    let Ok(MetaCall::AddTestament(t)) =
        MetaCall::decode("wamp.session.add_testament", &args, Some(&kwargs), UriCheck::Loose).unwrap()
    else {
        panic!()
    };
    assert_eq!((t.topic.as_str(), t.scope, t.options.retain), ("com.dev.gone", TestamentScope::Detached, true));
    let bad_scope = Dict::new().with("scope", "forever");
    let e = MetaCall::decode("wamp.session.add_testament", &args, Some(&bad_scope), UriCheck::Loose).unwrap();
    assert_eq!(e.unwrap_err().error, ErrorUri::InvalidArgument);
}

#[test]
fn session_details_carry_what_crossbar_sends() {
    let f = SessionFacts {
        session: Id::new(5).unwrap(),
        authid: "alice",
        authrole: "user",
        authmethod: "anonymous",
        authprovider: "static",
        transport: "websocket",
        serializer: Serializer::Json,
        peer: "tcp4:127.0.0.1:5000",
    };
    let d = f.details();
    for key in ["session", "authid", "authrole", "authmethod", "authprovider", "authextra", "serializer", "transport"] {
        assert!(d.get(key).is_some(), "{key} missing");
    }
    assert_eq!(f.leave_args(), vec![Value::UInt(5), Value::from("alice"), Value::from("user")]);
    assert!(f.in_roles(None) && f.in_roles(Some(&["user".to_owned()])) && !f.in_roles(Some(&[])));
}
