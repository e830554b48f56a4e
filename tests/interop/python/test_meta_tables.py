"""The subscription and registration meta API, revocation and sharded registration through the
router under test, with autobahn-python sessions on both ports.

Owns: the lifecycle events (wamp.subscription.on_create, on_subscribe,
on_unsubscribe, on_delete; wamp.registration.on_create, on_register,
on_unregister, on_delete) of other autobahn sessions; wamp.subscription.get,
lookup, list_subscribers, count_subscribers; wamp.registration.get,
list_callees, count_callees; wamp.subscription.remove_subscriber and
wamp.registration.remove_callee, with and without the feature announced, and
what autobahn-python does with the router's notice; CALL with runmode
"partition". The sessions concerned sit on port A, the watchers, callers and
the admin on port B (on wampyard: different shards).

Events are picked out by session ID. "Nothing else was announced" is proven
with sentinels, never by sleeping: a session on each port subscribes to a topic
of its own, and the events about sessions of one port reach a watcher in order.

autobahn-python 26.10 has no CallOptions for `runmode` and `rkey`: they are
merged into autobahn's own CALL (`call_options`, the technique of
test_rpc_advanced.py). It announces subscription_revocation and
registration_revocation by default (autobahn.wamp.role.DEFAULT_CLIENT_ROLES);
`without_feature` joins a session that does not.

Crossbar.io 26.10 differs where marked `crossbar_differs` (the comment above
each test says how).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from typing import Any, Awaitable, Iterator

import pytest
from autobahn.wamp import message, role
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions, RegisterOptions

from interop_client import Peer, Peers, Router, Wire, run

# Seconds the router may take for anything it must do at once (a reply, a meta
# event, a notice); short so a router that never does it fails fast.
PROMPT = 2.0
# Partition keys per check, and callees sharing the sharded registration: with
# 32 keys a callee misses all of them with probability (2/3)**32 ~ 2e-6.
KEYS = 32
CALLEES = 3

TABLES = {
    "subscription": ("on_create", "on_subscribe", "on_unsubscribe", "on_delete"),
    "registration": ("on_create", "on_register", "on_unregister", "on_delete"),
}
REASON = "com.example.revoked"


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


def session_id(peer: Peer) -> int:
    return peer.joined.result().session


class Tap:
    """Records the WAMP messages one session receives, before autobahn handles them."""

    def __init__(self, peer: Peer) -> None:
        self.received: list[message.Message] = []
        self._changed = asyncio.Event()
        deliver = peer.onMessage

        def on_message(msg: message.Message) -> None:
            self.received.append(msg)
            self._changed.set()
            deliver(msg)

        peer.onMessage = on_message

    async def first(self, kind: type) -> message.Message:
        async def wait() -> message.Message:
            while True:
                for msg in self.received:
                    if isinstance(msg, kind):
                        return msg
                self._changed.clear()
                await self._changed.wait()

        return await within(wait())


class Watch:
    """The lifecycle events one session receives: (table.event, session, id or details)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, Any]] = []
        self._changed = asyncio.Event()

    @classmethod
    async def start(cls, peer: Peer) -> "Watch":
        watch = cls()
        for table, events in TABLES.items():
            for event in events:
                name = f"{table}.{event}"

                def record(session: int, arg: Any, name: str = name) -> None:
                    watch.seen.append((name, session, arg))
                    watch._changed.set()

                await within(peer.subscribe(record, f"wamp.{name}"))
        return watch

    async def until(self, done) -> None:
        """Waits until done(seen) holds; fails, showing what came, if no event comes in time."""
        while not done(self.seen):
            self._changed.clear()
            try:
                await within(self._changed.wait())
            except asyncio.TimeoutError:
                raise AssertionError(f"no further lifecycle event within {PROMPT} s; seen: {self.seen}") from None

    async def after_sentinels(self, peers: Peers, uri) -> list[tuple[str, int, Any]]:
        """Every event before a sentinel subscription from each port has been announced."""
        sentinels = []
        for side in ("A", "B"):
            sentinel = await peers.connect(side)
            await within(sentinel.subscribe(lambda *a: None, uri(f"sentinel.{side}")))
            sentinels.append(session_id(sentinel))

        def done(seen: list) -> bool:
            subscribed = {s for e, s, _ in seen if e == "subscription.on_subscribe"}
            return all(s in subscribed for s in sentinels)

        await self.until(done)
        return [e for e in self.seen if e[1] not in sentinels]


