"""Settings that stay (issue 21): a preset chosen at start survives any save from the /mqtt page and only an
explicit choice changes it; siot/server/status says online after every save; the plain label and count
topics are retained by default (never the result JSON) and turning retain off removes what was retained.
Real brokers (the siot-preset broker visioncast starts, a plain Mosquitto, the embedded broker) and real
subscribers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from mqtt_peers import Subscriber, free_port, mosquitto
from visioncast import config
from visioncast.broker import BrokerHandle, open_broker
from visioncast.config import BrokerConfig
from visioncast.server.app import create_app
from visioncast.server.push import routes as push

WAIT_S = 10.0
SENTINEL = "board/sentinel"  # boards may publish under board/


def served(data: Path, embedded: BrokerHandle | None, **flags: Any) -> Flask:
    app = create_app(config.load(env={}, overrides={"data_dir": str(data), **flags}))
    push.start(app, embedded)
    sink = push.sink_of(app.extensions["visioncast"])
    assert sink is not None
    assert sink.wait_connected(WAIT_S), sink.error
    return app


def detect(app: Flask, image: Path, source: str = "door", board: Subscriber | None = None) -> None:
    """POST ``image`` to /detect; when it returns the broker has the push (QoS 1) or was handed it. With
    ``board`` (subscribed to the source's topics), also wait until the broker forwarded its last message,
    the count of persons (bus.jpg): the embedded broker acknowledges a message before it handles it."""
    seen = len(board.messages) if board is not None else 0
    resp = app.test_client().post(f"/api/v1/detect?source={source}", data=image.read_bytes(),
                                  content_type="image/jpeg")
    assert resp.status_code == 200, resp.json
    sink = push.sink_of(app.extensions["visioncast"])
    assert sink is not None
    assert sink.flush(WAIT_S), "the broker has everything (QoS 1) or was handed it"
    if board is not None:
        last = f"visioncast/{source}/count/person"
        board.wait_for(lambda msgs: any(t == last for t, _ in msgs[seen:]), WAIT_S)


def retained(port: int, topic_filter: str, user: str = "", password: str = "") -> dict[str, bytes]:
    """What the broker keeps under ``topic_filter`` for a client that connects now: a new subscriber, then a
    sentinel it publishes itself (the broker sends the retained messages of a subscription before it
    handles a later publish of the same client). Only messages marked retained: the embedded broker
    acknowledges a publish before it forwards it, so a push the server just flushed can still arrive live."""
    sub = Subscriber(port, topic_filter, user, password)
    try:
        sub.client.subscribe(SENTINEL, qos=1)
        sub.client.publish(SENTINEL, b"x", qos=1)
        sub.wait_for(lambda msgs: any(t == SENTINEL for t, _ in msgs), WAIT_S)
        return dict(sub.retained)
    finally:
        sub.close()


def wait_online(port: int, status: str, user: str = "", password: str = "") -> None:
    """A client that connects now sees ``status`` online (retained, or the online the new connection sends
    just after the offline of the one it replaces)."""
    sub = Subscriber(port, status, user, password)
    try:
        sub.wait_for(lambda msgs: bool(msgs) and msgs[-1] == (status, b"online"), WAIT_S)
    finally:
        sub.close()


@pytest.fixture
def siot_broker(tmp_path: Path) -> Iterator[BrokerHandle]:
    cfg = BrokerConfig(host="127.0.0.1", port=free_port(), ws_port=0, preset="siot")
    with open_broker(cfg, data_dir=tmp_path / "broker") as handle:
        yield handle


def test_the_siot_preset_survives_a_save_and_status_stays_online(tmp_path: Path, data_dir: Path,
                                                                 siot_broker: BrokerHandle) -> None:
    app = served(tmp_path, siot_broker, **{"broker.preset": "siot", "broker.port": siot_broker.port})
    board = Subscriber(siot_broker.port, "siot/#", "siot", "dfrobot")
    try:
        assert app.test_client().get("/api/v1/mqtt").json["settings"]["preset"] == "siot"
        resp = app.test_client().put("/api/v1/mqtt", json={"debounce_frames": 3})
        assert resp.status_code == 200, resp.json
        assert resp.json["settings"]["preset"] == "siot"
        assert resp.json["settings"]["policy_in_force"] == "change"
        assert resp.json["status"]["connected"], resp.json["status"]
        assert "preset" not in (tmp_path / "settings.toml").read_text(encoding="utf-8")
        wait_online(siot_broker.port, "siot/server/status", "siot", "dfrobot")

        for _ in range(3):  # debounce_frames 3: the third same label is published
            detect(app, data_dir / "bus.jpg")
        board.wait_for(lambda msgs: any(t == "siot/door" for t, _ in msgs), WAIT_S)
        assert board.payloads("siot/door") == [b"person"]
        assert not [t for t, _ in board.messages if t.startswith("visioncast/")]
    finally:
        board.close()
        app.extensions["visioncast"].close()


def test_changing_the_preset_is_an_explicit_choice_that_is_kept(tmp_path: Path,
                                                                siot_broker: BrokerHandle) -> None:
    app = served(tmp_path, siot_broker, **{"broker.preset": "siot", "broker.port": siot_broker.port})
    try:
        resp = app.test_client().put("/api/v1/mqtt", json={"preset": ""})
        assert resp.status_code == 200, resp.json
        assert resp.json["settings"]["preset"] == ""
        assert app.test_client().put("/api/v1/mqtt", json={"debounce_frames": 2}).json["settings"][
            "preset"] == "", "the choice stays through later saves"
        again = config.load(env={}, overrides={"data_dir": str(tmp_path), "broker.preset": "siot"})
        assert again.mqtt.preset == "", "and through a restart (it is saved)"
        resp = app.test_client().put("/api/v1/mqtt", json={"preset": "siot"})
        assert resp.json["settings"]["preset"] == "siot"
        assert "preset" not in (tmp_path / "settings.toml").read_text(encoding="utf-8")
    finally:
        app.extensions["visioncast"].close()


@pytest.fixture(params=["mosquitto", "embedded"])
def push_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(port, push flags) of a plain Mosquitto, or of visioncast's embedded broker (the server's login;
    subscribers connect anonymously, with the boards' rights)."""
    port = free_port()
    if request.param == "mosquitto":
        with mosquitto(tmp_path, port):
            yield port, {"mqtt.host": "127.0.0.1", "mqtt.port": port}
        return
    cfg = BrokerConfig(kind="embedded", host="127.0.0.1", port=port, ws_port=0, anonymous=True)
    with open_broker(cfg, data_dir=tmp_path / "broker") as handle:
        login = handle.server_login
        assert login is not None
        yield port, {"mqtt.host": "127.0.0.1", "mqtt.port": port, "mqtt.username": login.username,
                     "mqtt.password": login.password}


def test_labels_and_counts_are_retained_by_default_and_cleared_when_retain_goes_off(
        tmp_path: Path, data_dir: Path, push_broker: tuple[int, dict[str, Any]]) -> None:
    port, flags = push_broker
    app = served(tmp_path / "data", None, **flags, **{"mqtt.qos": 1})
    board = Subscriber(port, "visioncast/door/#")  # sees each push once the broker has handled it
    try:
        detect(app, data_dir / "bus.jpg", board=board)
        kept = retained(port, "visioncast/door/#")
        assert kept["visioncast/door/label"] == b"person"
        assert int(kept["visioncast/door/count/person"]) >= 3
        assert "visioncast/door/result" not in kept, "the result JSON is never retained"

        seen = len(board.messages)
        resp = app.test_client().put("/api/v1/mqtt", json={"retain": False})
        assert resp.status_code == 200, resp.json
        assert resp.json["settings"]["retain"] is False
        clears = {("visioncast/door/label", b""), ("visioncast/door/count/person", b"")}
        board.wait_for(lambda msgs: clears <= set(msgs[seen:]), WAIT_S)  # forwarded: handled
        assert retained(port, "visioncast/door/#") == {}
        wait_online(port, "visioncast/server/status")

        detect(app, data_dir / "bus.jpg", board=board)
        assert retained(port, "visioncast/door/#") == {}, "with retain off nothing new is kept"
    finally:
        board.close()
        app.extensions["visioncast"].close()


def test_the_result_json_is_what_the_api_published(tmp_path: Path, data_dir: Path) -> None:
    """shown_conf: the answer keeps everything asked for, the published result what the caller shows."""
    port = free_port()
    with mosquitto(tmp_path, port):
        app = served(tmp_path / "data", None, **{"mqtt.host": "127.0.0.1", "mqtt.port": port,
                                                 "mqtt.prefix": "vc"})
        sub = Subscriber(port, "vc/door/result")
        try:
            query = "source=door&conf=0.05&shown_conf=0.5&shown_hide=bus"
            resp = app.test_client().post(f"/api/v1/detect?{query}", data=(data_dir / "bus.jpg").read_bytes(),
                                          content_type="image/jpeg")
            assert resp.status_code == 200, resp.json
            answered = resp.json["detections"]
            assert any(d["score"] < 0.5 for d in answered)
            assert any(d["label"] == "bus" for d in answered)
            sub.wait_for(bool, WAIT_S)
            published = json.loads(sub.payloads("vc/door/result")[0])["detections"]
            want = [d for d in answered if d["score"] >= 0.5 and d["label"] != "bus"]
            assert [(d["label"], d["score"]) for d in published] == [(d["label"], d["score"]) for d in want]
            assert want, "bus.jpg has people above 0.5"
            bad = app.test_client().post("/api/v1/detect?shown_hide=unicorn",
                                         data=(data_dir / "bus.jpg").read_bytes(), content_type="image/jpeg")
            assert bad.status_code == 400
            assert "shown_hide" in bad.json["message"]
        finally:
            sub.close()
            app.extensions["visioncast"].close()
