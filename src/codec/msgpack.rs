//! The MessagePack serializer (`wamp.2.msgpack`), with head-only decoding.
//!
//! Owns: reading MessagePack items (markers classified by `rmp`), head fields, checking the
//! payload in place, and writing messages with `rmp::encode`. Never: message layouts (see
//! `head`). Must never panic, recurse without bound, or allocate by a length the input claims.
//!
//! Value mapping: str and bin are distinct (bin is [`Value::Bytes`]); every integer marker is
//! accepted and sorted into `UInt`/`Int` by sign; f32 widens to f64 and floats are written as f64.
//! Ext types and the reserved marker are errors. Map keys must be strings everywhere (Options and
//! Details, and payload dicts too: [`Value::Dict`] has string keys, and a payload the router
//! accepts must be transcodable to JSON).

use std::convert::Infallible;

use bytes::Bytes;
use rmp::encode::{self as enc, ByteBuf, ValueWriteError};
use rmp::Marker;

use super::head::{decode_message, Elements, Field, Head, Tail};
use crate::codec::{DecodeError, EncodeError, Payload, RawPayload, Serializer, MAX_NESTING};
use crate::wamp::{Dict, Message, Value};

/// A MessagePack syntax error.
fn syntax(what: &str) -> DecodeError {
    DecodeError::Syntax(Serializer::MsgPack, what.to_owned())
}

