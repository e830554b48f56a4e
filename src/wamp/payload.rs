//! The Arguments/ArgumentsKw of a message and the serializers they may be encoded in.
//!
//! Owns: [`Serializer`] (the spec's serializers and their names on each transport) and
//! [`Payload`], kept as the sender's raw bytes on the hot path. Never: encodes or decodes; the
//! `codec` does that (and adds value conversion and transcoding through `codec::PayloadCodec`).

use bytes::Bytes;

use super::value::{Dict, Value};

/// The serializers wampyard speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Serializer {
    /// JSON, with binary values as `"\u0000" + base64`.
    Json,
    /// MessagePack (spec version 5 or later: str and bin are distinct).
    MsgPack,
    /// CBOR (RFC 8949).
    Cbor,
}

impl Serializer {
    /// Every serializer, in [`Serializer::index`] order.
    pub const ALL: [Serializer; 3] = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];

    /// A dense index `0..3`, for per-serializer arrays.
    pub fn index(self) -> usize {
        match self {
            Serializer::Json => 0,
            Serializer::MsgPack => 1,
            Serializer::Cbor => 2,
        }
    }

    /// The WebSocket subprotocol, `wamp.2.<name>`.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
            Serializer::Cbor => "wamp.2.cbor",
        }
    }

    /// The serializer for a WebSocket subprotocol.
    pub fn from_subprotocol(s: &str) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|ser| ser.subprotocol() == s)
    }

    /// The RawSocket serializer id (the handshake's SSSS nibble).
    pub fn rawsocket_id(self) -> u8 {
        match self {
            Serializer::Json => 1,
            Serializer::MsgPack => 2,
            Serializer::Cbor => 3,
        }
    }

    /// The serializer for a RawSocket serializer id.
    pub fn from_rawsocket_id(id: u8) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|ser| ser.rawsocket_id() == id)
    }

    /// The short name used in configuration (`json`, `msgpack`, `cbor`).
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::MsgPack => "msgpack",
            Serializer::Cbor => "cbor",
        }
    }

    /// The serializer for a configuration name.
    pub fn from_name(s: &str) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|ser| ser.name() == s)
    }

    /// True if messages travel as text (WebSocket text frames).
    pub fn is_text(self) -> bool {
        self == Serializer::Json
    }
}

impl std::fmt::Display for Serializer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The Arguments and ArgumentsKw of a message.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Payload {
    /// Neither Arguments nor ArgumentsKw.
    #[default]
    Empty,
    /// The sender's encoded elements, untouched.
    Raw(RawPayload),
    /// Values the router built itself (error details, meta API results).
    Values {
        /// Arguments.
        args: Vec<Value>,
        /// ArgumentsKw; when present, `args` is sent even if empty.
        kwargs: Option<Dict>,
    },
}

/// Arguments (and ArgumentsKw) exactly as a peer encoded them.
#[derive(Clone, Debug, PartialEq)]
pub struct RawPayload {
    /// The serializer `bytes` are in.
    pub serializer: Serializer,
    /// How many trailing elements `bytes` hold: 1 (Arguments) or 2 (Arguments, ArgumentsKw).
    pub count: u8,
    /// The encoded elements. JSON: the text from the first element's first byte to the last
    /// element's last byte, separators included. MessagePack and CBOR: the elements' encodings,
    /// back to back.
    pub bytes: Bytes,
}

impl Payload {
    /// A payload of plain arguments.
    pub fn args(args: Vec<Value>) -> Payload {
        if args.is_empty() {
            Payload::Empty
        } else {
            Payload::Values { args, kwargs: None }
        }
    }
}
