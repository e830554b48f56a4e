//! The WAMP wire as a client sees it: transport framing, hand-written encoders for the
//! per-operation messages, and head scanners for the per-operation messages received.
//!
//! Owns: bytes. Never: sockets, clocks, or any allocation per message on the paths that run for
//! every event or call.

pub(crate) mod encode;
pub(crate) mod frame;
pub(crate) mod scan;