/// One MessagePack item: a scalar, or the header of a container whose elements follow.
#[derive(Debug)]
enum Item<'a> {
    Nil,
    Bool(bool),
    UInt(u64),
    Int(i64),
    Float(f64),
    Str(&'a str),
    Bin(&'a [u8]),
    Array(u32),
    Map(u32),
}

/// A cursor over MessagePack bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// The next `n` bytes; fails (without allocating) if fewer remain.
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or_else(|| syntax("length too large"))?;
        let slice = self.buf.get(self.pos..end).ok_or_else(|| syntax("truncated input"))?;
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_be_bytes)
    }

    fn len(&mut self, n: u32) -> Result<&'a [u8], DecodeError> {
        let n = usize::try_from(n).map_err(|_| syntax("length too large"))?;
        self.take(n)
    }

    fn str(&mut self, n: u32) -> Result<Item<'a>, DecodeError> {
        let bytes = self.len(n)?;
        std::str::from_utf8(bytes).map(Item::Str).map_err(|_| syntax("string is not UTF-8"))
    }

    /// Reads the next item (for containers, only the header).
    fn item(&mut self) -> Result<Item<'a>, DecodeError> {
        let marker = Marker::from_u8(self.u8()?);
        Ok(match marker {
            Marker::Null => Item::Nil,
            Marker::True => Item::Bool(true),
            Marker::False => Item::Bool(false),
            Marker::FixPos(v) => Item::UInt(u64::from(v)),
            Marker::FixNeg(v) => Item::Int(i64::from(v)),
            Marker::U8 => Item::UInt(u64::from(self.u8()?)),
            Marker::U16 => Item::UInt(u64::from(self.u16()?)),
            Marker::U32 => Item::UInt(u64::from(self.u32()?)),
            Marker::U64 => Item::UInt(self.u64()?),
            Marker::I8 => int(i64::from(self.u8()? as i8)),
            Marker::I16 => int(i64::from(self.u16()? as i16)),
            Marker::I32 => int(i64::from(self.u32()? as i32)),
            Marker::I64 => int(self.u64()? as i64),
            Marker::F32 => Item::Float(f64::from(f32::from_bits(self.u32()?))),
            Marker::F64 => Item::Float(f64::from_bits(self.u64()?)),
            Marker::FixStr(n) => self.str(u32::from(n))?,
            Marker::Str8 => {
                let n = self.u8()?;
                self.str(u32::from(n))?
            }
            Marker::Str16 => {
                let n = self.u16()?;
                self.str(u32::from(n))?
            }
            Marker::Str32 => {
                let n = self.u32()?;
                self.str(n)?
            }
            Marker::Bin8 => {
                let n = self.u8()?;
                Item::Bin(self.len(u32::from(n))?)
            }
            Marker::Bin16 => {
                let n = self.u16()?;
                Item::Bin(self.len(u32::from(n))?)
            }
            Marker::Bin32 => {
                let n = self.u32()?;
                Item::Bin(self.len(n)?)
            }
            Marker::FixArray(n) => Item::Array(u32::from(n)),
            Marker::Array16 => Item::Array(u32::from(self.u16()?)),
            Marker::Array32 => Item::Array(self.u32()?),
            Marker::FixMap(n) => Item::Map(u32::from(n)),
            Marker::Map16 => Item::Map(u32::from(self.u16()?)),
            Marker::Map32 => Item::Map(self.u32()?),
            Marker::Reserved => return Err(syntax("reserved marker 0xc1")),
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32 => return Err(syntax("ext types are not supported")),
        })
    }

    /// Reads a map key, which must be a string.
    fn key(&mut self) -> Result<&'a str, DecodeError> {
        match self.item()? {
            Item::Str(k) => Ok(k),
            _ => Err(syntax("map key is not a string")),
        }
    }

    /// Reads a whole value. `depth` is the nesting of the enclosing containers (0 for an element
    /// of a message); containers deeper than [`MAX_NESTING`] are refused.
    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        Ok(match self.item()? {
            Item::Nil => Value::Null,
            Item::Bool(b) => Value::Bool(b),
            Item::UInt(u) => Value::UInt(u),
            Item::Int(i) => Value::Int(i),
            Item::Float(f) => Value::Float(f),
            Item::Str(s) => Value::Str(s.to_owned()),
            Item::Bin(b) => Value::Bytes(b.to_vec()),
            Item::Array(n) => {
                check_depth(depth)?;
                let mut items = Vec::with_capacity(self.capacity_for(n));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::List(items)
            }
            Item::Map(n) => Value::Dict(self.dict_body(n, depth)?),
        })
    }

    /// Reads the `n` entries of a map whose header was just read.
    fn dict_body(&mut self, n: u32, depth: usize) -> Result<Dict, DecodeError> {
        check_depth(depth)?;
        let mut entries = Vec::new();
        for _ in 0..n {
            let key = self.key()?.to_owned();
            let value = self.value(depth + 1)?;
            entries.push((key, value));
        }
        Ok(Dict::from_entries(entries))
    }

    /// Checks a whole value without building it (same rules as [`Reader::value`]).
    fn skip(&mut self, depth: usize) -> Result<(), DecodeError> {
        match self.item()? {
            Item::Array(n) => {
                check_depth(depth)?;
                for _ in 0..n {
                    self.skip(depth + 1)?;
                }
            }
            Item::Map(n) => {
                check_depth(depth)?;
                for _ in 0..n {
                    self.key()?;
                    self.skip(depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A capacity hint for `n` claimed elements: never more than the bytes left, since every
    /// element takes at least one byte.
    fn capacity_for(&self, n: u32) -> usize {
        usize::try_from(n).unwrap_or(usize::MAX).min(self.buf.len().saturating_sub(self.pos))
    }

    fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }
}

/// An integer from a signed marker, in canonical sign class.
fn int(v: i64) -> Item<'static> {
    if v >= 0 {
        Item::UInt(v as u64)
    } else {
        Item::Int(v)
    }
}

fn check_depth(depth: usize) -> Result<(), DecodeError> {
    if depth >= MAX_NESTING {
        Err(DecodeError::TooDeep)
    } else {
        Ok(())
    }
}

/// The elements of one MessagePack message.
struct MsgPackElements<'f> {
    frame: &'f Bytes,
    r: Reader<'f>,
    remaining: u32,
}

impl MsgPackElements<'_> {
    /// Starts reading the next element, or fails with a `Field` error if there is none.
    fn next(&mut self, message: &'static str, field: &'static str) -> Result<(), DecodeError> {
        if self.remaining == 0 {
            return Err(DecodeError::Field { message, field });
        }
        self.remaining -= 1;
        Ok(())
    }
}

