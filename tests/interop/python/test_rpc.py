"""Routed RPC through the router under test, with autobahn-python on both ends.

Owns: register/call round trips, application errors, missing and duplicate
procedures, a callee lost mid-call, and unregister. Callee and caller sit on
different ports (A and B), so on wampyard they are on different shards.
"""

from __future__ import annotations

import asyncio

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallResult

from interop_client import Peers, Router, Wire, expect_error, reply, run, unpack

# The router's default limit is 1 MiB (1048576 bytes) for a whole message.
# Raw bytes sent as-is by MessagePack and CBOR: 1,000,000 bytes plus a small head.
LARGE_BINARY_RAW = 1_000_000
# JSON carries bytes as "\u0000" + base64 (4/3 larger): 700,000 bytes -> 933,336 chars.
LARGE_BINARY_JSON = 700_000
# A 1,000,000-character ASCII string fits every serializer under 1 MiB.
LARGE_STRING = 1_000_000

# The values a payload must carry unchanged across serializers and shards.
TRICKY_ARGS = [
    "héllo wörld ✓ 日本語 🎉",
    "",
    2**53,
    -(2**53),
    -1,
    -42,
    0,
    3.25,
    -0.5,
    1.0e300,
    True,
    False,
    None,
    b"\x00\x01\x02\xfe\xff",
    b"",
    [],
    {},
    [1, [2, [3, ["deep", {"k": [4, 5]}]]]],
    {"outer": {"inner": [1, "zwei", 3.5, {"ünï": "cödé"}]}, "list": [[], {}]},
]
TRICKY_KWARGS = {
    "unicode": "Ωμέγα ∑ 😀",
    "ключ": "значение",
    "big": 2**53,
    "negative": -(2**31) - 7,
    "float": 2.718281828459045,
    "binary": bytes(range(256)),
    "nested": {"a": [1, {"b": [2, {"c": "d"}]}], "e": None},
    "flags": [True, False, None],
}


def echo(*args, **kwargs) -> CallResult:
    return CallResult(*args, **kwargs)


def test_call_round_trips_args_and_kwargs_across_shards(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        callee = await peers.connect("A")
        caller = await peers.connect("B")
        await reply(callee.register(echo, uri("echo")))

        args, kwargs = unpack(await reply(caller.call(uri("echo"), *TRICKY_ARGS, **TRICKY_KWARGS)))
        assert args == TRICKY_ARGS
        assert kwargs == TRICKY_KWARGS
        assert isinstance(args[13], bytes), "binary must come back as bytes, not text"
        assert isinstance(args[2], int) and args[2] == 9007199254740992

        only_kwargs = unpack(await reply(caller.call(uri("echo"), **TRICKY_KWARGS)))
        assert only_kwargs == ([], TRICKY_KWARGS)
        assert unpack(await reply(caller.call(uri("echo")))) == ([], {})

    run(router, wire, body)


def test_call_carries_a_large_payload_just_under_the_message_limit(
    router: Router, wire: Wire, uri
) -> None:
    binary_size = LARGE_BINARY_JSON if wire.serializer == "json" else LARGE_BINARY_RAW
    blob = bytes((i * 7 + 3) % 256 for i in range(binary_size))
    text = "x" * (LARGE_STRING - 1) + "y"

    async def body(peers: Peers) -> None:
        callee = await peers.connect("A")
        caller = await peers.connect("B")
        await reply(callee.register(echo, uri("echo")))

        args, _ = unpack(await reply(caller.call(uri("echo"), blob)))
        assert len(args) == 1 and args[0] == blob
        args, _ = unpack(await reply(caller.call(uri("echo"), text)))
        assert len(args) == 1 and args[0] == text

    run(router, wire, body)


def test_application_error_reaches_caller_with_uri_args_and_kwargs(
    router: Router, wire: Wire, uri
) -> None:
    error_uri = uri("error.custom")

    def fail(*args, **kwargs):
        raise ApplicationError(error_uri, "first", 2, [3, {"four": b"\x04"}], code=42, reason="ünïcode ✓")

    async def body(peers: Peers) -> None:
        callee = await peers.connect("A")
        caller = await peers.connect("B")
        await reply(callee.register(fail, uri("fail")))

        error = await expect_error(caller.call(uri("fail"), 1, 2))
        assert error.error == error_uri
        assert list(error.args) == ["first", 2, [3, {"four": b"\x04"}]]
        assert error.kwargs == {"code": 42, "reason": "ünïcode ✓"}

    run(router, wire, body)


def test_call_to_unregistered_procedure_gives_no_such_procedure(
    router: Router, wire: Wire, uri
) -> None:
    async def body(peers: Peers) -> None:
        caller = await peers.connect("B")
        error = await expect_error(caller.call(uri("nobody.home"), 1))
        assert error.error == "wamp.error.no_such_procedure"

    run(router, wire, body)


def test_registering_a_taken_procedure_from_another_session_is_refused(
    router: Router, wire: Wire, uri
) -> None:
    async def body(peers: Peers) -> None:
        first = await peers.connect("A")
        second = await peers.connect("B")
        third = await peers.connect("A")
        await reply(first.register(echo, uri("taken")))

        for other in (second, third):
            error = await expect_error(other.register(echo, uri("taken")))
            assert error.error == "wamp.error.procedure_already_exists", other.name

        args, _ = unpack(await reply(second.call(uri("taken"), "still-first")))
        assert args == ["still-first"]

    run(router, wire, body)


def _lost_callee_test(router: Router, wire: Wire, uri, how: str) -> None:
    async def body(peers: Peers) -> None:
        callee = await peers.connect("A")
        caller = await peers.connect("B")
        invoked = asyncio.Event()
        never = asyncio.get_running_loop().create_future()

        async def hang(*args, **kwargs):
            invoked.set()
            await never

        await reply(callee.register(hang, uri("hang")))
        call = asyncio.ensure_future(caller.call(uri("hang"), "wait"))
        await reply(invoked.wait())
        if how == "goodbye":
            callee.leave()
        else:
            callee.drop()

        error = await expect_error(call)
        # WAMP spec (basic, RPC): callee gone mid-call -> ERROR wamp.error.canceled.
        assert error.error == "wamp.error.canceled"

    run(router, wire, body)


def test_callee_leaving_mid_call_gives_caller_canceled(router: Router, wire: Wire, uri) -> None:
    _lost_callee_test(router, wire, uri, "goodbye")


def test_callee_disconnecting_mid_call_gives_caller_canceled(router: Router, wire: Wire, uri) -> None:
    _lost_callee_test(router, wire, uri, "drop")


def test_call_after_unregister_gives_no_such_procedure(router: Router, wire: Wire, uri) -> None:
    async def body(peers: Peers) -> None:
        callee = await peers.connect("A")
        caller = await peers.connect("B")
        registration = await reply(callee.register(echo, uri("brief")))
        assert unpack(await reply(caller.call(uri("brief"), 1))) == ([1], {})

        await reply(registration.unregister())
        error = await expect_error(caller.call(uri("brief"), 2))
        assert error.error == "wamp.error.no_such_procedure"

        newcomer = await peers.connect("B")
        await reply(newcomer.register(echo, uri("brief")))
        assert unpack(await reply(caller.call(uri("brief"), 3))) == ([3], {})

    run(router, wire, body)
