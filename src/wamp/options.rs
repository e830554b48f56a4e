//! Typed Options and Details: the keys the router acts on, decoded once per message.
//!
//! Owns: decoding of the CALL, REGISTER, SUBSCRIBE, PUBLISH, YIELD and CANCEL options, of the
//! `ppt_*` keys of payload passthru mode and of the roles and features a client announces in
//! HELLO, with the spec's rules: unknown keys are ignored, a `null` value counts as absent, a known
//! key of the wrong type or with an unknown value is an [`OptionError`]. Never: decides what an
//! option means for routing or authorization (see `router`), and never fails on a key it does not
//! know.

mod pubsub;

use std::ops::{BitOr, BitOrAssign};

use super::uri::MatchPolicy;
use super::value::{Dict, Value};

pub use pubsub::{PublishOptions, SubscribeOptions, SubscriberFilter};

/// At most this many characters of an unknown value are echoed back in an [`OptionError`].
const MAX_ECHO: usize = 64;

/// A known option key with a value the router cannot accept. The router answers the request
/// with `wamp.error.invalid_argument` carrying the Display text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// The value has the wrong type or is out of range, e.g. `timeout: -1` or `acknowledge: "yes"`.
    #[error("option `{key}` must be {expected}")]
    WrongType {
        /// The option key.
        key: &'static str,
        /// What the key accepts, e.g. "a boolean".
        expected: &'static str,
    },
    /// A string option whose value the spec does not define, e.g. `match: "regex"`.
    #[error("option `{key}`: unknown value `{value}`, expected {expected}")]
    UnknownValue {
        /// The option key.
        key: &'static str,
        /// The value received, shortened to at most 64 characters.
        value: String,
        /// The values the key accepts.
        expected: &'static str,
    },
    /// A key that another present key requires is absent, e.g. `ppt_scheme` next to `ppt_cipher`.
    #[error("option `{key}` is required when `{by}` is present")]
    Missing {
        /// The absent key.
        key: &'static str,
        /// The present key that requires it.
        by: &'static str,
    },
}

/// The value under `key`, unless it is absent or `null` (some clients send nil for unset options).
fn present<'a>(options: &'a Dict, key: &str) -> Option<&'a Value> {
    options.get(key).filter(|v| !matches!(v, Value::Null))
}

/// The value under `key` picked by `pick` (one of the `Value::as_*`), `None` when absent, else
/// [`OptionError::WrongType`] naming `expected`.
fn typed<'a, T>(
    options: &'a Dict,
    key: &'static str,
    pick: fn(&'a Value) -> Option<T>,
    expected: &'static str,
) -> Result<Option<T>, OptionError> {
    present(options, key).map(|v| pick(v).ok_or(OptionError::WrongType { key, expected })).transpose()
}

/// A boolean option (`Value::Bool` only); `default` when absent.
fn flag(options: &Dict, key: &'static str, default: bool) -> Result<bool, OptionError> {
    Ok(typed(options, key, Value::as_bool, "a boolean")?.unwrap_or(default))
}

/// A string option (`Value::Str` only); `None` when absent.
fn string<'a>(options: &'a Dict, key: &'static str) -> Result<Option<&'a str>, OptionError> {
    typed(options, key, Value::as_str, "a string")
}

/// A string option with a fixed set of values, parsed by `parse`; `T::default()` when absent.
fn enumerated<T: Default>(
    options: &Dict,
    key: &'static str,
    parse: fn(&str) -> Option<T>,
    expected: &'static str,
) -> Result<T, OptionError> {
    match string(options, key)? {
        None => Ok(T::default()),
        Some(s) => parse(s).ok_or_else(|| OptionError::UnknownValue { key, value: echo(s), expected }),
    }
}

/// `s` shortened to [`MAX_ECHO`] characters, so an error reply never repeats a huge value.
fn echo(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHO) {
        Some((end, _)) => format!("{}…", s.get(..end).unwrap_or_default()),
        None => s.to_owned(),
    }
}

/// The `rkey` of `runmode: "partition"`; `None` without a runmode. `rkey` alone is ignored.
fn partition_key(options: &Dict) -> Result<Option<String>, OptionError> {
    match string(options, "runmode")? {
        None => Ok(None),
        Some("partition") => match string(options, "rkey")? {
            Some(key) => Ok(Some(key.to_owned())),
            None => Err(OptionError::Missing { key: "rkey", by: "runmode" }),
        },
        Some(other) => Err(OptionError::UnknownValue { key: "runmode", value: echo(other), expected: "partition" }),
    }
}

