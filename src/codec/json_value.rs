//! [`Value`] <-> JSON text, for the JSON serializer.
//!
//! Owns: the JSON writer (compact, like autobahn-python), the binary convention (`"\u0000"` +
//! base64), the nesting pre-scan, and the two readers: a serde visitor for head dicts (parsed by
//! serde_json straight from the frame) and a simd-json tape walker for whole payloads (parsed from
//! an owned copy, since simd-json rewrites its input). Never: message layout (see `json`).

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use simd_json::{Node, StaticNode};

use super::{DecodeError, EncodeError, Serializer, MAX_NESTING};
use crate::wamp::{Dict, Value};

/// Decodes the base64 of binary strings: standard alphabet, padding optional (some clients strip
/// it).
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A JSON syntax error.
pub(super) fn syntax(what: impl fmt::Display) -> DecodeError {
    DecodeError::Syntax(Serializer::Json, what.to_string())
}

/// True if no list or dict in `text` nests deeper than `max` levels (the outermost bracket is
/// level 1). A byte scan that skips string contents; it does not validate the text, so run it
/// before a parser that does, to turn over-deep input into [`DecodeError::TooDeep`] instead of a
/// parser's recursion error.
pub(super) fn nesting_within(text: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// A JSON string as a value: `"\u0000"` followed by base64 is binary. A NUL-led string whose rest
/// is not base64 stays a string, so that every string the decoder accepts can be transcoded.
fn string_value(s: &str) -> Value {
    if let Some(b64) = s.strip_prefix('\0') {
        if let Ok(bytes) = BASE64_LENIENT.decode(b64) {
            return Value::Bytes(bytes);
        }
    }
    Value::Str(s.to_owned())
}

/// Reads one value with serde (used by serde_json on head dicts). serde_json bounds recursion
/// itself, and the frame passed [`nesting_within`] before.
struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(string_value(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueSeed)? {
            items.push(item);
        }
        Ok(Value::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        DictVisitor.visit_map(map).map(Value::Dict)
    }
}

/// Reads a JSON object into a [`Dict`], keeping key order; anything else is an error.
pub(super) struct DictSeed;

impl<'de> DeserializeSeed<'de> for DictSeed {
    type Value = Dict;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Dict, D::Error> {
        d.deserialize_map(DictVisitor)
    }
}

struct DictVisitor;

impl<'de> Visitor<'de> for DictVisitor {
    type Value = Dict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dict, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(ValueSeed)?;
            entries.push((key, value));
        }
        Ok(Dict::from_entries(entries))
    }
}

/// Parses `count` JSON values written back to back with commas (a JSON raw payload) with
/// simd-json, on an owned copy.
pub(super) fn parse_values(text: &[u8], count: u8) -> Result<Vec<Value>, DecodeError> {
    if !nesting_within(text, MAX_NESTING) {
        return Err(DecodeError::TooDeep);
    }
    let mut owned = Vec::with_capacity(text.len() + 2);
    owned.push(b'[');
    owned.extend_from_slice(text);
    owned.push(b']');
    let tape = simd_json::to_tape(&mut owned).map_err(syntax)?;
    let nodes = tape.0.as_slice();
    let mut pos = 0;
    let values = match take_value(nodes, &mut pos, 0)? {
        Value::List(values) => values,
        _ => return Err(syntax("payload is not a JSON value sequence")),
    };
    if values.len() != usize::from(count) || pos != nodes.len() {
        return Err(DecodeError::PayloadShape);
    }
    Ok(values)
}

/// The value starting at `nodes[*pos]`, advancing `pos` past it. `depth` is the nesting of the
/// enclosing containers.
fn take_value(nodes: &[Node<'_>], pos: &mut usize, depth: usize) -> Result<Value, DecodeError> {
    let node = nodes.get(*pos).ok_or_else(|| syntax("truncated tape"))?;
    *pos += 1;
    Ok(match node {
        Node::Static(s) => match *s {
            StaticNode::Null => Value::Null,
            StaticNode::Bool(b) => Value::Bool(b),
            StaticNode::I64(i) => Value::int(i),
            StaticNode::U64(u) => Value::UInt(u),
            StaticNode::F64(f) => Value::Float(f),
        },
        Node::String(s) => string_value(s),
        Node::Array { len, .. } => {
            // Nested containers count from 0 at the wrapping list of `parse_values`.
            if depth > MAX_NESTING {
                return Err(DecodeError::TooDeep);
            }
            let mut items = Vec::with_capacity((*len).min(nodes.len()));
            for _ in 0..*len {
                items.push(take_value(nodes, pos, depth + 1)?);
            }
            Value::List(items)
        }
        Node::Object { len, .. } => {
            if depth > MAX_NESTING {
                return Err(DecodeError::TooDeep);
            }
            let mut entries = Vec::with_capacity((*len).min(nodes.len()));
            for _ in 0..*len {
                let key = match nodes.get(*pos) {
                    Some(Node::String(k)) => (*k).to_owned(),
                    _ => return Err(syntax("object key is not a string")),
                };
                *pos += 1;
                let value = take_value(nodes, pos, depth + 1)?;
                entries.push((key, value));
            }
            Value::Dict(Dict::from_entries(entries))
        }
    })
}

/// Writes `s` as a JSON string literal.
pub(super) fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0x0f)]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes `v` as compact JSON. `depth` is the nesting of the enclosing containers (0 for an
/// element of a message).
pub(super) fn write_value(v: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), EncodeError> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::UInt(u) => out.extend_from_slice(u.to_string().as_bytes()),
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(EncodeError::Unrepresentable(Serializer::Json, "non-finite float"));
            }
            // Debug prints the shortest text that reads back to the same f64, and always with a
            // '.' or an exponent, so the value does not come back as an integer.
            out.extend_from_slice(format!("{f:?}").as_bytes());
        }
        Value::Str(s) => write_str(s, out),
        Value::Bytes(b) => {
            out.extend_from_slice(b"\"\\u0000");
            out.extend_from_slice(STANDARD.encode(b).as_bytes());
            out.push(b'"');
        }
        Value::List(items) => {
            check_depth(depth)?;
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out, depth + 1)?;
            }
            out.push(b']');
        }
        Value::Dict(d) => write_dict(d, out, depth)?,
    }
    Ok(())
}

/// Writes `d` as a compact JSON object.
pub(super) fn write_dict(d: &Dict, out: &mut Vec<u8>, depth: usize) -> Result<(), EncodeError> {
    check_depth(depth)?;
    out.push(b'{');
    for (i, (k, v)) in d.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(k, out);
        out.push(b':');
        write_value(v, out, depth + 1)?;
    }
    out.push(b'}');
    Ok(())
}

/// Refuses to write a container at nesting `depth` (0-based) that the decoder would reject.
fn check_depth(depth: usize) -> Result<(), EncodeError> {
    if depth >= MAX_NESTING {
        Err(EncodeError::Unrepresentable(Serializer::Json, "nesting deeper than MAX_NESTING"))
    } else {
        Ok(())
    }
}
