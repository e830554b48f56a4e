//! The typed, validated configuration: TOML in, [`Config`] out, every default a named constant.
//!
//! Owns: the file format (see `tuning/wampyard.example.toml`), defaults, and validation with
//! errors that name the offending key. Never: opening sockets, spawning shards, or reading
//! anything but the one file it is given.
//!
//! Parsing is two steps: serde reads the file into private raw structs that mirror it (unknown
//! keys rejected), then a conversion turns names into types and fills in defaults, and
//! [`Config::validate`] checks the values and how they fit together.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod auth;

pub use auth::{
    wampcra_key, Action, Actions, AnonymousAuth, CryptosignAuth, CryptosignPrincipal, ListenerAuth, Permission,
    RoleConfig, Salting, Secret, TicketAuth, TicketPrincipal, WampcraAuth, WampcraPrincipal, DEFAULT_ANONYMOUS_ROLE,
    DEFAULT_WAMPCRA_ITERATIONS, DEFAULT_WAMPCRA_KEYLEN, MAX_WAMPCRA_ITERATIONS,
};

use crate::codec::Serializer;
use crate::wamp::uri::{is_reserved, is_valid_pattern, is_valid_uri};
use crate::wamp::{MatchPolicy, UriCheck};

/// Graceful shutdown deadline: long enough for clients to receive GOODBYE and close, short
/// enough that a restart is not held up by a stuck peer.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(5_000);

/// How long an idle shard spins before it parks, by default: not at all. Spinning keeps a core
/// busy, and on a 2-vCPU VM it helped round trips only when the clients slept between messages
/// (RPC p50 120 -> 96 µs) and hurt when they did not (40 -> 53 µs): the spinning vCPUs compete
/// on the host. Worth measuring on a dedicated host with spare cores.
pub const DEFAULT_SPIN_BEFORE_PARK: Duration = Duration::ZERO;

/// Largest message by default: 1 MiB covers ordinary RPC and event payloads while bounding the
/// memory one peer can make a shard buffer.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 20;

/// Smallest allowed `max_message_size`: RawSocket's smallest negotiable length (2^9 bytes).
pub const MIN_MAX_MESSAGE_SIZE: usize = 1 << 9;

/// Largest allowed `max_message_size`: RawSocket's largest negotiable length (2^24 bytes), so
/// both transports can carry any message the router accepts.
pub const MAX_MAX_MESSAGE_SIZE: usize = 1 << 24;

/// Time a new connection gets to finish the transport handshake and send HELLO: generous for
/// slow links, short enough that idle sockets cannot pile up.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(5_000);

/// Outgoing bytes queued per connection before events to it are dropped: 16 MiB absorbs bursts
/// of a fast publisher without letting one slow consumer hold unbounded memory.
pub const DEFAULT_OUTBOX_MAX_BYTES: usize = 16 << 20;

/// Messages a shard's cross-shard inbox holds: enough to ride out bursts, small enough that a
/// stalled shard pushes back on the others quickly.
pub const DEFAULT_SHARD_INBOX_CAPACITY: usize = 4096;

/// Calls one session may have in flight as caller by default. A backend that multiplexes its
/// calls over one session keeps rate x latency in flight, and the hosts the router runs on stall
/// now and then: at 220k calls/s an open-loop caller went past 10,000 in flight during a stall
/// of the development VM (measured), 65,536 rides out 200 ms at 300k calls/s. The records of
/// that many calls take about as much memory as one outbox's budget (16 MiB).
pub const DEFAULT_MAX_CALLS_PER_SESSION: usize = 65_536;

/// Invocations one callee session may owe answers for by default: the same bound on the callee
/// side, for a callee that never answers (or answers slower than it is called).
pub const DEFAULT_MAX_INVOCATIONS_PER_SESSION: usize = 65_536;

/// Retained events (one per topic, `PUBLISH.Options.retain`) one shard keeps by default. Each
/// shard keeps those of the topics homed on it, so the router keeps this many per shard; past it
/// a retained event for a new topic is not kept (the topic's older one is still replaced).
pub const DEFAULT_RETAINED_MAX_EVENTS: usize = 10_000;

/// Bytes of retained payloads one shard keeps by default: with the count above, room for 1.6 KiB
/// per retained event on average, a typical status or reading.
pub const DEFAULT_RETAINED_MAX_BYTES: usize = 16 << 20;

