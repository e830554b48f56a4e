//! The WAMP messages, one struct per message, each documented with its wire format.
//!
//! Owns: [`Message`] and the message type codes. Never: bytes; `codec` turns these into bytes and
//! back. Payloads (Arguments, ArgumentsKw) are a [`Payload`], kept as the sender's raw bytes.
//!
//! Who sends what (Tx) and receives what (Rx), for the router's two roles:
//!
//! | message      | code | client | broker | dealer |
//! |--------------|------|--------|--------|--------|
//! | HELLO        | 1    | Tx     | Rx     | Rx     |
//! | WELCOME      | 2    | Rx     | Tx     | Tx     |
//! | ABORT        | 3    | Tx/Rx  | Tx/Rx  | Tx/Rx  |
//! | CHALLENGE    | 4    | Rx     | Tx     | Tx     |
//! | AUTHENTICATE | 5    | Tx     | Rx     | Rx     |
//! | GOODBYE      | 6    | Tx/Rx  | Tx/Rx  | Tx/Rx  |
//! | ERROR        | 8    | Tx/Rx  | Tx     | Tx/Rx  |
//! | PUBLISH      | 16   | Tx     | Rx     |        |
//! | PUBLISHED    | 17   | Rx     | Tx     |        |
//! | SUBSCRIBE    | 32   | Tx     | Rx     |        |
//! | SUBSCRIBED   | 33   | Rx     | Tx     |        |
//! | UNSUBSCRIBE  | 34   | Tx     | Rx     |        |
//! | UNSUBSCRIBED | 35   | Rx     | Tx     |        |
//! | EVENT        | 36   | Rx     | Tx     |        |
//! | CALL         | 48   | Tx     |        | Rx     |
//! | CANCEL       | 49   | Tx     |        | Rx     |
//! | RESULT       | 50   | Rx     |        | Tx     |
//! | REGISTER     | 64   | Tx     |        | Rx     |
//! | REGISTERED   | 65   | Rx     |        | Tx     |
//! | UNREGISTER   | 66   | Tx     |        | Rx     |
//! | UNREGISTERED | 67   | Rx     |        | Tx     |
//! | INVOCATION   | 68   | Rx     |        | Tx     |
//! | INTERRUPT    | 69   | Rx     |        | Tx     |
//! | YIELD        | 70   | Tx     |        | Rx     |

use super::id::Id;
use super::payload::Payload;
use super::value::Dict;

/// Message type codes of the spec.
pub mod code {
    #![allow(missing_docs)]
    pub const HELLO: u64 = 1;
    pub const WELCOME: u64 = 2;
    pub const ABORT: u64 = 3;
    pub const CHALLENGE: u64 = 4;
    pub const AUTHENTICATE: u64 = 5;
    pub const GOODBYE: u64 = 6;
    pub const ERROR: u64 = 8;
    pub const PUBLISH: u64 = 16;
    pub const PUBLISHED: u64 = 17;
    pub const SUBSCRIBE: u64 = 32;
    pub const SUBSCRIBED: u64 = 33;
    pub const UNSUBSCRIBE: u64 = 34;
    pub const UNSUBSCRIBED: u64 = 35;
    pub const EVENT: u64 = 36;
    pub const CALL: u64 = 48;
    pub const CANCEL: u64 = 49;
    pub const RESULT: u64 = 50;
    pub const REGISTER: u64 = 64;
    pub const REGISTERED: u64 = 65;
    pub const UNREGISTER: u64 = 66;
    pub const UNREGISTERED: u64 = 67;
    pub const INVOCATION: u64 = 68;
    pub const INTERRUPT: u64 = 69;
    pub const YIELD: u64 = 70;
}

/// `[HELLO, Realm|uri, Details|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Hello {
    pub realm: String,
    pub details: Dict,
}

/// `[WELCOME, Session|id, Details|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Welcome {
    pub session: Id,
    pub details: Dict,
}

/// `[ABORT, Details|dict, Reason|uri(, Arguments|list(, ArgumentsKw|dict))]`
#[derive(Clone, Debug, PartialEq)]
pub struct Abort {
    pub details: Dict,
    pub reason: String,
    pub payload: Payload,
}

/// `[CHALLENGE, AuthMethod|string, Extra|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Challenge {
    pub method: String,
    pub extra: Dict,
}

/// `[AUTHENTICATE, Signature|string, Extra|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Authenticate {
    pub signature: String,
    pub extra: Dict,
}

/// `[GOODBYE, Details|dict, Reason|uri]`
#[derive(Clone, Debug, PartialEq)]
pub struct Goodbye {
    pub details: Dict,
    pub reason: String,
}

