//! The callee's half of a call: INVOCATION out, YIELD (progressive or final) and ERROR in,
//! INTERRUPT out, and what the callee owes when it leaves.
//!
//! Owns: the callee-side [`InCall`] records of this shard's sessions and the shard's
//! (caller, CALL request) -> INVOCATION index. Never: caller-side state (`call.rs`, on the
//! caller's shard): every answer travels back as a [`CallDone`], and the caller's shard decides
//! whether anyone still waits for it.
//!
//! A record stays until the callee answers finally or leaves, even when the caller no longer
//! waits (it is then *abandoned* and the answer is dropped here): a callee may legitimately
//! answer after an INTERRUPT, and a YIELD for an invocation it was sent is never a violation.

use std::sync::Arc;

use super::super::shard_msg::{CallDone, CallOutcome, Interrupt, Invoke};
use super::super::{ConnKey, Router, ShardMsg, Sink, Violation};
use crate::codec;
use crate::session::{Caller, InCall, Joined, MessageClass, ShardId};
use crate::wamp::message as msg;
use crate::wamp::options::{Features, YieldOptions};
use crate::wamp::{Dict, ErrorUri, Id, Message};

/// Where the answer to a call goes: enough of an [`Invoke`] to answer it after it was consumed.
#[derive(Clone, Copy, Debug)]
struct ReplyTo {
    caller_shard: ShardId,
    caller: Caller,
    call_request: Id,
    callee: Id,
}

impl ReplyTo {
    fn of(inv: &Invoke) -> ReplyTo {
        ReplyTo {
            caller_shard: inv.caller_shard,
            caller: inv.caller,
            call_request: inv.call_request,
            callee: inv.callee,
        }
    }
}

impl Router {
    /// The callee's shard: turn a routed CALL into an INVOCATION (or a progressive continuation
    /// into one more INVOCATION of the same request).
    pub(in super::super) fn on_invoke(&mut self, inv: Invoke, sink: &mut dyn Sink) {
        if inv.continuation {
            return self.continue_invocation(inv);
        }
        let key = self.by_id.get(&inv.callee).copied();
        let registered = key
            .and_then(|k| self.sessions.get(k.0))
            .and_then(|s| s.joined())
            .is_some_and(|j| j.registrations.contains_key(&inv.registration));
        let (Some(key), true) = (key, registered) else {
            return self.hold_or_refuse(inv, sink);
        };
        let limit = self.limits.max_invocations_per_session;
        let Some(s) = self.sessions.get_mut(key.0) else { return };
        let (ser, max_outgoing) = (s.conn.serializer, s.conn.max_outgoing);
        let Some(j) = s.joined_mut() else { return };
        if j.invocations.len() >= limit {
            self.stats.call_limit_hits += 1;
            let why = "the callee owes limits.max_invocations_per_session invocations already";
            return self.refuse(ReplyTo::of(&inv), ErrorUri::LimitReached, why, true, sink);
        }
        let back = ReplyTo::of(&inv);
        let request = j.invocation_ids.next_id();
        let receive_progress = inv.receive_progress;
        let indexed = j.roles.features.contains(Features::CALLEE_CANCELING);
        let invocation = Message::Invocation(msg::Invocation {
            request,
            registration: inv.registration,
            details: inv.details,
            payload: inv.payload,
        });
        match codec::encode(ser, &invocation) {
            Ok(bytes) if bytes.len() <= max_outgoing => {
                let record = InCall {
                    caller_shard: inv.caller_shard,
                    caller: inv.caller,
                    call_request: inv.call_request,
                    receive_progress,
                    abandoned: false,
                    interrupted: false,
                    indexed,
                };
                j.invocations.insert(request, record);
                if let Some(s) = self.sessions.get(key.0) {
                    s.outbox.push(bytes, MessageClass::Control);
                }
                if indexed {
                    self.call_index.insert((inv.caller, inv.call_request), (key, request));
                }
            }
            other => {
                self.stats.encode_failures += 1;
                let (error, why) = match other {
                    Ok(_) => (ErrorUri::PayloadSizeExceeded, "the call is larger than the callee accepts"),
                    Err(_) => (ErrorUri::InvalidArgument, "the call's payload cannot be sent to the callee"),
                };
                self.refuse(back, error, why, false, sink);
            }
        }
    }

    /// A call for a callee that is not (yet) registered here: held until its REGISTERED went out,
    /// or answered `no_such_procedure` (the callee left or unregistered meanwhile).
    fn hold_or_refuse(&mut self, inv: Invoke, sink: &mut dyn Sink) {
        let waiting = self.agree.pending_iter_mut().find_map(|p| match &mut p.waiting {
            super::super::agree::Waiting::Reg(r) if r.session == inv.callee && p.id == Some(inv.registration) => {
                Some(r)
            }
            _ => None,
        });
        match waiting {
            Some(r) => r.queued.push(inv),
            None => self.refuse(ReplyTo::of(&inv), ErrorUri::NoSuchProcedure, "the callee is gone", true, sink),
        }
    }

