"""The session meta API and testaments through the router under test, with autobahn-python.

Owns: wamp.session.on_join / on_leave as another session sees them,
wamp.session.count, list and get, wamp.session.kill and kill_by_authid (the
victim's close reason and message, its on_leave), and testaments
(wamp.session.add_testament and flush_testaments; published when their session
leaves by GOODBYE, transport loss or kill). Watchers and callers join on port A,
the sessions they watch, ask about or kill on port B (on wampyard: different
shards).

Other sessions may join and leave the realm while a test runs, so meta events
are picked out by session ID and counts are compared with the sessions the test
opened itself. Never kill_by_authrole or kill_all here: they would end sessions
of other test runs.

Crossbar.io 26.10 differs where marked `crossbar_differs` (the comment above
each test says how): on_leave carries only the session ID, a kill without a
reason closes with wamp.close.normal, anonymous sessions get a random authid
whatever HELLO says, kill and kill_by_authid can kill the caller itself, a
testament topic is not checked, and on GOODBYE or kill on_leave is published
before the testaments.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any, Awaitable, Iterator

import pytest
from autobahn.wamp.exception import ApplicationError

from interop_client import Peer, Peers, Router, Wire, run

# Seconds the router may take for anything it must do at once (a reply, a meta
# event, the GOODBYE of a kill); short so a router that never does it fails fast.
PROMPT = 2.0

ON_JOIN = "wamp.session.on_join"
ON_LEAVE = "wamp.session.on_leave"


async def within(awaitable: Awaitable[Any], seconds: float = PROMPT) -> Any:
    """Awaits something the router must bring about promptly."""
    return await asyncio.wait_for(awaitable, seconds)


async def expect_error(awaitable: Awaitable[Any]) -> ApplicationError:
    """Awaits a call the router must refuse; returns the WAMP error."""
    try:
        value = await within(awaitable)
    except ApplicationError as error:
        return error
    raise AssertionError(f"expected a WAMP error, got success: {value!r}")


class Events:
    """Records the events of one subscription as (args, kwargs) and waits for them."""

    def __init__(self) -> None:
        self.seen: list[tuple[list, dict]] = []
        self._changed = asyncio.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.seen.append((list(args), kwargs))
        self._changed.set()

    @classmethod
    async def subscribe(cls, peer: Peer, topic: str) -> "Events":
        events = cls()
        await within(peer.subscribe(events, topic))
        return events

    async def first(self, match) -> tuple[list, dict]:
        """The first event (already seen or still to come) that match(args, kwargs) accepts."""

        async def wait() -> tuple[list, dict]:
            while True:
                for args, kwargs in self.seen:
                    if match(args, kwargs):
                        return args, kwargs
                self._changed.clear()
                await self._changed.wait()

        return await within(wait())

    async def count(self, n: int) -> list[tuple[list, dict]]:
        """The first n events."""
        await self.first(lambda *_: len(self.seen) >= n)
        return self.seen[:n]


def about(session_id: int):
    """Matches an on_leave event for the session."""
    return lambda args, kwargs: bool(args) and args[0] == session_id


def joined_as(session_id: int):
    """Matches an on_join event for the session."""
    return lambda args, kwargs: bool(args) and isinstance(args[0], dict) and args[0].get("session") == session_id


def close_details(peer: Peer) -> asyncio.Future:
    """A future of the CloseDetails (reason, message) the session leaves with."""
    future = asyncio.get_running_loop().create_future()
    on_leave = peer.onLeave

    def record(details: Any) -> Any:
        if not future.done():
            future.set_result(details)
        return on_leave(details)

    peer.onLeave = record
    return future


@contextlib.contextmanager
def hello_authid(authid: str) -> Iterator[None]:
    """Sessions joined inside the block send authid in HELLO.Details.

    autobahn's ApplicationSession.onConnect joins with the realm only; the
    interop Peer does not override it, so the block puts an onConnect that also
    passes authid on Peer and takes it off again afterwards.
    """
    had_own = "onConnect" in Peer.__dict__
    original = Peer.onConnect

    def on_connect(self: Peer) -> None:
        self.join(self.config.realm, authid=authid)

    Peer.onConnect = on_connect
    try:
        yield
    finally:
        if had_own:
            Peer.onConnect = original
        else:
            del Peer.onConnect


async def leave_by(how: str, subject: Peer, killer: Peer) -> None:
    """Ends subject's session: GOODBYE, a dropped TCP connection, or a kill from killer."""
    if how == "goodbye":
        subject.leave()
    elif how == "transport loss":
        subject.drop()
    elif how == "kill":
        assert await within(killer.call("wamp.session.kill", subject._session_id)) is None
    else:
        raise ValueError(how)