def about(events: list, peer: Peer) -> list[tuple[str, Any]]:
    """(event, argument) of the events about one session, in the order they came."""
    sid = session_id(peer)
    return [(e, arg) for e, s, arg in events if s == sid]


@contextlib.contextmanager
def call_options(**extra: Any) -> Iterator[list]:
    """Adds CALL.Options autobahn-python has no API for to the CALLs built inside the block."""
    original = message.Call.marshal
    applied: list = []

    def marshal(self: message.Call) -> list:
        wire = original(self)
        wire[2] = {**wire[2], **extra}
        applied.append(wire[2])
        return wire

    message.Call.marshal = marshal
    try:
        yield applied
    finally:
        message.Call.marshal = original


@contextlib.contextmanager
def without_feature(role_name: str, feature: str) -> Iterator[None]:
    """Sessions created inside the block leave `feature` of `role_name` out of their HELLO."""
    original = role.DEFAULT_CLIENT_ROLES
    changed = dict(original)
    changed[role_name] = copy.copy(original[role_name])
    setattr(changed[role_name], feature, None)
    role.DEFAULT_CLIENT_ROLES = changed
    try:
        yield
    finally:
        role.DEFAULT_CLIENT_ROLES = original


# --- lifecycle events ---------------------------------------------------------------------


