//! The CBOR serializer (`wamp.2.cbor`, RFC 8949), with head-only decoding.
//!
//! Owns: reading CBOR items with `minicbor::Decoder` (position control), head fields, checking the
//! payload in place, and writing messages with `minicbor::Encoder`. Never: message layouts (see
//! `head`). Must never panic, recurse without bound, or allocate by a length the input claims.
//!
//! Value mapping: definite and indefinite arrays, maps, text and byte strings are all accepted
//! (indefinite strings are joined); writing always uses definite lengths. Tags are skipped and the
//! tagged value kept (a tagged bignum, tags 2 and 3, thus reads as its byte string; raw payloads
//! passed through keep their tags). Integers below -2^63 are refused; `undefined` reads as null;
//! other simple values are refused; half floats widen to f64. Map keys must be text everywhere
//! ([`Value::Dict`] has string keys, and an accepted payload must transcode to JSON).

use std::borrow::Cow;
use std::convert::Infallible;

use bytes::Bytes;
use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

use super::head::{decode_message, Elements, Field, Head, Tail};
use crate::codec::{DecodeError, EncodeError, Payload, RawPayload, Serializer, MAX_NESTING};
use crate::wamp::{Dict, Message, Value};

/// The initial byte of a half-precision float.
const F16_MARKER: u8 = 0xf9;

/// A CBOR syntax error.
fn syntax(what: impl std::fmt::Display) -> DecodeError {
    DecodeError::Syntax(Serializer::Cbor, what.to_string())
}

fn err(e: minicbor::decode::Error) -> DecodeError {
    syntax(e)
}

/// One CBOR item, tags removed: a scalar, or the header of a container (`None`: indefinite).
#[derive(Debug)]
enum Item<'b> {
    Null,
    Bool(bool),
    UInt(u64),
    Int(i64),
    Float(f64),
    Str(Cow<'b, str>),
    Bytes(Cow<'b, [u8]>),
    Array(Option<u64>),
    Map(Option<u64>),
}

/// Skips any tags before the next item (iteratively: tags may be chained).
fn untag(d: &mut Decoder<'_>) -> Result<(), DecodeError> {
    while d.datatype().map_err(err)? == Type::Tag {
        d.tag().map_err(err)?;
    }
    Ok(())
}

/// The type of the next item after any tags, without consuming anything.
fn peek_type(d: &mut Decoder<'_>) -> Result<Type, DecodeError> {
    let at = d.position();
    untag(d)?;
    let t = d.datatype().map_err(err);
    d.set_position(at);
    t
}

/// True if the next byte is a break; consumes it.
fn take_break(d: &mut Decoder<'_>) -> Result<bool, DecodeError> {
    if d.datatype().map_err(err)? == Type::Break {
        d.set_position(d.position() + 1);
        Ok(true)
    } else {
        Ok(false)
    }
}

/// Whether a container with `left` elements still to read (`None`: indefinite) has another one;
/// counts it down, or consumes the closing break.
fn has_next(d: &mut Decoder<'_>, left: &mut Option<u64>) -> Result<bool, DecodeError> {
    match left {
        Some(0) => Ok(false),
        Some(n) => {
            *n -= 1;
            Ok(true)
        }
        None => Ok(!take_break(d)?),
    }
}

/// Reads a half-precision float (minicbor decodes those only with its `half` feature).
fn f16(d: &mut Decoder<'_>) -> Result<f64, DecodeError> {
    let at = d.position();
    let bits = match d.input().get(at..at + 3) {
        Some(&[F16_MARKER, hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => return Err(syntax("truncated half float")),
    };
    d.set_position(at + 3);
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    Ok(match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    })
}

/// Reads the next item (for containers, only the header).
fn item<'b>(d: &mut Decoder<'b>) -> Result<Item<'b>, DecodeError> {
    untag(d)?;
    Ok(match d.datatype().map_err(err)? {
        Type::Null => {
            d.null().map_err(err)?;
            Item::Null
        }
        Type::Undefined => {
            d.undefined().map_err(err)?;
            Item::Null
        }
        Type::Bool => Item::Bool(d.bool().map_err(err)?),
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Item::UInt(d.u64().map_err(err)?),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 => Item::Int(d.i64().map_err(err)?),
        Type::F16 => Item::Float(f16(d)?),
        Type::F32 => Item::Float(f64::from(d.f32().map_err(err)?)),
        Type::F64 => Item::Float(d.f64().map_err(err)?),
        Type::String => Item::Str(Cow::Borrowed(d.str().map_err(err)?)),
        Type::StringIndef => {
            let mut s = String::new();
            for chunk in d.str_iter().map_err(err)? {
                s.push_str(chunk.map_err(err)?);
            }
            Item::Str(Cow::Owned(s))
        }
        Type::Bytes => Item::Bytes(Cow::Borrowed(d.bytes().map_err(err)?)),
        Type::BytesIndef => {
            let mut b = Vec::new();
            for chunk in d.bytes_iter().map_err(err)? {
                b.extend_from_slice(chunk.map_err(err)?);
            }
            Item::Bytes(Cow::Owned(b))
        }
        Type::Array | Type::ArrayIndef => Item::Array(d.array().map_err(err)?),
        Type::Map | Type::MapIndef => Item::Map(d.map().map_err(err)?),
        Type::Int => return Err(syntax("integer below -2^63")),
        other => return Err(syntax(format_args!("unsupported CBOR item: {other}"))),
    })
}

