//! Helpers of the authentication and authorization tests (`auth.rs`): routers of one and two
//! shards whose listeners accept ticket logins only, anonymous (as role `reader`) and ticket, or
//! nothing configured (anonymous only, role `anonymous`); the realm `secure` with roles, the open
//! `realm1` and `pinned`; and logins written out message by message.
//!
//! Principals (on every listener with `[listener.auth.ticket]`):
//!
//! | authid | ticket | role | realm |
//! |---|---|---|---|
//! | `writer` | [`WRITER_TICKET`] | `writer`: everything (`uri = ""`, prefix) | any |
//! | `reader` | `reader-ticket` | `reader`: see [`ROLES`] | any |
//! | `watcher` | `watcher-ticket` | `watcher`: call and subscribe under `wamp.session.` | any |
//! | `ghost` | `ghost-ticket` | `ghost`, which `secure` does not have | any |
//! | `pinned` | `pinned-ticket` | `writer` | `pinned` only |

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use wampyard::codec::{Payload, Serializer};
use wampyard::config::Config;
use wampyard::shard::{BoundAddr, Server};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Message, Value};

use super::*;

/// The realm with roles.
pub const SECURE: &str = "secure";
/// The realm principal `pinned` is limited to (open: no roles).
pub const PINNED: &str = "pinned";
pub const WRITER_TICKET: &str = "wr1ter tïcket ✓";
pub const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
pub const NO_AUTH_METHOD: &str = "wamp.error.no_auth_method";
pub const NO_SUCH_ROLE: &str = "wamp.error.no_such_role";
pub const PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";
pub const NO_SUCH_PROCEDURE: &str = "wamp.error.no_such_procedure";

/// `(authid, ticket, role, realm)` of every principal.
pub const PRINCIPALS: [(&str, &str, &str, Option<&str>); 5] = [
    ("writer", WRITER_TICKET, "writer", None),
    ("reader", "reader-ticket", "reader", None),
    ("watcher", "watcher-ticket", "watcher", None),
    ("ghost", "ghost-ticket", "ghost", None),
    ("pinned", "pinned-ticket", "writer", Some(PINNED)),
];

