"""The video jobs API against the real app: Flask's test client, and a real HTTP server where the results
stream (Server-Sent Events) and abandonment need real connections. Real model, real clip (tests/data)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from visioncast.analytics import Analytics, AnalyticsSpec
from visioncast.config import PipelineConfig
from visioncast.core.payload import result_to_payload
from visioncast.pipeline import Pipeline, PipelineOptions
from visioncast.pipeline.build import open_pipeline
from visioncast.server.videos.manager import JobManager
from visioncast.server.videos.routes import EXTENSION
from visioncast.server.videos.upload import sniff_container
from visioncast.server.wsgi import HttpServer
from visioncast.sinks.video import VideoFileSink
from visioncast.sources.video import open_video

CLIP = "vtest_clip.mp4"
CLIP_FRAMES = 36
WAIT_S = 10.0
FINAL = ("done", "failed", "cancelled")
Live = Callable[..., tuple[HttpServer, JobManager]]


@pytest.fixture
def app_factory(tmp_path: Path, make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    """An app of its own data dir per call; ``videos`` are ``videos.*`` settings."""
    made = iter(range(1_000))
    return lambda **videos: make_app(tmp_path / f"app{next(made)}",
                                     **{f"videos__{k}": v for k, v in videos.items()})


@pytest.fixture
def client(app_factory: Callable[..., Flask]) -> FlaskClient:
    return app_factory().test_client()


def upload(client: FlaskClient, data: bytes, name: str = CLIP) -> Any:
    return client.post("/api/v1/videos", data={"video": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def wait_state(client: FlaskClient, job_id: str, states: tuple[str, ...] = FINAL) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/videos/{job_id}").get_json()
        if job["state"] in states:
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {states} in {WAIT_S} s: {job}")


def comparable(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without timings, frame, timestamp and track ids (what ``Detector.detect`` gives too)."""
    out = {k: v for k, v in payload.items() if k not in ("timings_ms", "frame", "timestamp")}
    out["detections"] = [{k: v for k, v in d.items() if k != "track_id"} for d in out["detections"]]
    return out


def long_video(path: Path, repeats: int, source: Path) -> Path:
    """The clip ``repeats`` times over (MPEG-4 Part 2, fast to write), for jobs that must still be running."""
    with open_video(source) as video:
        frames = [f.image for f in video]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, frames[0].shape[1::-1])
    for _ in range(repeats):
        for image in frames:
            writer.write(image)
    writer.release()
    return path


def test_job_results_equal_detect_on_the_same_frames(client: FlaskClient, data_dir: Path,
                                                     detector: Any) -> None:
    answer = upload(client, (data_dir / CLIP).read_bytes())
    assert answer.status_code == 201, answer.get_json()
    job = answer.get_json()
    assert (job["width"], job["height"], job["fps"], job["frames_total"]) == (384, 288, 10.0, CLIP_FRAMES)
    assert job["source"] == "video"  # a stable name for boards, never the upload's id
    done = wait_state(client, job["id"])
    assert done["state"] == "done"
    assert done["frames_done"] == CLIP_FRAMES
    assert done["detect_fps"] > 0
    results = client.get(f"/api/v1/videos/{job['id']}/results").get_json()["results"]
    with open_video(data_dir / CLIP) as video:
        expected = [result_to_payload(detector(frame.image)) for frame in video]
    assert [r["frame"] for r in results] == list(range(CLIP_FRAMES))
    assert [r["timestamp"] for r in results] == pytest.approx([i / 10 for i in range(CLIP_FRAMES)])
    assert [comparable(r) for r in results] == [comparable(e) for e in expected]
    assert sum(len(r["detections"]) for r in results) > CLIP_FRAMES  # people and cars in every frame


