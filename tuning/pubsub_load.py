#!/usr/bin/env python3
"""A stopgap pub/sub load for profiling wampyard, until `wampyard-loadgen` exists.

Owns: one process that opens N subscriber sessions and one publisher session over RawSocket with
MessagePack, subscribes them to one topic, then publishes 100-byte events in pipelined batches of
64 and reads (without decoding) everything the subscribers receive, for a fixed time. Never: a
benchmark result. It measures nothing precisely (one Python thread is slower than the router);
it only keeps a router busy on the pub/sub hot path while `perf` or callgrind watches.

Usage: pubsub_load.py PORT SUBSCRIBERS SECONDS   (realm1 on 127.0.0.1, RawSocket, msgpack)
Python standard library only.
"""

import select
import socket
import struct
import sys
import time

TOPIC = "com.app.sensor1.reading"
# Publishes written per send: enough to keep the router's read loop fed between selects.
BATCH = 64
# RawSocket handshake: magic, max length 2^24 (0xF) and serializer 2 (MessagePack), reserved.
HANDSHAKE = b"\x7f\xf2\x00\x00"


def msgpack(v):
    """The few MessagePack forms these messages need: small ints, u64, short strings, lists, maps."""
    if isinstance(v, int):
        return bytes([v]) if 0 <= v < 128 else b"\xcf" + struct.pack(">Q", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xA0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(msgpack(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(msgpack(k) + msgpack(x) for k, x in v.items())
    raise TypeError(v)


def frame(message):
    """A RawSocket frame: type 0 (WAMP message) and 24-bit length, then the message."""
    body = msgpack(message)
    return struct.pack(">I", len(body)) + body


def read_message(sock):
    header = b""
    while len(header) < 4:
        header += sock.recv(4 - len(header))
    length = struct.unpack(">I", header)[0] & 0xFFFFFF
    body = b""
    while len(body) < length:
        body += sock.recv(length - len(body))
    return body


def join(port):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(HANDSHAKE)
    if sock.recv(4)[:1] != b"\x7f":
        sys.exit("RawSocket handshake refused")
    sock.sendall(frame([1, "realm1", {"roles": {"publisher": {}, "subscriber": {}}}]))
    read_message(sock)  # WELCOME
    return sock


def main():
    port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    subscribers = []
    for request in range(1, count + 1):
        sock = join(port)
        sock.sendall(frame([32, request, {}, TOPIC]))
        read_message(sock)  # SUBSCRIBED
        sock.setblocking(False)
        subscribers.append(sock)
    publisher = join(port)
    text = ("sensor=42;temp=21.5;hum=40.1;status=ok;" * 2)[:72]
    args, kwargs = [1_732_000_000_000_000, text], {"seq": 42, "src": "bench"}
    batch = b"".join(frame([16, r + 1, {}, TOPIC, args, kwargs]) for r in range(BATCH))
    published = received = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        publisher.sendall(batch)
        published += BATCH
        readable, _, _ = select.select(subscribers, [], [], 0)
        for sock in readable:
            try:
                while data := sock.recv(1 << 20):
                    received += len(data)
            except BlockingIOError:
                pass
    print(f"published {published} ({published / seconds:.0f}/s); "
          f"subscribers read {received / seconds / 1e6:.1f} MB/s")


if __name__ == "__main__":
    main()
