"""Pose task: MoveNet SinglePose (Lightning 192, Thunder 256) with the crop-and-refine its authors recommend
for video. No I/O (OpenCV only resizes).

MoveNet takes one square RGB image (int32 or float32 NHWC, 0–255) and answers [1, 1, 17, 3] = (y, x, score)
normalised to that square, COCO keypoint order. A square region of the image is cut (padded with black where
it leaves the image) and resized to the input: the whole image, centred, for a still; with ``follow`` on
(video, webcam), the region around the previous frame's body, worked out as in MoveNet's TensorFlow tutorial
(``determine_crop_region``): centred on the hips, 1.9× the torso and 1.2× the body extent, falling back to the
whole image when the torso is not seen. The person's score is the mean keypoint score (MoveNet's own
convention) and the box is drawn around the keypoints seen with score ≥ ``KEYPOINT_MIN_SCORE``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from visioncast.core.boxes import clip_xyxy
from visioncast.core.types import COCO_KEYPOINTS, Detections, Result
from visioncast.errors import ModelError
from visioncast.runtimes.base import Runtime
from visioncast.tasks.base import Prepared, Task, TaskBase, TaskOptions

KEYPOINT_MIN_SCORE = 0.2  # MoveNet tutorial's MIN_CROP_KEYPOINT_SCORE: a keypoint counts as seen above this
BOX_MARGIN = 0.1  # keypoints are joints: the person box is widened by this fraction of its size on each side
TORSO = (5, 6, 11, 12)  # shoulders and hips
MAX_FOLLOWERS = 32  # keyed streams followed at once by one model (for_stream); the least recently used goes
HIPS = (11, 12)
SHOULDERS = (5, 6)
PERSON_MARGIN = 1.25  # top-down: the square MoveNet sees is the person box's longer side times this


@dataclass(frozen=True)
class Crop:
    """A square region of the original image: top-left (x0, y0) and side in original pixels (may overhang)."""

    x0: float
    y0: float
    side: float

    @classmethod
    def whole(cls, width: int, height: int) -> Crop:
        """The whole image, centred in a square (MoveNet tutorial's ``init_crop_region``)."""
        side = float(max(width, height))
        return cls((width - side) / 2, (height - side) / 2, side)


def cut_square(image: np.ndarray, crop: Crop, size: int) -> np.ndarray:
    """The ``crop`` region resized to ``size``×``size`` BGR, black where it leaves the image.

    A strong shrink goes through INTER_AREA first (no aliasing), then one bilinear affine warp places the
    region.
    """
    h, w = image.shape[:2]
    scale = size / crop.side
    src, sx, sy = image, 1.0, 1.0
    if scale < 0.5:
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        src = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        sx, sy = new_w / w, new_h / h
    matrix = np.array([[scale / sx, 0, -crop.x0 * scale], [0, scale / sy, -crop.y0 * scale]], np.float64)
    return cv2.warpAffine(src, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))


def person_crop(xyxy: np.ndarray, margin: float = PERSON_MARGIN) -> Crop:
    """The square around a person's box that MoveNet looks at in top-down pose: centred on the box, its
    longer side times ``margin`` (context around the limbs the detector's box may clip)."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    side = max(x2 - x1, y2 - y1, 1.0) * margin
    return Crop((x1 + x2 - side) / 2, (y1 + y2 - side) / 2, side)


def to_image(out: np.ndarray, crop: Crop) -> np.ndarray:
    """MoveNet's (17, 3) (y, x, score) normalised to ``crop`` → (17, 3) (x, y, score) in image pixels."""
    kp = np.empty_like(out)
    kp[:, 0] = crop.x0 + out[:, 1] * crop.side
    kp[:, 1] = crop.y0 + out[:, 0] * crop.side
    kp[:, 2] = out[:, 2].clip(0, 1)
    return kp


def follow_crop(keypoints: np.ndarray, width: int, height: int) -> Crop | None:
    """The region to look at in the next frame from this frame's (17, 3) keypoints in pixels; None = the whole
    image (torso not seen, or the body fills the frame)."""
    seen = keypoints[:, 2] >= KEYPOINT_MIN_SCORE
    if not (seen[list(HIPS)].any() and seen[list(SHOULDERS)].any()):
        return None
    cx, cy = keypoints[list(HIPS), :2].mean(axis=0)
    torso = np.abs(keypoints[list(TORSO), :2] - (cx, cy)).max(axis=0)
    body = np.abs(keypoints[seen, :2] - (cx, cy)).max(axis=0)
    half = max(torso[0] * 1.9, torso[1] * 1.9, body[0] * 1.2, body[1] * 1.2)
    half = min(half, max(cx, width - cx, cy, height - cy))
    if half > max(width, height) / 2 or half < 4:
        return None
    return Crop(float(cx - half), float(cy - half), float(2 * half))