/// `REGISTER.Options.invoke`: how a call picks one callee of a shared registration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum InvokePolicy {
    /// One callee only; a second REGISTER fails (the spec's default).
    #[default]
    Single,
    /// Callees in turn, in registration order.
    RoundRobin,
    /// A callee drawn at random.
    Random,
    /// The callee registered first.
    First,
    /// The callee registered last.
    Last,
}

impl InvokePolicy {
    /// Parses the wire spelling of the `invoke` option.
    pub fn from_option(s: &str) -> Option<InvokePolicy> {
        match s {
            "single" => Some(InvokePolicy::Single),
            "roundrobin" => Some(InvokePolicy::RoundRobin),
            "random" => Some(InvokePolicy::Random),
            "first" => Some(InvokePolicy::First),
            "last" => Some(InvokePolicy::Last),
            _ => None,
        }
    }

    /// The option's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::RoundRobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }
}

/// `CANCEL.Options.mode` (and `INTERRUPT.Options.mode`): how a pending call is canceled.
///
/// The default, used when a CANCEL carries no `mode`, is [`CancelMode::KillNoWait`]. The spec's
/// call-canceling text lists the three modes but defines no default for an absent `mode`. Where
/// the spec itself picks a mode for a cancel the caller did not spell out (a call timeout fired
/// by the dealer, a caller leaving mid-call), it picks `killnowait`. Crossbar.io's dealer agrees
/// in effect: with no `mode` it sends INTERRUPT to the callee and ERROR to the caller at once.
/// As in both, a callee that did not announce call canceling still gets `skip`; the router
/// applies that downgrade, not this decoder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CancelMode {
    /// ERROR to the caller now, no INTERRUPT, the callee's late reply is dropped.
    Skip,
    /// INTERRUPT to the callee; the caller gets the callee's reply, whichever comes.
    Kill,
    /// ERROR to the caller now, INTERRUPT to the callee, the callee's reply is dropped.
    #[default]
    KillNoWait,
}

impl CancelMode {
    /// Parses the wire spelling of the `mode` option.
    pub fn from_option(s: &str) -> Option<CancelMode> {
        match s {
            "skip" => Some(CancelMode::Skip),
            "kill" => Some(CancelMode::Kill),
            "killnowait" => Some(CancelMode::KillNoWait),
            _ => None,
        }
    }

    /// The option's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CancelMode::Skip => "skip",
            CancelMode::Kill => "kill",
            CancelMode::KillNoWait => "killnowait",
        }
    }
}

/// The `ppt_*` keys of payload passthru mode (CALL, YIELD, PUBLISH and ERROR options), copied
/// unchanged into the INVOCATION, RESULT, EVENT and ERROR details the router sends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ppt {
    /// `ppt_scheme`: the payload schema, e.g. `mqtt`; never empty.
    pub scheme: String,
    /// `ppt_serializer`: how the payload was serialized, e.g. `native`, `cbor`.
    pub serializer: Option<String>,
    /// `ppt_cipher`: the encryption algorithm, if the payload is encrypted.
    pub cipher: Option<String>,
    /// `ppt_keyid`: which key encrypted the payload.
    pub keyid: Option<String>,
}

impl Ppt {
    /// The `ppt_*` keys of `options`: `None` if there are none. All four must be strings, and
    /// `ppt_scheme` must be present and non-empty when any of the others is.
    pub fn decode(options: &Dict) -> Result<Option<Ppt>, OptionError> {
        let scheme = string(options, "ppt_scheme")?;
        let serializer = string(options, "ppt_serializer")?;
        let cipher = string(options, "ppt_cipher")?;
        let keyid = string(options, "ppt_keyid")?;
        let Some(scheme) = scheme else {
            let others = [("ppt_serializer", serializer), ("ppt_cipher", cipher), ("ppt_keyid", keyid)];
            return match others.into_iter().find(|(_, v)| v.is_some()) {
                Some((by, _)) => Err(OptionError::Missing { key: "ppt_scheme", by }),
                None => Ok(None),
            };
        };
        if scheme.is_empty() {
            return Err(OptionError::WrongType { key: "ppt_scheme", expected: "a non-empty string" });
        }
        Ok(Some(Ppt {
            scheme: scheme.to_owned(),
            serializer: serializer.map(str::to_owned),
            cipher: cipher.map(str::to_owned),
            keyid: keyid.map(str::to_owned),
        }))
    }