/// Failed logins one peer address may have within [`DEFAULT_LOGIN_FAILURE_WINDOW`] before the
/// router slows its next ones down: enough for a user mistyping, too few for guessing.
pub const DEFAULT_LOGIN_FAILURES_FREE: u32 = 5;

/// How long a peer address's failed logins are remembered.
pub const DEFAULT_LOGIN_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// The longest a failed login's ABORT is held back. Past the free failures the delay doubles
/// from a quarter second with each failure up to this.
pub const DEFAULT_LOGIN_FAILURE_MAX_DELAY: Duration = Duration::from_millis(5_000);

/// The largest `limit` of an event history rule: each stored event keeps its payload, so a rule
/// costs up to `limit` x `max_message_size` bytes.
pub const MAX_HISTORY_LIMIT: usize = 100_000;

/// Default listen address: loopback, so an unconfigured router is not exposed to the network.
pub const DEFAULT_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Default TCP port: the one WAMP examples and clients (Crossbar, Autobahn) conventionally use.
pub const DEFAULT_PORT: u16 = 8080;

/// Default realm: the name WAMP examples and client libraries use.
pub const DEFAULT_REALM: &str = "realm1";

/// Longest Unix socket path: `sun_path` is 108 bytes on Linux, one of them the terminating NUL.
pub const MAX_UNIX_PATH_LEN: usize = 107;

/// A configuration error; each names the file, the TOML problem, or the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the expected shape (including unknown keys).
    #[error("{0}")]
    Parse(String),
    /// A value is out of range or does not fit with others.
    #[error("invalid `{key}`: {reason}")]
    Invalid {
        /// The key, as a path: `limits.max_message_size`, `listener[0].port` (zero-based).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), reason: reason.into() }
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Shards and their CPUs (`[router]`).
    pub router: RouterConfig,
    /// Sizes and timeouts (`[limits]`).
    pub limits: Limits,
    /// Where clients connect (`[[listener]]`); never empty.
    pub listeners: Vec<ListenerConfig>,
    /// The realms served (`[[realm]]`); never empty.
    pub realms: Vec<RealmConfig>,
}

/// Shards and their CPUs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterConfig {
    /// Number of shards; `None`: the length of `cpus` if set, else the number of online CPUs.
    pub shards: Option<usize>,
    /// CPUs to pin the shards to, in shard order; `None`: shard `i` on CPU `i`.
    pub cpus: Option<Vec<usize>>,
    /// Whether shards are pinned to CPUs at all.
    pub pin: bool,
    /// How long a graceful shutdown waits for sessions to close.
    pub shutdown_timeout: Duration,
    /// How long an idle shard busy-polls before it parks (zero: park at once).
    pub spin_before_park: Duration,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            shards: None,
            cpus: None,
            pin: true,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            spin_before_park: DEFAULT_SPIN_BEFORE_PARK,
        }
    }
}

/// Sizes and timeouts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted or sent, in bytes.
    pub max_message_size: usize,
    /// Time a connection has for the transport handshake and HELLO.
    pub handshake_timeout: Duration,
    /// Outgoing bytes queued per connection before events to it are dropped.
    pub outbox_max_bytes: usize,
    /// Capacity of each shard's cross-shard inbox, in messages.
    pub shard_inbox_capacity: usize,
    /// Calls a session may have in flight as caller; past it a CALL gets an ERROR.
    pub max_calls_per_session: usize,
    /// Invocations a callee session may owe; past it further calls to it get an ERROR.
    pub max_invocations_per_session: usize,
    /// Retained events one shard keeps (see [`DEFAULT_RETAINED_MAX_EVENTS`]).
    pub retained_max_events: usize,
    /// Bytes of retained payloads one shard keeps (see [`DEFAULT_RETAINED_MAX_BYTES`]).
    pub retained_max_bytes: usize,
    /// Failed logins per peer address and window answered at once
    /// (see [`DEFAULT_LOGIN_FAILURES_FREE`]).
    pub login_failures_free: u32,
    /// How long failed logins are remembered (see [`DEFAULT_LOGIN_FAILURE_WINDOW`]).
    pub login_failure_window: Duration,
    /// The longest a failed login's ABORT is held back (see [`DEFAULT_LOGIN_FAILURE_MAX_DELAY`]).
    pub login_failure_max_delay: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            outbox_max_bytes: DEFAULT_OUTBOX_MAX_BYTES,
            shard_inbox_capacity: DEFAULT_SHARD_INBOX_CAPACITY,
            max_calls_per_session: DEFAULT_MAX_CALLS_PER_SESSION,
            max_invocations_per_session: DEFAULT_MAX_INVOCATIONS_PER_SESSION,
            retained_max_events: DEFAULT_RETAINED_MAX_EVENTS,
            retained_max_bytes: DEFAULT_RETAINED_MAX_BYTES,
            login_failures_free: DEFAULT_LOGIN_FAILURES_FREE,
            login_failure_window: DEFAULT_LOGIN_FAILURE_WINDOW,
            login_failure_max_delay: DEFAULT_LOGIN_FAILURE_MAX_DELAY,
        }
    }
}

