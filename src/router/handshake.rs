//! Opening a session: HELLO in, WELCOME or ABORT out, and the deadline a connection has to send
//! HELLO.
//!
//! Owns: the `AwaitingHello -> Established` transition and what a joined session starts with
//! (identity, announced roles). Never: routing. This is where CHALLENGE / AUTHENTICATE rounds go
//! when authentication arrives: they will be states between the two.

use super::{timers, ConnKey, Router, Sink, Violation};
use crate::session::{self, Identity, Joined, MessageClass, State};
use crate::wamp::id::random_global_id;
use crate::wamp::message as msg;
use crate::wamp::options::ClientRoles;
use crate::wamp::{ErrorUri, Message};

/// The role of every session until authentication is configured.
const ANONYMOUS: &str = "anonymous";

impl Router {
    /// The first message of a connection.
    pub(super) fn on_hello(&mut self, key: ConnKey, message: Message, sink: &mut dyn Sink) -> Result<(), Violation> {
        let Message::Hello(hello) = message else {
            return Err(Violation::BeforeHello(message.name()));
        };
        let Some((realm, config)) =
            self.realms.find(&hello.realm).and_then(|i| self.realms.get(i).map(|config| (i, config)))
        else {
            self.abort(key, ErrorUri::NoSuchRealm, "no such realm");
            return Ok(());
        };
        let roles = ClientRoles::from_hello(&hello.details);
        if !roles.any() {
            return Err(Violation::NoRoles);
        }
        let mut id = random_global_id(&mut self.rng);
        while self.by_id.contains_key(&id) {
            id = random_global_id(&mut self.rng);
        }
        let authid = match hello.details.get_str("authid") {
            Some(a) => a.into(),
            None => format!("{ANONYMOUS}-{id}").into(),
        };
        let identity = Identity { authid, authrole: ANONYMOUS.into(), authmethod: ANONYMOUS, authprovider: "static" };
        let details = session::welcome_details(&identity);
        let Some(s) = self.sessions.get_mut(key.0) else { return Ok(()) };
        if let State::AwaitingHello { deadline } = s.state {
            self.timers.disarm(deadline, timers::Timer::Hello(key));
        }
        s.state = State::Established(Joined::new(id, config, realm, identity, roles));
        self.by_id.insert(id, key);
        self.send(key, &Message::Welcome(msg::Welcome { session: id, details }), MessageClass::Control);
        self.announce_join(key, sink);
        Ok(())
    }

    /// The HELLO deadline of a connection passed: if it is still waiting, close it.
    pub(super) fn on_hello_deadline(&mut self, key: ConnKey) {
        let Some(s) = self.sessions.get_mut(key.0) else { return };
        if matches!(s.state, State::AwaitingHello { .. }) {
            tracing::debug!(peer = %s.conn.peer, "no HELLO in time");
            s.state = State::Closed;
            s.outbox.close();
            self.stats.hello_timeouts += 1;
        }
    }
}
