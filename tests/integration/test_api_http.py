"""The /api/v1 service through Flask's test client: every input form, option, error code, and the side routes
(/healthz, /readyz, /metrics, /api/v1/models), with the real shipped models."""

from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from tests.apps import app_for

from visioncast import config
from visioncast.cli.main import main as cli_main
from visioncast.core.payload import RESULT_SCHEMA
from visioncast.core.types import Detections, Result
from visioncast.server.api import summarize
from visioncast.server.app import create_app
from visioncast.server.health import warm_up
from visioncast.server.metrics import metrics_of
from visioncast.server.wsgi import HttpServer
from visioncast.sinks import Delivery
from visioncast.sinks.jsonl import JsonlSink

jsonschema = pytest.importorskip("jsonschema")


class RecordingSink:
    """A real Sink that keeps what it is given (the Services bus seam)."""

    needs_image = False

    def __init__(self) -> None:
        self.published: list[tuple[Result, str, int, float]] = []

    def deliver(self, delivery: Delivery) -> None:
        assert delivery.result is not None
        assert delivery.frame is not None
        self.published.append((delivery.result, delivery.source, delivery.frame.index,
                               delivery.frame.timestamp_s))

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = app_for(tmp_path_factory.mktemp("api"))
    warm_up(app)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def bus(data_dir) -> bytes:
    return (data_dir / "bus.jpg").read_bytes()


def labels_of(payload: dict[str, Any]) -> list[str]:
    return [d["label"] for d in payload["detections"]]


def test_detect_raw_body_finds_the_bus_and_people(client, bus):
    resp = client.post("/api/v1/detect", data=bus, content_type="image/jpeg")
    assert resp.status_code == 200, resp.json
    body = resp.json
    jsonschema.validate(body, RESULT_SCHEMA)
    assert body["width"] == 810
    assert body["height"] == 1080
    assert body["model"] == "yolox-nano"
    assert labels_of(body)[0] == "bus"
    assert labels_of(body).count("person") >= 3
    assert {"preprocess", "inference", "postprocess"} <= set(body["timings_ms"])


def test_the_three_upload_forms_give_the_same_answer(client, bus):
    raw = client.post("/api/v1/detect", data=bus, content_type="application/octet-stream").json
    multipart = client.post("/api/v1/detect", data={"image": (io.BytesIO(bus), "bus.jpg")}).json
    b64 = base64.b64encode(bus).decode()
    as_json = client.post("/api/v1/detect", json={"image": b64}).json
    data_url = client.post("/api/v1/detect", json={"image": f"data:image/jpeg;base64,{b64}"}).json
    curl_default = client.post("/api/v1/detect", data=bus,
                               content_type="application/x-www-form-urlencoded").json
    for other in (multipart, as_json, data_url, curl_default):
        assert other["detections"] == raw["detections"]


def test_api_detections_equal_the_detect_command(client, bus, data_dir, capsys):
    for query, flags in (("", []), ("?conf=0.5&iou=0.3", ["--conf", "0.5", "--iou", "0.3"]),
                         ("?classes=person", ["--classes", "person"])):
        api = client.post(f"/api/v1/detect{query}", data=bus).json
        capsys.readouterr()
        assert cli_main(["detect", str(data_dir / "bus.jpg"), "--json", "--no-save", *flags]) == 0
        local = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert api["detections"] == local["detections"], query
        assert api["detections"], query


@pytest.mark.parametrize(("query", "check"), [
    ("conf=0.8", lambda b: all(d["score"] >= 0.8 for d in b["detections"]) and len(b["detections"]) == 3),
    ("classes=bus", lambda b: labels_of(b) == ["bus"]),
    ("classes=0", lambda b: set(labels_of(b)) == {"person"}),
    ("classes=5,person", lambda b: set(labels_of(b)) == {"bus", "person"}),
    ("max_det=2", lambda b: len(b["detections"]) == 2),
])
def test_detect_query_options(client, bus, query, check):
    resp = client.post(f"/api/v1/detect?{query}", data=bus)
    assert resp.status_code == 200, resp.json
    assert check(resp.json), resp.json


