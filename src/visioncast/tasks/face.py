"""Face task: YuNet (OpenCV Zoo) decoded here from its raw outputs, so it runs on any Runtime (onnxruntime,
OpenVINO, the async queue of the pipeline) like every other task. No I/O (OpenCV only resizes).

YuNet takes a BGR float32 NCHW image of 0–255, of any size that is a multiple of 32 (padded with black at the
right and bottom, as ``cv2.FaceDetectorYN`` pads). Its 12 outputs are, per stride 8, 16, 32: ``cls_s`` and
``obj_s`` [1, cells, 1], ``bbox_s`` [1, cells, 4] and ``kps_s`` [1, cells, 10], cells in row-major order. Per
cell (c, r) of stride s, as OpenCV's ``FaceDetectorYN`` decodes them: score = √(clip(cls)·clip(obj));
centre = ((c, r) + bbox[0:2])·s, size = exp(bbox[2:4])·s; landmark n = ((c, r) + kps[2n:2n+2])·s. Then NMS
(IoU 0.3 by default). Landmarks are the subject's right eye, left eye, nose tip, right and left mouth
corners; each gets the face's score.

Sizes. YuNet finds faces down to about 10 pixels wide in its input, so a photo shrunk to 640 pixels loses
every face that was under about 20–30 pixels. A still (the API, the pages, ``visioncast face``) is therefore
searched at its own resolution up to ``max_side`` (default ``MAX_SIDE`` = 1920, a Full HD frame) and, when
larger, in tiles of at most ``max_side`` pixels overlapping by ``TILE_OVERLAP``; one more pass on the whole
image at ``stream_side`` finds the faces too big for the full-resolution pass. Streams and video
(``for_stream``) take one pass at ``stream_side`` (default ``STREAM_SIDE`` = 640: fast; ``models.face_size``
changes it). The passes of a still are one model call each (:class:`~visioncast.tasks.staged.StagedRuntime`),
merged by NMS; a face cut by a tile's inner edge is left to the tile that holds it whole. The smallest face
found at each setting and the cost are in docs/benchmarks.md (bench/bench_small_faces.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from visioncast.core.boxes import clip_xyxy, nms
from visioncast.core.types import FACE_LANDMARKS, Detections, Result
from visioncast.errors import ModelError
from visioncast.runtimes.base import Runtime
from visioncast.tasks.base import Prepared, Task, TaskBase, TaskOptions
from visioncast.tasks.staged import StagedRuntime

STRIDES = (8, 16, 32)
KINDS = ("cls", "obj", "bbox", "kps")
DEFAULT_OPTIONS = TaskOptions(conf=0.7, iou=0.3, max_det=100)
MAX_SIDE = 1920  # a still is searched at its own resolution up to this longest side, tiled beyond
STREAM_SIDE = 640  # streams and video: frames shrunk to this longest side
TILE_OVERLAP = 128  # pixels shared by neighbouring tiles: a face narrower than this is whole in one of them
EDGE = 2.0  # a box this close to a tile's inner edge was cut by it


def is_yunet(runtime: Runtime) -> bool:
    """True when the outputs are YuNet's twelve cls/obj/bbox/kps maps."""
    names = {o.name for o in runtime.outputs}
    return len(runtime.outputs) == 12 and all(f"{k}_{s}" in names for k in KINDS for s in STRIDES)


@dataclass(frozen=True)
class Pass:
    """One YuNet call: the region (x0, y0, width, height) of the image it sees, scaled by (sx, sy) into a
    ``pad_w``×``pad_h`` input; ``inner`` = the region's sides that border another tile (left, top, right,
    bottom)."""

    x0: int
    y0: int
    width: int
    height: int
    sx: float
    sy: float
    pad_w: int
    pad_h: int
    inner: tuple[bool, bool, bool, bool] = (False, False, False, False)


def _fit(region: tuple[int, int, int, int], scale: float,
         inner: tuple[bool, bool, bool, bool] = (False, False, False, False)) -> Pass:
    """The region (x0, y0, width, height) scaled by ``scale`` and padded up to multiples of 32."""
    x0, y0, width, height = region
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    return Pass(x0, y0, width, height, w / width, h / height, math.ceil(w / 32) * 32, math.ceil(h / 32) * 32,
                inner)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of at most ``tile`` pixels covering ``length``, neighbours sharing at least
    ``overlap`` pixels, spread evenly."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def plan_passes(width: int, height: int, *, max_side: int, stream_side: int, still: bool) -> list[Pass]:
    """The YuNet calls for an image of ``width``×``height`` (see the module docstring)."""
    longest = max(width, height)
    whole = _fit((0, 0, width, height), min(1.0, stream_side / longest))
    if not still or longest <= stream_side:
        return [whole]
    tile = max(max_side, TILE_OVERLAP * 2)
    xs, ys = tile_starts(width, tile, TILE_OVERLAP), tile_starts(height, tile, TILE_OVERLAP)
    tiles = [_fit((x, y, min(tile, width - x), min(tile, height - y)), 1.0,
                  (i > 0, j > 0, i < len(xs) - 1, j < len(ys) - 1))
             for j, y in enumerate(ys) for i, x in enumerate(xs)]
    return [whole, *tiles]