/// `[ERROR, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri(, Arguments|list(, ArgumentsKw|dict))]`
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub request_type: u64,
    pub request: Id,
    pub details: Dict,
    pub error: String,
    pub payload: Payload,
}

/// `[PUBLISH, Request|id, Options|dict, Topic|uri(, Arguments|list(, ArgumentsKw|dict))]`
#[derive(Clone, Debug, PartialEq)]
pub struct Publish {
    pub request: Id,
    pub options: Dict,
    pub topic: String,
    pub payload: Payload,
}

/// `[PUBLISHED, PUBLISH.Request|id, Publication|id]`
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    pub request: Id,
    pub publication: Id,
}

/// `[SUBSCRIBE, Request|id, Options|dict, Topic|uri]`
#[derive(Clone, Debug, PartialEq)]
pub struct Subscribe {
    pub request: Id,
    pub options: Dict,
    pub topic: String,
}

/// `[SUBSCRIBED, SUBSCRIBE.Request|id, Subscription|id]`
#[derive(Clone, Debug, PartialEq)]
pub struct Subscribed {
    pub request: Id,
    pub subscription: Id,
}

/// `[UNSUBSCRIBE, Request|id, SUBSCRIBED.Subscription|id]`
#[derive(Clone, Debug, PartialEq)]
pub struct Unsubscribe {
    pub request: Id,
    pub subscription: Id,
}

/// `[UNSUBSCRIBED, UNSUBSCRIBE.Request|id]`, or for a revocation `[UNSUBSCRIBED, 0, Details|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Unsubscribed {
    pub request: Id,
    pub details: Option<Dict>,
}

/// `[EVENT, SUBSCRIBED.Subscription|id, PUBLISHED.Publication|id, Details|dict(, PUBLISH.Arguments|list(, PUBLISH.ArgumentsKw|dict))]`
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub subscription: Id,
    pub publication: Id,
    pub details: Dict,
    pub payload: Payload,
}

/// `[CALL, Request|id, Options|dict, Procedure|uri(, Arguments|list(, ArgumentsKw|dict))]`
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub request: Id,
    pub options: Dict,
    pub procedure: String,
    pub payload: Payload,
}

/// `[CANCEL, CALL.Request|id, Options|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Cancel {
    pub request: Id,
    pub options: Dict,
}

/// `[RESULT, CALL.Request|id, Details|dict(, YIELD.Arguments|list(, YIELD.ArgumentsKw|dict))]`
#[derive(Clone, Debug, PartialEq)]
pub struct CallResult {
    pub request: Id,
    pub details: Dict,
    pub payload: Payload,
}

/// `[REGISTER, Request|id, Options|dict, Procedure|uri]`
#[derive(Clone, Debug, PartialEq)]
pub struct Register {
    pub request: Id,
    pub options: Dict,
    pub procedure: String,
}

/// `[REGISTERED, REGISTER.Request|id, Registration|id]`
#[derive(Clone, Debug, PartialEq)]
pub struct Registered {
    pub request: Id,
    pub registration: Id,
}

/// `[UNREGISTER, Request|id, REGISTERED.Registration|id]`
#[derive(Clone, Debug, PartialEq)]
pub struct Unregister {
    pub request: Id,
    pub registration: Id,
}

/// `[UNREGISTERED, UNREGISTER.Request|id]`, or for a revocation `[UNREGISTERED, 0, Details|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Unregistered {
    pub request: Id,
    pub details: Option<Dict>,
}

/// `[INVOCATION, Request|id, REGISTERED.Registration|id, Details|dict(, CALL.Arguments|list(, CALL.ArgumentsKw|dict))]`
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    pub request: Id,
    pub registration: Id,
    pub details: Dict,
    pub payload: Payload,
}

/// `[INTERRUPT, INVOCATION.Request|id, Options|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Interrupt {
    pub request: Id,
    pub options: Dict,
}

/// `[YIELD, INVOCATION.Request|id, Options|dict(, Arguments|list(, ArgumentsKw|dict))]`
#[derive(Clone, Debug, PartialEq)]
pub struct Yield {
    pub request: Id,
    pub options: Dict,
    pub payload: Payload,
}

