"""Advanced Profile Pub/Sub through the router under test, with autobahn-python on every end.

Owns: publisher identification (`disclose_me` gives EVENT.Details `publisher`,
`publisher_authid`, `publisher_authrole`) and subscriber black- and
whitelisting (`eligible`, `exclude` and their `_authid` / `_authrole` forms, all
of them combined, then `exclude_me`). Subscribers sit on ports A and B in turn
and publishers on A, so on wampyard every list is applied on two shards.

autobahn-python 26.10 has no `PublishOptions(disclose_me=...)`, and it asserts
the types of the lists itself; the tests merge what it has no API for into the
Options of autobahn's own PUBLISH (`publish_extra`), as test_rpc_advanced.py
does for CALL and REGISTER. Sessions with an authid of their own send it in
HELLO.Details through `ApplicationSession.join(authid=...)` (`connect_as`).
Expected deliveries are computed from the authid and authrole each session got
in WELCOME, so they hold for any router's anonymous authentication.

"Nobody else got it" is proven without sleeping: events from one publisher reach
one subscriber in order, so the tests publish a sentinel to everyone after the
events under test and look at what arrived before it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Iterator

import pytest
from autobahn.asyncio.rawsocket import WampRawSocketClientFactory
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import message
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import ComponentConfig, PublishOptions, SubscribeOptions

import interop_client
from interop_client import SERIALIZERS, Peer, Peers, Router, Wire, run

# Seconds the router may take for anything it must do at once (an event, an
# acknowledgement); short so a router that never answers fails fast.
PROMPT = 2.0
SENTINEL = "sentinel"
WITH_DETAILS = SubscribeOptions(details=True)


async def within(awaitable: Any, seconds: float = PROMPT) -> Any:
    return await asyncio.wait_for(awaitable, seconds)


class NamedPeer(Peer):
    """A Peer that sends an authid of its choosing in HELLO.Details (None: none)."""

    def __init__(self, config: ComponentConfig, name: str, authid: str | None) -> None:
        super().__init__(config, name)
        self.requested_authid = authid

    def onConnect(self) -> None:
        self.join(self.config.realm, authid=self.requested_authid)


async def connect_as(peers: Peers, side: str, authid: str | None = None, serializer: str | None = None) -> Peer:
    """Joins a session on port A or B like Peers.connect, sending authid in HELLO.

    The session is closed with the test's others (it joins peers' list).
    """
    ser_name = serializer or peers.wire.serializer
    transport = peers.wire.transport
    port = peers.router.port(side)
    peer = NamedPeer(
        ComponentConfig(realm=peers.router.realm), f"{transport}-{ser_name}@{side}:{authid}", authid
    )
    ser = interop_client._SERIALIZER_TYPES[ser_name]()
    if transport == "websocket":
        url = f"ws://{peers.router.host}:{port}{peers.router.ws_path}"
        factory = WampWebSocketClientFactory(lambda: peer, url=url, serializers=[ser])
    else:
        factory = WampRawSocketClientFactory(lambda: peer, serializer=ser)
    peers._peers.append(peer)
    loop = asyncio.get_running_loop()
    socket, _protocol = await asyncio.wait_for(
        loop.create_connection(factory, peers.router.host, port), interop_client.JOIN_TIMEOUT
    )
    peer.socket = socket
    await asyncio.wait_for(asyncio.shield(peer.joined), interop_client.JOIN_TIMEOUT)
    return peer


def session_id(peer: Peer) -> int:
    return peer.joined.result().session


def authid(peer: Peer) -> str:
    return peer.joined.result().authid


def authrole(peer: Peer) -> str:
    return peer.joined.result().authrole


@contextlib.contextmanager
def publish_extra(**extra: Any) -> Iterator[list]:
    """Merges options autobahn-python has no API for into PUBLISHes built inside the block.

    publish() builds and serializes the message before it returns, so wrap only
    that synchronous part. The list it yields gets the Options of each PUBLISH.
    """
    original = message.Publish.marshal
    applied: list = []

    def marshal(self: message.Message) -> list:
        wire = original(self)
        wire[2] = {**wire[2], **extra}
        applied.append(wire[2])
        return wire

    message.Publish.marshal = marshal
    try:
        yield applied
    finally:
        message.Publish.marshal = original


class Inbox:
    """Collects the events of one subscription, with their details."""

    def __init__(self) -> None:
        self.events: list[tuple[list, Any]] = []
        self._read = 0
        self._changed = asyncio.Event()

    def __call__(self, *args: Any, details: Any = None, **kwargs: Any) -> None:
        self.events.append((list(args), details))
        self._changed.set()

    async def next(self) -> tuple[list, Any]:
        while len(self.events) <= self._read:
            self._changed.clear()
            await within(self._changed.wait())
        self._read += 1
        return self.events[self._read - 1]

    async def until_sentinel(self) -> list:
        """The first arguments of the events before the next sentinel."""
        tags = []
        while True:
            args, _ = await self.next()
            if args == [SENTINEL]:
                return tags
            tags.append(args[0])


async def subscribe_all(peers: Peers, topic: str, authids: list[str | None]) -> tuple[list[Peer], list[Inbox]]:
    """Subscribers of topic, joined with authids, on ports A and B in turn."""
    subs, inboxes, ids = [], [], []
    for i, name in enumerate(authids):
        sub = await connect_as(peers, "AB"[i % 2], name)
        inbox = Inbox()
        ids.append((await within(sub.subscribe(inbox, topic, options=WITH_DETAILS))).id)
        subs.append(sub)
        inboxes.append(inbox)
    assert len(set(ids)) == 1, f"one subscription per topic, got {ids}"
    return subs, inboxes


async def who_got(publisher: Peer, topic: str, inboxes: list[Inbox], tag: str, options: PublishOptions) -> list[bool]:
    """Publishes tag with options, then the sentinel to everyone; who got tag."""
    await within(publisher.publish(topic, tag, options=options))
    await within(publisher.publish(topic, SENTINEL, options=PublishOptions(acknowledge=True, exclude_me=False)))
    got = [await inbox.until_sentinel() for inbox in inboxes]
    assert all(g in ([], [tag]) for g in got), f"unexpected events before the sentinel: {got}"
    return [g == [tag] for g in got]


def ack(**lists: Any) -> PublishOptions:
    return PublishOptions(acknowledge=True, **lists)


# --- the handshake ---------------------------------------------------------------


def test_welcome_announces_publisher_identification_and_subscriber_blackwhite_listing(
    router: Router, wire: Wire
) -> None:
    async def body(peers: Peers) -> None:
        peer = await peers.connect("A")
        broker = peer._router_roles["broker"]
        assert broker.publisher_identification is True
        assert broker.subscriber_blackwhite_listing is True
        assert broker.publisher_exclusion is True

    run(router, wire, body)


# Crossbar 26.10, with no authentication configured, gives an anonymous session
# an authid of its own and ignores the one in HELLO.
@pytest.mark.crossbar_differs
def test_an_anonymous_session_keeps_the_authid_it_sent(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        named = await connect_as(peers, "A", "alice")
        assert (authid(named), authrole(named)) == ("alice", "anonymous")
        plain = await connect_as(peers, "B", None)
        assert authid(plain), "a session that sent no authid gets one"
        assert authrole(plain) == "anonymous"

    run(router, wire, body)


# --- publisher identification ----------------------------------------------------


# Crossbar 26.10 ignores PUBLISH.Options.disclose_me: only its role configuration
# ("disclose": {"publisher": ...}, false in the test config) decides, so the
# subscribers see publisher=None.
@pytest.mark.crossbar_differs
def test_disclose_me_gives_subscribers_the_publisher_session_authid_and_authrole(
    router: Router, wire: Wire, uri
) -> None:
    topic = uri("disclosed")

    async def body(peers: Peers) -> None:
        _, inboxes = await subscribe_all(peers, topic, [None, None])
        publisher = await connect_as(peers, "A", "alice")
        with publish_extra(disclose_me=True) as applied:
            publishing = publisher.publish(topic, "x", options=ack())
        assert applied == [{"acknowledge": True, "disclose_me": True}]
        await within(publishing)
        for inbox in inboxes:
            args, details = await inbox.next()
            assert args == ["x"]
            assert details.publisher == session_id(publisher)
            assert details.publisher_authid == authid(publisher)
            assert details.publisher_authrole == authrole(publisher)

        # Disclosure is per publication: the next one without it is anonymous.
        await within(publisher.publish(topic, "y", options=ack()))
        for inbox in inboxes:
            args, details = await inbox.next()
            assert args == ["y"]
            assert (details.publisher, details.publisher_authid, details.publisher_authrole) == (None, None, None)

    run(router, wire, body)


def test_the_publisher_stays_hidden_without_disclose_me(router: Router, wire: Wire, uri) -> None:
    topic = uri("hidden")

    async def body(peers: Peers) -> None:
        _, inboxes = await subscribe_all(peers, topic, [None, None])
        publisher = await connect_as(peers, "A", "alice")
        await within(publisher.publish(topic, "x", options=ack()))
        with publish_extra(disclose_me=False):
            publishing = publisher.publish(topic, "y", options=ack())
        await within(publishing)
        for inbox in inboxes:
            for tag in ("x", "y"):
                args, details = await inbox.next()
                assert args == [tag]
                assert (details.publisher, details.publisher_authid, details.publisher_authrole) == (None, None, None)

    run(router, wire, body)


# --- black- and whitelists by session ------------------------------------------------


def test_eligible_delivers_only_to_the_listed_sessions(router: Router, wire: Wire, uri) -> None:
    topic = uri("eligible")

    async def body(peers: Peers) -> None:
        subs, inboxes = await subscribe_all(peers, topic, [None] * 4)
        ids = [session_id(s) for s in subs]
        publisher = await connect_as(peers, "A")
        assert await who_got(publisher, topic, inboxes, "a", ack(eligible=[ids[0], ids[3]])) == [
            True, False, False, True
        ]
        assert await who_got(publisher, topic, inboxes, "b", ack(eligible=[ids[2]])) == [False, False, True, False]
        # Naming a session that is not subscribed (the publisher) changes nothing.
        eligible = [session_id(publisher), ids[1]]
        assert await who_got(publisher, topic, inboxes, "c", ack(eligible=eligible)) == [False, True, False, False]

    run(router, wire, body)


def test_exclude_drops_the_listed_sessions(router: Router, wire: Wire, uri) -> None:
    topic = uri("exclude")

    async def body(peers: Peers) -> None:
        subs, inboxes = await subscribe_all(peers, topic, [None] * 4)
        ids = [session_id(s) for s in subs]
        publisher = await connect_as(peers, "A")
        assert await who_got(publisher, topic, inboxes, "a", ack(exclude=[ids[1], ids[2]])) == [
            True, False, False, True
        ]
        assert await who_got(publisher, topic, inboxes, "b", ack(exclude=[ids[3]])) == [True, True, True, False]

    run(router, wire, body)


# --- by authid and authrole ---------------------------------------------------------


def test_eligible_authid_and_exclude_authid_select_subscribers_by_authid(router: Router, wire: Wire, uri) -> None:
    topic = uri("authid")

    async def body(peers: Peers) -> None:
        subs, inboxes = await subscribe_all(peers, topic, ["alice", "alice", "bob", None])
        authids = [authid(s) for s in subs]
        publisher = await connect_as(peers, "A", "alice")
        cases = [
            ("a", {"eligible_authid": [authids[0]]}, lambda a: a == authids[0]),
            ("b", {"eligible_authid": [authids[2], authids[3]]}, lambda a: a in (authids[2], authids[3])),
            ("c", {"exclude_authid": [authids[0]]}, lambda a: a != authids[0]),
            ("d", {"exclude_authid": ["nobody", authids[2]]}, lambda a: a != authids[2]),
            # Authids are compared exactly.
            ("e", {"eligible_authid": [authids[0][:-1], authids[0] + " ", " " + authids[0]]}, lambda a: False),
        ]
        for tag, lists, admits in cases:
            got = await who_got(publisher, topic, inboxes, tag, ack(**lists))
            assert got == [admits(a) for a in authids], f"{lists} with authids {authids}"

    run(router, wire, body)


def test_eligible_authrole_and_exclude_authrole_select_subscribers_by_authrole(
    router: Router, wire: Wire, uri
) -> None:
    topic = uri("authrole")

    async def body(peers: Peers) -> None:
        subs, inboxes = await subscribe_all(peers, topic, ["alice", None, "bob"])
        roles = {authrole(s) for s in subs}
        assert len(roles) == 1, f"every session here has the same role: {roles}"
        role = roles.pop()
        publisher = await connect_as(peers, "A")
        for tag, lists, all_get in [
            ("a", {"eligible_authrole": [role]}, True),
            ("b", {"eligible_authrole": ["admin", "user"]}, False),
            ("c", {"exclude_authrole": [role]}, False),
            ("d", {"exclude_authrole": ["admin"]}, True),
        ]:
            assert await who_got(publisher, topic, inboxes, tag, ack(**lists)) == [all_get] * 3, lists

    run(router, wire, body)


# --- combined ---------------------------------------------------------------------


def test_every_whitelist_must_admit_a_subscriber_and_no_blacklist_may_name_it(
    router: Router, wire: Wire, uri
) -> None:
    topic = uri("combined")

    async def body(peers: Peers) -> None:
        subs, inboxes = await subscribe_all(peers, topic, ["alice", "alice", "bob", "alice", "carol"])
        ids = [session_id(s) for s in subs]
        authids = [authid(s) for s in subs]
        publisher = await connect_as(peers, "A")

        def expect(eligible=None, eligible_authid=None, exclude=(), exclude_authid=()) -> list[bool]:
            return [
                (eligible is None or ids[i] in eligible)
                and (eligible_authid is None or authids[i] in eligible_authid)
                and ids[i] not in exclude
                and authids[i] not in exclude_authid
                for i in range(len(subs))
            ]

        cases = [
            # 0 and 4 are admitted; 1 is excluded by session; 2's authid is not
            # eligible; 3's session is not eligible.
            dict(eligible=[ids[0], ids[1], ids[2], ids[4]], eligible_authid=[authids[0], authids[4]], exclude=[ids[1]]),
            dict(eligible=[ids[0], ids[2], ids[4]], eligible_authid=[authids[0]], exclude_authid=[authids[4]]),
            dict(eligible=[ids[2], ids[3]], exclude_authid=[authids[3]]),
            dict(eligible=[ids[0]], exclude=[ids[0]]),
        ]
        for n, lists in enumerate(cases):
            assert await who_got(publisher, topic, inboxes, f"case-{n}", ack(**lists)) == expect(**lists), lists
        role = authrole(subs[0])
        roles = ack(eligible=[ids[2], ids[3]], eligible_authrole=[role], exclude_authrole=["admin"])
        got = await who_got(publisher, topic, inboxes, "roles", roles)
        assert got == [False, False, True, True, False]

    run(router, wire, body)


# Crossbar 26.10 treats an empty eligible list as no list (everyone gets the event).
@pytest.mark.crossbar_differs
def test_an_empty_eligible_list_admits_nobody(router: Router, wire: Wire, uri) -> None:
    topic = uri("empty")

    async def body(peers: Peers) -> None:
        _, inboxes = await subscribe_all(peers, topic, ["alice", None])
        publisher = await connect_as(peers, "A")
        for tag, lists in [("a", {"eligible": []}), ("b", {"eligible_authid": []}), ("c", {"eligible_authrole": []})]:
            assert await who_got(publisher, topic, inboxes, tag, ack(**lists)) == [False, False], lists

    run(router, wire, body)


def test_exclude_me_false_lets_an_eligible_publisher_receive_its_own_event(router: Router, wire: Wire, uri) -> None:
    topic = uri("self")

    async def body(peers: Peers) -> None:
        publisher = await connect_as(peers, "A", "publisher")
        own = Inbox()
        await within(publisher.subscribe(own, topic, options=WITH_DETAILS))
        subs, inboxes = await subscribe_all(peers, topic, ["other", "other"])
        me, other = session_id(publisher), session_id(subs[0])
        everyone = [own, *inboxes]
        got = await who_got(publisher, topic, everyone, "a", ack(exclude_me=False, eligible=[me]))
        assert got == [True, False, False]
        # exclude_me (true by default) still excludes an eligible publisher.
        got = await who_got(publisher, topic, everyone, "b", ack(eligible=[me, other]))
        assert got == [False, True, False]
        # A blacklist naming the publisher wins over exclude_me=False.
        got = await who_got(publisher, topic, everyone, "c", ack(exclude_me=False, exclude=[me]))
        assert got == [False, True, True]
        options = ack(exclude_me=False, eligible_authid=[authid(publisher)])
        assert await who_got(publisher, topic, everyone, "d", options) == [True, False, False]

    run(router, wire, body)


# --- across serializers --------------------------------------------------------------


# Crossbar differs as for disclose_me above (the publisher is not disclosed).
@pytest.mark.crossbar_differs
def test_lists_and_disclosure_reach_subscribers_of_every_serializer(router: Router, wire: Wire, uri) -> None:
    topic = uri("mixed")

    async def body(peers: Peers) -> None:
        subs, inboxes = [], []
        for i, serializer in enumerate(SERIALIZERS * 2):
            sub = await connect_as(peers, "AB"[i % 2], f"user{i % 3}", serializer=serializer)
            inbox = Inbox()
            await within(sub.subscribe(inbox, topic, options=WITH_DETAILS))
            subs.append(sub)
            inboxes.append(inbox)
        publisher = await connect_as(peers, "A", "alice")
        chosen = [session_id(subs[i]) for i in (0, 1, 5)]
        with publish_extra(disclose_me=True):
            publishing = publisher.publish(topic, "x", b"\x00\xff", options=ack(eligible=chosen, exclude=[chosen[1]]))
        await within(publishing)
        await within(publisher.publish(topic, SENTINEL, options=ack()))
        for i, inbox in enumerate(inboxes):
            args, details = await inbox.next()
            if i in (0, 5):
                assert args == ["x", b"\x00\xff"], f"subscriber {i}"
                assert (details.publisher, details.publisher_authid) == (session_id(publisher), authid(publisher))
                args, _ = await inbox.next()
            assert args == [SENTINEL], f"subscriber {i} ({SERIALIZERS[i % 3]}) got {args}"

    run(router, wire, body)


# --- bad lists ---------------------------------------------------------------------


# Crossbar 26.10 validates PUBLISH.Options while decoding and drops the
# connection (the client sees the transport lost) instead of answering.
@pytest.mark.crossbar_differs
@pytest.mark.parametrize(
    "key,value",
    [
        ("eligible", "1"),
        ("exclude", [1.5]),
        ("eligible_authid", [1]),
        ("exclude_authrole", "admin"),
    ],
    ids=lambda v: str(v),
)
def test_a_list_of_the_wrong_type_gets_invalid_argument(router: Router, wire: Wire, uri, key: str, value: Any) -> None:
    topic = uri("badlist")

    async def body(peers: Peers) -> None:
        _, inboxes = await subscribe_all(peers, topic, [None])
        publisher = await connect_as(peers, "A")
        with publish_extra(**{key: value}):
            publishing = publisher.publish(topic, "bad", options=ack())
        try:
            await within(publishing)
        except ApplicationError as error:
            assert error.error == "wamp.error.invalid_argument"
        else:
            raise AssertionError(f"{key}={value!r} was accepted")
        # Nothing was delivered, and the session goes on.
        await within(publisher.publish(topic, SENTINEL, options=ack()))
        assert await inboxes[0].until_sentinel() == []

    run(router, wire, body)
