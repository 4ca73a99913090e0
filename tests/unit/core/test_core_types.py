"""Result types validate themselves: malformed values fail where they are made, naming the field."""

from __future__ import annotations

import numpy as np
import pytest

from visioncast.core.types import Classification, Detections, Frame, Result
from visioncast.errors import InputError


def make_detections(n: int = 2, *, labels: tuple[str, ...] | None = None) -> Detections:
    xyxy = np.array([[10 * i, 10 * i, 10 * i + 5, 10 * i + 8] for i in range(n)], np.float32)
    return Detections(xyxy, list(range(n)), [0.9 - 0.1 * i for i in range(n)],
                      labels or tuple(f"c{i}" for i in range(n)))


def test_detections_normalise_types_and_shapes():
    dets = Detections([[1, 2, 3, 4]], [7], [0.5], ["dog"])
    assert dets.xyxy.dtype == np.float32
    assert dets.xyxy.shape == (1, 4)
    assert dets.class_id.dtype == np.int32
    assert dets.score.dtype == np.float32
    assert dets.labels == ("dog",)
    assert len(dets) == 1
    assert len(Detections.empty()) == 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"class_id": [0]}, r"detections.class_id must have 2 entries \(one per box\), got 1"),
    ({"score": [0.5, 0.5, 0.5]}, "detections.score must have 2 entries"),
    ({"labels": ("a",)}, "detections.labels must have 2 entries"),
    ({"score": [0.5, 1.5]}, r"detections.score must lie in \[0, 1\]"),
    ({"score": [-0.1, 0.5]}, r"detections.score must lie in \[0, 1\]"),
    ({"xyxy": [[0, 0, 1, 1], [5, 5, 4, 6]]}, "x2 >= x1 and y2 >= y1"),
    ({"xyxy": [[0, 0, 1, 1], [0, 0, np.nan, 1]]}, "finite"),
    ({"xyxy": [[0, 0, 1, 1], [0, 0, np.inf, 1]]}, "finite"),
    ({"track_id": [1]}, "detections.track_id must have 2 entries, got 1"),
    ({"keypoints": np.zeros((2, 17, 2))}, r"detections.keypoints must be \(N=2, K, 3\), got \(2, 17, 2\)"),
    ({"keypoints": np.zeros((1, 17, 3))}, "keypoints must be"),
])
def test_detections_refuse_malformed_values(kwargs, message):
    base = {"xyxy": [[0, 0, 1, 1], [2, 2, 3, 3]], "class_id": [0, 1], "score": [0.5, 0.4],
            "labels": ("a", "b")}
    with pytest.raises(InputError, match=message):
        Detections(**{**base, **kwargs})


def test_detections_select_with_tracks_and_counts():
    dets = make_detections(3, labels=("person", "car", "person")).with_tracks(np.array([4, -1, 6]))
    assert dets.counts() == {"person": 2, "car": 1}
    picked = dets.select(np.array([True, False, True]))
    assert picked.labels == ("person", "person")
    assert picked.track_id.tolist() == [4, 6]
    assert dets.select([2, 0]).class_id.tolist() == [2, 0]
    assert len(Detections.empty().select(np.zeros(0, bool))) == 0


@pytest.mark.parametrize("image", [
    np.zeros((4, 4), np.uint8),
    np.zeros((4, 4, 3), np.float32),
    np.zeros((4, 4, 4), np.uint8),
    np.zeros((0, 4, 3), np.uint8),
    [[0, 0, 0]],
], ids=["gray", "float", "bgra", "empty", "list"])
def test_frame_refuses_non_bgr_images(image):
    with pytest.raises(InputError, match="frame must"):
        Frame(image)


def test_frame_size():
    frame = Frame(np.zeros((30, 40, 3), np.uint8), index=3, timestamp_s=0.1)
    assert (frame.width, frame.height, frame.index) == (40, 30, 3)


@pytest.mark.parametrize(("args", "message"), [
    (([], [], []), "at least one class"),
    (([0, 1], [0.9], ["a", "b"]), "classification arrays must all have 2 entries"),
    (([0, 1], [0.2, 0.7], ["a", "b"]), "sorted best first"),
])
def test_classification_refuses_malformed_values(args, message):
    with pytest.raises(InputError, match=message):
        Classification(*args)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"task": "track"}, "result.task must be one of"),
    ({"width": 0}, "result size must be positive, got 0×10"),
    ({"task": "detect", "detections": None}, "a detect result needs detections"),
    ({"task": "classify", "classification": None}, "a classify result needs a classification"),
])
def test_result_refuses_malformed_values(kwargs, message):
    base = {"task": "detect", "model": "m", "width": 10, "height": 10, "detections": Detections.empty()}
    with pytest.raises(InputError, match=message):
        Result(**{**base, **kwargs})


def test_result_top_label_and_counts():
    dets = make_detections(3, labels=("person", "car", "person"))
    assert Result("detect", "m", 100, 100, dets).top_label == "person"
    assert Result("detect", "m", 100, 100, Detections.empty()).top_label is None
    cls = Result("classify", "m", 8, 8, classification=Classification([3, 1], [0.7, 0.2], ["cat", "car"]))
    assert cls.top_label == "cat"
    assert cls.counts() == {"cat": 1}


@pytest.mark.parametrize("scores", [[1.5, 0.2], [0.5, -0.1], [np.nan, 0.1]])
def test_classification_scores_are_probabilities(scores):
    with pytest.raises(InputError, match=r"classification.score must lie in \[0, 1\]"):
        Classification([0, 1], scores, ["a", "b"])
