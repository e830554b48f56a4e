//! Authentication per listener and authorization per realm, as the configuration states them:
//! listeners -> auth methods -> principals, realms -> roles -> permissions (Crossbar.io's model).
//!
//! Owns: the typed `[listener.auth]` and `[[realm.role]]` tables, their parsing from the raw file
//! and their validation (errors name the key). Never: checks a login or an action (`auth` and the
//! router do), and never prints a secret: [`Secret`]'s `Debug` hides it.

use serde::Deserialize;

use super::{invalid, ConfigError, RealmConfig};
use crate::wamp::uri::{is_valid_pattern, UriCheck};
use crate::wamp::MatchPolicy;

/// The role anonymous sessions get when the configuration names none.
pub const DEFAULT_ANONYMOUS_ROLE: &str = "anonymous";

/// A secret from the configuration (a ticket): compared in constant time, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret's bytes, for computing a proof (an HMAC key); never for display.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// True if `offered` is this secret; takes the same time whatever it shares with it.
    pub fn matches(&self, offered: &str) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.0.as_bytes().ct_eq(offered.as_bytes()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The authentication methods one listener accepts. Without an `[listener.auth]` table, anonymous
/// logins only (the embedded default); with one, exactly the methods it lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerAuth {
    /// `[listener.auth.anonymous]`: sessions without credentials get this role; `None`: refused.
    pub anonymous: Option<AnonymousAuth>,
    /// `[listener.auth.ticket]`: static principals with a ticket each; `None`: not offered.
    pub ticket: Option<TicketAuth>,
    /// `[listener.auth.wampcra]`: static principals with a secret each; `None`: not offered.
    pub wampcra: Option<WampcraAuth>,
    /// `[listener.auth.cryptosign]`: static principals with their Ed25519 public keys; `None`:
    /// not offered.
    pub cryptosign: Option<CryptosignAuth>,
}

/// WAMP-Cryptosign logins (static principals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptosignAuth {
    /// The principals, each authid once.
    pub principals: Vec<CryptosignPrincipal>,
}

/// One principal that may log in by signing a challenge with an Ed25519 key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptosignPrincipal {
    /// The authid it logs in as.
    pub authid: String,
    /// The public keys it may sign with (`authorized_keys`, hex in the file).
    pub keys: Vec<[u8; 32]>,
    /// The role it gets.
    pub role: String,
    /// The only realm it may join (`None`: any realm).
    pub realm: Option<String>,
}

impl Default for ListenerAuth {
    fn default() -> Self {
        ListenerAuth {
            anonymous: Some(AnonymousAuth { role: DEFAULT_ANONYMOUS_ROLE.into(), keep_authid: true }),
            ticket: None,
            wampcra: None,
            cryptosign: None,
        }
    }
}

/// Anonymous logins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnonymousAuth {
    /// The role every anonymous session gets.
    pub role: String,
    /// An anonymous session keeps the authid it asks for in HELLO (else it gets a made-up one).
    /// By default only in a configuration where no listener takes credentials: where logins can
    /// prove an identity, an anonymous session must not claim one.
    pub keep_authid: bool,
}

/// Ticket logins (WAMP-Ticket, static principals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketAuth {
    /// The principals, each authid once.
    pub principals: Vec<TicketPrincipal>,
}

/// One principal that may log in with a ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketPrincipal {
    /// The authid it logs in as.
    pub authid: String,
    /// Its ticket.
    pub ticket: Secret,
    /// The role it gets.
    pub role: String,
    /// The only realm it may join (`None`: any realm).
    pub realm: Option<String>,
}

/// WAMP-CRA logins (static principals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WampcraAuth {
    /// The principals, each authid once.
    pub principals: Vec<WampcraPrincipal>,
}

/// PBKDF2 iterations of a salted WAMP-CRA secret when the configuration names none (autobahn's
/// default).
pub const DEFAULT_WAMPCRA_ITERATIONS: u32 = 1000;
/// Derived key length of a salted WAMP-CRA secret when the configuration names none (autobahn's
/// default).
pub const DEFAULT_WAMPCRA_KEYLEN: u32 = 32;
/// The most PBKDF2 iterations a salted secret may ask for: keys are derived when the
/// configuration loads, so this bounds the start-up time, not logins.
pub const MAX_WAMPCRA_ITERATIONS: u32 = 10_000_000;

