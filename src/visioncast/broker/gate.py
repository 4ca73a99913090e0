"""The embedded broker's gate: MQTT 3.1.1 packets framed and checked before amqtt reads them. Pure (asyncio
streams only).

amqtt reads whatever length a packet announces (a 250 MB PUBLISH, +1 GB in the server) and, once a length is
wrong, parses the rest of the stream as whatever packets it looks like (7.8 million warnings from 300 MB).
:func:`read_packet` reads one packet from a client: its fixed header, a remaining length of at most four bytes
and at most ``limit`` bytes in all, a packet type a client may send with the flags MQTT 3.1.1 requires, and a
body that fits its type. Anything else raises :class:`BadPacket`, and the broker closes the connection (as
Mosquitto does). :func:`parse_connect` reads what the broker decides on before amqtt sees a CONNECT: the
client id, the login and the will topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

CONNECT, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 3, 4, 5, 6, 7
SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT = 8, 10, 12, 14
TOPIC_OVERHEAD = 65536 + 5  # the longest topic (2 + 65535 bytes), a packet id, the fixed header


class ByteSource(Protocol):
    """Where a client's bytes come from: an ``asyncio.StreamReader`` (TCP, TLS) or the embedded broker's
    adapter over a WebSocket."""

    async def read(self, n: int = -1) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...


def max_packet_bytes(max_message_bytes: int) -> int:
    """The largest packet a client may send: a payload of ``max_message_bytes`` under any topic (the same
    number is Mosquitto's ``max_packet_size``)."""
    return max_message_bytes + TOPIC_OVERHEAD


class BadPacket(Exception):  # noqa: N818 - a reason to close, not an error of ours
    """A packet the broker refuses: ``kind`` is 'oversized' or 'malformed' (counted), the message says why."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind


# type → (required flags or None for PUBLISH, smallest body, largest body or None)
_RULES: dict[int, tuple[int | None, int, int | None]] = {
    CONNECT: (0, 10, None), PUBLISH: (None, 2, None), PUBACK: (0, 2, 2), PUBREC: (0, 2, 2),
    PUBREL: (2, 2, 2), PUBCOMP: (0, 2, 2), SUBSCRIBE: (2, 6, None), UNSUBSCRIBE: (2, 5, None),
    PINGREQ: (0, 0, 0), DISCONNECT: (0, 0, 0),
}


async def read_packet(reader: ByteSource, limit: int, *, first: bool) -> bytes | None:
    """The next whole packet (header and body) from a client, None at the end of the stream. ``first``: the
    connection's first packet, which must be a CONNECT (and no later one may be). Raises BadPacket."""
    head = await reader.read(1)
    if not head:
        return None
    kind, flags = head[0] >> 4, head[0] & 0x0F
    rule = _RULES.get(kind)
    if rule is None:
        raise BadPacket("malformed", f"packet type {kind} is not one a client sends")
    if (kind == CONNECT) != first:
        raise BadPacket("malformed", "the first packet must be a CONNECT, and only the first")
    length, length_bytes = await _remaining_length(reader)
    if 1 + len(length_bytes) + length > limit:
        raise BadPacket("oversized", f"a {length}-byte packet (limit {limit} bytes)")
    required, smallest, largest = rule
    if required is not None and flags != required:
        raise BadPacket("malformed", f"packet type {kind} with flags {flags:#x}")
    if length < smallest or (largest is not None and length > largest):
        raise BadPacket("malformed", f"packet type {kind} with a {length}-byte body")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return None
    if kind == PUBLISH:
        _check_publish(flags, body)
    return head + length_bytes + body


async def _remaining_length(reader: ByteSource) -> tuple[int, bytes]:
    value, raw = 0, b""
    for i in range(4):
        byte = await reader.read(1)
        if not byte:
            raise BadPacket("malformed", "the stream ended inside a fixed header")
        raw += byte
        value += (byte[0] & 0x7F) << (7 * i)
        if not byte[0] & 0x80:
            return value, raw
    raise BadPacket("malformed", "a remaining length longer than four bytes")


def _check_publish(flags: int, body: bytes) -> None:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise BadPacket("malformed", "a PUBLISH with QoS 3")
    topic_len = int.from_bytes(body[:2], "big")
    if 2 + topic_len + (2 if qos else 0) > len(body):
        raise BadPacket("malformed", "a PUBLISH whose topic runs past its length")


@dataclass(frozen=True)
class ConnectInfo:
    """What a CONNECT asks for: protocol level, client id, login ('' without), will topic ('' without)."""

    level: int
    client_id: str
    username: str
    password: str
    will_topic: str


def parse_connect(packet: bytes) -> ConnectInfo:
    """The fields of a whole CONNECT packet (from :func:`read_packet`). Raises BadPacket."""
    i = 1
    while packet[i] & 0x80:
        i += 1
    body = packet[i + 1:]
    try:
        name, at = _text(body, 0)
        level, flags = body[at], body[at + 1]
        if level == 5:  # MQTT 5: the broker answers "unsupported protocol version" and reads no further
            return ConnectInfo(5, "", "", "", "")
        client_id, at = _text(body, at + 4)
        will_topic = ""
        if flags & 0x04:
            will_topic, at = _text(body, at)
            _, at = _text(body, at)
        username, password = "", ""
        if flags & 0x80:
            username, at = _text(body, at)
        if flags & 0x40:
            password = _text(body, at)[0]
    except (IndexError, UnicodeDecodeError) as exc:
        raise BadPacket("malformed", f"an unreadable CONNECT ({exc})") from exc
    if name not in ("MQTT", "MQIsdp"):
        raise BadPacket("malformed", f"a CONNECT for protocol {name!r}")
    return ConnectInfo(level, client_id, username, password, will_topic)


def _text(body: bytes, at: int) -> tuple[str, int]:
    size = int.from_bytes(body[at:at + 2], "big")
    if at + 2 + size > len(body):
        raise IndexError("a string runs past the packet")
    return body[at + 2:at + 2 + size].decode("utf-8"), at + 2 + size


class GatedReader:
    """What amqtt reads a client's connection through: only whole packets that passed :func:`read_packet`,
    pulled one at a time (so a client that sends faster than the broker handles waits in its own socket
    buffer, not in our memory). A bad packet calls ``refuse`` and ends the stream."""

    def __init__(self, reader: ByteSource, limit: int, connect: bytes,
                 refuse: Callable[[BadPacket], None]) -> None:
        self._reader, self._limit, self._refuse = reader, limit, refuse
        self._buffer = bytearray(connect)
        self._eof = False

    async def _fill(self, wanted: int) -> None:
        while len(self._buffer) < wanted and not self._eof:
            try:
                packet = await read_packet(self._reader, self._limit, first=False)
            except BadPacket as exc:
                self._refuse(exc)
                packet = None
            except (ConnectionError, asyncio.IncompleteReadError):
                packet = None
            if packet is None:
                self._eof = True
            else:
                self._buffer += packet

    async def readexactly(self, n: int) -> bytes:
        await self._fill(n)
        if len(self._buffer) < n:
            partial = bytes(self._buffer)
            self._buffer.clear()
            raise asyncio.IncompleteReadError(partial, n)
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    async def read(self, n: int = -1) -> bytes:
        await self._fill(1)
        take = len(self._buffer) if n < 0 else min(n, len(self._buffer))
        out = bytes(self._buffer[:take])
        del self._buffer[:take]
        return out

    def feed_eof(self) -> None:
        self._eof = True

    def at_eof(self) -> bool:
        return self._eof and not self._buffer
