"""Box maths: conversions, letterbox geometry, IoU and class-wise NMS. Pure (numpy only), no I/O.

All boxes are float32 arrays of shape (N, 4). Geometry is described by :class:`Letterbox`, the mapping between
original-image pixels and model-input pixels, so decoders never guess how an image was resized.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(cx, cy, w, h) → (x1, y1, x2, y2), shape (N, 4)."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    half = b[:, 2:4] / 2
    return np.concatenate([b[:, 0:2] - half, b[:, 0:2] + half], axis=1)


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """(x1, y1, x2, y2) → (cx, cy, w, h), shape (N, 4)."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    wh = b[:, 2:4] - b[:, 0:2]
    return np.concatenate([b[:, 0:2] + wh / 2, wh], axis=1)


def clip_xyxy(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes clipped to the image [0, width] × [0, height]."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, width)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, height)
    return b


@dataclass(frozen=True)
class Letterbox:
    """How an original image of ``src_w``×``src_h`` was placed in a ``dst_w``×``dst_h`` model input.

    The image was scaled by ``scale`` (aspect kept) and its top-left corner put at (``pad_x``, ``pad_y``).
    """

    src_w: int
    src_h: int
    dst_w: int
    dst_h: int
    scale: float
    pad_x: float
    pad_y: float

    @classmethod
    def fit(cls, src_w: int, src_h: int, dst_w: int, dst_h: int, *, center: bool) -> Letterbox:
        """The largest aspect-keeping fit; padding split evenly when ``center`` else all right/bottom."""
        scale = min(dst_w / src_w, dst_h / src_h)
        new_w, new_h = round(src_w * scale), round(src_h * scale)
        pad_x = (dst_w - new_w) / 2 if center else 0.0
        pad_y = (dst_h - new_h) / 2 if center else 0.0
        return cls(src_w, src_h, dst_w, dst_h, scale, pad_x, pad_y)

    @property
    def resized_size(self) -> tuple[int, int]:
        """(width, height) of the scaled image inside the canvas."""
        return round(self.src_w * self.scale), round(self.src_h * self.scale)

    def to_original(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Model-input pixel boxes → original-image pixel boxes, clipped to the image."""
        b = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4).copy()
        b[:, [0, 2]] -= self.pad_x
        b[:, [1, 3]] -= self.pad_y
        b /= self.scale
        return clip_xyxy(b, self.src_w, self.src_h)


def _overlap(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(intersection, union) areas of every box of ``a`` (N, 4) with every box of ``b`` (M, 4): float32 (N, M)
    each.

    Column-wise 2-D operations, no (N, M, 2) temporaries: a third of the time for the 50–100 candidates of a
    detector's frame, and the same float32 values, operation for operation, as the 3-D form.
    """
    ax1, ay1, ax2, ay2 = (a[:, i : i + 1] for i in range(4))
    w = np.minimum(ax2, b[:, 2]) - np.maximum(ax1, b[:, 0])
    h = np.minimum(ay2, b[:, 3]) - np.maximum(ay1, b[:, 1])
    np.maximum(w, 0, out=w)
    np.maximum(h, 0, out=h)
    inter = np.multiply(w, h, out=w)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = np.add(area_a[:, None], area_b, out=h)
    union -= inter
    return inter, union


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of ``a`` (N, 4) and of ``b`` (M, 4): shape (N, M)."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    inter, union = _overlap(a, b)
    return np.where(union > 0, inter / np.maximum(union, 1e-9), np.float32(0.0))


def _suppresses(a: np.ndarray, b: np.ndarray, iou_threshold: float) -> np.ndarray:
    """(N, M) bool: IoU(a[i], b[j]) > ``iou_threshold`` (the values of :func:`iou_matrix`, compared)."""
    inter, union = _overlap(a, b)
    over = np.divide(inter, np.maximum(union, 1e-9), out=inter) > np.float32(iou_threshold)
    over &= union > 0
    return over


NMS_BLOCK = 256  # candidates compared at once: bounds the (N, N) matrices when a low conf lets thousands in


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices of kept boxes, best score first.

    The same boxes as the textbook loop (take the best, drop what overlaps it by more than the threshold,
    repeat), computed with whole-matrix operations: in score order, box *i* is kept when no kept box before it
    overlaps it. Within a block that is a fixed point, reached by iterating from "all kept" (entries settle in
    score order, one more per pass at worst; two or three passes on real frames); earlier blocks' kept boxes
    suppress first. 0.05 ms for 60 candidates instead of 0.2 ms for the loop, as fast as OpenCV's
    ``NMSBoxes`` (docs/benchmarks.md), and pure numpy.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float32), kind="stable")
    ranked = boxes[order]
    kept = np.zeros(0, dtype=np.int64)  # positions in ``order``
    for start in range(0, len(order), NMS_BLOCK):
        block = ranked[start : start + NMS_BLOCK]
        later = np.arange(len(block))
        over = _suppresses(block, block, iou_threshold)
        over &= later[:, None] < later
        alive: np.ndarray = np.ones(len(block), dtype=bool)
        if len(kept):
            alive = np.logical_not(_suppresses(ranked[kept], block, iou_threshold).any(axis=0))
        keep = alive
        while True:
            settled = alive & ~(over & keep[:, None]).any(axis=0)
            if np.array_equal(settled, keep):
                break
            keep = settled
        kept = np.concatenate([kept, start + np.flatnonzero(keep)])
    return order[kept]


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """Class-wise NMS: boxes of different classes never suppress each other. Indices kept, best first."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if not len(boxes):
        return np.zeros(0, dtype=np.int64)
    # Offset each class into its own region of the plane so one NMS pass handles every class. The step is the
    # coordinates' whole span (not just their max): decoded boxes may have negative coordinates.
    span = float(boxes.max() - boxes.min()) + 1.0
    offset = (np.asarray(class_ids, dtype=np.float32) * span)[:, None]
    return nms(boxes + offset, scores, iou_threshold)
