"""Connects autobahn-python (asyncio) sessions to the WAMP router under test.

Owns: reading the router location from the environment, opening WebSocket or
RawSocket transports with one chosen serializer, joining the realm, and closing
every session a test opened. Never starts or stops a router, and never talks to
anything but the router named by WAMP_HOST / WAMP_PORT_A / WAMP_PORT_B.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterator

import txaio

txaio.use_asyncio()

# Imported after txaio.use_asyncio() so autobahn binds to asyncio.
from autobahn.asyncio.rawsocket import WampRawSocketClientFactory  # noqa: E402
from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp import message as wamp_message  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.serializer import (  # noqa: E402
    CBORSerializer,
    JsonSerializer,
    MsgPackSerializer,
)
from autobahn.wamp.types import CallResult, ComponentConfig  # noqa: E402

TRANSPORTS = ("websocket", "rawsocket")
SERIALIZERS = ("json", "msgpack", "cbor")

# Seconds a transport connect plus HELLO/WELCOME may take before the test fails.
JOIN_TIMEOUT = 10.0
# Seconds a GOODBYE handshake and transport close may take during cleanup.
CLOSE_TIMEOUT = 5.0
# Seconds any single awaited router reply may take in a test (RPC, ack, event).
REPLY_TIMEOUT = 10.0
# Seconds a whole test body may run; below pytest-timeout so cleanup still runs.
TEST_BODY_TIMEOUT = 50.0

_SERIALIZER_TYPES = {
    "json": JsonSerializer,
    "msgpack": MsgPackSerializer,
    "cbor": CBORSerializer,
}


@dataclass(frozen=True)
class Router:
    """Where the router under test listens (see tests/interop/README.md)."""

    host: str
    port_a: int
    port_b: int
    realm: str
    ws_path: str

    @classmethod
    def from_env(cls) -> "Router":
        try:
            port_a = int(os.environ["WAMP_PORT_A"])
            port_b = int(os.environ["WAMP_PORT_B"])
        except KeyError as missing:
            raise RuntimeError(
                f"{missing.args[0]} is not set: point the interop tests at a running router"
            ) from None
        path = os.environ.get("WAMP_WS_PATH", "/")
        if not path.startswith("/"):
            path = "/" + path
        return cls(
            host=os.environ.get("WAMP_HOST", "127.0.0.1"),
            port_a=port_a,
            port_b=port_b,
            realm=os.environ.get("WAMP_REALM", "realm1"),
            ws_path=path,
        )

    def port(self, side: str) -> int:
        if side == "A":
            return self.port_a
        if side == "B":
            return self.port_b
        raise ValueError(f"side must be 'A' or 'B', not {side!r}")


@dataclass(frozen=True)
class Wire:
    """One transport x serializer combination a test runs over."""

    transport: str
    serializer: str

    def __str__(self) -> str:
        return f"{self.transport}-{self.serializer}"


class Peer(ApplicationSession):
    """An application session that reports join and close through futures."""

    def __init__(self, config: ComponentConfig, name: str) -> None:
        super().__init__(config)
        self.name = name
        loop = asyncio.get_running_loop()
        self.joined: asyncio.Future = loop.create_future()
        self.closed: asyncio.Future = loop.create_future()
        self.socket: asyncio.Transport | None = None

    def onJoin(self, details: Any) -> None:
        if not self.joined.done():
            self.joined.set_result(details)

    def onLeave(self, details: Any) -> Any:
        if not self.joined.done():
            self.joined.set_exception(
                ConnectionError(f"{self.name}: session refused: {details.reason} {details.message}")
            )
        return super().onLeave(details)

    def onDisconnect(self) -> Any:
        if not self.joined.done():
            self.joined.set_exception(ConnectionError(f"{self.name}: transport closed before WELCOME"))
        if not self.closed.done():
            self.closed.set_result(None)
        return super().onDisconnect()

    def drop(self) -> None:
        """Closes the TCP connection at once, without GOODBYE."""
        if self.socket is not None:
            self.socket.abort()


class Peers:
    """Opens sessions for one test and closes all of them when the test ends."""

    def __init__(self, router: Router, wire: Wire) -> None:
        self.router = router
        self.wire = wire
        self._peers: list[Peer] = []

    async def connect(
        self,
        side: str,
        *,
        serializer: str | None = None,
        transport: str | None = None,
        name: str | None = None,
    ) -> Peer:
        """Joins a new session on port A or B; serializer/transport default to the wire's."""
        ser_name = serializer or self.wire.serializer
        transport_name = transport or self.wire.transport
        port = self.router.port(side)
        label = name or f"{transport_name}-{ser_name}@{side}#{len(self._peers)}"
        peer = Peer(ComponentConfig(realm=self.router.realm), label)
        ser = _SERIALIZER_TYPES[ser_name]()
        if transport_name == "websocket":
            url = f"ws://{self.router.host}:{port}{self.router.ws_path}"
            factory = WampWebSocketClientFactory(lambda: peer, url=url, serializers=[ser])
        elif transport_name == "rawsocket":
            factory = WampRawSocketClientFactory(lambda: peer, serializer=ser)
        else:
            raise ValueError(f"unknown transport {transport_name!r}")
        self._peers.append(peer)
        loop = asyncio.get_running_loop()
        socket, _protocol = await asyncio.wait_for(
            loop.create_connection(factory, self.router.host, port), JOIN_TIMEOUT
        )
        peer.socket = socket
        await asyncio.wait_for(asyncio.shield(peer.joined), JOIN_TIMEOUT)
        return peer

    async def close_all(self) -> None:
        await asyncio.gather(*(close_peer(p) for p in self._peers), return_exceptions=True)
        self._peers.clear()