def test_classify_answers_top_k(client, data_dir):
    png = (data_dir / "cifar10" / "cifar10_00_3.png").read_bytes()
    body = client.post("/api/v1/classify?top=3", data=png).json
    jsonschema.validate(body, RESULT_SCHEMA)
    assert body["predictions"][0]["label"] == "cat"
    assert len(body["predictions"]) == 3
    assert len(client.post("/api/v1/classify", data=png).json["predictions"]) == 5


def test_render_base64_is_a_jpeg_of_the_image(client, bus):
    body = client.post("/api/v1/detect?render=base64", data=bus).json
    jpeg = base64.b64decode(body["image"])
    assert jpeg[:3] == b"\xff\xd8\xff"
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (1080, 810, 3)


def test_render_url_saves_in_the_results_folder(app, client, bus):
    body = client.post("/api/v1/classify?render=url", data=bus).json
    url = body["image_url"]
    assert url.startswith("/results/")
    assert url.endswith(".jpg")
    saved = Path(app.extensions["visioncast"].config.server.results_dir) / url.rsplit("/", 1)[1]
    assert saved.is_file()
    with client.get(url) as got:
        assert got.status_code == 200
        assert got.mimetype == "image/jpeg"
        assert got.data == saved.read_bytes()


def test_every_result_is_published_with_its_source_frame_and_time(app, client, bus):
    sink = RecordingSink()
    app.extensions["visioncast"].bus.add(sink)
    before = time.time()
    try:
        client.post("/api/v1/detect?source=webcam", data=bus)
        client.post("/api/v1/classify", data=bus)
        client.post("/api/v1/detect", data=bus)
        client.post("/api/v1/detect?source=教室", data=bus)
        client.post("/api/v1/detect", data=b"not an image")
        client.post("/api/v1/detect?source=webcam", data=bus)
        client.post("/api/v1/classify?source=counted", data=bus)
    finally:
        app.extensions["visioncast"].bus.remove(sink)
    # each route its own stable source (its own debouncer on MQTT) numbered on its own; Chinese names are fine
    assert [(r.task, s) for r, s, _, _ in sink.published] == [
        ("detect", "webcam"), ("classify", "classify"), ("detect", "detect"), ("detect", "教室"),
        ("detect", "webcam"), ("classify", "counted")]
    webcam = [i for _, s, i, _ in sink.published if s == "webcam"]
    assert webcam[1] == webcam[0] + 1  # the refused image in between took no number
    stamps = [t for *_, t in sink.published]  # Unix time of each answer, in order
    assert before - 1 <= stamps[0] <= stamps[-1] <= time.time() + 1
    assert stamps == sorted(stamps)


