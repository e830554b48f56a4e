//! Shared harness for the end-to-end tests: routers started in-process on ephemeral ports, and a
//! small blocking WAMP client over RawSocket (TCP and Unix) and WebSocket (tungstenite).
//!
//! Each test binary starts one router with one shard and one with two, lazily, and shares them
//! between its tests; tests keep apart by using their own topic and procedure URIs.

#![allow(dead_code, unreachable_pub, unused_imports, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod auth;
pub mod meta;
pub mod pubsub;
pub mod rpc;
pub mod store;
pub mod tables;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use tungstenite::client::IntoClientRequest;
use tungstenite::Message as WsMessage;
use wampyard::codec::{self, Payload, PayloadCodec, Serializer};
use wampyard::config::Config;
use wampyard::shard::{BoundAddr, Server};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Id, Message, Value};

/// `limits.max_calls_per_session` of the test routers: small, so the tests that reach it are fast.
pub const MAX_CALLS_PER_SESSION: usize = 300;

/// `limits.max_invocations_per_session` of the test routers.
pub const MAX_INVOCATIONS_PER_SESSION: usize = 300;

/// How long a client waits for any one message before the test fails.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// A running router and where to reach it.
pub struct TestRouter {
    /// Served by every shard.
    pub port_any: u16,
    /// Served by shard 0 only.
    pub port_first: u16,
    /// Served by the last shard only (shard 0 when there is one shard).
    pub port_last: u16,
    /// A Unix socket, handed out round-robin to every shard.
    pub unix: PathBuf,
    pub shards: usize,
    _server: Option<Server>,
}

impl TestRouter {
    /// A router started by the test itself, reachable on a port of its first and last shard.
    pub fn external(port_first: u16, port_last: u16) -> TestRouter {
        TestRouter { port_any: port_first, port_first, port_last, unix: PathBuf::new(), shards: 2, _server: None }
    }
}

fn start(shards: usize) -> TestRouter {
    let limits = format!(
        "max_calls_per_session = {MAX_CALLS_PER_SESSION}\nmax_invocations_per_session = {MAX_INVOCATIONS_PER_SESSION}\n"
    );
    let realms = "[[realm]]\nname = \"realm1\"\n\n[[realm]]\nname = \"strict\"\nuri_check = \"strict\"\n\n\
                  [[realm]]\nname = \"sequential\"\nsequential_request_ids = true\n";
    start_with(shards, "test", &limits, realms)
}

/// Starts a router of `shards` shards with the four listeners every test router has (any shard,
/// the first, the last, and a Unix socket named after `tag`), `limits` as the body of its
/// `[limits]` table, and `tables` (realms and the like) after them.
pub fn start_with(shards: usize, tag: &str, limits: &str, tables: &str) -> TestRouter {
    let unix = std::env::temp_dir().join(format!("wampyard-{tag}-{}-{shards}.sock", std::process::id()));
    let toml = format!(
        "[router]\nshards = {shards}\npin = false\nshutdown_timeout_ms = 1000\n\n[limits]\n{limits}\n\
         [[listener]]\nport = 0\n\n[[listener]]\nport = 0\nshards = [0]\n\n[[listener]]\nport = 0\nshards = [{last}]\n\n\
         [[listener]]\nunix = \"{unix}\"\n\n{tables}",
        last = shards - 1,
        unix = unix.display(),
    );
    let config = Config::from_toml_str(&toml).expect("test configuration");
    let server = Server::start(&config).expect("router starts");
    let port = |i: usize| match &server.addrs()[i] {
        BoundAddr::Tcp(a) => a.port(),
        other => panic!("expected TCP, got {other:?}"),
    };
    TestRouter { port_any: port(0), port_first: port(1), port_last: port(2), unix, shards, _server: Some(server) }
}

/// The shared one-shard router of this test binary.
pub fn one_shard() -> &'static TestRouter {
    static R: OnceLock<TestRouter> = OnceLock::new();
    R.get_or_init(|| start(1))
}

/// The shared two-shard router of this test binary.
pub fn two_shards() -> &'static TestRouter {
    static R: OnceLock<TestRouter> = OnceLock::new();
    R.get_or_init(|| start(2))
}

/// Both shared routers.
pub fn routers() -> [&'static TestRouter; 2] {
    [one_shard(), two_shards()]
}

/// The transports a client can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    RawTcp,
    RawUnix,
    WebSocket,
}

pub const KINDS: [Kind; 3] = [Kind::RawTcp, Kind::RawUnix, Kind::WebSocket];

/// Where on a router a client connects: any shard, the first, or the last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum On {
    Any,
    First,
    Last,
}