def test_subscription_lifecycle_events_reach_a_watcher_on_the_other_port(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        watch = await Watch.start(await peers.connect("B"))
        first = await peers.connect("A")
        second = await peers.connect("B")
        sub = await within(first.subscribe(lambda *a: None, uri("t")))
        again = await within(second.subscribe(lambda *a: None, uri("t")))
        assert again.id == sub.id
        details = await within(second.call("wamp.subscription.get", sub.id))
        await within(sub.unsubscribe())
        # Once every shard has answered, the home of the subscription has first's
        # change, so it is second's leave that deletes the subscription.
        assert await within(second.call("wamp.subscription.count_subscribers", sub.id)) == 1
        await within(again.unsubscribe())
        events = await watch.after_sentinels(peers, uri)
        assert about(events, first) == [
            ("subscription.on_create", details),
            ("subscription.on_subscribe", sub.id),
            ("subscription.on_unsubscribe", sub.id),
        ]
        assert about(events, second) == [
            ("subscription.on_subscribe", sub.id),
            ("subscription.on_unsubscribe", sub.id),
            ("subscription.on_delete", sub.id),
        ]
        assert details["id"] == sub.id and details["uri"] == uri("t") and details["match"] == "exact"
        assert isinstance(details["created"], str) and "T" in details["created"]

    run(router, wire, body)


def test_registration_lifecycle_events_reach_a_watcher_on_the_other_port(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        watch = await Watch.start(await peers.connect("B"))
        first = await peers.connect("A")
        second = await peers.connect("B")
        shared = RegisterOptions(invoke="roundrobin")
        reg = await within(first.register(lambda: "first", uri("p"), options=shared))
        other = await within(second.register(lambda: "second", uri("p"), options=shared))
        assert other.id == reg.id
        details = await within(second.call("wamp.registration.get", reg.id))
        await within(reg.unregister())
        await within(second.call("wamp.session.count"))  # every shard answers: the home has first's change
        await within(other.unregister())
        events = await watch.after_sentinels(peers, uri)
        assert about(events, first) == [
            ("registration.on_create", details),
            ("registration.on_register", reg.id),
            ("registration.on_unregister", reg.id),
        ]
        assert about(events, second) == [
            ("registration.on_register", reg.id),
            ("registration.on_unregister", reg.id),
            ("registration.on_delete", reg.id),
        ]
        assert (details["id"], details["uri"], details["match"]) == (reg.id, uri("p"), "exact")
        assert details["invoke"] == "roundrobin"

    run(router, wire, body)


# Crossbar 26.10 publishes the events of a leaving session after it has
# forgotten the session's ID: on_unsubscribe, on_delete, on_unregister and
# on_delete arrive with session None.
@pytest.mark.crossbar_differs
def test_a_subscriber_leaving_with_goodbye_is_unsubscribed_and_its_subscription_deleted(
    router: Router, wire: Wire, uri
) -> None:
    async def body(peers: Peers) -> None:
        watch = await Watch.start(await peers.connect("B"))
        leaver = await peers.connect("A")
        sub = await within(leaver.subscribe(lambda *a: None, uri("t")))
        reg = await within(leaver.register(lambda: None, uri("p")))
        sid = session_id(leaver)
        leaver.leave()
        await within(leaver.closed)
        ends = {("subscription.on_delete", sid, sub.id), ("registration.on_delete", sid, reg.id)}
        await watch.until(lambda seen: ends <= set((e, s, a) for e, s, a in seen if not isinstance(a, dict)))
        events = [(e, a) for e, s, a in watch.seen if s == sid and not isinstance(a, dict)]
        assert [e for e in events if e[0].startswith("subscription.")] == [
            ("subscription.on_subscribe", sub.id),
            ("subscription.on_unsubscribe", sub.id),
            ("subscription.on_delete", sub.id),
        ]
        assert [e for e in events if e[0].startswith("registration.")] == [
            ("registration.on_register", reg.id),
            ("registration.on_unregister", reg.id),
            ("registration.on_delete", reg.id),
        ]

    run(router, wire, body)


# --- get, lookup, subscribers, callees -----------------------------------------------------


def test_subscribers_on_both_ports_are_listed_and_counted(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        caller = await peers.connect("B")
        subscribers = [await peers.connect(side) for side in ("A", "B", "A")]
        subs = [await within(s.subscribe(lambda *a: None, uri("t"))) for s in subscribers]
        sub_id = subs[0].id
        assert {s.id for s in subs} == {sub_id}
        listed = await within(caller.call("wamp.subscription.list_subscribers", sub_id))
        assert sorted(listed) == sorted(session_id(s) for s in subscribers)
        assert await within(caller.call("wamp.subscription.count_subscribers", sub_id)) == 3
        assert await within(caller.call("wamp.subscription.lookup", uri("t"))) == sub_id
        listing = await within(caller.call("wamp.subscription.list"))
        assert sub_id in listing["exact"]
        details = await within(caller.call("wamp.subscription.get", sub_id))
        assert (details["id"], details["uri"], details["match"]) == (sub_id, uri("t"), "exact")
        await within(subs[1].unsubscribe())
        listed = await within(caller.call("wamp.subscription.list_subscribers", sub_id))
        assert sorted(listed) == sorted(session_id(s) for s in (subscribers[0], subscribers[2]))
        assert await within(caller.call("wamp.subscription.count_subscribers", sub_id)) == 2

    run(router, wire, body)


def test_callees_on_both_ports_are_listed_and_counted(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        caller = await peers.connect("B")
        callees = [await peers.connect(side) for side in ("A", "B", "A")]
        shared = RegisterOptions(invoke="first")
        regs = [await within(c.register(lambda: None, uri("p"), options=shared)) for c in callees]
        reg_id = regs[0].id
        listed = await within(caller.call("wamp.registration.list_callees", reg_id))
        assert sorted(listed) == sorted(session_id(c) for c in callees)
        assert await within(caller.call("wamp.registration.count_callees", reg_id)) == 3
        assert await within(caller.call("wamp.registration.lookup", uri("p"))) == reg_id
        assert await within(caller.call("wamp.registration.match", uri("p"))) == reg_id
        details = await within(caller.call("wamp.registration.get", reg_id))
        assert (details["id"], details["uri"], details["match"], details["invoke"]) == (reg_id, uri("p"), "exact", "first")

    run(router, wire, body)


def test_unknown_ids_get_no_such_subscription_and_no_such_registration(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        caller = await peers.connect("B")
        member = await peers.connect("A")
        unknown = 999_999_999
        for procedure in ("get", "list_subscribers", "count_subscribers"):
            error = await expect_error(caller.call(f"wamp.subscription.{procedure}", unknown))
            assert error.error == "wamp.error.no_such_subscription", procedure
        for procedure in ("get", "list_callees", "count_callees"):
            error = await expect_error(caller.call(f"wamp.registration.{procedure}", unknown))
            assert error.error == "wamp.error.no_such_registration", procedure
        error = await expect_error(caller.call("wamp.subscription.remove_subscriber", unknown, session_id(member)))
        assert error.error == "wamp.error.no_such_subscription"
        error = await expect_error(caller.call("wamp.registration.remove_callee", unknown, session_id(member)))
        assert error.error == "wamp.error.no_such_registration"
        sub = await within(member.subscribe(lambda *a: None, uri("t")))
        error = await expect_error(caller.call("wamp.subscription.remove_subscriber", sub.id, 2**53 - 7))
        assert error.error == "wamp.error.no_such_session"

    run(router, wire, body)


# Crossbar 26.10 answers wamp.error.no_such_subscription / no_such_registration
# ("session ... is not subscribed on subscription ...") when the session exists
# but is not a subscriber or callee.
@pytest.mark.crossbar_differs
def test_revoking_a_session_that_is_not_a_member_gets_no_such_session(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        admin = await peers.connect("B")
        member = await peers.connect("A")
        stranger = await peers.connect("A")
        sub = await within(member.subscribe(lambda *a: None, uri("t")))
        reg = await within(member.register(lambda: None, uri("p")))
        error = await expect_error(admin.call("wamp.subscription.remove_subscriber", sub.id, session_id(stranger)))
        assert error.error == "wamp.error.no_such_session"
        error = await expect_error(admin.call("wamp.registration.remove_callee", reg.id, session_id(stranger)))
        assert error.error == "wamp.error.no_such_session"

    run(router, wire, body)


# --- revocation ----------------------------------------------------------------------------


def test_remove_subscriber_sends_autobahn_python_its_notice_and_autobahn_drops_the_connection(
    router: Router, wire: Wire, uri
) -> None:
    async def body(peers: Peers) -> None:
        admin = await peers.connect("B")
        stays = await peers.connect("B")
        revoked = await peers.connect("A")
        tap = Tap(revoked)
        sub = await within(revoked.subscribe(lambda *a: None, uri("t")))
        await within(stays.subscribe(lambda *a: None, uri("t")))
        answer = await within(admin.call("wamp.subscription.remove_subscriber", sub.id, session_id(revoked), REASON))
        assert answer is None, "remove_subscriber answers with no result"
        notice = await tap.first(message.Unsubscribed)
        assert (notice.request, notice.subscription, notice.reason) == (0, sub.id, REASON)
        # autobahn-python 26.10 announces subscription_revocation but takes UNSUBSCRIBED only as
        # the reply to an UNSUBSCRIBE of its own: request 0 raises ProtocolError ("UNSUBSCRIBED
        # received for non-pending request ID 0") and it drops the connection.
        await within(asyncio.shield(revoked.closed))
        listed = await within(admin.call("wamp.subscription.list_subscribers", sub.id))
        assert listed == [session_id(stays)]

    run(router, wire, body)


def test_remove_subscriber_without_the_feature_removes_silently(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        admin = await peers.connect("B")
        publisher = await peers.connect("B")
        with without_feature("subscriber", "subscription_revocation"):
            revoked = await peers.connect("A")
        tap = Tap(revoked)
        got: list = []
        sub = await within(revoked.subscribe(lambda x: got.append(x), uri("t")))
        sentinel = asyncio.get_running_loop().create_future()
        await within(revoked.subscribe(lambda x: sentinel.set_result(x), uri("after")))
        assert await within(admin.call("wamp.subscription.remove_subscriber", sub.id, session_id(revoked))) is None
        # Events of one publisher arrive in order: once the sentinel is in, the
        # revoked subscription's event would have been too.
        await within(publisher.publish(uri("t"), "revoked", options=PublishOptions(acknowledge=True)))
        await within(publisher.publish(uri("after"), "sentinel", options=PublishOptions(acknowledge=True)))
        assert await within(sentinel) == "sentinel"
        assert got == []
        assert not [m for m in tap.received if isinstance(m, message.Unsubscribed)], "no notice"
        assert revoked.is_attached()

    run(router, wire, body)


# Crossbar 26.10 fails wamp.registration.remove_callee with wamp.error.runtime_error
# "'NoneType' object has no attribute 'forward_for'" (its dealer reads the
# UNREGISTER message it does not have) after it has already dropped the callee,
# and sends no notice.
@pytest.mark.crossbar_differs
def test_remove_callee_sends_autobahn_python_its_notice_and_the_session_stays(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        admin = await peers.connect("B")
        caller = await peers.connect("B")
        callee = await peers.connect("A")
        tap = Tap(callee)
        reg = await within(callee.register(lambda: "served", uri("p")))
        await within(callee.register(lambda: "pong", uri("ping")))
        assert await within(caller.call(uri("p"))) == "served"
        answer = await within(admin.call("wamp.registration.remove_callee", reg.id, session_id(callee), REASON))
        assert answer is None, "remove_callee answers with no result"
        notice = await tap.first(message.Unregistered)
        assert (notice.request, notice.registration, notice.reason) == (0, reg.id, REASON)
        # autobahn-python logs the revocation and keeps the session.
        assert await within(caller.call(uri("ping"))) == "pong"
        error = await expect_error(caller.call(uri("p")))
        assert error.error == "wamp.error.no_such_procedure"

    run(router, wire, body)


# Crossbar differs as for the notice above: remove_callee answers wamp.error.runtime_error.
@pytest.mark.crossbar_differs
def test_remove_callee_without_the_feature_removes_silently(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        admin = await peers.connect("B")
        caller = await peers.connect("B")
        with without_feature("callee", "registration_revocation"):
            callee = await peers.connect("A")
        tap = Tap(callee)
        reg = await within(callee.register(lambda: "served", uri("p")))
        await within(callee.register(lambda: "pong", uri("ping")))
        assert await within(admin.call("wamp.registration.remove_callee", reg.id, session_id(callee))) is None
        # A notice would have reached the callee before the ping's INVOCATION.
        assert await within(caller.call(uri("ping"))) == "pong"
        assert not [m for m in tap.received if isinstance(m, message.Unregistered)], "no notice"
        error = await expect_error(caller.call(uri("p")))
        assert error.error == "wamp.error.no_such_procedure"

    run(router, wire, body)


# --- sharded registration ------------------------------------------------------------------


async def partition_callees(peers: Peers, procedure: str) -> list[Peer]:
    """CALLEES callees of one roundrobin registration, on A and B in turn; callee i answers i."""
    callees = []
    ids = set()
    for index in range(CALLEES):
        callee = await peers.connect("A" if index % 2 == 0 else "B")
        registration = await within(
            callee.register(lambda index=index: index, procedure, options=RegisterOptions(invoke="roundrobin"))
        )
        ids.add(registration.id)
        callees.append(callee)
    assert len(ids) == 1, f"one shared registration, got {ids}"
    return callees


async def owner(caller: Peer, procedure: str, key: str) -> int:
    with call_options(runmode="partition", rkey=key) as applied:
        call = caller.call(procedure)
    assert applied == [{"runmode": "partition", "rkey": key}]
    return await within(call)


# Crossbar 26.10 has no sharded registrations: it ignores runmode and rkey and
# invokes by the registration's policy (roundrobin here).
@pytest.mark.crossbar_differs
def test_a_partition_key_reaches_the_same_callee_from_both_ports(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        await partition_callees(peers, uri("p"))
        on_a = await peers.connect("A")
        on_b = await peers.connect("B")
        owners = []
        # Each key from A, B and A again in a row: a policy such as round robin
        # would send consecutive calls to different callees.
        for key in (f"device-{i}" for i in range(KEYS)):
            served = [await owner(on_a, uri("p"), key), await owner(on_b, uri("p"), key)]
            served.append(await owner(on_a, uri("p"), key))
            assert served == [served[0]] * 3, f"key {key} from both ports: {served}"
            owners.append(served[0])
        assert set(owners) == set(range(CALLEES)), f"{KEYS} keys reach every callee: {owners}"

    run(router, wire, body)


# Crossbar 26.10 ignores runmode (and so the missing rkey): the call succeeds.
@pytest.mark.crossbar_differs
def test_runmode_partition_without_rkey_gets_invalid_argument(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        await partition_callees(peers, uri("p"))
        caller = await peers.connect("B")
        for options in ({"runmode": "partition"}, {"runmode": "all", "rkey": "k"}):
            with call_options(**options):
                call = caller.call(uri("p"))
            error = await expect_error(call)
            assert error.error == "wamp.error.invalid_argument", options
        assert await within(caller.call(uri("p"))) in range(CALLEES), "the caller is unharmed"

    run(router, wire, body)