    /// Writes the present `ppt_*` keys into `details`, replacing earlier values.
    pub fn write_to(&self, details: &mut Dict) {
        details.insert("ppt_scheme", self.scheme.as_str());
        let optional = [("ppt_serializer", &self.serializer), ("ppt_cipher", &self.cipher), ("ppt_keyid", &self.keyid)];
        for (key, value) in optional {
            if let Some(v) = value {
                details.insert(key, v.as_str());
            }
        }
    }
}

/// `CALL.Options` the router acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// `receive_progress`: the caller accepts progressive results.
    pub receive_progress: bool,
    /// `progress`: a progressive call invocation that more CALLs will follow.
    pub progress: bool,
    /// `timeout` in milliseconds; 0 (or absent) means no timeout.
    pub timeout_ms: u64,
    /// `disclose_me`: the caller asks to be identified to the callee.
    pub disclose_me: bool,
    /// `runmode: "partition"` with its `rkey`: every call with this key goes to the same callee
    /// of a shared registration (sharded registration).
    pub partition: Option<String>,
    /// The `ppt_*` keys, if the call uses payload passthru mode.
    pub ppt: Option<Ppt>,
}

impl CallOptions {
    /// Decodes `CALL.Options`.
    pub fn decode(options: &Dict) -> Result<CallOptions, OptionError> {
        if options.is_empty() {
            return Ok(CallOptions::default());
        }
        Ok(CallOptions {
            receive_progress: flag(options, "receive_progress", false)?,
            progress: flag(options, "progress", false)?,
            timeout_ms: typed(options, "timeout", Value::as_u64, "a non-negative integer")?.unwrap_or(0),
            disclose_me: flag(options, "disclose_me", false)?,
            partition: partition_key(options)?,
            ppt: Ppt::decode(options)?,
        })
    }
}

/// `REGISTER.Options` the router acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterOptions {
    /// `match`: how the procedure URI is matched; exact by default.
    pub policy: MatchPolicy,
    /// `invoke`: the shared-registration policy; single by default.
    pub invoke: InvokePolicy,
    /// `disclose_caller`: every INVOCATION carries the caller's identity.
    pub disclose_caller: bool,
    /// `forward_timeout`: the call timeout is passed to the callee instead of run by the dealer.
    pub forward_timeout: bool,
}

impl RegisterOptions {
    /// Decodes `REGISTER.Options`.
    pub fn decode(options: &Dict) -> Result<RegisterOptions, OptionError> {
        Ok(RegisterOptions {
            policy: match_policy(options)?,
            invoke: enumerated(
                options,
                "invoke",
                InvokePolicy::from_option,
                "single, roundrobin, random, first or last",
            )?,
            disclose_caller: flag(options, "disclose_caller", false)?,
            forward_timeout: flag(options, "forward_timeout", false)?,
        })
    }
}

/// The `match` option of SUBSCRIBE and REGISTER.
fn match_policy(options: &Dict) -> Result<MatchPolicy, OptionError> {
    enumerated(options, "match", MatchPolicy::from_option, "exact, prefix or wildcard")
}

/// `YIELD.Options` the router acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct YieldOptions {
    /// `progress`: a progressive result; more YIELDs will follow.
    pub progress: bool,
    /// The `ppt_*` keys, if the result uses payload passthru mode.
    pub ppt: Option<Ppt>,
}

impl YieldOptions {
    /// Decodes `YIELD.Options`.
    pub fn decode(options: &Dict) -> Result<YieldOptions, OptionError> {
        if options.is_empty() {
            return Ok(YieldOptions::default());
        }
        Ok(YieldOptions { progress: flag(options, "progress", false)?, ppt: Ppt::decode(options)? })
    }
}

/// `CANCEL.Options` the router acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CancelOptions {
    /// `mode`: how to cancel; [`CancelMode::KillNoWait`] when absent.
    pub mode: CancelMode,
}

impl CancelOptions {
    /// Decodes `CANCEL.Options`.
    pub fn decode(options: &Dict) -> Result<CancelOptions, OptionError> {
        Ok(CancelOptions { mode: enumerated(options, "mode", CancelMode::from_option, "skip, kill or killnowait")? })
    }
}

