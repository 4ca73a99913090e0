"""The brokers hold the line (issue 27, item 4): played from this machine's LAN address against the managed
Mosquitto and the embedded broker, each started by visioncast's open_broker on every network (0.0.0.0) and a
free port. A board's login cannot put a label on the server's topics through its will; oversized and
malformed packets close the connection; a client id is taken over only by its own login; QoS 1 messages the
broker acknowledged reach every subscriber even when their publisher leaves at once, and a persistent session
gets what it did not acknowledge again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from tests.mqtt_peers import Subscriber, free_port

from visioncast.broker import BrokerHandle, open_broker
from visioncast.broker.mosquitto import find_mosquitto
from visioncast.config import BrokerConfig
from visioncast.network import lan_addresses

LAN = lan_addresses(loopback=False)[0] if lan_addresses(loopback=False) else "127.0.0.1"
WAIT_S = 10.0
LIMIT = 4096
BOARD = ("board", "pw-板")

pytestmark = pytest.mark.skipif(LAN.startswith("127."), reason="this machine has no non-loopback address")


def start(kind: str, data: Path, **settings: object) -> BrokerHandle:
    if kind == "mosquitto" and find_mosquitto() is None:
        pytest.skip("Mosquitto is not installed (apt install mosquitto)")
    fields: dict[str, Any] = {"ws_port": 0, "tls_port": 0, "max_message_bytes": LIMIT, **settings}
    cfg = BrokerConfig(kind=kind, host="0.0.0.0", port=free_port(), username=BOARD[0], password=BOARD[1],
                       **fields)
    return open_broker(cfg, data_dir=data)


@pytest.fixture(params=["mosquitto", "embedded"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrokerHandle]:
    with start(request.param, tmp_path) as handle:
        yield handle


def text(s: str) -> bytes:
    data = s.encode()
    return len(data).to_bytes(2, "big") + data


def length(n: int) -> bytes:
    out = b""
    while True:
        n, digit = n >> 7, n & 0x7F
        out += bytes([digit | (0x80 if n else 0)])
        if not n:
            return out


def connect_packet(client_id: str, login: tuple[str, str] | None = BOARD,
                   will: tuple[str, bytes] | None = None, *, clean: bool = True) -> bytes:
    flags = (0x02 if clean else 0) | (0xC0 if login else 0) | (0x24 if will else 0)  # will: retained, QoS 0
    body = text("MQTT") + bytes([4, flags]) + (60).to_bytes(2, "big") + text(client_id)
    if will:
        body += text(will[0]) + len(will[1]).to_bytes(2, "big") + will[1]
    if login:
        body += text(login[0]) + text(login[1])
    return b"\x10" + length(len(body)) + body


def lan_socket(port: int) -> socket.socket:
    return socket.create_connection((LAN, port), timeout=WAIT_S, source_address=(LAN, 0))


def connack(sock: socket.socket) -> int:
    """The CONNACK return code (-1: the connection was closed instead)."""
    answer = b""
    while len(answer) < 4:
        try:
            chunk = sock.recv(4 - len(answer))
        except ConnectionResetError:
            return -1
        if not chunk:
            return -1
        answer += chunk
    assert answer[0] == 0x20, answer
    return answer[3]


def closed(sock: socket.socket) -> bool:
    """The broker closed the connection within WAIT_S (reads whatever it still sends)."""
    sock.settimeout(WAIT_S)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def paho_client(handle: BrokerHandle, login: tuple[str, str], client_id: str = "", *,
                clean: bool = True) -> paho.Client:
    peer = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
    peer.username_pw_set(*login)
    connected = threading.Event()
    peer.on_connect = lambda *_: connected.set()
    peer.connect(LAN, handle.port, keepalive=30, bind_address=LAN)
    peer.loop_start()
    assert connected.wait(WAIT_S), "no CONNACK"
    return peer


def server(handle: BrokerHandle) -> tuple[str, str]:
    assert handle.server_login is not None
    return handle.server_login.username, handle.server_login.password


def test_a_boards_will_cannot_put_a_label_on_the_servers_topics(broker: BrokerHandle) -> None:
    watcher = Subscriber(broker.port, "#", *server(broker), host=LAN)
    try:
        sock = lan_socket(broker.port)
        sock.sendall(connect_packet("evil", will=("visioncast/cam2/label", b"PWNED")))
        code = connack(sock)
        assert code == 0, f"CONNACK {code}: both brokers accept the login and drop the will it may not write"
        marker = b"\x30" + length(2 + len("board/evil/last") + 3) + text("board/evil/last") + b"bye"
        sock.sendall(marker)  # the broker reads this, then the end of the stream (the will, if any)
        sock.close()
        watcher.wait_for(lambda msgs: ("board/evil/last", b"bye") in msgs)
        peer = paho_client(broker, server(broker))
        peer.publish("visioncast/after", b"1", qos=1).wait_for_publish(WAIT_S)
        peer.disconnect()
        watcher.wait_for(lambda msgs: ("visioncast/after", b"1") in msgs)
        assert ("visioncast/cam2/label", b"PWNED") not in watcher.messages
    finally:
        watcher.close()
    late = Subscriber(broker.port, "visioncast/#", *BOARD, host=LAN)  # nothing retained either
    try:
        peer = paho_client(broker, server(broker))
        peer.publish("visioncast/after2", b"2", qos=1).wait_for_publish(WAIT_S)
        peer.disconnect()
        late.wait_for(lambda msgs: ("visioncast/after2", b"2") in msgs)
        assert all(topic != "visioncast/cam2/label" for topic, _ in late.messages)
    finally:
        late.close()


@pytest.mark.parametrize("login", [BOARD, None], ids=["board", "anonymous"])
def test_an_oversized_packet_closes_the_connection(broker: BrokerHandle,
                                                   login: tuple[str, str] | None) -> None:
    sock = lan_socket(broker.port)
    try:
        if login is None:  # before any login: a CONNECT announcing 250 MB
            sock.sendall(b"\x10" + length(250_000_000) + b"\x00\x04MQTT\x04\x02")
        else:
            sock.sendall(connect_packet("big"))
            assert connack(sock) == 0
            sock.sendall(b"\x30" + length(250_000_000) + text("board/a1/x") + b"x" * 65536)
        assert closed(sock), "the broker keeps reading a 250 MB packet"
    finally:
        sock.close()
    peer = paho_client(broker, BOARD)  # the broker goes on
    peer.disconnect()


def test_malformed_packets_close_the_connection_with_one_log_line(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    # Embedded: Mosquitto also closes on a bad packet type, but logs each acknowledgement of an unknown id.
    caplog.set_level(logging.WARNING)
    with start("embedded", tmp_path) as handle:
        for attempt in range(3):
            sock = lan_socket(handle.port)
            try:
                sock.sendall(connect_packet(f"bad{attempt}"))
                assert connack(sock) == 0
                # a PUBLISH whose length is wrong, then what that makes of the rest: PUBCOMPs, a reserved type
                garbage = b"\x30\x05" + text("board/a") + b"\x70\x02\x00\x01" * 5000 + b"\xf0\x00" * 100
                sock.sendall(garbage)
                assert closed(sock), "the broker keeps parsing a broken stream"
            finally:
                sock.close()
        lines = [r for r in caplog.records if LAN in r.getMessage()]
        assert len(lines) == 1, [r.getMessage() for r in lines]
        assert handle.drops().get("malformed", 0) >= 3
        assert sum(1 for r in caplog.records if r.name.startswith("amqtt")) < 50


def test_a_client_id_is_taken_over_only_by_its_own_login(tmp_path: Path) -> None:
    # Embedded: Mosquitto has no rule tying client ids to logins (the server's client id is unguessable).
    with start("embedded", tmp_path) as handle:
        gone = threading.Event()
        owner = paho_client(handle, server(handle), "visioncast-server-1")
        owner.on_disconnect = lambda *_: gone.set()
        try:
            sock = lan_socket(handle.port)
            sock.sendall(connect_packet("visioncast-server-1"))
            assert connack(sock) == 2, "another login must not take the server's client id"
            sock.close()
            assert owner.publish("visioncast/still", b"here", qos=1).wait_for_publish(WAIT_S) is None
            assert not gone.is_set()
            same = lan_socket(handle.port)
            same.sendall(connect_packet("visioncast-server-1", login=server(handle)))
            assert connack(same) == 0  # its own login may
            assert gone.wait(WAIT_S)
            same.close()
        finally:
            owner.loop_stop()


def test_acknowledged_qos1_messages_reach_every_subscriber_when_the_publisher_leaves_at_once(
        broker: BrokerHandle) -> None:
    count, subscribers = 300, [Subscriber(broker.port, "board/#", *BOARD, host=LAN) for _ in range(8)]
    try:
        sender = paho_client(broker, BOARD)
        infos = [sender.publish("board/a1/n", b"%d" % i, qos=1) for i in range(count)]
        for info in infos:
            info.wait_for_publish(WAIT_S)
        sender.disconnect()  # at once, every message acknowledged
        sender.loop_stop()
        for sub in subscribers:
            sub.wait_for(lambda msgs: len(msgs) >= count, timeout_s=30)
            assert sorted(int(p) for _, p in sub.messages) == list(range(count))
    finally:
        for sub in subscribers:
            sub.close()


def test_a_persistent_session_gets_its_unacknowledged_messages_again(broker: BrokerHandle) -> None:
    got: list[bytes] = []
    first_copy = threading.Event()
    keeper = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="keeper", clean_session=False)
    keeper.username_pw_set(*BOARD)
    keeper.manual_ack_set(True)  # it never acknowledges
    keeper.on_message = lambda _c, _u, msg: (got.append(bytes(msg.payload)), first_copy.set())
    subscribed = threading.Event()
    keeper.on_subscribe = lambda *_: subscribed.set()
    keeper.connect(LAN, broker.port, bind_address=LAN)
    keeper.subscribe("board/#", qos=1)
    keeper.loop_start()
    try:
        assert subscribed.wait(WAIT_S)
        sender = paho_client(broker, BOARD)
        sender.publish("board/a1/keep", b"again", qos=1).wait_for_publish(WAIT_S)
        sender.disconnect()
        assert first_copy.wait(WAIT_S)
    finally:
        keeper.disconnect()
        keeper.loop_stop()
    again = threading.Event()
    back = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="keeper", clean_session=False)
    back.username_pw_set(*BOARD)
    back.on_message = lambda _c, _u, msg: again.set() if msg.payload == b"again" else None
    back.connect(LAN, broker.port, bind_address=LAN)
    back.loop_start()
    try:
        assert again.wait(WAIT_S), "the unacknowledged message was not sent again [MQTT-4.4.0-1]"
    finally:
        back.disconnect()
        back.loop_stop()


def test_connections_over_the_limit_are_refused(broker_kind: str, tmp_path: Path) -> None:
    with start(broker_kind, tmp_path, max_connections=2) as handle:
        held = [lan_socket(handle.port) for _ in range(2)]
        try:
            for i, sock in enumerate(held):
                sock.sendall(connect_packet(f"held{i}"))
                assert connack(sock) == 0
            extra = lan_socket(handle.port)
            extra.sendall(connect_packet("extra"))
            assert connack(extra) == -1, "a third connection must be closed"
            extra.close()
        finally:
            for sock in held:
                sock.close()


@pytest.fixture(params=["mosquitto", "embedded"])
def broker_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only when run as root")
def test_mosquitto_started_as_root_runs_as_an_unprivileged_user(tmp_path: Path) -> None:
    with start("mosquitto", tmp_path) as handle:
        pid = handle.runner.pid  # type: ignore[union-attr]
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
        uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
        assert "0" not in uids, f"Mosquitto runs as root: {uids}"
        peer = paho_client(handle, BOARD)  # and reads its logins
        peer.disconnect()


def test_an_oversized_packet_over_websocket_closes_the_connection(broker_kind: str, tmp_path: Path) -> None:
    from websockets.exceptions import ConnectionClosed  # noqa: PLC0415
    from websockets.sync.client import connect  # noqa: PLC0415

    ws_port = free_port()
    with start(broker_kind, tmp_path, ws_port=ws_port) as handle:
        assert handle.ws_port == ws_port
        with connect(f"ws://{LAN}:{ws_port}/", subprotocols=["mqtt"], open_timeout=WAIT_S) as ws:
            ws.send(connect_packet("big-ws"))
            assert bytes(ws.recv(WAIT_S))[:1] == b"\x20"
            ws.send(b"\x30" + length(250_000_000) + text("board/a1/x") + b"x" * 65536)
            try:
                for _ in range(100):  # 6.5 MB more, in WebSocket messages the broker may accept
                    ws.send(b"x" * 65536)
                ws.recv(WAIT_S)
            except ConnectionClosed:
                return
            except TimeoutError:
                pass
            if broker_kind == "mosquitto":
                pytest.xfail("Mosquitto 2.0.11 does not apply max_packet_size to WebSocket clients "
                             "(docs/mqtt.md: ws_port 0 turns that listener off)")
            raise AssertionError("the broker keeps reading a 250 MB packet over WebSocket")
