"""One job per press: a repeated Idempotency-Key on POST /api/v1/videos and /api/v1/streams gets the first
answer and starts nothing new, also when the repeat arrives while the first request is still running (a real
server, two requests at once); a refused request may be retried with its key; no key, no change."""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from flask import Flask

from visioncast.server.wsgi import HttpServer

CLIP = "vtest_clip.mp4"
TIMEOUT_S = 10


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(streams__allow=[str(Path(__file__).parents[1] / "data" / "*")])


def post_video(client, data: bytes, key: str | None):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/videos", data={"video": (io.BytesIO(data), CLIP)},
                       content_type="multipart/form-data", headers=headers)


def test_a_repeated_key_gets_the_same_job_and_starts_no_second(app: Flask, data_dir: Path) -> None:
    client = app.test_client()
    clip = (data_dir / CLIP).read_bytes()
    first = post_video(client, clip, "press-1")
    again = post_video(client, clip, "press-1")
    assert first.status_code == again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = post_video(client, clip, "press-2")
    assert other.get_json()["id"] != first.get_json()["id"]
    unkeyed = [post_video(client, clip, None).get_json()["id"] for _ in range(2)]
    assert len(set(unkeyed)) == 2, "without a key every request is a new job"
    assert len(app.extensions["visioncast.videos"].jobs()) == 4


def test_a_refused_request_can_be_retried_with_its_key(app: Flask, data_dir: Path) -> None:
    client = app.test_client()
    refused = post_video(client, b"not a video at all", "press-3")
    assert refused.status_code == 415
    retried = post_video(client, (data_dir / CLIP).read_bytes(), "press-3")
    assert retried.status_code == 201


def test_a_bad_key_is_a_400(app: Flask, data_dir: Path) -> None:
    answer = post_video(app.test_client(), (data_dir / CLIP).read_bytes(), "x" * 200)
    assert answer.status_code == 400
    assert "Idempotency-Key" in answer.get_json()["message"]


def test_a_double_click_on_start_runs_one_stream(app: Flask, data_dir: Path) -> None:
    server = HttpServer(app, "127.0.0.1", 0, workers=4).start_in_thread()
    try:
        body = {"source": str(data_dir / "vtest_clip.avi"), "realtime": True}
        headers = {"Idempotency-Key": "start-press-1"}

        def start(_: int) -> requests.Response:
            url = f"{server.url}/api/v1/streams"
            return requests.post(url, json=body, headers=headers, timeout=TIMEOUT_S)

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(start, range(2)))  # both in flight at once, as a double click sends them
        assert [a.status_code for a in answers] == [201, 201]
        assert answers[0].json()["id"] == answers[1].json()["id"]
        listed = requests.get(f"{server.url}/api/v1/streams", timeout=TIMEOUT_S).json()["streams"]
        assert len(listed) == 1
        requests.delete(f"{server.url}/api/v1/streams/{listed[0]['id']}", timeout=TIMEOUT_S)
    finally:
        server.stop()
