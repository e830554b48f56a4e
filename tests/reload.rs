//! Reloading roles and permissions into a running router (what SIGHUP does): sessions stay
//! connected and their next action obeys the new rules; a configuration with other realms is
//! refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use wampyard::codec::{Payload, Serializer};
use wampyard::config::Config;
use wampyard::shard::{BoundAddr, Server};
use wampyard::wamp::message::code;
use wampyard::wamp::Message;

/// A two-shard router whose anonymous sessions of realm1 may subscribe to `com.` and, with
/// `publish`, also publish there.
fn config(publish: bool) -> Config {
    let allow = if publish { r#"["subscribe", "publish"]"# } else { r#"["subscribe"]"# };
    let toml = format!(
        "[router]\nshards = 2\npin = false\n\n[[listener]]\nport = 0\nshards = [0]\n\n[[listener]]\nport = 0\nshards = [1]\n\n\
         [[realm]]\nname = \"realm1\"\n[[realm.role]]\nname = \"anonymous\"\n[[realm.role.permission]]\n\
         uri = \"com.\"\nmatch = \"prefix\"\nallow = {allow}\n"
    );
    Config::from_toml_str(&toml).unwrap()
}

#[test]
fn reloaded_permissions_apply_to_sessions_already_connected_on_every_shard() {
    let server = Server::start(&config(false)).unwrap();
    let ports: Vec<u16> = (server.addrs().iter())
        .map(|a| match a {
            BoundAddr::Tcp(a) => a.port(),
            other => panic!("{other:?}"),
        })
        .collect();
    let router = TestRouter::external(ports[0], ports[1]);
    for (kind, ser) in [(Kind::RawTcp, Serializer::Json), (Kind::WebSocket, Serializer::MsgPack)] {
        let mut clients =
            [Client::join(&router, On::First, kind, ser), Client::join(&router, On::Last, kind, Serializer::Cbor)];
        for c in clients.iter_mut() {
            let denied = c.publish_acked("com.news", Payload::Empty);
            assert_eq!(error_of(Some(denied), code::PUBLISH), "wamp.error.not_authorized");
        }
        server.reload_roles(&config(true)).unwrap();
        for c in clients.iter_mut() {
            assert!(matches!(c.publish_acked("com.news", Payload::Empty), Message::Published(_)), "same session");
        }
        server.reload_roles(&config(false)).unwrap();
        for c in clients.iter_mut() {
            let denied = c.publish_acked("com.news", Payload::Empty);
            assert_eq!(error_of(Some(denied), code::PUBLISH), "wamp.error.not_authorized");
        }
    }
    let mut other_realms = config(true);
    other_realms.realms[0].name = "realm2".into();
    assert!(server.reload_roles(&other_realms).is_err(), "the realms themselves are not reloaded");
    server.shutdown();
    server.join().unwrap();
}