class Collect:
    """A pipeline sink that keeps every frame's payload and the last statistics snapshot."""

    needs_image = False

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def deliver(self, delivery: Any) -> None:
        if delivery.result is None:  # the events at the end
            return
        frame = delivery.frame
        self.payloads.append(result_to_payload(delivery.result, frame=frame.index,
                                               timestamp=round(frame.timestamp_s, 4)))

    def close(self) -> None:
        pass


def test_uploads_are_tracked_like_visioncast_run(client: FlaskClient, data_dir: Path, detector: Any) -> None:
    """The job's results carry the track ids, and its status the statistics, a Pipeline gives the file."""
    job = upload(client, (data_dir / CLIP).read_bytes()).get_json()
    done = wait_state(client, job["id"])
    results = client.get(f"/api/v1/videos/{job['id']}/results").get_json()["results"]
    sink = Collect()
    analytics = Analytics(AnalyticsSpec(), source=job["source"])
    stats = Pipeline(open_video(data_dir / CLIP), detector, analytics=analytics, sinks=[sink],
                     options=PipelineOptions(mode="every")).run()
    without_timings = [[{k: v for k, v in p.items() if k != "timings_ms"} for p in ps]
                       for ps in (results, sink.payloads)]
    assert without_timings[0] == without_timings[1]
    ids = {d["track_id"] for r in results for d in r["detections"] if "track_id" in d}
    assert len(ids) >= 5  # people and cars tracked across the clip
    assert done["stats"]["totals"] == stats["totals"]
    assert done["stats"]["dwell"] == stats["dwell"]
    assert done["stats"]["frame"] == CLIP_FRAMES - 1


def test_two_jobs_at_once_both_finish_correctly(app_factory: Callable[..., Flask], data_dir: Path) -> None:
    app = app_factory(workers=2)
    client, jobs = app.test_client(), app.extensions[EXTENSION]
    clip = (data_dir / CLIP).read_bytes()
    first, second = (upload(client, clip).get_json()["id"] for _ in range(2))
    one, two = wait_state(client, first), wait_state(client, second)
    assert (one["state"], one["frames_done"], two["state"], two["frames_done"]) == \
        ("done", CLIP_FRAMES, "done", CLIP_FRAMES)
    a, b = jobs.get(first), jobs.get(second)
    assert b.started_s < a.ended_s  # they ran side by side on the two workers
    results_a = client.get(f"/api/v1/videos/{first}/results").get_json()["results"]
    results_b = client.get(f"/api/v1/videos/{second}/results").get_json()["results"]
    assert [comparable(r) for r in results_a] == [comparable(r) for r in results_b]


def rendered(client: FlaskClient, job_id: str) -> dict[str, Any]:
    """POST render until the job's AVI is made; the last render status."""
    deadline = time.monotonic() + WAIT_S
    render = client.post(f"/api/v1/videos/{job_id}/render").get_json()
    while render["state"] != "done" and time.monotonic() < deadline:
        assert render["state"] in ("queued", "running")
        time.sleep(0.1)
        render = client.post(f"/api/v1/videos/{job_id}/render").get_json()
    return render  # type: ignore[no-any-return]


def avi_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while (frame := cap.read())[0]:
        frames.append(frame[1])
    cap.release()
    return frames


