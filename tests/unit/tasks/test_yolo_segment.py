"""Ultralytics segmentation exports: boxes from the box and class rows only (the mask coefficients are never
taken for classes), and each object's mask decoded as Ultralytics 8.4 does (prototypes × coefficients,
bilinear upsampling, logit > 0, crop to the box at input resolution), mapped back through the letterbox.

These graphs hold prototypes with a known shape — a disc of positive logits — and the masks are checked
against that geometry; bench/check_ultralytics_segment.py compares a real (random-weight) export's masks with
Ultralytics' own predict."""

from __future__ import annotations

import numpy as np
import pytest

from tiny_onnx import constant_model
from visioncast.core.boxes import Letterbox
from visioncast.models import load_model
from visioncast.tasks import Detector
from visioncast.tasks.mask import instance_mask
from visioncast.tasks.yolo_segment import UltralyticsSegmenter

NAMES = "{0: '苹果', 1: '香蕉'}"


def seg_output(n: int = 8, masks: int = 32) -> np.ndarray:
    out = np.zeros((1, 4 + 2 + masks, n), np.float32)
    out[0, :6, 0] = [32, 32, 20, 10, 0.9, 0.0]  # class 0 at 0.9
    out[0, :6, 1] = [10, 40, 8, 8, 0.0, 0.6]  # class 1 at 0.6
    out[0, 6:, :] = 5.0  # mask coefficients: never classes
    return out


def disc_protos(size: int, centre: tuple[float, float], radius: float, masks: int = 32) -> np.ndarray:
    """Prototype 0: +4 inside a disc (prototype-grid pixels), −4 outside; the others 0."""
    protos = np.zeros((1, masks, size, size), np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    protos[0, 0] = np.where((xx + 0.5 - centre[0]) ** 2 + (yy + 0.5 - centre[1]) ** 2 <= radius**2, 4.0, -4.0)
    return protos


def test_segmentation_export_gives_boxes_classes_and_masks(tmp_path):
    protos = np.zeros((1, 32, 16, 16), np.float32)
    protos[0, 0] = 0.1  # positive everywhere: each mask is its box
    path = constant_model(tmp_path / "seg.onnx", {"output0": seg_output(), "output1": protos},
                          metadata={"author": "Ultralytics", "task": "segment", "names": NAMES,
                                    "imgsz": "[64, 64]"})
    model = load_model(path)
    assert isinstance(model, UltralyticsSegmenter)
    assert model.family == "ultralytics-segment"
    result = model(np.zeros((64, 128, 3), np.uint8))  # letterbox scale 0.5, 16 rows of pad
    assert result.task == "segment"
    dets = result.detections
    assert dets.labels == ("苹果", "香蕉")
    np.testing.assert_allclose(dets.score, [0.9, 0.6], atol=1e-6)
    np.testing.assert_allclose(dets.xyxy[0], [44, 22, 84, 42], atol=1e-3)
    assert dets.area.tolist() == [40 * 20, 16 * 16]  # the boxes in original pixels, the second clipped
    assert [len(parts) for parts in dets.polygons] == [1, 1]
    negative = constant_model(tmp_path / "empty.onnx", {"output0": seg_output(), "output1": -protos},
                              metadata={"author": "Ultralytics", "task": "segment", "names": NAMES})
    assert len(load_model(negative)(np.zeros((64, 128, 3), np.uint8)).detections) == 0  # empty masks: dropped
    boxes_only = load_model(path, task="detect")  # asked for boxes: the detector, no masks
    assert type(boxes_only) is Detector
    assert boxes_only(np.zeros((64, 128, 3), np.uint8)).detections.area is None


def test_class_count_from_the_shapes_without_names(tmp_path):
    path = constant_model(tmp_path / "seg.onnx", {"output0": seg_output(masks=8),
                                                  "output1": np.full((1, 8, 16, 16), 0.1, np.float32)})
    (tmp_path / "fruit.txt").write_text("apple\nbanana\n", encoding="utf-8")
    model = load_model(path, labels=tmp_path / "fruit.txt")
    assert model.decoder.classes == 2
    assert model(np.zeros((64, 64, 3), np.uint8)).detections.labels == ("apple", "banana")


def test_the_mask_is_the_disc_cut_by_the_box_in_original_pixels(tmp_path):
    """A 160×160 input, 40×40 prototypes (stride 4) holding a disc of radius 10 cells (40 input px) at
    (20, 20) cells; the object's box covers the disc's left half only. The image is 320×160: letterbox scale
    0.5, 40 rows of padding above and below, so the disc is 80 px in radius at (160, 80) there."""
    out = np.zeros((1, 4 + 1 + 32, 4), np.float32)
    out[0, :5, 0] = [50, 80, 60, 80, 0.8]  # box x 20..80, y 40..120 in input pixels: the disc's left half
    out[0, 5, 0] = 1.0  # coefficient of the disc prototype
    path = constant_model(tmp_path / "seg.onnx", {"output0": out, "output1": disc_protos(40, (20, 20), 10)},
                          input_shape=(1, 3, 160, 160),
                          metadata={"author": "Ultralytics", "task": "segment", "names": "{0: 'ball'}"})
    result = load_model(path)(np.zeros((160, 320, 3), np.uint8))
    [area] = result.detections.area.tolist()
    half_disc = np.pi * 80**2 / 2
    assert area == pytest.approx(half_disc, rel=0.02)
    [outline] = result.detections.polygons[0]
    assert outline[:, 0].min() == pytest.approx(80, abs=3)  # the disc's left edge: 160 − 80
    assert outline[:, 0].max() == pytest.approx(159, abs=1)  # the box's right edge: columns < 80 × 2
    assert outline[:, 1].min() == pytest.approx(0, abs=3)
    assert outline[:, 1].max() == pytest.approx(160, abs=3)
    np.testing.assert_allclose(result.detections.xyxy[0], [40, 0, 160, 160], atol=1e-3)


def test_instance_mask_crops_to_the_box_after_upsampling():
    """Ultralytics 8.4 upsamples the logits first, then keeps the pixels whose index lies in [x1, x2) ×
    [y1, y2) of the box (#24272: no bilinear spill outside the box)."""
    protos = np.full((1, 8, 8), 4.0, np.float32)  # positive everywhere
    letterbox = Letterbox(32, 32, 32, 32, 1.0, 0.0, 0.0)
    mask = instance_mask(protos, np.ones(1, np.float32), np.array([8.5, 8, 24, 16.2]), letterbox)
    ys, xs = np.nonzero(mask)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (9, 23, 8, 16)
    assert instance_mask(-protos, np.ones(1, np.float32), np.array([8, 8, 24, 16]), letterbox).sum() == 0