/// One place clients connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// The socket address.
    pub endpoint: Endpoint,
    /// The transports spoken there (chosen per connection from its first bytes).
    pub transports: Transports,
    /// The serializers offered there, in the order listed; never empty, no duplicates.
    pub serializers: Vec<Serializer>,
    /// TCP: the shards that accept on this listener (`None`: every shard). Unix: the shards the
    /// listener's acceptor thread hands connections to, round-robin (`None`: every shard).
    pub shards: Option<Vec<usize>>,
    /// The authentication methods accepted here (`[listener.auth]`).
    pub auth: ListenerAuth,
    /// The web pages whose scripts may open a WebSocket here (`allowed_origins`).
    pub allowed_origins: AllowedOrigins,
}

/// Which browser pages may open a WebSocket on a listener, judged by the upgrade request's
/// `Origin` header. A client that sends no `Origin` (anything but a browser) is always allowed:
/// the header only stops a page in a browser from reaching a router it was not meant to reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// Pages served from the router's own host and port (the `Origin` names the `Host` the
    /// request was sent to): the default, so a page from elsewhere cannot reach a loopback router.
    #[default]
    SameHost,
    /// Every page (`allowed_origins = ["*"]`).
    Any,
    /// Exactly these origins (`scheme://host[:port]`).
    List(Vec<String>),
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            endpoint: Endpoint::Tcp { address: DEFAULT_ADDRESS, port: DEFAULT_PORT },
            transports: Transports::default(),
            serializers: Serializer::ALL.to_vec(),
            shards: None,
            auth: ListenerAuth::default(),
            allowed_origins: AllowedOrigins::SameHost,
        }
    }
}

/// A listener's socket address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A TCP address; port 0 picks a free port.
    Tcp {
        /// The address to bind.
        address: IpAddr,
        /// The port to bind.
        port: u16,
    },
    /// A Unix domain socket.
    Unix {
        /// The socket's path.
        path: PathBuf,
    },
}

/// The transports a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transports {
    /// WAMP over WebSocket.
    pub websocket: bool,
    /// WAMP over RawSocket.
    pub rawsocket: bool,
}

impl Default for Transports {
    fn default() -> Self {
        Transports { websocket: true, rawsocket: true }
    }
}

/// One realm the router serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealmConfig {
    /// The realm's URI.
    pub name: String,
    /// How strictly URIs in this realm are checked.
    pub uri_check: UriCheck,
    /// Whether clients must number their requests 1, 2, 3, ... as the newer spec text says
    /// (a gap is a protocol violation). Off by default: older clients send random ids.
    pub sequential_request_ids: bool,
    /// Topics whose last events are kept for `wamp.subscription.get_events` (`[[realm.history]]`).
    pub history: Vec<HistoryRule>,
    /// The realm's roles (`[[realm.role]]`). None: an open realm, where every session may do
    /// everything (the embedded default); with roles, a session's role must be one of them and
    /// its permissions decide each action.
    pub roles: Vec<RoleConfig>,
}

/// One `[[realm.history]]` rule: events published to topics matching (`topic`, `policy`) are
/// kept, the last `limit` of them, for the subscription of exactly that topic and policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRule {
    /// The topic or pattern.
    pub topic: String,
    /// How `topic` matches (`match` in the file; exact by default).
    pub policy: MatchPolicy,
    /// How many events are kept (at most [`MAX_HISTORY_LIMIT`]).
    pub limit: usize,
}

