"""Video jobs of every task: pose and face (every frame answered with keypoints, MoveNet following the person
along the video, the rendered AVI drawn with skeletons/landmarks) and classify (every frame's top classes),
by ``task`` or by a ``model`` of that task."""

from __future__ import annotations

import io
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from visioncast.sources.video import open_video

WAIT_S = 10.0
FRAMES = 8


def clip_of(image_path: Path, out: Path, size: tuple[int, int]) -> bytes:
    """``FRAMES`` frames of the photo drifting right by 4 px a frame (MPEG-4 Part 2 AVI, 10 fps)."""
    image = cv2.resize(cv2.imread(str(image_path)), size)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for i in range(FRAMES):
        writer.write(np.roll(image, 4 * i, axis=1))
    writer.release()
    return out.read_bytes()


@pytest.fixture
def client(tmp_path, make_app):
    return make_app(tmp_path / "data").test_client()


def run_job(client, data: bytes, **query: str) -> tuple[str, list[dict]]:
    resp = client.post("/api/v1/videos", query_string=query, content_type="multipart/form-data",
                       data={"video": (io.BytesIO(data), "clip.avi")})
    assert resp.status_code == 201, resp.get_json()
    job_id = resp.get_json()["id"]
    deadline = time.monotonic() + WAIT_S
    while client.get(f"/api/v1/videos/{job_id}").get_json()["state"] != "done":
        assert time.monotonic() < deadline, "the job did not finish in time"
        time.sleep(0.05)
    return job_id, client.get(f"/api/v1/videos/{job_id}/results").get_json()["results"]


@pytest.mark.parametrize("case", [("pose", "squat.jpg", 1, 17), ("face", "zidane.jpg", 2, 5)])
def test_every_frame_has_keypoints_and_the_avi_shows_them(client, data_dir, tmp_path, case):
    task, image, per_frame, points = case
    data = clip_of(data_dir / image, tmp_path / "clip.avi", (320, 384) if task == "pose" else (640, 360))
    job_id, results = run_job(client, data, task=task)
    assert [r["frame"] for r in results] == list(range(FRAMES))
    assert {r["task"] for r in results} == {task}
    assert {r["model"] for r in results} == {"people-pose" if task == "pose" else "yunet"}  # the defaults
    assert all(len(r["detections"]) == per_frame for r in results)
    assert all(len(d["keypoints"]) == points for r in results for d in r["detections"])
    xs = [r["detections"][0]["keypoints"][0][0] for r in results]  # follows the drift to the right
    assert xs[-1] - xs[0] == pytest.approx(4 * (FRAMES - 1), abs=8)

    deadline = time.monotonic() + WAIT_S
    while client.post(f"/api/v1/videos/{job_id}/render").get_json()["state"] != "done":
        assert time.monotonic() < deadline, "the AVI was not rendered in time"
        time.sleep(0.05)
    rendered = tmp_path / "rendered.avi"
    with client.get(f"/api/v1/videos/{job_id}/video.avi") as answer:
        assert answer.status_code == 200
        rendered.write_bytes(answer.data)
    with open_video(rendered) as video, open_video(tmp_path / "clip.avi") as plain:
        drawn, original = next(iter(video)).image, next(iter(plain)).image
    x, y = (round(v) for v in results[0]["detections"][0]["keypoints"][0][:2])
    assert np.abs(drawn[y, x].astype(int) - original[y, x].astype(int)).sum() > 60  # a dot on the keypoint


@pytest.mark.parametrize("query", [{"task": "classify", "top": "2"}, {"model": "mobilenet-v2", "top": "2"}])
def test_a_classify_job_answers_every_frames_classes(client, data_dir, tmp_path, query):
    data = clip_of(data_dir / "cifar10" / "cifar10_00_3.png", tmp_path / "clip.avi", (64, 64))
    _, results = run_job(client, data, **query)
    assert [r["frame"] for r in results] == list(range(FRAMES))
    assert {r["task"] for r in results} == {"classify"}
    assert all(len(r["predictions"]) == 2 for r in results)  # top=2 reached the pipeline
    model = query.get("model", "resnet56-cifar10")
    assert {r["model"] for r in results} == {model}


@pytest.mark.parametrize(("query", "message"), [
    ({"task": "count"}, "query 'task' must be one of detect, classify, pose, face, segment, got 'count'"),
    ({"task": "detect", "model": "yunet"},
     "model 'yunet' is a face model: send it to /api/v1/face; /api/v1/detect takes yolox-nano"),
])
def test_a_bad_task_or_model_is_a_400_naming_it(client, data_dir, tmp_path, query, message):
    data = clip_of(data_dir / "zidane.jpg", tmp_path / "clip.avi", (320, 180))
    resp = client.post("/api/v1/videos", query_string=query, content_type="multipart/form-data",
                       data={"video": (io.BytesIO(data), "clip.avi")})
    assert resp.status_code == 400
    assert message in resp.get_json()["message"]
