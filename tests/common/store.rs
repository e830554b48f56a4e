//! Helpers of the retained-event and event-history tests (`retention.rs`): routers of one, two
//! and three shards with a port per shard and `[[realm.history]]` rules per test and matrix cell,
//! routers of their own with small store limits, topics chosen by the shard that keeps them,
//! get_retained subscriptions whose retained events are proven complete by a sentinel, and
//! `wamp.subscription.get_events`.
//!
//! Where things are kept is computed with the router's own `home_shard` (realm1 is the first
//! realm of every configuration here, index 0), so each test can put the publisher, the reader
//! and the keeping shard on different shards when there are three.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use wampyard::codec::{Payload, Serializer};
use wampyard::config::Config;
use wampyard::router::home_shard;
use wampyard::shard::{BoundAddr, Server};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Id, MatchPolicy, Message, Value};

use super::*;

/// The realm of every test; first in the configuration, so its index is 0.
pub const REALM: &str = "realm1";
/// A second realm, to show that what one realm keeps is not seen in another.
pub const OTHER_REALM: &str = "realm2";
pub const GET_EVENTS: &str = "wamp.subscription.get_events";
pub const NO_SUCH_SUBSCRIPTION: &str = "wamp.error.no_such_subscription";

/// The `[[realm.history]]` rules of the shared routers: (test, match, limit); each matrix cell
/// gets its own rule topic ([`rule_topic`]).
pub const HISTORY_RULES: [(&str, &str, usize); 5] = [
    ("order", "exact", 5),
    ("prefix", "prefix", 100),
    ("wild", "wildcard", 100),
    ("lists", "exact", 100),
    ("bad", "exact", 10),
];

/// A matrix cell as a URI fragment: `rawtcp.json`.
pub fn cell(kind: Kind, ser: Serializer) -> String {
    format!("{}.{}", format!("{kind:?}").to_lowercase(), ser.name())
}

/// The topic of history rule `test` in one matrix cell (a wildcard rule ends in `..x`).
pub fn rule_topic(test: &str, kind: Kind, ser: Serializer) -> String {
    let (_, policy, _) = HISTORY_RULES.iter().find(|r| r.0 == test).unwrap_or_else(|| panic!("no rule {test}"));
    let stem = format!("com.hist.{test}.{}", cell(kind, ser));
    if *policy == "wildcard" {
        format!("{stem}..x")
    } else {
        stem
    }
}

/// A router whose every shard has a port of its own.
pub struct StoreRouter {
    /// Port `any` reaches every shard; holds the server.
    whole: TestRouter,
    /// One view per shard: every port of view `i` reaches shard `i` only.
    views: Vec<TestRouter>,
}

impl StoreRouter {
    pub fn shards(&self) -> usize {
        self.views.len()
    }

    /// The router as seen from shard `shard`: join it with `On::First` (or any `On`).
    pub fn at(&self, shard: usize) -> &TestRouter {
        &self.views[shard]
    }

    /// The shard that keeps what is homed at (`uri`, `policy`) in realm1.
    pub fn home(&self, uri: &str, policy: MatchPolicy) -> usize {
        home_shard(0, uri, policy, self.shards())
    }

    /// `{base}{i}` for the first `i` whose retained event shard `shard` keeps.
    pub fn topic_on(&self, base: &str, shard: usize) -> String {
        self.topic_on_with(|i| format!("{base}{i}"), shard)
    }

    /// `make(i)` for the first `i` whose retained event shard `shard` keeps.
    pub fn topic_on_with(&self, make: impl Fn(usize) -> String, shard: usize) -> String {
        (0..1000).map(make).find(|t| self.home(t, MatchPolicy::Exact) == shard).expect("a topic homed on the shard")
    }

    /// Where a publisher and a reader of what `home` keeps sit: the two shards after it, so all
    /// three differ when there are three shards, and both are remote to it with two.
    pub fn around(&self, home: usize) -> (usize, usize) {
        let n = self.shards();
        ((home + 1) % n, (home + 2) % n)
    }

