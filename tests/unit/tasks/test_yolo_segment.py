"""Ultralytics segmentation exports give boxes (masks not drawn yet, said in a warning), on a tiny graph whose
mask coefficients are large enough to win if they were taken for class scores."""

from __future__ import annotations

import logging

import numpy as np

from tiny_onnx import constant_model
from visioncast.models import load_model
from visioncast.tasks import Detector


def seg_output(n: int = 8, masks: int = 32) -> np.ndarray:
    out = np.zeros((1, 4 + 2 + masks, n), np.float32)
    out[0, :6, 0] = [32, 32, 20, 10, 0.9, 0.0]  # class 0 at 0.9
    out[0, :6, 1] = [10, 40, 8, 8, 0.0, 0.6]  # class 1 at 0.6
    out[0, 6:, :] = 5.0  # mask coefficients: never classes
    return out


def test_segmentation_export_gives_boxes_with_a_note(tmp_path, caplog):
    path = constant_model(tmp_path / "seg.onnx", {"output0": seg_output(),
                                                  "output1": np.zeros((1, 32, 16, 16), np.float32)},
                          metadata={"author": "Ultralytics", "task": "segment",
                                    "names": "{0: '苹果', 1: '香蕉'}", "imgsz": "[64, 64]"})
    with caplog.at_level(logging.WARNING, logger="visioncast.models.registry"):
        model = load_model(path)
    assert isinstance(model, Detector)
    assert model.family == "ultralytics-segment"
    assert "masks are not drawn yet" in caplog.text
    dets = model.detect(np.zeros((64, 128, 3), np.uint8)).detections  # letterbox scale 0.5, 16 rows of pad
    assert dets.labels == ("苹果", "香蕉")
    np.testing.assert_allclose(dets.score, [0.9, 0.6], atol=1e-6)
    np.testing.assert_allclose(dets.xyxy[0], [44, 22, 84, 42], atol=1e-3)


def test_class_count_from_the_shapes_without_names(tmp_path):
    path = constant_model(tmp_path / "seg.onnx", {"output0": seg_output(masks=8),
                                                  "output1": np.zeros((1, 8, 16, 16), np.float32)})
    (tmp_path / "fruit.txt").write_text("apple\nbanana\n", encoding="utf-8")
    model = load_model(path, labels=tmp_path / "fruit.txt")
    assert model.decoder.classes == 2
    assert model.detect(np.zeros((64, 64, 3), np.uint8)).detections.labels == ("apple", "banana")