/// One principal that may log in with WAMP-CRA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WampcraPrincipal {
    /// The authid it logs in as.
    pub authid: String,
    /// The HMAC key: the secret, or for a salted secret the PBKDF2-HMAC-SHA256 key derived from it
    /// when the configuration loaded (base64, as clients derive it).
    pub key: Secret,
    /// The salt and its PBKDF2 parameters, announced in the CHALLENGE (`None`: a plain secret).
    pub salt: Option<Salting>,
    /// The role it gets.
    pub role: String,
    /// The only realm it may join (`None`: any realm).
    pub realm: Option<String>,
}

/// How a salted WAMP-CRA secret was turned into its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Salting {
    /// The salt.
    pub salt: String,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// Derived key length in bytes.
    pub keylen: u32,
}

/// The key a WAMP-CRA secret gives: the secret itself, or with a salt base64 of
/// PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen), as clients derive it.
pub fn wampcra_key(secret: &str, salt: Option<&Salting>) -> Secret {
    use base64::Engine;
    match salt {
        None => Secret(secret.to_owned()),
        Some(s) => {
            let mut out = vec![0u8; s.keylen as usize];
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(secret.as_bytes(), s.salt.as_bytes(), s.iterations, &mut out);
            Secret(base64::engine::general_purpose::STANDARD.encode(out))
        }
    }
}

impl ListenerAuth {
    /// True if a login here can prove an identity (any method besides anonymous).
    pub fn takes_credentials(&self) -> bool {
        self.ticket.is_some() || self.wampcra.is_some() || self.cryptosign.is_some()
    }
}

/// What a session may do with a URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// CALL (also of the router's own `wamp.*` procedures).
    Call,
    /// REGISTER.
    Register,
    /// PUBLISH.
    Publish,
    /// SUBSCRIBE.
    Subscribe,
}

impl Action {
    fn bit(self) -> u8 {
        match self {
            Action::Call => 1,
            Action::Register => 2,
            Action::Publish => 4,
            Action::Subscribe => 8,
        }
    }

    fn from_name(s: &str) -> Option<Action> {
        Some(match s {
            "call" => Action::Call,
            "register" => Action::Register,
            "publish" => Action::Publish,
            "subscribe" => Action::Subscribe,
            _ => return None,
        })
    }
}

/// A set of [`Action`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Actions(u8);

impl Actions {
    /// True if `a` is in the set.
    pub fn allows(self, a: Action) -> bool {
        self.0 & a.bit() != 0
    }

    /// The set with `a` added.
    pub fn with(self, a: Action) -> Actions {
        Actions(self.0 | a.bit())
    }
}

/// One `[[realm.role]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleConfig {
    /// The role's name, as principals and the anonymous method name it.
    pub name: String,
    /// Its permissions; for a URI the best match decides (exact, then the longest prefix, then
    /// the most specific wildcard, as for pattern registrations); no match: nothing allowed.
    pub permissions: Vec<Permission>,
}

