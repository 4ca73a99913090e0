"""A board following a face: POST /api/v1/face and /pose publish target/x, /y, /size through a real Mosquitto,
and one `none` when no one is there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mqtt_peers import Subscriber, free_port, mosquitto
from visioncast import config
from visioncast.config import MqttConfig
from visioncast.server.app import create_app
from visioncast.server.push.routes import attach

WAIT_S = 10.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    with mosquitto(tmp_path, port):
        yield port


def app_with_push(tmp_path: Path, port: int, **mqtt: object):
    app = create_app(config.load(env={}, overrides={"data_dir": str(tmp_path / "data")}))
    sink = attach(app, MqttConfig(host="127.0.0.1", port=port, prefix="vc", reconnect_max_s=1, **mqtt))
    assert sink.wait_connected(WAIT_S)
    return app, sink


def blank_jpeg() -> bytes:
    import cv2  # noqa: PLC0415

    return cv2.imencode(".jpg", np.full((120, 160, 3), 127, np.uint8))[1].tobytes()


def test_face_target_then_one_none(tmp_path, data_dir, broker):
    app, sink = app_with_push(tmp_path, broker)
    sub = Subscriber(broker, "vc/fan/target/#")
    sub2 = Subscriber(broker, "vc/fan/target")
    try:
        client = app.test_client()
        resp = client.post("/api/v1/face?source=fan", data=(data_dir / "zidane.jpg").read_bytes(),
                           content_type="image/jpeg")
        assert resp.status_code == 200
        # The biggest face is the right one: box [917, 101, 1052, 274] in 1280×720.
        sub.wait_for(lambda m: len(m) >= 3)
        assert dict(sub.messages) == {"vc/fan/target/x": b"77", "vc/fan/target/y": b"26",
                                      "vc/fan/target/size": b"11"}
        for _ in range(2):
            assert client.post("/api/v1/face?source=fan", data=blank_jpeg(),
                               content_type="image/jpeg").status_code == 200
        sub2.wait_for(lambda m: len(m) >= 1)
        assert sink.flush(WAIT_S)
        # The sentinel: the face again, sent on the same connection after any second `none` (in order).
        assert client.post("/api/v1/face?source=fan", data=(data_dir / "zidane.jpg").read_bytes(),
                           content_type="image/jpeg").status_code == 200
        sub.wait_for(lambda m: [t for t, _ in m].count("vc/fan/target/x") == 2)
        assert sub.payloads("vc/fan/target") == [b"none"]
        assert sub2.payloads("vc/fan/target") == [b"none"]
    finally:
        sub.close()
        sub2.close()
        app.extensions["visioncast"].close()


def test_pose_target_on_change_policy_publishes_each_value_once(tmp_path, data_dir, broker):
    app, _sink = app_with_push(tmp_path, broker, policy="change")
    sub = Subscriber(broker, "vc/gym/target/#")
    try:
        client = app.test_client()
        for _ in range(3):
            assert client.post("/api/v1/pose?source=gym", data=(data_dir / "squat.jpg").read_bytes(),
                               content_type="image/jpeg").status_code == 200
        sub.wait_for(lambda m: len(m) >= 3)
        first = list(sub.messages[:3])
        # The sentinel: another picture (other values), sent on the same connection after any repeat.
        assert client.post("/api/v1/pose?source=gym", data=(data_dir / "bus.jpg").read_bytes(),
                           content_type="image/jpeg").status_code == 200
        sub.wait_for(lambda m: len(m) > 3)
        assert sorted(t for t, _ in first) == ["vc/gym/target/size", "vc/gym/target/x", "vc/gym/target/y"]
        assert not set(sub.messages[3:]) & set(first)  # no value of the three same pictures came twice
        assert 40 <= int(sub.payloads("vc/gym/target/x")[0]) <= 55  # the squatting man's box centre
    finally:
        sub.close()
        app.extensions["visioncast"].close()