class YuNetFace(TaskBase):
    """YuNet face detector: ``face(image)`` → Result(task="face"), one box + 5 landmarks per face.

    A still is searched at its own resolution up to ``max_side`` (tiled beyond) plus once at ``stream_side``;
    ``for_stream()`` answers the one-pass task at ``stream_side`` that streams and video run.
    """

    task = "face"
    family = "yunet"
    labels: tuple[str, ...] = ("face",)

    def __init__(self, runtime: Runtime, *, name: str = "yunet", options: TaskOptions | None = None,
                 max_side: int = MAX_SIDE, stream_side: int = STREAM_SIDE, still: bool = True) -> None:
        if len(runtime.inputs) != 1 or len(runtime.outputs) != 12:
            raise ModelError(f"a YuNet model has 1 input and 12 outputs, got {len(runtime.inputs)} and "
                             f"{len(runtime.outputs)}")
        self.model_runtime, self.name, self.still = runtime, name, still
        self.options = options.over(DEFAULT_OPTIONS) if options else DEFAULT_OPTIONS
        self.max_side, self.stream_side = max_side, stream_side
        spec = runtime.inputs[0]
        self._input = spec.name
        self._fixed = (spec.static_dim(3), spec.static_dim(2))  # a model exported with a fixed size
        names = [o.name for o in runtime.outputs]
        # Output positions by name when named as upstream, else OpenCV's order (cls, obj, bbox, kps).
        self._order = [names.index(f"{k}_{s}") if f"{k}_{s}" in names else i * 3 + j
                       for i, k in enumerate(KINDS) for j, s in enumerate(STRIDES)]
        self.runtime: Runtime = StagedRuntime(runtime, self._more_passes) if still else runtime
        self._stream: YuNetFace | None = None

    def for_stream(self, key: str | None = None) -> Task:
        """The one-pass task at ``stream_side`` (no state: the same one for every stream)."""
        if not self.still:
            return self
        if self._stream is None:
            self._stream = YuNetFace(self.model_runtime, name=self.name, options=self.options,
                                     max_side=self.max_side, stream_side=self.stream_side, still=False)
        return self._stream

    def passes(self, width: int, height: int) -> list[Pass]:
        """The model calls this task makes on an image of ``width``×``height``."""
        fw, fh = self._fixed
        if fw and fh:
            scale = min(fw / width, fh / height)
            return [Pass(0, 0, width, height, scale, scale, fw, fh)]
        return plan_passes(width, height, max_side=self.max_side, stream_side=self.stream_side,
                           still=self.still)

    def prepare(self, image: np.ndarray, options: TaskOptions | None = None) -> Prepared:
        h, w = image.shape[:2]
        plan = self.passes(w, h)
        feeds = {self._input if i == 0 else f"{self._input}#{i}": _input_of(image, p)
                 for i, p in enumerate(plan)}
        return Prepared(feeds, (w, h), plan, self.resolve(options))

    def _more_passes(self, feeds: dict[str, np.ndarray], first: list[np.ndarray]) -> list[np.ndarray]:
        """The outputs of every pass after the first, appended to the first's."""
        outputs = list(first)
        for i in range(1, len(feeds)):
            outputs += self.model_runtime.run({self._input: feeds[f"{self._input}#{i}"]})
        return outputs

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        w, h = prepared.image_wh
        opts = prepared.options
        found = [_decode_pass([outputs[12 * i + j] for j in self._order], p, opts.conf or 0.0)
                 for i, p in enumerate(prepared.context)]
        boxes, scores, kps = (np.concatenate(parts) for parts in zip(*found, strict=True))
        keep = nms(boxes, scores, opts.iou or 0.0)[: opts.max_det]
        boxes, scores, kps = boxes[keep], scores[keep], kps[keep]
        kps[:, :, 0] = kps[:, :, 0].clip(0, w)
        kps[:, :, 1] = kps[:, :, 1].clip(0, h)
        points = np.concatenate([kps, np.repeat(scores[:, None, None], len(FACE_LANDMARKS), axis=1)], axis=2)
        dets = Detections(clip_xyxy(boxes, w, h), np.zeros(len(keep), np.int32), scores,
                          ("face",) * len(keep), keypoints=points if len(keep) else None)
        return Result("face", self.name, w, h, detections=dets)


def _input_of(image: np.ndarray, p: Pass) -> np.ndarray:
    """The pass's region, scaled and padded: float32 [1, 3, pad_h, pad_w]."""
    region = image[p.y0:p.y0 + p.height, p.x0:p.x0 + p.width]
    new_w, new_h = min(p.pad_w, round(p.width * p.sx)), min(p.pad_h, round(p.height * p.sy))
    small = region if (new_w, new_h) == (p.width, p.height) else cv2.resize(
        region, (new_w, new_h), interpolation=cv2.INTER_AREA if p.sx < 1 else cv2.INTER_LINEAR)
    x = np.zeros((1, 3, p.pad_h, p.pad_w), np.float32)
    x[0, :, :new_h, :new_w] = small.transpose(2, 0, 1)
    return x


def _decode_pass(maps: list[np.ndarray], p: Pass, conf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass's faces in original-image pixels, without those cut by an inner tile edge."""
    boxes, scores, kps = decode_yunet(maps, p.pad_w, p.pad_h, conf)
    boxes[:, [0, 2]] = boxes[:, [0, 2]] / p.sx
    boxes[:, [1, 3]] = boxes[:, [1, 3]] / p.sy
    kps[:, :, 0] /= p.sx
    kps[:, :, 1] /= p.sy
    left, top, right, bottom = p.inner
    cut = ((left & (boxes[:, 0] <= EDGE)) | (top & (boxes[:, 1] <= EDGE))
           | (right & (boxes[:, 2] >= p.width - EDGE)) | (bottom & (boxes[:, 3] >= p.height - EDGE)))
    keep = ~cut
    boxes, scores, kps = boxes[keep], scores[keep], kps[keep]
    boxes[:, [0, 2]] += p.x0
    boxes[:, [1, 3]] += p.y0
    kps[:, :, 0] += p.x0
    kps[:, :, 1] += p.y0
    return boxes, scores, kps


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
