"""Event retention and event history through the router under test, with autobahn-python.

Owns: PUBLISH.Options `retain` (with `acknowledge`) and SUBSCRIBE.Options
`get_retained` as autobahn-python exposes them (`PublishOptions(retain=True)`,
`SubscribeOptions(get_retained=True, details=True)`, the handler's
`details.retained`), retained events filtered by `eligible` / `exclude` and
`exclude_me`, and `wamp.subscription.get_events` through `session.call`.
Publishers join on port A, subscribers on port B (on wampyard: different
shards).

The history tests use the `[[realm.history]]` rule of tests/interop/router.toml:
every topic under `com.interop.history` keeps its last 1000 events, and
get_events answers for a prefix subscription to exactly that topic; each test
narrows the answer to its own topic with `topic=`. The reader calls from the
publisher's port: on wampyard a shard sends the events it publishes to the
rule's shard before any later question from that shard, so the history holds
every event the publisher saw acknowledged.

"Nothing else was retained" is proven without sleeping: after a get_retained
subscription the subscriber calls `wamp.session.count`, and looks at what
arrived before its result. On wampyard that call asks every shard after the
retained events were asked for, and each shard answers in order; Crossbar sends
the retained event together with SUBSCRIBED.

Crossbar.io 26.10 differs where marked `crossbar_differs` (the comment above
each test says how): its retained EVENT carries a new publication ID, it sends
no retained events to pattern subscriptions, it sends a publisher its own
retained event, it leaves a get_retained SUBSCRIBE unanswered when the retained
event has `eligible` without `exclude` or the reverse, its get_events takes no
argument but (subscription, limit), and the committed Crossbar config keeps no
event history (get_events answers `wamp.error.history_unavailable`); its
WELCOME never has `event_history`.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from typing import Any, Awaitable

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions, SubscribeOptions

from interop_client import Peer, Peers, Router, Wire, close_peer, run

# Seconds the router may take for anything it must do at once (a reply, an
# event); short so a router that never answers fails fast.
PROMPT = 2.0
# The topic (and prefix) of the history rule in tests/interop/router.toml.
HISTORY = "com.interop.history"
GET_EVENTS = "wamp.subscription.get_events"
RETAIN = PublishOptions(retain=True, acknowledge=True)
ACK = PublishOptions(acknowledge=True)


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


class Inbox:
    """Collects the events of one subscription as (args, kwargs, details)."""

    def __init__(self) -> None:
        self.events: list[tuple[list, dict, Any]] = []
        self._changed = asyncio.Event()

    def __call__(self, *args: Any, details: Any = None, **kwargs: Any) -> None:
        self.events.append((list(args), kwargs, details))
        self._changed.set()

    async def wait_for(self, n: int) -> list[tuple[list, dict, Any]]:
        """The first n events, waiting for them if needed."""
        while len(self.events) < n:
            self._changed.clear()
            await within(self._changed.wait())
        return self.events[:n]


async def subscribe_retained(
    peer: Peer, topic: str, *, match: str | None = None, get_retained: bool | None = True
) -> tuple[Any, list[tuple[list, dict, Any]]]:
    """Subscribes with get_retained; returns the subscription and every event it got
    before the result of a sentinel call (see the module docstring)."""
    inbox = Inbox()
    options = SubscribeOptions(match=match, details=True, get_retained=get_retained)
    subscription = await within(peer.subscribe(inbox, topic, options=options))
    await within(peer.call("wamp.session.count"))
    return subscription, list(inbox.events)


def first_args(events: list[tuple[list, dict, Any]]) -> list:
    return [args[0] for args, _, _ in events]


def session_id(peer: Peer) -> int:
    return peer.joined.result().session


# --- the handshake -----------------------------------------------------------------


def test_welcome_announces_event_retention(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        peer = await peers.connect("A")
        assert peer._router_roles["broker"].event_retention is True

    run(router, wire, body)


# Crossbar 26.10 does not announce event_history (its broker's feature list
# lacks it, with or without a realm store).
@pytest.mark.crossbar_differs
def test_welcome_announces_event_history(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        peer = await peers.connect("A")
        assert peer._router_roles["broker"].event_history is True

    run(router, wire, body)


# --- retained events ---------------------------------------------------------------


def test_a_retained_event_reaches_a_later_get_retained_subscriber_marked_retained(
    router: Router, wire: Wire, uri
) -> None:
    async def body(peers: Peers) -> None:
        topic = uri("retained")
        live = Inbox()
        watcher = await peers.connect("B")
        await within(watcher.subscribe(live, topic, options=SubscribeOptions(details=True)))
        publisher = await peers.connect("A")
        await within(publisher.publish(topic, "x", 42, k="v", options=RETAIN))
        # A subscriber already there gets it live, not marked retained.
        [(args, kwargs, details)] = await live.wait_for(1)
        assert (args, kwargs, details.retained) == (["x", 42], {"k": "v"}, None)
        # The retained event outlives its publisher's session.
        await close_peer(publisher)
        subscriber = await peers.connect("B")
        subscription, events = await subscribe_retained(subscriber, topic)
        assert len(events) == 1, events
        args, kwargs, details = events[0]
        assert (args, kwargs) == (["x", 42], {"k": "v"})
        assert details.retained is True
        assert details.subscription == subscription
        assert details.topic == topic
        assert details.publisher is None

    run(router, wire, body)


# Crossbar 26.10 gives each retained EVENT a publication ID of its own.
@pytest.mark.crossbar_differs
def test_a_retained_event_carries_the_publication_id_it_was_published_with(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        topic = uri("original")
        publisher = await peers.connect("A")
        publication = await within(publisher.publish(topic, "x", options=RETAIN))
        subscriber = await peers.connect("B")
        _, [(_, _, details)] = await subscribe_retained(subscriber, topic)
        assert details.publication == publication.id

    run(router, wire, body)


def test_only_the_latest_retained_event_is_sent_and_only_with_get_retained(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        topic = uri("latest")
        first = await peers.connect("A")
        second = await peers.connect("B")
        await within(first.publish(topic, "first", options=RETAIN))
        await within(second.publish(topic, "second", options=RETAIN))
        await within(first.publish(topic, "third", options=RETAIN))
        # Not retained: the retained event stays.
        await within(second.publish(topic, "plain", options=ACK))
        subscriber = await peers.connect("B")
        _, events = await subscribe_retained(subscriber, topic)
        assert first_args(events) == ["third"]
        for get_retained in (None, False):
            plain = await peers.connect("B")
            _, events = await subscribe_retained(plain, topic, get_retained=get_retained)
            assert events == [], f"get_retained={get_retained}"

    run(router, wire, body)


def test_a_subscriber_right_after_published_gets_that_event(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        topic = uri("causal")
        publisher = await peers.connect("A")
        subscriber = await peers.connect("B")
        for round_ in range(20):
            await within(publisher.publish(topic, f"v{round_}", options=RETAIN))
            inbox = Inbox()
            options = SubscribeOptions(details=True, get_retained=True)
            subscription = await within(subscriber.subscribe(inbox, topic, options=options))
            [(args, _, details)] = await inbox.wait_for(1)
            assert (args, details.retained) == ([f"v{round_}"], True), f"round {round_}"
            await within(subscription.unsubscribe())

    run(router, wire, body)


# Crossbar 26.10 keeps retained events per topic and sends them to exact
# subscriptions only: a prefix or wildcard subscription gets none.
@pytest.mark.crossbar_differs
def test_a_pattern_subscription_gets_the_retained_event_of_every_matching_topic(
    router: Router, wire: Wire, uri
) -> None:
    async def body(peers: Peers) -> None:
        base = uri("pattern")
        topics = [f"{base}.a.x", f"{base}.b.x", f"{base}.c.y"]
        publisher = await peers.connect("A")
        for topic in topics:
            await within(publisher.publish(topic, topic, options=RETAIN))
        await within(publisher.publish(uri("elsewhere") + ".a.x", "elsewhere", options=RETAIN))
        for pattern, match, wanted in [(base, "prefix", topics), (f"{base}..x", "wildcard", topics[:2])]:
            subscriber = await peers.connect("B")
            _, events = await subscribe_retained(subscriber, pattern, match=match)
            seen = sorted((details.topic, args[0], details.retained) for args, _, details in events)
            assert seen == [(t, t, True) for t in sorted(wanted)], f"{match} {pattern}"

    run(router, wire, body)


def test_a_retained_event_with_eligible_and_exclude_reaches_only_the_sessions_both_admit(
    router: Router, wire: Wire, uri
) -> None:
    async def body(peers: Peers) -> None:
        topic = uri("eligible-exclude")
        chosen = await peers.connect("A")
        excluded = await peers.connect("B")
        other = await peers.connect("B")
        publisher = await peers.connect("A")
        options = PublishOptions(
            retain=True,
            acknowledge=True,
            eligible=[session_id(chosen), session_id(excluded)],
            exclude=[session_id(excluded)],
        )
        await within(publisher.publish(topic, "for-chosen", options=options))
        assert first_args((await subscribe_retained(chosen, topic))[1]) == ["for-chosen"]
        assert (await subscribe_retained(excluded, topic))[1] == []
        assert (await subscribe_retained(other, topic))[1] == []

    run(router, wire, body)


# Crossbar 26.10 never answers a get_retained SUBSCRIBE to a topic whose retained
# event was published with `eligible` but no `exclude` (or the reverse): its
# broker checks `session in eligible and session not in exclude` and raises
# "TypeError: argument of type 'NoneType' is not iterable".
@pytest.mark.crossbar_differs
def test_a_retained_event_published_for_eligible_sessions_reaches_only_them(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        topic = uri("eligible")
        chosen = await peers.connect("A")
        other = await peers.connect("B")
        publisher = await peers.connect("A")
        options = PublishOptions(retain=True, acknowledge=True, eligible=[session_id(chosen)])
        await within(publisher.publish(topic, "for-chosen", options=options))
        assert first_args((await subscribe_retained(chosen, topic))[1]) == ["for-chosen"]
        assert (await subscribe_retained(other, topic))[1] == []

    run(router, wire, body)


# Crossbar 26.10: as above, with `exclude` alone.
@pytest.mark.crossbar_differs
def test_a_retained_event_published_with_exclude_skips_the_excluded_sessions(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        topic = uri("exclude")
        excluded = await peers.connect("A")
        other = await peers.connect("B")
        publisher = await peers.connect("A")
        options = PublishOptions(retain=True, acknowledge=True, exclude=[session_id(excluded)])
        await within(publisher.publish(topic, "not-for-excluded", options=options))
        assert (await subscribe_retained(excluded, topic))[1] == []
        assert first_args((await subscribe_retained(other, topic))[1]) == ["not-for-excluded"]

    run(router, wire, body)


# Crossbar 26.10 ignores exclude_me for retained events: the publisher gets its own.
@pytest.mark.crossbar_differs
def test_a_publisher_gets_its_own_retained_event_only_with_exclude_me_false(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        publisher = await peers.connect("A")
        hidden, shown = uri("excluded-me"), uri("included-me")
        await within(publisher.publish(hidden, "hidden", options=RETAIN))
        options = PublishOptions(retain=True, acknowledge=True, exclude_me=False)
        await within(publisher.publish(shown, "shown", options=options))
        assert (await subscribe_retained(publisher, hidden))[1] == []
        assert first_args((await subscribe_retained(publisher, shown))[1]) == ["shown"]

    run(router, wire, body)


# --- event history -----------------------------------------------------------------


def history_topic(name: str) -> str:
    """A topic the router.toml history rule keeps, unique to this test run."""
    return f"{HISTORY}.t{uuid.uuid4().hex[:12]}.{name}"


async def history_reader(peers: Peers) -> tuple[Peer, int]:
    """A session on port A holding the prefix subscription of the history rule."""
    reader = await peers.connect("A")
    subscription = await within(
        reader.subscribe(lambda *args, **kwargs: None, HISTORY, options=SubscribeOptions(match="prefix"))
    )
    return reader, subscription.id


def nanoseconds(timestamp: str) -> int:
    """An RFC 3339 timestamp with up to nine fractional digits, in ns since the epoch."""
    found = re.fullmatch(r"([^.]+?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", timestamp)
    assert found, f"not an RFC 3339 timestamp: {timestamp!r}"
    whole, fraction, zone = found.groups()
    seconds = int(datetime.fromisoformat(whole + zone.replace("Z", "+00:00")).timestamp())
    return seconds * 1_000_000_000 + int(((fraction or "") + "000000000")[:9])


# Crossbar 26.10's get_events takes only (subscription, limit): any other keyword
# (`topic`, `reverse`, the bounds) gets wamp.error.runtime_error; and the
# committed Crossbar config has no realm store, so a plain call gets
# wamp.error.history_unavailable.
@pytest.mark.crossbar_differs
def test_get_events_gives_a_topics_events_oldest_first_with_limit_reverse_and_bounds(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        topic = history_topic("order")
        publisher = await peers.connect("A")
        ids = [(await within(publisher.publish(topic, f"e{i}", n=i, options=ACK))).id for i in range(1, 6)]
        reader, subscription = await history_reader(peers)

        async def get(**named: Any) -> list[str]:
            events = await within(reader.call(GET_EVENTS, subscription, topic=topic, **named))
            return [event["args"][0] for event in events]

        events = await within(reader.call(GET_EVENTS, subscription, topic=topic))
        assert [e["args"] for e in events] == [[f"e{i}"] for i in range(1, 6)]
        assert [e["kwargs"] for e in events] == [{"n": i} for i in range(1, 6)]
        assert [e["publication"] for e in events] == ids
        assert {e["topic"] for e in events} == {topic}
        assert {e["subscription"] for e in events} == {subscription}
        stamps = [nanoseconds(e["timestamp"]) for e in events]
        assert stamps == sorted(stamps)
        assert await get(limit=2) == ["e4", "e5"]
        assert await get(limit=2, reverse=True) == ["e5", "e4"]
        assert await get(from_publication=ids[1]) == ["e2", "e3", "e4", "e5"]
        assert await get(after_publication=ids[1], before_publication=ids[4]) == ["e3", "e4"]
        assert await get(until_publication=ids[2], reverse=True) == ["e3", "e2", "e1"]
        mid = events[2]["timestamp"]
        assert await get(from_time=mid) == [f"e{i}" for i, t in enumerate(stamps, 1) if t >= stamps[2]]
        assert await get(before_time=mid) == [f"e{i}" for i, t in enumerate(stamps, 1) if t < stamps[2]]
        # Positional limit.
        events = await within(reader.call(GET_EVENTS, subscription, 1, topic=topic))
        assert [e["args"] for e in events] == [["e5"]]

    run(router, wire, body)


# As above: Crossbar refuses `topic` (runtime_error) and keeps no history here.
@pytest.mark.crossbar_differs
def test_get_events_keeps_no_event_published_with_eligible_or_exclude(router: Router, wire: Wire) -> None:
    async def body(peers: Peers) -> None:
        topic = history_topic("lists")
        publisher = await peers.connect("A")
        reader, subscription = await history_reader(peers)
        other = await peers.connect("B")
        await within(publisher.publish(topic, "plain", options=ACK))
        eligible = PublishOptions(acknowledge=True, eligible=[session_id(reader)])
        await within(publisher.publish(topic, "eligible", options=eligible))
        exclude = PublishOptions(acknowledge=True, exclude=[session_id(other)])
        await within(publisher.publish(topic, "exclude", options=exclude))
        await within(publisher.publish(topic, "last", options=ACK))
        events = await within(reader.call(GET_EVENTS, subscription, topic=topic))
        assert [e["args"][0] for e in events] == ["plain", "last"]

    run(router, wire, body)


# As above: Crossbar answers wamp.error.history_unavailable, or runtime_error for
# the keywords it does not take.
@pytest.mark.crossbar_differs
def test_get_events_refuses_an_unknown_subscription_and_arguments_of_the_wrong_type(
    router: Router, wire: Wire, uri
) -> None:
    async def body(peers: Peers) -> None:
        reader, subscription = await history_reader(peers)
        error = await expect_error(reader.call(GET_EVENTS, 4503599627370495))
        assert error.error == "wamp.error.no_such_subscription"
        for args, named in [
            (("x",), {}),
            ((subscription, "10"), {}),
            ((subscription,), {"reverse": "yes"}),
            ((subscription,), {"from_time": "yesterday"}),
            ((subscription,), {"topic": 5}),
            ((subscription,), {"after_publication": "x"}),
        ]:
            error = await expect_error(reader.call(GET_EVENTS, *args, **named))
            assert error.error == "wamp.error.invalid_argument", (args, named)
        # A subscription without a history rule has an empty history.
        other = await within(reader.subscribe(lambda *a, **k: None, uri("nohistory")))
        assert await within(reader.call(GET_EVENTS, other.id)) == []

    run(router, wire, body)
