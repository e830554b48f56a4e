//! Authentication: which login a HELLO asks for, and whether its credentials prove it.
//!
//! Owns: the decision for one HELLO against the methods of the connection's listener (welcome at
//! once, a CHALLENGE and what its AUTHENTICATE must prove, or a refusal with the spec's error),
//! and the check of that AUTHENTICATE. Never: I/O, timers or session state (the router holds the
//! pending login in the session and keeps the handshake deadline), and never a secret in an error,
//! a log line or a `Debug` output.
//!
//! Methods are tried in the order the client lists them in `HELLO.Details.authmethods` (only
//! `anonymous` when it lists none); the first one the listener accepts is used. A ticket or
//! WAMP-CRA login for an unknown authid still gets its CHALLENGE and fails at AUTHENTICATE, like
//! wrong credentials (a salted secret's CHALLENGE carries its salt, an unknown authid's none).

pub mod authorize;
pub mod cryptosign;
pub mod wampcra;

use crate::config::{CryptosignPrincipal, ListenerAuth, TicketPrincipal, WampcraPrincipal};
use crate::wamp::{Dict, ErrorUri, Id, Value};
pub use cryptosign::CRYPTOSIGN;
pub use wampcra::WAMPCRA;

/// The method anonymous logins announce.
pub const ANONYMOUS: &str = "anonymous";
/// The method of ticket logins.
pub const TICKET: &str = "ticket";
/// The authprovider of logins checked against the configuration.
pub const STATIC_PROVIDER: &str = "static";

/// Who a login proved to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The authid (anonymous sessions: the one they asked for, or one the router made).
    pub authid: Option<String>,
    /// The role.
    pub authrole: String,
    /// The method used.
    pub authmethod: &'static str,
    /// Who checked it.
    pub authprovider: &'static str,
}

/// Why a login is refused: the ABORT's reason and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `wamp.error.no_auth_method`, `wamp.error.not_authorized`, ...
    pub error: ErrorUri,
    /// For the client; never contains a secret.
    pub message: String,
}

fn refuse(error: ErrorUri, message: &str) -> Refusal {
    Refusal { error, message: message.to_owned() }
}

/// A login waiting for its AUTHENTICATE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pending {
    /// A ticket login: the principal the authid names, if there is one.
    Ticket {
        /// The authid the client gave.
        authid: String,
        /// Its principal (`None`: unknown authid, the AUTHENTICATE fails).
        principal: Option<Box<TicketPrincipal>>,
    },
    /// A cryptosign login: the key that must sign, the challenge sent, and the key's principal.
    Cryptosign {
        /// The public key of the HELLO.
        key: [u8; 32],
        /// The challenge sent.
        challenge: [u8; cryptosign::CHALLENGE_BYTES],
        /// The principal listing the key (`None`: unknown key, the AUTHENTICATE fails).
        principal: Option<Box<CryptosignPrincipal>>,
    },
    /// A WAMP-CRA login: the challenge sent and the principal that must have signed it.
    Wampcra {
        /// The authid the client gave.
        authid: String,
        /// The challenge string sent.
        challenge: String,
        /// Its principal (`None`: unknown authid, the AUTHENTICATE fails).
        principal: Option<Box<WampcraPrincipal>>,
    },
}

/// What a login's CHALLENGE is made of besides the configuration: the session id the session
/// will get, and fresh random bytes and the current time (RFC 3339), asked for only when needed.
pub struct Login<F: FnOnce() -> Fresh> {
    /// The session id the router will give the session.
    pub session: Id,
    /// Random bytes and the time.
    pub fresh: F,
}

/// Random bytes (from the shard's generator) and the current time, for one challenge.
#[derive(Clone, Debug)]
pub struct Fresh {
    /// Random bytes: a WAMP-CRA nonce, a cryptosign challenge.
    pub random: [u8; cryptosign::CHALLENGE_BYTES],
    /// The wall-clock time, RFC 3339.
    pub timestamp: String,
}

/// What the router does with a HELLO.
#[derive(Debug)]
pub enum Step {
    /// WELCOME now.
    Welcome(Principal),
    /// CHALLENGE with this method and extra, then check the AUTHENTICATE against `pending`.
    Challenge {
        /// `CHALLENGE.AuthMethod`.
        method: &'static str,
        /// `CHALLENGE.Extra`.
        extra: Dict,
        /// What the AUTHENTICATE must prove.
        pending: Pending,
    },
    /// ABORT.
    Refuse(Refusal),
}

/// The methods a HELLO offers, in its order: `HELLO.Details.authmethods`, or only anonymous.
fn offered(details: &Dict) -> Vec<&str> {
    match details.get("authmethods") {
        Some(Value::List(l)) => l.iter().filter_map(Value::as_str).collect(),
        _ => vec![ANONYMOUS],
    }
}

