//! Router behaviour without sockets, in the in-memory simulator (`sim.rs`): the Basic Profile
//! (`basic.rs`), the Advanced Profile RPC features (`rpc.rs`) and the procedures the router answers
//! itself (`builtin.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod basic;
mod builtin;
mod rpc;
mod sim;
