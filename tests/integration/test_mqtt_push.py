"""MQTT push end to end against real brokers: the embedded one (amqtt) and a Mosquitto on a free port."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jsonschema import validate

from mqtt_peers import Subscriber, free_port, login_result, mosquitto
from visioncast import config
from visioncast.broker import BrokerHandle, open_broker
from visioncast.config import BrokerConfig, MqttConfig
from visioncast.core.payload import RESULT_SCHEMA
from visioncast.core.types import Classification, Result
from visioncast.errors import ConfigError
from visioncast.server.app import create_app
from visioncast.server.push.routes import attach
from visioncast.sinks import mqtt_format as fmt
from visioncast.sinks.mqtt import MqttSink
from visioncast.sinks.mqtt_command import COMMAND_SCHEMA
from visioncast.sources.image import read_image
from visioncast.tasks.base import TaskOptions

USER, PASSWORD = "board", "s3cret-pw"
WAIT_S = 10.0


@dataclass
class Peer:
    """A broker the test can stop and start again on the same port."""

    kind: str
    tmp: Path
    port: int = field(default_factory=free_port)
    user: str = USER
    password: str = PASSWORD
    _handle: BrokerHandle | None = None
    _mosquitto: Any = None

    def start(self) -> None:
        if self.kind == "embedded":  # the data dir keeps the server's login the same across restarts
            self._handle = open_broker(BrokerConfig(kind="embedded", host="127.0.0.1", port=self.port,
                                                    ws_port=0, username=self.user, password=self.password),
                                       data_dir=self.tmp)
        else:
            self._mosquitto = mosquitto(self.tmp, self.port, {self.user: self.password})
            self._mosquitto.__enter__()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._mosquitto is not None:
            self._mosquitto.__exit__(None, None, None)
            self._mosquitto = None

    def mqtt(self, **changes: Any) -> MqttConfig:
        """The sink's settings: the server's own login on the embedded broker (boards may not publish
        results there), the one login of the test's plain Mosquitto otherwise."""
        login = self._handle.server_login if self._handle is not None else None
        user, password = (login.username, login.password) if login else (self.user, self.password)
        base: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "username": user,
                                "password": password, "reconnect_max_s": 1}
        return MqttConfig(**{**base, **changes})


@pytest.fixture(params=["embedded", "mosquitto"])
def peer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Peer]:
    p = Peer(request.param, tmp_path)
    p.start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Peer]:
    p = Peer("embedded", tmp_path)
    p.start()
    try:
        yield p
    finally:
        p.stop()


def classified(label: str, score: float = 0.9) -> Result:
    return Result("classify", "test", 32, 32, classification=Classification([0], [score], [label]))


def wait_until(predicate: Any, what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout_s} s")
        time.sleep(0.02)


def test_http_detection_is_pushed_as_result_label_and_counts(peer: Peer, tmp_path: Path,
                                                             data_dir: Path) -> None:
    app = create_app(config.load(env={}, overrides={"data_dir": str(tmp_path / "data")}))
    sink = attach(app, peer.mqtt())
    sub = Subscriber(peer.port, "visioncast/#", peer.user, peer.password)
    try:
        assert sink.wait_connected(WAIT_S), sink.error
        with (data_dir / "bus.jpg").open("rb") as f:
            resp = app.test_client().post("/api/v1/detect?source=cam1", data={"image": (f, "bus.jpg")})
        assert resp.status_code == 200, resp.json
        counts: dict[str, int] = {}
        for det in resp.json["detections"]:
            counts[det["label"]] = counts.get(det["label"], 0) + 1
        topics = {"visioncast/cam1/result", "visioncast/cam1/label"} | {
            f"visioncast/cam1/count/{label}" for label in counts}
        sub.wait_for(lambda msgs: topics <= {t for t, _ in msgs})

        result = json.loads(sub.payloads("visioncast/cam1/result")[0])
        validate(result, RESULT_SCHEMA)
        assert result["detections"] == resp.json["detections"]
        assert (result["source"], result["frame"]) == ("cam1", 0)
        assert abs(result["sent_at"] - time.time()) < 60  # the wall clock at publishing, beside "timestamp"
        assert sub.payloads("visioncast/cam1/label") == [max(counts, key=counts.__getitem__).encode()]
        for label, n in counts.items():
            count = json.loads(sub.payloads(f"visioncast/cam1/count/{label}")[0])
            validate(count, fmt.COUNT_SCHEMA)
            assert count == n
        status = sub.payloads("visioncast/server/status")[-1].decode()
        validate(status, fmt.STATUS_SCHEMA)
        assert status == "online"
    finally:
        sub.close()
        app.extensions["visioncast"].close()