def test_a_jobs_avi_is_what_run_draws_in_the_uploaders_language(client: FlaskClient, data_dir: Path,
                                                               tmp_path: Path, detector: Any) -> None:
    """One renderer: the AVI of a job uploaded from a Chinese page has the frames ``visioncast run -o x.avi
    --lang zh`` writes for the same clip (boxes, tags, the counts panel), not English ones."""
    answer = client.post("/api/v1/videos", data={"video": (io.BytesIO((data_dir / CLIP).read_bytes()), CLIP)},
                         content_type="multipart/form-data", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    job_id = answer.get_json()["id"]
    wait_state(client, job_id)
    assert rendered(client, job_id)["state"] == "done"
    with client.get(f"/api/v1/videos/{job_id}/video.avi") as avi:
        (tmp_path / "job.avi").write_bytes(avi.data)
    runs = {}
    for lang in ("zh", "en"):
        out = tmp_path / f"run-{lang}.avi"
        pipeline = open_pipeline(str(data_dir / CLIP), detector, PipelineConfig(lang=lang),
                                 sinks=[VideoFileSink(out, fps=10)])
        pipeline.run()
        runs[lang] = avi_frames(out)
    job = avi_frames(tmp_path / "job.avi")
    assert len(job) == len(runs["zh"]) == CLIP_FRAMES
    same = [float(np.abs(a.astype(int) - b).mean()) for a, b in zip(job, runs["zh"], strict=True)]
    other = [float(np.abs(a.astype(int) - b).mean()) for a, b in zip(job, runs["en"], strict=True)]
    assert max(same) < 0.5, same  # the same drawing through the same encoder
    assert min(other) > max(same), (other, same)  # English labels and panel: other pixels


def test_render_draws_boxes_into_an_avi_with_every_frame(client: FlaskClient, data_dir: Path,
                                                        tmp_path: Path) -> None:
    job = upload(client, (data_dir / CLIP).read_bytes()).get_json()
    early = client.post(f"/api/v1/videos/{job['id']}/render")
    if client.get(f"/api/v1/videos/{job['id']}").get_json()["state"] != "done":
        assert early.status_code == 409
        assert early.get_json()["error"] == "not_ready"
    assert client.get(f"/api/v1/videos/{job['id']}/video.avi").status_code == 409
    wait_state(client, job["id"])
    render = rendered(client, job["id"])
    assert render == {"state": "done", "frames_done": CLIP_FRAMES, "progress": 1.0, "error": ""}
    with client.get(f"/api/v1/videos/{job['id']}/video.avi") as answer:
        assert answer.status_code == 200
        assert answer.mimetype == "video/x-msvideo"
        assert "vtest_clip-detected.avi" in answer.headers["Content-Disposition"]
        (tmp_path / "out.avi").write_bytes(answer.data)
    cap = cv2.VideoCapture(str(tmp_path / "out.avi"))
    assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"MJPG"
    cap.release()
    with open_video(data_dir / CLIP) as video:
        raw = [f.image for f in video]
    drawn = avi_frames(tmp_path / "out.avi")
    assert len(drawn) == CLIP_FRAMES
    diffs = [float(np.abs(d.astype(int) - r.astype(int)).mean()) for d, r in zip(drawn, raw, strict=True)]
    assert min(diffs) > 2.0  # boxes and labels drawn on every frame (JPEG noise alone is below 2)


def test_source_is_served_with_range_requests(client: FlaskClient, data_dir: Path) -> None:
    data = (data_dir / CLIP).read_bytes()
    job = upload(client, data).get_json()
    with client.get(f"/api/v1/videos/{job['id']}/source", headers={"Range": "bytes=100-199"}) as part:
        assert part.status_code == 206
        assert part.data == data[100:200]
        assert part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    with client.get(f"/api/v1/videos/{job['id']}/source") as whole:
        assert whole.status_code == 200
        assert whole.data == data
        assert whole.headers["Accept-Ranges"] == "bytes"
    wait_state(client, job["id"])


def test_playable_copy_is_a_webm_with_the_same_frames(live: Live, data_dir: Path, tmp_path: Path) -> None:
    """An AVI (MPEG-4 Part 2) upload, which Chromium cannot play, gets a VP8 WebM copy with every frame."""
    server, _ = live()  # a real server: the test client spools a big upload to a file it never closes
    with (data_dir / "vtest_clip.avi").open("rb") as fh:
        job = requests.post(f"{server.url}/api/v1/videos", files={"video": ("vtest_clip.avi", fh)},
                            timeout=WAIT_S).json()
    url = f"{server.url}/api/v1/videos/{job['id']}"
    early = requests.get(f"{url}/playable.webm", timeout=WAIT_S)
    assert early.status_code == 409
    assert "POST playable first" in early.json()["message"]
    deadline = time.monotonic() + 3 * WAIT_S
    copy = requests.post(f"{url}/playable", timeout=WAIT_S).json()
    while copy["state"] != "done" and time.monotonic() < deadline:
        assert copy["state"] in ("queued", "running"), copy
        time.sleep(0.1)
        copy = requests.post(f"{url}/playable", timeout=WAIT_S).json()
    assert copy == {"state": "done", "frames_done": 70, "progress": 1.0, "error": ""}
    assert requests.get(url, timeout=WAIT_S).json()["playable"]["state"] == "done"
    webm = requests.get(f"{url}/playable.webm", timeout=WAIT_S)
    assert webm.status_code == 200
    assert webm.headers["Content-Type"] == "video/webm"
    assert webm.content[:4] == b"\x1a\x45\xdf\xa3"  # EBML, the WebM/Matroska magic
    (tmp_path / "copy.webm").write_bytes(webm.content)
    part = requests.get(f"{url}/playable.webm", headers={"Range": "bytes=0-99"}, timeout=WAIT_S)
    assert (part.status_code, len(part.content)) == (206, 100)
    cap = cv2.VideoCapture(str(tmp_path / "copy.webm"))
    assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"VP80"
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    copied = []
    while (frame := cap.read())[0]:
        copied.append(frame[1])
    with open_video(data_dir / "vtest_clip.avi") as video:
        raw = [f.image for f in video]
    assert len(copied) == len(raw) == 70
    diffs = [float(np.abs(c.astype(int) - r.astype(int)).mean()) for c, r in zip(copied, raw, strict=True)]
    assert max(diffs) < 6.0  # the same pictures, up to VP8's loss; nothing drawn on them


def zero_frame_mp4(tmp_path: Path) -> bytes:
    path = tmp_path / "zero.mp4"
    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48)).release()
    return path.read_bytes()


