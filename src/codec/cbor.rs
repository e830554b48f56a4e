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
fn dict_body(d: &mut Decoder<'_>, mut left: Option<u64>, depth: usize) -> Result<Dict, DecodeError> {
    check_depth(depth)?;
    let mut entries = Vec::new();
    while has_next(d, &mut left)? {
        let k = key(d)?.into_owned();
        let v = value(d, depth + 1)?;
        entries.push((k, v));
    }
    Ok(Dict::from_entries(entries))
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

    fn string(&mut self, message: &'static str, field: &'static str) -> Result<String, DecodeError> {
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
        Ok(Payload::Raw(RawPayload { serializer: Serializer::Cbor, count, bytes: self.frame.slice(start..end) }))
    }
}

/// Decodes one CBOR message; the payload stays a slice of `frame`.
pub(super) fn decode(frame: Bytes) -> Result<Message, DecodeError> {
    let mut d = Decoder::new(&frame);
    let left = match item(&mut d)? {
        Item::Array(left) => left,
        _ => return Err(DecodeError::NotAList),
    };
    let mut elements = CborElements { frame: &frame, d, left };
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

fn write_list(e: &mut Encoder<&mut Vec<u8>>, items: &[Value], depth: usize) -> Result<(), EncodeError> {
    encode_depth(depth)?;
    e.array(items.len() as u64).map_err(write_err)?;
    items.iter().try_for_each(|item| write_value(e, item, depth + 1))
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
        Err(EncodeError::Unrepresentable(Serializer::Cbor, "nesting deeper than MAX_NESTING"))
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
    with_encoder(out, |e| values.iter().try_for_each(|v| write_value(e, v, 0)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::codec::tests::{assert_truncations_fail, dec, id};
    use crate::codec::PayloadCodec;
    use crate::wamp::message::{Published, Subscribe};

    const C: Serializer = Serializer::Cbor;

    /// `[48, 7814135, {}, "com.myapp.myprocedure1", ["Hello, world!"]]` from the WAMP test
    /// vectors.
    const CALL: &[u8] = b"\x85\x18\x30\x1a\x00\x77\x3b\xf7\xa0\x76com.myapp.myprocedure1\x81\x6dHello, world!";

    #[test]
    fn test_vector_call_decodes_with_a_raw_payload() {
        let Message::Call(call) = dec(C, CALL).unwrap() else { panic!() };
        assert_eq!(call.request, id(7814135));
        let Payload::Raw(raw) = &call.payload else { panic!() };
        assert_eq!((raw.serializer, raw.count), (C, 1));
        assert_eq!(&raw.bytes[..], b"\x81\x6dHello, world!");
    }

    #[test]
    fn indefinite_lengths_are_accepted_and_the_final_break_is_not_payload() {
        // [_ 16, 1, {_ "a": "x"}, (_ "t", "o"), [_ 1], {}] with indefinite list, map and text.
        let frame = b"\x9f\x10\x01\xbf\x61a\x61x\xff\x7f\x61t\x61o\xff\x9f\x01\xff\xa0\xff";
        let Message::Publish(p) = dec(C, frame).unwrap() else { panic!() };
        assert_eq!(p.topic, "to");
        assert_eq!(p.options, Dict::new().with("a", "x"));
        let Payload::Raw(raw) = &p.payload else { panic!() };
        assert_eq!(&raw.bytes[..], b"\x9f\x01\xff\xa0");
        assert_eq!(raw.count, 2);
        assert_eq!(p.payload.to_values().unwrap(), (vec![Value::UInt(1)], Some(Dict::new())));
        assert_truncations_fail(C, frame);
        let empty_tail = b"\x9f\x18\x20\x01\xa0\x61t\xff";
        assert!(dec(C, empty_tail).is_ok());
    }

    #[test]
    fn indefinite_byte_strings_are_joined() {
        let values = decode_values(b"\x5f\x41\x01\x42\x02\x03\xff", 1).unwrap();
        assert_eq!(values, vec![Value::Bytes(vec![1, 2, 3])]);
    }

    #[test]
    fn tags_are_skipped_and_the_value_kept() {
        let frame = b"\xd9\xd9\xf7\x83\x11\xc1\x01\xc2\xc3\x02";
        let expected = Message::Published(Published { request: id(1), publication: id(2) });
        assert_eq!(dec(C, frame), Ok(expected));
        let values = decode_values(b"\xc2\x42\x01\x00", 1).unwrap();
        assert_eq!(values, vec![Value::Bytes(vec![1, 0])]);
        let mut chain = vec![0xc1; 10_000];
        chain.push(0x05);
        assert_eq!(decode_values(&chain, 1).unwrap(), vec![Value::UInt(5)]);
    }

    #[test]
    fn simple_values_floats_and_integer_range() {
        let values = decode_values(b"\xf7\xf6\xf5\xf9\x3e\x00\xf9\x7c\x00\xfa\x3f\xc0\x00\x00\x3b\x7f\xff\xff\xff\xff\xff\xff\xff\x1b\xff\xff\xff\xff\xff\xff\xff\xff", 8).unwrap();
        assert_eq!(
            values,
            vec![
                Value::Null,
                Value::Null,
                Value::Bool(true),
                Value::Float(1.5),
                Value::Float(f64::INFINITY),
                Value::Float(1.5),
                Value::Int(i64::MIN),
                Value::UInt(u64::MAX),
            ]
        );
        assert_eq!(decode_values(b"\xf9\x00\x01", 1).unwrap(), vec![Value::Float(2f64.powi(-24))]);
        let Value::Float(nan) = decode_values(b"\xf9\x7e\x00", 1).unwrap()[0] else { panic!() };
        assert!(nan.is_nan());
        for bad in [&b"\x3b\x80\x00\x00\x00\x00\x00\x00\x00"[..], b"\xe0", b"\xf8\x20", b"\xff", b"\x1c"] {
            assert!(decode_values(bad, 1).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn truncated_frames_are_rejected() {
        assert_truncations_fail(C, CALL);
        assert_truncations_fail(C, b"\x86\x10\x01\xa1\x61k\x41\x00\x61t\x82\x01\xfb\x3f\xf8\0\0\0\0\0\0\xa1\x61b\x80");
    }

    #[test]
    fn non_list_or_empty_top_level_is_not_a_list() {
        for frame in [&b"\x80"[..], b"\x9f\xff", b"\xa0", b"\x05", b"\x61x", b"\xc1\x80"] {
            assert_eq!(dec(C, frame), Err(DecodeError::NotAList), "{frame:?}");
        }
        assert!(matches!(dec(C, b""), Err(DecodeError::Syntax(C, _))));
    }

    #[test]
    fn huge_claimed_lengths_fail_without_allocating() {
        let frames: [&[u8]; 6] = [
            b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff\x01",
            b"\x85\x10\x01\xa0\x61t\x9b\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x85\x10\x01\xa0\x61t\x81\x7b\xff\xff\xff\xff\xff\xff\xff\xffabc",
            b"\x85\x10\x01\xa0\x61t\x81\x5b\xff\xff\xff\xff\xff\xff\xff\xffabc",
            b"\x86\x10\x01\xa0\x61t\x80\xbb\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x84\x18\x20\x01\xbb\x00\x00\x00\x00\xff\xff\xff\xff",
        ];
        for frame in frames {
            assert!(matches!(dec(C, frame), Err(DecodeError::Syntax(C, _))), "{frame:?}");
        }
        assert!(decode_values(b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff", 1).is_err());
        assert!(decode_values(b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff", 1).is_err());
    }

    #[test]
    fn deep_nesting_is_too_deep() {
        for open in [0x81u8, 0x9f] {
            let mut frame = b"\x85\x10\x01\xa0\x61t".to_vec();
            frame.extend(std::iter::repeat_n(open, 10_000));
            assert_eq!(dec(C, &frame), Err(DecodeError::TooDeep));
            assert_eq!(decode_values(&frame[6..], 1), Err(DecodeError::TooDeep));
        }
        let mut opts = b"\x84\x18\x20\x01".to_vec();
        opts.extend(std::iter::repeat_n([0xa1, 0x61, b'a'], 10_000).flatten());
        assert_eq!(dec(C, &opts), Err(DecodeError::TooDeep));
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let frame = |depth: usize| {
            let mut f = b"\x85\x10\x01\xa0\x61t".to_vec();
            f.extend(std::iter::repeat_n(0x81, depth - 1));
            f.push(0x80);
            f
        };
        assert!(dec(C, &frame(MAX_NESTING)).is_ok());
        assert_eq!(dec(C, &frame(MAX_NESTING + 1)), Err(DecodeError::TooDeep));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut frame = CALL.to_vec();
        frame.push(0xf6);
        assert!(matches!(dec(C, &frame), Err(DecodeError::Syntax(C, _))));
        assert!(matches!(dec(C, b"\x9f\x11\x01\x02\xff\x00"), Err(DecodeError::Syntax(C, _))));
        assert!(matches!(dec(C, b"\x9f\x11\x01\x02"), Err(DecodeError::Syntax(C, _))));
        assert!(decode_values(b"\x80\x80", 1).is_err());
    }

    #[test]
    fn ids_must_be_integers_up_to_two_pow_53() {
        let published = |request: &[u8]| [&b"\x83\x11"[..], request, b"\x01"].concat();
        let ok = Message::Published(Published { request: id(1 << 53), publication: id(1) });
        assert_eq!(dec(C, &published(b"\x1b\x00\x20\x00\x00\x00\x00\x00\x00")), Ok(ok));
        for bad in [&b"\x1b\x00\x20\x00\x00\x00\x00\x00\x01"[..], b"\x20", b"\xf9\x3c\x00", b"\x61\x31", b"\xf6"] {
            assert!(matches!(dec(C, &published(bad)), Err(DecodeError::Field { .. })), "{bad:?}");
        }
    }

    #[test]
    fn wrong_field_types_unknown_types_and_extra_elements_are_rejected() {
        let field = |message, field| Err(DecodeError::Field { message, field });
        assert_eq!(dec(C, b"\x83\x01\x05\xa0"), field("HELLO", "Realm"));
        assert_eq!(dec(C, b"\x83\x01\x61r\x80"), field("HELLO", "Details"));
        assert_eq!(dec(C, b"\x9f\x01\x61r\xff"), field("HELLO", "Details"));
        assert_eq!(dec(C, b"\x82\x61x\x01"), field("message", "MessageType"));
        assert_eq!(dec(C, b"\x82\x07\x01"), Err(DecodeError::UnknownType(7)));
        assert_eq!(dec(C, b"\x85\x18\x20\x01\xa0\x61t\x80"), Err(DecodeError::TooLong("SUBSCRIBE")));
        assert_eq!(dec(C, b"\x9f\x18\x20\x01\xa0\x61t\x61x\xff"), Err(DecodeError::TooLong("SUBSCRIBE")));
        assert_eq!(dec(C, b"\x87\x10\x01\xa0\x61t\x80\xa0\x80"), Err(DecodeError::TooLong("PUBLISH")));
        assert_eq!(dec(C, b"\x9f\x10\x01\xa0\x61t\x80\xa0\x80\xff"), Err(DecodeError::TooLong("PUBLISH")));
        assert_eq!(dec(C, b"\x85\x10\x01\xa0\x61t\xa0"), Err(DecodeError::PayloadShape));
        assert_eq!(dec(C, b"\x85\x10\x01\xa0\x61t\x40"), Err(DecodeError::PayloadShape));
        assert_eq!(dec(C, b"\x86\x10\x01\xa0\x61t\x80\x80"), Err(DecodeError::PayloadShape));
    }

    #[test]
    fn non_text_map_keys_and_bad_utf8_are_rejected() {
        assert!(matches!(dec(C, b"\x84\x18\x20\x01\xa1\x01\x02\x61t"), Err(DecodeError::Syntax(C, _))));
        assert!(matches!(dec(C, b"\x86\x10\x01\xa0\x61t\x80\xa1\x41k\x02"), Err(DecodeError::Syntax(C, _))));
        assert!(dec(C, b"\x83\x01\x62\xc3\x28\xa0").is_err());
        assert!(decode_values(b"\x81\x62\xc3\x28", 1).is_err());
    }

    #[test]
    fn encoding_is_definite_and_round_trips_head_fields() {
        let msg = Message::Subscribe(Subscribe {
            request: id(1),
            options: Dict::new().with("match", "prefix"),
            topic: "a".into(),
        });
        let mut out = Vec::new();
        encode(&msg, &mut out).unwrap();
        assert_eq!(out, b"\x84\x18\x20\x01\xa1\x65match\x66prefix\x61a");
        assert_eq!(decode(Bytes::from(out)).unwrap(), msg);
        let mut values = Vec::new();
        encode_values(&[Value::Int(-1), Value::UInt(24), Value::Float(0.5)], &mut values).unwrap();
        assert_eq!(values, b"\x20\x18\x18\xfb\x3f\xe0\x00\x00\x00\x00\x00\x00");
    }
}