async def close_peer(peer: Peer) -> None:
    """Leaves with GOODBYE if still joined, then waits for the transport to close."""
    if peer.socket is None:  # the connect itself failed: nothing to close
        return
    try:
        if peer.is_attached():
            peer.leave()
        elif peer.socket is not None and not peer.closed.done():
            peer.socket.close()
        await asyncio.wait_for(asyncio.shield(peer.closed), CLOSE_TIMEOUT)
    except Exception:  # cleanup must never mask the test's own outcome
        peer.drop()


def run(router: Router, wire: Wire, body: Callable[[Peers], Awaitable[None]]) -> None:
    """Runs one test body in a fresh event loop, closing its sessions afterwards."""

    async def main() -> None:
        peers = Peers(router, wire)
        try:
            await asyncio.wait_for(body(peers), TEST_BODY_TIMEOUT)
        finally:
            await peers.close_all()

    asyncio.run(main())


def unpack(result: Any) -> tuple[list, dict]:
    """Turns what ApplicationSession.call returns into (args, kwargs)."""
    if isinstance(result, CallResult):
        return list(result.results), dict(result.kwresults)
    if result is None:
        return [], {}
    return [result], {}


async def reply(awaitable: Awaitable[Any]) -> Any:
    """Awaits one router reply, failing the test if it does not come in time."""
    return await asyncio.wait_for(awaitable, REPLY_TIMEOUT)


async def expect_error(awaitable: Awaitable[Any]) -> ApplicationError:
    """Awaits a request the router must refuse; returns the WAMP error."""
    try:
        value = await reply(awaitable)
    except ApplicationError as error:
        return error
    raise AssertionError(f"expected a WAMP error, got success: {value!r}")


@contextlib.contextmanager
def client_uri_checks_disabled() -> Iterator[None]:
    """Lets the client send URIs it would refuse itself, so the router's check is tested."""
    original = wamp_message.check_or_raise_uri
    wamp_message.check_or_raise_uri = lambda value, *args, **kwargs: value
    try:
        yield
    finally:
        wamp_message.check_or_raise_uri = original