/// Runs `f` for every router x transport x serializer.
pub fn matrix(f: impl Fn(&TestRouter, Kind, Serializer)) {
    for r in routers() {
        for kind in KINDS {
            for ser in Serializer::ALL {
                f(r, kind, ser);
            }
        }
    }
}

/// [`matrix`] with every cell on its own thread, for tests that mostly wait on timers.
pub fn matrix_parallel(f: impl Fn(&TestRouter, Kind, Serializer) + Sync) {
    let f = &f;
    std::thread::scope(|s| {
        for r in routers() {
            for kind in KINDS {
                for ser in Serializer::ALL {
                    s.spawn(move || f(r, kind, ser));
                }
            }
        }
    });
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

enum Wire {
    Raw(Stream),
    Ws(Box<tungstenite::WebSocket<TcpStream>>),
}

/// A blocking WAMP client for tests.
pub struct Client {
    wire: Wire,
    pub ser: Serializer,
    next_request: u64,
    pub session: Id,
    /// `WELCOME.Details.authid`.
    pub authid: String,
}

/// Opens a TCP connection to `port` with the test read timeout.
pub fn tcp(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(RECV_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

impl Client {
    /// Connects with a transport handshake, without joining.
    pub fn connect(r: &TestRouter, on: On, kind: Kind, ser: Serializer) -> Client {
        let port = match on {
            On::Any => r.port_any,
            On::First => r.port_first,
            On::Last => r.port_last,
        };
        let wire = match kind {
            Kind::RawTcp => Wire::Raw(raw_handshake(Stream::Tcp(tcp(port)), ser)),
            Kind::RawUnix => {
                let s = UnixStream::connect(&r.unix).expect("unix connect");
                s.set_read_timeout(Some(RECV_TIMEOUT)).unwrap();
                Wire::Raw(raw_handshake(Stream::Unix(s), ser))
            }
            Kind::WebSocket => {
                let mut req = format!("ws://127.0.0.1:{port}/").into_client_request().unwrap();
                req.headers_mut().insert("Sec-WebSocket-Protocol", ser.subprotocol().parse().unwrap());
                let (ws, resp) = tungstenite::client(req, tcp(port)).expect("websocket handshake");
                let chosen = resp.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok());
                assert_eq!(chosen, Some(ser.subprotocol()));
                Wire::Ws(Box::new(ws))
            }
        };
        Client { wire, ser, next_request: 0, session: Id::ZERO, authid: String::new() }
    }

    /// Connects and joins realm1; for `On::Any` with a Unix socket the shard is the router's choice.
    pub fn join(r: &TestRouter, on: On, kind: Kind, ser: Serializer) -> Client {
        Client::join_realm(r, on, kind, ser, "realm1", &[])
    }

    /// [`Client::join`], announcing `features` (`role.feature`, e.g. `callee.call_canceling`).
    pub fn join_with(r: &TestRouter, on: On, kind: Kind, ser: Serializer, features: &[&str]) -> Client {
        Client::join_realm(r, on, kind, ser, "realm1", features)
    }

    /// Connects and joins `realm`, announcing `features`.
    pub fn join_realm(r: &TestRouter, on: On, kind: Kind, ser: Serializer, realm: &str, features: &[&str]) -> Client {
        // The Unix socket is dealt round-robin, not by shard: with more than one shard only TCP
        // pins one.
        let kind = if on != On::Any && kind == Kind::RawUnix && r.shards > 1 { Kind::RawTcp } else { kind };
        let mut c = Client::connect(r, on, kind, ser);
        c.hello_with(realm, features);
        match c.recv() {
            Some(Message::Welcome(w)) => {
                c.session = w.session;
                c.authid = w.details.get_str("authid").unwrap_or_default().to_owned();
            }
            other => panic!("expected WELCOME, got {other:?}"),
        }
        c
    }

    pub fn hello(&mut self, realm: &str) {
        self.hello_with(realm, &[]);
    }

    /// HELLO with every client role, announcing `features` (`role.feature`) as true.
    pub fn hello_with(&mut self, realm: &str, features: &[&str]) {
        let role = |name: &str| {
            let mut f = Dict::new();
            for feature in features.iter().filter_map(|x| x.strip_prefix(name).and_then(|r| r.strip_prefix('.'))) {
                f.insert(feature, true);
            }
            if f.is_empty() {
                Dict::new()
            } else {
                Dict::new().with("features", f)
            }
        };
        let roles = Dict::new()
            .with("publisher", role("publisher"))
            .with("subscriber", role("subscriber"))
            .with("caller", role("caller"))
            .with("callee", role("callee"));
        self.send(&Message::Hello(m::Hello { realm: realm.into(), details: Dict::new().with("roles", roles) }));
    }

    /// Sends one encoded message.
    pub fn send(&mut self, msg: &Message) {
        let bytes = codec::encode(self.ser, msg).unwrap();
        self.send_bytes(&bytes);
    }

    /// Sends one message's bytes as they are (for malformed input). A write the router cuts
    /// short is not an error here: tests check the outcome by reading.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        match &mut self.wire {
            Wire::Raw(s) => {
                let len = bytes.len();
                let mut frame = vec![0, (len >> 16) as u8, (len >> 8) as u8, len as u8];
                frame.extend_from_slice(bytes);
                let _ = s.write_all(&frame);
            }
            Wire::Ws(ws) => {
                let msg = match self.ser {
                    Serializer::Json => WsMessage::Text(String::from_utf8_lossy(bytes).into_owned().into()),
                    _ => WsMessage::Binary(Bytes::copy_from_slice(bytes)),
                };
                let _ = ws.send(msg);
            }
        }
    }

    /// The next message, or `None` when the router closed the connection.
    pub fn recv(&mut self) -> Option<Message> {
        let bytes = self.recv_bytes()?;
        Some(codec::decode(self.ser, bytes).expect("router output decodes"))
    }

    /// The next message's bytes, answering RawSocket PINGs; `None` on close.
    pub fn recv_bytes(&mut self) -> Option<Bytes> {
        match &mut self.wire {
            Wire::Raw(s) => loop {
                let mut head = [0u8; 4];
                if let Err(e) = s.read_exact(&mut head) {
                    assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "timed out waiting for a message");
                    return None;
                }
                let len = ((head[1] as usize) << 16) | ((head[2] as usize) << 8) | head[3] as usize;
                let mut body = vec![0u8; len];
                s.read_exact(&mut body).ok()?;
                match head[0] & 0x07 {
                    0 => return Some(Bytes::from(body)),
                    1 => {
                        let mut pong = vec![2, head[1], head[2], head[3]];
                        pong.extend_from_slice(&body);
                        s.write_all(&pong).ok()?;
                    }
                    _ => {}
                }
            },
            Wire::Ws(ws) => loop {
                match ws.read() {
                    Ok(WsMessage::Text(t)) => return Some(Bytes::copy_from_slice(t.as_bytes())),
                    Ok(WsMessage::Binary(b)) => return Some(b),
                    Ok(WsMessage::Close(_)) | Err(_) => return None,
                    Ok(_) => {}
                }
            },
        }
    }

    /// Changes how long a read waits.
    pub fn set_read_timeout(&mut self, t: Duration) {
        match &mut self.wire {
            Wire::Raw(Stream::Tcp(s)) => s.set_read_timeout(Some(t)).unwrap(),
            Wire::Raw(Stream::Unix(s)) => s.set_read_timeout(Some(t)).unwrap(),
            Wire::Ws(ws) => ws.get_mut().set_read_timeout(Some(t)).unwrap(),
        }
    }

    /// The next message, or `None` on close or when the read times out.
    pub fn recv_or_timeout(&mut self) -> Option<Message> {
        let Wire::Raw(s) = &mut self.wire else { return self.recv() };
        let mut head = [0u8; 4];
        s.read_exact(&mut head).ok()?;
        let len = ((head[1] as usize) << 16) | ((head[2] as usize) << 8) | head[3] as usize;
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).ok()?;
        codec::decode(self.ser, Bytes::from(body)).ok()
    }

    /// True if the router closes the connection (after any messages still queued).
    pub fn closes(&mut self) -> bool {
        for _ in 0..16 {
            if self.recv_bytes().is_none() {
                return true;
            }
        }
        false
    }

    pub fn request(&mut self) -> Id {
        self.next_request += 1;
        Id::new(self.next_request).unwrap()
    }

    pub fn subscribe(&mut self, topic: &str, options: Dict) -> Id {
        let request = self.request();
        self.send(&Message::Subscribe(m::Subscribe { request, options, topic: topic.into() }));
        match self.recv() {
            Some(Message::Subscribed(s)) if s.request == request => s.subscription,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    pub fn unsubscribe(&mut self, subscription: Id) -> Message {
        let request = self.request();
        self.send(&Message::Unsubscribe(m::Unsubscribe { request, subscription }));
        self.recv().expect("reply to UNSUBSCRIBE")
    }

    pub fn publish(&mut self, topic: &str, options: Dict, payload: Payload) -> Id {
        let request = self.request();
        self.send(&Message::Publish(m::Publish { request, options, topic: topic.into(), payload }));
        request
    }

    /// Publishes with acknowledge=true and returns the reply (PUBLISHED or ERROR).
    pub fn publish_acked(&mut self, topic: &str, payload: Payload) -> Message {
        let request = self.publish(topic, Dict::new().with("acknowledge", true), payload);
        match self.recv() {
            Some(msg @ (Message::Published(_) | Message::Error(_))) => {
                assert_eq!(reply_request(&msg), request);
                msg
            }
            other => panic!("expected PUBLISHED or ERROR, got {other:?}"),
        }
    }

    pub fn register(&mut self, procedure: &str, options: Dict) -> Result<Id, String> {
        let request = self.request();
        self.send(&Message::Register(m::Register { request, options, procedure: procedure.into() }));
        match self.recv() {
            Some(Message::Registered(r)) if r.request == request => Ok(r.registration),
            Some(Message::Error(e)) if e.request == request => Err(e.error),
            other => panic!("expected REGISTERED, got {other:?}"),
        }
    }

    pub fn call(&mut self, procedure: &str, payload: Payload) -> Id {
        self.call_with(procedure, payload, Dict::new())
    }

    /// Sends a CALL with `options` under a fresh request id, and returns the id.
    pub fn call_with(&mut self, procedure: &str, payload: Payload, options: Dict) -> Id {
        let request = self.request();
        self.send(&Message::Call(m::Call { request, options, procedure: procedure.into(), payload }));
        request
    }

    /// Sends CANCEL for call `request` with `mode` (`None`: no mode key).
    pub fn cancel(&mut self, request: Id, mode: Option<&str>) {
        let options = match mode {
            Some(mode) => Dict::new().with("mode", mode),
            None => Dict::new(),
        };
        self.send(&Message::Cancel(m::Cancel { request, options }));
    }

    /// Sends YIELD for invocation `request`.
    pub fn yield_(&mut self, request: Id, options: Dict, payload: Payload) {
        self.send(&Message::Yield(m::Yield { request, options, payload }));
    }

    /// Waits for the next EVENT.
    pub fn event(&mut self) -> m::Event {
        match self.recv() {
            Some(Message::Event(e)) => e,
            other => panic!("expected EVENT, got {other:?}"),
        }
    }

    /// Answers the next INVOCATION with a YIELD of its own arguments, and returns it.
    pub fn echo_one(&mut self) -> m::Invocation {
        match self.recv() {
            Some(Message::Invocation(i)) => {
                let y = m::Yield { request: i.request, options: Dict::new(), payload: i.payload.clone() };
                self.send(&Message::Yield(y));
                i
            }
            other => panic!("expected INVOCATION, got {other:?}"),
        }
    }

    pub fn goodbye(&mut self) {
        let g = m::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() };
        self.send(&Message::Goodbye(g));
        match self.recv() {
            Some(Message::Goodbye(g)) => assert_eq!(g.reason, "wamp.close.goodbye_and_out"),
            other => panic!("expected GOODBYE, got {other:?}"),
        }
    }
}

