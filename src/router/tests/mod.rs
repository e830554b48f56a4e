//! Router behaviour without sockets, in the in-memory simulator (`sim.rs`): the Basic Profile
//! (`basic.rs`) and the Advanced Profile RPC features (`rpc.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod basic;
mod rpc;
mod sim;