    /// Joins realm1 on `shard` with every client role.
    pub fn join(&self, shard: usize, kind: Kind, ser: Serializer) -> Client {
        Client::join(self.at(shard), On::First, kind, ser)
    }

    /// [`StoreRouter::join`], sending `authid` in HELLO.
    pub fn join_as(&self, shard: usize, kind: Kind, ser: Serializer, authid: Option<&str>) -> Client {
        meta::join_as(self.at(shard), On::First, kind, ser, REALM, authid)
    }

    /// Joins `realm` on `shard`.
    pub fn join_realm(&self, shard: usize, kind: Kind, ser: Serializer, realm: &str) -> Client {
        meta::join_as(self.at(shard), On::First, kind, ser, realm, None)
    }
}

impl Drop for StoreRouter {
    fn drop(&mut self) {
        if let Some(server) = self.whole._server.take() {
            server.shutdown();
            let _ = server.join();
            let _ = std::fs::remove_file(&self.whole.unix);
        }
    }
}

fn start_store(shards: usize, limits: &str, history: bool) -> StoreRouter {
    static STARTED: AtomicU64 = AtomicU64::new(0);
    let n = STARTED.fetch_add(1, Ordering::Relaxed);
    let unix = std::env::temp_dir().join(format!("wampyard-store-{}-{n}.sock", std::process::id()));
    let mut toml = format!(
        "[router]\nshards = {shards}\npin = false\nshutdown_timeout_ms = 1000\n\n\
         [limits]\nmax_calls_per_session = {MAX_CALLS_PER_SESSION}\n{limits}\n\n[[listener]]\nport = 0\n"
    );
    for shard in 0..shards {
        toml.push_str(&format!("\n[[listener]]\nport = 0\nshards = [{shard}]\n"));
    }
    toml.push_str(&format!("\n[[listener]]\nunix = \"{}\"\n\n[[realm]]\nname = \"{REALM}\"\n", unix.display()));
    if history {
        for kind in KINDS {
            for ser in Serializer::ALL {
                for (test, policy, limit) in HISTORY_RULES {
                    let topic = rule_topic(test, kind, ser);
                    toml.push_str(&format!(
                        "\n[[realm.history]]\ntopic = \"{topic}\"\nmatch = \"{policy}\"\nlimit = {limit}\n"
                    ));
                }
            }
        }
    }
    toml.push_str(&format!("\n[[realm]]\nname = \"{OTHER_REALM}\"\n"));
    let config = Config::from_toml_str(&toml).expect("test configuration");
    let server = Server::start(&config).expect("router starts");
    let port = |i: usize| match &server.addrs()[i] {
        BoundAddr::Tcp(a) => a.port(),
        other => panic!("expected TCP, got {other:?}"),
    };
    let view =
        |p: u16| TestRouter { port_any: p, port_first: p, port_last: p, unix: unix.clone(), shards, _server: None };
    let views = (0..shards).map(|s| view(port(1 + s))).collect();
    let whole = TestRouter {
        port_any: port(0),
        port_first: port(1),
        port_last: port(shards),
        unix: unix.clone(),
        shards,
        _server: Some(server),
    };
    StoreRouter { whole, views }
}