/// Reads a map key, which must be a text string.
fn key<'b>(d: &mut Decoder<'b>) -> Result<Cow<'b, str>, DecodeError> {
    match item(d)? {
        Item::Str(k) => Ok(k),
        _ => Err(syntax("map key is not a text string")),
    }
}

fn check_depth(depth: usize) -> Result<(), DecodeError> {
    if depth >= MAX_NESTING {
        Err(DecodeError::TooDeep)
    } else {
        Ok(())
    }
}

/// A capacity hint for `n` claimed elements: never more than the bytes left.
fn capacity_for(d: &Decoder<'_>, n: Option<u64>) -> usize {
    let left = d.input().len().saturating_sub(d.position());
    n.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX).min(left))
}

/// Reads a whole value. `depth` is the nesting of the enclosing containers (0 for an element of
/// a message); containers deeper than [`MAX_NESTING`] are refused.
fn value(d: &mut Decoder<'_>, depth: usize) -> Result<Value, DecodeError> {
    Ok(match item(d)? {
        Item::Null => Value::Null,
        Item::Bool(b) => Value::Bool(b),
        Item::UInt(u) => Value::UInt(u),
        Item::Int(i) => Value::Int(i),
        Item::Float(f) => Value::Float(f),
        Item::Str(s) => Value::Str(s.into_owned()),
        Item::Bytes(b) => Value::Bytes(b.into_owned()),
        Item::Array(mut left) => {
            check_depth(depth)?;
            let mut items = Vec::with_capacity(capacity_for(d, left));
            while has_next(d, &mut left)? {
                items.push(value(d, depth + 1)?);
            }
            Value::List(items)
        }
        Item::Map(left) => Value::Dict(dict_body(d, left, depth)?),
    })
}

/// Reads the entries of a map whose header was just read.
fn dict_body(
    d: &mut Decoder<'_>,
    mut left: Option<u64>,
    depth: usize,
) -> Result<Dict, DecodeError> {
    check_depth(depth)?;
    let mut dict = Dict::new();
    while has_next(d, &mut left)? {
        let k = key(d)?.into_owned();
        let v = value(d, depth + 1)?;
        dict.insert(k, v);
    }
    Ok(dict)
}

