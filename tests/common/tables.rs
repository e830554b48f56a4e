//! Helpers of the subscription and registration meta API tests (`meta_tables.rs`): routers with one
//! realm per test and matrix cell (so lists and event streams hold only the cell's own sessions),
//! calling the router's own procedures, watching the eight lifecycle events up to a sentinel per
//! shard, callees answering on their own threads for sharded registrations, and hand-written
//! revocation notices checked byte for byte.

use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wampyard::codec::{Payload, Serializer};
use wampyard::config::Config;
use wampyard::shard::{BoundAddr, Server};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Id, Message, Value};

use super::*;

pub const NO_SUCH_SUBSCRIPTION: &str = "wamp.error.no_such_subscription";
pub const NO_SUCH_REGISTRATION: &str = "wamp.error.no_such_registration";
pub const NO_SUCH_SESSION: &str = "wamp.error.no_such_session";
pub const INVALID_ARGUMENT: &str = "wamp.error.invalid_argument";

/// The eight lifecycle topics, subscription ones first.
pub const LIFECYCLE: [&str; 8] = [
    "wamp.subscription.on_create",
    "wamp.subscription.on_subscribe",
    "wamp.subscription.on_unsubscribe",
    "wamp.subscription.on_delete",
    "wamp.registration.on_create",
    "wamp.registration.on_register",
    "wamp.registration.on_unregister",
    "wamp.registration.on_delete",
];

/// The tests of `meta_tables.rs`; each gets one realm per router x transport x serializer.
pub const TESTS: [&str; 14] = [
    "welcome", "subev", "regev", "created", "lists", "lookup", "revoke", "unreg", "refuse", "bad", "part", "busy",
    "leave", "runmode",
];

/// One matrix cell of one test: a router, a transport, a serializer and the cell's own realm.
#[derive(Clone, Copy)]
pub struct Cell<'a> {
    pub r: &'a TestRouter,
    pub kind: Kind,
    pub ser: Serializer,
    pub test: &'static str,
}

impl Cell<'_> {
    pub fn realm(&self) -> String {
        realm(self.test, self.kind, self.ser)
    }

    /// Joins the cell's realm on shard `on`, announcing `features` (`role.feature`).
    pub fn join(&self, on: On, features: &[&str]) -> Client {
        self.join_as(on, self.ser, features)
    }

    /// [`Cell::join`] speaking `ser` instead of the cell's serializer.
    pub fn join_as(&self, on: On, ser: Serializer, features: &[&str]) -> Client {
        Client::join_realm(self.r, on, self.kind, ser, &self.realm(), features)
    }

    /// A URI of this cell (the realm keeps cells apart already; the name reads well in failures).
    pub fn uri(&self, name: &str) -> String {
        format!("com.test.tables.{name}")
    }
}

/// The realm of test `test` in one matrix cell.
pub fn realm(test: &str, kind: Kind, ser: Serializer) -> String {
    assert!(TESTS.contains(&test), "add {test} to common::tables::TESTS");
    format!("tables.{test}.{}.{}", format!("{kind:?}").to_lowercase(), ser.name())
}

fn start_tables(shards: usize) -> TestRouter {
    let mut toml = String::new();
    for test in TESTS {
        for kind in KINDS {
            for ser in Serializer::ALL {
                toml.push_str(&format!("\n[[realm]]\nname = \"{}\"\n", realm(test, kind, ser)));
            }
        }
    }
    start_with(shards, "tables", "", &toml)
}

/// The routers of `meta_tables.rs`, one shard and two, started once per test binary.
pub fn table_routers() -> [&'static TestRouter; 2] {
    static ONE: OnceLock<TestRouter> = OnceLock::new();
    static TWO: OnceLock<TestRouter> = OnceLock::new();
    [ONE.get_or_init(|| start_tables(1)), TWO.get_or_init(|| start_tables(2))]
}

/// Runs `f` for every router x transport x serializer of `test`, each cell on its own named
/// thread (the cells use realms of their own, so they cannot see each other).
pub fn tables_matrix(test: &'static str, f: impl Fn(Cell<'_>) + Sync) {
    let f = &f;
    std::thread::scope(|s| {
        for r in table_routers() {
            for kind in KINDS {
                for ser in Serializer::ALL {
                    let name = format!("{test}-{kind:?}-{}-{}shard", ser.name(), r.shards);
                    let cell = Cell { r, kind, ser, test };
                    std::thread::Builder::new().name(name).spawn_scoped(s, move || f(cell)).unwrap();
                }
            }
        }
    });
}

/// The shard of session number `i` of a group: the first and the last in turn.
pub fn side(i: usize) -> On {
    if i % 2 == 0 {
        On::First
    } else {
        On::Last
    }
}

