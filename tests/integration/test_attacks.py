"""The attacks of issue 12, played against a live server bound to every network (0.0.0.0, a free port) from
this machine's non-loopback address (a curious student on the classroom LAN, no credentials). Each one must
be refused with a clear 4xx — never a 500 — while the class's own use keeps working.

Only this machine's own addresses are contacted. Other clients (another student, the person at the server's
keyboard) are played from 127.0.0.1, which a LAN server treats as one more student.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import requests
from PIL import Image

from visioncast import config
from visioncast.network import lan_addresses
from visioncast.server.app import create_app
from visioncast.server.health import warm_up
from visioncast.server.wsgi import HttpServer

LAN = lan_addresses()[0]
TOKEN = "teacher-token-for-the-attack-tests"
TEACHER = {"Authorization": f"Bearer {TOKEN}"}
TIMEOUT_S = 10
MAX_PIXELS = 1_000_000
DATA = Path(__file__).parents[1] / "data"

pytestmark = pytest.mark.skipif(LAN.startswith("127."), reason="this machine has no non-loopback address")


class Live:
    """The server, its data dir, and URLs as the LAN student and this computer reach it."""

    def __init__(self, server: HttpServer, data: Path) -> None:
        self.server, self.data = server, data
        self.lan = f"http://{LAN}:{server.port}"
        self.local = f"http://127.0.0.1:{server.port}"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data = tmp_path_factory.mktemp("attacks")
    overrides = {"data_dir": str(data), "mqtt.enabled": False, "broker.enabled": False,
                 "server.host": "0.0.0.0", "server.token": TOKEN, "server.max_pixels": MAX_PIXELS,
                 "server.read_timeout_s": 2.0, "streams.allow": [str(DATA / "*")],
                 "videos.workers": 1}
    app = create_app(config.load(env={}, overrides=overrides))
    warm_up(app)
    server = HttpServer(app, "0.0.0.0", 0, workers=8).start_in_thread()
    try:
        yield Live(server, data)
    finally:
        server.stop()
        app.extensions["visioncast"].close()


@pytest.fixture
def jobs_cleared(live: Live) -> Iterator[None]:
    """Each video test starts and ends with no job kept (the teacher deletes them)."""

    def clear() -> None:
        jobs = requests.get(f"{live.lan}/api/v1/videos", headers=TEACHER, timeout=TIMEOUT_S).json()["jobs"]
        for job in jobs:
            requests.delete(f"{live.lan}/api/v1/videos/{job['id']}", headers=TEACHER, timeout=TIMEOUT_S)

    clear()
    yield
    clear()


def tiny_video(path: Path, size: tuple[int, int] = (64, 48), frames: int = 3) -> bytes:
    """A real MJPG AVI of ``frames`` frames of ``size`` (width, height), made with OpenCV."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 40 * i, np.uint8))
    writer.release()
    return path.read_bytes()


def upload(base: str, name: str, data: bytes, **kw: Any) -> requests.Response:
    return requests.post(f"{base}/api/v1/videos", files={"video": (name, data)}, timeout=TIMEOUT_S, **kw)


