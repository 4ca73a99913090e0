"""The Eclipse paho interoperability client test (MQTT 3.1.1, paho.mqtt.testing's client_test.py), played
with paho-mqtt against both brokers visioncast runs: the managed Mosquitto (the reference) and the embedded
one must pass the same checks — basic QoS 0/1/2, retained messages and their clearing, will, zero-length
client ids, offline queueing, overlapping subscriptions, keepalive, redelivery on reconnect, $-topics and
unsubscribe. The suite's topics and wildcard filters are paho's own; every client uses the server's login
(the only one that may write them, see broker.acl). Where paho's test sleeps to see that nothing arrives,
these publish a marker after and wait for it (one client, one topic order).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from tests.mqtt_peers import free_port

from visioncast.broker import BrokerHandle, open_broker
from visioncast.broker.mosquitto import find_mosquitto
from visioncast.config import BrokerConfig

WAIT_S = 10.0
TOPICS = ("TopicA", "TopicA/B", "Topic/C", "TopicA/C", "/TopicA")
WILDTOPICS = ("TopicA/+", "+/C", "#", "/#", "/+", "+/+", "TopicA/#")
Received = tuple[str, bytes, int, bool]  # topic, payload, QoS, retain


@pytest.fixture(params=["mosquitto", "embedded"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrokerHandle]:
    if request.param == "mosquitto" and find_mosquitto() is None:
        pytest.skip("Mosquitto is not installed (apt install mosquitto)")
    cfg = BrokerConfig(kind=request.param, host="127.0.0.1", port=free_port(), ws_port=0, tls_port=0,
                       username="board", password="board-pw")
    with open_broker(cfg, data_dir=tmp_path) as handle:
        yield handle


class Peer:
    """A paho-mqtt client with the server's login that records what it receives (paho's callback object)."""

    def __init__(self, handle: BrokerHandle, client_id: str = "", *, clean: bool = True, keepalive: int = 60,
                 will: tuple[str, bytes, int] | None = None, connect: bool = True) -> None:
        self.handle, self.messages, self.cond = handle, list[Received](), threading.Condition()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
        login = handle.server_login
        assert login is not None
        self.client.username_pw_set(login.username, login.password)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=will[2])
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self.client.on_unsubscribe = lambda *_: self._note("ack")
        self.connack: list[str] = []
        self.acks = 0
        self.keepalive = keepalive
        if connect:
            self.connect()

    def _note(self, what: str) -> None:
        with self.cond:
            self.acks += what == "ack"
            self.cond.notify_all()

    def _on_connect(self, _c: paho.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        with self.cond:
            self.connack.append(str(reason))
            self.cond.notify_all()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain)))
            self.cond.notify_all()

    def connect(self) -> str:
        before = len(self.connack)
        self.client.connect("127.0.0.1", self.handle.port, keepalive=self.keepalive)
        self.client.loop_start()
        self.wait(lambda: len(self.connack) > before, "CONNACK")
        return self.connack[-1]

    def wait(self, predicate: Callable[[], bool], what: str) -> None:
        with self.cond:
            if not self.cond.wait_for(predicate, WAIT_S):
                raise AssertionError(f"no {what} within {WAIT_S} s; got {self.messages}")

    def subscribe(self, *filters: tuple[str, int]) -> None:
        before = self.acks
        self.client.subscribe(list(filters))
        self.wait(lambda: self.acks > before, "SUBACK")

    def unsubscribe(self, *filters: str) -> None:
        before = self.acks
        self.client.unsubscribe(list(filters))
        self.wait(lambda: self.acks > before, "UNSUBACK")

    def publish(self, topic: str, payload: bytes, qos: int, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(WAIT_S)

    def wait_for(self, topic: str, payload: bytes) -> None:
        self.wait(lambda: any(m[:2] == (topic, payload) for m in self.messages), f"{topic} {payload!r}")

    def drop(self) -> None:
        """Go away without DISCONNECT (the will is sent)."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_basic(broker: BrokerHandle) -> None:
    peer = Peer(broker, "myclientid")
    try:
        peer.subscribe((TOPICS[0], 2))
        for qos in (0, 1, 2):
            peer.publish(TOPICS[0], b"qos %d" % qos, qos)
        peer.wait(lambda: len(peer.messages) == 3, "3 messages")
        assert sorted(m[2] for m in peer.messages) == [0, 1, 2]
    finally:
        peer.close()


def test_retained_messages(broker: BrokerHandle) -> None:
    peer = Peer(broker, "myclientid")
    try:
        for i, qos in ((1, 0), (2, 1), (3, 2)):
            peer.publish(TOPICS[i], b"qos %d" % qos, qos, retain=True)
        peer.subscribe((WILDTOPICS[5], 2))
        peer.wait(lambda: len(peer.messages) == 3, "3 retained messages")
        assert all(retain for *_, retain in peer.messages)
        for i in (1, 2, 3):  # clear them
            peer.publish(TOPICS[i], b"", 1, retain=True)
    finally:
        peer.close()
    again = Peer(broker, "myclientid")
    try:
        again.subscribe((WILDTOPICS[5], 2))
        again.publish(TOPICS[1], b"marker", 1)  # retained ones come before it, if any
        again.wait_for(TOPICS[1], b"marker")
        assert [m for m in again.messages if m[3]] == [], "cleared retained messages were sent"
    finally:
        again.close()


def test_will_message(broker: BrokerHandle) -> None:
    listener = Peer(broker, "myclientid2")
    leaver = Peer(broker, "myclientid", will=(TOPICS[2], b"client not disconnected", 2))
    try:
        listener.subscribe((TOPICS[2], 2))
        leaver.drop()
        listener.wait_for(TOPICS[2], b"client not disconnected")
    finally:
        listener.close()