/// The shared routers of `retention.rs`, one, two and three shards, with the history rules.
pub fn store_routers() -> [&'static StoreRouter; 3] {
    static R: [OnceLock<StoreRouter>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    [0, 1, 2].map(|i| R[i].get_or_init(|| start_store(i + 1, "", true)))
}

/// A router of the calling test alone, with `limits` (lines of the `[limits]` table) and no
/// history rules; it stops when dropped.
pub fn own_router(shards: usize, limits: &str) -> StoreRouter {
    start_store(shards, limits, false)
}

/// Runs `f` for every router x transport x serializer, each cell on its own named thread (the
/// cells use URIs and history rules of their own).
pub fn store_matrix(f: impl Fn(&StoreRouter, Kind, Serializer) + Sync) {
    let f = &f;
    let routers = store_routers();
    std::thread::scope(|s| {
        for r in routers {
            for kind in KINDS {
                for ser in Serializer::ALL {
                    let name = format!("{kind:?}-{}-{}shard", ser.name(), r.shards());
                    std::thread::Builder::new().name(name).spawn_scoped(s, move || f(r, kind, ser)).unwrap();
                }
            }
        }
    });
}

/// `{retain: true}`.
pub fn retain() -> Dict {
    Dict::new().with("retain", true)
}

/// `{get_retained: true}`.
pub fn get_retained() -> Dict {
    Dict::new().with("get_retained", true)
}

/// `{get_retained: true, match: policy}`.
pub fn get_retained_matching(policy: &str) -> Dict {
    get_retained().with("match", policy)
}

/// Sends SUBSCRIBE; the next message must be its SUBSCRIBED.
pub fn subscribe_only(c: &mut Client, topic: &str, options: Dict) -> Id {
    let request = c.request();
    c.send(&Message::Subscribe(m::Subscribe { request, options, topic: topic.into() }));
    match c.recv() {
        Some(Message::Subscribed(s)) if s.request == request => s.subscription,
        other => panic!("expected SUBSCRIBED for {topic}, got {other:?}"),
    }
}

/// Subscribes `c` to `topic` with `options` and returns the subscription and every EVENT of it
/// that arrived before a sentinel (see [`retained_until_sentinel`]): with `get_retained`, all of
/// its retained events.
pub fn subscribe_and_collect(c: &mut Client, topic: &str, options: Dict) -> (Id, Vec<m::Event>) {
    let subscription = subscribe_only(c, topic, options);
    let events = retained_until_sentinel(c, &[subscription]);
    (subscription, events)
}

/// Proves that `c` has got every retained EVENT its earlier get_retained subscriptions asked for,
/// and returns those of the subscriptions in `keep`, in arrival order (any other message fails).
///
/// The sentinel is a `wamp.session.count` call, which asks every shard: each shard answers an
/// earlier question (the retained events a subscription asked for, sent when its SUBSCRIBED was
/// queued) before a later one (one FIFO per pair of shards), so the count's RESULT, sent once
/// every shard answered, comes after those events. Nothing is stored for it, so it also works on
/// a router whose store is full.
pub fn retained_until_sentinel(c: &mut Client, keep: &[Id]) -> Vec<m::Event> {
    let request = c.call("wamp.session.count", Payload::Empty);
    let mut got = Vec::new();
    loop {
        match c.recv() {
            Some(Message::Event(e)) if keep.contains(&e.subscription) => got.push(e),
            Some(Message::Result(r)) if r.request == request => return got,
            other => panic!("expected EVENTs of {keep:?}, then the sentinel's RESULT, got {other:?}"),
        }
    }
}

/// (tag, publication) of each event.
pub fn tagged(events: &[m::Event]) -> Vec<(String, Id)> {
    events.iter().map(|e| (pubsub::tag_of(e), e.publication)).collect()
}

/// The tags of events, sorted.
pub fn sorted_tags(events: &[m::Event]) -> Vec<String> {
    let mut v: Vec<String> = events.iter().map(pubsub::tag_of).collect();
    v.sort();
    v
}

/// Publishes `[tag]` with `kwargs` and `options`, acknowledged; returns the publication id.
pub fn publish_event(c: &mut Client, topic: &str, options: Dict, tag: &str, kwargs: Dict) -> Id {
    let payload = Payload::Values { args: vec![Value::from(tag)], kwargs: Some(kwargs) };
    let request = c.publish(topic, options.with("acknowledge", true), payload);
    match c.recv() {
        Some(Message::Published(p)) if p.request == request => p.publication,
        other => panic!("expected PUBLISHED for {tag}, got {other:?}"),
    }
}

/// `get_events(subscription, **named)`: the events, or the ERROR's URI.
pub fn try_get_events(c: &mut Client, subscription: Id, named: Dict) -> Result<Vec<Dict>, String> {
    let named = if named.is_empty() { None } else { Some(named) };
    let payload = Payload::Values { args: vec![Value::UInt(subscription.get())], kwargs: named };
    let (args, kwargs) = meta::meta(c, GET_EVENTS, payload)?;
    assert_eq!(kwargs, None, "get_events answers with no kwargs");
    Ok(entries(&args))
}

/// `get_events` that must succeed.
pub fn get_events(c: &mut Client, subscription: Id, named: Dict) -> Vec<Dict> {
    try_get_events(c, subscription, named).unwrap_or_else(|e| panic!("get_events failed: {e}"))
}

/// `[[entry, ...]]` as the entries.
pub fn entries(answer: &[Value]) -> Vec<Dict> {
    let [Value::List(l)] = answer else { panic!("get_events answers [[events]], got {answer:?}") };
    l.iter().map(|v| v.as_dict().cloned().unwrap_or_else(|| panic!("an event is a dict, got {v:?}"))).collect()
}

/// The first argument of each history entry.
pub fn entry_tags(entries: &[Dict]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            let args = e.get("args").and_then(Value::as_list).unwrap_or_else(|| panic!("args in {e:?}"));
            args.first().and_then(Value::as_str).unwrap_or_default().to_owned()
        })
        .collect()
}