def assert_refused(answer: requests.Response, status: int, error: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text[:300]
    body = answer.json()
    if error is not None:
        assert body["error"] == error
    return body  # type: ignore[no-any-return]


# ---- push takeover -------------------------------------------------------------------------------------
def test_push_settings_cannot_be_taken_over_or_read(live: Live) -> None:
    answer = requests.put(f"{live.lan}/api/v1/mqtt", json={"host": LAN, "port": 1883}, timeout=TIMEOUT_S)
    assert_refused(answer, 401, "teacher_only")
    assert not (live.data / "mqtt.json").exists()
    assert_refused(requests.get(f"{live.lan}/api/v1/mqtt", timeout=TIMEOUT_S), 401, "teacher_only")


# ---- server files and internal services ---------------------------------------------------------------
def test_a_student_cannot_start_a_stream(live: Live) -> None:
    answer = requests.post(f"{live.lan}/api/v1/streams", json={"source": str(DATA / "vtest_clip.avi")},
                           timeout=TIMEOUT_S)
    assert_refused(answer, 401, "teacher_only")


@pytest.mark.parametrize("source", ["/etc/passwd", "/nope.mp4", f"{DATA}/../../README.md", "CAM", "0",
                                    "http://127.0.0.1:{port}/healthz", "rtsp://127.0.0.1:8554/cam"])
def test_stream_sources_outside_the_allow_list_are_400_and_say_nothing_of_the_path(live: Live,
                                                                                   source: str) -> None:
    source = source.format(port=live.server.port)
    answer = requests.post(f"{live.lan}/api/v1/streams", json={"source": source}, headers=TEACHER,
                           timeout=TIMEOUT_S)
    message = assert_refused(answer, 400)["message"]
    assert message == (f"source {source!r} is not one the teacher allowed for streams; allowed: "
                       f"{DATA / '*'}")


def test_an_allowed_source_that_is_no_video_is_the_same_400_as_a_missing_one(live: Live) -> None:
    answers = [requests.post(f"{live.lan}/api/v1/streams", json={"source": str(DATA / name)},
                             headers=TEACHER, timeout=TIMEOUT_S) for name in ("README.md", "missing.mp4")]
    messages = [assert_refused(a, 400)["message"].replace(name, "X")
                for a, name in zip(answers, ("README.md", "missing.mp4"), strict=True)]
    assert messages[0] == messages[1]


def test_a_stream_model_must_be_a_registry_name(live: Live) -> None:
    path = Path(__import__("visioncast").__file__).parent / "models" / "data" / "yolox_nano_416_coco.onnx"
    body = {"source": str(DATA / "vtest_clip.avi"), "model": str(path)}
    answer = requests.post(f"{live.lan}/api/v1/streams", json=body, headers=TEACHER, timeout=TIMEOUT_S)
    assert "unknown model" in assert_refused(answer, 404)["message"]


# ---- stalls and floods ---------------------------------------------------------------------------------
def _trickle(port: int, stop: threading.Event, dropped: list[float]) -> None:
    """One slow client: a request sent one byte every 0.25 s from the LAN address."""
    t0 = time.monotonic()
    with socket.create_connection((LAN, port), timeout=TIMEOUT_S) as sock:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200:
            if stop.is_set():
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                dropped.append(time.monotonic() - t0)
                return
            if stop.wait(0.25):
                return


def test_sixteen_slow_clients_do_not_stall_anyone(live: Live) -> None:
    stop, dropped = threading.Event(), []
    threads = [threading.Thread(target=_trickle, args=(live.server.port, stop, dropped)) for _ in range(16)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)  # every slow socket has started its request
        for _ in range(5):  # each answered within 3 s, or requests raises
            assert requests.get(f"{live.local}/healthz", timeout=3).status_code == 200
            time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(TIMEOUT_S)


@pytest.mark.usefixtures("jobs_cleared")
def test_a_flood_of_tiny_uploads_leaves_room_for_others(live: Live, tmp_path: Path) -> None:
    clip = tiny_video(tmp_path / "tiny.avi")
    statuses = [upload(live.lan, "tiny.avi", clip).status_code for _ in range(16)]
    assert set(statuses) <= {201, 429}, statuses
    mine = requests.get(f"{live.lan}/api/v1/videos", timeout=TIMEOUT_S).json()["jobs"]
    assert len(mine) <= 3
    other = upload(live.local, "mine.avi", clip)
    assert other.status_code == 201, other.text[:300]


@pytest.mark.usefixtures("jobs_cleared")
def test_a_video_over_the_pixel_limit_is_refused_at_upload(live: Live, tmp_path: Path) -> None:
    big = tiny_video(tmp_path / "big.avi", size=(1200, 1000), frames=1)  # 1.2 MP > server.max_pixels
    body = assert_refused(upload(live.lan, "big.avi", big), 413)
    assert "1200×1000" in body["message"]
    assert "server.max_pixels" in body["message"]


@pytest.mark.usefixtures("jobs_cleared")
def test_the_teacher_lists_and_deletes_a_students_job_others_cannot(live: Live, tmp_path: Path) -> None:
    job = upload(live.lan, "lesson.avi", tiny_video(tmp_path / "lesson.avi")).json()
    listed = requests.get(f"{live.lan}/api/v1/videos", headers=TEACHER, timeout=TIMEOUT_S).json()["jobs"]
    assert job["id"] in [j["id"] for j in listed]
    assert_refused(requests.delete(f"{live.local}/api/v1/videos/{job['id']}", timeout=TIMEOUT_S), 404)
    deleted = requests.delete(f"{live.lan}/api/v1/videos/{job['id']}", headers=TEACHER, timeout=TIMEOUT_S)
    assert deleted.status_code == 200
    assert_refused(requests.get(f"{live.lan}/api/v1/videos/{job['id']}", timeout=TIMEOUT_S), 404)


# ---- stored XSS and upload ids -------------------------------------------------------------------------
@pytest.mark.usefixtures("jobs_cleared")
def test_an_uploaded_html_file_is_served_back_inert(live: Live, tmp_path: Path) -> None:
    payload = tiny_video(tmp_path / "clip.avi") + b"<script>alert(document.cookie)</script>"
    job = upload(live.lan, "clip.html", payload)
    assert job.status_code == 201, job.text[:300]
    job_id = job.json()["id"]
    source = requests.get(f"{live.lan}/api/v1/videos/{job_id}/source", timeout=TIMEOUT_S)
    assert source.status_code == 200
    assert source.headers["Content-Type"] == "video/x-msvideo"
    assert source.headers["X-Content-Type-Options"] == "nosniff"
    assert source.headers["Content-Disposition"].startswith("attachment")
    assert ".html" not in source.headers["Content-Disposition"]
    # the MQTT source name: the student's own, never the id that opens the upload
    assert job.json()["source"] == f"video@{LAN.replace('.', '-')}"
    other = requests.get(f"{live.local}/api/v1/videos/{job_id}/source", timeout=TIMEOUT_S)
    assert_refused(other, 404)


# ---- cross-site requests and DNS rebinding -------------------------------------------------------------
def test_another_sites_page_cannot_run_a_detection(live: Live) -> None:
    answer = requests.post(f"{live.lan}/api/v1/detect", files={"image": (DATA / "bus.jpg").read_bytes()},
                           headers={"Origin": "http://evil.example"}, timeout=TIMEOUT_S)
    assert_refused(answer, 403, "cross_origin")


def test_a_rebound_dns_name_is_refused(live: Live) -> None:
    answer = requests.get(f"{live.lan}/api/v1/models", headers={"Host": "evil.example"}, timeout=TIMEOUT_S)
    assert_refused(answer, 400, "bad_host")


def test_metrics_are_not_for_the_lan(live: Live) -> None:
    answer = requests.get(f"{live.lan}/metrics", timeout=TIMEOUT_S)
    assert answer.status_code == 403
    assert "only this computer (or the teacher)" in answer.text
    assert requests.get(f"{live.local}/metrics", timeout=TIMEOUT_S).status_code == 200


# ---- input the server should take or refuse cleanly ----------------------------------------------------
def test_a_phone_portrait_photo_is_detected_upright(live: Live) -> None:
    """A phone stores a portrait photo sideways and says so in EXIF (orientation 6: turn it 90° clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.open(DATA / "bus.jpg").transpose(Image.Transpose.ROTATE_90).save(buf, "JPEG", quality=95, exif=exif)
    answer = requests.post(f"{live.lan}/api/v1/detect", files={"image": ("portrait.jpg", buf.getvalue())},
                           timeout=TIMEOUT_S)
    assert answer.status_code == 200, answer.text[:300]
    body = answer.json()
    assert (body["width"], body["height"]) == (810, 1080)  # as the photo is shown, not as it is stored
    labels = [d["label"] for d in body["detections"]]
    assert labels[0] == "bus"
    assert labels.count("person") >= 3
    bus = body["detections"][0]["box"]
    assert bus[2] - bus[0] > 600  # the bus spans the width of the upright photo
    assert bus[3] - bus[1] < 700


@pytest.mark.parametrize("task", ["detect", "classify"])
def test_an_image_no_model_can_take_is_a_400(live: Live, task: str) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (2000, 2), (200, 30, 30)).save(buf, "PNG")
    answer = requests.post(f"{live.lan}/api/v1/{task}", files={"image": ("thin.png", buf.getvalue())},
                           timeout=TIMEOUT_S)
    assert "2000×2" in assert_refused(answer, 400)["message"]
    assert requests.get(f"{live.lan}/healthz", timeout=TIMEOUT_S).status_code == 200