/// One `[[realm.role.permission]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    /// The URI or pattern; `""` with `match = "prefix"` matches every URI.
    pub uri: String,
    /// How `uri` matches.
    pub policy: MatchPolicy,
    /// What the role may do with the URIs it matches.
    pub allow: Actions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    anonymous: Option<RawAnonymous>,
    ticket: Option<RawTicket>,
    wampcra: Option<RawWampcra>,
    cryptosign: Option<RawCryptosign>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCryptosign {
    #[serde(default)]
    principal: Vec<RawSignPrincipal>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignPrincipal {
    authid: String,
    authorized_keys: Vec<String>,
    role: String,
    realm: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWampcra {
    #[serde(default)]
    principal: Vec<RawCraPrincipal>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCraPrincipal {
    authid: String,
    secret: String,
    role: String,
    realm: Option<String>,
    salt: Option<String>,
    iterations: Option<u32>,
    keylen: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnonymous {
    role: Option<String>,
    keep_authid: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTicket {
    #[serde(default)]
    principal: Vec<RawPrincipal>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrincipal {
    authid: String,
    ticket: String,
    role: String,
    realm: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRole {
    name: String,
    #[serde(default)]
    permission: Vec<RawPermission>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPermission {
    uri: String,
    #[serde(rename = "match")]
    policy: Option<String>,
    #[serde(default)]
    allow: Vec<String>,
}

impl RawAuth {
    /// True if `[listener.auth.anonymous]` says whether anonymous sessions keep their authid.
    pub(super) fn sets_keep_authid(&self) -> bool {
        self.anonymous.as_ref().is_some_and(|a| a.keep_authid.is_some())
    }

    /// The listener's methods: exactly those listed; salted WAMP-CRA keys are derived here, once.
    pub(super) fn into_auth(self, key: &str) -> Result<ListenerAuth, ConfigError> {
        let wampcra = match self.wampcra {
            None => None,
            Some(w) => Some(WampcraAuth {
                principals: (w.principal.into_iter().enumerate())
                    .map(|(i, p)| p.into_principal(&format!("{key}.auth.wampcra.principal[{i}]")))
                    .collect::<Result<_, _>>()?,
            }),
        };
        let cryptosign = match self.cryptosign {
            None => None,
            Some(c) => Some(CryptosignAuth {
                principals: (c.principal.into_iter().enumerate())
                    .map(|(i, p)| p.into_principal(&format!("{key}.auth.cryptosign.principal[{i}]")))
                    .collect::<Result<_, _>>()?,
            }),
        };
        Ok(ListenerAuth {
            wampcra,
            cryptosign,
            anonymous: self.anonymous.map(|a| AnonymousAuth {
                role: a.role.unwrap_or_else(|| DEFAULT_ANONYMOUS_ROLE.into()),
                keep_authid: a.keep_authid.unwrap_or(true),
            }),
            ticket: self.ticket.map(|t| TicketAuth {
                principals: (t.principal.into_iter())
                    .map(|p| TicketPrincipal {
                        authid: p.authid,
                        ticket: Secret(p.ticket),
                        role: p.role,
                        realm: p.realm,
                    })
                    .collect(),
            }),
        })
    }
}

impl RawSignPrincipal {
    fn into_principal(self, key: &str) -> Result<CryptosignPrincipal, ConfigError> {
        let keys = (self.authorized_keys.iter())
            .map(|k| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(k, &mut out).map(|()| out).map_err(|_| {
                    invalid(
                        format!("{key}.authorized_keys"),
                        format!("`{k}` is not 64 hex digits (an Ed25519 public key)"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(invalid(format!("{key}.authorized_keys"), "must list at least one key"));
        }
        Ok(CryptosignPrincipal { authid: self.authid, keys, role: self.role, realm: self.realm })
    }
}

impl RawCraPrincipal {
    fn into_principal(self, key: &str) -> Result<WampcraPrincipal, ConfigError> {
        let salt = match self.salt {
            None if self.iterations.is_some() || self.keylen.is_some() => {
                return Err(invalid(format!("{key}.salt"), "`iterations` and `keylen` need a `salt`"));
            }
            None => None,
            Some(salt) => {
                let iterations = self.iterations.unwrap_or(DEFAULT_WAMPCRA_ITERATIONS);
                let keylen = self.keylen.unwrap_or(DEFAULT_WAMPCRA_KEYLEN);
                if !(1..=MAX_WAMPCRA_ITERATIONS).contains(&iterations) {
                    let why = format!("must be between 1 and {MAX_WAMPCRA_ITERATIONS}");
                    return Err(invalid(format!("{key}.iterations"), why));
                }
                if !(1..=1024).contains(&keylen) {
                    return Err(invalid(format!("{key}.keylen"), "must be between 1 and 1024"));
                }
                Some(Salting { salt, iterations, keylen })
            }
        };
        let secret_key = wampcra_key(&self.secret, salt.as_ref());
        Ok(WampcraPrincipal { authid: self.authid, key: secret_key, salt, role: self.role, realm: self.realm })
    }
}

impl RawRole {
    pub(super) fn into_role(self, key: &str) -> Result<RoleConfig, ConfigError> {
        let permissions = (self.permission.into_iter().enumerate())
            .map(|(i, p)| {
                let key = format!("{key}.permission[{i}]");
                let policy = match p.policy.as_deref() {
                    None => MatchPolicy::Exact,
                    Some(m) => MatchPolicy::from_option(m).ok_or_else(|| {
                        invalid(
                            format!("{key}.match"),
                            format!("unknown match `{m}` (expected exact, prefix or wildcard)"),
                        )
                    })?,
                };
                let mut allow = Actions::default();
                for a in &p.allow {
                    let action = Action::from_name(a).ok_or_else(|| {
                        let why = format!("unknown action `{a}` (expected call, register, publish or subscribe)");
                        invalid(format!("{key}.allow"), why)
                    })?;
                    allow = allow.with(action);
                }
                Ok(Permission { uri: p.uri, policy, allow })
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(RoleConfig { name: self.name, permissions })
    }
}

/// Checks a realm's roles: names unique and non-empty, permission URIs valid patterns.
pub(super) fn validate_roles(at: usize, realm: &RealmConfig) -> Result<(), ConfigError> {
    let mut names = std::collections::HashSet::new();
    for (r, role) in realm.roles.iter().enumerate() {
        let key = format!("realm[{at}].role[{r}]");
        if role.name.is_empty() || !names.insert(role.name.as_str()) {
            return Err(invalid(format!("{key}.name"), format!("role `{}` is empty or configured twice", role.name)));
        }
        for (i, p) in role.permissions.iter().enumerate() {
            let everything = p.uri.is_empty() && p.policy == MatchPolicy::Prefix;
            if !everything && !is_valid_pattern(&p.uri, p.policy, UriCheck::Loose) {
                let why = format!("`{}` is not a URI pattern of match `{}`", p.uri, p.policy.as_str());
                return Err(invalid(format!("{key}.permission[{i}].uri"), why));
            }
        }
    }
    Ok(())
}

/// Checks a listener's methods against the realms: principals unique, their realm configured,
/// their role one of that realm's roles when it has any.
pub(super) fn validate_auth(key: &str, auth: &ListenerAuth, realms: &[RealmConfig]) -> Result<(), ConfigError> {
    if let Some(ticket) = &auth.ticket {
        let principals = ticket.principals.iter().map(|p| (p.authid.as_str(), p.role.as_str(), p.realm.as_deref()));
        validate_principals(&format!("{key}.auth.ticket"), principals, realms)?;
    }
    if let Some(sign) = &auth.cryptosign {
        let principals = sign.principals.iter().map(|p| (p.authid.as_str(), p.role.as_str(), p.realm.as_deref()));
        validate_principals(&format!("{key}.auth.cryptosign"), principals, realms)?;
    }
    if let Some(cra) = &auth.wampcra {
        let principals = cra.principals.iter().map(|p| (p.authid.as_str(), p.role.as_str(), p.realm.as_deref()));
        validate_principals(&format!("{key}.auth.wampcra"), principals, realms)?;
    }
    Ok(())
}

/// One method's principals as (authid, role, realm): authids unique and non-empty, the realm
/// configured, the role one of its roles when it has any.
fn validate_principals<'a>(
    key: &str,
    principals: impl Iterator<Item = (&'a str, &'a str, Option<&'a str>)>,
    realms: &[RealmConfig],
) -> Result<(), ConfigError> {
    let mut authids = std::collections::HashSet::new();
    for (i, (authid, role, realm)) in principals.enumerate() {
        let key = format!("{key}.principal[{i}]");
        if authid.is_empty() || !authids.insert(authid) {
            return Err(invalid(format!("{key}.authid"), format!("authid `{authid}` is empty or listed twice")));
        }
        let Some(name) = realm else { continue };
        let Some(realm) = realms.iter().find(|r| r.name == name) else {
            return Err(invalid(format!("{key}.realm"), format!("no realm `{name}` is configured")));
        };
        if !realm.roles.is_empty() && !realm.roles.iter().any(|r| r.name == role) {
            return Err(invalid(format!("{key}.role"), format!("realm `{name}` has no role `{role}`")));
        }
    }
    Ok(())
}
