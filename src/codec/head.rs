//! The serializer-neutral shape of every WAMP message: which head fields it has, in which order,
//! and whether Arguments/ArgumentsKw may follow.
//!
//! Owns: the message layouts shared by the three serializers ([`decode_message`] over an
//! [`Elements`] reader, [`Head::of`] and [`Tail`] for writers). Never: bytes of any format; each
//! serializer file reads and writes its own syntax.

use bytes::Bytes;

use super::{transcode, DecodeError, EncodeError, Payload, Serializer};
use crate::wamp::message::{self, code, name_of};
use crate::wamp::{Dict, Id, Message, Value};

/// Reads the elements of one message list, after its first element (the type code).
///
/// `message` and `field` name the spec's message and field for [`DecodeError::Field`]. A missing
/// element or one of the wrong type is a `Field` error; malformed syntax is a `Syntax` error.
pub(super) trait Elements {
    /// True if the list has no more elements.
    fn is_end(&mut self) -> Result<bool, DecodeError>;
    /// The next element as a non-negative integer.
    fn uint(&mut self, message: &'static str, field: &'static str) -> Result<u64, DecodeError>;
    /// The next element as a string.
    fn string(&mut self, message: &'static str, field: &'static str) -> Result<String, DecodeError>;
    /// The next element as a dict.
    fn dict(&mut self, message: &'static str, field: &'static str) -> Result<Dict, DecodeError>;
    /// The remaining elements (at most two: an Arguments list, then an ArgumentsKw dict) as a
    /// raw payload, after checking them and that nothing follows the list.
    fn payload(&mut self, message: &'static str) -> Result<Payload, DecodeError>;
}

/// The next element as an id within `0..=2^53`.
fn id<E: Elements>(e: &mut E, message: &'static str, field: &'static str) -> Result<Id, DecodeError> {
    Id::new(e.uint(message, field)?).ok_or(DecodeError::Field { message, field })
}

/// Checks that the list has no more elements and nothing follows it.
fn finish<E: Elements>(e: &mut E, message: &'static str) -> Result<(), DecodeError> {
    if !e.is_end()? {
        return Err(DecodeError::TooLong(message));
    }
    e.payload(message).map(drop)
}

/// Decodes the rest of a message whose first element, the type code, was `code`.
pub(super) fn decode_message<E: Elements>(code: u64, e: &mut E) -> Result<Message, DecodeError> {
    let m = name_of(code);
    let msg = match code {
        code::HELLO => {
            let realm = e.string(m, "Realm")?;
            let details = e.dict(m, "Details")?;
            finish(e, m)?;
            Message::Hello(message::Hello { realm, details })
        }
        code::WELCOME => {
            let session = id(e, m, "Session")?;
            let details = e.dict(m, "Details")?;
            finish(e, m)?;
            Message::Welcome(message::Welcome { session, details })
        }
        code::ABORT => {
            let details = e.dict(m, "Details")?;
            let reason = e.string(m, "Reason")?;
            let payload = e.payload(m)?;
            Message::Abort(message::Abort { details, reason, payload })
        }
        code::CHALLENGE => {
            let method = e.string(m, "AuthMethod")?;
            let extra = e.dict(m, "Extra")?;
            finish(e, m)?;
            Message::Challenge(message::Challenge { method, extra })
        }
        code::AUTHENTICATE => {
            let signature = e.string(m, "Signature")?;
            let extra = e.dict(m, "Extra")?;
            finish(e, m)?;
            Message::Authenticate(message::Authenticate { signature, extra })
        }
        code::GOODBYE => {
            let details = e.dict(m, "Details")?;
            let reason = e.string(m, "Reason")?;
            finish(e, m)?;
            Message::Goodbye(message::Goodbye { details, reason })
        }
        code::ERROR => {
            let request_type = e.uint(m, "REQUEST.Type")?;
            let request = id(e, m, "REQUEST.Request")?;
            let details = e.dict(m, "Details")?;
            let error = e.string(m, "Error")?;
            let payload = e.payload(m)?;
            Message::Error(message::Error { request_type, request, details, error, payload })
        }
        code::PUBLISH => {
            let request = id(e, m, "Request")?;
            let options = e.dict(m, "Options")?;
            let topic = e.string(m, "Topic")?;
            let payload = e.payload(m)?;
            Message::Publish(message::Publish { request, options, topic, payload })
        }
        code::PUBLISHED => {
            let request = id(e, m, "PUBLISH.Request")?;
            let publication = id(e, m, "Publication")?;
            finish(e, m)?;
            Message::Published(message::Published { request, publication })
        }
        code::SUBSCRIBE => {
            let request = id(e, m, "Request")?;
            let options = e.dict(m, "Options")?;
            let topic = e.string(m, "Topic")?;
            finish(e, m)?;
            Message::Subscribe(message::Subscribe { request, options, topic })
        }
        code::SUBSCRIBED => {
            let request = id(e, m, "SUBSCRIBE.Request")?;
            let subscription = id(e, m, "Subscription")?;
            finish(e, m)?;
            Message::Subscribed(message::Subscribed { request, subscription })
        }
        code::UNSUBSCRIBE => {
            let request = id(e, m, "Request")?;
            let subscription = id(e, m, "SUBSCRIBED.Subscription")?;
            finish(e, m)?;
            Message::Unsubscribe(message::Unsubscribe { request, subscription })
        }
        code::UNSUBSCRIBED => {
            let request = id(e, m, "UNSUBSCRIBE.Request")?;
            let details = if e.is_end()? { None } else { Some(e.dict(m, "Details")?) };
            finish(e, m)?;
            Message::Unsubscribed(message::Unsubscribed { request, details })
        }
        code::EVENT => {
            let subscription = id(e, m, "SUBSCRIBED.Subscription")?;
            let publication = id(e, m, "PUBLISHED.Publication")?;
            let details = e.dict(m, "Details")?;
            let payload = e.payload(m)?;
            Message::Event(message::Event { subscription, publication, details, payload })
        }
        code::CALL => {
            let request = id(e, m, "Request")?;
            let options = e.dict(m, "Options")?;
            let procedure = e.string(m, "Procedure")?;
            let payload = e.payload(m)?;
            Message::Call(message::Call { request, options, procedure, payload })
        }
        code::CANCEL => {
            let request = id(e, m, "CALL.Request")?;
            let options = e.dict(m, "Options")?;
            finish(e, m)?;
            Message::Cancel(message::Cancel { request, options })
        }
        code::RESULT => {
            let request = id(e, m, "CALL.Request")?;
            let details = e.dict(m, "Details")?;
            let payload = e.payload(m)?;
            Message::Result(message::CallResult { request, details, payload })
        }
        code::REGISTER => {
            let request = id(e, m, "Request")?;
            let options = e.dict(m, "Options")?;
            let procedure = e.string(m, "Procedure")?;
            finish(e, m)?;
            Message::Register(message::Register { request, options, procedure })
        }
        code::REGISTERED => {
            let request = id(e, m, "REGISTER.Request")?;
            let registration = id(e, m, "Registration")?;
            finish(e, m)?;
            Message::Registered(message::Registered { request, registration })
        }
        code::UNREGISTER => {
            let request = id(e, m, "Request")?;
            let registration = id(e, m, "REGISTERED.Registration")?;
            finish(e, m)?;
            Message::Unregister(message::Unregister { request, registration })
        }
        code::UNREGISTERED => {
            let request = id(e, m, "UNREGISTER.Request")?;
            let details = if e.is_end()? { None } else { Some(e.dict(m, "Details")?) };
            finish(e, m)?;
            Message::Unregistered(message::Unregistered { request, details })
        }
        code::INVOCATION => {
            let request = id(e, m, "Request")?;
            let registration = id(e, m, "REGISTERED.Registration")?;
            let details = e.dict(m, "Details")?;
            let payload = e.payload(m)?;
            Message::Invocation(message::Invocation { request, registration, details, payload })
        }
        code::INTERRUPT => {
            let request = id(e, m, "INVOCATION.Request")?;
            let options = e.dict(m, "Options")?;
            finish(e, m)?;
            Message::Interrupt(message::Interrupt { request, options })
        }
        code::YIELD => {
            let request = id(e, m, "INVOCATION.Request")?;
            let options = e.dict(m, "Options")?;
            let payload = e.payload(m)?;
            Message::Yield(message::Yield { request, options, payload })
        }
        other => return Err(DecodeError::UnknownType(other)),
    };
    Ok(msg)
}

/// One head field of a message being encoded.
#[derive(Clone, Copy, Debug)]
pub(super) enum Field<'a> {
    /// An id or integer.
    UInt(u64),
    /// A URI or string.
    Str(&'a str),
    /// Options, Details or Extra.
    Dict(&'a Dict),
}

/// Most head fields after the type code any message has (ERROR: type, request, details, error).
const MAX_HEAD_FIELDS: usize = 4;

/// The head of a message being encoded: type code and fields, plus the payload to follow.
#[derive(Debug)]
pub(super) struct Head<'a> {
    /// The message type code.
    pub(super) code: u64,
    fields: [Field<'a>; MAX_HEAD_FIELDS],
    len: usize,
    /// Arguments and ArgumentsKw (`Payload::Empty` for messages that have none).
    pub(super) payload: &'a Payload,
}

/// The payload of messages that cannot carry one.
static NO_PAYLOAD: Payload = Payload::Empty;

impl<'a> Head<'a> {
    fn new(code: u64, given: &[Field<'a>], payload: &'a Payload) -> Head<'a> {
        let mut fields = [Field::UInt(0); MAX_HEAD_FIELDS];
        let len = given.len().min(MAX_HEAD_FIELDS);
        fields[..len].copy_from_slice(&given[..len]);
        Head { code, fields, len, payload }
    }

    /// The head fields after the type code, in wire order.
    pub(super) fn fields(&self) -> &[Field<'a>] {
        &self.fields[..self.len]
    }

    /// The head of `msg`.
    pub(super) fn of(msg: &'a Message) -> Head<'a> {
        use Field::{Dict as D, Str as S, UInt as U};
        let code = msg.code();
        let none = &NO_PAYLOAD;
        match msg {
            Message::Hello(m) => Head::new(code, &[S(&m.realm), D(&m.details)], none),
            Message::Welcome(m) => Head::new(code, &[U(m.session.get()), D(&m.details)], none),
            Message::Abort(m) => Head::new(code, &[D(&m.details), S(&m.reason)], &m.payload),
            Message::Challenge(m) => Head::new(code, &[S(&m.method), D(&m.extra)], none),
            Message::Authenticate(m) => Head::new(code, &[S(&m.signature), D(&m.extra)], none),
            Message::Goodbye(m) => Head::new(code, &[D(&m.details), S(&m.reason)], none),
            Message::Error(m) => {
                Head::new(code, &[U(m.request_type), U(m.request.get()), D(&m.details), S(&m.error)], &m.payload)
            }
            Message::Publish(m) => Head::new(code, &[U(m.request.get()), D(&m.options), S(&m.topic)], &m.payload),
            Message::Published(m) => Head::new(code, &[U(m.request.get()), U(m.publication.get())], none),
            Message::Subscribe(m) => Head::new(code, &[U(m.request.get()), D(&m.options), S(&m.topic)], none),
            Message::Subscribed(m) => Head::new(code, &[U(m.request.get()), U(m.subscription.get())], none),
            Message::Unsubscribe(m) => Head::new(code, &[U(m.request.get()), U(m.subscription.get())], none),
            Message::Unsubscribed(m) => match &m.details {
                Some(details) => Head::new(code, &[U(m.request.get()), D(details)], none),
                None => Head::new(code, &[U(m.request.get())], none),
            },
            Message::Event(m) => {
                Head::new(code, &[U(m.subscription.get()), U(m.publication.get()), D(&m.details)], &m.payload)
            }
            Message::Call(m) => Head::new(code, &[U(m.request.get()), D(&m.options), S(&m.procedure)], &m.payload),
            Message::Cancel(m) => Head::new(code, &[U(m.request.get()), D(&m.options)], none),
            Message::Result(m) => Head::new(code, &[U(m.request.get()), D(&m.details)], &m.payload),
            Message::Register(m) => Head::new(code, &[U(m.request.get()), D(&m.options), S(&m.procedure)], none),
            Message::Registered(m) => Head::new(code, &[U(m.request.get()), U(m.registration.get())], none),
            Message::Unregister(m) => Head::new(code, &[U(m.request.get()), U(m.registration.get())], none),
            Message::Unregistered(m) => match &m.details {
                Some(details) => Head::new(code, &[U(m.request.get()), D(details)], none),
                None => Head::new(code, &[U(m.request.get())], none),
            },
            Message::Invocation(m) => {
                Head::new(code, &[U(m.request.get()), U(m.registration.get()), D(&m.details)], &m.payload)
            }
            Message::Interrupt(m) => Head::new(code, &[U(m.request.get()), D(&m.options)], none),
            Message::Yield(m) => Head::new(code, &[U(m.request.get()), D(&m.options)], &m.payload),
        }
    }
}

/// The trailing elements of a message being encoded, ready for one serializer.
#[derive(Debug)]
pub(super) enum Tail<'a> {
    /// No trailing elements.
    Empty,
    /// Encoded elements in the target serializer, copied as they are.
    Raw {
        /// How many elements `bytes` hold.
        count: u8,
        /// The elements, in the target serializer's form (see `RawPayload::bytes`).
        bytes: Bytes,
    },
    /// Values to encode: the Arguments list, then the ArgumentsKw dict if present.
    Values {
        /// Arguments.
        args: &'a [Value],
        /// ArgumentsKw.
        kwargs: Option<&'a Dict>,
    },
}

impl<'a> Tail<'a> {
    /// `payload` as trailing elements for serializer `ser`, transcoding raw bytes of another one.
    pub(super) fn of(payload: &'a Payload, ser: Serializer) -> Result<Tail<'a>, EncodeError> {
        Ok(match payload {
            Payload::Empty => Tail::Empty,
            Payload::Raw(raw) if raw.count == 0 || raw.bytes.is_empty() => Tail::Empty,
            Payload::Raw(raw) if raw.serializer == ser => Tail::Raw { count: raw.count, bytes: raw.bytes.clone() },
            Payload::Raw(raw) => {
                let converted = transcode(raw, ser)?;
                Tail::Raw { count: converted.count, bytes: converted.bytes }
            }
            Payload::Values { args, kwargs: None } if args.is_empty() => Tail::Empty,
            Payload::Values { args, kwargs } => Tail::Values { args, kwargs: kwargs.as_ref() },
        })
    }

    /// How many list elements this tail adds to the message.
    pub(super) fn count(&self) -> usize {
        match self {
            Tail::Empty => 0,
            Tail::Raw { count, .. } => usize::from(*count),
            Tail::Values { kwargs: None, .. } => 1,
            Tail::Values { kwargs: Some(_), .. } => 2,
        }
    }
}