/// The advanced features a client announced, per role where the router needs the distinction,
/// as a small bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Features(u16);

impl Features {
    /// Caller: `progressive_call_results`.
    pub const CALLER_PROGRESSIVE_RESULTS: Features = Features(1 << 0);
    /// Caller: `call_canceling`.
    pub const CALLER_CANCELING: Features = Features(1 << 1);
    /// Caller: `progressive_call_invocations`.
    pub const CALLER_PROGRESSIVE_INVOCATIONS: Features = Features(1 << 2);
    /// Caller: `payload_passthru_mode`.
    pub const CALLER_PPT: Features = Features(1 << 3);
    /// Callee: `progressive_call_results`.
    pub const CALLEE_PROGRESSIVE_RESULTS: Features = Features(1 << 4);
    /// Callee: `call_canceling`.
    pub const CALLEE_CANCELING: Features = Features(1 << 5);
    /// Callee: `progressive_call_invocations`.
    pub const CALLEE_PROGRESSIVE_INVOCATIONS: Features = Features(1 << 6);
    /// Callee: `payload_passthru_mode`.
    pub const CALLEE_PPT: Features = Features(1 << 7);
    /// Callee: `caller_identification`.
    pub const CALLEE_CALLER_IDENTIFICATION: Features = Features(1 << 8);
    /// Callee: `registration_revocation`.
    pub const CALLEE_REGISTRATION_REVOCATION: Features = Features(1 << 9);
    /// Subscriber: `subscription_revocation`.
    pub const SUBSCRIBER_SUBSCRIPTION_REVOCATION: Features = Features(1 << 10);
    /// Publisher: `payload_passthru_mode`.
    pub const PUBLISHER_PPT: Features = Features(1 << 11);
    /// Subscriber: `payload_passthru_mode`.
    pub const SUBSCRIBER_PPT: Features = Features(1 << 12);

    /// No features.
    pub const fn empty() -> Features {
        Features(0)
    }

    /// True if every feature of `other` is in `self`.
    pub const fn contains(self, other: Features) -> bool {
        self.0 & other.0 == other.0
    }

    /// Adds the features of `other`.
    pub fn insert(&mut self, other: Features) {
        self.0 |= other.0;
    }
}

impl BitOr for Features {
    type Output = Features;

    fn bitor(self, rhs: Features) -> Features {
        Features(self.0 | rhs.0)
    }
}

impl BitOrAssign for Features {
    fn bitor_assign(&mut self, rhs: Features) {
        self.insert(rhs);
    }
}

/// Feature names with the spelling variants a router should accept (reference §1.13).
const PROGRESSIVE_RESULTS: &[&str] = &["progressive_call_results"];
const CANCELING: &[&str] = &["call_canceling", "call_cancelling"];
const PROGRESSIVE_INVOCATIONS: &[&str] = &["progressive_call_invocations", "progressive_calls"];
const PPT: &[&str] = &["payload_passthru_mode", "payload_transparency"];

/// Per role: the features the router reads, each with its accepted names.
type FeatureTable = &'static [(&'static [&'static str], Features)];

const CALLER_FEATURES: FeatureTable = &[
    (PROGRESSIVE_RESULTS, Features::CALLER_PROGRESSIVE_RESULTS),
    (CANCELING, Features::CALLER_CANCELING),
    (PROGRESSIVE_INVOCATIONS, Features::CALLER_PROGRESSIVE_INVOCATIONS),
    (PPT, Features::CALLER_PPT),
];
const CALLEE_FEATURES: FeatureTable = &[
    (PROGRESSIVE_RESULTS, Features::CALLEE_PROGRESSIVE_RESULTS),
    (CANCELING, Features::CALLEE_CANCELING),
    (PROGRESSIVE_INVOCATIONS, Features::CALLEE_PROGRESSIVE_INVOCATIONS),
    (PPT, Features::CALLEE_PPT),
    (&["caller_identification"], Features::CALLEE_CALLER_IDENTIFICATION),
    (&["registration_revocation"], Features::CALLEE_REGISTRATION_REVOCATION),
];
const SUBSCRIBER_FEATURES: FeatureTable =
    &[(&["subscription_revocation"], Features::SUBSCRIBER_SUBSCRIPTION_REVOCATION), (PPT, Features::SUBSCRIBER_PPT)];
const PUBLISHER_FEATURES: FeatureTable = &[(PPT, Features::PUBLISHER_PPT)];

/// What a client announced in `HELLO.Details.roles`: which roles, and per role the features this
/// router cares about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientRoles {
    /// `roles.publisher` is a dict.
    pub publisher: bool,
    /// `roles.subscriber` is a dict.
    pub subscriber: bool,
    /// `roles.caller` is a dict.
    pub caller: bool,
    /// `roles.callee` is a dict.
    pub callee: bool,
    /// The features announced as `roles.<role>.features.<name> = true` by the roles above.
    pub features: Features,
}

