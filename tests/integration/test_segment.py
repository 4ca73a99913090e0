"""Segmentation on every channel with the shipped model (MediaPipe selfie segmentation) on real photos:
POST /api/v1/segment, `visioncast segment`, a video job's results and AVI, and `run -m` pushing the classes
present over a real Mosquitto."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_run import run_cli
from tests.mqtt_peers import Subscriber, free_port, mosquitto

from visioncast import config
from visioncast.core.payload import RESULT_SCHEMA
from visioncast.server.app import create_app

jsonschema = pytest.importorskip("jsonschema")
FRAMES = 6
WAIT_S = 20.0


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = create_app(config.load(env={}, overrides={"data_dir": str(tmp_path_factory.mktemp("seg")),
                                                     "mqtt.enabled": False, "broker.enabled": False}))
    yield app
    app.extensions["visioncast"].close()


@pytest.fixture
def client(app):
    return app.test_client()


def clip_of(image_path: Path, out: Path, size: tuple[int, int] = (640, 360)) -> Path:
    """``FRAMES`` frames of the photo drifting right by 4 px a frame (MJPEG AVI, 10 fps)."""
    image = cv2.resize(cv2.imread(str(image_path)), size)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for i in range(FRAMES):
        writer.write(np.roll(image, 4 * i, axis=1))
    writer.release()
    return out


def inside_point(detection: dict) -> tuple[int, int]:
    """A pixel well inside the region's largest outline (the deepest point of its distance transform)."""
    x2, y2 = (round(v) for v in detection["box"][2:])
    canvas = np.zeros((y2 + 1, x2 + 1), np.uint8)
    cv2.fillPoly(canvas, [np.round(np.array(detection["polygons"][0])).astype(np.int32)], 1)
    depth = cv2.distanceTransform(np.pad(canvas, 1), cv2.DIST_L2, 5)  # the frame's edge is an edge too
    y, x = np.unravel_index(int(depth.argmax()), depth.shape)
    return int(x) - 1, int(y) - 1


def test_segment_answers_the_person_region_valid_against_the_schema(client, data_dir):
    resp = client.post("/api/v1/segment", query_string={"render": "base64"},
                       data=(data_dir / "zidane.jpg").read_bytes(), content_type="image/jpeg")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    jsonschema.validate(body, RESULT_SCHEMA)
    assert (body["task"], body["model"]) == ("segment", "selfie-segmentation")
    [person] = body["detections"]
    assert person["label"] == "person"
    assert 0.4 < person["area"] / (body["width"] * body["height"]) < 0.65  # two men fill half the photo
    assert all(len(poly) >= 3 for poly in person["polygons"])
    drawn = cv2.imdecode(np.frombuffer(base64.b64decode(body["image"]), np.uint8), cv2.IMREAD_COLOR)
    original = cv2.imread(str(data_dir / "zidane.jpg"))
    x, y = inside_point(person)
    assert np.abs(drawn[y, x].astype(int) - original[y, x].astype(int)).sum() > 40  # the mask's colour


def test_segment_route_is_documented_listed_and_checks_its_model(client, app, data_dir):
    spec = client.get("/openapi.json").get_json()
    assert spec["paths"]["/api/v1/segment"]["post"]["summary"]
    assert getattr(app.view_functions["api.segment"], "visioncast_access", None) == "student"
    body = client.get("/api/v1/models").get_json()
    assert body["defaults"]["segment"] == "selfie-segmentation"
    assert {m["name"]: m["task"] for m in body["models"]}["selfie-segmentation"] == "segment"
    resp = client.post("/api/v1/segment", query_string={"model": "yolox-nano"},
                       data=(data_dir / "zidane.jpg").read_bytes(), content_type="image/jpeg")
    assert resp.status_code == 400
    assert "detect model" in resp.get_json()["message"]


