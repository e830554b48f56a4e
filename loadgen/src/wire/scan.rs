//! Head scanners for the messages received once per event or call.
//!
//! Owns: reading just what the load generator needs out of EVENT, RESULT, INVOCATION and
//! ERROR (type code, ids, the `[ts, seq]` at the front of Arguments, the span of the payload to
//! echo, the one flag of Details that matters: RESULT's `progress` and INVOCATION's
//! `receive_progress`) in place, for each serializer. Everything else is only classified by its type code and
//! left to wampyard's full decoder. Never: allocates, copies, or validates what it skips beyond
//! what is needed to find the next element.

use wampyard::codec::Serializer;
use wampyard::wamp::message::code;

use super::encode::{Echo, PROGRESS, RECEIVE_PROGRESS};

/// Deepest nesting the skipper follows; deeper input is treated as malformed.
const MAX_DEPTH: usize = 64;

/// What a received message is, as far as the load generator cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scanned<'a> {
    /// EVENT; `[ts, seq]` when Arguments starts with two non-negative integers.
    Event(Option<(u64, u64)>),
    /// RESULT without `progress: true` in Details (a final result); `[ts, seq]` as for EVENT.
    Result(Option<(u64, u64)>),
    /// RESULT with `progress: true` in Details (a progressive result); `[ts, seq]` as for EVENT.
    Progress(Option<(u64, u64)>),
    /// INVOCATION: its request id and the payload to echo.
    Invocation {
        /// INVOCATION.Request.
        request: u64,
        /// Details has `receive_progress: true`: the caller takes progressive results.
        receive_progress: bool,
        /// Arguments and ArgumentsKw as received.
        echo: Echo<'a>,
    },
    /// ERROR: the type and request id it answers.
    Error {
        /// REQUEST.Type.
        request_type: u64,
        /// REQUEST.Request.
        request: u64,
    },
    /// Any other message type; decode it fully if it matters.
    Other(u64),
}

/// Scans one whole WAMP message; `None` when it is not well formed as far as it was read.
/// Inlined so that the result stays in registers on the per-event path.
#[inline(always)]
pub(crate) fn scan(ser: Serializer, msg: &[u8]) -> Option<Scanned<'_>> {
    match ser {
        Serializer::MsgPack => scan_with(MsgPack { b: msg, p: 0 }),
        Serializer::Cbor => scan_with(Cbor { b: msg, p: 0 }),
        Serializer::Json => scan_with(Json { b: msg, p: 0, first: true }),
    }
}

/// The type code of a message and the two elements after it, each when it is a non-negative
/// integer: WELCOME's Session, SUBSCRIBED's Request and Subscription, EVENT's Subscription and
/// Publication. For the few messages whose ids matter beyond what [`scan`] reads (session
/// setup, meta events); `None` when not even the type code can be read.
pub(crate) fn head(ser: Serializer, msg: &[u8]) -> Option<(u64, Option<u64>, Option<u64>)> {
    match ser {
        Serializer::MsgPack => head_with(MsgPack { b: msg, p: 0 }),
        Serializer::Cbor => head_with(Cbor { b: msg, p: 0 }),
        Serializer::Json => head_with(Json { b: msg, p: 0, first: true }),
    }
}

fn head_with<'a, C: Cursor<'a>>(mut c: C) -> Option<(u64, Option<u64>, Option<u64>)> {
    c.list()?;
    let kind = c.uint()?;
    let first = c.uint();
    let second = first.and_then(|_| c.uint());
    Some((kind, first, second))
}

/// Reads a message's elements one by one.
trait Cursor<'a> {
    /// Enters a list; its length when the encoding states it.
    fn list(&mut self) -> Option<Option<usize>>;
    /// The next element as a non-negative integer.
    fn uint(&mut self) -> Option<u64>;
    /// Steps over the next element.
    fn skip(&mut self) -> Option<()>;
    /// Steps over the next element, a dict, and tells whether it maps `key` to `true`.
    fn flag(&mut self, key: &str) -> Option<bool>;
    /// The remaining elements of the top-level list, which has `len` elements (when known) of
    /// which `read` were consumed.
    fn rest(&mut self, len: Option<usize>, read: usize) -> Option<Echo<'a>>;
}

