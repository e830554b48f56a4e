//! The caller's half of a call: CALL (and its progressive continuations), CANCEL, the dealer's
//! timeout, and the answers coming back (RESULT, progressive RESULT, ERROR, reroute).
//!
//! Owns: the caller-side [`OutCall`] records of this shard's sessions and their timers. Never:
//! INVOCATION numbering or the callee's records (`invocation.rs`, on the callee's shard).
//!
//! Exactly one final answer reaches the caller per call: the record is removed when that answer
//! is sent (final RESULT or ERROR, `canceled` for skip/killnowait, `timeout`), and any later
//! answer from the callee finds no record and is dropped.

use std::sync::Arc;
use std::time::Duration;

use super::super::shard_msg::{CallDone, CallOutcome, Interrupt, Invoke};
use super::super::timers::Timer;
use super::super::{ConnKey, Router, ShardMsg, Sink, Violation};
use super::Route;
use crate::config::Action;
use crate::realm::RealmIdx;
use crate::session::{CalleeRef, Caller, Joined, MessageClass, OutCall, Reroute, ShardId};
use crate::wamp::message::{self as msg, code};
use crate::wamp::options::{CallOptions, CancelMode, CancelOptions, Features};
use crate::wamp::uri::{is_reserved, is_valid_uri};
use crate::wamp::{Dict, ErrorUri, Id, MatchPolicy, Message, Payload};

/// INVOCATION.Details for `callee`: the concrete procedure for pattern registrations, and what
/// the call's options ask for and the callee can take.
fn invocation_details(
    o: &CallOptions,
    callee: &CalleeRef,
    caller: &Joined,
    procedure: &str,
    policy: MatchPolicy,
) -> Dict {
    let mut d = Dict::new();
    if policy != MatchPolicy::Exact {
        d.insert("procedure", procedure);
    }
    if o.receive_progress && takes_progress(callee.features) {
        d.insert("receive_progress", true);
    }
    if o.progress {
        d.insert("progress", true);
    }
    if o.timeout_ms > 0 && callee.forward_timeout {
        d.insert("timeout", o.timeout_ms);
    }
    if o.disclose_me || callee.disclose_caller {
        d.insert("caller", caller.id.get());
        d.insert("caller_authid", &*caller.identity.authid);
        d.insert("caller_authrole", &*caller.identity.authrole);
    }
    if let Some(ppt) = &o.ppt {
        ppt.write_to(&mut d);
    }
    d
}

/// A callee takes progressive results if it announced them and call canceling (the spec counts a
/// callee without canceling as not supporting progressive results).
fn takes_progress(f: Features) -> bool {
    f.contains(Features::CALLEE_PROGRESSIVE_RESULTS) && f.contains(Features::CALLEE_CANCELING)
}

fn can_cancel(c: &CalleeRef) -> bool {
    c.features.contains(Features::CALLEE_CANCELING)
}

/// What is left of a call whose record was removed.
#[derive(Clone, Copy, Debug)]
struct Ended {
    /// The callee it went to last.
    callee: CalleeRef,
    /// It was a call to a shared registration (it could be rerouted).
    shared: bool,
}

/// A CALL matched to a registration and a callee, ready to be recorded and sent.
struct Routed {
    request: Id,
    route: Route,
    options: CallOptions,
    procedure: String,
    payload: Payload,
}

