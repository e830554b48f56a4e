//! The WAMP protocol vocabulary: messages, ids, URIs, error URIs, values.
//!
//! Owns: the types every other layer speaks. Never: I/O, serialization formats, routing.

pub mod error_uri;
pub mod id;
pub mod message;
pub mod options;
pub mod payload;
pub mod trie;
pub mod uri;
pub mod value;

pub use error_uri::ErrorUri;
pub use id::Id;
pub use message::Message;
pub use payload::{Payload, Serializer};
pub use uri::{MatchPolicy, UriCheck};
pub use value::{Dict, Value};
