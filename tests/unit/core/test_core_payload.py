"""The JSON payload: real results validate against RESULT_SCHEMA; payload → Result → payload is lossless."""

from __future__ import annotations

import json

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from visioncast.core.payload import RESULT_SCHEMA, SCHEMA_VERSION, result_from_payload, result_to_payload
from visioncast.core.types import Classification, Detections, Result
from visioncast.errors import InputError
from visioncast.sources.image import read_image
from visioncast.tasks.base import TaskOptions

VALIDATOR = Draft202012Validator(RESULT_SCHEMA)


def test_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(RESULT_SCHEMA)


@pytest.fixture(scope="module")
def detect_payload(detector, data_dir):
    result = detector(read_image(data_dir / "bus.jpg"))
    return json.loads(json.dumps(result_to_payload(result, source="test", frame=0, timestamp=1.5)))


@pytest.fixture(scope="module")
def classify_payload(classifier, data_dir):
    result = classifier(read_image(data_dir / "cifar10" / "cifar10_00_3.png"), TaskOptions(top=3))
    return json.loads(json.dumps(result_to_payload(result)))


def test_real_detect_payload_validates(detect_payload):
    VALIDATOR.validate(detect_payload)
    assert detect_payload["schema_version"] == SCHEMA_VERSION
    assert detect_payload["task"] == "detect"
    assert (detect_payload["width"], detect_payload["height"]) == (810, 1080)
    assert detect_payload["detections"][0]["label"] == "bus"
    assert set(detect_payload["timings_ms"]) == {"preprocess", "inference", "postprocess"}


def test_real_classify_payload_validates(classify_payload):
    VALIDATOR.validate(classify_payload)
    assert next(p["label"] for p in classify_payload["predictions"]) == "cat"
    assert len(classify_payload["predictions"]) == 3


@pytest.mark.parametrize(("change", "where"), [
    (lambda p: p["detections"][0].update(score=1.2), "score"),
    (lambda p: p["detections"][0].update(box=[1, 2, 3]), "box"),
    (lambda p: p["detections"][0].update(extra=1), "extra"),
    (lambda p: p.pop("detections"), "detections"),
    (lambda p: p.update(schema_version=2), "schema_version"),
    (lambda p: p.update(width=0), "width"),
])
def test_schema_rejects_broken_payloads(detect_payload, change, where):
    broken = json.loads(json.dumps(detect_payload))
    change(broken)
    errors = list(VALIDATOR.iter_errors(broken))
    assert errors
    assert any(where in repr([*e.path, e.message]) for e in errors)


def test_detect_round_trip_with_tracks_and_keypoints():
    dets = Detections([[1.25, 2, 30.5, 40]], [2], [0.87654], ["car"], track_id=np.array([7]),
                      keypoints=np.array([[[1, 2, 0.5], [3, 4, 0.25]]]))
    result = Result("detect", "m", 64, 48, dets, timings_ms={"inference": 1.23456})
    payload = result_to_payload(result)
    VALIDATOR.validate(payload)
    back = result_from_payload(json.loads(json.dumps(payload)))
    assert result_to_payload(back) == payload
    assert back.detections.track_id.tolist() == [7]
    np.testing.assert_allclose(back.detections.keypoints, dets.keypoints)
    assert payload["detections"][0]["box"] == [1.2, 2.0, 30.5, 40.0]
    assert payload["detections"][0]["score"] == 0.8765


def test_segment_round_trip_with_polygons_and_area():
    outline = np.array([[10.04, 5], [40, 5], [40, 30.26], [10, 30]], np.float32)
    dets = Detections([[10, 5, 41, 31]], [1], [0.9], ["person"], polygons=((outline, outline[:3] + 1),),
                      area=np.array([800]))
    payload = result_to_payload(Result("segment", "selfie", 64, 48, dets))
    VALIDATOR.validate(payload)
    assert payload["detections"][0]["polygons"][0][0] == [10.0, 5.0]
    assert payload["detections"][0]["area"] == 800
    back = result_from_payload(json.loads(json.dumps(payload)))
    assert back.task == "segment"
    assert result_to_payload(back) == payload
    assert back.detections.areas() == {"person": 800}
    assert len(back.detections.polygons[0]) == 2


def test_detections_refuse_polygons_or_areas_that_do_not_match_the_boxes():
    with pytest.raises(InputError, match=r"detections\.polygons must have 1 entries, got 0"):
        Detections([[0, 0, 1, 1]], [0], [0.5], ["a"], polygons=())
    with pytest.raises(InputError, match=r"detections\.area must be 1 pixel counts"):
        Detections([[0, 0, 1, 1]], [0], [0.5], ["a"], area=np.array([-3]))


def test_classify_round_trip():
    result = Result("classify", "m", 32, 32, classification=Classification([3, 5], [0.75, 0.2], ["猫", "狗"]))
    payload = result_to_payload(result, source="api")
    assert payload["source"] == "api"
    back = result_from_payload(json.loads(json.dumps(payload, ensure_ascii=False)))
    assert back.classification.labels == ("猫", "狗")
    assert result_to_payload(back, source="api") == payload


@pytest.mark.parametrize(("payload", "message"), [
    ({"schema_version": 9, "model": "m", "width": 1, "height": 1}, "schema_version must be 1, got 9"),
    ({"task": "detect", "width": 1, "height": 1, "detections": []}, "KeyError: 'model'"),
    ({"model": "m", "width": 1, "height": 1, "detections": [{"box": [0, 0, 1, 1]}]}, "malformed"),
    ({"model": "m", "width": 1, "height": 1, "predictions": [{"label": "a", "class_id": 0, "score": 2}]},
     r"classification.score must lie in \[0, 1\]"),
])
def test_malformed_payload_raises_input_error(payload, message):
    with pytest.raises(InputError, match=message):
        result_from_payload(payload)
