"""The embedded broker's packet gate (broker/gate.py): whole packets within the limit pass, anything a client
must not send is refused before it is read."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from visioncast.broker.gate import BadPacket, GatedReader, max_packet_bytes, parse_connect, read_packet


def run(coroutine):
    """``asyncio.run`` on a thread of its own: the browser tests' Playwright keeps an event loop running on
    the main thread for the whole session."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def text(value: str) -> bytes:
    return len(value.encode()).to_bytes(2, "big") + value.encode()


_BODY = text("MQTT") + b"\x04\xe6\x00\x3c" + text("id") + text("a/b/c") + text("x") + text("u") + text("pw")
CONNECT = bytes([0x10, len(_BODY)]) + _BODY  # login, a retained QoS 0 will


def stream(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def read(data: bytes, *, first: bool = False, limit: int = 1000) -> bytes | None:
    async def go() -> bytes | None:
        return await read_packet(stream(data), limit, first=first)

    return run(go())


def test_a_connect_is_read_whole_and_parsed() -> None:
    assert read(CONNECT + b"\xc0\x00", first=True) == CONNECT
    info = parse_connect(CONNECT)
    assert (info.level, info.client_id, info.will_topic, info.username, info.password) == (
        4, "id", "a/b/c", "u", "pw")


@pytest.mark.parametrize(("data", "first", "kind"), [
    (b"\x30\xff\xff\xff\x7f", False, "oversized"),  # a PUBLISH announcing 256 MB
    (b"\x10\xff\xff\xff\x7f", True, "oversized"),  # a CONNECT announcing 256 MB
    (b"\x30\xff\xff\xff\xff\x01", False, "malformed"),  # a remaining length of five bytes
    (b"\xf0\x00", False, "malformed"),  # reserved packet type
    (b"\x20\x02\x00\x00", False, "malformed"),  # a CONNACK from a client
    (b"\x62\x02\x00\x01", False, "malformed"),  # PUBREL with the right flags passes…
    (b"\x70\x03\x00\x01\x00", False, "malformed"),  # …a PUBCOMP of three bytes does not
    (b"\x36\x04\x00\x01ab", False, "malformed"),  # QoS 3
    (b"\x30\x03\x00\x09a", False, "malformed"),  # a topic longer than the packet
    (CONNECT, False, "malformed"),  # a second CONNECT
    (b"\xc0\x00", True, "malformed"),  # anything but a CONNECT first
])
def test_refused_packets(data: bytes, first: bool, kind: str) -> None:
    if data == b"\x62\x02\x00\x01":
        assert read(data) == data
        return
    with pytest.raises(BadPacket) as refused:
        read(data, first=first)
    assert refused.value.kind == kind


def test_the_limit_leaves_room_for_a_topic() -> None:
    assert max_packet_bytes(262144) == 262144 + 65541


def test_the_gated_reader_ends_the_stream_at_a_bad_packet() -> None:
    refused: list[BadPacket] = []

    async def go() -> tuple[bytes, bytes]:
        gated = GatedReader(stream(b"\xc0\x00\xf0\x00\xc0\x00"), 1000, CONNECT, refused.append)
        connect, ping = await gated.readexactly(len(CONNECT)), await gated.readexactly(2)
        with pytest.raises(asyncio.IncompleteReadError):
            await gated.readexactly(2)  # the reserved packet ends it: the ping after it is never read
        return connect, ping

    assert run(go()) == (CONNECT, b"\xc0\x00")
    assert [r.kind for r in refused] == ["malformed"]
