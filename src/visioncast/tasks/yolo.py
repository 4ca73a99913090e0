"""Decoders of the YOLO families visioncast runs. No I/O; pinned by tests on tiny ONNX graphs.

* ``yolox``       — Megvii YOLOX: BGR 0–255, top-left pad 114; output [1, N, 5+nc] raw grid offsets
                    (N = cells of strides 8/16/32), objectness and classes already sigmoid.
* ``ultralytics`` — YOLOv5u/v8/v11/yolov3u exports: RGB /255, centred pad 114; output [1, 4+nc, N] of
                    cx, cy, w, h in input pixels then class probabilities, no objectness.
* ``yolov5``      — classic YOLOv5 export: RGB /255, centred pad 114; output [1, N, 5+nc] of cx, cy, w, h,
                    objectness, class probabilities (N = 3 anchors × cells).
* ``yolov3-zoo``  — ONNX model zoo YOLOv3: inputs image [1, 3, H, W] (RGB /255, centred pad 128) and
                    image_shape [1, 2] (h, w); outputs boxes [1, N, 4] (y1, x1, y2, x2, original pixels),
                    scores [1, nc, N] and indices [M, 3] (batch, class, box) after the model's own NMS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from visioncast.core.boxes import Letterbox, clip_xyxy, cxcywh_to_xyxy
from visioncast.errors import ModelError
from visioncast.runtimes.base import ImageInput
from visioncast.tasks.detect import Candidates
from visioncast.tasks.preprocess import letterbox_image, to_nchw

STRIDES = (8, 16, 32)


def grid_cells(width: int, height: int, strides: tuple[int, ...] = STRIDES) -> int:
    """Number of anchor-free grid cells over all strides for a width×height input."""
    return sum((width // s) * (height // s) for s in strides)


@dataclass
class _LetterboxDecoder:
    """Common preparation of single-input YOLO models.

    ``folded``: the runtime converts the image itself (colour order, scale, layout folded into its graph at
    load, :func:`visioncast.runtimes.fold_image_input`), so ``prepare`` hands it the letterboxed uint8 canvas
    as it is, 1×H×W×3, instead of a float32 1×3×H×W tensor.
    """

    input_name: str
    input_size: tuple[int, int]
    rgb: bool
    center: bool
    fill: int
    scale: float
    family: str = ""
    folded: bool = False

    def image_input(self) -> ImageInput:
        """What the runtime must convert for ``folded`` feeds."""
        return ImageInput(self.input_name, self.input_size, self.rgb, self.scale)

    def prepare(self, image: np.ndarray) -> tuple[dict[str, np.ndarray], Letterbox]:
        canvas, box = letterbox_image(image, self.input_size, center=self.center, fill=self.fill)
        tensor = canvas[None] if self.folded else to_nchw(canvas, rgb=self.rgb, scale=self.scale)
        return {self.input_name: tensor}, box


def _pick(boxes_xyxy: np.ndarray, cls_scores: np.ndarray, obj: np.ndarray | None, conf: float) -> Candidates:
    cid = cls_scores.argmax(axis=1)
    score = cls_scores[np.arange(len(cid)), cid]
    if obj is not None:
        score = score * obj
    keep = score >= conf
    return Candidates(boxes_xyxy[keep], score[keep].astype(np.float32), cid[keep].astype(np.int64))


class YoloxDecoder(_LetterboxDecoder):
    """YOLOX: anchor-free grid decoding (see module docstring)."""

    def __init__(self, input_name: str, input_size: tuple[int, int]) -> None:
        super().__init__(input_name, input_size, rgb=False, center=False, fill=114, scale=1.0, family="yolox")
        self._grid, self._stride = self._make_grid(*input_size)

    @staticmethod
    def _make_grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        grids, strides = [], []
        for s in STRIDES:
            gy, gx = np.mgrid[0 : height // s, 0 : width // s]
            grids.append(np.stack([gx.ravel(), gy.ravel()], axis=1))
            strides.append(np.full((gx.size, 1), s))
        return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)

    def decode(self, outputs: list[np.ndarray], box: Letterbox, conf: float) -> Candidates:
        out = outputs[0].reshape(-1, outputs[0].shape[-1])
        if len(out) != len(self._grid):
            raise ModelError(f"yolox output must have {len(self._grid)} rows for input {self.input_size}, "
                             f"got {len(out)}")
        obj = out[:, 4]
        rows = np.flatnonzero(obj >= conf)  # score = obj·cls ≤ obj: cheap pre-filter
        out = out[rows]
        xy = (out[:, 0:2] + self._grid[rows]) * self._stride[rows]
        wh = np.exp(np.minimum(out[:, 2:4], 20.0)) * self._stride[rows]
        boxes = cxcywh_to_xyxy(np.concatenate([xy, wh], axis=1))
        return _pick(boxes, out[:, 5:], out[:, 4], conf)


class UltralyticsDecoder(_LetterboxDecoder):
    """Ultralytics YOLOv5u/v8/v11 export: [1, 4+nc, N], no objectness."""

    def __init__(self, input_name: str, input_size: tuple[int, int]) -> None:
        super().__init__(input_name, input_size, rgb=True, center=True, fill=114, scale=1 / 255,
                         family="ultralytics")

    def decode(self, outputs: list[np.ndarray], box: Letterbox, conf: float) -> Candidates:
        out = outputs[0][0]  # (4+nc, N): best class score along contiguous rows, then transpose the few kept
        rows = np.flatnonzero(out[4:].max(axis=0) >= conf)
        kept = out[:, rows].T
        return _pick(cxcywh_to_xyxy(kept[:, :4]), kept[:, 4:], None, conf)


class Yolov5Decoder(_LetterboxDecoder):
    """Classic YOLOv5 export: [1, N, 5+nc] with objectness."""

    def __init__(self, input_name: str, input_size: tuple[int, int]) -> None:
        super().__init__(input_name, input_size, rgb=True, center=True, fill=114, scale=1 / 255,
                         family="yolov5")

    def decode(self, outputs: list[np.ndarray], box: Letterbox, conf: float) -> Candidates:
        out = outputs[0].reshape(-1, outputs[0].shape[-1])
        rows = np.flatnonzero(out[:, 4] >= conf)
        out = out[rows]
        return _pick(cxcywh_to_xyxy(out[:, :4]), out[:, 5:], out[:, 4], conf)


class Yolov3ZooDecoder(_LetterboxDecoder):
    """ONNX model zoo YOLOv3: two inputs, NMS inside the model (see module docstring)."""

    def __init__(self, input_name: str, shape_name: str, input_size: tuple[int, int]) -> None:
        super().__init__(input_name, input_size, rgb=True, center=True, fill=128, scale=1 / 255,
                         family="yolov3-zoo")
        self.shape_name = shape_name

    def prepare(self, image: np.ndarray) -> tuple[dict[str, np.ndarray], Letterbox]:
        feeds, box = super().prepare(image)
        feeds[self.shape_name] = np.array([[image.shape[0], image.shape[1]]], dtype=np.float32)
        return feeds, box

    def decode(self, outputs: list[np.ndarray], box: Letterbox, conf: float) -> Candidates:
        boxes, scores, indices = outputs[0], outputs[1], outputs[2]
        idx = indices.reshape(-1, 3).astype(np.int64)
        idx = idx[idx[:, 0] >= 0]  # some exports pad with −1 rows
        yxyx = boxes[idx[:, 0], idx[:, 2]].reshape(-1, 4)
        xyxy = clip_xyxy(yxyx[:, [1, 0, 3, 2]], box.src_w, box.src_h)
        score = scores[idx[:, 0], idx[:, 1], idx[:, 2]].astype(np.float32)
        keep = score >= conf
        return Candidates(xyxy[keep], score[keep], idx[keep, 1], nms_done=True)
