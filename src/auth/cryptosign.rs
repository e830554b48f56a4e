//! WAMP-Cryptosign: an Ed25519 key proves the login by signing a random challenge.
//!
//! Owns: finding the principal of a HELLO's public key, and checking the AUTHENTICATE's signature
//! over the challenge sent. Never: channel binding (`tls-unique` / `tls-exporter` come with TLS)
//! or router authentication (`authextra.challenge`), neither of which is offered yet.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::config::{CryptosignAuth, CryptosignPrincipal};

/// The method's name.
pub const CRYPTOSIGN: &str = "cryptosign";

/// Bytes of a challenge.
pub const CHALLENGE_BYTES: usize = 32;

/// The principal a HELLO names: by authid (which must list the key) or, without an authid, by its
/// key alone; only principals allowed in `realm`.
pub fn principal<'a>(
    auth: &'a CryptosignAuth,
    authid: Option<&str>,
    pubkey: &[u8; 32],
    realm: &str,
) -> Option<&'a CryptosignPrincipal> {
    auth.principals.iter().find(|p| {
        authid.is_none_or(|a| a == p.authid) && p.keys.contains(pubkey) && p.realm.as_deref().is_none_or(|r| r == realm)
    })
}

/// The public key of `HELLO.Details.authextra.pubkey` (64 hex digits).
pub fn pubkey(hex_key: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut out).ok().map(|()| out)
}

/// True if `signature` (hex of the 64-byte signature, optionally followed by the 32-byte
/// challenge, as autobahn sends it) is `pubkey`'s signature of `challenge`.
pub fn verify(pubkey: &[u8; 32], challenge: &[u8; CHALLENGE_BYTES], signature: &str) -> bool {
    let Ok(bytes) = hex::decode(signature) else { return false };
    let (sig, rest) = match bytes.len() {
        64 | 96 => bytes.split_at(64),
        _ => return false,
    };
    if !rest.is_empty() && rest != challenge.as_slice() {
        return false;
    }
    let (Ok(key), Ok(sig)) = (VerifyingKey::from_bytes(pubkey), <[u8; 64]>::try_from(sig)) else { return false };
    key.verify_strict(challenge, &Signature::from_bytes(&sig)).is_ok()
}
