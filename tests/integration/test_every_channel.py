"""Every channel takes every task (docs/pipeline.md, "Every channel takes every task"): the API's image route
of the kind, a video job, a stream and ``visioncast run``, each given a shipped model of each kind, answer
every frame with a result of that kind. Real models, a real clip made from a photo; the pages' Find switch is
in tests/e2e/test_pose_face_pages.py and tests/e2e/test_segment_page.py, the Ray paths in
tests/integration/test_ray_cluster.py."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from flask.testing import FlaskClient
from tests.apps import app_for
from tests.integration.cli_run import run_cli

from visioncast.server.api import ROUTES
from visioncast.sinks.jsonl import JsonlSink

MODELS = {"detect": "yolox-nano", "classify": "resnet56-cifar10", "pose": "people-pose", "face": "yunet",
          "segment": "selfie-segmentation"}
FRAMES = 4
WAIT_S = 30.0


@pytest.fixture(scope="module")
def clip(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``FRAMES`` frames of zidane.jpg (two people, two faces) drifting right, MJPG AVI."""
    out = tmp_path_factory.mktemp("clip") / "zidane.avi"
    image = cv2.resize(cv2.imread(str(data_dir / "zidane.jpg")), (640, 360))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 360))
    for i in range(FRAMES):
        writer.write(np.roll(image, 4 * i, axis=1))
    writer.release()
    return out


@pytest.fixture(scope="module")
def client(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    app = app_for(tmp_path_factory.mktemp("data"), streams__allow=[str(clip)])
    try:
        yield app.test_client()
    finally:
        app.extensions["visioncast"].close()


def wait(client: FlaskClient, url: str, done: str) -> dict:
    deadline = time.monotonic() + WAIT_S
    while (info := client.get(url).get_json())["state"] not in (done, "failed", "error"):
        assert time.monotonic() < deadline, f"{url} still {info['state']}"
        time.sleep(0.05)
    return info


def assert_kind(result: dict, kind: str, model: str) -> None:
    assert (result["task"], result["model"]) == (kind, model)
    assert ("predictions" if kind == "classify" else "detections") in result
    if kind in ("pose", "face"):
        assert result["detections"]
        assert all(d["keypoints"] for d in result["detections"])
    if kind == "segment":
        assert result["detections"]
        assert all(d["polygons"] and d["area"] > 0 for d in result["detections"])


@pytest.mark.parametrize("kind", MODELS)
def test_the_image_route_of_each_kind(client: FlaskClient, data_dir: Path, kind: str) -> None:
    resp = client.post(ROUTES[kind], query_string={"model": MODELS[kind]},
                       data=(data_dir / "zidane.jpg").read_bytes(), content_type="image/jpeg")
    assert resp.status_code == 200, resp.get_json()
    assert_kind(resp.get_json(), kind, MODELS[kind])


@pytest.mark.parametrize("kind", MODELS)
def test_a_video_job_of_each_kind(client: FlaskClient, clip: Path, kind: str) -> None:
    resp = client.post("/api/v1/videos", query_string={"model": MODELS[kind]},
                       content_type="multipart/form-data",
                       data={"video": (io.BytesIO(clip.read_bytes()), "c.avi")})
    assert resp.status_code == 201, resp.get_json()
    job = resp.get_json()["id"]
    assert wait(client, f"/api/v1/videos/{job}", "done")["state"] == "done"
    results = client.get(f"/api/v1/videos/{job}/results").get_json()["results"]
    assert len(results) == FRAMES
    for result in results:
        assert_kind(result, kind, MODELS[kind])


@pytest.mark.parametrize("kind", MODELS)
def test_a_stream_of_each_kind(client: FlaskClient, clip: Path, tmp_path: Path, kind: str) -> None:
    lines = tmp_path / "results.jsonl"
    with lines.open("w", encoding="utf-8") as out:
        sink = JsonlSink("stream.jsonl", stream=out)
        bus = client.application.extensions["visioncast"].bus
        bus.add(sink)
        try:
            resp = client.post("/api/v1/streams", json={"source": str(clip), "model": MODELS[kind],
                                                        "name": f"every-{kind}", "realtime": False})
            assert resp.status_code == 201, resp.get_json()
            info = wait(client, f"/api/v1/streams/{resp.get_json()['id']}", "stopped")
        finally:
            bus.remove(sink)
    assert info["state"] == "stopped", info
    assert info["counters"]["frames_out"] == FRAMES
    results = [r["result"] for r in map(json.loads, lines.read_text(encoding="utf-8").splitlines())
               if "result" in r and r["result"].get("source") == f"every-{kind}"]
    assert len(results) == FRAMES
    for result in results:
        assert_kind(result, kind, MODELS[kind])


@pytest.mark.parametrize("kind", MODELS)
def test_run_with_each_kind(clip: Path, tmp_path: Path, kind: str) -> None:
    out = tmp_path / "run.jsonl"
    proc = run_cli("run", "-i", clip, "-m", MODELS[kind], "--jsonl", out, "--mqtt", "off", "--quiet",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = [r["result"] for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())
               if "result" in r]
    assert [r["frame"] for r in results] == list(range(FRAMES))
    for result in results:
        assert_kind(result, kind, MODELS[kind])
