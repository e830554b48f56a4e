//! Bad input over real sockets: the offender gets the spec's answer (ABORT
//! `wamp.error.protocol_violation`, a RawSocket error reply, or a closed connection), no shard
//! panics, and healthy sessions on every shard keep working afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};

use common::*;
use wampyard::codec::{Payload, Serializer};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Id, Message, Value};

/// A publish and a call between the first and the last shard still work.
fn assert_healthy(r: &TestRouter, tag: &str) {
    let topic = format!("com.test.healthy.{tag}.s{}", r.shards);
    let mut sub = Client::join(r, On::First, Kind::RawTcp, Serializer::Json);
    sub.subscribe(&topic, Dict::new());
    let mut other = Client::join(r, On::Last, Kind::WebSocket, Serializer::MsgPack);
    other.publish(&topic, Dict::new(), Payload::args(vec![Value::from(tag)]));
    assert_eq!(values(&sub.event().payload).0, vec![Value::from(tag)]);
    other.register(&topic, Dict::new()).unwrap();
    sub.call(&topic, Payload::Empty);
    other.echo_one();
    assert!(matches!(sub.recv(), Some(Message::Result(_))));
}

/// Reads until the router closes the socket; true if it did before the read timeout.
fn closed(s: &mut std::net::TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut,
        }
    }
}

fn aborted_with_protocol_violation(c: &mut Client) {
    match c.recv() {
        Some(Message::Abort(a)) => assert_eq!(a.reason, "wamp.error.protocol_violation"),
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert!(c.closes(), "the connection must be closed after ABORT");
}

#[test]
fn garbage_bytes_close_the_connection() {
    for r in routers() {
        for garbage in
            [&b"\x00\x01\x02garbage\r\n\r\n"[..], b"GET\x00\xff\xfe / HTTP/9\r\n\r\n", b"\x7f\x7f\x7f\x7f\x7f\x7f"]
        {
            let mut s = tcp(r.port_any);
            s.write_all(garbage).unwrap();
            assert!(closed(&mut s));
        }
        assert_healthy(r, "garbage");
    }
}

#[test]
fn rawsocket_handshake_with_reserved_bits_gets_error_three() {
    for r in routers() {
        let mut s = tcp(r.port_any);
        s.write_all(&[0x7F, 0xF2, 0x00, 0x01]).unwrap();
        let mut reply = [0u8; 4];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(reply, [0x7F, 0x30, 0, 0]);
        assert!(closed(&mut s));
        assert_healthy(r, "reserved");
    }
}

#[test]
fn rawsocket_handshake_with_serializer_zero_gets_error_one() {
    for r in routers() {
        let mut s = tcp(r.port_any);
        s.write_all(&[0x7F, 0xF0, 0, 0]).unwrap();
        let mut reply = [0u8; 4];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(reply, [0x7F, 0x10, 0, 0]);
        assert!(closed(&mut s));
        assert_healthy(r, "serializer0");
    }
}

#[test]
fn rawsocket_frame_over_the_negotiated_length_closes_the_connection() {
    for r in routers() {
        let mut s = tcp(r.port_any);
        s.write_all(&[0x7F, 0xF2, 0, 0]).unwrap();
        let mut reply = [0u8; 4];
        s.read_exact(&mut reply).unwrap();
        let max = 1usize << (9 + (reply[1] >> 4));
        let len = max + 1;
        s.write_all(&[0, (len >> 16) as u8, (len >> 8) as u8, len as u8]).unwrap();
        let _ = s.write_all(&vec![0x90; 1024]);
        assert!(closed(&mut s));
        assert_healthy(r, "overlength");
    }
}

#[test]
fn oversized_websocket_message_closes_the_connection() {
    for r in routers() {
        let mut c = Client::connect(r, On::Any, Kind::WebSocket, Serializer::MsgPack);
        c.send_bytes(&vec![0x90; 2 << 20]);
        assert!(c.closes());
        assert_healthy(r, "wsoversize");
    }
}

#[test]
fn malformed_message_gets_protocol_violation() {
    matrix(|r, kind, ser| {
        let mut c = Client::join(r, On::Any, kind, ser);
        let bad: &[u8] = match ser {
            Serializer::Json => b"[16, 1, {}, \"com.a\"",
            Serializer::MsgPack => &[0x94, 0x10, 0x01],
            Serializer::Cbor => &[0x84, 0x10, 0x01],
        };
        c.send_bytes(bad);
        aborted_with_protocol_violation(&mut c);
    });
    for r in routers() {
        assert_healthy(r, "malformed");
    }
}

#[test]
fn unknown_message_type_gets_protocol_violation() {
    matrix(|r, kind, ser| {
        let mut c = Client::join(r, On::Any, kind, ser);
        let bad: &[u8] = match ser {
            Serializer::Json => b"[999, 1, {}]",
            Serializer::MsgPack => &[0x93, 0xcd, 0x03, 0xe7, 0x01, 0x80],
            Serializer::Cbor => &[0x83, 0x19, 0x03, 0xe7, 0x01, 0xa0],
        };
        c.send_bytes(bad);
        aborted_with_protocol_violation(&mut c);
    });
    for r in routers() {
        assert_healthy(r, "unknowntype");
    }
}

#[test]
fn message_before_hello_gets_protocol_violation() {
    matrix(|r, kind, ser| {
        let mut c = Client::connect(r, On::Any, kind, ser);
        c.publish("com.early", Dict::new(), Payload::Empty);
        aborted_with_protocol_violation(&mut c);
    });
    for r in routers() {
        assert_healthy(r, "early");
    }
}

#[test]
fn second_hello_gets_protocol_violation() {
    matrix(|r, kind, ser| {
        let mut c = Client::join(r, On::Any, kind, ser);
        c.hello("realm1");
        aborted_with_protocol_violation(&mut c);
    });
    for r in routers() {
        assert_healthy(r, "secondhello");
    }
}

#[test]
fn yield_for_an_unknown_invocation_gets_protocol_violation() {
    matrix(|r, kind, ser| {
        let mut c = Client::join(r, On::Any, kind, ser);
        let y = m::Yield { request: Id::new(4242).unwrap(), options: Dict::new(), payload: Payload::Empty };
        c.send(&Message::Yield(y));
        aborted_with_protocol_violation(&mut c);
    });
    for r in routers() {
        assert_healthy(r, "yield");
    }
}

#[test]
fn hello_for_an_unknown_realm_is_aborted_with_no_such_realm() {
    matrix(|r, kind, ser| {
        let mut c = Client::connect(r, On::Any, kind, ser);
        c.hello("no.such.realm");
        match c.recv() {
            Some(Message::Abort(a)) => assert_eq!(a.reason, "wamp.error.no_such_realm"),
            other => panic!("expected ABORT, got {other:?}"),
        }
    });
}

#[test]
fn unix_client_that_closes_before_the_handshake_leaves_every_shard_serving() {
    for r in routers() {
        for _ in 0..8 {
            drop(std::os::unix::net::UnixStream::connect(&r.unix).unwrap());
        }
        let mut s = std::os::unix::net::UnixStream::connect(&r.unix).unwrap();
        s.write_all(b"\x00garbage").unwrap();
        drop(s);
        assert_healthy(r, "unixclose");
        for kind in [Kind::RawUnix, Kind::RawTcp] {
            let mut c = Client::join(r, On::Any, kind, Serializer::Cbor);
            c.goodbye();
        }
    }
}
