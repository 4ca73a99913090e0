"""POST /api/v1/streams answers bad settings with 400 and a message naming the field, and starts a pipeline
with good ones (the event hold reaches its analytics). Flask test client, real model and clip."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from visioncast import config
from visioncast.server.app import create_app
from visioncast.sinks.jsonl import JsonlSink

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


def wait_stopped(client: FlaskClient, sid: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while (info := client.get(f"/api/v1/streams/{sid}").get_json())["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return info  # type: ignore[no-any-return]


def test_a_classify_stream_runs_and_shows_a_failing_server_sink(client: FlaskClient, data_dir: Path,
                                                                 tmp_path: Path) -> None:
    """Any task runs as a stream; a server sink that raises (JSON lines into a closed file: ValueError) is
    counted in the stream's status, and the stream still runs to its end."""
    closed = (tmp_path / "closed.jsonl").open("w", encoding="utf-8")
    closed.close()
    client.application.extensions["visioncast"].bus.add(JsonlSink("closed.jsonl", stream=closed))
    body = {"source": str(data_dir / "vtest_clip.avi"), "model": "resnet56-cifar10", "name": "cls",
            "realtime": False}
    started = client.post("/api/v1/streams", json=body)
    assert started.status_code == 201, started.get_json()
    info = wait_stopped(client, started.get_json()["id"])
    assert info["state"] == "stopped", info
    assert info["model"] == "resnet56-cifar10"
    assert info["counters"]["frames_out"] == 70
    assert sum(info["stats"]["totals"].values()) == 70  # frames counted by their top label
    assert info["sink_errors"] == {"JsonlSink": {"failed": 70, "by_source": {"cls": 70},
                                                 "last_error": "ValueError: I/O operation on closed file."}}


def test_lines_on_a_classify_stream_are_400(client: FlaskClient, data_dir: Path) -> None:
    body = {"source": str(data_dir / "vtest_clip.avi"), "model": "resnet56-cifar10", "lines": ["0,1,2,3"]}
    answer = client.post("/api/v1/streams", json=body)
    assert answer.status_code == 400
    assert answer.get_json()["message"] == (
        "lines and zones count boxes: they need a detect model, got a classify model")


def test_the_teacher_picks_a_source_from_what_the_config_allows(client: FlaskClient) -> None:
    """The streams page offers the allowed files (streams.allow) to the teacher, and no server path to a
    student on the LAN."""
    page = client.get("/streams").get_data(as_text=True)  # loopback: the teacher at the keyboard
    assert f'<option value="{DATA / "vtest_clip.avi"}">' in page
    assert f'<option value="{DATA / "bus.jpg"}">' in page
    assert f'<option value="{DATA / "cifar10"}">' in page  # a folder of images
    assert "README.md" not in page  # files no stream can play are not offered
    refused = client.post("/api/v1/streams", json={"source": "/etc/hostname"})
    assert (refused.status_code, refused.get_json()["error"]) == (400, "source_not_allowed")  # page words
    client.environ_base["REMOTE_ADDR"] = "192.0.2.40"
    student = client.get("/streams").get_data(as_text=True)
    assert "vtest_clip.avi" not in student
    assert 'id="start-form"' not in student  # only the teacher starts streams: the student is told so
    assert 'id="teacher-starts"' in student


def test_stopping_a_stream_ends_its_mjpeg_viewers(client: FlaskClient, data_dir: Path) -> None:
    """Each viewer holds a request thread of the server: the view of a stream that is over ends."""
    started = client.post("/api/v1/streams", json={"source": str(data_dir / "vtest_clip.avi")})
    assert started.status_code == 201, started.get_json()
    sid, url = started.get_json()["id"], started.get_json()["mjpeg_url"]
    view = client.get(url, buffered=False)
    parts = iter(view.response)
    assert b"image/jpeg" in next(parts)  # watching
    ended = threading.Event()

    def drain() -> None:
        for _ in parts:
            pass
        ended.set()

    threading.Thread(target=drain, daemon=True).start()
    assert client.delete(f"/api/v1/streams/{sid}").get_json()["state"] == "stopped"
    assert ended.wait(WAIT_S), "the stopped stream's MJPEG view did not end"
    view.close()