def test_cli_prints_the_region_and_saves_the_drawing(tmp_path, data_dir):
    out = tmp_path / "drawn.jpg"
    proc = run_cli("segment", data_dir / "squat.jpg", "--json", "-o", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout.splitlines()[0])
    assert body["task"] == "segment"
    assert [d["label"] for d in body["detections"]] == ["person"]
    assert cv2.imread(str(out)).shape == cv2.imread(str(data_dir / "squat.jpg")).shape
    text = run_cli("segment", data_dir / "squat.jpg", "--no-save", cwd=tmp_path)
    assert re.search(r"person +0\.\d\d +\[.*\] +mask \d+ px \(1\d\.\d%\)", text.stdout), text.stdout


def test_a_video_job_segments_every_frame_and_draws_the_masks(client, data_dir, tmp_path):
    clip = clip_of(data_dir / "zidane.jpg", tmp_path / "clip.avi")
    resp = client.post("/api/v1/videos", query_string={"task": "segment"}, content_type="multipart/form-data",
                       data={"video": (io.BytesIO(clip.read_bytes()), "clip.avi")})
    assert resp.status_code == 201, resp.get_json()
    job = resp.get_json()["id"]
    deadline = time.monotonic() + WAIT_S
    while client.get(f"/api/v1/videos/{job}").get_json()["state"] != "done":
        assert time.monotonic() < deadline, "the job did not finish in time"
        time.sleep(0.05)
    results = client.get(f"/api/v1/videos/{job}/results").get_json()["results"]
    assert [r["frame"] for r in results] == list(range(FRAMES))
    assert {r["task"] for r in results} == {"segment"}
    assert all([d["label"] for d in r["detections"]] == ["person"] and r["detections"][0]["polygons"]
               for r in results)
    while client.post(f"/api/v1/videos/{job}/render").get_json()["state"] != "done":
        assert time.monotonic() < deadline + WAIT_S, "the AVI was not rendered in time"
        time.sleep(0.05)
    rendered = tmp_path / "rendered.avi"
    with client.get(f"/api/v1/videos/{job}/video.avi") as answer:
        assert answer.status_code == 200
        rendered.write_bytes(answer.data)
    ok, drawn = cv2.VideoCapture(str(rendered)).read()
    assert ok
    original = cv2.VideoCapture(str(clip)).read()[1]
    x, y = inside_point(results[0]["detections"][0])
    assert np.abs(drawn[y, x].astype(int) - original[y, x].astype(int)).sum() > 40


def test_run_m_pushes_the_classes_present_over_mqtt(data_dir, tmp_path):
    """`run -m selfie-segmentation`: every frame's result (with outlines), the label and per-label count a
    board reads, and the statistics with the pixels per label."""
    clip = clip_of(data_dir / "zidane.jpg", tmp_path / "clip.avi")
    port = free_port()
    with mosquitto(tmp_path, port):
        sub = Subscriber(port, "visioncast/#")
        try:
            proc = run_cli("run", "-i", clip, "-m", "selfie-segmentation", "--mqtt", f"mqtt://127.0.0.1:{port}",
                           "--name", "seg", "--quiet", cwd=tmp_path)
            assert proc.returncode == 0, proc.stderr
            sent = int(re.search(r"(\d+) messages sent, 0 dropped", proc.stdout).group(1))
            sub.wait_for(lambda m: sum(not t.endswith("/status") for t, _ in m) >= sent)
        finally:
            sub.close()
    results = [json.loads(p) for p in sub.payloads("visioncast/seg/result")]
    assert len(results) == FRAMES
    assert all(r["task"] == "segment" and r["detections"][0]["polygons"] for r in results)
    assert set(sub.payloads("visioncast/seg/label")) == {b"person"}
    assert set(sub.payloads("visioncast/seg/count/person")) == {b"1"}
    stats = [json.loads(p) for p in sub.payloads("visioncast/seg/stats")]
    assert len(stats) == FRAMES
    assert [s["areas"] for s in stats] == [{"person": r["detections"][0]["area"]} for r in results]