DEBOUNCE_CASES = [
    # (frames, window, labels in, label messages out)
    (3, 0, "a a a b a b b b", "a b"),
    (3, 0, "a a b b a a", ""),
    (1, 0, "a a b b a", "a b a"),
    (2, 0, "a b b a a a b", "b a"),
    (0, 3, "a b a b b c c c", "a b c"),
    (0, 5, "a b c a b c", ""),
]


@pytest.mark.parametrize(("frames", "window", "labels", "expected"), DEBOUNCE_CASES)
def test_debounced_label_messages(embedded: Peer, frames: int, window: int, labels: str,
                                   expected: str) -> None:
    sink = MqttSink(embedded.mqtt(policy="change", debounce_frames=max(frames, 1), window=window)).start()
    sub = Subscriber(embedded.port, "visioncast/deb/label", embedded.user, embedded.password)
    try:
        assert sink.wait_connected(WAIT_S), sink.error
        for label in labels.split():
            sink.publish(classified(label), source="deb")
        want = [x.encode() for x in expected.split()]
        wait_until(lambda: sink.status()["queued"] == 0 and sink.status()["sent"] >= 3 * len(want),
                   "all sent")
        sub.wait_for(lambda msgs: len(msgs) >= len(want))
        assert sub.payloads("visioncast/deb/label") == want
        status = sink.status()
        assert status["skipped"] == len(labels.split()) - len(want)
        assert status["dropped"] == 0
    finally:
        sub.close()
        sink.close()


def test_broker_killed_mid_stream(peer: Peer, detector: Any, data_dir: Path) -> None:
    image = read_image(data_dir / "bus.jpg")
    peer.stop()  # the test owns the broker's whole life, so no thread of it exists before or after
    before = set(threading.enumerate())
    peer.start()
    sink = MqttSink(peer.mqtt()).start()
    assert sink.wait_connected(WAIT_S), sink.error
    peer.stop()
    wait_until(lambda: not sink.connected.is_set(), "disconnect noticed")
    for _ in range(3):  # inference and publishing go on while the broker is away
        sink.publish(detector(image), source="k")
    wait_until(lambda: sink.status()["queued"] == 0, "queue drained")
    down = sink.status()
    assert down["dropped_disconnected"] >= 3
    assert not down["connected"]
    assert down["error"]

    peer.start()
    assert sink.connected.wait(WAIT_S), sink.error  # reconnected by itself (backoff capped at 1 s here)
    sub = Subscriber(peer.port, "visioncast/k/label", peer.user, peer.password)
    sink.publish(detector(image), source="k")
    sub.wait_for(lambda msgs: len(msgs) >= 1)
    # the retained label re-sent at the reconnection may arrive beside the new one: both say person
    assert set(sub.payloads("visioncast/k/label")) == {b"person"}
    sub.close()
    sink.close()
    peer.stop()
    wait_until(lambda: set(threading.enumerate()) <= before, "threads gone", timeout_s=5)


def test_siot_preset_delivers_label_text(tmp_path: Path, classifier: Any, data_dir: Path) -> None:
    port = free_port()
    with open_broker(BrokerConfig(host="127.0.0.1", port=port, ws_port=0, preset="siot")) as broker:
        assert broker.server_login is not None  # boards (siot/dfrobot) may not publish the server's topics
        assert fmt.resolve(MqttConfig(preset="siot")).policy == "change"  # the preset's default
        sink = MqttSink(MqttConfig(host="127.0.0.1", port=port, preset="siot", source="emotion",
                                   policy="every", username=broker.server_login.username,
                                   password=broker.server_login.password)).start()
        sub = Subscriber(port, "siot/#", "siot", "dfrobot")
        try:
            assert sink.wait_connected(WAIT_S), sink.error
            result = classifier(read_image(data_dir / "cifar10" / "cifar10_00_3.png"), TaskOptions(top=3))
            sink.publish(result, source="api")
            sub.wait_for(lambda msgs: any(t == "siot/emotion" for t, _ in msgs))
            assert sub.payloads("siot/emotion") == [result.top_label.encode("utf-8")]
            assert {t for t, _ in sub.messages} <= {"siot/emotion", "siot/server/status"}
        finally:
            sub.close()
            sink.close()


def test_wrong_password_is_refused(peer: Peer) -> None:
    assert login_result(peer.port, peer.user, peer.password) == "Success"
    assert login_result(peer.port, peer.user, "wrong") in ("Not authorized", "Bad user name or password")
    sink = MqttSink(peer.mqtt(password="wrong")).start()
    try:
        assert not sink.wait_connected(WAIT_S)
        assert "refused the login" in sink.status()["error"]
    finally:
        sink.close()


