"""Video jobs outlive the server: a real ``visioncast serve`` killed with SIGKILL in the middle of a job and
started again on the same data dir resumes the job where it stopped and keeps finished jobs (results, the
AVI); in process, the states a restart finds (done, interrupted, source gone, expired, orphan folders, a
line cut short) and POST resume. Real model, real clip (tests/data), real processes."""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path
from typing import Any

import cv2
import pytest
import requests
from flask import Flask
from tests.apps import app_for
from tests.serve_process import Served, repeated, wait_until

from visioncast.core.payload import result_to_payload
from visioncast.server.videos.routes import EXTENSION
from visioncast.server.wsgi import HttpServer
from visioncast.sources.video import open_video

WAIT_S = 10.0
CLIP = "vtest_clip.mp4"
CLIP_FRAMES = 36


def untracked(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in d.items() if k != "track_id"} for d in payload["detections"]]


@pytest.mark.timeout(240)  # three server starts, each loading the models
def test_serve_killed_mid_job_resumes_it_and_keeps_finished_jobs(tmp_path: Path, data_dir: Path,
                                                                detector: Any, serve: Any) -> None:
    video = repeated(data_dir / "vtest_clip.avi", 3, tmp_path / "long.avi")
    total = 3 * 70
    root = tmp_path / "visioncast" / "videos"
    first = serve()
    try:
        with video.open("rb") as fh:
            job = first.api(method="POST", files={"video": ("long.avi", fh)}).json()
        url = f"/{job['id']}"
        wait_until(lambda: first.api(url).json()["frames_done"] >= 20, "the job did not start")
    finally:
        first.kill()
    folder = root / job["id"]
    assert json.loads((folder / "job.json").read_text())["state"] == "running"
    saved = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    assert 20 <= len(saved) < total, "kill the job in the middle"
    (root / "f00dfeedf00dfeed").mkdir()  # a folder of no job (an upload cut short): removed at start
    (root / "f00dfeedf00dfeed" / "source.avi").write_bytes(b"RIFF")

    second = serve(port=first.port)
    try:
        status = second.api(url).json()
        assert status["resumed_from"] == len(saved)
        assert status["state"] in ("queued", "running", "done")
        done = wait_until(lambda: (s := second.api(url).json())["state"] == "done" and s, "resume",
                          lambda: second.api(url).json()["frames_done"])
        assert (done["frames_done"], done["frames_total"], done["error"]) == (total, total, "")
        assert done["stats"]["totals"]["person"] > 0  # the statistics snapshot of the tracked job
        results = second.api(f"{url}/results").json()["results"]
        assert [r["frame"] for r in results] == list(range(total))
        assert results[: len(saved)] == saved  # what was saved before the kill, unchanged
        with open_video(video) as frames:
            image = next(f.image for f in frames if f.index == len(saved))
        assert untracked(results[len(saved)]) == untracked(result_to_payload(detector(image)))
        assert any("track_id" in d for r in results[len(saved):] for d in r["detections"])
        assert not (root / "f00dfeedf00dfeed").exists()
        assert second.api(f"{url}/render", method="POST").status_code == 202
        wait_until(lambda: second.api(f"{url}/render", method="POST").json()["state"] == "done", "render",
                   lambda: second.api(url).json()["render"]["frames_done"])
    finally:
        second.kill()

    check_kept(serve(port=first.port), job["id"], results, tmp_path / "out.avi")


def check_kept(server: Served, job_id: str, results: list[dict[str, Any]], avi_path: Path) -> None:
    """After another restart the finished job is listed with its results and its AVI downloadable."""
    try:
        listed = server.api().json()["jobs"]
        assert [(j["id"], j["state"], j["frames_done"]) for j in listed] == [(job_id, "done", len(results))]
        assert listed[0]["render"]["state"] == "done"
        assert server.api(f"/{job_id}/results").json()["results"] == results
        avi = server.api(f"/{job_id}/video.avi")
        assert avi.status_code == 200
        avi_path.write_bytes(avi.content)
        cap = cv2.VideoCapture(str(avi_path))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(results)
        cap.release()
    finally:
        server.stop()


def make_app(data: Path, **videos: Any) -> Flask:
    """An app over ``data``, closed by the test itself (a restart is a close and a new app)."""
    return app_for(data, **{f"videos__{k}": v for k, v in videos.items()})


def run_job(app: Flask, clip: bytes) -> str:
    client = app.test_client()
    job = client.post("/api/v1/videos", data={"video": (io.BytesIO(clip), CLIP)},
                      content_type="multipart/form-data").get_json()
    wait_until(lambda: client.get(f"/api/v1/videos/{job['id']}").get_json()["state"] == "done", "job",
               lambda: client.get(f"/api/v1/videos/{job['id']}").get_json()["frames_done"])
    return str(job["id"])


def copy_job(root: Path, job_id: str, new_id: str, **meta: Any) -> Path:
    """A copy of a saved job under ``new_id`` with ``meta`` changed in its job.json."""
    folder = root / new_id
    shutil.copytree(root / job_id, folder)
    saved = json.loads((folder / "job.json").read_text())
    (folder / "job.json").write_text(json.dumps({**saved, "id": new_id, **meta}))
    return folder