/// Any WAMP message.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Message {
    Hello(Hello),
    Welcome(Welcome),
    Abort(Abort),
    Challenge(Challenge),
    Authenticate(Authenticate),
    Goodbye(Goodbye),
    Error(Error),
    Publish(Publish),
    Published(Published),
    Subscribe(Subscribe),
    Subscribed(Subscribed),
    Unsubscribe(Unsubscribe),
    Unsubscribed(Unsubscribed),
    Event(Event),
    Call(Call),
    Cancel(Cancel),
    Result(CallResult),
    Register(Register),
    Registered(Registered),
    Unregister(Unregister),
    Unregistered(Unregistered),
    Invocation(Invocation),
    Interrupt(Interrupt),
    Yield(Yield),
}

impl Message {
    /// The message type code.
    pub fn code(&self) -> u64 {
        match self {
            Message::Hello(_) => code::HELLO,
            Message::Welcome(_) => code::WELCOME,
            Message::Abort(_) => code::ABORT,
            Message::Challenge(_) => code::CHALLENGE,
            Message::Authenticate(_) => code::AUTHENTICATE,
            Message::Goodbye(_) => code::GOODBYE,
            Message::Error(_) => code::ERROR,
            Message::Publish(_) => code::PUBLISH,
            Message::Published(_) => code::PUBLISHED,
            Message::Subscribe(_) => code::SUBSCRIBE,
            Message::Subscribed(_) => code::SUBSCRIBED,
            Message::Unsubscribe(_) => code::UNSUBSCRIBE,
            Message::Unsubscribed(_) => code::UNSUBSCRIBED,
            Message::Event(_) => code::EVENT,
            Message::Call(_) => code::CALL,
            Message::Cancel(_) => code::CANCEL,
            Message::Result(_) => code::RESULT,
            Message::Register(_) => code::REGISTER,
            Message::Registered(_) => code::REGISTERED,
            Message::Unregister(_) => code::UNREGISTER,
            Message::Unregistered(_) => code::UNREGISTERED,
            Message::Invocation(_) => code::INVOCATION,
            Message::Interrupt(_) => code::INTERRUPT,
            Message::Yield(_) => code::YIELD,
        }
    }

    /// The Arguments/ArgumentsKw, for the messages that carry them.
    pub fn payload(&self) -> Option<&Payload> {
        match self {
            Message::Abort(m) => Some(&m.payload),
            Message::Error(m) => Some(&m.payload),
            Message::Publish(m) => Some(&m.payload),
            Message::Event(m) => Some(&m.payload),
            Message::Call(m) => Some(&m.payload),
            Message::Result(m) => Some(&m.payload),
            Message::Invocation(m) => Some(&m.payload),
            Message::Yield(m) => Some(&m.payload),
            _ => None,
        }
    }

    /// Mutable access to the Arguments/ArgumentsKw, for the messages that carry them.
    pub fn payload_mut(&mut self) -> Option<&mut Payload> {
        match self {
            Message::Abort(m) => Some(&mut m.payload),
            Message::Error(m) => Some(&mut m.payload),
            Message::Publish(m) => Some(&mut m.payload),
            Message::Event(m) => Some(&mut m.payload),
            Message::Call(m) => Some(&mut m.payload),
            Message::Result(m) => Some(&mut m.payload),
            Message::Invocation(m) => Some(&mut m.payload),
            Message::Yield(m) => Some(&mut m.payload),
            _ => None,
        }
    }

    /// The message name as the spec writes it, for logs and errors.
    pub fn name(&self) -> &'static str {
        name_of(self.code())
    }
}

/// The spec's name for a message type code.
pub fn name_of(code: u64) -> &'static str {
    match code {
        code::HELLO => "HELLO",
        code::WELCOME => "WELCOME",
        code::ABORT => "ABORT",
        code::CHALLENGE => "CHALLENGE",
        code::AUTHENTICATE => "AUTHENTICATE",
        code::GOODBYE => "GOODBYE",
        code::ERROR => "ERROR",
        code::PUBLISH => "PUBLISH",
        code::PUBLISHED => "PUBLISHED",
        code::SUBSCRIBE => "SUBSCRIBE",
        code::SUBSCRIBED => "SUBSCRIBED",
        code::UNSUBSCRIBE => "UNSUBSCRIBE",
        code::UNSUBSCRIBED => "UNSUBSCRIBED",
        code::EVENT => "EVENT",
        code::CALL => "CALL",
        code::CANCEL => "CANCEL",
        code::RESULT => "RESULT",
        code::REGISTER => "REGISTER",
        code::REGISTERED => "REGISTERED",
        code::UNREGISTER => "UNREGISTER",
        code::UNREGISTERED => "UNREGISTERED",
        code::INVOCATION => "INVOCATION",
        code::INTERRUPT => "INTERRUPT",
        code::YIELD => "YIELD",
        _ => "UNKNOWN",
    }
}
