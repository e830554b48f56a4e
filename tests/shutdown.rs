//! Graceful shutdown over real sockets: every session gets GOODBYE `wamp.close.system_shutdown`,
//! listeners stop accepting, and the router stops within its deadline even if a client never
//! answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use wampyard::codec::Serializer;
use wampyard::config::Config;
use wampyard::shard::{BoundAddr, Server};
use wampyard::wamp::message as m;
use wampyard::wamp::{Dict, Message};

#[test]
fn shutdown_says_goodbye_to_every_session_and_stops_within_the_deadline() {
    let toml = "[router]\nshards = 2\npin = false\nshutdown_timeout_ms = 1500\n\n[[listener]]\nport = 0\nshards = [0]\n\n[[listener]]\nport = 0\nshards = [1]\n";
    let server = Server::start(&Config::from_toml_str(toml).unwrap()).unwrap();
    let ports: Vec<u16> = server
        .addrs()
        .iter()
        .map(|a| match a {
            BoundAddr::Tcp(a) => a.port(),
            other => panic!("{other:?}"),
        })
        .collect();
    let router = TestRouter::external(ports[0], ports[1]);
    let mut polite = vec![
        Client::join(&router, On::First, Kind::RawTcp, Serializer::Json),
        Client::join(&router, On::Last, Kind::WebSocket, Serializer::Cbor),
    ];
    let mut silent = Client::join(&router, On::Last, Kind::RawTcp, Serializer::MsgPack);

    let started = Instant::now();
    server.shutdown();
    for c in polite.iter_mut().chain(std::iter::once(&mut silent)) {
        match c.recv() {
            Some(Message::Goodbye(g)) => assert_eq!(g.reason, "wamp.close.system_shutdown"),
            other => panic!("expected GOODBYE, got {other:?}"),
        }
    }
    for c in &mut polite {
        let g = m::Goodbye { details: Dict::new(), reason: "wamp.close.goodbye_and_out".into() };
        c.send(&Message::Goodbye(g));
        assert!(c.closes());
    }
    server.join().unwrap();
    assert!(started.elapsed() < Duration::from_millis(1500 + 1000), "took {:?}", started.elapsed());
    assert!(std::net::TcpStream::connect(("127.0.0.1", ports[0])).is_err(), "listeners are closed");
    drop(silent);
}
