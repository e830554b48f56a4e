//! A subscriber that stops reading: the router drops events for it (its outbox has a byte
//! budget) instead of buffering without bound, and everyone else goes on at full speed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use wampyard::codec::{Payload, Serializer};
use wampyard::config::Config;
use wampyard::shard::{BoundAddr, Server};
use wampyard::wamp::{Dict, Message, Value};

/// Events published: 20 MB of them, far more than the outbox budget plus the socket buffers.
const EVENTS: u64 = 20_000;

/// Events the publisher may be ahead of the healthy subscriber: 32 KB, inside its 64 KB budget,
/// so that only the subscriber that does not read at all falls behind.
const WINDOW: u64 = 32;

#[test]
fn subscriber_that_never_reads_loses_events_and_slows_nobody() {
    let toml = "[router]\nshards = 2\npin = false\nshutdown_timeout_ms = 500\n\n[limits]\nmax_message_size = 65536\noutbox_max_bytes = 65536\n\n[[listener]]\nport = 0\nshards = [0]\n\n[[listener]]\nport = 0\nshards = [1]\n";
    let server = Server::start(&Config::from_toml_str(toml).unwrap()).unwrap();
    let port = |i: usize| match &server.addrs()[i] {
        BoundAddr::Tcp(a) => a.port(),
        other => panic!("{other:?}"),
    };
    let router = TestRouter::external(port(0), port(1));
    let topic = "com.test.slow";
    let mut stalled = Client::join(&router, On::Last, Kind::RawTcp, Serializer::MsgPack);
    stalled.subscribe(topic, Dict::new());
    let mut healthy = Client::join(&router, On::Last, Kind::RawTcp, Serializer::MsgPack);
    healthy.subscribe(topic, Dict::new());
    let mut publisher = Client::join(&router, On::First, Kind::RawTcp, Serializer::MsgPack);

    let filler = Value::Bytes(vec![7; 1000]);
    let received = Arc::new(AtomicU64::new(0));
    let seen = received.clone();
    let reader = std::thread::spawn(move || {
        for i in 0..EVENTS {
            let e = healthy.event();
            assert_eq!(values(&e.payload).0[0], Value::UInt(i), "the healthy subscriber misses nothing");
            seen.store(i + 1, Ordering::Release);
        }
    });
    for i in 0..EVENTS {
        while i >= received.load(Ordering::Acquire) + WINDOW {
            assert!(!reader.is_finished(), "the healthy subscriber stopped early");
            std::thread::sleep(Duration::from_micros(50));
        }
        publisher.publish(topic, Dict::new(), Payload::args(vec![Value::UInt(i), filler.clone()]));
    }
    reader.join().unwrap();
    assert!(matches!(publisher.publish_acked(topic, Payload::Empty), Message::Published(_)));

    // Now read what the stalled subscriber was left: what its socket buffers and its bounded
    // outbox held, nowhere near everything.
    let mut got = 0u64;
    stalled.set_read_timeout(Duration::from_millis(500));
    while let Some(Message::Event(_)) = stalled.recv_or_timeout() {
        got += 1;
    }
    assert!(got > 0, "the stalled subscriber gets what was queued before it stalled");
    assert!(got < EVENTS, "events for a subscriber that does not read are dropped, not buffered: got {got}");
    server.shutdown();
    server.join().unwrap();
}