def test_restart_finds_done_interrupted_gone_and_expired_jobs(tmp_path: Path, data_dir: Path) -> None:
    first = make_app(tmp_path)
    try:
        done_id = run_job(first, (data_dir / CLIP).read_bytes())
        original = first.test_client().get(f"/api/v1/videos/{done_id}/results").get_json()["results"]
    finally:
        first.extensions["visioncast"].close()
    root = tmp_path / "videos"
    cut = copy_job(root, done_id, "1" * 16, state="running", ended=None)
    lines = (cut / "results.jsonl").read_text().splitlines(keepends=True)
    (cut / "results.jsonl").write_text("".join(lines[:10]) + lines[10][:25])  # killed while writing line 11
    gone = copy_job(root, "1" * 16, "2" * 16)
    next(gone.glob("source.*")).unlink()
    copy_job(root, done_id, "3" * 16, ended=time.time() - 7200)  # ended 2 h ago, kept 1 h
    (root / ("4" * 16)).mkdir()  # an upload the server never finished saving
    (cut / "annotated.part.avi").write_bytes(b"half")

    app = make_app(tmp_path)
    try:
        client = app.test_client()
        states = {j["id"]: j for j in client.get("/api/v1/videos").get_json()["jobs"]}
        assert sorted(states) == sorted([done_id, "1" * 16, "2" * 16])
        assert states["2" * 16]["state"] == "failed"
        assert states["2" * 16]["error"] == \
            f"interrupted by a server restart at frame 10 of {CLIP_FRAMES}; its video file is gone"
        assert states["1" * 16]["resumed_from"] == 10
        assert not (root / ("3" * 16)).exists()
        assert not (root / ("4" * 16)).exists()
        assert not (cut / "annotated.part.avi").exists()
        expired = client.get(f"/api/v1/videos/{'3' * 16}")
        assert expired.status_code == 404
        assert "has expired" in expired.get_json()["message"]
        resumed = wait_until(lambda: (j := client.get(f"/api/v1/videos/{'1' * 16}").get_json())["state"]
                             == "done" and j, "resume")
        assert resumed["frames_done"] == CLIP_FRAMES
        results = client.get(f"/api/v1/videos/{'1' * 16}/results").get_json()["results"]
        strip = [{k: v for k, v in r.items() if k != "timings_ms"} for r in results]
        assert strip == [{k: v for k, v in r.items() if k != "timings_ms"} for r in original]  # track ids too
        assert client.post(f"/api/v1/videos/{done_id}/resume").status_code == 409
    finally:
        app.extensions["visioncast"].close()


def test_a_cancelled_job_resumes_on_request_and_404s_say_why(tmp_path: Path, data_dir: Path) -> None:
    app = make_app(tmp_path)
    jobs = app.extensions[EXTENSION]
    server = HttpServer(app, "127.0.0.1", 0, workers=4).start_in_thread()  # the test client spools big
    try:                                                                    # uploads to a file left open
        with repeated(data_dir / CLIP, 4, tmp_path / "long.avi").open("rb") as fh:
            job = requests.post(f"{server.url}/api/v1/videos", files={"video": ("long.avi", fh)},
                                timeout=WAIT_S).json()
        url = f"{server.url}/api/v1/videos/{job['id']}"

        def status() -> dict[str, Any]:
            return requests.get(url, timeout=WAIT_S).json()  # type: ignore[no-any-return]

        wait_until(lambda: status()["frames_done"] >= 5, "start")
        jobs.cancel(jobs.get(job["id"]), "cancelled by the test")
        stopped = wait_until(lambda: (j := status())["state"] == "cancelled" and j, "cancel")
        assert stopped["frames_done"] < 4 * CLIP_FRAMES
        again = requests.post(f"{url}/resume", timeout=WAIT_S)
        assert again.status_code == 202
        assert again.json()["resumed_from"] == stopped["frames_done"]
        done = wait_until(lambda: (j := status())["state"] == "done" and j, "resume",
                          lambda: status()["frames_done"])
        assert done["frames_done"] == 4 * CLIP_FRAMES
        frames = [r["frame"] for r in requests.get(f"{url}/results", timeout=WAIT_S).json()["results"]]
        assert frames == list(range(4 * CLIP_FRAMES))
        assert requests.delete(url, timeout=WAIT_S).status_code == 200
        assert "was deleted" in status()["message"]
        unknown = requests.get(f"{server.url}/api/v1/videos/0123456789abcdef", timeout=WAIT_S).json()
        assert "no video job with id '0123456789abcdef'" in unknown["message"]
        assert "finished" not in unknown["message"]
    finally:
        server.stop()
        app.extensions["visioncast"].close()


def test_a_job_stopped_with_the_server_resumes_at_the_next_start(tmp_path: Path, data_dir: Path) -> None:
    app = make_app(tmp_path)
    server = HttpServer(app, "127.0.0.1", 0, workers=4).start_in_thread()
    try:
        with repeated(data_dir / CLIP, 4, tmp_path / "long.avi").open("rb") as fh:
            job = requests.post(f"{server.url}/api/v1/videos", files={"video": ("long.avi", fh)},
                                timeout=WAIT_S).json()
        wait_until(lambda: requests.get(f"{server.url}/api/v1/videos/{job['id']}", timeout=WAIT_S)
                   .json()["frames_done"] >= 5, "start")
    finally:
        server.stop()
        app.extensions["visioncast"].close()  # Ctrl-C of serve: the job stops where it is
    saved = json.loads((tmp_path / "videos" / job["id"] / "job.json").read_text())
    assert (saved["state"], saved["restarts"]) == ("queued", 0)
    again = make_app(tmp_path)
    try:
        client = again.test_client()
        url = f"/api/v1/videos/{job['id']}"
        first = client.get(url).get_json()
        assert first["resumed_from"] >= 5
        done = wait_until(lambda: (j := client.get(url).get_json())["state"] == "done" and j, "resume",
                          lambda: client.get(url).get_json()["frames_done"])
        assert done["frames_done"] == 4 * CLIP_FRAMES
        assert done["error"] == ""
    finally:
        again.extensions["visioncast"].close()
