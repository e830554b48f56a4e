//! The routing core of one shard. Never: I/O, sockets or a runtime.

pub mod trie;