def test_zero_length_clientid(broker: BrokerHandle) -> None:
    # paho-mqtt will not send an empty client id with clean session off: the CONNECT is written here
    login = broker.server_login
    assert login is not None

    def text(value: str) -> bytes:
        return len(value.encode()).to_bytes(2, "big") + value.encode()

    body = text("MQTT") + bytes([4, 0xC0]) + (60).to_bytes(2, "big") + text("") + text(login.username) + \
        text(login.password)
    with socket.create_connection(("127.0.0.1", broker.port), timeout=WAIT_S) as sock:
        sock.sendall(bytes([0x10, len(body)]) + body)
        answer = sock.recv(4)
    assert answer[:1] == b"\x20", answer
    assert answer[3] == 0x02, "an empty client id with clean session off is refused [MQTT-3.1.3-8]"
    clean = Peer(broker, "")
    try:
        assert clean.connack[-1] == "Success"
    finally:
        clean.close()


def test_offline_message_queueing(broker: BrokerHandle) -> None:
    offline = Peer(broker, "myclientid", clean=False)
    offline.subscribe((WILDTOPICS[5], 2))
    offline.close()
    sender = Peer(broker, "myclientid2")
    for i, qos in ((1, 0), (2, 1), (3, 2)):
        sender.publish(TOPICS[i], b"qos %d" % qos, qos)
    sender.close()
    back = Peer(broker, "myclientid", clean=False)
    try:
        back.wait(lambda: {b"qos 1", b"qos 2"} <= {m[1] for m in back.messages}, "the queued QoS 1 and 2")
        assert len(back.messages) in (2, 3)
        assert not any(m[3] for m in back.messages), "queued messages are not retained ones [MQTT-3.3.1-9]"
    finally:
        back.close()
        Peer(broker, "myclientid").close()  # clean the session up


def test_overlapping_subscriptions(broker: BrokerHandle) -> None:
    peer = Peer(broker, "myclientid")
    try:
        peer.subscribe((WILDTOPICS[6], 2), (WILDTOPICS[0], 1))
        peer.publish(TOPICS[3], b"overlapping topic filters", 2)
        peer.publish(TOPICS[0], b"marker", 1)  # "TopicA/#" matches "TopicA" itself
        peer.wait(lambda: any(m[1] == b"marker" for m in peer.messages), "the marker")
        copies = sorted(m[2] for m in peer.messages if m[1] == b"overlapping topic filters")
        if broker.kind == "mosquitto" and copies == [1]:
            pytest.xfail("Mosquitto 2.0.11 sends one copy at QoS 1; paho's test (and MQTT-3.3.5-1) want the "
                         "highest QoS of the matching subscriptions")
        peer.wait(lambda: any(m[2] == 2 for m in peer.messages), "the QoS 2 copy")  # paho hands a QoS 2
        copies = sorted(m[2] for m in peer.messages if m[1] == b"overlapping topic filters")  # over on PUBREL
        assert copies in ([2], [1, 2]), copies
    finally:
        peer.close()


def test_keepalive(broker: BrokerHandle) -> None:
    listener = Peer(broker, "myclientid2")
    silent = Peer(broker, "myclientid", keepalive=2, will=(TOPICS[4], b"keepalive expiry", 2))
    try:
        listener.subscribe((TOPICS[4], 2))
        silent.client.loop_stop()  # stops answering (and pinging), the socket stays open
        t0 = time.monotonic()
        listener.wait_for(TOPICS[4], b"keepalive expiry")
        assert time.monotonic() - t0 >= 1.0, "the will came before the keepalive ran out"
    finally:
        listener.close()
        sock = silent.client.socket()
        if sock is not None:
            sock.close()


def test_redelivery_on_reconnect(broker: BrokerHandle) -> None:
    paused = Peer(broker, "myclientid", clean=False, connect=False)
    paused.client.manual_ack_set(True)  # stops acknowledging incoming publishes
    paused.connect()
    paused.subscribe((WILDTOPICS[6], 2))
    paused.publish(TOPICS[1], b"", 1)
    paused.wait(lambda: len(paused.messages) == 1, "the first delivery")
    paused.close()
    back = Peer(broker, "myclientid", clean=False)
    try:
        back.wait(lambda: any(m[0] == TOPICS[1] for m in back.messages), "the redelivery")
    finally:
        back.close()
        Peer(broker, "myclientid").close()


def test_dollar_topics(broker: BrokerHandle) -> None:
    peer = Peer(broker, "myclientid")
    try:
        peer.subscribe((WILDTOPICS[5], 2))
        peer.publish("$" + TOPICS[1], b"", 1)
        peer.publish(TOPICS[1], b"marker", 1)
        peer.wait_for(TOPICS[1], b"marker")
        assert [m for m in peer.messages if m[0].startswith("$")] == []
    finally:
        peer.close()


def test_unsubscribe(broker: BrokerHandle) -> None:
    peer = Peer(broker, "myclientid")
    try:
        peer.subscribe((TOPICS[0], 2), (TOPICS[1], 2), (TOPICS[2], 2))
        peer.unsubscribe(TOPICS[0], TOPICS[1])
        for i in (0, 1):
            peer.publish(TOPICS[i], b"unsubscribed", 1)
        peer.publish(TOPICS[2], b"subscribed", 1)
        peer.wait_for(TOPICS[2], b"subscribed")
        assert [m[:2] for m in peer.messages] == [(TOPICS[2], b"subscribed")]
    finally:
        peer.close()
