//! The JSON serializer (`wamp.2.json`), with head-only decoding.
//!
//! Owns: JSON message framing: splitting a frame into raw elements with serde_json (borrowing
//! `RawValue`s, so the payload stays a slice of the frame), reading head fields, checking the
//! payload's shape, and writing compact messages. Never: value-level JSON (see `json_value`),
//! message layouts (see `head`). Must never panic or recurse without bound on any input.

use bytes::Bytes;
use serde::de::DeserializeSeed;
use serde_json::value::RawValue;

use super::head::{decode_message, Elements, Field, Head, Tail};
use super::json_value::{nesting_within, parse_values, syntax, write_dict, write_str, write_value, DictSeed};
use crate::codec::{DecodeError, EncodeError, Payload, RawPayload, Serializer, MAX_NESTING};
use crate::wamp::{Dict, Message, Value};

/// The elements of one JSON message, as raw text slices of the frame.
struct JsonElements<'f> {
    frame: &'f Bytes,
    items: Vec<&'f RawValue>,
    next: usize,
}

impl<'f> JsonElements<'f> {
    /// The next element, or a `Field` error if there is none.
    fn take(&mut self, message: &'static str, field: &'static str) -> Result<&'f str, DecodeError> {
        let item = self.items.get(self.next).ok_or(DecodeError::Field { message, field })?;
        self.next += 1;
        Ok(item.get())
    }

    /// The byte offset of `part` (a slice of the frame) in the frame.
    fn offset_of(&self, part: &str) -> Result<usize, DecodeError> {
        (part.as_ptr() as usize)
            .checked_sub(self.frame.as_ptr() as usize)
            .filter(|start| start + part.len() <= self.frame.len())
            .ok_or_else(|| syntax("element outside the frame"))
    }
}

impl Elements for JsonElements<'_> {
    fn is_end(&mut self) -> Result<bool, DecodeError> {
        Ok(self.next >= self.items.len())
    }

    fn uint(&mut self, message: &'static str, field: &'static str) -> Result<u64, DecodeError> {
        let text = self.take(message, field)?;
        serde_json::from_str::<u64>(text).map_err(|_| DecodeError::Field { message, field })
    }

    fn string(&mut self, message: &'static str, field: &'static str) -> Result<String, DecodeError> {
        let text = self.take(message, field)?;
        serde_json::from_str::<String>(text).map_err(|_| DecodeError::Field { message, field })
    }

    fn dict(&mut self, message: &'static str, field: &'static str) -> Result<Dict, DecodeError> {
        let text = self.take(message, field)?;
        let mut de = serde_json::Deserializer::from_str(text);
        DictSeed.deserialize(&mut de).map_err(|_| DecodeError::Field { message, field })
    }

    fn payload(&mut self, message: &'static str) -> Result<Payload, DecodeError> {
        let rest = self.items.get(self.next..).unwrap_or_default();
        self.next = self.items.len();
        let (first, last) = match rest {
            [] => return Ok(Payload::Empty),
            [args] => (args.get(), args.get()),
            [args, kwargs] => {
                if !kwargs.get().starts_with('{') {
                    return Err(DecodeError::PayloadShape);
                }
                (args.get(), kwargs.get())
            }
            _ => return Err(DecodeError::TooLong(message)),
        };
        if !first.starts_with('[') {
            return Err(DecodeError::PayloadShape);
        }
        let start = self.offset_of(first)?;
        let end = self.offset_of(last)? + last.len();
        if start > end {
            return Err(syntax("payload elements out of order"));
        }
        Ok(Payload::Raw(RawPayload {
            serializer: Serializer::Json,
            count: rest.len() as u8,
            bytes: self.frame.slice(start..end),
        }))
    }
}

/// Decodes one JSON message; the payload stays a slice of `frame`.
pub(super) fn decode(frame: Bytes) -> Result<Message, DecodeError> {
    // The message list itself is one level above its elements.
    if !nesting_within(&frame, MAX_NESTING + 1) {
        return Err(DecodeError::TooDeep);
    }
    let items: Vec<&RawValue> = serde_json::from_slice(&frame).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => DecodeError::NotAList,
        _ => syntax(e),
    })?;
    let Some(first) = items.first() else {
        return Err(DecodeError::NotAList);
    };
    let code = serde_json::from_str::<u64>(first.get())
        .map_err(|_| DecodeError::Field { message: "message", field: "MessageType" })?;
    let mut elements = JsonElements { frame: &frame, items, next: 1 };
    decode_message(code, &mut elements)
}

