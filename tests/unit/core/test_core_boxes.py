"""Box maths: conversions, letterbox geometry both ways, IoU, NMS and class-wise NMS."""

from __future__ import annotations

import numpy as np
import pytest

from visioncast.core.boxes import (
    Letterbox,
    batched_nms,
    clip_xyxy,
    cxcywh_to_xyxy,
    iou_matrix,
    nms,
    xyxy_to_cxcywh,
)


def test_cxcywh_xyxy_conversions_are_inverse():
    cxcywh = np.array([[10, 20, 4, 6], [0.5, 0.5, 1, 1]], np.float32)
    xyxy = cxcywh_to_xyxy(cxcywh)
    np.testing.assert_allclose(xyxy, [[8, 17, 12, 23], [0, 0, 1, 1]])
    np.testing.assert_allclose(xyxy_to_cxcywh(xyxy), cxcywh)
    assert cxcywh_to_xyxy(np.zeros((0, 4))).shape == (0, 4)


def test_clip_keeps_boxes_in_the_image():
    np.testing.assert_allclose(clip_xyxy([[-5, -1, 50, 70]], 40, 30), [[0, 0, 40, 30]])


@pytest.mark.parametrize(("src", "dst", "center", "expected"), [
    ((128, 64), (64, 64), True, (0.5, 0.0, 16.0, (64, 32))),
    ((128, 64), (64, 64), False, (0.5, 0.0, 0.0, (64, 32))),
    ((64, 128), (64, 64), True, (0.5, 16.0, 0.0, (32, 64))),
    ((810, 1080), (416, 416), False, (416 / 1080, 0.0, 0.0, (312, 416))),
    ((100, 100), (640, 480), True, (4.8, 80.0, 0.0, (480, 480))),
])
def test_letterbox_fit(src, dst, center, expected):
    box = Letterbox.fit(*src, *dst, center=center)
    scale, pad_x, pad_y, resized = expected
    assert box.scale == pytest.approx(scale)
    assert (box.pad_x, box.pad_y) == (pad_x, pad_y)
    assert box.resized_size == resized


def test_letterbox_to_original_undoes_scale_and_padding_and_clips():
    box = Letterbox.fit(128, 64, 64, 64, center=True)  # scale 0.5, 16 rows of padding above
    model_px = np.array([[22, 27, 42, 37], [54, 42, 66, 50], [-4, 0, 10, 20]], np.float32)
    np.testing.assert_allclose(box.to_original(model_px), [[44, 22, 84, 42], [108, 52, 128, 64],
                                                           [0, 0, 20, 8]])


def test_letterbox_round_trip_of_an_interior_box():
    box = Letterbox(src_w=810, src_h=1080, dst_w=416, dst_h=416, scale=416 / 1080, pad_x=52.0, pad_y=0.0)
    original = np.array([[13, 231, 801, 735]], np.float32)
    model_px = original * box.scale + [box.pad_x, box.pad_y, box.pad_x, box.pad_y]
    np.testing.assert_allclose(box.to_original(model_px), original, atol=1e-3)


def test_iou_matrix_values():
    a = np.array([[0, 0, 2, 2], [0, 0, 1, 1]], np.float32)
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 5, 5]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[1 / 7, 1, 0], [0, 0.25, 0]], atol=1e-6)
    assert iou_matrix(a, np.zeros((0, 4))).shape == (2, 0)


def test_nms_keeps_best_and_suppresses_overlap_above_threshold():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.3], np.float32)
    # box 1 beats 0 (IoU 90/110) and 3 (IoU 90/110); box 2 is apart.
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.95).tolist() == [1, 0, 2]  # 0 and 3 are identical: IoU 1 > 0.95
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_nms_threshold_is_exclusive():
    boxes = np.array([[0, 0, 2, 1], [1, 0, 3, 1]], np.float32)  # IoU exactly 1/3
    assert nms(boxes, [0.9, 0.8], 1 / 3 + 1e-6).tolist() == [0, 1]
    assert nms(boxes, [0.9, 0.8], 1 / 3 - 1e-6).tolist() == [0]


def test_batched_nms_is_class_wise():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    classes = np.array([0, 1, 0, 1])
    assert batched_nms(boxes, scores, classes, 0.5).tolist() == [0, 1, 3]
    assert batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0), 0.5).tolist() == []


def test_batched_nms_keeps_classes_apart_with_negative_coordinates():
    """Decoded boxes may start left of or above the image; shifting a class by max+1 alone then lets one
    class's box land on another's (here class 1's [-40, -40, 0, 0] shifted by 101 is [61, 61, 101, 101])."""
    boxes = np.array([[60, 60, 100, 100], [-40, -40, 0, 0], [-50, -50, -45, -45]], np.float32)
    kept = batched_nms(boxes, np.array([0.9, 0.8, 0.7]), np.array([0, 1, 0]), 0.5)
    assert sorted(kept.tolist()) == [0, 1, 2]


def textbook_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """The greedy loop, one best box at a time, on iou_matrix's values: the reference nms must equal."""
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    while order:
        best = order.pop(0)
        keep.append(int(best))
        order = [i for i in order if iou_matrix(boxes[best], boxes[i])[0, 0] <= np.float32(iou_threshold)]
    return keep


@pytest.mark.parametrize("block", [256, 3])
def test_nms_equals_the_textbook_loop_on_random_crowds(block, monkeypatch):
    """Clusters of overlapping boxes with tied scores, every threshold, and blocks smaller than the input
    (where earlier blocks' kept boxes must suppress later ones)."""
    import visioncast.core.boxes as boxes_module  # noqa: PLC0415 — the block size is patched for this test

    monkeypatch.setattr(boxes_module, "NMS_BLOCK", block)
    rng = np.random.default_rng(7)
    for _ in range(60):
        n = int(rng.integers(1, 40))
        xy = (rng.random((n, 2)) * 30).astype(np.float32)
        boxes = np.concatenate([xy, xy + 5 + rng.random((n, 2)).astype(np.float32) * 20], axis=1)
        scores = rng.choice(np.array([0.3, 0.5, 0.9], np.float32), n) if n % 2 else \
            rng.random(n).astype(np.float32)
        for threshold in (0.0, 0.3, 0.45, 0.7, 1.0):
            assert nms(boxes, scores, threshold).tolist() == textbook_nms(boxes, scores, threshold)