def test_a_failing_sink_never_fails_the_request(app, client, bus, tmp_path):
    """A real sink that raises outside the visioncast errors (JSON lines into a closed file: ValueError)
    is counted on /metrics; the request is answered and the next sink still gets the result."""
    closed = (tmp_path / "closed.jsonl").open("w", encoding="utf-8")
    closed.close()
    failing, recording = JsonlSink("closed.jsonl", stream=closed), RecordingSink()
    svc = app.extensions["visioncast"]
    for sink in (failing, recording):
        svc.bus.add(sink)
    try:
        answers = [client.post("/api/v1/detect?source=broken", data=bus) for _ in range(3)]
    finally:
        for sink in (failing, recording):
            svc.bus.remove(sink)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [s for _, s, _, _ in recording.published] == ["broken"] * 3
    assert svc.bus.status("broken")["JsonlSink"]["failed"] == 3
    assert "ValueError: I/O operation on closed file" in svc.bus.status()["JsonlSink"]["last_error"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'visioncast_sink_errors_total{sink="JsonlSink",source="broken"} 3.0' in metrics


BAD = [
    ("/api/v1/detect", {"data": b"hello, world", "content_type": "text/plain"}, 415, "got text"),
    ("/api/v1/classify", {"data": bytes(range(256)) * 4}, 415, "JPEG/PNG"),
    ("/api/v1/detect", {"json": {"image": "data:text/plain;base64,aGVsbG8="}}, 415, "text/plain"),
    ("/api/v1/detect", {"data": b""}, 400, "empty body"),
    ("/api/v1/detect", {"json": {"picture": "x"}}, 400, "'image'"),
    ("/api/v1/detect", {"json": {"image": "@@not base64@@"}}, 400, "base64"),
    ("/api/v1/detect", {"data": b"{not json", "content_type": "application/json"}, 400, "invalid JSON"),
    ("/api/v1/detect", {"data": {"file": (io.BytesIO(b"x"), "a.jpg")}}, 400, "field 'image'"),
    ("/api/v1/detect?conf=abc", {}, 400, "'conf' must be a number between 0 and 1, got 'abc'"),
    ("/api/v1/detect?conf=1.5", {}, 400, "'conf'"),
    ("/api/v1/detect?conf=nan", {}, 400, "'conf'"),
    ("/api/v1/detect?iou=-0.1", {}, 400, "'iou'"),
    ("/api/v1/detect?max_det=0", {}, 400, "'max_det'"),
    ("/api/v1/detect?classes=unicorn", {}, 400, "'unicorn'"),
    ("/api/v1/detect?classes=80", {}, 400, "0–79"),
    ("/api/v1/detect?render=png", {}, 400, "'render' must be one of base64, url, got 'png'"),
    ("/api/v1/detect?source=a/b", {}, 400, "'source'"),
    ("/api/v1/classify?top=0", {}, 400, "'top'"),
    ("/api/v1/classify?top=two", {}, 400, "'top'"),
    ("/api/v1/detect?model=resnet56-cifar10", {}, 400, "classify model"),
    ("/api/v1/detect?model=nope", {}, 404, "unknown model 'nope'"),
    ("/api/v1/classify?model=/etc/passwd", {}, 404, "unknown model"),
]


@pytest.mark.parametrize("case", BAD, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_answered_and_the_server_keeps_serving(client, bus, case):
    url, kwargs, status, words = case
    kwargs = kwargs or {"data": bus}
    resp = client.post(url, **kwargs)
    assert resp.status_code == status, resp.json
    assert set(resp.json) == {"error", "message"}
    assert words in resp.json["message"]
    assert client.get("/healthz").json == {"status": "ok"}


def test_corrupt_image_is_400(client, bus):
    resp = client.post("/api/v1/detect", data=bus[: len(bus) // 2])
    assert resp.status_code == 400
    assert "corrupt" in resp.json["message"]
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(("name", "people"), [("motion_photo.jpg", 1), ("zidane.heic", 2)])
def test_phone_photos_are_read_in_every_upload_form(client, data_dir, name, people):
    """A motion photo (JPEG + MP4) and an iPhone HEIC: raw body, multipart and base64 JSON all answer."""
    data = (data_dir / name).read_bytes()
    answers = [
        client.post("/api/v1/detect", data=data, content_type="application/octet-stream"),
        client.post("/api/v1/detect", data={"image": (io.BytesIO(data), name)}),
        client.post("/api/v1/detect", json={"image": base64.b64encode(data).decode()}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200], answers[0].json
    assert answers[0].json["detections"] == answers[1].json["detections"] == answers[2].json["detections"]
    assert sum(d["label"] == "person" for d in answers[0].json["detections"]) == people
    pose = client.post("/api/v1/pose", data=data)
    assert pose.status_code == 200, pose.json


def test_limits_give_413(make_app, bus):
    small = make_app(server__max_body_mb=0.05, server__max_pixels=500_000).test_client()
    body = small.post("/api/v1/detect", data=bus)
    assert body.status_code == 413
    assert "larger than the limit" in body.json["message"]
    tiny_jpeg = small.post("/api/v1/classify", data=_jpeg(900, 700))
    assert tiny_jpeg.status_code == 413
    assert "megapixels" in tiny_jpeg.json["message"]
    assert small.get("/healthz").status_code == 200


def test_default_limits_come_from_config():
    cfg = config.load(env={})
    app = create_app(cfg)
    assert app.config["MAX_CONTENT_LENGTH"] == 20 * 1024 * 1024
    assert cfg.server.max_pixels == 40_000_000


def _jpeg(width: int, height: int) -> bytes:
    return cv2.imencode(".jpg", np.full((height, width, 3), 127, np.uint8))[1].tobytes()


def test_models_lists_the_shipped_models(client):
    body = client.get("/api/v1/models").json
    assert body["defaults"] == {"detect": "yolox-nano", "classify": "resnet56-cifar10",
                                "pose": "people-pose", "face": "yunet", "segment": "selfie-segmentation"}
    assert {("yolox-nano", "detect"), ("resnet56-cifar10", "classify")} <= {(m["name"], m["task"])
                                                                            for m in body["models"]}


def test_readyz_follows_warm_up(make_app, client):
    cold = make_app().test_client()
    assert cold.get("/readyz").status_code == 503
    assert cold.get("/readyz").json["ready"] is False
    assert client.get("/readyz").status_code == 200
    assert client.get("/readyz").json["ready"] is True


def test_metrics_count_requests_errors_and_model_time(app, client, bus):
    metrics_of(app).add_callback("visioncast_test_dropped", "a feature's counter", lambda: 7, kind="counter")
    client.post("/api/v1/detect", data=bus)
    client.post("/api/v1/detect", data=b"text", content_type="text/plain")
    client.get("/no/such/page")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'visioncast_http_requests_total{method="POST",route="/api/v1/detect",status="200"}' in text
    assert 'visioncast_errors_total{kind="image_unsupported"}' in text
    assert 'route="<unmatched>"' in text
    assert "/no/such/page" not in text
    assert 'visioncast_inference_seconds_count{model="yolox-nano",stage="inference",task="detect"}' in text
    assert 'visioncast_http_request_duration_seconds_bucket{le="0.5",route="/api/v1/detect"}' in text
    assert "visioncast_test_dropped_total 7.0" in text


def test_one_access_log_line_per_request_with_a_summary(client, bus, caplog):
    with caplog.at_level(logging.INFO, logger="visioncast.server.auth.access"):
        client.post("/api/v1/detect?conf=0.5", data=bus)
    lines = [r.getMessage() for r in caplog.records if r.name == "visioncast.server.auth.access"]
    assert len(lines) == 1
    assert "POST /api/v1/detect?conf=0.5 200" in lines[0]
    assert lines[0].endswith("bus 0.91, person×3")


def test_summarize_reads_like_the_seed_window():
    one = Result("detect", "m", 10, 10, detections=Detections([[0, 0, 1, 1]], [0], [0.8512], ["person"]))
    none = Result("detect", "m", 10, 10, detections=Detections([], [], [], []))
    assert summarize(one) == "person 0.85"
    assert summarize(none) == "nothing detected"


@pytest.mark.parametrize(("image", "status"), [("zidane.jpg", 200), ("bus.jpg", 413)])
def test_chunked_uploads_through_a_real_server_respect_the_limit(make_app, data_dir, image, status):
    """No Content-Length: the server reads the chunks (within its own limit), the route refuses a body over
    server.max_body_mb (0.1 MB here) with 413."""
    data = (data_dir / image).read_bytes()
    app = make_app(server__max_body_mb=0.1)
    with HttpServer(app, "127.0.0.1", 0, workers=2) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        chunks = (data[i : i + 8192] for i in range(0, len(data), 8192))
        conn.request("POST", "/api/v1/detect", body=chunks, encode_chunked=True,
                     headers={"Content-Type": "image/jpeg", "Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        conn.close()
    assert resp.status == status, body
    if status == 413:
        assert "larger than the limit of 0.1 MB" in body["message"]


def test_a_labels_file_must_fit_the_model(tmp_path, make_app, bus):
    """`serve --labels zh.txt` with 10 labels: the CIFAR classifier speaks Chinese; the 80-class detector
    refuses the file (503 naming both numbers) instead of calling a bus '狗'."""
    labels = tmp_path / "zh.txt"
    labels.write_text("飞机\n汽车\n鸟\n猫\n鹿\n狗\n青蛙\n马\n船\n卡车\n", encoding="utf-8")
    client = make_app(models__labels=str(labels)).test_client()
    classified = client.post("/api/v1/classify", data=bus)
    assert classified.status_code == 200
    assert classified.get_json()["predictions"][0]["label"] in labels.read_text(encoding="utf-8").split()
    detected = client.post("/api/v1/detect", data=bus)
    assert detected.status_code == 503
    assert detected.get_json()["message"] == (
        f"labels file '{labels}' has 10 labels but model 'yolox-nano' has 80 classes; "
        "use a labels file with 80 lines")
