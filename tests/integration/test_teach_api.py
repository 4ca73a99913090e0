"""/api/v1/teach through Flask's test client with the real extractor: a project from empty to a model that
answers, is published, exported, imported and used by name; and every bad input answered with a clear 4xx."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from tests.integration.test_api_http import RecordingSink
from tests.teach_samples import DATA, class_samples, pose_samples

from visioncast import config
from visioncast.server.app import create_app

API = "/api/v1/teach"


def student(app: Any, address: str = "192.0.2.10") -> Any:
    """A test client calling from a LAN address: a student (a loopback caller is the teacher)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("teach")
    cfg = config.load(env={}, overrides={"data_dir": str(tmp), "models.cache_dir": str(tmp / "cache"),
                                         "mqtt.enabled": False, "broker.enabled": False})
    app = create_app(cfg)
    app.extensions["visioncast"].bus.add(RecordingSink())
    yield app
    app.extensions["visioncast"].close()


@pytest.fixture(scope="module")
def taught(app) -> tuple[Any, dict[str, Any]]:
    """A student whose project has 3 classes of 10 samples, trained."""
    client = student(app)
    project = client.post(f"{API}/projects", json={"name": "表情"}).get_json()
    samples = class_samples(10)
    for label in ("公交车", "球员", "街道"):
        project = client.post(f"{API}/projects/{project['id']}/classes", json={"name": label}).get_json()
        cid = project["classes"][-1]["id"]
        for image in samples[label]:
            answer = client.post(f"{API}/projects/{project['id']}/classes/{cid}/samples", data=jpeg(image),
                                 content_type="image/jpeg")
            assert answer.status_code == 201, answer.get_json()
    report = client.post(f"{API}/projects/{project['id']}/train")
    assert report.status_code == 200, report.get_json()
    return client, client.get(f"{API}/projects/{project['id']}").get_json()


def test_train_reports_held_out_accuracy_and_confusion(taught) -> None:
    _, project = taught
    report = project["trained"]
    assert report["labels"] == ["公交车", "球员", "街道"]
    assert report["counts"] == [10, 10, 10]
    assert sum(map(sum, report["confusion"])) == sum(report["held_out"]) == 6
    assert report["accuracy"] >= 0.8
    assert [c["count"] for c in project["classes"]] == [10, 10, 10]


def test_try_answers_and_publishes_under_the_students_own_teach_source(app, taught) -> None:
    """A student's project the teacher has not chosen publishes under the student's own name, never under
    ``teach`` (docs/security.md, "Whose source is it")."""
    client, project = taught
    sink = next(s for s in app.extensions["visioncast"].bus.sinks if isinstance(s, RecordingSink))
    before = len(sink.published)
    answer = client.post(f"{API}/projects/{project['id']}/classify?top=2",
                         data=(DATA / "bus.jpg").read_bytes(), content_type="image/jpeg")
    assert answer.status_code == 200
    payload = answer.get_json()
    assert payload["model"] == "表情"
    assert payload["predictions"][0]["label"] == "公交车"
    assert len(payload["predictions"]) == 2
    result, source, _, _ = sink.published[before]
    assert source == "teach@192-0-2-10"
    assert result.top_label == "公交车"


def test_another_browser_sees_none_of_it(app, taught) -> None:
    _, project = taught
    stranger = student(app, "192.0.2.99")
    assert stranger.get(f"{API}/projects").get_json() == {"projects": []}
    assert stranger.get(f"{API}/projects/{project['id']}").status_code == 404
    assert stranger.post(f"{API}/projects/{project['id']}/train").status_code == 404


def test_export_import_round_trip_and_use_by_name(app, taught) -> None:
    client, project = taught
    exported = client.get(f"{API}/projects/{project['id']}/export")
    assert exported.status_code == 200
    assert exported.headers["Content-Disposition"].startswith("attachment")
    other = student(app, "192.0.2.11")
    imported = other.post(f"{API}/import", data=exported.data, content_type="application/zip")
    assert imported.status_code == 201, imported.get_json()
    copy = imported.get_json()
    assert [(c["name"], c["count"]) for c in copy["classes"]] == [("公交车", 10), ("球员", 10), ("街道", 10)]
    assert copy["trained"] is None
    refused = client.post(f"{API}/projects/{project['id']}/use", json={"name": "class-faces"})
    assert refused.status_code == 401, "a student does not share models with the class"
    teacher = app.test_client()  # at the keyboard of the loopback server
    assert project["id"] in [p["id"] for p in teacher.get(f"{API}/projects").get_json()["projects"]]
    used = teacher.post(f"{API}/projects/{project['id']}/use", json={"name": "class-faces"})
    assert used.status_code == 201, used.get_json()
    names = [m["name"] for m in client.get("/api/v1/models").get_json()["models"]]
    assert "class-faces" in names
    answer = client.post("/api/v1/classify?model=class-faces", data=(DATA / "zidane.jpg").read_bytes(),
                         content_type="image/jpeg")
    assert answer.get_json()["predictions"][0]["label"] == "球员"