def test_commands_and_bad_commands_are_answered(embedded: Peer, tmp_path: Path) -> None:
    app = create_app(config.load(env={}, overrides={"data_dir": str(tmp_path)}))
    sink = attach(app, embedded.mqtt())
    teacher = embedded._handle.teacher_login if embedded._handle else None
    assert teacher is not None  # commands are the teacher's (boards may not send them)
    sub = Subscriber(embedded.port, "visioncast/api/#", teacher.username, teacher.password)
    try:
        assert sink.commands_ready.wait(WAIT_S), sink.error
        api_conf = app.extensions["visioncast"].detector().options.conf
        sent = [b"not json", b'{"cmd": "explode"}', b'{"cmd": "set_threshold"}',
                b'{"cmd": "snapshot", "id": 1}', b'{"cmd": "set_threshold", "conf": 0.6, "id": "t"}',
                b'{"cmd": "pause"}']
        for n, payload in enumerate(sent, 1):
            sub.client.publish("visioncast/api/cmd", payload, qos=1)
            sub.wait_for(lambda msgs, n=n: len([m for m in msgs if m[0] == "visioncast/api/cmd/reply"]) >= n)
        replies = [json.loads(p) for p in sub.payloads("visioncast/api/cmd/reply")]
        for reply in replies:
            validate(reply, fmt.REPLY_SCHEMA)
        assert [r["ok"] for r in replies] == [False, False, False, False, True, True]
        assert "must be JSON" in replies[0]["message"]
        assert "'explode' is not one of" in replies[1]["message"]
        assert "'conf' is a required property" in replies[2]["message"]
        assert "no result has been published" in replies[3]["message"]
        assert replies[3]["id"] == 1
        # set_threshold changes only what source 'api' publishes, never the API's own threshold
        assert app.extensions["visioncast"].detector().options.conf == pytest.approx(api_conf)
        assert (replies[4]["threshold"], replies[5]["paused"]) == (pytest.approx(0.6), True)
        sub.wait_for(lambda msgs: any(t == "visioncast/api/state" and json.loads(p)["paused"]
                                      for t, p in msgs))
        state = json.loads(sub.payloads("visioncast/api/state")[-1])
        validate(state, fmt.STATE_SCHEMA)
        sink.publish(classified("cat"), source="api")
        assert sink.status()["paused"] == 1
        assert sink.status()["bad_commands"] == 4
        validate({"cmd": "set_threshold", "conf": 0.5}, COMMAND_SCHEMA)
    finally:
        sub.close()
        app.extensions["visioncast"].close()


def test_json_payload_label_map_and_people_counter(embedded: Peer) -> None:
    sink = MqttSink(embedded.mqtt(payload="json", label_map=("开心=yellow",))).start()
    people = MqttSink(embedded.mqtt(preset="people-counter")).start()
    sub = Subscriber(embedded.port, "#", embedded.user, embedded.password)
    try:
        assert sink.wait_connected(WAIT_S)
        assert people.wait_connected(WAIT_S)
        before = time.time()
        sink.publish(classified("开心", 0.8), source="face")
        after = time.time()
        stats = {"schema_version": 1, "source": "door", "counts": {"person": 2}, "totals": {"person": 5}}
        people.publish_stats(stats, source="door")
        people.publish_event({"type": "track_left", "label": "person", "track_id": 3, "duration_s": 4.2,
                              "timestamp": 12.3}, source="door")
        wanted = {"visioncast/face/label", "person", "person/duration"}
        sub.wait_for(lambda msgs: wanted <= {t for t, _ in msgs})
        label = json.loads(sub.payloads("visioncast/face/label")[0])
        validate(label, fmt.LABEL_JSON_SCHEMA)
        assert (label["label"], label["message"], label["score"]) == ("开心", "yellow", 0.8)
        assert before <= label["sent_at"] <= after  # wall-clock publish time, for latency measurements
        person, duration = (json.loads(sub.payloads(t)[0]) for t in ("person", "person/duration"))
        validate(person, fmt.PERSON_SCHEMA)
        validate(duration, fmt.DURATION_SCHEMA)
        assert person == {"count": 2, "total": 5}
        assert duration == {"duration": 4.2}
    finally:
        sub.close()
        sink.close()
        people.close()


def test_a_port_held_by_another_broker_or_program_is_never_used(embedded: Peer) -> None:
    # The broker on the port has its own logins (not this data dir's): its users are not the ones printed.
    foreign = f"port {embedded.port} is taken by .*, a broker whose logins visioncast does not manage "
    with pytest.raises(ConfigError, match=foreign + ".*choose another port with broker.port"):
        open_broker(BrokerConfig(host="127.0.0.1", port=embedded.port, ws_port=0, username=USER,
                                 password=PASSWORD))
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} is taken by .* does not answer MQTT"):
            open_broker(BrokerConfig(host="127.0.0.1", port=port, ws_port=0, password="x"))