/// Encodes one message as compact JSON, appending to `out`; on error, `out` is left as it was.
pub(super) fn encode(msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    let result = write_message(msg, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn write_message(msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let head = Head::of(msg);
    let tail = Tail::of(head.payload, Serializer::Json)?;
    out.push(b'[');
    out.extend_from_slice(head.code.to_string().as_bytes());
    for field in head.fields() {
        out.push(b',');
        match field {
            Field::UInt(v) => out.extend_from_slice(v.to_string().as_bytes()),
            Field::Str(s) => write_str(s, out),
            Field::Dict(d) => write_dict(d, out, 0)?,
        }
    }
    match tail {
        Tail::Empty => {}
        Tail::Raw { bytes, .. } => {
            out.push(b',');
            out.extend_from_slice(&bytes);
        }
        Tail::Values { args, kwargs } => {
            out.push(b',');
            write_list(args, out)?;
            if let Some(kw) = kwargs {
                out.push(b',');
                write_dict(kw, out, 0)?;
            }
        }
    }
    out.push(b']');
    Ok(())
}

/// Writes `items` as a JSON list at the top level of a message.
fn write_list(items: &[Value], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_value(item, out, 1)?;
    }
    out.push(b']');
    Ok(())
}

/// Decodes the `count` comma-separated elements of a JSON raw payload (with simd-json).
pub(super) fn decode_values(bytes: &[u8], count: u8) -> Result<Vec<Value>, DecodeError> {
    parse_values(bytes, count)
}

/// Encodes `values` comma-separated without brackets: the JSON raw payload form. On error, `out`
/// is left as it was.
pub(super) fn encode_values(values: &[Value], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if let Err(e) = write_value(v, out, 0) {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::codec::tests::{assert_truncations_fail, dec, id};
    use crate::codec::PayloadCodec;
    use crate::wamp::message::{Call, Publish, Subscribe, Unsubscribed, Yield};

    const J: Serializer = Serializer::Json;

    fn enc(msg: &Message) -> String {
        let mut out = Vec::new();
        encode(msg, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn publish(payload: Payload) -> Message {
        Message::Publish(Publish {
            request: id(239714735),
            options: Dict::new(),
            topic: "com.myapp.mytopic1".into(),
            payload,
        })
    }

    #[test]
    fn output_is_compact_like_autobahn_python() {
        let msg = publish(Payload::args(vec![Value::from("Hello, world!")]));
        assert_eq!(enc(&msg), r#"[16,239714735,{},"com.myapp.mytopic1",["Hello, world!"]]"#);
        let msg = Message::Subscribe(Subscribe {
            request: id(1),
            options: Dict::new().with("match", "prefix").with("n", Value::Int(-3)),
            topic: "a.b".into(),
        });
        assert_eq!(enc(&msg), r#"[32,1,{"match":"prefix","n":-3},"a.b"]"#);
    }

    #[test]
    fn empty_args_are_sent_when_only_kwargs_are_present() {
        let msg = publish(Payload::Values { args: vec![], kwargs: Some(Dict::new().with("a", 1u64)) });
        assert_eq!(enc(&msg), r#"[16,239714735,{},"com.myapp.mytopic1",[],{"a":1}]"#);
    }

    #[test]
    fn raw_payload_is_spliced_before_the_closing_bracket() {
        let raw = RawPayload { serializer: J, count: 2, bytes: Bytes::from_static(b"[1] , {}") };
        assert_eq!(enc(&publish(Payload::Raw(raw))), r#"[16,239714735,{},"com.myapp.mytopic1",[1] , {}]"#);
    }

    #[test]
    fn binary_values_are_nul_prefixed_base64() {
        let mut out = Vec::new();
        encode_values(&[Value::Bytes(vec![1, 2, 3, 4])], &mut out).unwrap();
        assert_eq!(out, br#""\u0000AQIDBA==""#);
        assert_eq!(decode_values(&out, 1).unwrap(), vec![Value::Bytes(vec![1, 2, 3, 4])]);
        let unpadded = decode_values(br#""\u0000AQIDBA""#, 1).unwrap();
        assert_eq!(unpadded, vec![Value::Bytes(vec![1, 2, 3, 4])]);
    }

    #[test]
    fn nul_prefixed_text_that_is_not_base64_stays_a_string() {
        let v = decode_values(br#""\u0000not base64!""#, 1).unwrap();
        assert_eq!(v, vec![Value::from("\0not base64!")]);
    }

    #[test]
    fn strings_are_escaped_and_read_back() {
        let s = "q\"b\\n\n\r\t\u{8}\u{c}\u{1}\u{1f}é🦀";
        let mut out = Vec::new();
        encode_values(&[Value::from(s)], &mut out).unwrap();
        assert_eq!(out, "\"q\\\"b\\\\n\\n\\r\\t\\b\\f\\u0001\\u001fé🦀\"".as_bytes());
        assert_eq!(decode_values(&out, 1).unwrap(), vec![Value::from(s)]);
    }

    #[test]
    fn whole_floats_stay_floats() {
        let mut out = Vec::new();
        encode_values(&[Value::Float(1.0), Value::Float(1e300), Value::Float(-0.0)], &mut out).unwrap();
        assert_eq!(String::from_utf8(out.clone()).unwrap(), "1.0,1e300,-0.0");
        let back = decode_values(&out, 3).unwrap();
        assert_eq!(back, vec![Value::Float(1.0), Value::Float(1e300), Value::Float(-0.0)]);
    }

    #[test]
    fn integers_keep_their_sign_class() {
        let v = decode_values(b"0,-1,18446744073709551615,-9223372036854775808", 4).unwrap();
        assert_eq!(v, vec![Value::UInt(0), Value::Int(-1), Value::UInt(u64::MAX), Value::Int(i64::MIN)]);
    }

    #[test]
    fn non_finite_floats_are_unrepresentable() {
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut out = Vec::new();
            let err = encode_values(&[Value::Float(f)], &mut out).unwrap_err();
            assert_eq!(err, EncodeError::Unrepresentable(J, "non-finite float"));
        }
    }

    #[test]
    fn head_dicts_keep_key_order_and_binary() {
        let m = dec(J, br#"[32,1,{"z":1,"a":[true,null,"\u0000AQ=="],"m":{"x":-1.5}},"t"]"#).unwrap();
        let Message::Subscribe(s) = m else { panic!() };
        let keys: Vec<&str> = s.options.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["z", "a", "m"]);
        assert_eq!(s.options.get("a"), Some(&Value::List(vec![true.into(), Value::Null, Value::Bytes(vec![1])])));
        assert_eq!(s.options.get("m"), Some(&Value::Dict(Dict::new().with("x", Value::Float(-1.5)))));
    }

    #[test]
    fn unsubscribed_revocation_carries_details() {
        let m = dec(J, br#"[35,0,{"subscription":4,"reason":"x"}]"#).unwrap();
        let expected = Unsubscribed {
            request: crate::wamp::Id::ZERO,
            details: Some(Dict::new().with("subscription", 4u64).with("reason", "x")),
        };
        assert_eq!(m, Message::Unsubscribed(expected));
        assert_eq!(enc(&m), r#"[35,0,{"subscription":4,"reason":"x"}]"#);
    }

    #[test]
    fn truncated_frames_are_rejected() {
        assert_truncations_fail(J, br#"[48,1,{"a":[1]},"p",[1,"x"],{"k":{"v":null}}]"#);
    }

    #[test]
    fn non_list_or_empty_top_level_is_not_a_list() {
        for frame in [&b"{}"[..], b"5", br#""x""#, b"null", b"[]", b"  [ ] "] {
            assert_eq!(dec(J, frame), Err(DecodeError::NotAList), "{frame:?}");
        }
    }

    #[test]
    fn malformed_text_is_a_syntax_error() {
        for frame in [&b""[..], b"[16,", b"[1,\"r\",{}]x", b"[1,\"r\",{}] []", b"[1,'r',{}]"] {
            assert!(matches!(dec(J, frame), Err(DecodeError::Syntax(J, _))), "{frame:?}");
        }
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        assert!(dec(J, b"[1,\"r\xff\",{}]").is_err());
        assert!(dec(J, b"[16,1,{},\"t\",[\"\xc3\x28\"]]").is_err());
    }

    #[test]
    fn ids_must_be_integers_up_to_two_pow_53() {
        assert!(dec(J, b"[17,9007199254740992,1]").is_ok());
        for frame in [
            &b"[17,9007199254740993,1]"[..],
            b"[17,1,-1]",
            b"[17,1.0,1]",
            b"[17,\"1\",1]",
            b"[17,99999999999999999999999,1]",
        ] {
            assert!(matches!(dec(J, frame), Err(DecodeError::Field { .. })), "{frame:?}");
        }
    }

    #[test]
    fn fields_of_the_wrong_type_or_missing_are_field_errors() {
        let field = |message, field| Err(DecodeError::Field { message, field });
        assert_eq!(dec(J, b"[1,5,{}]"), field("HELLO", "Realm"));
        assert_eq!(dec(J, b"[1,\"r\",[]]"), field("HELLO", "Details"));
        assert_eq!(dec(J, b"[1,\"r\"]"), field("HELLO", "Details"));
        assert_eq!(dec(J, b"[\"x\",1]"), field("message", "MessageType"));
    }

    #[test]
    fn unknown_type_codes_are_rejected() {
        assert_eq!(dec(J, b"[7,1]"), Err(DecodeError::UnknownType(7)));
        assert_eq!(dec(J, b"[337,5512315355]"), Err(DecodeError::UnknownType(337)));
    }

    #[test]
    fn extra_elements_are_too_long() {
        assert_eq!(dec(J, b"[32,1,{},\"t\",\"x\"]"), Err(DecodeError::TooLong("SUBSCRIBE")));
        assert_eq!(dec(J, b"[16,1,{},\"t\",[],{},[]]"), Err(DecodeError::TooLong("PUBLISH")));
        assert_eq!(dec(J, b"[70,1,{},[],{},1]"), Err(DecodeError::TooLong("YIELD")));
    }

    #[test]
    fn arguments_must_be_a_list_and_kwargs_a_dict() {
        assert_eq!(dec(J, b"[16,1,{},\"t\",{}]"), Err(DecodeError::PayloadShape));
        assert_eq!(dec(J, b"[16,1,{},\"t\",\"\\u0000AA==\"]"), Err(DecodeError::PayloadShape));
        assert_eq!(dec(J, b"[16,1,{},\"t\",[],[]]"), Err(DecodeError::PayloadShape));
    }

    #[test]
    fn deep_nesting_is_too_deep() {
        let deep = format!("[16,1,{{}},\"t\",{}{}]", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(dec(J, deep.as_bytes()), Err(DecodeError::TooDeep));
        let opts = format!("[32,1,{}1{},\"t\"]", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        assert_eq!(dec(J, opts.as_bytes()), Err(DecodeError::TooDeep));
        let in_values = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(decode_values(in_values.as_bytes(), 1), Err(DecodeError::TooDeep));
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let at_limit = format!("[16,1,{{}},\"t\",{}]", nested(MAX_NESTING));
        let msg = dec(J, at_limit.as_bytes()).unwrap();
        let Message::Publish(p) = &msg else { panic!() };
        assert!(p.payload.to_values().is_ok());
        assert_eq!(decode(Bytes::from(enc(&msg))).unwrap(), msg);
        let over = format!("[16,1,{{}},\"t\",{}]", nested(MAX_NESTING + 1));
        assert_eq!(dec(J, over.as_bytes()), Err(DecodeError::TooDeep));
    }

    #[test]
    fn brackets_inside_strings_do_not_count_as_nesting() {
        let frame = format!("[16,1,{{}},\"t\",[\"{}\\\"{}\"]]", "[".repeat(500), "{".repeat(500));
        assert!(dec(J, frame.as_bytes()).is_ok());
    }

    #[test]
    fn decode_values_checks_the_element_count() {
        assert_eq!(decode_values(b"[1],{}", 2).unwrap().len(), 2);
        assert_eq!(decode_values(b"[1],{}", 1), Err(DecodeError::PayloadShape));
        assert!(decode_values(b"[1]],[{}", 2).is_err());
        assert!(decode_values(b"", 1).is_err());
    }

    #[test]
    fn payload_slice_shares_the_frame() {
        let frame = Bytes::from_static(b"[70, 1, {}, [1, 2] ]");
        let Message::Yield(Yield { payload: Payload::Raw(raw), .. }) = decode(frame.clone()).unwrap() else { panic!() };
        assert_eq!(&raw.bytes[..], b"[1, 2]");
        assert_eq!(raw.bytes.as_ptr(), frame[12..].as_ptr());
    }

    #[test]
    fn call_with_args_decodes_raw() {
        let m = dec(J, br#"[48,7814135,{},"com.myapp.myprocedure1",["Hello, world!"]]"#).unwrap();
        let Message::Call(Call { request, procedure, payload, .. }) = m else { panic!() };
        assert_eq!(request, id(7814135));
        assert_eq!(procedure, "com.myapp.myprocedure1");
        assert_eq!(payload.to_values().unwrap(), (vec![Value::from("Hello, world!")], None));
    }
}