impl Elements for MsgPackElements<'_> {
    fn is_end(&mut self) -> Result<bool, DecodeError> {
        Ok(self.remaining == 0)
    }

    fn uint(&mut self, message: &'static str, field: &'static str) -> Result<u64, DecodeError> {
        self.next(message, field)?;
        match self.r.item()? {
            Item::UInt(v) => Ok(v),
            _ => Err(DecodeError::Field { message, field }),
        }
    }

    fn string(&mut self, message: &'static str, field: &'static str) -> Result<String, DecodeError> {
        self.next(message, field)?;
        match self.r.item()? {
            Item::Str(s) => Ok(s.to_owned()),
            _ => Err(DecodeError::Field { message, field }),
        }
    }

    fn dict(&mut self, message: &'static str, field: &'static str) -> Result<Dict, DecodeError> {
        self.next(message, field)?;
        match self.r.item()? {
            Item::Map(n) => self.r.dict_body(n, 0),
            _ => Err(DecodeError::Field { message, field }),
        }
    }

    fn payload(&mut self, message: &'static str) -> Result<Payload, DecodeError> {
        let count = self.remaining;
        if count > 2 {
            return Err(DecodeError::TooLong(message));
        }
        self.remaining = 0;
        let start = self.r.pos;
        for i in 0..count {
            let at = self.r.pos;
            let shape_ok = match Marker::from_u8(self.r.u8()?) {
                Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => i == 0,
                Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => i == 1,
                _ => false,
            };
            if !shape_ok {
                return Err(DecodeError::PayloadShape);
            }
            self.r.pos = at;
            self.r.skip(0)?;
        }
        let end = self.r.pos;
        if !self.r.at_end() {
            return Err(syntax("bytes after the message"));
        }
        if count == 0 {
            return Ok(Payload::Empty);
        }
        Ok(Payload::Raw(RawPayload {
            serializer: Serializer::MsgPack,
            count: count as u8,
            bytes: self.frame.slice(start..end),
        }))
    }
}

/// Decodes one MessagePack message; the payload stays a slice of `frame`.
pub(super) fn decode(frame: Bytes) -> Result<Message, DecodeError> {
    let mut r = Reader::new(&frame);
    let len = match r.item()? {
        Item::Array(n) if n > 0 => n,
        _ => return Err(DecodeError::NotAList),
    };
    let code = match r.item()? {
        Item::UInt(code) => code,
        _ => return Err(DecodeError::Field { message: "message", field: "MessageType" }),
    };
    let mut elements = MsgPackElements { frame: &frame, r, remaining: len - 1 };
    decode_message(code, &mut elements)
}

/// Unwraps a write result of the infallible [`ByteBuf`].
fn wrote<T>(r: Result<T, ValueWriteError<Infallible>>) -> T {
    match r {
        Ok(v) => v,
        Err(ValueWriteError::InvalidMarkerWrite(e) | ValueWriteError::InvalidDataWrite(e)) => match e {},
    }
}

/// A length as MessagePack's 32-bit length.
fn len32(n: usize) -> Result<u32, EncodeError> {
    u32::try_from(n).map_err(|_| EncodeError::Unrepresentable(Serializer::MsgPack, "length > 2^32-1"))
}

fn write_str(buf: &mut ByteBuf, s: &str) -> Result<(), EncodeError> {
    len32(s.len())?;
    wrote(enc::write_str(buf, s));
    Ok(())
}

/// Writes `v`. `depth` is the nesting of the enclosing containers (0 for a message element).
fn write_value(buf: &mut ByteBuf, v: &Value, depth: usize) -> Result<(), EncodeError> {
    match v {
        Value::Null => match enc::write_nil(buf) {
            Ok(()) => {}
            Err(e) => match e {},
        },
        Value::Bool(b) => match enc::write_bool(buf, *b) {
            Ok(()) => {}
            Err(e) => match e {},
        },
        Value::UInt(u) => {
            wrote(enc::write_uint(buf, *u));
        }
        Value::Int(i) => {
            wrote(enc::write_sint(buf, *i));
        }
        Value::Float(f) => wrote(enc::write_f64(buf, *f)),
        Value::Str(s) => write_str(buf, s)?,
        Value::Bytes(b) => {
            len32(b.len())?;
            wrote(enc::write_bin(buf, b));
        }
        Value::List(items) => write_list(buf, items, depth)?,
        Value::Dict(d) => write_dict(buf, d, depth)?,
    }
    Ok(())
}

fn write_list(buf: &mut ByteBuf, items: &[Value], depth: usize) -> Result<(), EncodeError> {
    encode_depth(depth)?;
    wrote(enc::write_array_len(buf, len32(items.len())?));
    for item in items {
        write_value(buf, item, depth + 1)?;
    }
    Ok(())
}

