//! wampyard: a shard-per-core WAMP router.
//!
//! The modules follow one message through the router:
//!
//! * [`transport`]: sockets and framing (RawSocket, WebSocket); bytes in, bytes out.
//! * [`codec`]: bytes <-> [`wamp::Message`] for JSON, MessagePack and CBOR; head-only decoding.
//! * [`wamp`]: the protocol vocabulary: messages, ids, URIs, error URIs, values.
//! * [`session`]: one client's state (HELLO .. GOODBYE), what it holds, and its outbox.
//! * [`realm`]: the realms a router serves and their options.
//! * [`router`]: the routing core of one shard: broker, dealer, the URI trie, the realm-wide
//!   agreement on subscriptions and registrations, and the cross-shard message enum.
//! * [`shard`]: executors, cores, listeners, connection tasks and cross-shard channels.
//! * [`config`]: the typed, validated configuration.
//!
//! `wamp`, `codec`, `session`, `realm` and `router` do no I/O and import no runtime: they are
//! driven by `shard` and tested without sockets.

pub mod auth;
pub mod codec;
pub mod config;
pub mod meta;
pub mod realm;
pub mod router;
pub mod session;
pub mod shard;
pub mod transport;
pub mod wamp;