#[inline(always)]
fn scan_with<'a, C: Cursor<'a>>(mut c: C) -> Option<Scanned<'a>> {
    let len = c.list()?;
    let kind = c.uint()?;
    match kind {
        code::EVENT => {
            c.uint()?;
            c.uint()?;
            c.skip()?;
            Some(Scanned::Event(ts_seq(&mut c)))
        }
        code::RESULT => {
            c.uint()?;
            if c.flag(PROGRESS)? {
                Some(Scanned::Progress(ts_seq(&mut c)))
            } else {
                Some(Scanned::Result(ts_seq(&mut c)))
            }
        }
        code::INVOCATION => {
            let request = c.uint()?;
            c.uint()?;
            let receive_progress = c.flag(RECEIVE_PROGRESS)?;
            let echo = c.rest(len, 4)?;
            Some(Scanned::Invocation { request, receive_progress, echo })
        }
        code::ERROR => {
            let request_type = c.uint()?;
            let request = c.uint()?;
            Some(Scanned::Error { request_type, request })
        }
        other => Some(Scanned::Other(other)),
    }
}

#[inline(always)]
fn ts_seq<'a, C: Cursor<'a>>(c: &mut C) -> Option<(u64, u64)> {
    c.list()?;
    Some((c.uint()?, c.uint()?))
}

struct MsgPack<'a> {
    b: &'a [u8],
    p: usize,
}

impl MsgPack<'_> {
    #[inline(always)]
    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.p)?;
        self.p += 1;
        Some(v)
    }

    #[inline(always)]
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = *self.b.get(self.p..)?.first_chunk::<N>()?;
        self.p += N;
        Some(bytes)
    }

    #[inline(always)]
    fn be(&mut self, n: usize) -> Option<u64> {
        Some(match n {
            1 => u64::from(self.byte()?),
            2 => u64::from(u16::from_be_bytes(self.take()?)),
            4 => u64::from(u32::from_be_bytes(self.take()?)),
            _ => u64::from_be_bytes(self.take()?),
        })
    }

    #[inline]
    fn advance(&mut self, n: u64) -> Option<()> {
        let n = usize::try_from(n).ok()?;
        if self.b.len() - self.p < n {
            return None;
        }
        self.p += n;
        Some(())
    }
}

impl<'a> Cursor<'a> for MsgPack<'a> {
    #[inline(always)]
    fn list(&mut self) -> Option<Option<usize>> {
        let n = match self.byte()? {
            t @ 0x90..=0x9f => u64::from(t & 0x0f),
            0xdc => self.be(2)?,
            0xdd => self.be(4)?,
            _ => return None,
        };
        Some(Some(usize::try_from(n).ok()?))
    }

    #[inline(always)]
    fn uint(&mut self) -> Option<u64> {
        match self.byte()? {
            t @ 0x00..=0x7f => Some(u64::from(t)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            0xd0 => self.be(1).filter(|v| *v < 0x80),
            0xd1 => self.be(2).filter(|v| *v < 0x8000),
            0xd2 => self.be(4).filter(|v| *v < 0x8000_0000),
            0xd3 => self.be(8).filter(|v| *v < 1 << 63),
            _ => None,
        }
    }

    #[inline]
    fn skip(&mut self) -> Option<()> {
        if self.b.get(self.p) == Some(&0x80) {
            // The empty map: Details of almost every EVENT.
            self.p += 1;
            return Some(());
        }
        let mut todo: u64 = 1;
        while todo > 0 {
            todo -= 1;
            match self.byte()? {
                0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => {}
                t @ 0x80..=0x8f => todo += 2 * u64::from(t & 0x0f),
                t @ 0x90..=0x9f => todo += u64::from(t & 0x0f),
                t @ 0xa0..=0xbf => self.advance(u64::from(t & 0x1f))?,
                0xc4 | 0xd9 => {
                    let n = self.be(1)?;
                    self.advance(n)?;
                }
                0xc5 | 0xda => {
                    let n = self.be(2)?;
                    self.advance(n)?;
                }
                0xc6 | 0xdb => {
                    let n = self.be(4)?;
                    self.advance(n)?;
                }
                0xc7 => {
                    let n = self.be(1)?;
                    self.advance(n + 1)?;
                }
                0xc8 => {
                    let n = self.be(2)?;
                    self.advance(n + 1)?;
                }
                0xc9 => {
                    let n = self.be(4)?;
                    self.advance(n + 1)?;
                }
                0xca | 0xce | 0xd2 => self.advance(4)?,
                0xcb | 0xcf | 0xd3 => self.advance(8)?,
                0xcc | 0xd0 => self.advance(1)?,
                0xcd | 0xd1 => self.advance(2)?,
                0xd4 => self.advance(2)?,
                0xd5 => self.advance(3)?,
                0xd6 => self.advance(5)?,
                0xd7 => self.advance(9)?,
                0xd8 => self.advance(17)?,
                0xdc => todo += self.be(2)?,
                0xdd => todo += self.be(4)?,
                0xde => todo += 2 * self.be(2)?,
                0xdf => todo += 2 * self.be(4)?,
                0xc1 => return None,
            }
        }
        Some(())
    }

    fn flag(&mut self, key: &str) -> Option<bool> {
        let n = match self.byte()? {
            // The empty map: Details of almost every RESULT and INVOCATION.
            0x80 => return Some(false),
            t @ 0x81..=0x8f => u64::from(t & 0x0f),
            0xde => self.be(2)?,
            0xdf => self.be(4)?,
            _ => return None,
        };
        let mut found = false;
        for _ in 0..n {
            let start = self.p;
            let len = match self.byte()? {
                t @ 0xa0..=0xbf => Some(u64::from(t & 0x1f)),
                0xd9 => Some(self.be(1)?),
                0xda => Some(self.be(2)?),
                0xdb => Some(self.be(4)?),
                _ => None,
            };
            let is_key = match len {
                Some(len) => {
                    let at = self.p;
                    self.advance(len)?;
                    self.b.get(at..self.p) == Some(key.as_bytes())
                }
                None => {
                    self.p = start;
                    self.skip()?;
                    false
                }
            };
            if is_key {
                found = self.b.get(self.p) == Some(&0xc3);
            }
            self.skip()?;
        }
        Some(found)
    }

    fn rest(&mut self, len: Option<usize>, read: usize) -> Option<Echo<'a>> {
        let count = len?.checked_sub(read)?;
        Some(Echo { bytes: self.b.get(self.p..)?, count })
    }
}