impl Default for RealmConfig {
    fn default() -> Self {
        RealmConfig {
            name: DEFAULT_REALM.to_string(),
            uri_check: UriCheck::default(),
            sequential_request_ids: false,
            history: Vec::new(),
            roles: Vec::new(),
        }
    }
}

/// The number of CPUs this process may run on (at least 1).
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

impl Default for Config {
    /// The embedded default: what an empty file (or no file) means.
    fn default() -> Self {
        Config {
            router: RouterConfig::default(),
            limits: Limits::default(),
            listeners: vec![ListenerConfig::default()],
            realms: vec![RealmConfig::default()],
        }
    }
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
        Config::from_toml_str(&text).map_err(|err| match err {
            ConfigError::Parse(message) => ConfigError::Parse(format!("{}: {message}", path.display())),
            other => other,
        })
    }

    /// Parses and validates a configuration, checking shard numbers against [`online_cpus`].
    pub fn from_toml_str(s: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str_for(s, online_cpus())
    }

    fn from_toml_str_for(s: &str, online_cpus: usize) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            toml::from_str(s).map_err(|err| ConfigError::Parse(err.to_string().trim_end().to_string()))?;
        let config = raw.into_config()?;
        config.validate(online_cpus)?;
        Ok(config)
    }

    /// The number of shards and the CPU of each (`None` if `pin = false`) on a machine with
    /// `online_cpus` CPUs. Shards: `router.shards`, else the length of `router.cpus`, else
    /// `online_cpus`. CPUs: the first `shards` entries of `router.cpus`, else shard `i` on CPU
    /// `i % online_cpus` (shards share CPUs round-robin when there are more shards than CPUs).
    pub fn resolve_shards(&self, online_cpus: usize) -> (usize, Option<Vec<usize>>) {
        let online_cpus = online_cpus.max(1);
        let router = &self.router;
        let shards = router.shards.or(router.cpus.as_ref().map(Vec::len)).unwrap_or(online_cpus);
        if !router.pin {
            return (shards, None);
        }
        let cpus = match &router.cpus {
            Some(cpus) => cpus.iter().copied().take(shards).collect(),
            None => (0..shards).map(|shard| shard % online_cpus).collect(),
        };
        (shards, Some(cpus))
    }

    /// Checks every value and how they fit together; shard numbers are checked against the
    /// shard count [`Config::resolve_shards`] gives for `online_cpus`. Run again after changing
    /// a loaded configuration (for example from command-line flags).
    pub fn validate(&self, online_cpus: usize) -> Result<(), ConfigError> {
        self.validate_router()?;
        self.limits.validate()?;
        let (shards, _) = self.resolve_shards(online_cpus);
        if self.listeners.is_empty() {
            return Err(invalid("listener", "at least one listener is needed"));
        }
        let mut endpoints = HashSet::new();
        for (at, listener) in self.listeners.iter().enumerate() {
            listener.validate(&format!("listener[{at}]"), shards)?;
            let shared_port = matches!(listener.endpoint, Endpoint::Tcp { port: 0, .. });
            if !shared_port && !endpoints.insert(&listener.endpoint) {
                return Err(invalid(format!("listener[{at}]"), "the same address as an earlier listener"));
            }
        }
        validate_realms(&self.realms)?;
        for (at, listener) in self.listeners.iter().enumerate() {
            auth::validate_auth(&format!("listener[{at}]"), &listener.auth, &self.realms)?;
        }
        Ok(())
    }

    fn validate_router(&self) -> Result<(), ConfigError> {
        let router = &self.router;
        if router.shards == Some(0) {
            return Err(invalid("router.shards", "must be at least 1"));
        }
        let Some(cpus) = &router.cpus else {
            return Ok(());
        };
        if !router.pin {
            return Err(invalid("router.cpus", "set while `router.pin = false`; remove one of them"));
        }
        if cpus.is_empty() {
            return Err(invalid("router.cpus", "must list at least one CPU"));
        }
        if let Some(shards) = router.shards {
            if cpus.len() < shards {
                return Err(invalid(
                    "router.cpus",
                    format!("lists {} CPUs for {shards} shards; it needs one per shard", cpus.len()),
                ));
            }
        }
        if let Some(cpu) = first_duplicate(cpus) {
            return Err(invalid("router.cpus", format!("CPU {cpu} is listed twice")));
        }
        Ok(())
    }
}

