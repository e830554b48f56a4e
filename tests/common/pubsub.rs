//! Helpers of the Advanced Profile Pub/Sub tests (`pubsub_advanced.rs`): sessions joining with an
//! authid of their own, acknowledged publications with options, the events each subscriber got
//! before a sentinel, and a hand-written encoding of an EVENT checked byte for byte.

use wampyard::codec::{Payload, Serializer};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Id, Message, Value};

use super::*;

/// The tag of the sentinel publication that ends every check of who got what.
pub const SENTINEL: &str = "sentinel";

/// Joins realm1 on `on`, sending `authid` in HELLO.Details when given; returns the client and
/// the whole WELCOME.Details.
pub fn join_as_with_welcome(
    r: &TestRouter,
    on: On,
    kind: Kind,
    ser: Serializer,
    authid: Option<&str>,
) -> (Client, Dict) {
    // The Unix socket is dealt round-robin, not by shard: with more than one shard only TCP
    // pins one (as `Client::join_realm` does).
    let kind = if on != On::Any && kind == Kind::RawUnix && r.shards > 1 { Kind::RawTcp } else { kind };
    let mut c = Client::connect(r, on, kind, ser);
    let roles = Dict::new().with("publisher", Dict::new()).with("subscriber", Dict::new());
    let mut details = Dict::new().with("roles", roles);
    if let Some(authid) = authid {
        details.insert("authid", authid);
    }
    c.send(&Message::Hello(m::Hello { realm: "realm1".into(), details }));
    match c.recv() {
        Some(Message::Welcome(w)) => {
            c.session = w.session;
            c.authid = w.details.get_str("authid").unwrap_or_default().to_owned();
            (c, w.details)
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

/// [`join_as_with_welcome`], keeping only the client.
pub fn join_as(r: &TestRouter, on: On, kind: Kind, ser: Serializer, authid: Option<&str>) -> Client {
    join_as_with_welcome(r, on, kind, ser, authid).0
}

/// The shard a subscriber number `i` sits on: the first and the last in turn.
pub fn side(i: usize) -> On {
    if i % 2 == 0 {
        On::First
    } else {
        On::Last
    }
}

/// A list of session ids, as PUBLISH.Options carries them.
pub fn sessions(clients: &[&Client]) -> Value {
    Value::List(clients.iter().map(|c| Value::UInt(c.session.get())).collect())
}

/// A list of strings, as PUBLISH.Options carries them.
pub fn names(v: &[&str]) -> Value {
    Value::List(v.iter().map(|x| Value::from(*x)).collect())
}

/// Publishes `["tag"]` to `topic` with `options` and acknowledge=true; returns the reply
/// (PUBLISHED or ERROR for this request).
pub fn publish_tagged(c: &mut Client, topic: &str, options: Dict, tag: &str) -> Message {
    let request = c.publish(topic, options.with("acknowledge", true), Payload::args(vec![Value::from(tag)]));
    match c.recv() {
        Some(Message::Published(p)) if p.request == request => Message::Published(p),
        Some(Message::Error(e)) if e.request == request && e.request_type == codes::PUBLISH => Message::Error(e),
        other => panic!("expected PUBLISHED or ERROR for request {request}, got {other:?}"),
    }
}

/// [`publish_tagged`] that must be acknowledged; returns the publication id.
pub fn published(c: &mut Client, topic: &str, options: Dict, tag: &str) -> Id {
    match publish_tagged(c, topic, options, tag) {
        Message::Published(p) => p.publication,
        other => panic!("expected PUBLISHED for {tag}, got {other:?}"),
    }
}

/// The first argument of an EVENT, as a string.
pub fn tag_of(e: &m::Event) -> String {
    let (args, _) = values(&e.payload);
    args.first().and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The tags of the events `c` gets before the sentinel.
pub fn until_sentinel(c: &mut Client) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let tag = tag_of(&c.event());
        if tag == SENTINEL {
            return got;
        }
        got.push(tag);
    }
}

/// `publisher` publishes the sentinel to `topic` for everyone (acknowledged; exclude_me false, in
/// case it is subscribed) and returns, per subscriber, the tags of the events it got before the
/// sentinel. Events of one publisher reach one subscriber in order, so this is everything
/// `publisher`'s earlier publications delivered to each of them.
pub fn received_before_sentinel(publisher: &mut Client, topic: &str, subs: &mut [&mut Client]) -> Vec<Vec<String>> {
    published(publisher, topic, Dict::new().with("exclude_me", false), SENTINEL);
    subs.iter_mut().map(|c| until_sentinel(c)).collect()
}

/// The tags each subscriber of `subs` expects, from who of them `admitted` says gets `tag`.
pub fn expected(admitted: &[bool], tag: &str) -> Vec<Vec<String>> {
    admitted.iter().map(|&a| if a { vec![tag.to_owned()] } else { Vec::new() }).collect()
}

/// One value of a hand-written encoding: an unsigned integer or a string.
#[derive(Clone, Copy, Debug)]
pub enum W<'a> {
    U(u64),
    S(&'a str),
}

fn mp_len(out: &mut Vec<u8>, fix: u8, len: usize) {
    assert!(len < 16, "hand-written MessagePack containers are small");
    out.push(fix | len as u8);
}

fn mp(out: &mut Vec<u8>, w: W<'_>) {
    match w {
        W::U(n) if n < 0x80 => out.push(n as u8),
        W::U(n) if n <= 0xff => out.extend_from_slice(&[0xcc, n as u8]),
        W::U(n) if n <= 0xffff => {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        W::U(n) if n <= 0xffff_ffff => {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        W::U(n) => {
            out.push(0xcf);
            out.extend_from_slice(&n.to_be_bytes());
        }
        W::S(s) => {
            assert!(s.len() < 256, "hand-written MessagePack strings are short");
            if s.len() < 32 {
                out.push(0xa0 | s.len() as u8);
            } else {
                out.extend_from_slice(&[0xd9, s.len() as u8]);
            }
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[m | 24, n as u8]);
    } else if n <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn cbor(out: &mut Vec<u8>, w: W<'_>) {
    match w {
        W::U(n) => cbor_head(out, 0, n),
        W::S(s) => {
            cbor_head(out, 3, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn json(w: W<'_>) -> String {
    match w {
        W::U(n) => n.to_string(),
        W::S(s) => {
            assert!(s.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'), "plain strings only");
            format!("\"{s}\"")
        }
    }
}

/// `[EVENT, subscription, publication, {details...}, [arg]]` in `ser`, written by hand (smallest
/// integer and string forms, details in the given order), independent of the project's codec.
pub fn event_wire(ser: Serializer, subscription: Id, publication: Id, details: &[(&str, W<'_>)], arg: &str) -> Vec<u8> {
    let head = [W::U(codes::EVENT), W::U(subscription.get()), W::U(publication.get())];
    match ser {
        Serializer::Json => {
            let head: Vec<String> = head.iter().map(|w| json(*w)).collect();
            let details: Vec<String> = details.iter().map(|(k, v)| format!("\"{k}\":{}", json(*v))).collect();
            format!("[{},{{{}}},[{}]]", head.join(","), details.join(","), json(W::S(arg))).into_bytes()
        }
        Serializer::MsgPack => {
            let mut out = Vec::new();
            mp_len(&mut out, 0x90, 5);
            head.iter().for_each(|w| mp(&mut out, *w));
            mp_len(&mut out, 0x80, details.len());
            for (k, v) in details {
                mp(&mut out, W::S(k));
                mp(&mut out, *v);
            }
            mp_len(&mut out, 0x90, 1);
            mp(&mut out, W::S(arg));
            out
        }
        Serializer::Cbor => {
            let mut out = Vec::new();
            cbor_head(&mut out, 4, 5);
            head.iter().for_each(|w| cbor(&mut out, *w));
            cbor_head(&mut out, 5, details.len() as u64);
            for (k, v) in details {
                cbor(&mut out, W::S(k));
                cbor(&mut out, *v);
            }
            cbor_head(&mut out, 4, 1);
            cbor(&mut out, W::S(arg));
            out
        }
    }
}
