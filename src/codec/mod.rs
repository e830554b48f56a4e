//! Bytes <-> [`Message`], one file per serializer, with head-only decoding.
//!
//! Owns: the [`Serializer`] enum, the [`Payload`] representation, decoding, encoding and
//! transcoding. Never: sockets or framing (see `transport`), routing decisions.
//!
//! Arguments and ArgumentsKw are always the last elements of a message. Decoding parses the head
//! (type, ids, Options/Details, URI) and keeps the rest as the sender's raw bytes
//! ([`Payload::Raw`]), after checking that it is well formed. Encoding a raw payload into the same
//! serializer copies those bytes; into another serializer it transcodes them.

mod cbor;
mod head;
mod json;
mod json_value;
mod msgpack;
#[cfg(test)]
mod tests;

use bytes::Bytes;

use crate::wamp::{Dict, Message, Value};

/// Deepest nesting of lists and dicts the decoders accept; deeper input is a protocol violation
/// rather than a stack overflow. Real WAMP payloads rarely nest past a dozen levels.
pub const MAX_NESTING: usize = 64;

pub use crate::wamp::payload::{Payload, RawPayload, Serializer};

/// Value conversion and transcoding of a [`Payload`]: the parts that need a serializer.
pub trait PayloadCodec {
    /// The payload as values: (Arguments, ArgumentsKw). Decodes raw bytes; not for the hot path.
    fn to_values(&self) -> Result<(Vec<Value>, Option<Dict>), DecodeError>;
    /// This payload in `ser`: raw bytes of another serializer are transcoded, anything else is
    /// returned as is (cheap: `Bytes` clones share the buffer).
    fn for_serializer(&self, ser: Serializer) -> Result<Payload, EncodeError>;
}

impl PayloadCodec for Payload {
    fn to_values(&self) -> Result<(Vec<Value>, Option<Dict>), DecodeError> {
        match self {
            Payload::Empty => Ok((Vec::new(), None)),
            Payload::Values { args, kwargs } => Ok((args.clone(), kwargs.clone())),
            Payload::Raw(raw) => {
                let mut values = decode_values(raw)?;
                let kwargs = if values.len() == 2 {
                    match values.pop() {
                        Some(Value::Dict(d)) => Some(d),
                        _ => return Err(DecodeError::PayloadShape),
                    }
                } else {
                    None
                };
                match values.pop() {
                    Some(Value::List(args)) => Ok((args, kwargs)),
                    _ => Err(DecodeError::PayloadShape),
                }
            }
        }
    }

    fn for_serializer(&self, ser: Serializer) -> Result<Payload, EncodeError> {
        match self {
            Payload::Raw(raw) if raw.serializer != ser => Ok(Payload::Raw(transcode(raw, ser)?)),
            other => Ok(other.clone()),
        }
    }
}

/// Why bytes could not be turned into a [`Message`]. Every variant means the peer sent a malformed
/// message: the session answers with ABORT `wamp.error.protocol_violation`.
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    /// The bytes are not valid in the serializer's syntax (or not UTF-8 for JSON).
    #[error("malformed {0} input: {1}")]
    Syntax(Serializer, String),
    /// The top level is not a list, or is empty.
    #[error("a WAMP message must be a non-empty list")]
    NotAList,
    /// The message type code is not one the spec defines.
    #[error("unknown message type {0}")]
    UnknownType(u64),
    /// A field is missing or has the wrong type.
    #[error("{message}: bad or missing field '{field}'")]
    Field {
        /// The message name.
        message: &'static str,
        /// The field name as the spec writes it.
        field: &'static str,
    },
    /// The message has more elements than its format allows.
    #[error("{0}: too many elements")]
    TooLong(&'static str),
    /// Arguments is not a list, or ArgumentsKw is not a dict.
    #[error("Arguments must be a list and ArgumentsKw a dict")]
    PayloadShape,
    /// Lists and dicts nest deeper than [`MAX_NESTING`].
    #[error("nesting deeper than {MAX_NESTING} levels")]
    TooDeep,
}

/// Why a [`Message`] could not be encoded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EncodeError {
    /// A raw payload could not be decoded for transcoding.
    #[error("payload cannot be transcoded: {0}")]
    Transcode(#[from] DecodeError),
    /// A value has no representation in the target serializer (a non-string dict key in JSON, a
    /// non-finite float in JSON).
    #[error("value not representable in {0}: {1}")]
    Unrepresentable(Serializer, &'static str),
}

/// Decodes one message. `frame` is one whole WAMP message as the transport delivered it; raw
/// payload bytes in the result are slices of it (no copy).
pub fn decode(ser: Serializer, frame: Bytes) -> Result<Message, DecodeError> {
    match ser {
        Serializer::Json => json::decode(frame),
        Serializer::MsgPack => msgpack::decode(frame),
        Serializer::Cbor => cbor::decode(frame),
    }
}

/// Encodes one message, appending to `out`.
pub fn encode_into(ser: Serializer, msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match ser {
        Serializer::Json => json::encode(msg, out),
        Serializer::MsgPack => msgpack::encode(msg, out),
        Serializer::Cbor => cbor::encode(msg, out),
    }
}

/// Encodes one message into a fresh buffer.
pub fn encode(ser: Serializer, msg: &Message) -> Result<Bytes, EncodeError> {
    let mut out = Vec::with_capacity(64);
    encode_into(ser, msg, &mut out)?;
    Ok(Bytes::from(out))
}

/// The same Arguments/ArgumentsKw in serializer `to`.
pub fn transcode(raw: &RawPayload, to: Serializer) -> Result<RawPayload, EncodeError> {
    if raw.serializer == to {
        return Ok(raw.clone());
    }
    let values = decode_values(raw)?;
    let mut out = Vec::with_capacity(raw.bytes.len() + 16);
    match to {
        Serializer::Json => json::encode_values(&values, &mut out)?,
        Serializer::MsgPack => msgpack::encode_values(&values, &mut out)?,
        Serializer::Cbor => cbor::encode_values(&values, &mut out)?,
    }
    Ok(RawPayload { serializer: to, count: raw.count, bytes: Bytes::from(out) })
}

/// The elements of a raw payload as values.
fn decode_values(raw: &RawPayload) -> Result<Vec<Value>, DecodeError> {
    match raw.serializer {
        Serializer::Json => json::decode_values(&raw.bytes, raw.count),
        Serializer::MsgPack => msgpack::decode_values(&raw.bytes, raw.count),
        Serializer::Cbor => cbor::decode_values(&raw.bytes, raw.count),
    }
}
