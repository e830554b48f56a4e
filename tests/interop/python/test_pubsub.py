"""Publish/subscribe through the router under test, with autobahn-python clients.

Owns: fan-out to subscribers on both ports, publisher exclusion, payloads across
serializers, the subscribe-then-publish causal check across shards, and
unsubscribe. Relies on the spec's ordering rule: events from one publisher reach
one subscriber in publication order, across topics; tests use that to prove an
event was *not* delivered without sleeping.
"""

from __future__ import annotations

import asyncio
from typing import Any

from autobahn.wamp.types import PublishOptions

from interop_client import SERIALIZERS, Peers, Router, Wire, reply, run

# Subscribers in the fan-out test, alternating between ports A and B.
FANOUT_SUBSCRIBERS = 5
# Events in one fan-out burst.
FANOUT_EVENTS = 100
# Fresh subscribe -> publish rounds in the causal check; any miss fails.
CAUSAL_ROUNDS = 200
# Seconds a subscriber waits for the event in one causal round.
CAUSAL_EVENT_TIMEOUT = 5.0

ACK = PublishOptions(acknowledge=True)
ACK_INCLUDE_ME = PublishOptions(acknowledge=True, exclude_me=False)

# One payload with the values that differ most between serializers.
MIXED_ARGS = ["ünïcödé ✓ 日本 🎉", 2**53, -(2**53), -7, 0.125, b"\x00\xffbinary\x01", [1, [2, {"x": None}]]]
MIXED_KWARGS = {
    "blob": bytes(range(255, -1, -1)),
    "big": 2**53,
    "text": "Ωμέγα",
    "ключ": {"nested": [True, False, None, {"deep": b"\x10"}]},
    "pi": 3.141592653589793,
}


class Inbox:
    """Collects the events one subscription receives, and wakes waiters."""

    def __init__(self) -> None:
        self.events: list[tuple[list, dict]] = []
        self._changed = asyncio.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.events.append((list(args), dict(kwargs)))
        self._changed.set()

    async def wait_for_count(self, count: int) -> list[tuple[list, dict]]:
        while len(self.events) < count:
            self._changed.clear()
            await reply(self._changed.wait())
        return self.events


def test_fanout_burst_reaches_every_subscriber_in_order(router: Router, wire: Wire, uri) -> None:
    topic = uri("fanout")

    async def body(peers: Peers) -> None:
        inboxes = []
        for i in range(FANOUT_SUBSCRIBERS):
            subscriber = await peers.connect("AB"[i % 2])
            inbox = Inbox()
            await reply(subscriber.subscribe(inbox, topic))
            inboxes.append(inbox)
        publisher = await peers.connect("A")

        acks = [
            publisher.publish(topic, n, f"event-{n}", b"\x00" + n.to_bytes(2, "big"), seq=n, tag="✓", options=ACK)
            for n in range(FANOUT_EVENTS)
        ]
        publications = await reply(asyncio.gather(*acks))
        assert len({p.id for p in publications}) == FANOUT_EVENTS, "publication ids must be distinct"

        expected = [
            ([n, f"event-{n}", b"\x00" + n.to_bytes(2, "big")], {"seq": n, "tag": "✓"})
            for n in range(FANOUT_EVENTS)
        ]
        for inbox in inboxes:
            assert await inbox.wait_for_count(FANOUT_EVENTS) == expected

    run(router, wire, body)


def test_publisher_is_excluded_by_default_and_included_with_exclude_me_false(
    router: Router, wire: Wire, uri
) -> None:
    topic = uri("self")

    async def body(peers: Peers) -> None:
        publisher = await peers.connect("A")
        other = await peers.connect("B")
        own_inbox, other_inbox = Inbox(), Inbox()
        await reply(publisher.subscribe(own_inbox, topic))
        await reply(other.subscribe(other_inbox, topic))

        await reply(publisher.publish(topic, "excluded", options=ACK))
        await reply(publisher.publish(topic, "included", options=ACK_INCLUDE_ME))

        # Same publisher, same subscriber: events arrive in order, so once
        # "included" is in, "excluded" would already have arrived.
        assert await own_inbox.wait_for_count(1) == [(["included"], {})]
        assert await other_inbox.wait_for_count(2) == [(["excluded"], {}), (["included"], {})]

    run(router, wire, body)


def test_subscribers_on_every_serializer_get_identical_payloads(
    router: Router, wire: Wire, uri
) -> None:
    topic = uri("mixed")

    async def body(peers: Peers) -> None:
        inboxes: dict[str, Inbox] = {}
        for i, serializer in enumerate(SERIALIZERS):
            for side in "AB":
                subscriber = await peers.connect(side, serializer=serializer)
                inbox = Inbox()
                await reply(subscriber.subscribe(inbox, topic))
                inboxes[f"{serializer}@{side}"] = inbox
        publisher = await peers.connect("A")

        await reply(publisher.publish(topic, *MIXED_ARGS, **MIXED_KWARGS, options=ACK))
        for name, inbox in inboxes.items():
            [(args, kwargs)] = await inbox.wait_for_count(1)
            assert args == MIXED_ARGS, f"{wire.serializer} publisher -> {name} subscriber"
            assert kwargs == MIXED_KWARGS, f"{wire.serializer} publisher -> {name} subscriber"
            assert isinstance(args[5], bytes) and isinstance(kwargs["blob"], bytes)
            assert type(args[1]) is int

    run(router, wire, body)


def test_event_published_right_after_subscribed_is_delivered_across_shards(
    router: Router, wire: Wire, uri
) -> None:
    async def body(peers: Peers) -> None:
        subscriber = await peers.connect("A")
        publisher = await peers.connect("B")
        for round_no in range(CAUSAL_ROUNDS):
            topic = uri(f"causal.r{round_no}")
            got = asyncio.get_running_loop().create_future()

            def on_event(n: int, _got: asyncio.Future = got) -> None:
                if not _got.done():
                    _got.set_result(n)

            subscription = await reply(subscriber.subscribe(on_event, topic))
            # SUBSCRIBED is in: the subscription must now be visible on every shard.
            publisher.publish(topic, round_no)
            try:
                assert await asyncio.wait_for(got, CAUSAL_EVENT_TIMEOUT) == round_no
            except asyncio.TimeoutError:
                raise AssertionError(
                    f"round {round_no}: event published after SUBSCRIBED was never delivered"
                ) from None
            await reply(subscription.unsubscribe())

    run(router, wire, body)


def test_no_events_arrive_after_unsubscribe(router: Router, wire: Wire, uri) -> None:
    topic, sentinel = uri("gone"), uri("sentinel")

    async def body(peers: Peers) -> None:
        subscriber = await peers.connect("A")
        publisher = await peers.connect("B")
        inbox, sentinel_inbox = Inbox(), Inbox()
        subscription = await reply(subscriber.subscribe(inbox, topic))
        await reply(subscriber.subscribe(sentinel_inbox, sentinel))

        await reply(publisher.publish(topic, "before", options=ACK))
        assert await inbox.wait_for_count(1) == [(["before"], {})]

        await reply(subscription.unsubscribe())
        await reply(publisher.publish(topic, "after", options=ACK))
        await reply(publisher.publish(sentinel, "sentinel", options=ACK))
        # Ordering across topics per publisher: "after" would precede "sentinel".
        await sentinel_inbox.wait_for_count(1)
        assert inbox.events == [(["before"], {})]

    run(router, wire, body)