@pytest.mark.parametrize(("kind", "status", "code", "words"), [
    ("text", 415, "video_unsupported", "is not a video"),
    ("png", 415, "video_unsupported", "is not a video"),
    ("truncated", 400, "video_corrupt", "cannot be decoded"),
    ("zero-frame", 400, "video_corrupt", "cannot be decoded"),
    ("empty", 400, "video_empty", "is empty"),
])
def test_bad_videos_are_refused_clearly(client: FlaskClient, data_dir: Path, tmp_path: Path, *, kind: str,
                                        status: int, code: str, words: str) -> None:
    clip = (data_dir / CLIP).read_bytes()
    data = {"text": b"hello, this is not a video\n" * 20, "png": (data_dir / "bus.jpg").read_bytes(),
            "truncated": clip[: len(clip) // 2], "zero-frame": zero_frame_mp4(tmp_path), "empty": b""}[kind]
    answer = upload(client, data, f"{kind}.mp4")
    assert answer.status_code == status
    body = answer.get_json()
    assert body["error"] == code
    assert words in body["message"]
    assert f"{kind}.mp4" in body["message"]
    root = Path(client.application.extensions["visioncast"].config.data_dir) / "videos"
    assert not root.exists() or list(root.iterdir()) == []  # refused uploads leave nothing behind
    assert upload(client, clip).status_code == 201  # the server is unharmed


def test_upload_without_the_field_and_over_the_limit(app_factory: Callable[..., Flask],
                                                     data_dir: Path) -> None:
    client = app_factory(max_upload_mb=0.1).test_client()
    missing = client.post("/api/v1/videos", data={"file": (io.BytesIO(b"x"), "a.mp4")},
                          content_type="multipart/form-data")
    assert missing.status_code == 400
    assert "'video'" in missing.get_json()["message"]
    big = upload(client, (data_dir / CLIP).read_bytes())
    assert big.status_code == 413
    assert big.get_json() == {"error": "video_too_large", "message":
                              "video is larger than the limit of 0.1 MB (videos.max_upload_mb)"}


@pytest.mark.parametrize(("method", "path"), [
    ("GET", ""), ("DELETE", ""), ("GET", "/results"), ("GET", "/events"), ("GET", "/source"),
    ("POST", "/render"), ("GET", "/video.avi"), ("POST", "/playable"), ("GET", "/playable.webm"),
])
def test_unknown_job_is_404_on_every_route(client: FlaskClient, method: str, path: str) -> None:
    answer = client.open(f"/api/v1/videos/0123456789abcdef{path}", method=method)
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "not_found"
    assert "0123456789abcdef" in answer.get_json()["message"]


def test_delete_cancels_and_forgets_the_job(live: Live, data_dir: Path, tmp_path: Path) -> None:
    server, jobs = live()  # a real server: the test client spools a big upload to a file it never closes
    with long_video(tmp_path / "long.mp4", 10, data_dir / CLIP).open("rb") as fh:
        job = requests.post(f"{server.url}/api/v1/videos", files={"video": ("long.mp4", fh)},
                            timeout=WAIT_S).json()
    url = f"{server.url}/api/v1/videos/{job['id']}"
    gone = requests.delete(url, timeout=WAIT_S)
    assert gone.status_code == 200
    assert gone.json()["id"] == job["id"]
    assert requests.get(url, timeout=WAIT_S).status_code == 404
    deadline = time.monotonic() + WAIT_S
    while jobs.busy() or (jobs.root / job["id"]).exists():
        assert time.monotonic() < deadline, "the deleted job's worker or folder is still there"
        time.sleep(0.1)


def read_events(response: requests.Response, stop: Callable[[list[tuple[str, str, Any]]], bool]) \
        -> list[tuple[str, str, Any]]:
    """(event, id, data) of an SSE response until ``stop(events)``."""
    events: list[tuple[str, str, Any]] = []
    kind, event_id, data = "message", "", ""
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and data:
            events.append((kind, event_id, json.loads(data)))
            kind, event_id, data = "message", "", ""
            if stop(events):
                break
    return events


@pytest.fixture
def live(app_factory: Callable[..., Flask]) -> Iterator[Callable[..., tuple[HttpServer, JobManager]]]:
    """``live(**videos)`` → a real server of a fresh app in a thread, and that app's job manager."""
    servers: list[HttpServer] = []

    def start(**videos: Any) -> tuple[HttpServer, JobManager]:
        app = app_factory(**videos)
        servers.append(HttpServer(app, "127.0.0.1", 0, workers=6).start_in_thread())
        return servers[-1], app.extensions[EXTENSION]

    yield start
    for server in servers:
        server.stop()


def test_results_stream_sends_every_frame_then_resumes_after_last_event_id(live: Live,
                                                                          data_dir: Path) -> None:
    server, _ = live()
    with (data_dir / CLIP).open("rb") as fh:
        job = requests.post(f"{server.url}/api/v1/videos", files={"video": (CLIP, fh)}, timeout=WAIT_S).json()
    url = f"{server.url}/api/v1/videos/{job['id']}/events"
    with requests.get(url, stream=True, timeout=WAIT_S) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = read_events(response, lambda ev: ev[-1][0] == "end")
    results = [e for e in events if e[0] == "result"]
    assert [int(i) for _, i, _ in results] == list(range(CLIP_FRAMES))
    assert [d["frame"] for _, _, d in results] == list(range(CLIP_FRAMES))
    assert events[0][0] == "state"
    assert events[-1] == ("end", "", {"state": "done", "frames_done": CLIP_FRAMES})
    with requests.get(url, headers={"Last-Event-ID": "30"}, stream=True, timeout=WAIT_S) as response:
        again = read_events(response, lambda ev: ev[-1][0] == "end")
    assert [d["frame"] for kind, _, d in again if kind == "result"] == list(range(31, CLIP_FRAMES))


def test_closing_the_stream_abandons_the_job_and_frees_the_worker(live: Live,
                                                                  data_dir: Path, tmp_path: Path) -> None:
    server, jobs = live(abandon_after_s=1.0)
    long = long_video(tmp_path / "long.mp4", 20, data_dir / CLIP)
    with long.open("rb") as fh:
        job = requests.post(f"{server.url}/api/v1/videos", files={"video": ("long.mp4", fh)},
                            timeout=WAIT_S).json()
    url = f"{server.url}/api/v1/videos/{job['id']}"
    with requests.get(f"{url}/events", stream=True, timeout=WAIT_S) as response:
        read_events(response, lambda ev: sum(e[0] == "result" for e in ev) >= 3)
    # the page is gone: nobody polls any more
    held = jobs.get(job["id"])
    deadline = time.monotonic() + WAIT_S
    while held.state not in FINAL:
        assert time.monotonic() < deadline, f"the abandoned job is still {held.state}"
        time.sleep(0.1)
    assert held.state == "cancelled"
    assert "abandoned" in held.error
    assert held.future is not None
    held.future.result(timeout=WAIT_S)  # its worker thread returned
    assert held.watchers == 0
    assert jobs.busy() == 0
    assert jobs.counts["cancelled_abandoned"] == 1
    assert len(held.results) < 20 * CLIP_FRAMES
    status = requests.get(url, timeout=WAIT_S).json()
    assert status["state"] == "cancelled"


def test_polling_keeps_a_job_alive_and_finished_jobs_expire(live: Live,
                                                            data_dir: Path) -> None:
    server, jobs = live(abandon_after_s=1.0, keep_s=1.0)
    with (data_dir / CLIP).open("rb") as fh:
        job = requests.post(f"{server.url}/api/v1/videos", files={"video": (CLIP, fh)}, timeout=WAIT_S).json()
    url = f"{server.url}/api/v1/videos/{job['id']}"
    deadline = time.monotonic() + WAIT_S
    while (status := requests.get(url, timeout=WAIT_S).json())["state"] not in FINAL:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status["state"] == "done"
    while requests.get(url, timeout=WAIT_S).status_code != 404 or (jobs.root / job["id"]).exists():
        assert time.monotonic() < deadline, "the finished job was not removed after keep_s"
        time.sleep(0.2)
    assert jobs.counts["expired"] == 1


@pytest.mark.parametrize(("head", "kind"), [
    (b"\x00\x00\x00\x1cftypisom", "mp4"), (b"\x00\x00\x00\x14ftypqt  ", "mp4"),
    (b"RIFF\x10\x00\x00\x00AVI LIST", "avi"), (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "matroska"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", None), (b"GIF89a", None), (b"", None),
])
def test_sniff_container(head: bytes, kind: str | None) -> None:
    assert sniff_container(head) == kind


def test_video_routes_are_in_the_openapi_document(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]
    job = "/api/v1/videos/{job_id}"
    for path, method in [("/api/v1/videos", "post"), (job, "get"), (job, "delete"), (f"{job}/results", "get"),
                         (f"{job}/events", "get"), (f"{job}/render", "post"), (f"{job}/video.avi", "get"),
                         (f"{job}/source", "get"), (f"{job}/playable", "post"),
                         (f"{job}/playable.webm", "get"), ("/video", "get"), ("/webcam", "get")]:
        assert "x-undocumented" not in paths[path][method], path
    assert "VideoJob" in spec["components"]["schemas"]


def test_job_numbers_are_in_the_metrics(client: FlaskClient, data_dir: Path) -> None:
    job = upload(client, (data_dir / CLIP).read_bytes()).get_json()
    wait_state(client, job["id"])
    text = client.get("/metrics").get_data(as_text=True)
    assert 'visioncast_video_jobs{state="done"} 1.0' in text
    assert f'visioncast_video_events_total{{event="frames_detected"}} {CLIP_FRAMES}.0' in text
    assert 'visioncast_video_events_total{event="cancelled_abandoned"} 0.0' in text
