//! Calls the router makes itself: the entry point through which the router consults a procedure
//! a client registered (a dynamic authenticator or authorizer, later) and gets the answer back.
//!
//! Owns: the records of this shard's own calls in flight and the answers not yet taken. Never:
//! what the answers mean (the code that made the call takes them); progressive results (an own
//! call never asks for them) or reroutes.
//!
//! An own call travels like a client's: matched in this shard's replica, sent as an `Invoke`
//! whose caller is [`Caller::Router`], answered by a `CallDone`; the callee's shard cannot tell
//! them apart except that no caller is disclosed. A timeout is always set, so a callee that never
//! answers cannot hold the record, and the callee is interrupted when it passes.

use std::time::{Duration, Instant};

use super::super::shard_msg::{CallOutcome, Invoke};
use super::super::timers::Timer;
use super::super::{Router, Sink, Token};
use crate::realm::RealmIdx;
use crate::session::{CalleeRef, Caller};
use crate::wamp::options::CancelMode;
use crate::wamp::{Dict, ErrorUri, Id, MatchPolicy, Payload};

/// One call the router made and waits on.
#[derive(Clone, Copy, Debug)]
pub(in super::super) struct OwnCall {
    /// The callee it went to.
    callee: CalleeRef,
    /// When it times out.
    deadline: Instant,
}

impl Router {
    /// Calls `procedure` in `realm` as the router itself, with `payload` as its arguments: the
    /// callee of the best-matching registration gets an INVOCATION, and the answer (RESULT or
    /// ERROR, `wamp.error.timeout` once `timeout` passed) is filed under the returned token for
    /// [`Router::take_own_answers`]. Fails at once with `no_such_procedure` when nobody
    /// registered it, and with `limit_reached` when `limits.max_calls_per_session` own calls are
    /// in flight or answered but not taken on this shard.
    pub fn call_as_router(
        &mut self,
        realm: RealmIdx,
        procedure: &str,
        payload: Payload,
        timeout: Duration,
        sink: &mut dyn Sink,
    ) -> Result<Token, ErrorUri> {
        if self.own_calls.len() + self.own_answers.len() >= self.limits.max_calls_per_session {
            self.stats.call_limit_hits += 1;
            return Err(ErrorUri::LimitReached);
        }
        let route = self.dealer.get_mut(realm).and_then(|d| d.route(procedure, &mut self.rng, &[], None));
        let route = route.ok_or(ErrorUri::NoSuchProcedure)?;
        self.next_own_call += 1;
        let token = self.next_own_call;
        let deadline = self.now + timeout;
        self.own_calls.insert(token, OwnCall { callee: route.callee, deadline });
        self.timers.arm(deadline, Timer::OwnCall(token));
        let details = match route.policy {
            MatchPolicy::Exact => Dict::new(),
            _ => Dict::new().with("procedure", procedure),
        };
        let inv = Invoke {
            realm,
            registration: route.registration,
            callee: route.callee.session,
            caller_shard: self.shard,
            caller: Caller::Router(token),
            call_request: Id::ZERO,
            details,
            payload,
            receive_progress: false,
            continuation: false,
        };
        self.dispatch_invoke(route.callee.shard, inv, sink);
        Ok(Token(token))
    }

    /// The answers to the router's own calls that came since the last time, in arrival order.
    pub fn take_own_answers(&mut self) -> Vec<(Token, CallOutcome)> {
        std::mem::take(&mut self.own_answers)
    }

    /// An answer to an own call: filed, unless the call timed out already. Progressive results
    /// (which an own call never asks for) are dropped.
    pub(in super::super) fn on_own_answer(&mut self, token: u64, outcome: CallOutcome) {
        if let CallOutcome::Result { progress: true, .. } = outcome {
            self.stats.late_answers_dropped += 1;
            return;
        }
        let Some(call) = self.own_calls.remove(&token) else {
            self.stats.late_answers_dropped += 1;
            return;
        };
        self.timers.disarm(call.deadline, Timer::OwnCall(token));
        let outcome = match outcome {
            CallOutcome::Refused { error, why, .. } => CallOutcome::router_error(error, why),
            other => other,
        };
        self.own_answers.push((Token(token), outcome));
    }

    /// An own call timed out: `timeout` is filed and the callee interrupted.
    pub(in super::super) fn on_own_call_timeout(&mut self, token: u64, sink: &mut dyn Sink) {
        let Some(call) = self.own_calls.remove(&token) else { return };
        self.stats.call_timeouts += 1;
        let outcome = CallOutcome::router_error(ErrorUri::Timeout, "the callee did not answer in time");
        self.own_answers.push((Token(token), outcome));
        self.interrupt(Caller::Router(token), Id::ZERO, call.callee, CancelMode::KillNoWait, sink);
    }
}
