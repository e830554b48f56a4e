"""Advanced Profile RPC through the router under test, with autobahn-python on both ends.

Owns: progressive call results, call canceling (autobahn's own cancel and each
CANCEL mode), call timeouts, caller disclosure and shared registrations
(roundrobin, first, last, random). Callees sit on port A and callers on port B,
so on wampyard they are on different shards.

Where autobahn-python 26.10 has no API for what the router must be shown (a
CANCEL mode, `disclose_me`, `disclose_caller`), the tests put autobahn's own
message objects on the wire (`cancel_with_mode`, `extra_options`) and read what
the client hides from its user with a `Tap`. "Nothing arrived" is proven with a
sentinel call through the same caller and callee, never by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Awaitable, Callable, Iterator

import pytest
from autobahn.wamp import message
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, CallResult, RegisterOptions

from interop_client import Peer, Peers, Router, Wire, close_peer, run, unpack

# Seconds the router may take for anything it must do at once: a reply, the
# ERROR for a CANCEL, an INTERRUPT. Kept short so a router that never answers
# fails the test quickly.
PROMPT = 1.5
# CALL.Options.timeout for a callee that never answers, in ms (the spec's unit).
TIMEOUT_MS = 300
# Timeout and gap between results for the progressive call that must outlive
# its timeout: each gap is well inside the timeout, the whole call is not.
PROGRESS_TIMEOUT_MS = 800
PROGRESS_GAP = 0.3
PROGRESS_GAPS = 3
# Progressive results the streaming callee sends before its final result.
PROGRESS_COUNT = 5
# Callees sharing one registration, and the calls the random policy may take
# to reach each of them (missing one has probability 3 * (2/3)**60 ~ 1e-10).
SHARED_CALLEES = 3
RANDOM_CALLS = 60


async def within(awaitable: Awaitable[Any], seconds: float = PROMPT) -> Any:
    """Awaits something the router must bring about promptly."""
    return await asyncio.wait_for(awaitable, seconds)


async def expect_error_within(awaitable: Awaitable[Any], seconds: float = PROMPT) -> ApplicationError:
    """Awaits a call the router must end with a WAMP error; returns the error."""
    try:
        value = await within(awaitable, seconds)
    except ApplicationError as error:
        return error
    except asyncio.TimeoutError:
        raise AssertionError(f"expected a WAMP error, got no answer within {seconds} s") from None
    raise AssertionError(f"expected a WAMP error, got success: {value!r}")


class Tap:
    """Records the WAMP messages one session sends and receives.

    autobahn hides some of the wire from its user (the router's ERROR for a call
    the user canceled, INVOCATION details); the tap wraps the session's
    onMessage and its transport's send (autobahn's `_transport`) to see them.
    """

    def __init__(self, peer: Peer) -> None:
        self.sent: list[message.Message] = []
        self.received: list[message.Message] = []
        self._changed = asyncio.Event()
        deliver = peer.onMessage
        transport = peer._transport
        send = transport.send

        def on_message(msg: message.Message) -> None:
            self.received.append(msg)
            self._changed.set()
            deliver(msg)

        def tapped_send(msg: message.Message) -> None:
            self.sent.append(msg)
            self._changed.set()
            send(msg)

        peer.onMessage = on_message
        transport.send = tapped_send

    async def _first(self, log: list, match: Callable[[message.Message], bool]) -> message.Message:
        while True:
            for msg in log:
                if match(msg):
                    return msg
            self._changed.clear()
            await self._changed.wait()

    async def wait_sent(self, match: Callable[[message.Message], bool]) -> message.Message:
        return await within(self._first(self.sent, match))

    async def wait_received(self, match: Callable[[message.Message], bool]) -> message.Message:
        return await within(self._first(self.received, match))

    def call_request(self, procedure: str) -> int:
        """The request ID of the latest CALL this session sent for procedure."""
        calls = [m for m in self.sent if isinstance(m, message.Call) and m.procedure == procedure]
        assert calls, f"no CALL to {procedure} was sent"
        return calls[-1].request

    def replies_to_call(self, request: int) -> list[message.Message]:
        """Every RESULT or ERROR this session received for one of its CALLs."""
        return [
            m
            for m in self.received
            if (isinstance(m, message.Result) and m.request == request)
            or (
                isinstance(m, message.Error)
                and m.request_type == message.Call.MESSAGE_TYPE
                and m.request == request
            )
        ]


def cancel_with_mode(caller: Peer, tap: Tap, procedure: str, mode: str) -> int:
    """Sends CANCEL{mode} for the latest call to procedure; returns its request ID.

    autobahn-python's own cancel (future.cancel()) always sends CANCEL with empty
    Options, so the mode is set on autobahn's Cancel message directly. The call's
    future stays pending and receives whatever the router answers.
    """
    request = tap.call_request(procedure)
    caller._transport.send(message.Cancel(request, mode=mode))
    return request


@contextlib.contextmanager
def extra_options(message_type: type, **extra: Any) -> Iterator[list]:
    """Adds options autobahn-python 26.10 has no API for to messages built inside the block.

    CallOptions has no `disclose_me` and RegisterOptions no `disclose_caller`, so
    the tests merge them into the Options dict of autobahn's own CALL or REGISTER
    (Options is element 2 of both). call() and register() build and serialize the
    message before they return, so wrap only that synchronous part. The list it
    yields gets an entry per message built, to prove the options went out.
    """
    original = message_type.marshal
    applied: list = []

    def marshal(self: message.Message) -> list:
        wire = original(self)
        wire[2] = {**wire[2], **extra}
        applied.append(wire[2])
        return wire

    message_type.marshal = marshal
    try:
        yield applied
    finally:
        message_type.marshal = original


class HeldCallee:
    """A callee endpoint that holds every invocation until the test lets it go.

    On INTERRUPT autobahn cancels the endpoint's task; the endpoint records that,
    holds its answer until `answer_interrupt` is set, then fails the invocation
    with wamp.error.canceled. `ping` (a second procedure on the same session)
    reports whether an interrupt has arrived and can hand the held invocation
    back first, so that a late reply reaches the router before ping's own.
    """

    def __init__(self, callee: Peer, tap: Tap) -> None:
        self.callee = callee
        self.tap = tap
        self.invoked = asyncio.Event()
        self.interrupted = asyncio.Event()
        self.release = asyncio.Event()
        self.answer_interrupt = asyncio.Event()

    async def hold(self, *args: Any) -> str:
        self.invoked.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.interrupted.set()
            with contextlib.suppress(asyncio.TimeoutError):  # bounded even if a test fails
                await asyncio.wait_for(self.answer_interrupt.wait(), PROMPT * 2)
            raise ApplicationError("wamp.error.canceled", "interrupted") from None
        return "late"

    def let_go(self) -> None:
        """Ends a held invocation whatever state it is in."""
        self.release.set()
        self.answer_interrupt.set()

    async def ping(self, flush: bool = False) -> bool:
        if flush:
            # Let the held invocation answer (YIELD, or ERROR after an
            # interrupt) and send that before this call's own YIELD.
            self.release.set()
            self.answer_interrupt.set()
            await self.tap.wait_sent(
                lambda m: isinstance(m, (message.Yield, message.Error))
                and m.request == self.invocation_request()
            )
        return self.interrupted.is_set()

    def invocation_request(self) -> int:
        held = [m for m in self.tap.received if isinstance(m, message.Invocation) and m.args == ["held"]]
        assert held, "the held invocation never arrived"
        return held[-1].request

    async def register(self, procedure: str, ping_procedure: str) -> None:
        await within(self.callee.register(self.hold, procedure))
        await within(self.callee.register(self.ping, ping_procedure))


def run_held(router: Router, wire: Wire, uri, body: Callable[[Peer, Tap, HeldCallee], Awaitable[None]]) -> None:
    """Runs body(caller, caller_tap, held): a held callee on A, a caller on B, both tapped.

    The held invocation is let go before the sessions close, so no endpoint is
    left waiting when the event loop ends.
    """

    async def outer(peers: Peers) -> None:
        callee = await peers.connect("A")
        caller = await peers.connect("B")
        held = HeldCallee(callee, Tap(callee))
        await held.register(uri("held"), uri("ping"))
        try:
            await body(caller, Tap(caller), held)
        finally:
            held.let_go()

    run(router, wire, outer)


async def assert_late_reply_dropped(caller: Peer, caller_tap: Tap, held: HeldCallee, uri, request: int) -> None:
    """Lets the held invocation answer, then proves the router dropped that answer.

    ping(flush=True) makes the callee send its late reply before ping's YIELD;
    replies from one callee reach one caller in order, so once ping's result is
    in, a forwarded late reply would already be in the caller's tap.
    """
    await within(caller.call(uri("ping"), True))
    replies = caller_tap.replies_to_call(request)
    assert len(replies) == 1, f"the canceled call got more than one reply: {[m.marshal() for m in replies]}"


# --- progressive call results ---------------------------------------------


def test_progressive_results_arrive_in_order_and_at_once_before_the_final_result(
    router: Router, wire: Wire, uri
) -> None:
    async def body(peers: Peers) -> None:
        callee = await peers.connect("A")
        caller = await peers.connect("B")
        seen: list[tuple[list, dict]] = []
        seen_count = asyncio.Event()

        async def stream(count: int, details) -> CallResult:
            assert details.progress is not None, "the caller asked for progress"
            for i in range(count):
                details.progress(i, f"chunk-{i}", bytes([i, 255 - i]), step=i)
                # The next result goes out only once the caller has this one:
                # the router must forward each progressive result immediately.
                while len(seen) <= i:
                    seen_count.clear()
                    await within(seen_count.wait())
            return CallResult("done", total=count)

        def on_progress(*args: Any, **kwargs: Any) -> None:
            seen.append((list(args), kwargs))
            seen_count.set()

        await within(callee.register(stream, uri("stream"), options=RegisterOptions(details=True)))
        final = await within(
            caller.call(uri("stream"), PROGRESS_COUNT, options=CallOptions(on_progress=on_progress)),
            PROMPT * 2,
        )
        assert seen == [
            ([i, f"chunk-{i}", bytes([i, 255 - i])], {"step": i}) for i in range(PROGRESS_COUNT)
        ]
        assert unpack(final) == (["done"], {"total": PROGRESS_COUNT})

    run(router, wire, body)


def test_progressive_call_can_end_in_an_error_after_its_progress(router: Router, wire: Wire, uri) -> None:
    error_uri = uri("error.midway")

    async def body(peers: Peers) -> None:
        callee = await peers.connect("A")
        caller = await peers.connect("B")
        seen: list = []

        def fail_midway(details) -> None:
            details.progress("first")
            details.progress("second")
            raise ApplicationError(error_uri, "gave up", after=2)

        await within(callee.register(fail_midway, uri("midway"), options=RegisterOptions(details=True)))
        error = await expect_error_within(
            caller.call(uri("midway"), options=CallOptions(on_progress=lambda *a, **kw: seen.append(a)))
        )
        assert seen == [("first",), ("second",)]
        assert error.error == error_uri
        assert list(error.args) == ["gave up"] and error.kwargs == {"after": 2}

    run(router, wire, body)


def test_callee_gets_a_progress_channel_only_when_the_caller_asks(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        callee = await peers.connect("A")
        caller = await peers.connect("B")
        callee_tap = Tap(callee)

        def probe(details) -> bool:
            return details.progress is not None

        await within(callee.register(probe, uri("probe"), options=RegisterOptions(details=True)))
        assert await within(caller.call(uri("probe"))) is False
        asked = await within(caller.call(uri("probe"), options=CallOptions(on_progress=lambda *a: None)))
        assert asked is True
        invocations = [m for m in callee_tap.received if isinstance(m, message.Invocation)]
        assert [bool(m.receive_progress) for m in invocations] == [False, True]

    run(router, wire, body)


# --- call canceling -----------------------------------------------------------


def test_client_cancel_interrupts_the_callee_and_the_router_answers_canceled(
    router: Router, wire: Wire, uri
) -> None:
    async def body(caller: Peer, caller_tap: Tap, held: HeldCallee) -> None:
        held.answer_interrupt.set()  # answer an INTERRUPT at once: kill and killnowait both end
        call = asyncio.ensure_future(caller.call(uri("held"), "held"))
        await within(held.invoked.wait())

        call.cancel()
        # autobahn-python surfaces its own cancel as asyncio.CancelledError and
        # never shows the router's answer; the tap does.
        with pytest.raises(asyncio.CancelledError):
            await call
        request = caller_tap.call_request(uri("held"))
        cancel = await caller_tap.wait_sent(lambda m: isinstance(m, message.Cancel))
        assert cancel.request == request and cancel.mode is None, "autobahn sends CANCEL with empty Options"
        error = await caller_tap.wait_received(
            lambda m: isinstance(m, message.Error) and m.request == request
        )
        assert error.request_type == message.Call.MESSAGE_TYPE
        assert error.error == "wamp.error.canceled"
        # The spec names no default mode; Crossbar and Nexus treat a CANCEL
        # without one as killnowait, so the callee (which announced
        # call_canceling) must be interrupted.
        await within(held.interrupted.wait())
        await assert_late_reply_dropped(caller, caller_tap, held, uri, request)

    run_held(router, wire, uri, body)


# Crossbar 26.10 sends nothing to the caller on CANCEL{mode: skip}: the call
# stays pending until the callee answers (and that answer is dropped) or leaves.
@pytest.mark.crossbar_differs
def test_cancel_mode_skip_answers_at_once_without_interrupting_the_callee(
    router: Router, wire: Wire, uri
) -> None:
    async def body(caller: Peer, caller_tap: Tap, held: HeldCallee) -> None:
        call = asyncio.ensure_future(caller.call(uri("held"), "held"))
        await within(held.invoked.wait())

        request = cancel_with_mode(caller, caller_tap, uri("held"), "skip")
        error = await expect_error_within(call)
        assert error.error == "wamp.error.canceled"
        # An INTERRUPT would have been sent before ping's INVOCATION.
        assert await within(caller.call(uri("ping"))) is False, "skip must not interrupt the callee"
        await assert_late_reply_dropped(caller, caller_tap, held, uri, request)
        assert not held.interrupted.is_set()

    run_held(router, wire, uri, body)


def test_cancel_mode_kill_interrupts_and_waits_for_the_callee(router: Router, wire: Wire, uri) -> None:
    async def body(caller: Peer, caller_tap: Tap, held: HeldCallee) -> None:
        call = asyncio.ensure_future(caller.call(uri("held"), "held"))
        await within(held.invoked.wait())

        cancel_with_mode(caller, caller_tap, uri("held"), "kill")
        await within(held.interrupted.wait())
        # The callee holds its answer to the INTERRUPT. An early ERROR would
        # reach the caller before ping's RESULT from the same callee.
        assert await within(caller.call(uri("ping"))) is True
        assert not call.done(), "kill must wait for the callee's answer"

        held.answer_interrupt.set()
        error = await expect_error_within(call)
        assert error.error == "wamp.error.canceled"

    run_held(router, wire, uri, body)


def test_cancel_mode_killnowait_answers_at_once_and_interrupts_the_callee(
    router: Router, wire: Wire, uri
) -> None:
    async def body(caller: Peer, caller_tap: Tap, held: HeldCallee) -> None:
        call = asyncio.ensure_future(caller.call(uri("held"), "held"))
        await within(held.invoked.wait())

        request = cancel_with_mode(caller, caller_tap, uri("held"), "killnowait")
        # The callee holds its answer to the INTERRUPT, so this ERROR cannot be its.
        error = await expect_error_within(call)
        assert error.error == "wamp.error.canceled"
        await within(held.interrupted.wait())
        await assert_late_reply_dropped(caller, caller_tap, held, uri, request)

    run_held(router, wire, uri, body)


# --- call timeout ---------------------------------------------------------------


# Crossbar 26.10 reads CALL.Options.timeout as seconds (a 300 ms timeout fires
# after about 300 s, in 1 s buckets), answers wamp.error.canceled with args
# ["timeout reached"] instead of wamp.error.timeout, interrupts the callee with
# mode killnowait, and passes the timeout on in INVOCATION.Details.
@pytest.mark.crossbar_differs
def test_call_timeout_gives_timeout_error_and_interrupts_the_callee(router: Router, wire: Wire, uri) -> None:
    async def body(caller: Peer, caller_tap: Tap, held: HeldCallee) -> None:
        # autobahn documents CallOptions.timeout in seconds but sends the number
        # unchanged (an int) as CALL.Options.timeout, which the spec reads as ms.
        started = time.monotonic()
        call = caller.call(uri("held"), "held", options=CallOptions(timeout=TIMEOUT_MS))
        request = caller_tap.call_request(uri("held"))
        error = await expect_error_within(call, TIMEOUT_MS / 1000 + PROMPT)
        elapsed = time.monotonic() - started
        assert error.error == "wamp.error.timeout"
        assert elapsed >= TIMEOUT_MS / 1000 * 0.9, f"timed out after {elapsed:.3f} s, before {TIMEOUT_MS} ms"
        # The dealer runs the timer (autobahn announces no call_timeout and sets
        # no forward_timeout) and cancels killnowait: the callee can cancel.
        await within(held.interrupted.wait())
        await assert_late_reply_dropped(caller, caller_tap, held, uri, request)

    run_held(router, wire, uri, body)


def test_call_answered_within_its_timeout_returns_the_result(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        callee = await peers.connect("A")
        caller = await peers.connect("B")
        await within(callee.register(lambda *a: CallResult(*a), uri("echo")))
        result = await within(caller.call(uri("echo"), "in time", 1, options=CallOptions(timeout=5000)))
        assert unpack(result) == (["in time", 1], {})

    run(router, wire, body)


def test_progressive_call_outlives_its_timeout_while_results_keep_coming(
    router: Router, wire: Wire, uri
) -> None:
    async def body(peers: Peers) -> None:
        callee = await peers.connect("A")
        caller = await peers.connect("B")
        seen: list = []

        async def trickle(details) -> str:
            for i in range(PROGRESS_GAPS - 1):
                await asyncio.sleep(PROGRESS_GAP)
                details.progress(i)
            await asyncio.sleep(PROGRESS_GAP)
            return "finished"

        await within(callee.register(trickle, uri("trickle"), options=RegisterOptions(details=True)))
        assert PROGRESS_GAP * PROGRESS_GAPS > PROGRESS_TIMEOUT_MS / 1000 > PROGRESS_GAP * 2
        # The spec measures the timeout from the CALL to the first result and
        # between results after that, not over the whole call.
        result = await within(
            caller.call(
                uri("trickle"),
                options=CallOptions(timeout=PROGRESS_TIMEOUT_MS, on_progress=lambda i: seen.append(i)),
            ),
            PROGRESS_GAP * PROGRESS_GAPS + PROMPT,
        )
        assert seen == list(range(PROGRESS_GAPS - 1))
        assert result == "finished"

    run(router, wire, body)


# --- caller disclosure ---------------------------------------------------------


def _who(details) -> list:
    return [details.caller, details.caller_authid, details.caller_authrole]


def _assert_disclosed(seen: list, caller: Peer) -> None:
    joined = caller.joined.result()
    caller_id, authid, authrole = seen
    assert caller_id == joined.session, f"INVOCATION.Details.caller {caller_id} is not the caller {joined.session}"
    # The router may add authid and authrole; when it does they must be the caller's.
    assert authid in (None, joined.authid)
    assert authrole in (None, joined.authrole)


# Crossbar 26.10 ignores CALL.Options.disclose_me and REGISTER.Options.disclose_caller:
# only its role configuration ("disclose": {"caller": ...}, false in the test
# config) decides, so the callee sees caller=None.
@pytest.mark.crossbar_differs
def test_disclose_me_gives_the_callee_the_caller_session_id(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        callee = await peers.connect("A")
        caller = await peers.connect("B")
        await within(callee.register(_who, uri("who"), options=RegisterOptions(details=True)))
        with extra_options(message.Call, disclose_me=True) as applied:
            call = caller.call(uri("who"))
        assert applied == [{"disclose_me": True}]
        _assert_disclosed(await within(call), caller)

    run(router, wire, body)


def test_caller_stays_hidden_without_disclose_me(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        callee = await peers.connect("A")
        caller = await peers.connect("B")
        await within(callee.register(_who, uri("who"), options=RegisterOptions(details=True)))
        assert await within(caller.call(uri("who"))) == [None, None, None]

    run(router, wire, body)


# Crossbar differs as for disclose_me above.
@pytest.mark.crossbar_differs
def test_register_disclose_caller_discloses_every_caller(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        callee = await peers.connect("A")
        with extra_options(message.Register, disclose_caller=True) as applied:
            registering = callee.register(_who, uri("who"), options=RegisterOptions(details=True))
        assert applied == [{"disclose_caller": True}]
        await within(registering)
        for side in ("B", "A"):
            caller = await peers.connect(side)
            _assert_disclosed(await within(caller.call(uri("who"))), caller)

    run(router, wire, body)


# --- shared registrations --------------------------------------------------------


async def shared_callees(peers: Peers, procedure: str, policy: str, count: int = SHARED_CALLEES) -> list[Peer]:
    """Registers count callees on A, one after the other; callee i answers i."""
    callees: list[Peer] = []
    registration_ids = []
    for index in range(count):
        callee = await peers.connect("A")

        def answer(*args: Any, index: int = index) -> int:
            return index

        registration = await within(callee.register(answer, procedure, options=RegisterOptions(invoke=policy)))
        callees.append(callee)
        registration_ids.append(registration.id)
    assert len(set(registration_ids)) == 1, f"one shared registration, got IDs {registration_ids}"
    return callees


async def answers(caller: Peer, procedure: str, calls: int) -> list[int]:
    """Makes calls one after another; returns which callee answered each."""
    return [await within(caller.call(procedure)) for _ in range(calls)]


def test_roundrobin_cycles_through_callees_in_registration_order(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        callees = await shared_callees(peers, uri("rr"), "roundrobin")
        caller = await peers.connect("B")

        seq = await answers(caller, uri("rr"), 3 * SHARED_CALLEES)
        assert seq == [(seq[0] + i) % SHARED_CALLEES for i in range(len(seq))], seq

        # The callee due next leaves; the rotation goes on over the others.
        leaving = (seq[-1] + 1) % SHARED_CALLEES
        await close_peer(callees[leaving])
        rest = await answers(caller, uri("rr"), 4)
        remaining = set(range(SHARED_CALLEES)) - {leaving}
        assert set(rest) == remaining, f"after callee {leaving} left: {rest}"
        assert all(a != b for a, b in zip(rest, rest[1:])), f"two callees must alternate: {rest}"

    run(router, wire, body)


def test_first_always_invokes_the_earliest_registered_callee(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        callees = await shared_callees(peers, uri("first"), "first")
        caller = await peers.connect("B")
        assert await answers(caller, uri("first"), 5) == [0] * 5

        await close_peer(callees[0])
        assert await answers(caller, uri("first"), 3) == [1] * 3

    run(router, wire, body)


def test_last_always_invokes_the_latest_registered_callee(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        callees = await shared_callees(peers, uri("last"), "last")
        caller = await peers.connect("B")
        last = SHARED_CALLEES - 1
        assert await answers(caller, uri("last"), 5) == [last] * 5

        await close_peer(callees[last])
        assert await answers(caller, uri("last"), 3) == [last - 1] * 3

    run(router, wire, body)


def test_random_reaches_every_callee(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        await shared_callees(peers, uri("random"), "random")
        caller = await peers.connect("B")
        reached: set[int] = set()
        for _ in range(RANDOM_CALLS):
            reached.add(await within(caller.call(uri("random"))))
            if len(reached) == SHARED_CALLEES:
                break
        assert reached == set(range(SHARED_CALLEES)), f"{RANDOM_CALLS} calls reached only {sorted(reached)}"

    run(router, wire, body)


def test_a_single_registration_refuses_shared_registers(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        owner = await peers.connect("A")
        other = await peers.connect("B")
        await within(owner.register(lambda: "single", uri("single")))
        for policy in ("roundrobin", "first", "last", "random", "single"):
            error = await expect_error_within(
                other.register(lambda: "x", uri("single"), options=RegisterOptions(invoke=policy))
            )
            assert error.error == "wamp.error.procedure_already_exists", policy
        assert await within(other.call(uri("single"))) == "single"

    run(router, wire, body)


# Crossbar 26.10 answers wamp.error.procedure_exists_with_different_invocation_policy
# (a URI Autobahn, Bondy and WampSharp also define, but the spec does not) when
# the existing registration is shared and the policy differs, including a
# REGISTER without invoke (single).
@pytest.mark.crossbar_differs
def test_a_shared_registration_refuses_another_policy(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        owner = await peers.connect("A")
        other = await peers.connect("B")
        await within(owner.register(lambda: "rr", uri("rr"), options=RegisterOptions(invoke="roundrobin")))
        for policy in ("first", "last", "random", "single", None):
            error = await expect_error_within(
                other.register(lambda: "x", uri("rr"), options=RegisterOptions(invoke=policy))
            )
            assert error.error == "wamp.error.procedure_already_exists", policy

        # The refusals left the registration open to the same policy.
        await within(other.register(lambda: "rr too", uri("rr"), options=RegisterOptions(invoke="roundrobin")))
        assert sorted([await within(owner.call(uri("rr"))) for _ in range(2)]) == ["rr", "rr too"]

    run(router, wire, body)
