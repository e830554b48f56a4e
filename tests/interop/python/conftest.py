"""pytest fixtures for the interop tests: the router location and the wire combos.

Owns: parameterizing every test over transport x serializer. Never starts a router.
"""

from __future__ import annotations

import itertools
import uuid

import pytest

from interop_client import SERIALIZERS, TRANSPORTS, Router, Wire

WIRES = [Wire(t, s) for t, s in itertools.product(TRANSPORTS, SERIALIZERS)]


@pytest.fixture(scope="session")
def router() -> Router:
    return Router.from_env()


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