// ---------------------------------------------------------------------------------------------
// Calling the router

/// Calls `procedure`; the caller's next message must answer it: the RESULT's (args, kwargs) or
/// the ERROR's URI.
pub fn answer(c: &mut Client, procedure: &str, payload: Payload) -> Result<(Vec<Value>, Option<Dict>), String> {
    let request = c.call(procedure, payload);
    match c.recv() {
        Some(Message::Result(res)) if res.request == request => Ok(values(&res.payload)),
        Some(Message::Error(e)) if e.request_type == codes::CALL && e.request == request => Err(e.error),
        other => panic!("expected the answer to {procedure}, got {other:?}"),
    }
}

/// A call that must succeed with positional results only; they are returned.
pub fn ok(c: &mut Client, procedure: &str, args: Vec<Value>) -> Vec<Value> {
    match answer(c, procedure, Payload::args(args)) {
        Ok((args, kwargs)) => {
            assert_eq!(kwargs, None, "{procedure} answers with no kwargs");
            args
        }
        Err(e) => panic!("{procedure} failed: {e}"),
    }
}

/// A call that must answer `[one value]`; the value.
pub fn one(c: &mut Client, procedure: &str, args: Vec<Value>) -> Value {
    match ok(c, procedure, args).as_slice() {
        [v] => v.clone(),
        other => panic!("{procedure} answers one value, got {other:?}"),
    }
}

/// A call that must fail; its error URI.
pub fn refused(c: &mut Client, procedure: &str, payload: Payload) -> String {
    match answer(c, procedure, payload) {
        Ok(ok) => panic!("{procedure} must fail, got {ok:?}"),
        Err(e) => e,
    }
}

pub fn uint(id: Id) -> Value {
    Value::UInt(id.get())
}

pub fn sid(c: &Client) -> Value {
    Value::UInt(c.session.get())
}

/// A list of ids as sorted numbers.
pub fn sorted(v: &Value) -> Vec<u64> {
    let l = v.as_list().unwrap_or_else(|| panic!("a list of ids, got {v:?}"));
    let mut ids: Vec<u64> = l.iter().map(|x| x.as_u64().unwrap_or_else(|| panic!("an id, got {x:?}"))).collect();
    ids.sort_unstable();
    ids
}

pub fn sessions(clients: &[&Client]) -> Vec<u64> {
    let mut v: Vec<u64> = clients.iter().map(|c| c.session.get()).collect();
    v.sort_unstable();
    v
}

/// `{exact, prefix, wildcard}` of a `list` answer, each sorted.
pub fn by_policy(v: &Value) -> [Vec<u64>; 3] {
    let d = v.as_dict().unwrap_or_else(|| panic!("list answers a dict, got {v:?}"));
    assert_eq!(d.len(), 3, "exactly exact, prefix and wildcard: {d:?}");
    ["exact", "prefix", "wildcard"].map(|k| sorted(d.get(k).unwrap_or_else(|| panic!("no {k} in {d:?}"))))
}