fn write_dict(buf: &mut ByteBuf, d: &Dict, depth: usize) -> Result<(), EncodeError> {
    encode_depth(depth)?;
    wrote(enc::write_map_len(buf, len32(d.len())?));
    for (k, v) in d.iter() {
        write_str(buf, k)?;
        write_value(buf, v, depth + 1)?;
    }
    Ok(())
}

/// Refuses to write a container the decoder would reject as too deep.
fn encode_depth(depth: usize) -> Result<(), EncodeError> {
    if depth >= MAX_NESTING {
        Err(EncodeError::Unrepresentable(Serializer::MsgPack, "nesting deeper than MAX_NESTING"))
    } else {
        Ok(())
    }
}

/// Runs `write` on `out` as a [`ByteBuf`]; on error, `out` is left as it was.
fn with_buf(out: &mut Vec<u8>, write: impl FnOnce(&mut ByteBuf) -> Result<(), EncodeError>) -> Result<(), EncodeError> {
    let start = out.len();
    let mut buf = ByteBuf::from_vec(std::mem::take(out));
    let result = write(&mut buf);
    *out = buf.into_vec();
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Encodes one message as MessagePack, appending to `out`.
pub(super) fn encode(msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let head = Head::of(msg);
    let tail = Tail::of(head.payload, Serializer::MsgPack)?;
    with_buf(out, |buf| {
        let len = 1 + head.fields().len() + tail.count();
        wrote(enc::write_array_len(buf, len32(len)?));
        wrote(enc::write_uint(buf, head.code));
        for field in head.fields() {
            match field {
                Field::UInt(v) => {
                    wrote(enc::write_uint(buf, *v));
                }
                Field::Str(s) => write_str(buf, s)?,
                Field::Dict(d) => write_dict(buf, d, 0)?,
            }
        }
        match &tail {
            Tail::Empty => {}
            Tail::Raw { bytes, .. } => buf.as_mut_vec().extend_from_slice(bytes),
            Tail::Values { args, kwargs } => {
                write_list(buf, args, 0)?;
                if let Some(kw) = kwargs {
                    write_dict(buf, kw, 0)?;
                }
            }
        }
        Ok(())
    })
}

/// Decodes the `count` back-to-back elements of a MessagePack raw payload.
pub(super) fn decode_values(bytes: &[u8], count: u8) -> Result<Vec<Value>, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut values = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        values.push(r.value(0)?);
    }
    if !r.at_end() {
        return Err(syntax("bytes after the payload"));
    }
    Ok(values)
}