def person_from(keypoints: np.ndarray, width: int, height: int, conf: float) -> Detections:
    """One person (box around the seen keypoints, score = mean keypoint score) or none below ``conf``."""
    score = float(keypoints[:, 2].mean())
    seen = keypoints[keypoints[:, 2] >= KEYPOINT_MIN_SCORE]
    if score < conf or len(seen) < 2:
        return Detections.empty()
    lo, hi = seen[:, :2].min(axis=0), seen[:, :2].max(axis=0)
    margin = (hi - lo) * BOX_MARGIN
    box = clip_xyxy(np.concatenate([lo - margin, hi + margin])[None], width, height)
    return Detections(box, np.zeros(1, np.int32), np.array([min(score, 1.0)], np.float32), ("person",),
                      keypoints=keypoints[None])


DEFAULT_OPTIONS = TaskOptions(conf=0.25, iou=0.45, max_det=300)


class MoveNetPose(TaskBase):
    """MoveNet SinglePose: ``pose(image)`` → Result(task="pose") with at most one person and 17 keypoints.

    ``follow=True`` keeps the region of the last person for the next frame (video, webcam); one instance then
    follows one stream, so each stream gets its own (:meth:`for_stream`), never the server's shared one.
    """

    task = "pose"
    family = "movenet"
    labels: tuple[str, ...] = ("person",)

    def __init__(self, runtime: Runtime, *, name: str = "movenet", options: TaskOptions | None = None,
                 follow: bool = False) -> None:
        spec = runtime.inputs[0]
        if len(spec.shape) != 4 or spec.shape[-1] != 3 or spec.static_dim(1) != spec.static_dim(2):
            raise ModelError(f"a MoveNet model takes one square NHWC RGB image, got "
                             f"{spec.name}{list(spec.shape)}")
        self.runtime, self.name, self.follow = runtime, name, follow
        self.options = options.over(DEFAULT_OPTIONS) if options else DEFAULT_OPTIONS
        self.size = spec.static_dim(1) or 192
        self._input, self._dtype = spec.name, np.dtype(spec.dtype)
        self._crop: Crop | None = None
        self._lock = threading.Lock()
        self._followers: dict[str, MoveNetPose] = {}

    def for_stream(self, key: str | None = None) -> Task:
        """A follower of one stream (``follow=True``) on the same runtime: a new one without ``key``, else
        the one of stream ``key`` (e.g. one webcam's source name), made on first use; at most
        ``MAX_FOLLOWERS`` keyed ones are kept, the least recently used is dropped."""
        if key is None:
            return MoveNetPose(self.runtime, name=self.name, options=self.options, follow=True)
        with self._lock:
            found = self._followers.pop(key, None) or MoveNetPose(
                self.runtime, name=self.name, options=self.options, follow=True)
            self._followers[key] = found
            while len(self._followers) > MAX_FOLLOWERS:
                self._followers.pop(next(iter(self._followers)))
        return found

    def reset(self) -> None:
        """Forget the followed region (a new stream, a cut)."""
        with self._lock:
            self._crop = None

    def prepare(self, image: np.ndarray, options: TaskOptions | None = None) -> Prepared:
        h, w = image.shape[:2]
        with self._lock:
            crop = (self._crop if self.follow else None) or Crop.whole(w, h)
        square = cut_square(image, crop, self.size)
        x = cv2.cvtColor(square, cv2.COLOR_BGR2RGB)[None].astype(self._dtype)
        return Prepared({self._input: x}, (w, h), crop, self.resolve(options))

    def keypoints_in(self, image: np.ndarray, crops: list[Crop]) -> np.ndarray:
        """(N, 17, 3) keypoints (x, y, score) in image pixels of the person in each of ``crops``: one model
        call for all when the model takes a batch, else one per crop (the shipped MoveNet takes one)."""
        if not crops:
            return np.zeros((0, len(COCO_KEYPOINTS), 3), np.float32)
        squares = np.stack([cut_square(image, crop, self.size) for crop in crops])
        x = squares[..., ::-1].astype(self._dtype)  # BGR → RGB
        if self.runtime.inputs[0].static_dim(0) == 1:
            outs = [self.runtime.run({self._input: x[i:i + 1]})[0] for i in range(len(crops))]
        else:
            outs = [self.runtime.run({self._input: x})[0]]
        raw = np.concatenate([np.asarray(o, np.float32).reshape(-1, len(COCO_KEYPOINTS), 3) for o in outs])
        return np.stack([to_image(raw[i], crop) for i, crop in enumerate(crops)])

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        out = np.asarray(outputs[0], np.float32).reshape(-1, 3)
        if len(out) != len(COCO_KEYPOINTS):
            raise ModelError(f"MoveNet output must hold {len(COCO_KEYPOINTS)} keypoints, got {len(out)}")
        crop: Crop = prepared.context
        w, h = prepared.image_wh
        kp = to_image(out, crop)
        if self.follow:
            with self._lock:
                self._crop = follow_crop(kp, w, h)
        kp[:, 0] = kp[:, 0].clip(0, w)
        kp[:, 1] = kp[:, 1].clip(0, h)
        return Result("pose", self.name, w, h, detections=person_from(kp, w, h, prepared.options.conf or 0.0))
