"""The annotated WebM of a video job (the file a phone plays) is written while the job runs: it is there
when the job ends, without a POST, with every frame drawn as the AVI is. Real model, real clip."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from visioncast import config
from visioncast.server.app import create_app
from visioncast.sources.video import open_video

CLIP = "vtest_clip.mp4"
CLIP_FRAMES = 36
WAIT_S = 20.0


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    made = create_app(config.load(env={}, overrides={"data_dir": str(tmp_path), "mqtt.enabled": False,
                                                     "broker.enabled": False}))
    yield made
    made.extensions["visioncast"].close()


def frames_of(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while (frame := cap.read())[0]:
        frames.append(frame[1])
    cap.release()
    return frames


def test_the_phone_video_is_ready_when_the_job_ends(app: Flask, data_dir: Path, tmp_path: Path) -> None:
    client: FlaskClient = app.test_client()
    answer = client.post("/api/v1/videos", data={"video": (io.BytesIO((data_dir / CLIP).read_bytes()), CLIP)},
                         content_type="multipart/form-data", headers={"Accept-Language": "zh-CN"})
    job_id = answer.get_json()["id"]
    deadline = time.monotonic() + WAIT_S
    while (job := client.get(f"/api/v1/videos/{job_id}").get_json())["render_webm"]["state"] != "done":
        assert time.monotonic() < deadline, job
        assert job["state"] != "failed", job
        time.sleep(0.05)
    assert job["state"] == "done"  # made by the job itself: no POST render-webm was sent
    with client.get(f"/api/v1/videos/{job_id}/video.webm") as webm:
        assert webm.status_code == 200
        assert webm.mimetype == "video/webm"
        assert webm.data[:4] == b"\x1a\x45\xdf\xa3"  # EBML: WebM
        (tmp_path / "live.webm").write_bytes(webm.data)
    assert not list((tmp_path / "videos").rglob("*.part.*"))
    live = frames_of(tmp_path / "live.webm")
    assert len(live) == CLIP_FRAMES
    # what the AVI render (one renderer, after the job) draws: the same boxes, tags and panel, in Chinese
    render = client.post(f"/api/v1/videos/{job_id}/render").get_json()
    while render["state"] != "done":
        assert time.monotonic() < deadline + WAIT_S, render
        time.sleep(0.1)
        render = client.post(f"/api/v1/videos/{job_id}/render").get_json()
    with client.get(f"/api/v1/videos/{job_id}/video.avi") as avi:
        (tmp_path / "job.avi").write_bytes(avi.data)
    drawn = frames_of(tmp_path / "job.avi")
    with open_video(data_dir / CLIP) as video:
        raw = [f.image for f in video]
    to_avi = [float(np.abs(a.astype(int) - b).mean()) for a, b in zip(live, drawn, strict=True)]
    to_raw = [float(np.abs(a.astype(int) - b).mean()) for a, b in zip(live, raw, strict=True)]
    assert max(to_avi) < min(to_raw), (to_avi, to_raw)  # drawn like the AVI, not the bare frames
    assert job["render_webm"]["frames_done"] == CLIP_FRAMES
    print("mean |live − avi|", max(to_avi), "mean |live − raw|", min(to_raw))