impl Limits {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_MAX_MESSAGE_SIZE..=MAX_MAX_MESSAGE_SIZE).contains(&self.max_message_size) {
            return Err(invalid(
                "limits.max_message_size",
                format!(
                    "must be {MIN_MAX_MESSAGE_SIZE} ..= {MAX_MAX_MESSAGE_SIZE} bytes (what RawSocket can \
                     negotiate), got {}",
                    self.max_message_size
                ),
            ));
        }
        if self.handshake_timeout.is_zero() {
            return Err(invalid("limits.handshake_timeout_ms", "must be at least 1"));
        }
        if self.outbox_max_bytes < self.max_message_size {
            return Err(invalid(
                "limits.outbox_max_bytes",
                format!(
                    "must be at least `limits.max_message_size` ({}), or no message of that size could \
                     ever be queued, got {}",
                    self.max_message_size, self.outbox_max_bytes
                ),
            ));
        }
        if self.shard_inbox_capacity == 0 {
            return Err(invalid("limits.shard_inbox_capacity", "must be at least 1"));
        }
        if self.max_calls_per_session == 0 {
            return Err(invalid("limits.max_calls_per_session", "must be at least 1"));
        }
        if self.max_invocations_per_session == 0 {
            return Err(invalid("limits.max_invocations_per_session", "must be at least 1"));
        }
        if self.retained_max_bytes < self.max_message_size {
            return Err(invalid(
                "limits.retained_max_bytes",
                format!("must be at least `limits.max_message_size` ({})", self.max_message_size),
            ));
        }
        Ok(())
    }
}

impl ListenerConfig {
    fn validate(&self, key: &str, shards: usize) -> Result<(), ConfigError> {
        if let Endpoint::Unix { path } = &self.endpoint {
            let len = path.as_os_str().len();
            if len == 0 || len > MAX_UNIX_PATH_LEN {
                return Err(invalid(
                    format!("{key}.unix"),
                    format!("the path must be 1 ..= {MAX_UNIX_PATH_LEN} bytes, got {len}"),
                ));
            }
        }
        if !self.transports.websocket && !self.transports.rawsocket {
            return Err(invalid(format!("{key}.transports"), "must list at least one transport"));
        }
        if self.serializers.is_empty() {
            return Err(invalid(format!("{key}.serializers"), "must list at least one serializer"));
        }
        if let Some(serializer) = first_duplicate(&self.serializers) {
            return Err(invalid(format!("{key}.serializers"), format!("`{serializer}` is listed twice")));
        }
        let Some(listed) = &self.shards else {
            return Ok(());
        };
        if listed.is_empty() {
            return Err(invalid(format!("{key}.shards"), "must list at least one shard"));
        }
        if let Some(&shard) = listed.iter().find(|&&shard| shard >= shards) {
            return Err(invalid(
                format!("{key}.shards"),
                format!("shard {shard} does not exist; there are {shards} shards (0 ..= {})", shards - 1),
            ));
        }
        if let Some(shard) = first_duplicate(listed) {
            return Err(invalid(format!("{key}.shards"), format!("shard {shard} is listed twice")));
        }
        Ok(())
    }
}

fn validate_realms(realms: &[RealmConfig]) -> Result<(), ConfigError> {
    if realms.is_empty() {
        return Err(invalid("realm", "at least one realm is needed"));
    }
    let mut names = HashSet::new();
    for (at, realm) in realms.iter().enumerate() {
        let key = format!("realm[{at}].name");
        if !is_valid_uri(&realm.name, UriCheck::Loose) {
            return Err(invalid(
                key,
                format!(
                    "`{}` is not a valid URI (non-empty components separated by `.`, without `#` or \
                     whitespace)",
                    realm.name
                ),
            ));
        }
        if !names.insert(realm.name.as_str()) {
            return Err(invalid(key, format!("realm `{}` is configured twice", realm.name)));
        }
        auth::validate_roles(at, realm)?;
        for (i, rule) in realm.history.iter().enumerate() {
            if !is_valid_pattern(&rule.topic, rule.policy, realm.uri_check) || is_reserved(&rule.topic) {
                let why = format!("`{}` is not a topic pattern of match `{}`", rule.topic, rule.policy.as_str());
                return Err(invalid(format!("realm[{at}].history[{i}].topic"), why));
            }
            if !(1..=MAX_HISTORY_LIMIT).contains(&rule.limit) {
                let why = format!("must be between 1 and {MAX_HISTORY_LIMIT}");
                return Err(invalid(format!("realm[{at}].history[{i}].limit"), why));
            }
        }
    }
    Ok(())
}