struct Cbor<'a> {
    b: &'a [u8],
    p: usize,
}

/// The CBOR "break" byte that ends an indefinite-length item.
const CBOR_BREAK: u8 = 0xff;

impl Cbor<'_> {
    /// Major type and argument of the next head; `None` argument for indefinite length.
    fn head(&mut self) -> Option<(u8, Option<u64>)> {
        let b = *self.b.get(self.p)?;
        self.p += 1;
        let info = b & 0x1f;
        let arg = match info {
            0..=23 => Some(u64::from(info)),
            24..=27 => {
                let n = 1usize << (info - 24);
                let bytes = self.b.get(self.p..self.p + n)?;
                self.p += n;
                Some(bytes.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
            }
            31 => None,
            _ => return None,
        };
        Some((b >> 5, arg))
    }

    fn skip_depth(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (major, arg) = self.head()?;
        match (major, arg) {
            (0 | 1 | 7, Some(_)) => Some(()),
            (2 | 3, Some(n)) => {
                let n = usize::try_from(n).ok()?;
                if self.b.len() - self.p < n {
                    return None;
                }
                self.p += n;
                Some(())
            }
            (2..=5, None) => {
                while *self.b.get(self.p)? != CBOR_BREAK {
                    self.skip_depth(depth + 1)?;
                    if major == 5 {
                        self.skip_depth(depth + 1)?;
                    }
                }
                self.p += 1;
                Some(())
            }
            (4, Some(n)) => (0..n).try_for_each(|_| self.skip_depth(depth + 1)),
            (5, Some(n)) => (0..n.checked_mul(2)?).try_for_each(|_| self.skip_depth(depth + 1)),
            (6, Some(_)) => self.skip_depth(depth + 1),
            _ => None,
        }
    }
}

