"""POST /api/v1/streams answers bad settings with 400 and a message naming the field, and starts a pipeline
with good ones (the event hold reaches its analytics). Flask test client, real model and clip."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from visioncast import config
from visioncast.server import create_app

DATA = Path(__file__).parents[1] / "data"

WAIT_S = 20.0


@pytest.fixture
def client(tmp_path: Path) -> Iterator[FlaskClient]:
    overrides = {"data_dir": str(tmp_path), "mqtt.enabled": False, "broker.enabled": False,
                 "streams.allow": [str(DATA / "*")]}
    app = create_app(config.load(env={}, overrides=overrides))
    try:
        yield app.test_client()
    finally:
        app.extensions["visioncast"].close()


@pytest.mark.parametrize(("extra", "words"), [
    ({"event_hold_s": -1}, "field 'event_hold_s' must be a number of seconds ≥ 0, got -1"),
    ({"event_hold_s": "long"}, "field 'event_hold_s' must be a number of seconds ≥ 0, got 'long'"),
    ({"conf": "high"}, "field 'conf' must be a number between 0 and 1, got 'high'"),
    ({"conf": 3}, "field 'conf' must be a number between 0 and 1, got 3"),
    ({"lines": ["1,2,3"]}, "line must be x1,y1,x2,y2, got 3 numbers in '1,2,3'"),
    ({"events": ["person>="]}, "event must look like"),
])
def test_bad_stream_settings_are_400_with_the_field(client: FlaskClient, data_dir: Path,
                                                    extra: dict[str, Any], words: str) -> None:
    answer = client.post("/api/v1/streams", json={"source": str(data_dir / "vtest_clip.avi"), **extra})
    assert answer.status_code == 400, answer.get_json()
    assert words in answer.get_json()["message"]
    assert client.get("/healthz").status_code == 200


def test_event_hold_reaches_the_stream(client: FlaskClient, data_dir: Path) -> None:
    body = {"source": str(data_dir / "vtest_clip.avi"), "events": ["person>=7:crowd"], "event_hold_s": 0.5,
            "realtime": False}
    started = client.post("/api/v1/streams", json=body)
    assert started.status_code == 201, started.get_json()
    sid = started.get_json()["id"]
    deadline = time.monotonic() + WAIT_S
    while client.get(f"/api/v1/streams/{sid}").get_json()["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    info = client.get(f"/api/v1/streams/{sid}").get_json()
    assert info["state"] == "stopped", info
    events = [e for e in info["events"] if e["type"] == "state"]
    assert events == [{"type": "state", "name": "crowd", "state": "begin", "timestamp": 3.9,
                       "condition": "person>=7", "text": "crowd begin at 3.90 seconds"}]