/// Encodes `values` back to back: the MessagePack raw payload form.
pub(super) fn encode_values(values: &[Value], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    with_buf(out, |buf| values.iter().try_for_each(|v| write_value(buf, v, 0)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::codec::tests::{assert_truncations_fail, dec, id};
    use crate::wamp::message::Published;

    const M: Serializer = Serializer::MsgPack;

    /// `[48, 7814135, {}, "com.myapp.myprocedure1", ["Hello, world!"]]` from the WAMP test
    /// vectors.
    const CALL: &[u8] = b"\x95\x30\xce\x00\x77\x3b\xf7\x80\xb6com.myapp.myprocedure1\x91\xadHello, world!";

    #[test]
    fn test_vector_call_decodes_with_a_raw_payload() {
        let Message::Call(call) = dec(M, CALL).unwrap() else { panic!() };
        assert_eq!(call.request, id(7814135));
        assert_eq!(call.procedure, "com.myapp.myprocedure1");
        let Payload::Raw(raw) = &call.payload else { panic!() };
        assert_eq!((raw.serializer, raw.count), (M, 1));
        assert_eq!(&raw.bytes[..], b"\x91\xadHello, world!");
    }

    #[test]
    fn truncated_frames_are_rejected() {
        assert_truncations_fail(M, CALL);
        assert_truncations_fail(
            M,
            b"\x96\x10\x01\x81\xa1k\xc4\x01\x00\xa1t\x92\x01\xcb\x3f\xf8\0\0\0\0\0\0\x81\xa1b\x90",
        );
    }

    #[test]
    fn non_list_or_empty_top_level_is_not_a_list() {
        for frame in [&b"\x90"[..], b"\xdc\x00\x00", b"\x80", b"\x05", b"\xa1x"] {
            assert_eq!(dec(M, frame), Err(DecodeError::NotAList), "{frame:?}");
        }
        assert!(matches!(dec(M, b""), Err(DecodeError::Syntax(M, _))));
    }

    #[test]
    fn huge_claimed_lengths_fail_without_allocating() {
        let frames: [&[u8]; 6] = [
            b"\xdd\xff\xff\xff\xff\x01",
            b"\x95\x10\x01\x80\xa1t\xdd\xff\xff\xff\xff",
            b"\x95\x10\x01\x80\xa1t\x91\xdb\xff\xff\xff\xffabc",
            b"\x95\x10\x01\x80\xa1t\x91\xc6\xff\xff\xff\xffabc",
            b"\x96\x10\x01\x80\xa1t\x90\xdf\xff\xff\xff\xff",
            b"\x94\x20\x01\xdf\xff\xff\xff\xff",
        ];
        for frame in frames {
            assert!(matches!(dec(M, frame), Err(DecodeError::Syntax(M, _))), "{frame:?}");
        }
        assert!(decode_values(b"\xdd\xff\xff\xff\xff", 1).is_err());
    }

    #[test]
    fn deep_nesting_is_too_deep() {
        let mut frame = b"\x95\x10\x01\x80\xa1t".to_vec();
        frame.extend(std::iter::repeat_n(0x91, 10_000));
        frame.push(0xc0);
        assert_eq!(dec(M, &frame), Err(DecodeError::TooDeep));
        let mut opts = b"\x94\x20\x01".to_vec();
        opts.extend(std::iter::repeat_n([0x81, 0xa1, b'a'], 10_000).flatten());
        opts.extend_from_slice(b"\xc0\xa1t");
        assert_eq!(dec(M, &opts), Err(DecodeError::TooDeep));
        assert_eq!(decode_values(&frame[6..], 1), Err(DecodeError::TooDeep));
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let frame = |depth: usize| {
            let mut f = b"\x95\x10\x01\x80\xa1t".to_vec();
            f.extend(std::iter::repeat_n(0x91, depth - 1));
            f.push(0x90);
            f
        };
        assert!(dec(M, &frame(MAX_NESTING)).is_ok());
        assert_eq!(dec(M, &frame(MAX_NESTING + 1)), Err(DecodeError::TooDeep));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut frame = CALL.to_vec();
        frame.push(0xc0);
        assert!(matches!(dec(M, &frame), Err(DecodeError::Syntax(M, _))));
        assert!(matches!(dec(M, b"\x93\x11\x01\x02\x00"), Err(DecodeError::Syntax(M, _))));
        assert!(decode_values(b"\x90\x90", 1).is_err());
    }

    #[test]
    fn ids_must_be_integers_up_to_two_pow_53() {
        let published = |request: &[u8]| [&b"\x93\x11"[..], request, b"\x01"].concat();
        let ok = Message::Published(Published { request: id(1 << 53), publication: id(1) });
        assert_eq!(dec(M, &published(b"\xcf\x00\x20\x00\x00\x00\x00\x00\x00")), Ok(ok));
        assert_eq!(dec(M, &published(b"\xd0\x05")).unwrap(), dec(M, b"\x93\x11\x05\x01").unwrap());
        for bad in [
            &b"\xcf\x00\x20\x00\x00\x00\x00\x00\x01"[..],
            b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\xff",
            b"\xd0\xfb",
            b"\xca\x3f\x80\x00\x00",
            b"\xa11",
            b"\xc0",
        ] {
            assert!(matches!(dec(M, &published(bad)), Err(DecodeError::Field { .. })), "{bad:?}");
        }
    }

    #[test]
    fn wrong_field_types_unknown_types_and_extra_elements_are_rejected() {
        let field = |message, field| Err(DecodeError::Field { message, field });
        assert_eq!(dec(M, b"\x93\x01\x05\x80"), field("HELLO", "Realm"));
        assert_eq!(dec(M, b"\x93\x01\xa1r\x90"), field("HELLO", "Details"));
        assert_eq!(dec(M, b"\x92\x01\xa1r"), field("HELLO", "Details"));
        assert_eq!(dec(M, b"\x92\xa1x\x01"), field("message", "MessageType"));
        assert_eq!(dec(M, b"\x92\x07\x01"), Err(DecodeError::UnknownType(7)));
        assert_eq!(dec(M, b"\x95\x20\x01\x80\xa1t\x90"), Err(DecodeError::TooLong("SUBSCRIBE")));
        assert_eq!(dec(M, b"\x97\x10\x01\x80\xa1t\x90\x80\x90"), Err(DecodeError::TooLong("PUBLISH")));
        assert_eq!(dec(M, b"\x95\x10\x01\x80\xa1t\x80"), Err(DecodeError::PayloadShape));
        assert_eq!(dec(M, b"\x95\x10\x01\x80\xa1t\xc4\x00"), Err(DecodeError::PayloadShape));
        assert_eq!(dec(M, b"\x96\x10\x01\x80\xa1t\x90\x90"), Err(DecodeError::PayloadShape));
    }

    #[test]
    fn non_string_map_keys_are_rejected() {
        assert!(matches!(dec(M, b"\x94\x20\x01\x81\x01\x02\xa1t"), Err(DecodeError::Syntax(M, _))));
        assert!(matches!(dec(M, b"\x96\x10\x01\x80\xa1t\x90\x81\xc4\x01k\x02"), Err(DecodeError::Syntax(M, _))));
        assert!(decode_values(b"\x81\x01\x02", 1).is_err());
    }

    #[test]
    fn ext_types_reserved_marker_and_bad_utf8_are_rejected() {
        for value in [&b"\xd4\x01\x00"[..], b"\xc7\x01\x05\x00", b"\xc1", b"\xa2\xc3\x28", b"\xd9\x01\xff"] {
            assert!(decode_values(value, 1).is_err(), "{value:?}");
            let frame = [&b"\x95\x10\x01\x80\xa1t\x91"[..], value].concat();
            assert!(matches!(dec(M, &frame), Err(DecodeError::Syntax(M, _))), "{value:?}");
        }
        assert!(dec(M, b"\x93\x01\xa2\xc3\x28\x80").is_err());
    }

    #[test]
    fn str_and_bin_stay_distinct_and_all_number_markers_are_read() {
        let bytes = b"\xa2hi\xc4\x02hi\xca\x3f\xc0\x00\x00\xcb\x40\x09\x21\xfb\x54\x44\x2d\x18\xd1\xff\x00\xd3\xff\xff\xff\xff\xff\xff\xff\xff\xd2\x00\x00\x00\x07\xe0\xcc\xff\xc3";
        let values = decode_values(bytes, 10).unwrap();
        assert_eq!(
            values,
            vec![
                Value::from("hi"),
                Value::Bytes(b"hi".to_vec()),
                Value::Float(1.5),
                Value::Float(std::f64::consts::PI),
                Value::Int(-256),
                Value::Int(-1),
                Value::UInt(7),
                Value::Int(-32),
                Value::UInt(255),
                Value::Bool(true),
            ]
        );
        assert!(decode_values(bytes, 11).is_err());
    }

    #[test]
    fn encoding_uses_compact_markers() {
        let mut out = Vec::new();
        let values = [
            Value::UInt(5),
            Value::Int(-5),
            Value::UInt(1 << 53),
            Value::Bytes(vec![7]),
            Value::from("é"),
            Value::Null,
        ];
        encode_values(&values, &mut out).unwrap();
        assert_eq!(out, b"\x05\xfb\xcf\x00\x20\x00\x00\x00\x00\x00\x00\xc4\x01\x07\xa2\xc3\xa9\xc0");
        assert_eq!(decode_values(&out, 6).unwrap(), values);
    }

    #[test]
    fn raw_payload_count_goes_into_the_array_header() {
        let raw = RawPayload { serializer: M, count: 2, bytes: Bytes::from_static(b"\x90\x80") };
        let msg = Message::Result(crate::wamp::message::CallResult {
            request: id(3),
            details: Dict::new(),
            payload: Payload::Raw(raw),
        });
        let mut out = Vec::new();
        encode(&msg, &mut out).unwrap();
        assert_eq!(out, b"\x95\x32\x03\x80\x90\x80");
    }
}