impl<'a> Cursor<'a> for Cbor<'a> {
    fn list(&mut self) -> Option<Option<usize>> {
        match self.head()? {
            (4, Some(n)) => Some(Some(usize::try_from(n).ok()?)),
            (4, None) => Some(None),
            _ => None,
        }
    }

    fn uint(&mut self) -> Option<u64> {
        match self.head()? {
            (0, Some(v)) => Some(v),
            _ => None,
        }
    }

    fn skip(&mut self) -> Option<()> {
        self.skip_depth(0)
    }

    fn flag(&mut self, key: &str) -> Option<bool> {
        let n = match self.head()? {
            (5, Some(0)) => return Some(false),
            (5, n) => n,
            _ => return None,
        };
        let mut found = false;
        let mut i = 0u64;
        loop {
            match n {
                Some(n) if i == n => break,
                None if *self.b.get(self.p)? == CBOR_BREAK => {
                    self.p += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
            let start = self.p;
            let is_key = match self.head()? {
                (3, Some(len)) => {
                    let len = usize::try_from(len).ok()?;
                    let text = self.b.get(self.p..)?.get(..len)?;
                    self.p += len;
                    text == key.as_bytes()
                }
                _ => {
                    self.p = start;
                    self.skip()?;
                    false
                }
            };
            if is_key {
                // The simple value true.
                found = self.b.get(self.p) == Some(&0xf5);
            }
            self.skip()?;
        }
        Some(found)
    }

    fn rest(&mut self, len: Option<usize>, read: usize) -> Option<Echo<'a>> {
        let start = self.p;
        match len {
            Some(len) => Some(Echo { bytes: self.b.get(start..)?, count: len.checked_sub(read)? }),
            None => {
                let mut count = 0;
                while *self.b.get(self.p)? != CBOR_BREAK {
                    self.skip()?;
                    count += 1;
                }
                Some(Echo { bytes: self.b.get(start..self.p)?, count })
            }
        }
    }
}

struct Json<'a> {
    b: &'a [u8],
    p: usize,
    /// True right after `[`: no separator expected before the next element.
    first: bool,
}

impl Json<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.p), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.p += 1;
        }
    }

    /// Moves to the start of the next element, over whitespace and the separating comma.
    fn element(&mut self) -> Option<u8> {
        self.ws();
        if !self.first && self.b.get(self.p) == Some(&b',') {
            self.p += 1;
            self.ws();
        }
        self.first = false;
        self.b.get(self.p).copied()
    }

    fn skip_string(&mut self) -> Option<()> {
        self.p += 1;
        loop {
            match *self.b.get(self.p)? {
                b'"' => {
                    self.p += 1;
                    return Some(());
                }
                b'\\' => self.p += 2,
                _ => self.p += 1,
            }
        }
    }

    /// Steps over the element that starts at the current position.
    fn skip_value(&mut self) -> Option<()> {
        match *self.b.get(self.p)? {
            b'"' => self.skip_string(),
            b'[' | b'{' => {
                let mut depth = 0usize;
                loop {
                    match *self.b.get(self.p)? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'[' | b'{' => depth += 1,
                        b']' | b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                self.p += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.p += 1;
                }
            }
            _ => {
                while !matches!(self.b.get(self.p), None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n')) {
                    self.p += 1;
                }
                Some(())
            }
        }
    }
}

