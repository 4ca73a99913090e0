"""Face task: YuNet (OpenCV Zoo) decoded here from its raw outputs, so it runs on any Runtime (onnxruntime,
OpenVINO, the async queue of the pipeline) like every other task. No I/O (OpenCV only resizes).

YuNet takes a BGR float32 NCHW image of 0–255, of any size that is a multiple of 32 (the image is shrunk to
fit ``max_side`` keeping its aspect, then padded with black at the right and bottom, as ``cv2.FaceDetectorYN``
pads). Its 12 outputs are, per stride 8, 16, 32: ``cls_s`` and ``obj_s`` [1, cells, 1], ``bbox_s`` [1, cells,
4] and ``kps_s`` [1, cells, 10], cells in row-major order. Per cell (c, r) of stride s, as OpenCV's
``FaceDetectorYN`` decodes them: score = √(clip(cls)·clip(obj)); centre = ((c, r) + bbox[0:2])·s, size =
exp(bbox[2:4])·s; landmark n = ((c, r) + kps[2n:2n+2])·s. Then NMS (IoU 0.3 by default). Landmarks are the
subject's right eye, left eye, nose tip, right and left mouth corners; each gets the face's score.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from visioncast.core.boxes import clip_xyxy, nms
from visioncast.core.types import FACE_LANDMARKS, Detections, Result
from visioncast.errors import ModelError
from visioncast.runtimes.base import Runtime
from visioncast.tasks.base import Prepared
from visioncast.tasks.detect import DetectOptions
from visioncast.tasks.staged import StagedTask

STRIDES = (8, 16, 32)
KINDS = ("cls", "obj", "bbox", "kps")
DEFAULT_OPTIONS = DetectOptions(conf=0.7, iou=0.3, max_det=100)
DEFAULT_MAX_SIDE = 640


def is_yunet(runtime: Runtime) -> bool:
    """True when the outputs are YuNet's twelve cls/obj/bbox/kps maps."""
    names = {o.name for o in runtime.outputs}
    return len(runtime.outputs) == 12 and all(f"{k}_{s}" in names for k in KINDS for s in STRIDES)


class YuNetFace(StagedTask):
    """YuNet face detector: ``face(image)`` → Result(task="face"), one box + 5 landmarks per face."""

    task = "face"
    family = "yunet"
    labels = ("face",)

    def __init__(self, runtime: Runtime, *, name: str = "yunet", options: DetectOptions | None = None,
                 max_side: int = DEFAULT_MAX_SIDE) -> None:
        if len(runtime.inputs) != 1 or len(runtime.outputs) != 12:
            raise ModelError(f"a YuNet model has 1 input and 12 outputs, got {len(runtime.inputs)} and "
                             f"{len(runtime.outputs)}")
        self.runtime, self.name = runtime, name
        self.options = options or DEFAULT_OPTIONS
        self.max_side = max_side
        spec = runtime.inputs[0]
        self._input = spec.name
        self._fixed = (spec.static_dim(3), spec.static_dim(2))  # a model exported with a fixed size
        names = [o.name for o in runtime.outputs]
        # Output positions by name when named as upstream, else OpenCV's order (cls, obj, bbox, kps).
        self._order = [names.index(f"{k}_{s}") if f"{k}_{s}" in names else i * 3 + j
                       for i, k in enumerate(KINDS) for j, s in enumerate(STRIDES)]

    def _input_size(self, width: int, height: int) -> tuple[float, int, int]:
        """(scale, padded width, padded height) for an image of ``width``×``height``."""
        fw, fh = self._fixed
        if fw and fh:
            return min(fw / width, fh / height), fw, fh
        scale = min(1.0, self.max_side / max(width, height))
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        return scale, math.ceil(w / 32) * 32, math.ceil(h / 32) * 32

    def prepare(self, image: np.ndarray) -> Prepared:
        h, w = image.shape[:2]
        scale, pad_w, pad_h = self._input_size(w, h)
        new_w, new_h = min(pad_w, max(1, round(w * scale))), min(pad_h, max(1, round(h * scale)))
        small = image if (new_w, new_h) == (w, h) else cv2.resize(
            image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        x = np.zeros((1, 3, pad_h, pad_w), np.float32)
        x[0, :, :new_h, :new_w] = small.transpose(2, 0, 1)
        return Prepared({self._input: x}, (w, h), (new_w / w, new_h / h, pad_w, pad_h))

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        sx, sy, pad_w, pad_h = prepared.context
        w, h = prepared.image_wh
        opts = self.options
        boxes, scores, kps = decode_yunet([outputs[i] for i in self._order], pad_w, pad_h, opts.conf)
        keep = nms(boxes, scores, opts.iou)[: opts.max_det]
        boxes, scores, kps = boxes[keep], scores[keep], kps[keep]
        boxes[:, [0, 2]] /= sx
        boxes[:, [1, 3]] /= sy
        kps[:, :, 0] = (kps[:, :, 0] / sx).clip(0, w)
        kps[:, :, 1] = (kps[:, :, 1] / sy).clip(0, h)
        points = np.concatenate([kps, np.repeat(scores[:, None, None], len(FACE_LANDMARKS), axis=1)], axis=2)
        dets = Detections(clip_xyxy(boxes, w, h), np.zeros(len(keep), np.int32), scores,
                          ("face",) * len(keep), keypoints=points if len(keep) else None)
        return Result("face", self.name, w, h, detections=dets)


def decode_yunet(maps: list[np.ndarray], pad_w: int, pad_h: int,
                 conf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YuNet's 12 output maps (cls ×3, obj ×3, bbox ×3, kps ×3) → boxes xyxy (N, 4), scores (N,) and landmarks
    (N, 5, 2) in input pixels, for the cells scoring at least ``conf``."""
    all_boxes, all_scores, all_kps = [], [], []
    for j, stride in enumerate(STRIDES):
        cols, rows = pad_w // stride, pad_h // stride
        cls, obj = maps[j].reshape(-1), maps[3 + j].reshape(-1)
        bbox, kps = maps[6 + j].reshape(-1, 4), maps[9 + j].reshape(-1, 10)
        if len(cls) != rows * cols:
            raise ModelError(f"YuNet output cls_{stride} must have {rows * cols} cells for a {pad_w}×{pad_h} "
                             f"input, got {len(cls)}")
        score = np.sqrt(cls.clip(0, 1) * obj.clip(0, 1))
        idx = np.flatnonzero(score >= conf)
        grid = np.stack([idx % cols, idx // cols], axis=1).astype(np.float32)
        centre = (grid + bbox[idx, :2]) * stride
        size = np.exp(np.minimum(bbox[idx, 2:4], 20.0)) * stride
        all_boxes.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1))
        all_scores.append(score[idx])
        all_kps.append((kps[idx].reshape(-1, 5, 2) + grid[:, None, :]) * stride)
    return (np.concatenate(all_boxes).astype(np.float32), np.concatenate(all_scores).astype(np.float32),
            np.concatenate(all_kps).astype(np.float32))
