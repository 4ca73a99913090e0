"""The broker visioncast runs behaves as an MQTT 3.1.1 broker should: each check runs on the managed Mosquitto
(the reference) and on the embedded broker, started by visioncast's own open_broker on a free port.

Raw sockets speak the protocol where paho would hide the point (keepalive silence, an MQTT 5 CONNECT); paho
clients do the rest. The rules of who may write what (broker_acl) are checked on both too.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from tests.mqtt_peers import Subscriber, client, free_port, login_result

from visioncast.broker import BrokerHandle, open_broker
from visioncast.broker.acl import Login
from visioncast.broker.mosquitto import find_mosquitto
from visioncast.config import BrokerConfig

WAIT_S = 10.0
LIMIT = 1024
BOARD = ("board", "pw-板")


@pytest.fixture(params=["mosquitto", "embedded"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrokerHandle]:
    if request.param == "mosquitto" and find_mosquitto() is None:
        pytest.skip("Mosquitto is not installed (apt install mosquitto)")
    cfg = BrokerConfig(kind=request.param, host="127.0.0.1", port=free_port(), ws_port=0,
                       username=BOARD[0], password=BOARD[1], max_message_bytes=LIMIT)
    with open_broker(cfg, data_dir=tmp_path) as handle:
        assert handle.kind == request.param
        yield handle


def login(handle: BrokerHandle, role: str) -> Login:
    found = {"server": handle.server_login, "teacher": handle.teacher_login}.get(role)
    return found or Login(handle.username, handle.password, "board")


def publish(handle: BrokerHandle, role: str, topic: str, payload: bytes, *, retain: bool = False) -> None:
    who = login(handle, role)
    peer = client()
    peer.username_pw_set(who.username, who.password)
    peer.connect("127.0.0.1", handle.port)
    peer.loop_start()
    try:
        peer.publish(topic, payload, qos=1, retain=retain).wait_for_publish(WAIT_S)
    finally:
        peer.disconnect()
        peer.loop_stop()


def subscriber(handle: BrokerHandle, topic_filter: str, role: str = "board") -> Subscriber:
    who = login(handle, role)
    return Subscriber(handle.port, topic_filter, who.username, who.password)


def raw_connect(port: int, *, level: int = 4, keepalive_s: int = 60, user: str = "", password: str = "",
                client_id: str = "raw") -> socket.socket:
    """A socket that has sent one CONNECT of protocol ``level`` (4 = 3.1.1, 5 = MQTT 5)."""
    def text(s: str) -> bytes:
        data = s.encode()
        return len(data).to_bytes(2, "big") + data

    flags = 0x02 | (0xC0 if user else 0)
    header = text("MQTT") + bytes([level, flags]) + keepalive_s.to_bytes(2, "big")
    if level == 5:
        header += b"\x00"  # no properties
    body = header + text(client_id) + (text(user) + text(password) if user else b"")
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    sock.sendall(bytes([0x10, len(body)]) + body)
    return sock


def test_a_wrong_password_is_refused(broker: BrokerHandle) -> None:
    assert login_result(broker.port, BOARD[0], BOARD[1]) == "Success"
    assert login_result(broker.port, BOARD[0], "wrong") in ("Not authorized", "Bad user name or password")


def test_retained_messages_reach_only_matching_subscriptions(broker: BrokerHandle) -> None:
    everything = subscriber(broker, "#")  # a wildcard subscription held by another client
    try:
        publish(broker, "server", "visioncast/status", b"online", retain=True)
        everything.wait_for(lambda msgs: ("visioncast/status", b"online") in msgs)
        unrelated = subscriber(broker, "nothing/here")
        matching = subscriber(broker, "visioncast/+")
        try:
            matching.wait_for(lambda msgs: ("visioncast/status", b"online") in msgs)
            # The sentinel: a message to its own topic, which comes after any retained one sent at SUBSCRIBE.
            publish(broker, "server", "nothing/here", b"sentinel")
            unrelated.wait_for(lambda msgs: ("nothing/here", b"sentinel") in msgs)
            assert unrelated.messages == [("nothing/here", b"sentinel")]
        finally:
            unrelated.close()
            matching.close()
    finally:
        everything.close()


def test_a_reused_client_id_disconnects_the_older_connection(broker: BrokerHandle) -> None:
    gone = threading.Event()
    first = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="vc-board-same")
    first.username_pw_set(*BOARD)
    first.on_disconnect = lambda *_: gone.set()
    first.reconnect_delay_set(60, 60)  # it must not come back and push the newcomer out in turn
    connected = threading.Event()
    first.on_connect = lambda *_: connected.set()
    first.connect("127.0.0.1", broker.port, keepalive=60)
    first.loop_start()
    assert connected.wait(WAIT_S)
    sock = raw_connect(broker.port, user=BOARD[0], password=BOARD[1], client_id="vc-board-same")
    try:
        assert sock.recv(4)[:1] == b"\x20"
        assert gone.wait(WAIT_S), "the older connection with the same client id is still open"
    finally:
        sock.close()
        first.loop_stop()


def test_keepalive_is_enforced(broker: BrokerHandle) -> None:
    sock = raw_connect(broker.port, keepalive_s=1, user=BOARD[0], password=BOARD[1])
    try:
        assert sock.recv(4)[:1] == b"\x20"
        sock.settimeout(WAIT_S)
        t0 = time.monotonic()
        assert sock.recv(1) == b"", "the broker must close a client silent for 1.5 × its keepalive"
        assert time.monotonic() - t0 < WAIT_S
    finally:
        sock.close()


def test_an_mqtt5_connect_is_answered(broker: BrokerHandle) -> None:
    sock = raw_connect(broker.port, level=5, user=BOARD[0], password=BOARD[1])
    try:
        connack = sock.recv(5)
    finally:
        sock.close()
    assert connack[:1] == b"\x20", f"no CONNACK to an MQTT 5 CONNECT, got {connack!r}"
    assert connack[3] in (0x00, 0x84), "accepted (Mosquitto) or 'unsupported protocol version'"


def test_messages_over_the_size_limit_are_not_forwarded(broker: BrokerHandle) -> None:
    sub = subscriber(broker, "board/#")
    try:
        publish(broker, "board", "board/a1/big", b"x" * (LIMIT + 1))
        publish(broker, "board", "board/a1/small", b"ok")
        sub.wait_for(lambda msgs: ("board/a1/small", b"ok") in msgs)
        assert [t for t, _ in sub.messages] == ["board/a1/small"]
    finally:
        sub.close()


@pytest.mark.parametrize(("role", "topic", "allowed"), [
    ("board", "visioncast/detect/label", False),
    ("board", "visioncast/detect/cmd", False),
    ("board", "board/a1/temperature", True),
    ("teacher", "visioncast/detect/cmd", True),
    ("teacher", "visioncast/detect/label", False),
    ("server", "visioncast/detect/label", True),
])
def test_who_may_write_what(broker: BrokerHandle, role: str, topic: str, allowed: bool) -> None:
    sub = subscriber(broker, "#", "server")
    try:
        publish(broker, role, topic, b"1")
        publish(broker, "server", "visioncast/marker", b"after")  # delivered after the first, if any
        sub.wait_for(lambda msgs: ("visioncast/marker", b"after") in msgs)
        assert ((topic, b"1") in sub.messages) is allowed
    finally:
        sub.close()


def test_every_login_reads_everything(broker: BrokerHandle) -> None:
    subs = [subscriber(broker, "visioncast/#", role) for role in ("board", "teacher", "server")]
    try:
        publish(broker, "server", "visioncast/detect/label", "人".encode())
        for sub in subs:
            sub.wait_for(lambda msgs: ("visioncast/detect/label", "人".encode()) in msgs)
    finally:
        for sub in subs:
            sub.close()


def test_paho_mqtt5_client_gets_a_clear_answer(broker: BrokerHandle) -> None:
    answer: list[str] = []
    done = threading.Event()
    peer = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    peer.username_pw_set(*BOARD)
    peer.on_connect = lambda _c, _u, _f, reason, _p: (answer.append(str(reason)), done.set())
    peer.connect("127.0.0.1", broker.port)
    peer.loop_start()
    try:
        assert done.wait(WAIT_S), "no CONNACK"
    finally:
        peer.disconnect()
        peer.loop_stop()
    assert answer[0] in ("Success", "Unsupported protocol version")


def test_a_subscriber_that_stops_reading_costs_a_bounded_queue(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Embedded only: Mosquitto bounds it itself (max_queued_messages, 1000 by default) and drops silently.
    from visioncast.broker import embedded as broker_embedded  # noqa: PLC0415

    monkeypatch.setattr(broker_embedded, "MAX_INFLIGHT", 50)  # the bound, made small for a quick test
    cfg = BrokerConfig(kind="embedded", host="127.0.0.1", port=free_port(), ws_port=0,
                       username=BOARD[0], password=BOARD[1])
    with open_broker(cfg, data_dir=tmp_path) as handle:
        stuck = raw_connect(handle.port, user=BOARD[0], password=BOARD[1], client_id="stuck")
        try:
            assert stuck.recv(4)[:1] == b"\x20"
            topic = b"board/#"
            subscribe = b"\x00\x01" + len(topic).to_bytes(2, "big") + topic + b"\x01"  # QoS 1, never acked
            stuck.sendall(bytes([0x82, len(subscribe)]) + subscribe)
            assert stuck.recv(5)[:1] == b"\x90"
            sender = client()
            sender.username_pw_set(*BOARD)
            sender.connect("127.0.0.1", handle.port)
            sender.loop_start()
            try:
                infos = [sender.publish("board/a1/n", b"%d" % i, qos=1) for i in range(250)]
                infos[-1].wait_for_publish(WAIT_S)
            finally:
                sender.disconnect()
                sender.loop_stop()
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline and handle.drops().get("slow_subscriber", 0) < 100:
                time.sleep(0.05)
            assert handle.drops().get("slow_subscriber", 0) >= 100  # 250 sent, at most 50 waiting
        finally:
            stuck.close()


@pytest.mark.parametrize("kind", ["mosquitto", "embedded"])
def test_mqtt_over_tls_with_the_servers_certificate(kind: str, tmp_path: Path) -> None:
    if kind == "mosquitto" and find_mosquitto() is None:
        pytest.skip("Mosquitto is not installed (apt install mosquitto)")
    from visioncast.server.tls import ensure_certificate  # noqa: PLC0415

    cert = ensure_certificate(tmp_path / "tls", ["127.0.0.1"])
    cfg = BrokerConfig(kind=kind, host="127.0.0.1", port=free_port(), ws_port=0, tls_port=free_port(),
                       username=BOARD[0], password=BOARD[1])
    with open_broker(cfg, data_dir=tmp_path, tls=(cert.cert_path, cert.key_path)) as handle:
        assert handle.tls_port == cfg.tls_port
        received = threading.Event()
        peer = client()
        peer.tls_set(ca_certs=str(cert.cert_path))  # verifies the server's self-signed certificate
        peer.username_pw_set(*BOARD)
        peer.on_message = lambda *_: received.set()
        subscribed = threading.Event()
        peer.on_subscribe = lambda *_: subscribed.set()
        peer.connect("127.0.0.1", handle.tls_port)
        peer.subscribe("visioncast/#", qos=1)
        peer.loop_start()
        try:
            assert subscribed.wait(WAIT_S), "no SUBACK over TLS"
            publish(handle, "server", "visioncast/detect/label", b"person")
            assert received.wait(WAIT_S), "nothing arrived over TLS"
        finally:
            peer.disconnect()
            peer.loop_stop()
        with socket.create_connection(("127.0.0.1", handle.tls_port), timeout=WAIT_S) as plain:
            plain.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")  # a CONNECT without TLS
            plain.settimeout(WAIT_S)
            try:
                answer = plain.recv(4)
            except ConnectionResetError:  # Mosquitto resets it; amqtt closes it
                answer = b""
        assert not answer.startswith(b"\x20"), "the TLS port must not speak plain MQTT"
