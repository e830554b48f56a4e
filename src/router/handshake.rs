//! Opening a session: HELLO in, WELCOME or ABORT out, and the deadline a connection has to send
//! HELLO.
//!
//! Owns: the `AwaitingHello -> (Challenged ->) Established` transitions and what a joined session
//! starts with (identity, announced roles, its role's permissions). Never: routing, or judging
//! credentials (`auth` does). The handshake deadline armed at connect covers the CHALLENGE round
//! too: only WELCOME (or the connection's end) disarms it.

use super::{timers, ConnKey, Router, Sink, Violation};
use crate::auth::{self, Fresh, Login, Principal, Step, ANONYMOUS};
use crate::meta::rfc3339;
use crate::realm::RealmIdx;
use crate::session::{self, Challenged, Identity, Joined, MessageClass, State};
use crate::wamp::id::random_global_id;
use crate::wamp::message as msg;
use crate::wamp::options::ClientRoles;
use crate::wamp::{ErrorUri, Id, Message};
use rand::RngExt;

impl Router {
    /// The first message of a connection: WELCOME, a CHALLENGE, or ABORT, as the listener's
    /// authentication methods decide.
    pub(super) fn on_hello(&mut self, key: ConnKey, message: Message, sink: &mut dyn Sink) -> Result<(), Violation> {
        let Message::Hello(hello) = message else {
            return Err(Violation::BeforeHello(message.name()));
        };
        let Some(realm) = self.realms.find(&hello.realm) else {
            self.abort(key, ErrorUri::NoSuchRealm, "no such realm");
            return Ok(());
        };
        let roles = ClientRoles::from_hello(&hello.details);
        if !roles.any() {
            return Err(Violation::NoRoles);
        }
        let Some(listener) = self.sessions.get(key.0).map(|s| s.conn.auth.clone()) else { return Ok(()) };
        let session = self.fresh_session_id();
        let (wall, rng) = (self.wall_now(), &mut self.rng);
        let fresh = || Fresh { random: rng.random(), timestamp: rfc3339(wall) };
        match auth::hello(&listener, &hello.realm, &hello.details, Login { session, fresh }) {
            Step::Welcome(principal) => self.welcome(key, realm, roles, principal, session, sink),
            Step::Challenge { method, extra, pending } => {
                let Some(s) = self.sessions.get_mut(key.0) else { return Ok(()) };
                let Some(deadline) = s.state.handshake_deadline() else { return Ok(()) };
                s.state = State::Challenged(Box::new(Challenged { deadline, realm, roles, session, pending }));
                let challenge = Message::Challenge(msg::Challenge { method: method.into(), extra });
                self.send(key, &challenge, MessageClass::Control);
            }
            Step::Refuse(r) => self.abort(key, r.error, &r.message),
        }
        Ok(())
    }

    /// The answer to a CHALLENGE: WELCOME if it proves the login, else ABORT.
    pub(super) fn on_authenticate(
        &mut self,
        key: ConnKey,
        message: Message,
        sink: &mut dyn Sink,
    ) -> Result<(), Violation> {
        let Message::Authenticate(m) = message else {
            return Err(Violation::BeforeWelcome(message.name()));
        };
        let Some(s) = self.sessions.get_mut(key.0) else { return Ok(()) };
        let State::Challenged(c) = std::mem::replace(&mut s.state, State::Closed) else { return Ok(()) };
        s.state = State::AwaitingHello { deadline: c.deadline };
        match auth::authenticate(&c.pending, &m.signature) {
            Ok(principal) => self.welcome(key, c.realm, c.roles, principal, c.session, sink),
            Err(r) => {
                tracing::info!(peer = %s.conn.peer, "authentication refused: {}", r.message);
                self.stats.login_failures += 1;
                let delay = self.login_failures.failed(&s.conn.peer, self.now, &self.limits);
                if delay.is_zero() {
                    self.abort(key, r.error, &r.message);
                } else {
                    self.stats.logins_delayed += 1;
                    self.timers.disarm(c.deadline, timers::Timer::Hello(key));
                    let deadline = self.now + delay;
                    s.state = State::Refused { deadline, error: r.error, message: r.message };
                    self.timers.arm(deadline, timers::Timer::Hello(key));
                }
            }
        }
        Ok(())
    }

    /// A login succeeded: the session joins `realm` under the role it proved, if the realm has
    /// that role, and gets WELCOME.
    fn welcome(
        &mut self,
        key: ConnKey,
        realm: RealmIdx,
        roles: ClientRoles,
        p: Principal,
        id: Id,
        sink: &mut dyn Sink,
    ) {
        let permissions = match self.roles.get(realm) {
            Some(Some(by_name)) => match by_name.get(&p.authrole) {
                Some(perms) => Some(perms.clone()),
                None => return self.abort(key, ErrorUri::NoSuchRole, "the realm has no such role"),
            },
            _ => None,
        };
        let id = if self.by_id.contains_key(&id) { self.fresh_session_id() } else { id };
        let Some(config) = self.realms.get(realm) else { return };
        let authid = p.authid.map_or_else(|| format!("{ANONYMOUS}-{id}").into(), Into::into);
        let identity =
            Identity { authid, authrole: p.authrole.into(), authmethod: p.authmethod, authprovider: p.authprovider };
        let details = session::welcome_details(&identity);
        let Some(s) = self.sessions.get_mut(key.0) else { return };
        if let Some(deadline) = s.state.handshake_deadline() {
            self.timers.disarm(deadline, timers::Timer::Hello(key));
        }
        let mut joined = Joined::new(id, config, realm, identity, roles);
        joined.permissions = permissions;
        s.state = State::Established(joined);
        self.by_id.insert(id, key);
        self.send(key, &Message::Welcome(msg::Welcome { session: id, details }), MessageClass::Control);
        self.announce_join(key, sink);
    }

    /// A random session id no session of this shard has.
    fn fresh_session_id(&mut self) -> Id {
        let mut id = random_global_id(&mut self.rng);
        while self.by_id.contains_key(&id) {
            id = random_global_id(&mut self.rng);
        }
        id
    }

    /// The handshake deadline of a connection passed: a refused login gets its held-back ABORT, a
    /// connection still waiting for HELLO or AUTHENTICATE is closed.
    pub(super) fn on_hello_deadline(&mut self, key: ConnKey) {
        let Some(s) = self.sessions.get_mut(key.0) else { return };
        if let State::Refused { error, message, .. } = &s.state {
            let (error, message) = (*error, message.clone());
            s.state = State::Closed;
            return self.abort(key, error, &message);
        }
        if s.state.handshake_deadline().is_some() {
            tracing::debug!(peer = %s.conn.peer, "no HELLO in time");
            s.state = State::Closed;
            s.outbox.close();
            self.stats.hello_timeouts += 1;
        }
    }
}
