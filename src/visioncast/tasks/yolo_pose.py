"""Pose task of Ultralytics exports (YOLOv8/11-pose, as Mind+ trains them): several people with keypoints.
No I/O; pinned by tests on tiny ONNX graphs (no AGPL weights in the repository).

Input as the Ultralytics detectors: RGB /255, letterboxed centred with pad 114. Output [1, 4 + nc + K·D, N]:
per column cx, cy, w, h in input pixels, nc class scores (1 for people), then K keypoints of D values
(x, y[, visibility]; visibility already sigmoid). K, D come from metadata ``kpt_shape`` ([17, 3] by default).
Boxes go through NMS; boxes and keypoints are mapped back through the letterbox.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

import numpy as np

from visioncast.core.boxes import Letterbox, batched_nms, cxcywh_to_xyxy
from visioncast.core.types import Detections, Result
from visioncast.errors import ModelError
from visioncast.runtimes.base import Runtime
from visioncast.tasks.base import Prepared, TaskBase, TaskOptions
from visioncast.tasks.detect import DEFAULT_OPTIONS
from visioncast.tasks.family import describe_io, input_size
from visioncast.tasks.preprocess import letterbox_image, to_nchw

DEFAULT_KPT_SHAPE = (17, 3)


def kpt_shape(runtime: Runtime) -> tuple[int, int]:
    """(keypoints, values per keypoint) from metadata ``kpt_shape``, else COCO's (17, 3)."""
    text = runtime.metadata.get("kpt_shape")
    if not text:
        return DEFAULT_KPT_SHAPE
    try:
        k, d = (int(v) for v in ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError) as exc:
        raise ModelError(f"model metadata kpt_shape must be [keypoints, 2 or 3], got {text!r}") from exc
    if k < 1 or d not in (2, 3):
        raise ModelError(f"model metadata kpt_shape must be [keypoints, 2 or 3], got {text!r}")
    return k, d


def is_ultralytics_pose(runtime: Runtime) -> bool:
    """One [1, C, N] output with C = 4 + nc + K·D (metadata ``task: pose``, ``kpt_shape``, or C = 56)."""
    outs = runtime.outputs
    if len(runtime.inputs) != 1 or len(outs) != 1 or len(outs[0].shape) != 3:
        return False
    meta = runtime.metadata
    if meta.get("task") == "pose" or "kpt_shape" in meta:
        return True
    c, n = outs[0].static_dim(1), outs[0].static_dim(2)
    return c == 4 + 1 + 17 * 3 and (n is None or n > c)


class UltralyticsPose(TaskBase):
    """Ultralytics pose export: ``pose(image)`` → Result(task="pose"), people with K keypoints each."""

    task = "pose"
    family = "ultralytics-pose"

    def __init__(self, runtime: Runtime, labels: Sequence[str] = ("person",), *, name: str = "pose",
                 options: TaskOptions | None = None) -> None:
        if not is_ultralytics_pose(runtime):
            raise ModelError(f"not an Ultralytics pose export: {describe_io(runtime)}")
        self.runtime, self.name = runtime, name
        self.labels = tuple(labels) or ("person",)
        self.options = options.over(DEFAULT_OPTIONS) if options else DEFAULT_OPTIONS
        self.kpts, self.dims = kpt_shape(runtime)
        channels = runtime.outputs[0].static_dim(1)
        self.nc = channels - 4 - self.kpts * self.dims if channels else len(self.labels)
        if self.nc < 1:
            raise ModelError(f"Ultralytics pose output has {channels} channels, too few for 4 box values, a "
                             f"class score and {self.kpts}×{self.dims} keypoint values")
        self._input = runtime.inputs[0].name
        self.input_size = input_size(runtime, runtime.inputs[0])

    def prepare(self, image: np.ndarray, options: TaskOptions | None = None) -> Prepared:
        canvas, box = letterbox_image(image, self.input_size, center=True, fill=114)
        return Prepared({self._input: to_nchw(canvas, rgb=True, scale=1 / 255)}, (image.shape[1],
                        image.shape[0]), box, self.resolve(options))

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        out = outputs[0][0]  # (4 + nc + K·D, N)
        expected = 4 + self.nc + self.kpts * self.dims
        if out.shape[0] != expected:
            raise ModelError(f"Ultralytics pose output must have {expected} rows, got {out.shape[0]}")
        opts, box = prepared.options, prepared.context
        conf, iou = opts.conf or 0.0, opts.iou or 0.0
        scores = out[4 : 4 + self.nc]
        cols = np.flatnonzero(scores.max(axis=0) >= conf)
        kept = out[:, cols].T
        cid = kept[:, 4 : 4 + self.nc].argmax(axis=1)
        score = kept[np.arange(len(cols)), 4 + cid].astype(np.float32)
        if opts.classes is not None:
            mask = np.isin(cid, np.asarray(opts.classes))
            kept, cid, score = kept[mask], cid[mask], score[mask]
        xyxy = cxcywh_to_xyxy(kept[:, :4])
        order = batched_nms(xyxy, score, cid, iou)[: opts.max_det]
        kp = kept[order, 4 + self.nc :].reshape(-1, self.kpts, self.dims)
        w, h = prepared.image_wh
        names = tuple(self.labels[c] if c < len(self.labels) else f"class{c}" for c in cid[order])
        dets = Detections(box.to_original(xyxy[order]), cid[order], score[order].clip(0, 1), names,
                          keypoints=keypoints_to_original(kp, box, score[order]))
        return Result("pose", self.name, w, h, detections=dets)


def keypoints_to_original(kp: np.ndarray, box: Letterbox, person_score: np.ndarray) -> np.ndarray:
    """(N, K, 2|3) keypoints in input pixels → (N, K, 3) (x, y, score) in original pixels; a keypoint without
    a visibility gets its person's score."""
    out = np.empty((*kp.shape[:2], 3), np.float32)
    out[..., 0] = ((kp[..., 0] - box.pad_x) / box.scale).clip(0, box.src_w)
    out[..., 1] = ((kp[..., 1] - box.pad_y) / box.scale).clip(0, box.src_h)
    out[..., 2] = kp[..., 2].clip(0, 1) if kp.shape[2] == 3 else person_score[:, None]
    return out