/// Repeats a call the caller's shard answers from its own replica until it answers `expected`.
/// For changes nobody waits for (a leave, an unregister, a revocation): the test goes on once
/// that shard has applied them. Bounded, and never sleeps: each try is a round trip.
pub fn settle(c: &mut Client, procedure: &str, args: Vec<Value>, expected: Result<Vec<Value>, &str>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = answer(c, procedure, Payload::args(args.clone())).map(|(a, _)| a);
        if got.as_ref().map_err(String::as_str) == expected.as_ref().map_err(|e| *e) {
            return;
        }
        assert!(Instant::now() < deadline, "{procedure}{args:?} still answers {got:?}, not {expected:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Watching lifecycle events

/// One lifecycle event: its topic without `wamp.`, the session concerned, and the second argument
/// (the id, or the details for `on_create`).
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub event: String,
    pub session: u64,
    pub arg: Value,
}

/// A session subscribed to the eight lifecycle topics (exact), skipping events of sentinels.
pub struct Watcher {
    pub c: Client,
    topics: Vec<(Id, &'static str)>,
    ignore: Vec<u64>,
}

impl Watcher {
    pub fn new(cell: Cell<'_>, on: On) -> Watcher {
        let mut c = cell.join(on, &[]);
        let topics = LIFECYCLE.iter().map(|t| (c.subscribe(t, Dict::new()), *t)).collect();
        Watcher { c, topics, ignore: Vec::new() }
    }

    /// The next lifecycle event about a session that is not a sentinel.
    pub fn next(&mut self) -> Seen {
        loop {
            let e = self.c.event();
            let topic = self.topics.iter().find(|(id, _)| *id == e.subscription).map(|(_, t)| *t);
            let topic = topic.unwrap_or_else(|| panic!("an event of an unknown subscription: {e:?}"));
            assert_eq!(e.details.get("publisher"), None, "the router publishes meta events undisclosed");
            let (args, kwargs) = values(&e.payload);
            assert_eq!(kwargs, None, "{topic} has no kwargs");
            let [session, arg] = args.as_slice() else { panic!("{topic} has two arguments, got {args:?}") };
            let session = session.as_u64().unwrap_or_else(|| panic!("{topic}: a session id, got {session:?}"));
            if !self.ignore.contains(&session) {
                let event = topic.strip_prefix("wamp.").unwrap_or(topic).to_owned();
                return Seen { event, session, arg: arg.clone() };
            }
        }
    }
}

/// Every lifecycle event each watcher gets before a sentinel subscription made on the first and
/// on the last shard. Events about one session come from its shard in order, one FIFO per pair
/// of shards, so what was announced before the sentinels is all in: nothing else came.
pub fn until_sentinels(cell: Cell<'_>, watchers: &mut [&mut Watcher]) -> Vec<Vec<Seen>> {
    let mut sentinels = Vec::new();
    for on in [On::First, On::Last] {
        let mut s = cell.join(on, &[]);
        s.subscribe(&cell.uri(&format!("sentinel.s{}", s.session)), Dict::new());
        sentinels.push(s);
    }
    let ids: Vec<u64> = sentinels.iter().map(|s| s.session.get()).collect();
    watchers
        .iter_mut()
        .map(|w| {
            let mut got = Vec::new();
            let mut pending = ids.clone();
            w.ignore.retain(|id| !ids.contains(id));
            while !pending.is_empty() {
                let seen = w.next();
                if ids.contains(&seen.session) {
                    if seen.event == "subscription.on_subscribe" {
                        pending.retain(|id| *id != seen.session);
                    }
                } else {
                    got.push(seen);
                }
            }
            w.ignore.extend(&ids);
            got
        })
        .collect()
}

/// `(event, session, id)` with the id as the second argument.
pub fn seen(event: &str, session: &Client, id: Id) -> Seen {
    Seen { event: event.into(), session: session.session.get(), arg: uint(id) }
}

/// The events about `session`, in the order they came.
pub fn about(events: &[Seen], session: &Client) -> Vec<Seen> {
    events.iter().filter(|e| e.session == session.session.get()).cloned().collect()
}

// ---------------------------------------------------------------------------------------------
// Callees of a sharded registration, each answering on its own thread

/// Callees of one shared registration, each on a thread of its own that answers every call with
/// its index, ERROR `wamp.error.unavailable` to `["busy:<its index>"]`, and returns its client
/// when `<procedure>.stop<i>` is called.
pub struct Pool {
    pub procedure: String,
    pub registration: Id,
    pub sessions: Vec<Id>,
    threads: Vec<Option<JoinHandle<Client>>>,
}

impl Pool {
    /// `n` callees of `procedure` with `invoke`, on the first and the last shard in turn.
    pub fn start(cell: Cell<'_>, procedure: &str, invoke: &str, n: usize) -> Pool {
        let mut ids = Vec::new();
        let mut pool =
            Pool { procedure: procedure.into(), registration: Id::ZERO, sessions: Vec::new(), threads: Vec::new() };
        for i in 0..n {
            let (id, session, thread) = pool_callee(cell, side(i), procedure, invoke, i);
            ids.push(id);
            pool.sessions.push(session);
            pool.threads.push(Some(thread));
        }
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "one registration id: {ids:?}");
        pool.registration = ids[0];
        pool
    }

    /// Adds callee number `len()` on `on`; every shard knows of it once this returns.
    pub fn add(&mut self, cell: Cell<'_>, on: On, invoke: &str) {
        let i = self.threads.len();
        let (id, session, thread) = pool_callee(cell, on, &self.procedure, invoke, i);
        assert_eq!(id, self.registration, "the newcomer joins the shared registration");
        self.sessions.push(session);
        self.threads.push(Some(thread));
    }

    /// Stops callee `i`'s thread through `caller` and returns its client (still registered).
    pub fn stop(&mut self, i: usize, caller: &mut Client) -> Client {
        let stop = format!("{}.stop{i}", self.procedure);
        caller.call(&stop, Payload::args(vec![Value::from("stop")]));
        match caller.recv() {
            Some(Message::Result(res)) => assert_eq!(values(&res.payload).0, vec![Value::UInt(i as u64)]),
            other => panic!("expected RESULT of {stop}, got {other:?}"),
        }
        self.threads[i].take().expect("callee thread running").join().expect("callee thread ends cleanly")
    }

    /// Stops every thread still running.
    pub fn stop_all(&mut self, caller: &mut Client) {
        for i in 0..self.threads.len() {
            if self.threads[i].is_some() {
                self.stop(i, caller);
            }
        }
    }
}

fn pool_callee(cell: Cell<'_>, on: On, procedure: &str, invoke: &str, i: usize) -> (Id, Id, JoinHandle<Client>) {
    let mut e = cell.join(on, &[]);
    let id = e.register(procedure, Dict::new().with("invoke", invoke)).unwrap();
    e.register(&format!("{procedure}.stop{i}"), Dict::new()).unwrap();
    let session = e.session;
    let busy = Value::from(format!("busy:{i}"));
    let thread = std::thread::spawn(move || loop {
        let inv = match e.recv() {
            Some(Message::Invocation(inv)) => inv,
            other => panic!("callee {i}: expected INVOCATION, got {other:?}"),
        };
        let args = values(&inv.payload).0;
        if args == [busy.clone()] {
            e.send(&Message::Error(m::Error {
                request_type: codes::INVOCATION,
                request: inv.request,
                details: Dict::new(),
                error: "wamp.error.unavailable".into(),
                payload: Payload::Empty,
            }));
            continue;
        }
        e.yield_(inv.request, Dict::new(), Payload::args(vec![Value::UInt(i as u64)]));
        if args == [Value::from("stop")] {
            return e;
        }
    });
    (id, session, thread)
}

/// `{runmode: "partition", rkey: key}`.
pub fn partition(key: &str) -> Dict {
    Dict::new().with("runmode", "partition").with("rkey", key)
}

/// The index of the pool callee that served a call to `procedure` with partition key `key`.
pub fn owner(c: &mut Client, procedure: &str, key: &str) -> usize {
    owner_of(c, procedure, key, Payload::Empty)
}

/// [`owner`], with the call's arguments.
pub fn owner_of(c: &mut Client, procedure: &str, key: &str, payload: Payload) -> usize {
    let request = c.call_with(procedure, payload, partition(key));
    match c.recv() {
        Some(Message::Result(res)) if res.request == request => match values(&res.payload).0.as_slice() {
            [Value::UInt(i)] => *i as usize,
            other => panic!("expected a callee index, got {other:?}"),
        },
        other => panic!("expected RESULT for key {key}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-written revocation notices

fn text(out: &mut Vec<u8>, ser: Serializer, s: &str) {
    assert!(s.len() < 24, "hand-written encodings of short strings only");
    let tag = if ser == Serializer::MsgPack { 0xa0 } else { 0x60 };
    out.push(tag | s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

fn number(out: &mut Vec<u8>, ser: Serializer, n: u64) {
    let (one, two, four, eight) = if ser == Serializer::MsgPack { (0xcc, 0xcd, 0xce, 0xcf) } else { (24, 25, 26, 27) };
    let small = if ser == Serializer::MsgPack { 0x80 } else { 24 };
    if n < small {
        out.push(n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[one, n as u8]);
    } else if n <= 0xffff {
        out.push(two);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(four);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(eight);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// `[code, 0, {what: id, "reason": reason}]` (no `reason` key when `None`) in `ser`, written by
/// hand (smallest integer forms), independent of the project's codec: the UNSUBSCRIBED (35) or
/// UNREGISTERED (67) a revoked session that announced the feature gets.
pub fn revocation_wire(ser: Serializer, code: u64, what: &str, id: Id, reason: Option<&str>) -> Vec<u8> {
    if ser == Serializer::Json {
        let reason = reason.map(|r| format!(r#","reason":"{r}""#)).unwrap_or_default();
        return format!(r#"[{code},0,{{"{what}":{id}{reason}}}]"#).into_bytes();
    }
    let (array, map) = if ser == Serializer::MsgPack { (0x93u8, 0x80u8) } else { (0x83, 0xa0) };
    let mut out = vec![array];
    number(&mut out, ser, code);
    out.push(0);
    let entries = if reason.is_some() { 2 } else { 1 };
    out.push(map | entries);
    text(&mut out, ser, what);
    number(&mut out, ser, id.get());
    if let Some(reason) = reason {
        text(&mut out, ser, "reason");
        text(&mut out, ser, reason);
    }
    out
}

/// A call every shard answers (`wamp.session.count`): once it returns, `c`'s shard has processed
/// everything the other shards sent it before (one FIFO per pair of shards), such as a leave
/// that reached a home shard living there.
pub fn sync(c: &mut Client) {
    one(c, "wamp.session.count", Vec::new());
}