def zip_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"PK\x03\x04 not a zip at all", 400, "unreadable"),
        (zip_of({"readme.txt": b"hi"}), 400, "no project.json"),
        (zip_of({"project.json": b"{"}), 400, "not valid JSON"),
        (zip_of({"project.json": json.dumps({"classes": [{"id": "a", "name": "x"}, {"id": "b", "name": "x"}]})
                 .encode()}), 400, "given twice"),
        (zip_of({"project.json": json.dumps({"classes": [{"id": "a", "name": "x"}]}).encode(),
                 "samples/a/1.jpg": b"%PDF-1.4 not an image"}), 415, "image"),
    ],
)
def test_bad_imports_are_refused_and_leave_nothing(app, body: bytes, status: int, message: str) -> None:
    client = student(app, "192.0.2.12")
    answer = client.post(f"{API}/import", data=body, content_type="application/zip")
    assert answer.status_code == status, answer.get_json()
    assert message in answer.get_json()["message"]
    root = Path(app.extensions["visioncast"].config.data_dir) / "teach"
    assert not list(root.glob(".import-*"))
    assert client.get(f"{API}/projects").get_json() == {"projects": []}


def test_bad_input_at_each_step(app) -> None:
    client = student(app, "192.0.2.13")
    assert client.post(f"{API}/projects", json={"name": ""}).status_code == 400
    assert client.post(f"{API}/projects", data="x", content_type="text/plain").status_code == 400
    pid = client.post(f"{API}/projects", json={"name": "p"}).get_json()["id"]
    cid = client.post(f"{API}/projects/{pid}/classes", json={"name": "开心"}).get_json()["classes"][0]["id"]
    dup = client.post(f"{API}/projects/{pid}/classes", json={"name": "开心"})
    assert dup.status_code == 400
    assert "already" in dup.get_json()["message"]
    pdf = client.post(f"{API}/projects/{pid}/classes/{cid}/samples", data=b"%PDF-1.4 x",
                      content_type="application/pdf")
    assert pdf.status_code == 415
    untrained = client.post(f"{API}/projects/{pid}/classify", data=(DATA / "bus.jpg").read_bytes(),
                            content_type="image/jpeg")
    assert untrained.status_code == 400
    assert "press Train" in untrained.get_json()["message"]
    one_class = client.post(f"{API}/projects/{pid}/train")
    assert one_class.status_code == 400
    assert "at least 2 classes" in one_class.get_json()["message"]
    assert client.get(f"{API}/projects/../../etc").status_code == 404
    assert client.get(f"{API}/projects/{pid}/classes/{cid}/samples/zz.jpg").status_code == 404


def test_a_pose_project_learns_from_keypoints(app) -> None:
    client = student(app, "192.0.2.14")
    assert client.post(f"{API}/projects", json={"name": "x", "kind": "sound"}).status_code == 400
    project = client.post(f"{API}/projects", json={"name": "举手还是坐下", "kind": "pose"}).get_json()
    assert project["kind"] == "pose"
    for label, images in pose_samples(6).items():
        project = client.post(f"{API}/projects/{project['id']}/classes", json={"name": label}).get_json()
        cid = project["classes"][-1]["id"]
        for image in images:
            client.post(f"{API}/projects/{project['id']}/classes/{cid}/samples", data=jpeg(image),
                        content_type="image/jpeg")
    report = client.post(f"{API}/projects/{project['id']}/train").get_json()
    assert report["labels"] == ["蹲", "站"]
    answer = client.post(f"{API}/projects/{project['id']}/classify", data=(DATA / "squat.jpg").read_bytes(),
                         content_type="image/jpeg").get_json()
    assert answer["predictions"][0]["label"] == "蹲"
    squat = cv2.imread(str(DATA / "squat.jpg"))
    stand = cv2.resize(cv2.imread(str(DATA / "zidane.jpg"))[:, 650:1250], (508, 610))
    sink = next(s for s in app.extensions["visioncast"].bus.sinks if isinstance(s, RecordingSink))
    before = len(sink.published)
    both = client.post(f"{API}/projects/{project['id']}/classify", data=jpeg(np.hstack([squat, stand])),
                       content_type="image/jpeg").get_json()
    assert sorted(d["label"] for d in both["detections"]) == ["站", "蹲"]  # each person with its class
    assert sink.published[before][0].counts() == {"蹲": 1, "站": 1}  # what the count topics carry


def test_phone_photos_are_samples_and_travel_in_zips(app) -> None:
    """A HEIC and a motion photo uploaded as samples, and inside an imported zip, are kept as plain JPEGs."""
    client = student(app, "192.0.2.15")
    pid = client.post(f"{API}/projects", json={"name": "手机"}).get_json()["id"]
    cid = client.post(f"{API}/projects/{pid}/classes", json={"name": "人"}).get_json()["classes"][0]["id"]
    for name in ("zidane.heic", "motion_photo.jpg"):
        answer = client.post(f"{API}/projects/{pid}/classes/{cid}/samples", data=(DATA / name).read_bytes(),
                             content_type="application/octet-stream")
        assert answer.status_code == 201, answer.get_json()
        stored = client.get(f"{API}/projects/{pid}/classes/{cid}/samples/{answer.get_json()['id']}.jpg")
        image = cv2.imdecode(np.frombuffer(stored.data, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape[:2] == ((270, 480) if name.endswith("heic") else (480, 393))  # upright, shrunk
    body = zip_of({"project.json": json.dumps({"name": "z", "classes": [{"id": "a", "name": "人"}]}).encode(),
                   "samples/a/IMG_0001.HEIC": (DATA / "zidane.heic").read_bytes(),
                   "samples/a/PXL_MP.jpg": (DATA / "motion_photo.jpg").read_bytes()})
    imported = client.post(f"{API}/import", data=body, content_type="application/zip")
    assert imported.status_code == 201, imported.get_json()
    assert [c["count"] for c in imported.get_json()["classes"]] == [2]