fn first_duplicate<T: Eq + std::hash::Hash + Copy>(items: &[T]) -> Option<T> {
    let mut seen = HashSet::new();
    items.iter().copied().find(|item| !seen.insert(*item))
}

/// The file as written, before names are parsed and defaults applied.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    router: RawRouter,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    listener: Vec<RawListener>,
    #[serde(default)]
    realm: Vec<RawRealm>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouter {
    shards: Option<usize>,
    cpus: Option<Vec<usize>>,
    pin: Option<bool>,
    shutdown_timeout_ms: Option<u64>,
    spin_before_park_us: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_message_size: Option<usize>,
    handshake_timeout_ms: Option<u64>,
    outbox_max_bytes: Option<usize>,
    shard_inbox_capacity: Option<usize>,
    max_calls_per_session: Option<usize>,
    max_invocations_per_session: Option<usize>,
    retained_max_events: Option<usize>,
    retained_max_bytes: Option<usize>,
    login_failures_free: Option<u32>,
    login_failure_window_ms: Option<u64>,
    login_failure_max_delay_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    address: Option<String>,
    port: Option<u16>,
    unix: Option<PathBuf>,
    transports: Option<Vec<String>>,
    serializers: Option<Vec<String>>,
    shards: Option<Vec<usize>>,
    auth: Option<auth::RawAuth>,
    allowed_origins: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRealm {
    name: String,
    uri_check: Option<UriCheck>,
    sequential_request_ids: Option<bool>,
    #[serde(default)]
    history: Vec<RawHistory>,
    #[serde(default)]
    role: Vec<auth::RawRole>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHistory {
    topic: String,
    #[serde(rename = "match")]
    policy: Option<String>,
    limit: usize,
}

impl RawConfig {
    fn into_config(self) -> Result<Config, ConfigError> {
        let defaults = Config::default();
        let explicit: Vec<bool> =
            self.listener.iter().map(|l| l.auth.as_ref().is_some_and(auth::RawAuth::sets_keep_authid)).collect();
        let mut listeners: Vec<ListenerConfig> = if self.listener.is_empty() {
            defaults.listeners
        } else {
            (self.listener.into_iter().enumerate())
                .map(|(at, raw)| raw.into_listener(&format!("listener[{at}]")))
                .collect::<Result<_, _>>()?
        };
        // Where any listener takes credentials, anonymous sessions get made-up authids unless a
        // listener says otherwise: they must not claim an identity a login could prove.
        if listeners.iter().any(|l| l.auth.takes_credentials()) {
            for (l, explicit) in listeners.iter_mut().zip(explicit.iter().chain(std::iter::repeat(&false))) {
                if let (Some(a), false) = (l.auth.anonymous.as_mut(), *explicit) {
                    a.keep_authid = false;
                }
            }
        }
        let realms = if self.realm.is_empty() {
            defaults.realms
        } else {
            (self.realm.into_iter().enumerate()).map(|(at, raw)| raw.into_realm(at)).collect::<Result<_, _>>()?
        };
        Ok(Config {
            router: self.router.into_router(defaults.router),
            limits: self.limits.into_limits(defaults.limits),
            listeners,
            realms,
        })
    }
}

impl RawRealm {
    fn into_realm(self, at: usize) -> Result<RealmConfig, ConfigError> {
        let history = (self.history.into_iter().enumerate())
            .map(|(i, h)| {
                let policy = match h.policy.as_deref() {
                    None => MatchPolicy::Exact,
                    Some(p) => MatchPolicy::from_option(p).ok_or_else(|| {
                        let why = format!("unknown match `{p}` (expected exact, prefix or wildcard)");
                        invalid(format!("realm[{at}].history[{i}].match"), why)
                    })?,
                };
                Ok(HistoryRule { topic: h.topic, policy, limit: h.limit })
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(RealmConfig {
            name: self.name,
            uri_check: self.uri_check.unwrap_or_default(),
            sequential_request_ids: self.sequential_request_ids.unwrap_or(false),
            history,
            roles: (self.role.into_iter().enumerate())
                .map(|(r, raw)| raw.into_role(&format!("realm[{at}].role[{r}]")))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl RawRouter {
    fn into_router(self, defaults: RouterConfig) -> RouterConfig {
        RouterConfig {
            shards: self.shards,
            cpus: self.cpus,
            pin: self.pin.unwrap_or(defaults.pin),
            shutdown_timeout: self.shutdown_timeout_ms.map_or(defaults.shutdown_timeout, Duration::from_millis),
            spin_before_park: self.spin_before_park_us.map_or(defaults.spin_before_park, Duration::from_micros),
        }
    }
}

impl RawLimits {
    fn into_limits(self, defaults: Limits) -> Limits {
        Limits {
            max_message_size: self.max_message_size.unwrap_or(defaults.max_message_size),
            handshake_timeout: self.handshake_timeout_ms.map_or(defaults.handshake_timeout, Duration::from_millis),
            outbox_max_bytes: self.outbox_max_bytes.unwrap_or(defaults.outbox_max_bytes),
            shard_inbox_capacity: self.shard_inbox_capacity.unwrap_or(defaults.shard_inbox_capacity),
            max_calls_per_session: self.max_calls_per_session.unwrap_or(defaults.max_calls_per_session),
            max_invocations_per_session: self
                .max_invocations_per_session
                .unwrap_or(defaults.max_invocations_per_session),
            retained_max_events: self.retained_max_events.unwrap_or(defaults.retained_max_events),
            retained_max_bytes: self.retained_max_bytes.unwrap_or(defaults.retained_max_bytes),
            login_failures_free: self.login_failures_free.unwrap_or(defaults.login_failures_free),
            login_failure_window: self
                .login_failure_window_ms
                .map_or(defaults.login_failure_window, Duration::from_millis),
            login_failure_max_delay: self
                .login_failure_max_delay_ms
                .map_or(defaults.login_failure_max_delay, Duration::from_millis),
        }
    }
}

impl RawListener {
    fn into_listener(self, key: &str) -> Result<ListenerConfig, ConfigError> {
        let defaults = ListenerConfig::default();
        let endpoint = match (self.port, self.unix) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    key,
                    "has both `port` (TCP) and `unix` (Unix socket); a listener is one or the other",
                ))
            }
            (None, None) => {
                return Err(invalid(key, "needs either `port` (TCP) or `unix` (Unix socket)"));
            }
            (None, Some(path)) => {
                if self.address.is_some() {
                    return Err(invalid(format!("{key}.address"), "a Unix socket listener has no address"));
                }
                Endpoint::Unix { path }
            }
            (Some(port), None) => {
                let address = match self.address {
                    None => DEFAULT_ADDRESS,
                    Some(text) => text
                        .parse()
                        .map_err(|_| invalid(format!("{key}.address"), format!("`{text}` is not an IP address")))?,
                };
                Endpoint::Tcp { address, port }
            }
        };
        let transports = match self.transports {
            None => defaults.transports,
            Some(names) => parse_transports(&names, &format!("{key}.transports"))?,
        };
        let serializers = match self.serializers {
            None => defaults.serializers,
            Some(names) => (names.iter())
                .map(|name| {
                    Serializer::from_name(name).ok_or_else(|| {
                        invalid(
                            format!("{key}.serializers"),
                            format!("unknown serializer `{name}` (expected json, msgpack or cbor)"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let auth = match self.auth {
            None => ListenerAuth::default(),
            Some(raw) => raw.into_auth(key)?,
        };
        let allowed_origins = match self.allowed_origins {
            None => AllowedOrigins::SameHost,
            Some(list) if list.iter().any(|o| o == "*") => AllowedOrigins::Any,
            Some(list) => AllowedOrigins::List(list),
        };
        Ok(ListenerConfig { endpoint, transports, serializers, shards: self.shards, auth, allowed_origins })
    }
}

fn parse_transports(names: &[String], key: &str) -> Result<Transports, ConfigError> {
    let mut transports = Transports { websocket: false, rawsocket: false };
    for name in names {
        match name.as_str() {
            "websocket" => transports.websocket = true,
            "rawsocket" => transports.rawsocket = true,
            other => {
                return Err(invalid(key, format!("unknown transport `{other}` (expected websocket or rawsocket)")))
            }
        }
    }
    Ok(transports)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