impl ClientRoles {
    /// Reads `HELLO.Details.roles`. Never fails: a role whose value is not a dict, or a feature
    /// whose value is not `true`, is simply not announced. Whether at least one role is required
    /// is the caller's decision (see [`ClientRoles::any`]).
    pub fn from_hello(details: &Dict) -> ClientRoles {
        let mut out = ClientRoles::default();
        let Some(roles) = details.get("roles").and_then(Value::as_dict) else {
            return out;
        };
        out.publisher = read_role(roles, "publisher", PUBLISHER_FEATURES, &mut out.features);
        out.subscriber = read_role(roles, "subscriber", SUBSCRIBER_FEATURES, &mut out.features);
        out.caller = read_role(roles, "caller", CALLER_FEATURES, &mut out.features);
        out.callee = read_role(roles, "callee", CALLEE_FEATURES, &mut out.features);
        out
    }

    /// True if the client announced at least one role.
    pub fn any(&self) -> bool {
        self.publisher || self.subscriber || self.caller || self.callee
    }
}

/// True if `roles.<role>` is a dict; adds the features of `table` it announces to `features`.
fn read_role(roles: &Dict, role: &str, table: FeatureTable, features: &mut Features) -> bool {
    let Some(role) = roles.get(role).and_then(Value::as_dict) else {
        return false;
    };
    if let Some(announced) = role.get("features").and_then(Value::as_dict) {
        for (names, bit) in table {
            if names.iter().any(|n| announced.get(n) == Some(&Value::Bool(true))) {
                features.insert(*bit);
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn opts(entries: &[(&str, Value)]) -> Dict {
        entries.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    /// HELLO.Details with `roles` built from (role, [(feature, value)]).
    fn hello(roles: &[(&str, &[(&str, Value)])]) -> Dict {
        let roles = roles.iter().map(|(r, f)| ((*r).to_owned(), Dict::new().with("features", opts(f)).into()));
        Dict::new().with("roles", roles.collect::<Dict>())
    }

    #[test]
    fn empty_options_decode_to_the_spec_defaults() {
        let d = Dict::new();
        assert_eq!(CallOptions::decode(&d), Ok(CallOptions::default()));
        let r = RegisterOptions::decode(&d).unwrap();
        assert_eq!((r.policy, r.invoke), (MatchPolicy::Exact, InvokePolicy::Single));
        assert_eq!(SubscribeOptions::decode(&d).unwrap().policy, MatchPolicy::Exact);
        assert_eq!(YieldOptions::decode(&d), Ok(YieldOptions::default()));
        assert_eq!(CancelOptions::decode(&d).unwrap().mode, CancelMode::KillNoWait);
    }

    #[test]
    fn call_options_decode_every_known_key() {
        let keys = [("receive_progress", true.into()), ("progress", true.into()), ("disclose_me", true.into())];
        let d = opts(&keys).with("timeout", 1500u64).with("ppt_scheme", "mqtt");
        let c = CallOptions::decode(&d).unwrap();
        assert!(c.receive_progress && c.progress && c.disclose_me);
        assert_eq!(c.timeout_ms, 1500);
        assert_eq!(c.ppt.map(|p| p.scheme), Some("mqtt".to_owned()));
    }

    #[test]
    fn runmode_partition_needs_an_rkey_and_is_the_only_runmode() {
        let ok = CallOptions::decode(&Dict::new().with("runmode", "partition").with("rkey", "dev-7")).unwrap();
        assert_eq!(ok.partition.as_deref(), Some("dev-7"));
        assert_eq!(CallOptions::decode(&Dict::new().with("rkey", "x")).unwrap().partition, None);
        let missing = CallOptions::decode(&Dict::new().with("runmode", "partition")).unwrap_err();
        assert!(missing.to_string().contains("rkey"), "{missing}");
        let unknown = CallOptions::decode(&Dict::new().with("runmode", "all").with("rkey", "x")).unwrap_err();
        assert!(unknown.to_string().contains("runmode"), "{unknown}");
    }

    #[test]
    fn timeout_of_the_wrong_type_is_an_error_naming_the_key() {
        for bad in [Value::Int(-1), Value::Float(1.5), Value::from("10"), Value::Bool(true)] {
            let err = CallOptions::decode(&opts(&[("timeout", bad)])).unwrap_err();
            assert_eq!(err, OptionError::WrongType { key: "timeout", expected: "a non-negative integer" });
            assert_eq!(err.to_string(), "option `timeout` must be a non-negative integer");
        }
    }

    #[test]
    fn booleans_of_the_wrong_type_are_errors_naming_the_key() {
        type Decode = fn(&Dict) -> Option<OptionError>;
        let cases: [(&str, Decode); 7] = [
            ("receive_progress", |d| CallOptions::decode(d).err()),
            ("disclose_me", |d| CallOptions::decode(d).err()),
            ("disclose_caller", |d| RegisterOptions::decode(d).err()),
            ("forward_timeout", |d| RegisterOptions::decode(d).err()),
            ("acknowledge", |d| PublishOptions::decode(d).err()),
            ("exclude_me", |d| PublishOptions::decode(d).err()),
            ("progress", |d| YieldOptions::decode(d).err()),
        ];
        for (key, decode) in cases {
            for bad in [Value::UInt(1), Value::from("true")] {
                let err = decode(&opts(&[(key, bad)])).unwrap();
                assert_eq!(err.to_string(), format!("option `{key}` must be a boolean"));
            }
        }
    }

    #[test]
    fn null_options_count_as_absent() {
        let keys = ["receive_progress", "progress", "timeout", "disclose_me", "ppt_scheme", "ppt_cipher"];
        assert_eq!(CallOptions::decode(&opts(&keys.map(|k| (k, Value::Null)))), Ok(CallOptions::default()));
        let d = opts(&[("match", Value::Null), ("invoke", Value::Null), ("disclose_caller", Value::Null)]);
        assert_eq!(RegisterOptions::decode(&d), Ok(RegisterOptions::default()));
        let d = opts(&[("exclude_me", Value::Null), ("acknowledge", Value::Null)]);
        assert_eq!(PublishOptions::decode(&d), Ok(PublishOptions::default()));
        assert_eq!(CancelOptions::decode(&opts(&[("mode", Value::Null)])), Ok(CancelOptions::default()));
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let d = opts(&[("_custom", Value::Float(1.0)), ("x_vendor", 5u64.into()), ("exclude", Value::Null)]);
        assert_eq!(CallOptions::decode(&d), Ok(CallOptions::default()));
        assert_eq!(PublishOptions::decode(&d), Ok(PublishOptions::default()));
        assert_eq!(SubscribeOptions::decode(&d), Ok(SubscribeOptions::default()));
    }

    #[test]
    fn exclude_me_defaults_to_true() {
        assert!(PublishOptions::default().exclude_me);
        assert!(PublishOptions::decode(&Dict::new()).unwrap().exclude_me);
        assert!(!PublishOptions::decode(&opts(&[("exclude_me", false.into())])).unwrap().exclude_me);
        let p = PublishOptions::decode(&opts(&[("acknowledge", true.into()), ("disclose_me", true.into())])).unwrap();
        assert!(p.acknowledge && p.disclose_me && p.exclude_me);
    }

    #[test]
    fn invoke_policies_parse_their_wire_names() {
        use InvokePolicy::*;
        for p in [Single, RoundRobin, Random, First, Last] {
            assert_eq!(InvokePolicy::from_option(p.as_str()), Some(p));
            assert_eq!(RegisterOptions::decode(&opts(&[("invoke", p.as_str().into())])).unwrap().invoke, p);
        }
        let err = RegisterOptions::decode(&opts(&[("invoke", "fastest".into())])).unwrap_err();
        let text = "option `invoke`: unknown value `fastest`, expected single, roundrobin, random, first or last";
        assert_eq!(err.to_string(), text);
        let err = RegisterOptions::decode(&opts(&[("invoke", 1u64.into())])).unwrap_err();
        assert_eq!(err, OptionError::WrongType { key: "invoke", expected: "a string" });
    }

    #[test]
    fn register_options_decode_every_known_key() {
        let d = opts(&[("disclose_caller", true.into()), ("forward_timeout", true.into())])
            .with("match", "wildcard")
            .with("invoke", "roundrobin");
        let want = RegisterOptions {
            policy: MatchPolicy::Wildcard,
            invoke: InvokePolicy::RoundRobin,
            disclose_caller: true,
            forward_timeout: true,
        };
        assert_eq!(RegisterOptions::decode(&d), Ok(want));
    }

    #[test]
    fn match_policy_is_checked_for_subscribe_and_register() {
        let d = opts(&[("match", "prefix".into())]);
        assert_eq!(SubscribeOptions::decode(&d).unwrap().policy, MatchPolicy::Prefix);
        assert_eq!(RegisterOptions::decode(&d).unwrap().policy, MatchPolicy::Prefix);
        let err = SubscribeOptions::decode(&opts(&[("match", "regex".into())])).unwrap_err();
        assert_eq!(err.to_string(), "option `match`: unknown value `regex`, expected exact, prefix or wildcard");
        let err = RegisterOptions::decode(&opts(&[("match", true.into())])).unwrap_err();
        assert_eq!(err, OptionError::WrongType { key: "match", expected: "a string" });
    }

    #[test]
    fn an_unknown_value_is_echoed_shortened() {
        let d = opts(&[("match", "é".repeat(1000).into())]);
        let Err(OptionError::UnknownValue { value, .. }) = SubscribeOptions::decode(&d) else { panic!() };
        assert_eq!(value.chars().count(), MAX_ECHO + 1);
        assert!(value.ends_with('…'));
    }

    #[test]
    fn cancel_modes_parse_their_wire_names() {
        for m in [CancelMode::Skip, CancelMode::Kill, CancelMode::KillNoWait] {
            assert_eq!(CancelMode::from_option(m.as_str()), Some(m));
            assert_eq!(CancelOptions::decode(&opts(&[("mode", m.as_str().into())])), Ok(CancelOptions { mode: m }));
        }
        let err = CancelOptions::decode(&opts(&[("mode", "abort".into())])).unwrap_err();
        assert_eq!(err.to_string(), "option `mode`: unknown value `abort`, expected skip, kill or killnowait");
        let err = CancelOptions::decode(&opts(&[("mode", 1u64.into())])).unwrap_err();
        assert_eq!(err, OptionError::WrongType { key: "mode", expected: "a string" });
    }

    #[test]
    fn yield_options_decode_progress_and_ppt() {
        let d = opts(&[("progress", true.into()), ("ppt_scheme", "wamp".into()), ("ppt_serializer", "cbor".into())]);
        let y = YieldOptions::decode(&d).unwrap();
        assert!(y.progress);
        assert_eq!(y.ppt.and_then(|p| p.serializer), Some("cbor".to_owned()));
        let err = YieldOptions::decode(&opts(&[("ppt_keyid", 7u64.into())])).unwrap_err();
        assert_eq!(err, OptionError::WrongType { key: "ppt_keyid", expected: "a string" });
    }

    #[test]
    fn ppt_keys_round_trip_into_details() {
        let keys = ["ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid"];
        let d = opts(&keys.map(|k| (k, Value::from(format!("{k}-value"))))).with("acknowledge", true);
        let ppt = PublishOptions::decode(&d).unwrap().ppt.unwrap();
        let mut details = Dict::new().with("publisher", 1u64);
        ppt.write_to(&mut details);
        assert_eq!(details.len(), 5);
        assert_eq!(Ppt::decode(&details), Ok(Some(ppt)));
        assert!(keys.iter().all(|k| details.get(k) == d.get(k)));
        let ppt = Ppt { scheme: "mqtt".into(), serializer: None, cipher: None, keyid: Some("k".into()) };
        let mut details = Dict::new();
        ppt.write_to(&mut details);
        assert_eq!(details, Dict::new().with("ppt_scheme", "mqtt").with("ppt_keyid", "k"));
    }

    #[test]
    fn ppt_keys_without_a_scheme_are_an_error() {
        let err = CallOptions::decode(&opts(&[("ppt_cipher", "aes256gcm".into())])).unwrap_err();
        assert_eq!(err, OptionError::Missing { key: "ppt_scheme", by: "ppt_cipher" });
        assert_eq!(err.to_string(), "option `ppt_scheme` is required when `ppt_cipher` is present");
    }

    #[test]
    fn an_empty_or_non_string_ppt_scheme_is_an_error() {
        let err = PublishOptions::decode(&opts(&[("ppt_scheme", "".into())])).unwrap_err();
        assert_eq!(err.to_string(), "option `ppt_scheme` must be a non-empty string");
        let err = PublishOptions::decode(&opts(&[("ppt_scheme", Value::Bytes(vec![1]))])).unwrap_err();
        assert_eq!(err, OptionError::WrongType { key: "ppt_scheme", expected: "a string" });
    }

    #[test]
    fn roles_and_their_features_are_read_from_hello() {
        let r = ClientRoles::from_hello(&hello(&[
            ("caller", &[("progressive_call_results", true.into()), ("call_canceling", true.into())]),
            ("callee", &[("caller_identification", true.into()), ("registration_revocation", true.into())]),
            ("subscriber", &[("subscription_revocation", true.into())]),
            ("publisher", &[("payload_passthru_mode", true.into())]),
        ]));
        assert!(r.any() && r.caller && r.callee && r.subscriber && r.publisher);
        let want = [
            Features::CALLER_PROGRESSIVE_RESULTS,
            Features::CALLER_CANCELING,
            Features::CALLEE_CALLER_IDENTIFICATION,
            Features::CALLEE_REGISTRATION_REVOCATION,
            Features::SUBSCRIBER_SUBSCRIPTION_REVOCATION,
            Features::PUBLISHER_PPT,
        ];
        let want = want.into_iter().fold(Features::empty(), BitOr::bitor);
        assert_eq!(r.features, want);
    }

    #[test]
    fn feature_spelling_variants_are_accepted() {
        let variants: &[(&str, Value)] = &[
            ("call_cancelling", true.into()),
            ("progressive_calls", true.into()),
            ("payload_transparency", true.into()),
        ];
        let r =
            ClientRoles::from_hello(&hello(&[("caller", variants), ("callee", variants), ("subscriber", variants)]));
        let want = [
            Features::CALLER_CANCELING,
            Features::CALLER_PROGRESSIVE_INVOCATIONS,
            Features::CALLER_PPT,
            Features::CALLEE_CANCELING,
            Features::CALLEE_PROGRESSIVE_INVOCATIONS,
            Features::CALLEE_PPT,
            Features::SUBSCRIBER_PPT,
        ];
        let want = want.into_iter().fold(Features::empty(), BitOr::bitor);
        assert_eq!(r.features, want);
    }

    #[test]
    fn features_of_a_role_not_announced_are_absent() {
        let r = ClientRoles::from_hello(&hello(&[("caller", &[("call_canceling", true.into())])]));
        assert!(r.caller && !r.callee);
        assert!(r.features.contains(Features::CALLER_CANCELING));
        assert!(!r.features.contains(Features::CALLEE_CANCELING));
    }

    #[test]
    fn only_a_true_feature_counts() {
        let features: &[(&str, Value)] = &[
            ("call_canceling", false.into()),
            ("progressive_call_results", "true".into()),
            ("caller_identification", 1u64.into()),
            ("registration_revocation", Value::Null),
        ];
        let r = ClientRoles::from_hello(&hello(&[("callee", features)]));
        assert!(r.callee);
        assert_eq!(r.features, Features::empty());
    }

    #[test]
    fn malformed_roles_mean_not_announced() {
        assert_eq!(ClientRoles::from_hello(&Dict::new()), ClientRoles::default());
        assert!(!ClientRoles::from_hello(&Dict::new().with("roles", "caller")).any());
        let roles = Dict::new().with("caller", true).with("callee", Value::Null).with("broker", Dict::new());
        assert!(!ClientRoles::from_hello(&Dict::new().with("roles", roles)).any());
        let roles = Dict::new().with("subscriber", Dict::new().with("features", "all"));
        let r = ClientRoles::from_hello(&Dict::new().with("roles", roles));
        assert!(r.subscriber && r.features == Features::empty());
    }

    #[test]
    fn feature_sets_combine_and_compare() {
        let mut f = Features::empty();
        assert!(f.contains(Features::empty()) && !f.contains(Features::CALLEE_PPT));
        f.insert(Features::CALLEE_PPT);
        f |= Features::CALLER_PPT;
        assert!(f.contains(Features::CALLEE_PPT | Features::CALLER_PPT));
        assert!(!f.contains(Features::CALLEE_PPT | Features::SUBSCRIBER_PPT));
    }
}