fn reply_request(msg: &Message) -> Id {
    match msg {
        Message::Published(p) => p.request,
        Message::Error(e) => e.request,
        _ => Id::ZERO,
    }
}

fn raw_handshake(mut s: Stream, ser: Serializer) -> Stream {
    s.write_all(&[0x7F, 0xF0 | ser.rawsocket_id(), 0, 0]).unwrap();
    let mut reply = [0u8; 4];
    s.read_exact(&mut reply).expect("rawsocket handshake reply");
    assert_eq!(reply[0], 0x7F);
    assert_eq!(reply[1] & 0x0F, ser.rawsocket_id(), "handshake refused: {reply:?}");
    s
}

/// Arguments with every kind of value WAMP payloads carry.
pub fn rich_args() -> Vec<Value> {
    vec![
        Value::from("ünïcødé ✓ 日本"),
        Value::UInt(1 << 53),
        Value::Int(-42),
        Value::Float(1.5),
        Value::Bool(true),
        Value::Null,
        Value::Bytes(vec![0, 1, 2, 254, 255]),
        Value::List(vec![Value::Dict(Dict::new().with("deep", Value::List(vec![Value::UInt(1)])))]),
    ]
}

/// Arguments and keyword arguments of a payload.
pub fn values(p: &Payload) -> (Vec<Value>, Option<Dict>) {
    p.to_values().expect("payload decodes")
}

/// A code of the request a message answers, for ERROR checks.
pub fn error_of(msg: Option<Message>, request_type: u64) -> String {
    match msg {
        Some(Message::Error(e)) if e.request_type == request_type => e.error,
        other => panic!("expected ERROR for {}, got {other:?}", m::name_of(request_type)),
    }
}

/// Unique URIs per test and matrix cell, so tests can share a router.
pub fn uri(test: &str, kind: Kind, ser: Serializer, r: &TestRouter) -> String {
    format!("com.test.{test}.{}.{}.s{}", format!("{kind:?}").to_lowercase(), ser.name(), r.shards)
}

pub use wampyard::wamp::message::code as codes;
