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
from visioncast.tasks.base import Prepared
from visioncast.tasks.detect import DetectOptions
from visioncast.tasks.staged import StagedTask

KEYPOINT_MIN_SCORE = 0.2  # MoveNet tutorial's MIN_CROP_KEYPOINT_SCORE: a keypoint counts as seen above this
BOX_MARGIN = 0.1  # keypoints are joints: the person box is widened by this fraction of its size on each side
TORSO = (5, 6, 11, 12)  # shoulders and hips
MAX_FOLLOWERS = 32  # streams followed at once by one model (follower_for); the least recently used goes
HIPS = (11, 12)
SHOULDERS = (5, 6)


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


class MoveNetPose(StagedTask):
    """MoveNet SinglePose: ``pose(image)`` → Result(task="pose") with at most one person and 17 keypoints.

    ``follow=True`` keeps the region of the last person for the next frame (video, webcam); one instance then
    follows one stream, so give each stream its own (:meth:`follower`), never the server's shared one.
    """

    task = "pose"
    family = "movenet"
    labels = ("person",)

    def __init__(self, runtime: Runtime, *, name: str = "movenet", options: DetectOptions | None = None,
                 follow: bool = False) -> None:
        spec = runtime.inputs[0]
        if len(spec.shape) != 4 or spec.shape[-1] != 3 or spec.static_dim(1) != spec.static_dim(2):
            raise ModelError(f"a MoveNet model takes one square NHWC RGB image, got "
                             f"{spec.name}{list(spec.shape)}")
        self.runtime, self.name, self.follow = runtime, name, follow
        self.options = options or DetectOptions()
        self.size = spec.static_dim(1) or 192
        self._input, self._dtype = spec.name, np.dtype(spec.dtype)
        self._crop: Crop | None = None
        self._lock = threading.Lock()
        self._followers: dict[str, MoveNetPose] = {}

    def follower(self) -> MoveNetPose:
        """A new instance on the same runtime that follows one stream (``follow=True``)."""
        return MoveNetPose(self.runtime, name=self.name, options=self.options, follow=True)

    def follower_for(self, key: str) -> MoveNetPose:
        """The follower of stream ``key`` (e.g. one webcam's source name), made on first use; at most
        ``MAX_FOLLOWERS`` are kept, the least recently used is dropped."""
        with self._lock:
            found = self._followers.pop(key, None) or self.follower()
            self._followers[key] = found
            while len(self._followers) > MAX_FOLLOWERS:
                self._followers.pop(next(iter(self._followers)))
        return found

    def reset(self) -> None:
        """Forget the followed region (a new stream, a cut)."""
        with self._lock:
            self._crop = None

    def prepare(self, image: np.ndarray) -> Prepared:
        h, w = image.shape[:2]
        with self._lock:
            crop = (self._crop if self.follow else None) or Crop.whole(w, h)
        square = cut_square(image, crop, self.size)
        x = cv2.cvtColor(square, cv2.COLOR_BGR2RGB)[None].astype(self._dtype)
        return Prepared({self._input: x}, (w, h), crop)

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        out = np.asarray(outputs[0], np.float32).reshape(-1, 3)
        if len(out) != len(COCO_KEYPOINTS):
            raise ModelError(f"MoveNet output must hold {len(COCO_KEYPOINTS)} keypoints, got {len(out)}")
        crop: Crop = prepared.context
        w, h = prepared.image_wh
        kp = np.empty_like(out)
        kp[:, 0] = crop.x0 + out[:, 1] * crop.side
        kp[:, 1] = crop.y0 + out[:, 0] * crop.side
        kp[:, 2] = out[:, 2].clip(0, 1)
        if self.follow:
            with self._lock:
                self._crop = follow_crop(kp, w, h)
        kp[:, 0] = kp[:, 0].clip(0, w)
        kp[:, 1] = kp[:, 1].clip(0, h)
        return Result("pose", self.name, w, h, detections=person_from(kp, w, h, self.options.conf))