/// Checks a whole value without building it (same rules as [`value`]).
fn skip(d: &mut Decoder<'_>, depth: usize) -> Result<(), DecodeError> {
    match item(d)? {
        Item::Array(mut left) => {
            check_depth(depth)?;
            while has_next(d, &mut left)? {
                skip(d, depth + 1)?;
            }
        }
        Item::Map(mut left) => {
            check_depth(depth)?;
            while has_next(d, &mut left)? {
                key(d)?;
                skip(d, depth + 1)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The elements of one CBOR message.
struct CborElements<'f> {
    frame: &'f Bytes,
    d: Decoder<'f>,
    /// Elements left in a definite-length list; `None` for an indefinite one.
    left: Option<u64>,
}

impl CborElements<'_> {
    /// Starts reading the next element, or fails with a `Field` error if there is none.
    fn next(&mut self, message: &'static str, field: &'static str) -> Result<(), DecodeError> {
        if self.is_end()? {
            return Err(DecodeError::Field { message, field });
        }
        if let Some(n) = &mut self.left {
            *n -= 1;
        }
        Ok(())
    }
}

impl Elements for CborElements<'_> {
    fn is_end(&mut self) -> Result<bool, DecodeError> {
        match self.left {
            Some(n) => Ok(n == 0),
            None => Ok(self.d.datatype().map_err(err)? == Type::Break),
        }
    }

    fn uint(&mut self, message: &'static str, field: &'static str) -> Result<u64, DecodeError> {
        self.next(message, field)?;
        match item(&mut self.d)? {
            Item::UInt(v) => Ok(v),
            _ => Err(DecodeError::Field { message, field }),
        }
    }

    fn string(
        &mut self,
        message: &'static str,
        field: &'static str,
    ) -> Result<String, DecodeError> {
        self.next(message, field)?;
        match item(&mut self.d)? {
            Item::Str(s) => Ok(s.into_owned()),
            _ => Err(DecodeError::Field { message, field }),
        }
    }

    fn dict(&mut self, message: &'static str, field: &'static str) -> Result<Dict, DecodeError> {
        self.next(message, field)?;
        match item(&mut self.d)? {
            Item::Map(left) => dict_body(&mut self.d, left, 0),
            _ => Err(DecodeError::Field { message, field }),
        }
    }

    fn payload(&mut self, message: &'static str) -> Result<Payload, DecodeError> {
        if self.left.is_some_and(|n| n > 2) {
            return Err(DecodeError::TooLong(message));
        }
        let start = self.d.position();
        let mut count = 0u8;
        while !self.is_end()? {
            if count == 2 {
                return Err(DecodeError::TooLong(message));
            }
            let shape_ok = match peek_type(&mut self.d)? {
                Type::Array | Type::ArrayIndef => count == 0,
                Type::Map | Type::MapIndef => count == 1,
                _ => false,
            };
            if !shape_ok {
                return Err(DecodeError::PayloadShape);
            }
            self.next(message, "Arguments")?;
            skip(&mut self.d, 0)?;
            count += 1;
        }
        let end = self.d.position();
        if self.left.is_none() && !take_break(&mut self.d)? {
            return Err(syntax("indefinite list not closed"));
        }
        if self.d.position() != self.frame.len() {
            return Err(syntax("bytes after the message"));
        }
        if count == 0 {
            return Ok(Payload::Empty);
        }
        Ok(Payload::Raw(RawPayload {
            serializer: Serializer::Cbor,
            count,
            bytes: self.frame.slice(start..end),
        }))
    }
}

/// Decodes one CBOR message; the payload stays a slice of `frame`.
pub(super) fn decode(frame: Bytes) -> Result<Message, DecodeError> {
    let mut d = Decoder::new(&frame);
    let left = match item(&mut d)? {
        Item::Array(left) => left,
        _ => return Err(DecodeError::NotAList),
    };
    let mut elements = CborElements {
        frame: &frame,
        d,
        left,
    };
    if elements.is_end()? {
        return Err(DecodeError::NotAList);
    }
    let code = elements.uint("message", "MessageType")?;
    decode_message(code, &mut elements)
}

/// Maps an error of minicbor's infallible `Vec` writer.
fn write_err(_: minicbor::encode::Error<Infallible>) -> EncodeError {
    EncodeError::Unrepresentable(Serializer::Cbor, "buffer write failed")
}

/// Writes `v`. `depth` is the nesting of the enclosing containers (0 for a message element).
fn write_value(e: &mut Encoder<&mut Vec<u8>>, v: &Value, depth: usize) -> Result<(), EncodeError> {
    match v {
        Value::Null => e.null().map_err(write_err)?,
        Value::Bool(b) => e.bool(*b).map_err(write_err)?,
        Value::UInt(u) => e.u64(*u).map_err(write_err)?,
        Value::Int(i) => e.i64(*i).map_err(write_err)?,
        Value::Float(f) => e.f64(*f).map_err(write_err)?,
        Value::Str(s) => e.str(s).map_err(write_err)?,
        Value::Bytes(b) => e.bytes(b).map_err(write_err)?,
        Value::List(items) => return write_list(e, items, depth),
        Value::Dict(d) => return write_dict(e, d, depth),
    };
    Ok(())
}

fn write_list(
    e: &mut Encoder<&mut Vec<u8>>,
    items: &[Value],
    depth: usize,
) -> Result<(), EncodeError> {
    encode_depth(depth)?;
    e.array(items.len() as u64).map_err(write_err)?;
    items
        .iter()
        .try_for_each(|item| write_value(e, item, depth + 1))
}

fn write_dict(e: &mut Encoder<&mut Vec<u8>>, d: &Dict, depth: usize) -> Result<(), EncodeError> {
    encode_depth(depth)?;
    e.map(d.len() as u64).map_err(write_err)?;
    for (k, v) in d.iter() {
        e.str(k).map_err(write_err)?;
        write_value(e, v, depth + 1)?;
    }
    Ok(())
}

/// Refuses to write a container the decoder would reject as too deep.
fn encode_depth(depth: usize) -> Result<(), EncodeError> {
    if depth >= MAX_NESTING {
        Err(EncodeError::Unrepresentable(
            Serializer::Cbor,
            "nesting deeper than MAX_NESTING",
        ))
    } else {
        Ok(())
    }
}

/// Runs `write` with an encoder appending to `out`; on error, `out` is left as it was.
fn with_encoder(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Encoder<&mut Vec<u8>>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let result = write(&mut Encoder::new(&mut *out));
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Encodes one message as CBOR (definite lengths), appending to `out`.
pub(super) fn encode(msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let head = Head::of(msg);
    let tail = Tail::of(head.payload, Serializer::Cbor)?;
    with_encoder(out, |e| {
        let len = 1 + head.fields().len() + tail.count();
        e.array(len as u64).map_err(write_err)?;
        e.u64(head.code).map_err(write_err)?;
        for field in head.fields() {
            match field {
                Field::UInt(v) => {
                    e.u64(*v).map_err(write_err)?;
                }
                Field::Str(s) => {
                    e.str(s).map_err(write_err)?;
                }
                Field::Dict(d) => write_dict(e, d, 0)?,
            }
        }
        match &tail {
            Tail::Empty => {}
            Tail::Raw { bytes, .. } => e.writer_mut().extend_from_slice(bytes),
            Tail::Values { args, kwargs } => {
                write_list(e, args, 0)?;
                if let Some(kw) = kwargs {
                    write_dict(e, kw, 0)?;
                }
            }
        }
        Ok(())
    })
}

/// Decodes the `count` back-to-back elements of a CBOR raw payload.
pub(super) fn decode_values(bytes: &[u8], count: u8) -> Result<Vec<Value>, DecodeError> {
    let mut d = Decoder::new(bytes);
    let mut values = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        values.push(value(&mut d, 0)?);
    }
    if d.position() != bytes.len() {
        return Err(syntax("bytes after the payload"));
    }
    Ok(values)
}

/// Encodes `values` back to back: the CBOR raw payload form.
pub(super) fn encode_values(values: &[Value], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    with_encoder(out, |e| {
        values.iter().try_for_each(|v| write_value(e, v, 0))
    })
}