impl<'a> Cursor<'a> for Json<'a> {
    fn list(&mut self) -> Option<Option<usize>> {
        if self.element()? != b'[' {
            return None;
        }
        self.p += 1;
        self.first = true;
        Some(None)
    }

    fn uint(&mut self) -> Option<u64> {
        self.element()?;
        let start = self.p;
        let mut v: u64 = 0;
        while let Some(d) = self.b.get(self.p).filter(|d| d.is_ascii_digit()) {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.p += 1;
        }
        let integral = !matches!(self.b.get(self.p), Some(b'.' | b'e' | b'E'));
        (self.p > start && integral).then_some(v)
    }

    fn skip(&mut self) -> Option<()> {
        self.element()?;
        self.skip_value()
    }

    fn flag(&mut self, key: &str) -> Option<bool> {
        if self.element()? != b'{' {
            return None;
        }
        self.p += 1;
        let mut found = false;
        loop {
            self.ws();
            match *self.b.get(self.p)? {
                b'}' => {
                    self.p += 1;
                    return Some(found);
                }
                b',' => self.p += 1,
                b'"' => {
                    let start = self.p + 1;
                    self.skip_string()?;
                    let is_key = self.b.get(start..self.p - 1) == Some(key.as_bytes());
                    self.ws();
                    if self.b.get(self.p) != Some(&b':') {
                        return None;
                    }
                    self.p += 1;
                    self.ws();
                    if is_key {
                        let rest = self.b.get(self.p..)?;
                        found = rest.starts_with(b"true")
                            && matches!(rest.get(4), Some(b',' | b'}' | b' ' | b'\t' | b'\r' | b'\n'));
                    }
                    self.skip_value()?;
                }
                _ => return None,
            }
        }
    }

    fn rest(&mut self, _len: Option<usize>, _read: usize) -> Option<Echo<'a>> {
        self.ws();
        let end = self.b.iter().rposition(|&c| c == b']')?;
        if end < self.p {
            return None;
        }
        let mut start = self.p;
        if self.b.get(start) == Some(&b',') {
            start += 1;
        }
        let bytes = self.b.get(start..end)?.trim_ascii();
        Some(Echo { bytes, count: 0 })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::wire::encode;
    use bytes::Bytes;
    use wampyard::codec::PayloadCodec;
    use wampyard::codec::{self, Payload};
    use wampyard::wamp::message as m;
    use wampyard::wamp::{Dict, Id, Message, Value};

    fn encoded(ser: Serializer, msg: &Message) -> Vec<u8> {
        codec::encode(ser, msg).unwrap().to_vec()
    }

    fn args(values: Vec<Value>) -> Payload {
        let raw = codec::encode(
            Serializer::MsgPack,
            &Message::Publish(m::Publish {
                request: Id::new(1).unwrap(),
                options: Dict::new(),
                topic: "t".into(),
                payload: Payload::args(values),
            }),
        )
        .unwrap();
        let Message::Publish(p) = codec::decode(Serializer::MsgPack, raw).unwrap() else { panic!() };
        p.payload
    }

    fn event(details: Dict, payload: Payload) -> Message {
        Message::Event(m::Event {
            subscription: Id::new(1 << 40).unwrap(),
            publication: Id::new(77).unwrap(),
            details,
            payload,
        })
    }

    fn nested_details() -> Dict {
        Dict::new()
            .with("topic", "a.b\"]}")
            .with("x", Value::List(vec![Value::Dict(Dict::new().with("k", 1u64)), Value::Float(1.5), Value::Null]))
            .with("bin", Value::Bytes(vec![1, 2, 3]))
            .with("neg", Value::Int(-1000))
    }

    #[test]
    fn event_timestamp_and_sequence_are_read_in_every_serializer() {
        for ser in Serializer::ALL {
            for details in [Dict::new(), nested_details()] {
                let payload = args(vec![Value::UInt(123_456_789_012), Value::UInt(42), Value::from("filler")]);
                let bytes = encoded(ser, &event(details, payload));
                assert_eq!(scan(ser, &bytes), Some(Scanned::Event(Some((123_456_789_012, 42)))), "{ser}");
            }
        }
    }

    #[test]
    fn heads_give_the_session_subscription_and_publication_ids() {
        let welcome = Message::Welcome(m::Welcome { session: Id::new(1 << 50).unwrap(), details: nested_details() });
        let subscribed =
            Message::Subscribed(m::Subscribed { request: Id::new(2).unwrap(), subscription: Id::new(70_000).unwrap() });
        for ser in Serializer::ALL {
            assert_eq!(head(ser, &encoded(ser, &welcome)), Some((code::WELCOME, Some(1 << 50), None)), "{ser}");
            assert_eq!(head(ser, &encoded(ser, &subscribed)), Some((code::SUBSCRIBED, Some(2), Some(70_000))), "{ser}");
            let ev = encoded(ser, &event(nested_details(), args(vec![Value::from("x")])));
            assert_eq!(head(ser, &ev), Some((code::EVENT, Some(1 << 40), Some(77))), "{ser}");
            assert_eq!(head(ser, b""), None, "{ser}");
        }
    }

    #[test]
    fn event_without_timed_arguments_is_still_an_event() {
        for ser in Serializer::ALL {
            for payload in [Payload::Empty, args(vec![Value::from("x")]), args(vec![Value::Int(-1), Value::UInt(1)])] {
                let bytes = encoded(ser, &event(Dict::new(), payload));
                assert_eq!(scan(ser, &bytes), Some(Scanned::Event(None)), "{ser}");
            }
        }
    }

    #[test]
    fn result_timestamp_is_read_in_every_serializer() {
        for ser in Serializer::ALL {
            let msg = Message::Result(m::CallResult {
                request: Id::new(5).unwrap(),
                details: nested_details(),
                payload: args(vec![Value::UInt(9), Value::UInt(10), Value::from("f")]),
            });
            assert_eq!(scan(ser, &encoded(ser, &msg)), Some(Scanned::Result(Some((9, 10)))), "{ser}");
        }
    }

    #[test]
    fn invocation_payload_is_echoed_into_an_equal_yield() {
        for ser in Serializer::ALL {
            for payload in [
                Payload::Empty,
                args(vec![Value::UInt(1), Value::UInt(2), Value::from("abc")]),
                Payload::Values {
                    args: vec![Value::from("k")],
                    kwargs: Some(Dict::new().with("a", Value::List(vec![Value::UInt(1)]))),
                },
            ] {
                let msg = Message::Invocation(m::Invocation {
                    request: Id::new(3000).unwrap(),
                    registration: Id::new(8).unwrap(),
                    details: nested_details(),
                    payload: payload.clone(),
                });
                let bytes = encoded(ser, &msg);
                let Some(Scanned::Invocation { request, receive_progress: false, echo }) = scan(ser, &bytes) else {
                    panic!("{ser}")
                };
                assert_eq!(request, 3000);
                let mut out = Vec::new();
                encode::yield_echo(ser, request, None, echo, &mut out);
                let Message::Yield(y) = codec::decode(ser, Bytes::from(out)).unwrap() else { panic!() };
                assert_eq!(y.request.get(), 3000);
                assert_eq!(y.payload.to_values().unwrap(), payload.to_values().unwrap(), "{ser}");
            }
        }
    }

    #[test]
    fn indefinite_length_cbor_invocation_is_echoed() {
        // [68, 1, 2, {}, [7]] with the outer list and the args list of indefinite length.
        let bytes = [0x9f, 0x18, 0x44, 0x01, 0x02, 0xa0, 0x9f, 0x07, 0xff, 0xff];
        let Some(Scanned::Invocation { request, echo, .. }) = scan(Serializer::Cbor, &bytes) else { panic!() };
        assert_eq!(request, 1);
        assert_eq!(echo, Echo { bytes: &[0x9f, 0x07, 0xff], count: 1 });
    }

    #[test]
    fn json_with_whitespace_is_scanned() {
        let text = b" [ 36 , 1 , 2 , { \"a\" : [ 1 , \"]\" ] } , [ 10 , 20 , \"x\" ] ] ";
        assert_eq!(scan(Serializer::Json, text), Some(Scanned::Event(Some((10, 20)))));
        let inv = b"[68, 4, 5, {}, [1, 2], {\"k\": 1} ]";
        let Some(Scanned::Invocation { request: 4, echo, .. }) = scan(Serializer::Json, inv) else { panic!() };
        assert_eq!(echo.bytes, b"[1, 2], {\"k\": 1}");
    }

    #[test]
    fn error_and_other_messages_are_classified() {
        for ser in Serializer::ALL {
            let err = Message::Error(m::Error {
                request_type: code::CALL,
                request: Id::new(12).unwrap(),
                details: Dict::new(),
                error: "wamp.error.no_such_procedure".into(),
                payload: Payload::Empty,
            });
            assert_eq!(scan(ser, &encoded(ser, &err)), Some(Scanned::Error { request_type: code::CALL, request: 12 }));
            let bye = encoded(ser, &encode::goodbye("wamp.close.normal"));
            assert_eq!(scan(ser, &bye), Some(Scanned::Other(code::GOODBYE)));
        }
    }

    #[test]
    fn truncated_messages_are_rejected_not_misread() {
        for ser in Serializer::ALL {
            let payload = args(vec![Value::UInt(1), Value::UInt(2), Value::from("filler")]);
            let bytes = encoded(ser, &event(nested_details(), payload));
            for cut in 0..bytes.len() / 2 {
                // JSON numbers cut short still parse (as a smaller number); framing guarantees
                // whole messages, so what matters is no panic and no invented [ts, seq].
                assert!(!matches!(scan(ser, &bytes[..cut]), Some(Scanned::Event(Some(_)))), "{ser} cut {cut}");
            }
        }
    }

    fn result(details: Dict) -> Message {
        Message::Result(m::CallResult {
            request: Id::new(5).unwrap(),
            details,
            payload: args(vec![Value::UInt(9), Value::UInt(10), Value::from("f")]),
        })
    }

    #[test]
    fn progressive_results_are_told_from_final_ones_in_every_serializer() {
        for ser in Serializer::ALL {
            let progressive = [
                Dict::new().with("progress", true),
                nested_details().with("progress", true),
                Dict::new().with("progress", true).with("z", Value::List(vec![Value::Null])),
            ];
            for details in progressive {
                let bytes = encoded(ser, &result(details.clone()));
                assert_eq!(scan(ser, &bytes), Some(Scanned::Progress(Some((9, 10)))), "{ser} {details:?}");
            }
            let final_ = [
                Dict::new(),
                Dict::new().with("progress", false),
                Dict::new().with("progressive", true).with("progres", true),
                Dict::new().with("x", Dict::new().with("progress", true)),
                Dict::new().with("progress", "true"),
                Dict::new().with("progress", 1u64),
                nested_details(),
            ];
            for details in final_ {
                let bytes = encoded(ser, &result(details.clone()));
                assert_eq!(scan(ser, &bytes), Some(Scanned::Result(Some((9, 10)))), "{ser} {details:?}");
            }
        }
    }

    #[test]
    fn invocation_tells_whether_the_caller_takes_progressive_results() {
        for ser in Serializer::ALL {
            for (details, want) in [
                (Dict::new(), false),
                (Dict::new().with("receive_progress", true), true),
                (nested_details().with("receive_progress", true).with("caller", 123u64), true),
                (Dict::new().with("receive_progress", false), false),
                (Dict::new().with("progress", true), false),
            ] {
                let msg = Message::Invocation(m::Invocation {
                    request: Id::new(41).unwrap(),
                    registration: Id::new(8).unwrap(),
                    details: details.clone(),
                    payload: args(vec![Value::UInt(1), Value::UInt(2)]),
                });
                let bytes = encoded(ser, &msg);
                let Some(Scanned::Invocation { request: 41, receive_progress, echo }) = scan(ser, &bytes) else {
                    panic!("{ser}")
                };
                assert_eq!(receive_progress, want, "{ser} {details:?}");
                let mut out = Vec::new();
                encode::yield_echo(ser, 41, None, echo, &mut out);
                let Message::Yield(y) = codec::decode(ser, Bytes::from(out)).unwrap() else { panic!() };
                assert_eq!(y.payload.to_values().unwrap().0, vec![Value::UInt(1), Value::UInt(2)], "{ser}");
            }
        }
    }

    #[test]
    fn details_flags_are_found_in_unusual_encodings() {
        // MessagePack map16 with a non-string key first: [50, 5, {1: 2, "progress": true}, [3, 4]].
        let mp = [
            0x94, 0x32, 0x05, 0xde, 0x00, 0x02, 0x01, 0x02, 0xa8, b'p', b'r', b'o', b'g', b'r', b'e', b's', b's', 0xc3,
            0x92, 0x03, 0x04,
        ];
        assert_eq!(scan(Serializer::MsgPack, &mp), Some(Scanned::Progress(Some((3, 4)))));
        // CBOR indefinite-length map: [50, 5, {_ "progress": true}, [3, 4]].
        let cbor = [
            0x84, 0x18, 0x32, 0x05, 0xbf, 0x68, b'p', b'r', b'o', b'g', b'r', b'e', b's', b's', 0xf5, 0xff, 0x82, 0x03,
            0x04,
        ];
        assert_eq!(scan(Serializer::Cbor, &cbor), Some(Scanned::Progress(Some((3, 4)))));
        let json = b"[50 , 5 , { \"a\" : \"progress\" , \"progress\" : true } , [3, 4]]";
        assert_eq!(scan(Serializer::Json, json), Some(Scanned::Progress(Some((3, 4)))));
        let json = b"[50,5,{\"progress\":trueish},[3,4]]";
        assert_eq!(scan(Serializer::Json, json), Some(Scanned::Result(Some((3, 4)))));
        let json = b"[50,5,{\"progress\":true}";
        assert_eq!(scan(Serializer::Json, json), Some(Scanned::Progress(None)));
        assert_eq!(scan(Serializer::Json, b"[50,5,{\"progress\" true},[3,4]]"), None);
    }

    #[test]
    fn truncated_results_are_rejected_not_misread() {
        for ser in Serializer::ALL {
            let bytes = encoded(ser, &result(nested_details().with("progress", true)));
            for cut in 0..bytes.len() / 2 {
                assert!(
                    !matches!(scan(ser, &bytes[..cut]), Some(Scanned::Result(Some(_)) | Scanned::Progress(Some(_)))),
                    "{ser} cut {cut}"
                );
            }
        }
    }
}
