//! WAMP-CRA: the challenge a login gets and the signature that answers it.
//!
//! Owns: the challenge string (a JSON text naming the login, a nonce, a timestamp and the session
//! id to be) and HMAC-SHA256 signing of it with a principal's key. Never: key derivation (keys of
//! salted secrets are derived when the configuration loads) or comparing signatures in variable
//! time (`Secret::matches` and [`verify`] do it in constant time).

use base64::Engine;
use hmac::{KeyInit, Mac};

use crate::wamp::Id;

/// The method's name.
pub const WAMPCRA: &str = "wampcra";

/// The challenge string of a login: what the client signs.
pub fn challenge(authid: &str, authrole: &str, session: Id, nonce: &str, timestamp: &str) -> String {
    serde_json::json!({
        "authid": authid,
        "authrole": authrole,
        "authmethod": WAMPCRA,
        "authprovider": super::STATIC_PROVIDER,
        "nonce": nonce,
        "timestamp": timestamp,
        "session": session.get(),
    })
    .to_string()
}

/// base64(HMAC-SHA256(key, challenge)): the signature a client with `key` sends.
pub fn sign(key: &[u8], challenge: &str) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else { return String::new() };
    mac.update(challenge.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// True if `signature` is what `key` gives for `challenge`, compared in constant time.
pub fn verify(key: &[u8], challenge: &str, signature: &str) -> bool {
    use subtle::ConstantTimeEq;
    let expected = sign(key, challenge);
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
}
