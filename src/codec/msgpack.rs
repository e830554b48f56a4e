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
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| syntax("length too large"))?;
        let slice = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| syntax("truncated input"))?;
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
        std::str::from_utf8(bytes)
            .map(Item::Str)
            .map_err(|_| syntax("string is not UTF-8"))
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
        let mut dict = Dict::new();
        for _ in 0..n {
            let key = self.key()?.to_owned();
            let value = self.value(depth + 1)?;
            dict.insert(key, value);
        }
        Ok(dict)
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
        usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(self.buf.len().saturating_sub(self.pos))
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

    fn string(
        &mut self,
        message: &'static str,
        field: &'static str,
    ) -> Result<String, DecodeError> {
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
        _ => {
            return Err(DecodeError::Field {
                message: "message",
                field: "MessageType",
            })
        }
    };
    let mut elements = MsgPackElements {
        frame: &frame,
        r,
        remaining: len - 1,
    };
    decode_message(code, &mut elements)
}

/// Unwraps a write result of the infallible [`ByteBuf`].
fn wrote<T>(r: Result<T, ValueWriteError<Infallible>>) -> T {
    match r {
        Ok(v) => v,
        Err(ValueWriteError::InvalidMarkerWrite(e) | ValueWriteError::InvalidDataWrite(e)) => {
            match e {}
        }
    }
}

/// A length as MessagePack's 32-bit length.
fn len32(n: usize) -> Result<u32, EncodeError> {
    u32::try_from(n)
        .map_err(|_| EncodeError::Unrepresentable(Serializer::MsgPack, "length > 2^32-1"))
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
        Err(EncodeError::Unrepresentable(
            Serializer::MsgPack,
            "nesting deeper than MAX_NESTING",
        ))
    } else {
        Ok(())
    }
}

/// Runs `write` on `out` as a [`ByteBuf`]; on error, `out` is left as it was.
fn with_buf(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut ByteBuf) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
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
    with_buf(out, |buf| {
        values.iter().try_for_each(|v| write_value(buf, v, 0))
    })
}
