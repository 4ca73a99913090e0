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


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of ``a`` (N, 4) and of ``b`` (M, 4): shape (N, M)."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices of kept boxes, best score first."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float32), kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        ious = iou_matrix(boxes[best : best + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


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
