"""pytest fixtures for the interop tests: the router location and the wire combos.

Owns: parameterizing every test over transport x serializer, and a preflight
that stops the run at once when the router cannot be joined at all (instead of
every test waiting out its join timeout). Never starts a router.
"""

from __future__ import annotations

import itertools
import uuid

import pytest

from interop_client import SERIALIZERS, TRANSPORTS, Peers, Router, Wire, run

WIRES = [Wire(t, s) for t, s in itertools.product(TRANSPORTS, SERIALIZERS)]


@pytest.fixture(scope="session")
def router() -> Router:
    found = Router.from_env()

    async def join_both_ports(peers: Peers) -> None:
        await peers.connect("A")
        await peers.connect("B")

    try:
        run(found, Wire("websocket", "json"), join_both_ports)
    except Exception as error:  # any failure here makes every test meaningless
        pytest.exit(
            f"preflight: cannot join realm {found.realm} over WebSocket/JSON on "
            f"{found.host}:{found.port_a} and :{found.port_b}: {error!r}",
            returncode=1,
        )
    return found


@pytest.fixture(params=WIRES, ids=str)
def wire(request: pytest.FixtureRequest) -> Wire:
    return request.param


@pytest.fixture
def uri(request: pytest.FixtureRequest):
    """Makes strict-valid URIs unique to this test run, so tests never share state."""
    tag = uuid.uuid4().hex[:12]

    def make(name: str) -> str:
        return f"com.interop.{tag}.{name}"

    return make
