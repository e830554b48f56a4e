"""URI validation by the router under test, driven with autobahn-python.

Owns: malformed URIs (the spec's loose rule, which every router MUST enforce)
and the reserved "wamp." prefix. autobahn-python checks URIs before sending, so
these tests switch that check off to reach the router's own.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallResult, PublishOptions

from interop_client import (
    Peer,
    Peers,
    Router,
    Wire,
    client_uri_checks_disabled,
    expect_error,
    reply,
    run,
    unpack,
)

# URIs that break the loose rule for exact matching: whitespace, an empty
# component, and the reserved "#".
MALFORMED_URIS = ["com.interop.bad uri", "com..interop", "com.interop.#"]

# An application URI under the reserved "wamp." prefix.
RESERVED_URI = "wamp.interop.reserved"

ACK = PublishOptions(acknowledge=True)


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


OPERATIONS: dict[str, Callable[[Peer, str], Awaitable[Any]]] = {
    "subscribe": lambda peer, u: peer.subscribe(_noop, u),
    "register": lambda peer, u: peer.register(_noop, u),
    "publish": lambda peer, u: peer.publish(u, "payload", options=ACK),
    "call": lambda peer, u: peer.call(u, "payload"),
}


async def _answer(peer: Peer, operation: str, bad: str, alive: str) -> str:
    """What the router did with one malformed request, as text for the report."""
    try:
        await reply(OPERATIONS[operation](peer, bad))
        return "accepted"
    except ApplicationError as error:
        answer = error.error
    if not peer.is_attached():
        return answer + " (session ended)"
    if unpack(await reply(peer.call(alive, "ok"))) != (["ok"], {}):
        return answer + " (session broken)"
    return answer


# Crossbar.io drops the connection instead (its message parser rejects the URI).
@pytest.mark.crossbar_differs
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_malformed_uri_is_answered_with_invalid_uri(
    router: Router, wire: Wire, uri, operation: str, record_property
) -> None:
    async def body(peers: Peers) -> None:
        seen: dict[str, str] = {}
        helper = await peers.connect("B")
        await reply(helper.register(lambda *a: CallResult(*a), uri("alive")))
        peer = await peers.connect("A")
        with client_uri_checks_disabled():
            for bad in MALFORMED_URIS:
                if not peer.is_attached():
                    peer = await peers.connect("A")
                seen[bad] = await _answer(peer, operation, bad, uri("alive"))
        record_property("router_answers", seen)
        wrong = {bad: got for bad, got in seen.items() if got != "wamp.error.invalid_uri"}
        assert not wrong, f"{operation}: expected wamp.error.invalid_uri for each URI, got {wrong}"

    run(router, wire, body)


@pytest.mark.parametrize("operation", ["register", "publish"])
def test_reserved_wamp_uri_is_refused(
    router: Router, wire: Wire, uri, operation: str, record_property
) -> None:
    async def body(peers: Peers) -> None:
        peer = await peers.connect("A")
        error = await expect_error(OPERATIONS[operation](peer, RESERVED_URI))
        record_property("router_answers", error.error)
        print(f"{operation} {RESERVED_URI}: router answered {error.error}")
        assert error.error.startswith("wamp.error."), error.error
        assert peer.is_attached(), "a refused request must not end the session"

    run(router, wire, body)
