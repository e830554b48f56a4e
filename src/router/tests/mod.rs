//! Router behaviour without sockets, in the in-memory simulator (`sim.rs`): the Basic Profile
//! (`basic.rs`), logins and roles (`auth.rs`), the Advanced Profile RPC features (`rpc.rs`), the
//! Advanced Profile pub/sub features (`pubsub.rs`), the meta API (`meta.rs` for sessions and
//! testaments, `meta_tables.rs` for subscriptions and registrations), retained events and event
//! history (`store.rs`) and the procedures the router answers itself (`builtin.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth;
mod basic;
mod builtin;
mod meta;
mod meta_tables;
mod pubsub;
mod rpc;
mod sim;
mod store;