/// One `[[realm.role.permission]]`: `(uri, match, allow)`, `allow` as a TOML array.
pub type Permission = (&'static str, &'static str, &'static str);

/// The roles of realm `secure`: `(role, [(uri, match, allow)])`. `reader` shows best match:
/// `com.auth.public.secret.` (nothing) beats `com.auth.public.` (call, subscribe), the exact
/// `com.auth.public.secret.ping` beats both, and the prefix `com.auth.public.` beats the wildcard
/// `com.auth..status` (publish, subscribe).
pub const ROLES: [(&str, &[Permission]); 3] = [
    ("writer", &[("", "prefix", r#"["call", "register", "publish", "subscribe"]"#)]),
    (
        "reader",
        &[
            ("com.auth.public.", "prefix", r#"["call", "subscribe"]"#),
            ("com.auth.public.secret.", "prefix", "[]"),
            ("com.auth.public.secret.ping", "exact", r#"["call"]"#),
            ("com.auth..status", "wildcard", r#"["publish", "subscribe"]"#),
        ],
    ),
    ("watcher", &[("wamp.session.", "prefix", r#"["call", "subscribe"]"#)]),
];

/// The ticket of `authid`.
pub fn ticket_of(authid: &str) -> &'static str {
    PRINCIPALS.iter().find(|p| p.0 == authid).map(|p| p.1).unwrap_or_else(|| panic!("no principal {authid}"))
}

/// One router seen through its three kinds of listener. Each view has a port on every shard
/// (`port_any`), on the first and on the last shard, and a Unix socket dealt round-robin.
pub struct AuthRouter {
    /// `[listener.auth.ticket]` only: anonymous logins are refused. Holds the server.
    pub ticket: TestRouter,
    /// `[listener.auth.anonymous] role = "reader"` and the same ticket principals.
    pub mixed: TestRouter,
    /// No `[listener.auth]`: anonymous only, role `anonymous`.
    pub open: TestRouter,
    pub shards: usize,
}

fn ticket_tables() -> String {
    let mut s = String::from("[listener.auth.ticket]\n");
    for (authid, ticket, role, realm) in PRINCIPALS {
        s.push_str(&format!(
            "[[listener.auth.ticket.principal]]\nauthid = \"{authid}\"\nticket = \"{ticket}\"\nrole = \"{role}\"\n"
        ));
        if let Some(realm) = realm {
            s.push_str(&format!("realm = \"{realm}\"\n"));
        }
    }
    s
}

fn role_tables() -> String {
    let mut s = String::new();
    for (name, permissions) in ROLES {
        s.push_str(&format!("\n[[realm.role]]\nname = \"{name}\"\n"));
        for (uri, policy, allow) in permissions {
            s.push_str(&format!("[[realm.role.permission]]\nuri = \"{uri}\"\nmatch = \"{policy}\"\nallow = {allow}\n"));
        }
    }
    s
}

/// The listeners of one view: every shard, the first, the last, and a Unix socket, each with
/// `auth` (TOML tables, possibly empty).
fn view_listeners(last: usize, unix: &Path, auth: &str) -> String {
    let unix = unix.display();
    format!(
        "[[listener]]\nport = 0\n{auth}\n[[listener]]\nport = 0\nshards = [0]\n{auth}\n\
         [[listener]]\nport = 0\nshards = [{last}]\n{auth}\n[[listener]]\nunix = \"{unix}\"\n{auth}\n"
    )
}

/// The configuration of an auth router (also used by the handshake deadline test). The tests fail
/// many logins on purpose from one address: failures are never slowed down here (the simulator
/// tests the slowdown).
pub fn auth_toml(shards: usize, handshake_timeout_ms: u64, unix: &[PathBuf; 3]) -> String {
    let ticket = ticket_tables();
    let mixed = format!("[listener.auth.anonymous]\nrole = \"reader\"\n{ticket}");
    format!(
        "[router]\nshards = {shards}\npin = false\nshutdown_timeout_ms = 1000\n\n\
         [limits]\nhandshake_timeout_ms = {handshake_timeout_ms}\nlogin_failures_free = 1000000\n\n{}{}{}\n\
         [[realm]]\nname = \"realm1\"\n\n[[realm]]\nname = \"{SECURE}\"\n{}\n[[realm]]\nname = \"{PINNED}\"\n",
        view_listeners(shards - 1, &unix[0], &ticket),
        view_listeners(shards - 1, &unix[1], &mixed),
        view_listeners(shards - 1, &unix[2], ""),
        role_tables(),
    )
}

/// Starts a router with [`auth_toml`].
pub fn start_auth(shards: usize, handshake_timeout_ms: u64, tag: &str) -> AuthRouter {
    let pid = std::process::id();
    let unix = ["ticket", "mixed", "open"]
        .map(|view| std::env::temp_dir().join(format!("wampyard-auth-{pid}-{tag}-{shards}-{view}.sock")));
    let toml = auth_toml(shards, handshake_timeout_ms, &unix);
    let config = Config::from_toml_str(&toml).expect("test configuration");
    let server = Server::start(&config).expect("router starts");
    let port = |i: usize| match &server.addrs()[i] {
        BoundAddr::Tcp(a) => a.port(),
        other => panic!("expected TCP, got {other:?}"),
    };
    let view = |v: usize, unix: &PathBuf| TestRouter {
        port_any: port(4 * v),
        port_first: port(4 * v + 1),
        port_last: port(4 * v + 2),
        unix: unix.clone(),
        shards,
        _server: None,
    };
    let (mixed, open) = (view(1, &unix[1]), view(2, &unix[2]));
    let mut ticket = view(0, &unix[0]);
    ticket._server = Some(server);
    AuthRouter { ticket, mixed, open, shards }
}

/// The shared auth routers of this test binary, one shard and two (5 s handshake deadline).
pub fn auth_routers() -> [&'static AuthRouter; 2] {
    static ONE: OnceLock<AuthRouter> = OnceLock::new();
    static TWO: OnceLock<AuthRouter> = OnceLock::new();
    [ONE.get_or_init(|| start_auth(1, 5_000, "shared")), TWO.get_or_init(|| start_auth(2, 5_000, "shared"))]
}

/// Runs `f` for every auth router x transport x serializer, one cell after the other.
pub fn auth_matrix(f: impl Fn(&AuthRouter, Kind, Serializer)) {
    for r in auth_routers() {
        for kind in KINDS {
            for ser in Serializer::ALL {
                f(r, kind, ser);
            }
        }
    }
}

/// A URI component naming one matrix cell (`rawtcp_json_s2`), and URIs under `prefix` with it.
pub fn cell(kind: Kind, ser: Serializer, shards: usize) -> String {
    format!("{}_{}_s{shards}", format!("{kind:?}").to_lowercase(), ser.name())
}

/// Connects to `view` on `on` (the Unix socket stands in for TCP only where it reaches that shard).
pub fn connect(view: &TestRouter, on: On, kind: Kind, ser: Serializer) -> Client {
    let kind = if on != On::Any && kind == Kind::RawUnix && view.shards > 1 { Kind::RawTcp } else { kind };
    Client::connect(view, on, kind, ser)
}

/// HELLO for `realm` with every client role, `authmethods` (left out when `None`) and `authid`.
pub fn hello(realm: &str, methods: Option<&[&str]>, authid: Option<&str>) -> Message {
    let roles =
        ["publisher", "subscriber", "caller", "callee"].iter().fold(Dict::new(), |d, role| d.with(*role, Dict::new()));
    let mut details = Dict::new().with("roles", roles);
    if let Some(methods) = methods {
        details.insert("authmethods", Value::List(methods.iter().map(|x| Value::from(*x)).collect()));
    }
    if let Some(authid) = authid {
        details.insert("authid", authid);
    }
    Message::Hello(m::Hello { realm: realm.into(), details })
}

/// `[CHALLENGE, "ticket", {}]` written by hand in `ser`.
pub fn ticket_challenge_wire(ser: Serializer) -> Vec<u8> {
    let (head, empty_map) = match ser {
        Serializer::Json => return br#"[4,"ticket",{}]"#.to_vec(),
        Serializer::MsgPack => (vec![0x93, 0x04, 0xa6], 0x80),
        Serializer::Cbor => (vec![0x83, 0x04, 0x66], 0xa0),
    };
    let mut out = head;
    out.extend_from_slice(b"ticket");
    out.push(empty_map);
    out
}

/// The next message is exactly `[CHALLENGE, "ticket", {}]`, byte for byte.
pub fn expect_ticket_challenge(c: &mut Client) {
    let got = c.recv_bytes().expect("CHALLENGE, not a closed connection");
    assert_eq!(rpc::show(c.ser, &got), rpc::show(c.ser, &ticket_challenge_wire(c.ser)), "CHALLENGE on the wire");
}

pub fn authenticate(c: &mut Client, ticket: &str) {
    c.send(&Message::Authenticate(m::Authenticate { signature: ticket.into(), extra: Dict::new() }));
}

/// The next message is WELCOME: keeps its session id and authid in `c`, returns its details.
pub fn welcome(c: &mut Client) -> Dict {
    match c.recv() {
        Some(Message::Welcome(w)) => {
            c.session = w.session;
            c.authid = w.details.get_str("authid").unwrap_or_default().to_owned();
            w.details
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

/// `(authid, authrole, authmethod, authprovider)` of WELCOME details.
pub fn identity(d: &Dict) -> (Option<&str>, Option<&str>, Option<&str>, Option<&str>) {
    (d.get_str("authid"), d.get_str("authrole"), d.get_str("authmethod"), d.get_str("authprovider"))
}

/// HELLO with `["ticket"]` and `authid`, the CHALLENGE checked on the wire, AUTHENTICATE with
/// `ticket`: the client, not yet knowing the outcome.
pub fn ticket_attempt(
    view: &TestRouter,
    on: On,
    kind: Kind,
    ser: Serializer,
    realm: &str,
    authid: &str,
    ticket: &str,
) -> Client {
    let mut c = connect(view, on, kind, ser);
    c.send(&hello(realm, Some(&["ticket"]), Some(authid)));
    expect_ticket_challenge(&mut c);
    authenticate(&mut c, ticket);
    c
}

/// A successful ticket login of principal `authid` on the ticket-only listeners of `r`.
pub fn login(r: &AuthRouter, on: On, kind: Kind, ser: Serializer, realm: &str, authid: &str) -> (Client, Dict) {
    let mut c = ticket_attempt(&r.ticket, on, kind, ser, realm, authid, ticket_of(authid));
    let details = welcome(&mut c);
    (c, details)
}

/// The next message is ABORT with `reason`, and then the router closes the connection. Returns
/// the ABORT's `details.message`.
pub fn aborted_with(c: &mut Client, reason: &str) -> String {
    let message = match c.recv() {
        Some(Message::Abort(a)) => {
            assert_eq!(a.reason, reason, "ABORT reason ({:?})", a.details.get_str("message"));
            a.details.get_str("message").unwrap_or_default().to_owned()
        }
        other => panic!("expected ABORT {reason}, got {other:?}"),
    };
    assert!(c.closes(), "the connection must be closed after ABORT {reason}");
    message
}

/// Sends `msg`, a request, and returns the ERROR URI answering it, or `None` if the answer was
/// anything else (SUBSCRIBED, REGISTERED, PUBLISHED, RESULT). EVENTs arriving meanwhile are
/// skipped (a session probing topics it subscribed to gets their events).
pub fn answer_error(c: &mut Client, msg: &Message, request_type: u64, request: Id) -> Option<String> {
    c.send(msg);
    loop {
        match c.recv() {
            Some(Message::Event(_)) => {}
            Some(Message::Error(e)) => {
                assert_eq!((e.request_type, e.request), (request_type, request), "ERROR for another request: {e:?}");
                return Some(e.error);
            }
            Some(Message::Subscribed(m::Subscribed { request: r, .. }))
            | Some(Message::Registered(m::Registered { request: r, .. }))
            | Some(Message::Published(m::Published { request: r, .. }))
            | Some(Message::Result(m::CallResult { request: r, .. })) => {
                assert_eq!(r, request, "an answer to another request");
                return None;
            }
            other => panic!("expected an answer to {}, got {other:?}", m::name_of(request_type)),
        }
    }
}

/// SUBSCRIBE `topic` (exact): `None` if SUBSCRIBED, else the ERROR URI.
pub fn try_subscribe(c: &mut Client, topic: &str) -> Option<String> {
    let request = c.request();
    let msg = Message::Subscribe(m::Subscribe { request, options: Dict::new(), topic: topic.into() });
    answer_error(c, &msg, codes::SUBSCRIBE, request)
}

/// REGISTER `procedure` (exact): `None` if REGISTERED, else the ERROR URI.
pub fn try_register(c: &mut Client, procedure: &str) -> Option<String> {
    let request = c.request();
    let msg = Message::Register(m::Register { request, options: Dict::new(), procedure: procedure.into() });
    answer_error(c, &msg, codes::REGISTER, request)
}

/// PUBLISH `topic` acknowledged: `None` if PUBLISHED, else the ERROR URI.
pub fn try_publish(c: &mut Client, topic: &str) -> Option<String> {
    let request = c.request();
    let options = Dict::new().with("acknowledge", true);
    let msg = Message::Publish(m::Publish { request, options, topic: topic.into(), payload: Payload::Empty });
    answer_error(c, &msg, codes::PUBLISH, request)
}

/// CALL `procedure` nobody has to answer: `None` for a RESULT, else the ERROR URI (an allowed
/// call of an unregistered procedure answers `no_such_procedure`, a denied one `not_authorized`).
pub fn try_call(c: &mut Client, procedure: &str, payload: Payload) -> Option<String> {
    let request = c.request();
    let msg = Message::Call(m::Call { request, options: Dict::new(), procedure: procedure.into(), payload });
    answer_error(c, &msg, codes::CALL, request)
}
