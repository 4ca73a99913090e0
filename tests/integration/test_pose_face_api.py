"""POST /api/v1/pose and /api/v1/face through Flask's test client, and `visioncast pose|face` as a process,
with the shipped MoveNet and YuNet models on real photos."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.apps import app_for

from visioncast.core.payload import RESULT_SCHEMA

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return app_for(tmp_path_factory.mktemp("pf"))


@pytest.fixture
def client(app):
    return app.test_client()


def post(client, route: str, path: Path, **query: str):
    return client.post(f"/api/v1/{route}", query_string=query, data=path.read_bytes(),
                       content_type="image/jpeg")


def test_pose_answers_17_keypoints_valid_against_the_schema(client, data_dir):
    resp = post(client, "pose", data_dir / "squat.jpg", source="gym")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    jsonschema.validate(body, RESULT_SCHEMA)
    assert body["task"] == "pose"
    assert body["model"] == "people-pose"
    person = body["detections"][0]
    assert person["label"] == "person"
    assert len(person["keypoints"]) == 17
    assert all(len(k) == 3 for k in person["keypoints"])


def test_face_answers_landmarks_and_renders_them(client, data_dir):
    resp = post(client, "face", data_dir / "faces.jpg", render="base64")
    assert resp.status_code == 200
    body = resp.get_json()
    jsonschema.validate(body, RESULT_SCHEMA)
    assert body["task"] == "face"
    assert len(body["detections"]) == 4
    assert all(len(d["keypoints"]) == 5 for d in body["detections"])
    drawn = cv2.imdecode(np.frombuffer(base64.b64decode(body["image"]), np.uint8), cv2.IMREAD_COLOR)
    original = cv2.imread(str(data_dir / "faces.jpg"))
    assert drawn.shape == original.shape
    x, y = (round(v) for v in body["detections"][0]["keypoints"][2][:2])  # the nose tip dot
    assert np.abs(drawn[y, x].astype(int) - original[y, x].astype(int)).sum() > 60


@pytest.mark.parametrize(("query", "field"), [({"conf": "2"}, "conf"), ({"max_det": "0"}, "max_det"),
                                             ({"model": "yolox-nano"}, "detect model")])
def test_bad_options_are_400_naming_the_field(client, data_dir, query, field):
    resp = post(client, "face", data_dir / "zidane.jpg", **query)
    assert resp.status_code == 400
    assert field in resp.get_json()["message"]


def test_conf_query_filters_faces_without_changing_the_shared_model(client, app, data_dir):
    strict = post(client, "face", data_dir / "zidane.jpg", conf="0.92").get_json()
    assert [round(d["score"], 2) for d in strict["detections"]] == [0.94]  # the other scores 0.90
    assert len(post(client, "face", data_dir / "zidane.jpg").get_json()["detections"]) == 2


def test_models_lists_pose_and_face_defaults(client):
    body = client.get("/api/v1/models").get_json()
    assert body["defaults"]["pose"] == "people-pose"
    assert body["defaults"]["face"] == "yunet"
    tasks = {m["name"]: m["task"] for m in body["models"]}
    assert tasks["people-pose"] == tasks["movenet-lightning"] == "pose"
    assert tasks["yunet"] == "face"


def test_routes_are_documented_and_marked_for_students(app):
    spec = app.test_client().get("/openapi.json").get_json()
    for route in ("pose", "face"):
        op = spec["paths"][f"/api/v1/{route}"]["post"]
        assert "x-undocumented" not in op
        assert op["summary"]
        view = app.view_functions[f"api.{route}"]
        assert getattr(view, "visioncast_access", None) == "student"


@pytest.mark.parametrize(("command", "image", "count"), [("pose", "squat.jpg", 1), ("face", "faces.jpg", 4)])
def test_cli_prints_json_and_saves_the_drawing(tmp_path, data_dir, command, image, count):
    out = tmp_path / "drawn.jpg"
    proc = subprocess.run([sys.executable, "-m", "visioncast", command, str(data_dir / image), "--json",
                           "-o", str(out)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout.splitlines()[0])
    assert body["task"] == command
    assert len(body["detections"]) == count
    assert cv2.imread(str(out)).shape == cv2.imread(str(data_dir / image)).shape


def test_cli_bad_conf_is_one_line(data_dir):
    proc = subprocess.run([sys.executable, "-m", "visioncast", "face", str(data_dir / "faces.jpg"),
                           "--conf", "7"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "visioncast: error: conf must be between 0 and 1, got 7.0"


def test_every_person_gets_a_skeleton(client, data_dir):
    """zidane.jpg holds two people: the default pose model (people-pose) gives each its box and keypoints;
    MoveNet alone (movenet-lightning) finds one."""
    body = post(client, "pose", data_dir / "zidane.jpg").get_json()
    assert [d["label"] for d in body["detections"]] == ["person", "person"]
    boxes = [d["box"] for d in body["detections"]]
    for person, other in zip(body["detections"], boxes[::-1], strict=True):
        seen = np.array([(x, y) for x, y, score in person["keypoints"] if score >= 0.3])
        assert len(seen) >= 8
        cx, cy = seen.mean(axis=0)  # its own person's skeleton, not the other's
        x1, y1, x2, y2 = person["box"]
        assert x1 <= cx <= x2
        assert y1 <= cy <= y2
        assert not other[0] <= cx <= other[2]
    single = post(client, "pose", data_dir / "zidane.jpg", model="movenet-lightning").get_json()
    assert len(single["detections"]) == 1


def test_follow_keeps_a_crop_per_source(client, app, data_dir):
    image = cv2.imread(str(data_dir / "squat.jpg"))
    query = {"source": "cam1", "follow": "1", "model": "movenet-lightning"}  # the one-person follower
    assert post(client, "pose", data_dir / "squat.jpg", **query).status_code == 200
    movenet = app.extensions["visioncast"].model("pose", "movenet-lightning")
    followed = movenet.for_stream("cam1").prepare(image).context
    assert followed.side < max(image.shape[:2])  # the next frame looks around the person
    assert movenet.for_stream("cam2").prepare(image).context.side == max(image.shape[:2])
    assert movenet.prepare(image).context.side == max(image.shape[:2])  # the shared model never follows
    resp = post(client, "pose", data_dir / "squat.jpg", follow="maybe")
    assert resp.status_code == 400
    assert "query 'follow'" in resp.get_json()["message"]
