"""The shipped semantic segmentation model (MediaPipe selfie segmentation converted to ONNX) on real photos:
the same probabilities as MediaPipe's own runtime, one person region per photo with its outlines and area,
drawn by the one renderer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tiny_onnx import constant_model
from visioncast.core.boxes import iou_matrix
from visioncast.draw import draw_result
from visioncast.models import load_model
from visioncast.sources.image import read_image
from visioncast.tasks import TaskOptions
from visioncast.tasks.mask import mask_box, mask_polygons
from visioncast.tasks.segment import SemanticSegmenter


@pytest.fixture(scope="module")
def selfie() -> SemanticSegmenter:
    model = load_model("selfie-segmentation")
    assert isinstance(model, SemanticSegmenter)
    return model


def filled(result, index: int = 0) -> np.ndarray:
    """The region's outlines filled: a bool mask at the image's size."""
    canvas = np.zeros((result.height, result.width), np.uint8)
    cv2.fillPoly(canvas, [np.round(p).astype(np.int32) for p in result.detections.polygons[index]], 1)
    return canvas.astype(bool)


@pytest.mark.parametrize("name", ["bus", "squat"])
def test_the_converted_model_gives_mediapipes_probabilities(selfie, data_dir, name):
    """tests/data/golden/selfie_*_mediapipe.png: MediaPipe 0.10.14's SelfieSegmentation on the same 256×256
    input (tools/check_selfie_onnx.py), stored as 8 bits."""
    prepared = selfie.prepare(read_image(data_dir / f"{name}.jpg"))
    ours = selfie.infer(prepared.feeds)[0][0, :, :, 0]
    theirs = cv2.imread(str(data_dir / "golden" / f"selfie_{name}_mediapipe.png"), cv2.IMREAD_GRAYSCALE) / 255
    assert np.abs(ours - theirs).max() <= 0.5 / 255 + 1e-3
    assert ((ours >= 0.5) == (theirs >= 0.5)).mean() > 0.999


def test_one_person_region_where_the_detector_sees_the_person(selfie, detector, data_dir):
    image = read_image(data_dir / "squat.jpg")
    result = selfie(image)
    assert result.task == "segment"
    dets = result.detections
    assert dets.labels == ("person",)
    found = detector(image).detections
    person = found.labels.index("person")
    assert iou_matrix(dets.xyxy, found.xyxy[person : person + 1])[0, 0] > 0.85
    share = dets.area[0] / (result.width * result.height)
    assert 0.1 < share < 0.3
    assert abs(filled(result).sum() - dets.area[0]) < 0.05 * dets.area[0]  # the outline holds the area
    assert dets.areas() == {"person": int(dets.area[0])}


def test_the_two_people_before_the_bus_are_inside_the_region(selfie, detector, data_dir):
    """The selfie model is made for people near the camera: the man cut by the right edge (YOLOX: 0.69) is
    mostly missed, the two standing before the bus (0.85, 0.81) are covered."""
    image = read_image(data_dir / "bus.jpg")
    region = filled(selfie(image))
    found = detector(image).detections
    people = [found.xyxy[i] for i, label in enumerate(found.labels)
              if label == "person" and found.score[i] > 0.75]
    assert len(people) == 2
    for x1, y1, x2, y2 in np.round(people).astype(int):
        assert region[y1:y2, x1:x2].mean() > 0.3


def test_conf_and_classes_options(selfie, data_dir):
    image = read_image(data_dir / "zidane.jpg")
    loose = selfie(image).detections.area[0]
    strict = selfie(image, TaskOptions(conf=0.9)).detections.area[0]
    assert strict < loose
    assert len(selfie(image, TaskOptions(classes=(0,))).detections) == 0  # the background is never a region


def test_the_mask_is_drawn_over_the_person_only(selfie, data_dir):
    image = read_image(data_dir / "squat.jpg")
    result = selfie(image)
    drawn = draw_result(image, result, labels=False, scores=False)
    inside = cv2.erode(filled(result).astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    changed = np.abs(drawn.astype(int) - image.astype(int)).sum(axis=2) > 20
    assert changed[inside].mean() > 0.9
    x1, y1, x2, y2 = result.detections.xyxy[0].astype(int)
    outside = np.ones(changed.shape, bool)
    outside[max(0, y1 - 10) : y2 + 10, max(0, x1 - 10) : x2 + 10] = False
    assert changed[outside].mean() < 0.001


def test_outlines_of_a_mask_in_parts_largest_first():
    mask = np.zeros((200, 300), bool)
    mask[20:60, 30:90] = True  # 2400 px
    mask[100:190, 150:290] = True  # 12600 px
    mask[5, 5] = True  # one stray pixel: in the area, not in the outlines
    polygons = mask_polygons(mask)
    assert len(polygons) == 2
    assert cv2.contourArea(polygons[0]) == pytest.approx(139 * 89)  # contours run through pixel centres
    assert cv2.contourArea(polygons[1]) == pytest.approx(59 * 39)
    assert mask_box(mask).tolist() == [5, 5, 290, 190]
    assert mask_box(np.zeros((4, 4), bool)).tolist() == [0, 0, 0, 0]


def test_a_model_of_several_classes_reports_each_but_the_background(tmp_path):
    """Score planes per class (NCHW logits): a class named "background" is no region, class 0 is one when it
    is not the background (a road-scene model's road)."""
    logits = np.full((1, 3, 8, 8), -2.0, np.float32)
    logits[0, 0, :, :4] = 3.0  # road: the left half
    logits[0, 2, :4, 4:] = 3.0  # car: the top right quarter
    logits[0, 1, 4:, 4:] = 3.0  # background: the bottom right quarter
    path = constant_model(tmp_path / "scene.onnx", {"scores": logits}, input_shape=(1, 3, 32, 32),
                          metadata={"task": "segment", "names": "{0: 'road', 1: 'background', 2: 'car'}"})
    model = load_model(path)
    assert isinstance(model, SemanticSegmenter)
    dets = model(np.zeros((64, 64, 3), np.uint8)).detections
    assert dets.labels == ("road", "car")
    assert dets.area.tolist() == [pytest.approx(2048, abs=64), pytest.approx(1024, abs=64)]
    np.testing.assert_allclose(dets.xyxy, [[0, 0, 32, 64], [32, 0, 64, 32]], atol=2)