    /// Tells the caller's shard that the call could not be handed to the callee.
    fn refuse(&mut self, back: ReplyTo, error: ErrorUri, why: &'static str, retry: bool, sink: &mut dyn Sink) {
        let done = CallDone {
            caller: back.caller,
            call_request: back.call_request,
            callee: back.callee,
            outcome: CallOutcome::Refused { error, why, retry },
        };
        self.send_call_done(back.caller_shard, done, sink);
    }

    /// One more piece of a progressive call invocation, to the invocation it continues.
    fn continue_invocation(&mut self, inv: Invoke) {
        let Some(&(key, request)) = self.call_index.get(&(inv.caller, inv.call_request)) else { return };
        let invocation = Message::Invocation(msg::Invocation {
            request,
            registration: inv.registration,
            details: inv.details,
            payload: inv.payload,
        });
        self.send(key, &invocation, MessageClass::Control);
    }

    pub(in super::super) fn on_yield(
        &mut self,
        key: ConnKey,
        m: msg::Yield,
        sink: &mut dyn Sink,
    ) -> Result<(), Violation> {
        let options = YieldOptions::decode(&m.options).map_err(Violation::YieldOptions)?;
        let Some(j) = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()) else { return Ok(()) };
        if options.ppt.is_some() && !j.roles.features.contains(Features::CALLEE_PPT) {
            return Err(Violation::PassthruNotAnnounced);
        }
        let callee = j.id;
        let record =
            if options.progress { j.invocations.get(&m.request).copied() } else { j.invocations.remove(&m.request) };
        let Some(record) = record else { return Err(Violation::UnknownInvocation) };
        if !options.progress {
            self.unindex(&record);
        }
        if record.abandoned || (options.progress && !record.receive_progress) {
            self.stats.late_answers_dropped += 1;
            return Ok(());
        }
        let mut details = Dict::new();
        if options.progress {
            details.insert("progress", true);
        }
        if let Some(ppt) = &options.ppt {
            ppt.write_to(&mut details);
        }
        let outcome = CallOutcome::Result { details, payload: m.payload, progress: options.progress };
        let done = CallDone { caller: record.caller, call_request: record.call_request, callee, outcome };
        self.send_call_done(record.caller_shard, done, sink);
        Ok(())
    }

    pub(in super::super) fn on_invocation_error(
        &mut self,
        key: ConnKey,
        m: msg::Error,
        sink: &mut dyn Sink,
    ) -> Result<(), Violation> {
        let Some(j) = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()) else { return Ok(()) };
        let callee = j.id;
        let Some(record) = j.invocations.remove(&m.request) else {
            tracing::debug!(request = %m.request, "ERROR for an unknown invocation ignored");
            return Ok(());
        };
        self.unindex(&record);
        if record.abandoned {
            self.stats.late_answers_dropped += 1;
            return Ok(());
        }
        let outcome = CallOutcome::Error { details: m.details, error: Arc::from(m.error), payload: m.payload };
        let done = CallDone { caller: record.caller, call_request: record.call_request, callee, outcome };
        self.send_call_done(record.caller_shard, done, sink);
        Ok(())
    }

    /// The callee's shard: the caller canceled (or timed out, or left): INTERRUPT the callee.
    pub(in super::super) fn on_interrupt(&mut self, i: Interrupt) {
        let Some(&(key, request)) = self.call_index.get(&(i.caller, i.call_request)) else { return };
        let Some(j) = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()) else { return };
        let Some(record) = j.invocations.get_mut(&request) else { return };
        record.abandoned |= i.abandon;
        if std::mem::replace(&mut record.interrupted, true) {
            return;
        }
        let options = Dict::new().with("mode", i.mode.as_str());
        self.send(key, &Message::Interrupt(msg::Interrupt { request, options }), MessageClass::Control);
    }

    /// The callee leaves: every caller still waiting on it gets `canceled`.
    pub(in super::super) fn fail_invocations(&mut self, j: &mut Joined, sink: &mut dyn Sink) {
        for (_, record) in j.invocations.drain() {
            self.unindex(&record);
            if record.abandoned {
                continue;
            }
            let done = CallDone {
                caller: record.caller,
                call_request: record.call_request,
                callee: j.id,
                outcome: CallOutcome::router_error(ErrorUri::Canceled, "the callee left"),
            };
            self.send_call_done(record.caller_shard, done, sink);
        }
    }

    fn unindex(&mut self, record: &InCall) {
        if record.indexed {
            self.call_index.remove(&(record.caller, record.call_request));
        }
    }

    /// Sends a call's answer to the caller's shard (or handles it here).
    pub(in super::super) fn send_call_done(&mut self, caller_shard: ShardId, done: CallDone, sink: &mut dyn Sink) {
        if caller_shard == self.shard {
            self.on_call_done(done, sink);
        } else {
            sink.to_shard(caller_shard, ShardMsg::CallDone(done));
        }
    }
}
