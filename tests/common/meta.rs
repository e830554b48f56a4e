//! Helpers of the session meta API tests (`meta_api.rs`): routers with one realm per test and
//! matrix cell (so counts, lists and kills see only the cell's own sessions), joining with an
//! authid, calling the router's own procedures, and the victim's side of a kill.

use std::sync::OnceLock;

use wampyard::codec::{Payload, Serializer};
use wampyard::config::Config;
use wampyard::shard::{BoundAddr, Server};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Id, Message, Value};

use super::*;

pub const ON_JOIN: &str = "wamp.session.on_join";
pub const ON_LEAVE: &str = "wamp.session.on_leave";
pub const KILLED: &str = "wamp.close.killed";
pub const NO_SUCH_SESSION: &str = "wamp.error.no_such_session";
pub const INVALID_ARGUMENT: &str = "wamp.error.invalid_argument";

/// The tests of `meta_api.rs`; each gets one realm per router x transport x serializer.
pub const TESTS: [&str; 12] =
    ["welcome", "join", "leave", "count", "kill", "killbad", "authid", "killall", "testament", "flush", "limit", "bad"];

/// The realm of test `test` in one matrix cell.
pub fn realm(test: &str, kind: Kind, ser: Serializer) -> String {
    assert!(TESTS.contains(&test), "add {test} to common::meta::TESTS");
    format!("meta.{test}.{}.{}", format!("{kind:?}").to_lowercase(), ser.name())
}

fn start_meta(shards: usize) -> TestRouter {
    let mut toml = String::new();
    for test in TESTS {
        for kind in KINDS {
            for ser in Serializer::ALL {
                toml.push_str(&format!("\n[[realm]]\nname = \"{}\"\n", realm(test, kind, ser)));
            }
        }
    }
    start_with(shards, "meta", &format!("max_calls_per_session = {MAX_CALLS_PER_SESSION}\n"), &toml)
}

/// The meta tests' routers, one shard and two, started once per test binary.
pub fn meta_routers() -> [&'static TestRouter; 2] {
    static ONE: OnceLock<TestRouter> = OnceLock::new();
    static TWO: OnceLock<TestRouter> = OnceLock::new();
    [ONE.get_or_init(|| start_meta(1)), TWO.get_or_init(|| start_meta(2))]
}

/// Runs `f` for every router x transport x serializer, each cell on its own named thread (the
/// cells use realms of their own, so they cannot see each other).
pub fn meta_matrix(f: impl Fn(&TestRouter, Kind, Serializer) + Sync) {
    let f = &f;
    std::thread::scope(|s| {
        for r in meta_routers() {
            for kind in KINDS {
                for ser in Serializer::ALL {
                    let name = format!("{kind:?}-{}-{}shard", ser.name(), r.shards);
                    std::thread::Builder::new().name(name).spawn_scoped(s, move || f(r, kind, ser)).unwrap();
                }
            }
        }
    });
}

/// Joins `realm` on shard `on`, sending `authid` in HELLO.Details when given.
pub fn join_as(r: &TestRouter, on: On, kind: Kind, ser: Serializer, realm: &str, authid: Option<&str>) -> Client {
    join_welcome(r, on, kind, ser, realm, authid).0
}