# --- on_join and on_leave -----------------------------------------------------


def test_on_join_reports_a_session_joining_on_the_other_port(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        watcher = await peers.connect("A")
        joins = await Events.subscribe(watcher, ON_JOIN)
        subject = await peers.connect("B")
        authid = (await subject.joined).authid
        args, _ = await joins.first(joined_as(subject._session_id))
        details = args[0]
        assert (details["authid"], details["authrole"]) == (authid, "anonymous")
        assert details["authmethod"] == "anonymous"

    run(router, wire, body)


@pytest.mark.parametrize("how", ["goodbye", "transport loss"])
def test_on_leave_reports_a_session_leaving(router: Router, wire: Wire, how: str) -> None:
    async def body(peers: Peers) -> None:
        watcher = await peers.connect("A")
        leaves = await Events.subscribe(watcher, ON_LEAVE)
        subject = await peers.connect("B")
        subject_id = subject._session_id
        await leave_by(how, subject, watcher)
        await leaves.first(about(subject_id))
        await within(subject.closed)

    run(router, wire, body)


# Crossbar 26.10 publishes on_leave with the session ID as its only argument.
@pytest.mark.crossbar_differs
def test_on_leave_carries_the_session_authid_and_authrole(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        watcher = await peers.connect("A")
        leaves = await Events.subscribe(watcher, ON_LEAVE)
        subject = await peers.connect("B")
        subject_id, authid = subject._session_id, (await subject.joined).authid
        subject.leave()
        args, kwargs = await leaves.first(about(subject_id))
        assert (args, kwargs) == ([subject_id, authid, "anonymous"], {})

    run(router, wire, body)


# --- count, list, get ----------------------------------------------------------


def test_count_list_and_get_see_sessions_on_both_ports(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        asker = await peers.connect("A")
        leaves = await Events.subscribe(asker, ON_LEAVE)
        near = await peers.connect("A")
        far = await peers.connect("B")
        far_id = far._session_id
        mine = {asker._session_id, near._session_id, far_id}

        listed = await within(asker.call("wamp.session.list"))
        assert isinstance(listed, list) and mine <= set(listed), f"{mine} not all in {listed}"
        assert await within(asker.call("wamp.session.count")) >= len(mine)
        assert await within(asker.call("wamp.session.count", ["anonymous"])) >= len(mine)
        assert await within(asker.call("wamp.session.count", ["no_such_role"])) == 0
        assert await within(asker.call("wamp.session.list", ["no_such_role"])) == []
        assert mine <= set(await within(asker.call("wamp.session.list", ["anonymous"])))

        details = await within(asker.call("wamp.session.get", far_id))
        assert details["session"] == far_id
        assert (details["authid"], details["authrole"]) == ((await far.joined).authid, "anonymous")

        # Once its on_leave is in, the session is neither listed nor found.
        far.leave()
        await leaves.first(about(far_id))
        assert far_id not in await within(asker.call("wamp.session.list"))
        error = await expect_error(asker.call("wamp.session.get", far_id))
        assert error.error == "wamp.error.no_such_session"

    run(router, wire, body)


# Crossbar 26.10 answers `serializer` as None (WebSocket) or a number (RawSocket)
# and describes the transport with channel_framing, channel_serializer, ...
@pytest.mark.crossbar_differs
def test_get_reports_the_serializer_and_transport(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        asker = await peers.connect("A")
        subject = await peers.connect("B")
        details = await within(asker.call("wamp.session.get", subject._session_id))
        assert details["serializer"] == wire.serializer
        assert details["transport"]["type"] == wire.transport
        # The peer address is the subject's end of its connection ("127.0.0.1:port").
        port = subject.socket.get_extra_info("sockname")[1]
        assert details["transport"]["peer"].endswith(f":{port}"), details["transport"]

    run(router, wire, body)


def test_get_and_kill_of_an_unknown_session_give_no_such_session(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        asker = await peers.connect("A")
        gone = await peers.connect("B")
        gone_id = gone._session_id
        gone.leave()
        await within(gone.closed)
        for unknown in (gone_id, 1):
            for procedure in ("wamp.session.get", "wamp.session.kill"):
                error = await expect_error(asker.call(procedure, unknown))
                assert error.error == "wamp.error.no_such_session", (procedure, unknown)

    run(router, wire, body)


# Crossbar 26.10 kills the caller itself (it has no check for its own session).
@pytest.mark.crossbar_differs
def test_kill_of_ones_own_session_gives_no_such_session(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        asker = await peers.connect("A")
        error = await expect_error(asker.call("wamp.session.kill", asker._session_id))
        assert error.error == "wamp.error.no_such_session"
        assert asker.is_attached()

    run(router, wire, body)


# --- kill -------------------------------------------------------------------------


def test_kill_closes_the_other_session_with_the_given_reason_and_message(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        killer = await peers.connect("A")
        leaves = await Events.subscribe(killer, ON_LEAVE)
        victim = await peers.connect("B")
        victim_id = victim._session_id
        closing = close_details(victim)
        killed = killer.call("wamp.session.kill", victim_id, reason="com.example.kicked", message="go away")
        assert await within(killed) is None
        details = await within(closing)
        assert (details.reason, details.message) == ("com.example.kicked", "go away")
        await leaves.first(about(victim_id))
        await within(victim.closed)
        assert killer.is_attached()

    run(router, wire, body)


# Crossbar 26.10 sends GOODBYE without a reason of its own, which autobahn
# fills in as wamp.close.normal.
@pytest.mark.crossbar_differs
def test_kill_without_a_reason_closes_with_wamp_close_killed(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        killer = await peers.connect("A")
        victim = await peers.connect("B")
        closing = close_details(victim)
        assert await within(killer.call("wamp.session.kill", victim._session_id)) is None
        assert (await within(closing)).reason == "wamp.close.killed"

    run(router, wire, body)


def test_kill_by_authid_kills_the_sessions_of_that_authid(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        killer = await peers.connect("A")
        victim = await peers.connect("B")
        bystander = await peers.connect("B")
        closing = close_details(victim)
        victim_id, authid = victim._session_id, (await victim.joined).authid
        killed = await within(killer.call("wamp.session.kill_by_authid", authid, message="rotating"))
        assert killed == [victim_id]
        assert (await within(closing)).message == "rotating"
        assert await within(killer.call("wamp.session.kill_by_authid", f"nobody-{uuid.uuid4().hex}")) == []
        listed = await within(bystander.call("wamp.session.list"))
        assert victim_id not in listed
        assert {killer._session_id, bystander._session_id} <= set(listed)

    run(router, wire, body)


# Crossbar 26.10 gives anonymous sessions a random authid and ignores the one in HELLO.
@pytest.mark.crossbar_differs
def test_an_anonymous_session_keeps_the_authid_it_sent(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        authid = f"interop-{uuid.uuid4().hex[:12]}"
        asker = await peers.connect("A")
        with hello_authid(authid):
            subject = await peers.connect("B")
        assert (await subject.joined).authid == authid
        details = await within(asker.call("wamp.session.get", subject._session_id))
        assert (details["authid"], details["authrole"]) == (authid, "anonymous")

    run(router, wire, body)


# Crossbar 26.10 ignores the authid in HELLO (so the two sessions do not share
# one), and its kill_by_authid would kill the caller too.
@pytest.mark.crossbar_differs
def test_kill_by_authid_spares_the_caller_that_shares_the_authid(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        authid = f"interop-{uuid.uuid4().hex[:12]}"
        with hello_authid(authid):
            killer = await peers.connect("A")
            victim = await peers.connect("B")
        victim_id = victim._session_id
        killed = await within(killer.call("wamp.session.kill_by_authid", authid))
        assert killed == [victim_id]
        await within(victim.closed)
        assert killer.is_attached()
        assert killer._session_id in await within(killer.call("wamp.session.list"))

    run(router, wire, body)


# --- testaments -------------------------------------------------------------------


@pytest.mark.parametrize("how", ["goodbye", "transport loss", "kill"])
def test_a_testament_is_published_when_its_session_leaves(router: Router, wire: Wire, uri, how: str) -> None:
    async def body(peers: Peers) -> None:
        watcher = await peers.connect("A")
        wills = await Events.subscribe(watcher, uri("will"))
        testator = await peers.connect("B")
        await within(testator.call("wamp.session.add_testament", uri("will"), ["bye", how], {"k": 1}))
        await leave_by(how, testator, watcher)
        assert await wills.count(1) == [(["bye", how], {"k": 1})]

    run(router, wire, body)


def test_detached_testaments_are_published_before_destroyed_ones_each_in_order(
    router: Router, wire: Wire, uri
) -> None:
    async def body(peers: Peers) -> None:
        watcher = await peers.connect("A")
        wills = await Events.subscribe(watcher, uri("will"))
        testator = await peers.connect("B")
        add = "wamp.session.add_testament"
        await within(testator.call(add, uri("will"), ["destroyed 1"], {}))
        await within(testator.call(add, uri("will"), ["detached 1"], {}, scope="detached"))
        await within(testator.call(add, uri("will"), ["destroyed 2"], {}, scope="destroyed"))
        await within(testator.call(add, uri("will"), ["detached 2"], {}, scope="detached"))
        testator.leave()
        seen = [args for args, _ in await wills.count(4)]
        assert seen == [["detached 1"], ["detached 2"], ["destroyed 1"], ["destroyed 2"]]

    run(router, wire, body)


def test_a_flushed_testament_is_not_published(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        watcher = await peers.connect("A")
        wills = await Events.subscribe(watcher, uri("will"))
        testator = await peers.connect("B")
        add = "wamp.session.add_testament"
        await within(testator.call(add, uri("will"), ["flushed"], {}))
        await within(testator.call(add, uri("will"), ["flushed too"], {}, scope="detached"))
        assert await within(testator.call("wamp.session.flush_testaments")) == 1
        assert await within(testator.call("wamp.session.flush_testaments", scope="detached")) == 1
        await within(testator.call(add, uri("will"), ["kept"], {}))
        testator.leave()
        # A flushed testament would have been published before this one.
        assert await wills.count(1) == [(["kept"], {})]

    run(router, wire, body)


# Crossbar 26.10 publishes on_leave before the testaments when the session
# says GOODBYE or is killed (after them on transport loss).
@pytest.mark.crossbar_differs
@pytest.mark.parametrize("how", ["goodbye", "kill"])
def test_testaments_are_published_before_on_leave(router: Router, wire: Wire, uri, how: str) -> None:
    async def body(peers: Peers) -> None:
        watcher = await peers.connect("A")
        # One log for both subscriptions: autobahn may hand over both events
        # before a waiting task runs, so only the order they were delivered in counts.
        log = Events()
        await within(watcher.subscribe(lambda *a: log("testament", *a), uri("will")))
        await within(watcher.subscribe(lambda *a: log("on_leave", *a), ON_LEAVE))
        testator = await peers.connect("B")
        testator_id = testator._session_id
        await within(testator.call("wamp.session.add_testament", uri("will"), ["bye"], {}))
        await leave_by(how, testator, watcher)
        await log.first(lambda args, _: args[:2] == ["on_leave", testator_id])
        delivered = [args[0] for args, _ in log.seen if args[0] == "testament" or args[1] == testator_id]
        assert delivered == ["testament", "on_leave"]

    run(router, wire, body)


# Crossbar 26.10 accepts any topic for a testament.
@pytest.mark.crossbar_differs
def test_a_testament_for_a_bad_or_reserved_topic_gives_invalid_uri(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        testator = await peers.connect("B")
        for topic in ("wamp.session.on_leave", "com.bad topic", "com..empty"):
            error = await expect_error(testator.call("wamp.session.add_testament", topic, [], {}))
            assert error.error == "wamp.error.invalid_uri", topic
        assert await within(testator.call("wamp.session.flush_testaments")) == 0

    run(router, wire, body)