/// The first step of a login: `details` are the HELLO's, `realm` the realm it asks for.
pub fn hello<F: FnOnce() -> Fresh>(listener: &ListenerAuth, realm: &str, details: &Dict, login: Login<F>) -> Step {
    let authid = details.get_str("authid");
    for method in offered(details) {
        match method {
            ANONYMOUS => {
                if let Some(a) = &listener.anonymous {
                    return Step::Welcome(Principal {
                        authid: authid.filter(|_| a.keep_authid).map(str::to_owned),
                        authrole: a.role.clone(),
                        authmethod: ANONYMOUS,
                        authprovider: STATIC_PROVIDER,
                    });
                }
            }
            TICKET => {
                let Some(t) = &listener.ticket else { continue };
                let Some(authid) = authid else {
                    return Step::Refuse(refuse(ErrorUri::NotAuthorized, "a ticket login needs an authid"));
                };
                let principal = (t.principals.iter())
                    .find(|p| p.authid == authid && p.realm.as_deref().is_none_or(|r| r == realm))
                    .map(|p| Box::new(p.clone()));
                let pending = Pending::Ticket { authid: authid.to_owned(), principal };
                return Step::Challenge { method: TICKET, extra: Dict::new(), pending };
            }
            CRYPTOSIGN => {
                let Some(c) = &listener.cryptosign else { continue };
                let authextra = details.get("authextra").and_then(Value::as_dict);
                // Without a public key the method cannot be used: the next offered one is tried.
                let Some(key) = authextra.and_then(|e| e.get_str("pubkey")).and_then(cryptosign::pubkey) else {
                    continue;
                };
                let principal = cryptosign::principal(c, authid, &key, realm).map(|p| Box::new(p.clone()));
                let challenge = (login.fresh)().random;
                let extra = Dict::new().with("challenge", hex::encode(challenge));
                let pending = Pending::Cryptosign { key, challenge, principal };
                return Step::Challenge { method: CRYPTOSIGN, extra, pending };
            }
            WAMPCRA => {
                let Some(w) = &listener.wampcra else { continue };
                let Some(authid) = authid else {
                    return Step::Refuse(refuse(ErrorUri::NotAuthorized, "a wampcra login needs an authid"));
                };
                let principal = (w.principals.iter())
                    .find(|p| p.authid == authid && p.realm.as_deref().is_none_or(|r| r == realm))
                    .map(|p| Box::new(p.clone()));
                let fresh = (login.fresh)();
                let (nonce, timestamp) = (hex::encode(&fresh.random[..16]), fresh.timestamp);
                let role = principal.as_ref().map_or("", |p| p.role.as_str());
                let challenge = wampcra::challenge(authid, role, login.session, &nonce, &timestamp);
                let mut extra = Dict::new().with("challenge", challenge.as_str());
                if let Some(s) = principal.as_ref().and_then(|p| p.salt.as_ref()) {
                    extra.insert("salt", s.salt.as_str());
                    extra.insert("iterations", u64::from(s.iterations));
                    extra.insert("keylen", u64::from(s.keylen));
                }
                let pending = Pending::Wampcra { authid: authid.to_owned(), challenge, principal };
                return Step::Challenge { method: WAMPCRA, extra, pending };
            }
            _ => {}
        }
    }
    Step::Refuse(refuse(ErrorUri::NoAuthMethod, "none of the offered authentication methods is accepted here"))
}

/// The AUTHENTICATE answering a CHALLENGE: who the client proved to be, or why not.
pub fn authenticate(pending: &Pending, signature: &str) -> Result<Principal, Refusal> {
    match pending {
        Pending::Ticket { authid, principal } => match principal {
            Some(p) if p.ticket.matches(signature) => Ok(Principal {
                authid: Some(authid.clone()),
                authrole: p.role.clone(),
                authmethod: TICKET,
                authprovider: STATIC_PROVIDER,
            }),
            _ => Err(refuse(ErrorUri::NotAuthorized, "the authid and ticket do not match a principal")),
        },
        Pending::Cryptosign { key, challenge, principal } => match principal {
            Some(p) if cryptosign::verify(key, challenge, signature) => Ok(Principal {
                authid: Some(p.authid.clone()),
                authrole: p.role.clone(),
                authmethod: CRYPTOSIGN,
                authprovider: STATIC_PROVIDER,
            }),
            _ => Err(refuse(ErrorUri::NotAuthorized, "the signature does not prove an authorized key")),
        },
        Pending::Wampcra { authid, challenge, principal } => match principal {
            Some(p) if wampcra::verify(p.key.expose(), challenge, signature) => Ok(Principal {
                authid: Some(authid.clone()),
                authrole: p.role.clone(),
                authmethod: WAMPCRA,
                authprovider: STATIC_PROVIDER,
            }),
            _ => Err(refuse(ErrorUri::NotAuthorized, "the signature does not prove the authid's secret")),
        },
    }
}

#[cfg(test)]
mod tests;