impl Router {
    pub(in super::super) fn on_call(
        &mut self,
        key: ConnKey,
        m: msg::Call,
        sink: &mut dyn Sink,
    ) -> Result<(), Violation> {
        let Some(j) = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()) else { return Ok(()) };
        let options = match CallOptions::decode(&m.options) {
            Ok(o) => o,
            Err(e) => {
                self.check_request(key, m.request)?;
                let e = e.to_string();
                self.send_error(key, code::CALL, m.request, ErrorUri::InvalidArgument, &e);
                return Ok(());
            }
        };
        if let Some(call) = j.calls.get_mut(&m.request) {
            if !call.streaming {
                return Err(Violation::DuplicateCall);
            }
            call.streaming = options.progress;
            let (callee, registration, realm) = (call.callee, call.registration, j.realm);
            let details = if options.progress { Dict::new().with("progress", true) } else { Dict::new() };
            let inv = Invoke {
                realm,
                registration,
                callee: callee.session,
                caller_shard: self.shard,
                caller: Caller::Session(j.id),
                call_request: m.request,
                details,
                payload: m.payload,
                receive_progress: false,
                continuation: true,
            };
            self.dispatch_invoke(callee.shard, inv, sink);
            return Ok(());
        }
        if options.progress && m.request.get() <= j.last_request {
            // A continuation of a progressive call that has ended: dropped, as the spec says.
            return Ok(());
        }
        let request = m.request;
        j.note_request(request).map_err(|expected| Violation::RequestSequence { got: request.get(), expected })?;
        let caller_features = j.roles.features;
        if options.progress && !caller_features.contains(Features::CALLER_PROGRESSIVE_INVOCATIONS) {
            return Err(Violation::ProgressiveCallNotAnnounced);
        }
        if options.ppt.is_some() && !caller_features.contains(Features::CALLER_PPT) {
            return Err(Violation::PassthruNotAnnounced);
        }
        let realm = j.realm;
        if j.calls.len() >= self.limits.max_calls_per_session {
            self.stats.call_limit_hits += 1;
            let e = format!("limits.max_calls_per_session ({}) reached", self.limits.max_calls_per_session);
            self.send_error(key, code::CALL, m.request, ErrorUri::LimitReached, &e);
            return Ok(());
        }
        if !is_valid_uri(&m.procedure, self.uri_check(realm)) {
            self.send_error(key, code::CALL, m.request, ErrorUri::InvalidUri, "invalid procedure URI");
            return Ok(());
        }
        if !self.may(key, &m.procedure, Action::Call) {
            self.send_error(
                key,
                code::CALL,
                m.request,
                ErrorUri::NotAuthorized,
                "the role may not call this procedure",
            );
            return Ok(());
        }
        if is_reserved(&m.procedure) {
            self.answer_meta(key, m.request, realm, &m.procedure, &m.payload, sink);
            return Ok(());
        }
        let partition = options.partition.as_deref();
        let route = self.dealer.get_mut(realm).and_then(|d| d.route(&m.procedure, &mut self.rng, &[], partition));
        let Some(route) = route else {
            let e = ErrorUri::NoSuchProcedure;
            self.send_error(key, code::CALL, m.request, e, "no callee registered the procedure");
            return Ok(());
        };
        let callee = route.callee;
        let refused = if options.progress && !callee.features.contains(Features::CALLEE_PROGRESSIVE_INVOCATIONS) {
            Some("the callee does not take progressive call invocations")
        } else if options.ppt.is_some() && !callee.features.contains(Features::CALLEE_PPT) {
            Some("the callee does not take payload passthru mode")
        } else {
            None
        };
        if let Some(why) = refused {
            self.send_error(key, code::CALL, m.request, ErrorUri::FeatureNotSupported, why);
            return Ok(());
        }
        let routed = Routed { request: m.request, route, options, procedure: m.procedure, payload: m.payload };
        self.start_call(key, routed, sink);
        Ok(())
    }

    /// Records a new call on the caller's shard, arms its timer and sends it to its callee.
    fn start_call(&mut self, key: ConnKey, r: Routed, sink: &mut dyn Sink) {
        let Routed { request, route, options, procedure, payload } = r;
        let callee = route.callee;
        let now = self.now;
        let Some(j) = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()) else { return };
        let details = invocation_details(&options, &callee, j, &procedure, route.policy);
        let timer = (options.timeout_ms > 0 && !callee.forward_timeout).then(|| {
            let after = Duration::from_millis(options.timeout_ms);
            (after, now + after)
        });
        let reroute = (route.shared && !options.progress).then(|| {
            let procedure = Arc::from(procedure);
            Box::new(Reroute { procedure, options: options.clone(), payload: payload.clone(), tried: Vec::new() })
        });
        let call = OutCall {
            callee,
            registration: route.registration,
            receive_progress: options.receive_progress,
            streaming: options.progress,
            timer,
            kill_requested: false,
            reroute,
        };
        j.calls.insert(request, call);
        let inv = Invoke {
            realm: j.realm,
            registration: route.registration,
            callee: callee.session,
            caller_shard: self.shard,
            caller: Caller::Session(j.id),
            call_request: request,
            details,
            payload,
            receive_progress: options.receive_progress && takes_progress(callee.features),
            continuation: false,
        };
        if let Some((_, at)) = timer {
            self.timers.arm(at, Timer::Call(key, request));
        }
        self.dispatch_invoke(callee.shard, inv, sink);
    }

    /// Sends `inv` to the callee's shard (or handles it here).
    pub(super) fn dispatch_invoke(&mut self, shard: ShardId, inv: Invoke, sink: &mut dyn Sink) {
        if shard == self.shard {
            self.on_invoke(inv, sink);
        } else {
            sink.to_shard(shard, ShardMsg::Invoke(inv));
        }
    }

    /// Removes a call's record and disarms its timer: the caller is about to get (or got) its
    /// final answer.
    fn end_call(&mut self, key: ConnKey, request: Id) -> Option<Ended> {
        let call = self.sessions.get_mut(key.0)?.joined_mut()?.calls.remove(&request)?;
        if let Some((_, at)) = call.timer {
            self.timers.disarm(at, Timer::Call(key, request));
        }
        Some(Ended { callee: call.callee, shared: call.reroute.is_some() })
    }

    /// Tells the callee's shard to INTERRUPT the callee (if it can be interrupted).
    pub(super) fn interrupt(
        &mut self,
        caller: Caller,
        request: Id,
        callee: CalleeRef,
        mode: CancelMode,
        sink: &mut dyn Sink,
    ) {
        if !can_cancel(&callee) {
            return;
        }
        let abandon = mode != CancelMode::Kill;
        let i = Interrupt { callee: callee.session, caller, call_request: request, mode, abandon };
        if callee.shard == self.shard {
            self.on_interrupt(i);
        } else {
            sink.to_shard(callee.shard, ShardMsg::Interrupt(i));
        }
    }

    pub(in super::super) fn on_cancel(&mut self, key: ConnKey, m: msg::Cancel, sink: &mut dyn Sink) {
        let Some(j) = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()) else { return };
        let caller = j.id;
        let mode = match CancelOptions::decode(&m.options) {
            Ok(o) => o.mode,
            Err(e) => return self.send_error(key, code::CANCEL, m.request, ErrorUri::InvalidArgument, &e.to_string()),
        };
        let Some(call) = j.calls.get_mut(&m.request) else {
            tracing::debug!(request = %m.request, "CANCEL of an unknown or finished call ignored");
            return;
        };
        if call.kill_requested {
            return;
        }
        let callee = call.callee;
        let mode = if can_cancel(&callee) { mode } else { CancelMode::Skip };
        self.stats.calls_canceled += 1;
        if mode == CancelMode::Kill {
            call.kill_requested = true;
        } else {
            self.end_call(key, m.request);
            self.send_error(key, code::CALL, m.request, ErrorUri::Canceled, "the call was canceled");
        }
        if mode != CancelMode::Skip {
            self.interrupt(Caller::Session(caller), m.request, callee, mode, sink);
        }
    }

    /// The dealer's timer of a call fired: `timeout` to the caller, and the callee is told.
    pub(in super::super) fn on_call_timeout(&mut self, key: ConnKey, request: Id, sink: &mut dyn Sink) {
        let Some(caller) = self.sessions.get(key.0).and_then(|s| s.id()) else { return };
        let Some(call) = self.end_call(key, request) else { return };
        self.stats.call_timeouts += 1;
        self.send_error(key, code::CALL, request, ErrorUri::Timeout, "the callee did not answer in time");
        self.interrupt(Caller::Session(caller), request, call.callee, CancelMode::KillNoWait, sink);
    }

    /// The caller leaves: its calls are withdrawn and callees that can be interrupted are.
    pub(in super::super) fn withdraw_calls(&mut self, key: ConnKey, j: &mut Joined, sink: &mut dyn Sink) {
        for (request, call) in j.calls.drain() {
            if let Some((_, at)) = call.timer {
                self.timers.disarm(at, Timer::Call(key, request));
            }
            self.interrupt(Caller::Session(j.id), request, call.callee, CancelMode::KillNoWait, sink);
        }
    }

    /// The caller's shard: an answer from the callee's shard.
    pub(in super::super) fn on_call_done(&mut self, done: CallDone, sink: &mut dyn Sink) {
        let now = self.now;
        let caller = match done.caller {
            Caller::Session(id) => id,
            Caller::Router(token) => return self.on_own_answer(token, done.outcome),
        };
        let Some(&key) = self.by_id.get(&caller) else {
            self.stats.late_answers_dropped += 1;
            return;
        };
        let request = done.call_request;
        if let CallOutcome::Result { progress: false, .. } = &done.outcome {
            // The common case first, with one lookup: the final result ends the call.
            let CallOutcome::Result { details, payload, .. } = done.outcome else { return };
            if self.end_call(key, request).is_none() {
                self.stats.late_answers_dropped += 1;
                return;
            }
            let result = Message::Result(msg::CallResult { request, details, payload });
            return self.send(key, &result, MessageClass::Control);
        }
        let Some(j) = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()) else { return };
        let realm = j.realm;
        let Some(call) = j.calls.get_mut(&request) else {
            self.stats.late_answers_dropped += 1;
            return;
        };
        match done.outcome {
            CallOutcome::Result { details, payload, progress: true } => {
                if !call.receive_progress {
                    self.stats.late_answers_dropped += 1;
                    return;
                }
                if let Some((after, at)) = call.timer {
                    let next = now + after;
                    call.timer = Some((after, next));
                    self.timers.disarm(at, Timer::Call(key, request));
                    self.timers.arm(next, Timer::Call(key, request));
                }
                let result = Message::Result(msg::CallResult { request, details, payload });
                self.send(key, &result, MessageClass::Control);
            }
            CallOutcome::Result { progress: false, .. } => {}
            CallOutcome::Error { details, error, payload } => {
                let unavailable = &*error == ErrorUri::Unavailable.uri();
                if unavailable && self.reroute(key, request, realm, done.callee, sink) {
                    return;
                }
                self.end_call(key, request);
                let err = if unavailable {
                    Message::Error(msg::Error {
                        request_type: code::CALL,
                        request,
                        details: Dict::new(),
                        error: ErrorUri::NoAvailableCallee.uri().into(),
                        payload: Payload::args(vec!["every callee of the procedure is unavailable".into()]),
                    })
                } else {
                    let error = error.to_string();
                    Message::Error(msg::Error { request_type: code::CALL, request, details, error, payload })
                };
                self.send(key, &err, MessageClass::Control);
            }
            CallOutcome::Refused { error, why, retry } => {
                if retry && self.reroute(key, request, realm, done.callee, sink) {
                    return;
                }
                let shared = self.end_call(key, request).is_some_and(|c| c.shared);
                if retry && shared {
                    let why = "no callee of the procedure can take the call";
                    self.send_error(key, code::CALL, request, ErrorUri::NoAvailableCallee, why);
                } else {
                    self.send_error(key, code::CALL, request, error, why);
                }
            }
        }
    }

    /// Sends a call that callee `busy` could not take to the next callee of its shared
    /// registration, by the registration's policy. False if there is none left.
    fn reroute(&mut self, key: ConnKey, request: Id, realm: RealmIdx, busy: Id, sink: &mut dyn Sink) -> bool {
        let Some(j) = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()) else { return false };
        let Some(call) = j.calls.get_mut(&request) else { return false };
        let registration = call.registration;
        let Some(r) = call.reroute.as_mut() else { return false };
        r.tried.push(busy);
        let (procedure, tried, partition) = (r.procedure.clone(), r.tried.clone(), r.options.partition.clone());
        let route =
            self.dealer.get_mut(realm).and_then(|d| d.route(&procedure, &mut self.rng, &tried, partition.as_deref()));
        let Some(route) = route.filter(|r| r.registration == registration) else { return false };
        let callee = route.callee;
        let Some(j) = self.sessions.get_mut(key.0).and_then(|s| s.joined_mut()) else { return false };
        let Some(r) = j.calls.get(&request).and_then(|c| c.reroute.as_ref()) else { return false };
        let details = invocation_details(&r.options, &callee, j, &procedure, route.policy);
        let payload = r.payload.clone();
        let receive_progress = r.options.receive_progress && takes_progress(callee.features);
        let caller = j.id;
        if let Some(call) = j.calls.get_mut(&request) {
            call.callee = callee;
        }
        let inv = Invoke {
            realm,
            registration,
            callee: callee.session,
            caller_shard: self.shard,
            caller: Caller::Session(caller),
            call_request: request,
            details,
            payload,
            receive_progress,
            continuation: false,
        };
        self.dispatch_invoke(callee.shard, inv, sink);
        true
    }
}