/// The `timestamp` of a history entry, parsed as RFC 3339.
pub fn timestamp(entry: &Dict) -> time::OffsetDateTime {
    let text = entry.get_str("timestamp").unwrap_or_else(|| panic!("timestamp in {entry:?}"));
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("timestamp {text:?} is not RFC 3339: {e}"))
}

/// An instant written as RFC 3339 in `offset_hours` from UTC.
pub fn rfc3339_at(t: time::OffsetDateTime, offset_hours: i8) -> String {
    let offset = time::UtcOffset::from_hms(offset_hours, 0, 0).unwrap();
    t.to_offset(offset).format(&time::format_description::well_known::Rfc3339).unwrap()
}

/// `[EVENT, subscription, publication, {details..., "retained": true}, [arg]]` in `ser`, written
/// by hand ([`pubsub::event_wire`] with the flag's value turned into `true`).
pub fn retained_event_wire(
    ser: Serializer,
    subscription: Id,
    publication: Id,
    details: &[(&str, pubsub::W<'_>)],
    arg: &str,
) -> Vec<u8> {
    let mut all = details.to_vec();
    all.push(("retained", pubsub::W::U(1)));
    let mut wire = pubsub::event_wire(ser, subscription, publication, &all, arg);
    let (key, truth): (Vec<u8>, &[u8]) = match ser {
        Serializer::Json => (b"\"retained\":".to_vec(), b"true"),
        Serializer::MsgPack => ([&[0xa8u8][..], b"retained"].concat(), &[0xc3]),
        Serializer::Cbor => ([&[0x68u8][..], b"retained"].concat(), &[0xf5]),
    };
    let at = wire.windows(key.len()).position(|w| w == key.as_slice()).expect("the retained key") + key.len();
    assert_eq!(wire[at], if ser == Serializer::Json { b'1' } else { 0x01 });
    wire.splice(at..at + 1, truth.iter().copied());
    wire
}

/// `WELCOME.Details.roles.broker.features`.
pub fn broker_features(details: &Dict) -> Dict {
    details
        .get("roles")
        .and_then(Value::as_dict)
        .and_then(|d| d.get("broker"))
        .and_then(Value::as_dict)
        .and_then(|d| d.get("features"))
        .and_then(Value::as_dict)
        .cloned()
        .expect("WELCOME.Details.roles.broker.features")
}