/// [`join_as`], also returning `WELCOME.Details`.
pub fn join_welcome(
    r: &TestRouter,
    on: On,
    kind: Kind,
    ser: Serializer,
    realm: &str,
    authid: Option<&str>,
) -> (Client, Dict) {
    // As in `Client::join_realm`: only TCP pins a shard when there are several.
    let kind = if on != On::Any && kind == Kind::RawUnix && r.shards > 1 { Kind::RawTcp } else { kind };
    let mut c = Client::connect(r, on, kind, ser);
    let roles = ["publisher", "subscriber", "caller", "callee"]
        .into_iter()
        .fold(Dict::new(), |d, role| d.with(role, Dict::new()));
    let mut details = Dict::new().with("roles", roles);
    if let Some(authid) = authid {
        details.insert("authid", authid);
    }
    c.send(&Message::Hello(m::Hello { realm: realm.into(), details }));
    match c.recv() {
        Some(Message::Welcome(w)) => {
            c.session = w.session;
            c.authid = w.details.get_str("authid").unwrap_or_default().to_owned();
            (c, w.details)
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

/// What `transport.peer` of the client's session must read: its own socket address.
pub fn peer_of(c: &Client, r: &TestRouter) -> String {
    match &c.wire {
        Wire::Raw(Stream::Tcp(s)) => s.local_addr().unwrap().to_string(),
        Wire::Raw(Stream::Unix(_)) => format!("unix:{}", r.unix.display()),
        Wire::Ws(ws) => ws.get_ref().local_addr().unwrap().to_string(),
    }
}

/// `transport.type` of the client's session.
pub fn transport_of(c: &Client) -> &'static str {
    match &c.wire {
        Wire::Raw(_) => "rawsocket",
        Wire::Ws(_) => "websocket",
    }
}

/// Positional arguments as a payload.
pub fn pos(args: Vec<Value>) -> Payload {
    Payload::args(args)
}

/// Keyword arguments only.
pub fn kw(kwargs: Dict) -> Payload {
    Payload::Values { args: Vec::new(), kwargs: Some(kwargs) }
}

pub fn id(c: &Client) -> Value {
    Value::UInt(c.session.get())
}

pub fn ids(clients: &[&Client]) -> Vec<u64> {
    let mut v: Vec<u64> = clients.iter().map(|c| c.session.get()).collect();
    v.sort_unstable();
    v
}

/// Calls `procedure`; the caller's next message must answer it: the RESULT's (args, kwargs) or
/// the ERROR's URI.
pub fn meta(c: &mut Client, procedure: &str, payload: Payload) -> Result<(Vec<Value>, Option<Dict>), String> {
    let request = c.call(procedure, payload);
    match c.recv() {
        Some(Message::Result(res)) if res.request == request => Ok(values(&res.payload)),
        Some(Message::Error(e)) if e.request_type == codes::CALL && e.request == request => Err(e.error),
        other => panic!("expected the answer to {procedure}, got {other:?}"),
    }
}

/// A meta call that must succeed; its positional results.
pub fn meta_ok(c: &mut Client, procedure: &str, payload: Payload) -> Vec<Value> {
    match meta(c, procedure, payload) {
        Ok((args, kwargs)) => {
            assert_eq!(kwargs, None, "{procedure} answers with no kwargs");
            args
        }
        Err(e) => panic!("{procedure} failed: {e}"),
    }
}

/// A meta call that must fail; its error URI.
pub fn meta_err(c: &mut Client, procedure: &str, payload: Payload) -> String {
    match meta(c, procedure, payload) {
        Ok(ok) => panic!("{procedure} must fail, got {ok:?}"),
        Err(e) => e,
    }
}

/// `wamp.session.count(filter)`.
pub fn count(c: &mut Client, filter: Option<&[&str]>) -> u64 {
    let payload = match filter {
        None => Payload::Empty,
        Some(roles) => pos(vec![Value::List(roles.iter().map(|r| Value::from(*r)).collect())]),
    };
    match meta_ok(c, "wamp.session.count", payload).as_slice() {
        [Value::UInt(n)] => *n,
        other => panic!("count answers [n], got {other:?}"),
    }
}

/// `wamp.session.list(filter)`, sorted.
pub fn list(c: &mut Client, filter: Option<&[&str]>) -> Vec<u64> {
    let payload = match filter {
        None => Payload::Empty,
        Some(roles) => pos(vec![Value::List(roles.iter().map(|r| Value::from(*r)).collect())]),
    };
    sorted_ids(&meta_ok(c, "wamp.session.list", payload), "list")
}

/// `[[ids]]` as a sorted vector.
pub fn sorted_ids(answer: &[Value], what: &str) -> Vec<u64> {
    let [Value::List(l)] = answer else { panic!("{what} answers [[ids]], got {answer:?}") };
    let mut v: Vec<u64> = l.iter().map(|v| v.as_u64().unwrap_or_else(|| panic!("an id, got {v:?}"))).collect();
    v.sort_unstable();
    v
}

/// Adds a testament of `topic` with `args` and `kwargs` in `scope` (`None`: the default), the
/// scope given by keyword; it must be accepted with an empty RESULT.
pub fn add_testament(c: &mut Client, topic: &str, args: Vec<Value>, kwargs: Dict, scope: Option<&str>) {
    let mut named = Dict::new();
    if let Some(scope) = scope {
        named.insert("scope", scope);
    }
    let payload =
        Payload::Values { args: vec![Value::from(topic), Value::List(args), Value::Dict(kwargs)], kwargs: Some(named) };
    assert_eq!(meta_ok(c, "wamp.session.add_testament", payload), Vec::<Value>::new());
}

/// Subscribes to `topic` and returns the subscription id.
pub fn watch(c: &mut Client, topic: &str) -> Id {
    c.subscribe(topic, Dict::new())
}

/// The next message is an EVENT of `subscription`.
pub fn event_of(c: &mut Client, subscription: Id) -> m::Event {
    let e = c.event();
    assert_eq!(e.subscription, subscription, "an event of another subscription: {e:?}");
    e
}

/// The next message is an EVENT of `subscription`; its positional arguments.
pub fn event_args(c: &mut Client, subscription: Id) -> Vec<Value> {
    values(&event_of(c, subscription).payload).0
}

/// The session details of `wamp.session.get` and `on_join` describe `c`, joined as `authid`.
pub fn assert_details(d: &Dict, c: &Client, r: &TestRouter, authid: &str) {
    let mut keys: Vec<&str> = d.iter().map(|(k, _)| k).collect();
    keys.sort_unstable();
    let expected =
        ["authextra", "authid", "authmethod", "authprovider", "authrole", "serializer", "session", "transport"];
    assert_eq!(keys, expected, "details keys: {d:?}");
    assert_eq!(d.get("session"), Some(&id(c)));
    assert_eq!(d.get_str("authid"), Some(authid));
    assert_eq!(d.get_str("authrole"), Some("anonymous"));
    assert_eq!(d.get_str("authmethod"), Some("anonymous"));
    assert_eq!(d.get_str("authprovider"), Some("static"));
    assert_eq!(d.get("authextra"), Some(&Value::Dict(Dict::new())));
    assert_eq!(d.get_str("serializer"), Some(c.ser.name()));
    let transport = d.get("transport").and_then(Value::as_dict).expect("transport is a dict");
    assert_eq!(transport.get_str("type"), Some(transport_of(c)), "{transport:?}");
    assert_eq!(transport.get_str("peer"), Some(peer_of(c, r).as_str()), "{transport:?}");
}

/// The next message is `wamp.session.on_leave` for `who`: `[session, authid, authrole]`.
pub fn left(c: &mut Client, on_leave: Id, who: (u64, &str)) {
    let args = event_args(c, on_leave);
    assert_eq!(args, vec![Value::UInt(who.0), Value::from(who.1), Value::from("anonymous")], "on_leave arguments");
}

/// The victim of a kill: GOODBYE with `reason` and (if given) `details.message`, then its
/// connection closes.
pub fn killed(c: &mut Client, reason: &str, message: Option<&str>) {
    match c.recv() {
        Some(Message::Goodbye(g)) => {
            assert_eq!(g.reason, reason);
            assert_eq!(g.details.get_str("message"), message, "GOODBYE details: {:?}", g.details);
        }
        other => panic!("expected GOODBYE {reason}, got {other:?}"),
    }
    assert!(c.closes(), "the victim's connection must close after its GOODBYE");
}

/// `[GOODBYE, {"message": message}, reason]` written by hand in `ser` (short strings only).
pub fn goodbye_wire(ser: Serializer, message: &str, reason: &str) -> Vec<u8> {
    assert!(message.len() < 24 && reason.len() < 24, "hand-written encodings of short strings only");
    let (array, map, text) = match ser {
        Serializer::Json => return format!(r#"[6,{{"message":"{message}"}},"{reason}"]"#).into_bytes(),
        Serializer::MsgPack => (0x93u8, 0x81u8, 0xa0u8),
        Serializer::Cbor => (0x83, 0xa1, 0x60),
    };
    let mut out = vec![array, 0x06, map];
    for s in ["message", message, reason] {
        out.push(text | s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    }
    out
}
