//! Starting the router: listeners that cannot be had are an error, not a silent share.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wampyard::config::Config;
use wampyard::shard::{BoundAddr, Server, ShardError};

fn config(port: u16) -> Config {
    let toml = format!("[router]\nshards = 2\npin = false\nshutdown_timeout_ms = 500\n\n[[listener]]\nport = {port}\n");
    Config::from_toml_str(&toml).unwrap()
}

#[test]
fn a_second_router_on_a_port_in_use_fails_to_start() {
    let first = Server::start(&config(0)).unwrap();
    let BoundAddr::Tcp(addr) = first.addrs()[0].clone() else { panic!("expected TCP") };
    match Server::start(&config(addr.port())) {
        Err(ShardError::Listen { addr: a, .. }) => assert!(a.ends_with(&format!(":{}", addr.port()))),
        Err(other) => panic!("expected a listen error, got {other}"),
        Ok(second) => {
            second.shutdown();
            panic!("a second router shared port {}", addr.port());
        }
    }
    first.shutdown();
    first.join().unwrap();
}

#[test]
fn a_port_held_by_another_program_is_refused() {
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = other.local_addr().unwrap().port();
    assert!(matches!(Server::start(&config(port)), Err(ShardError::Listen { .. })));
}
