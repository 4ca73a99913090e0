"""Result types shared by every channel: Frame, Detections, Classification, Result. Pure (numpy only), no I/O.

Each type validates itself on construction, so a malformed value fails where it is made, not three threads
later.
Frames are BGR uint8 H×W×3 arrays; boxes are ``xyxy`` float32 in original-image pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from visioncast.errors import InputError

Task = Literal["detect", "classify", "pose", "face", "segment"]
TASKS: tuple[Task, ...] = ("detect", "classify", "pose", "face", "segment")
#: Tasks whose result is a set of detections (pose: people with keypoints; face: faces with landmarks;
#: segment: regions with mask polygons and pixel areas).
DETECTION_TASKS: tuple[Task, ...] = ("detect", "pose", "face", "segment")

#: The 17 COCO keypoints of a pose result, in model order (left before right).
COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
    "left_ankle", "right_ankle",
)  # fmt: skip
#: Bones of the COCO skeleton as pairs of keypoint indices (face, arms, torso, legs).
COCO_SKELETON = (
    (0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12), (11, 12),
    (11, 13), (13, 15), (12, 14), (14, 16),
)  # fmt: skip
#: The 5 landmarks of a face result (the subject's right eye first, as YuNet and RetinaFace order them).
FACE_LANDMARKS = ("right_eye", "left_eye", "nose_tip", "right_mouth_corner", "left_mouth_corner")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InputError(message)


@dataclass(frozen=True)
class Frame:
    """One image from a source: BGR uint8 H×W×3, its index in the source and its media time in seconds."""

    image: np.ndarray
    index: int = 0
    timestamp_s: float = 0.0
    source: str = "image"

    def __post_init__(self) -> None:
        img = self.image
        _check(
            isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3,
            f"frame must be a BGR uint8 H×W×3 array, got {_describe(img)}",
        )
        _check(img.shape[0] > 0 and img.shape[1] > 0, f"frame must not be empty, got {img.shape}")

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"array {value.dtype} {value.shape}"
    return type(value).__name__


@dataclass(frozen=True)
class Detections:
    """N detections as parallel arrays.

    xyxy: float32 (N, 4) in original-image pixels; class_id: int32 (N,); score: float32 (N,) in [0, 1];
    labels: N class names; track_id: optional int64 (N,) (−1 = untracked); keypoints: optional float32
    (N, K, 3) of (x, y, score); polygons: optional, per detection the outlines of its mask, each a float32
    (P, 2) array of (x, y) pixels; area: optional int64 (N,), its mask's pixel count.
    """

    xyxy: np.ndarray
    class_id: np.ndarray
    score: np.ndarray
    labels: tuple[str, ...]
    track_id: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    polygons: tuple[tuple[np.ndarray, ...], ...] | None = None
    area: np.ndarray | None = None

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(xyxy)
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "class_id", np.asarray(self.class_id, dtype=np.int32).reshape(-1))
        object.__setattr__(self, "score", np.asarray(self.score, dtype=np.float32).reshape(-1))
        object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))
        for name in ("class_id", "score", "labels"):
            got = len(getattr(self, name))
            _check(got == n, f"detections.{name} must have {n} entries (one per box), got {got}")
        _check(bool(np.all(np.isfinite(xyxy))), "detections.xyxy must be finite numbers")
        _check(bool(np.all(xyxy[:, 2] >= xyxy[:, 0]) and np.all(xyxy[:, 3] >= xyxy[:, 1])),
               "detections.xyxy must have x2 >= x1 and y2 >= y1")
        _check(bool(np.all((self.score >= 0) & (self.score <= 1))), "detections.score must lie in [0, 1]")
        if self.track_id is not None:
            tid = np.asarray(self.track_id, dtype=np.int64).reshape(-1)
            _check(len(tid) == n, f"detections.track_id must have {n} entries, got {len(tid)}")
            object.__setattr__(self, "track_id", tid)
        if self.keypoints is not None:
            kp = np.asarray(self.keypoints, dtype=np.float32)
            _check(kp.ndim == 3 and kp.shape[0] == n and kp.shape[2] == 3,
                   f"detections.keypoints must be (N={n}, K, 3), got {kp.shape}")
            object.__setattr__(self, "keypoints", kp)
        if self.polygons is not None:
            polys = tuple(tuple(np.asarray(p, np.float32).reshape(-1, 2) for p in outlines)
                          for outlines in self.polygons)
            _check(len(polys) == n, f"detections.polygons must have {n} entries, got {len(polys)}")
            object.__setattr__(self, "polygons", polys)
        if self.area is not None:
            area = np.asarray(self.area, dtype=np.int64).reshape(-1)
            _check(len(area) == n and bool(np.all(area >= 0)),
                   f"detections.area must be {n} pixel counts (>= 0), got {area.tolist()}")
            object.__setattr__(self, "area", area)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.int32), np.zeros(0, np.float32), ())

    def __len__(self) -> int:
        return len(self.xyxy)

    def select(self, mask: np.ndarray | Sequence[int]) -> Detections:
        """The detections picked by a boolean mask or an index array, in that order."""
        idx = np.arange(len(self))[np.asarray(mask)] if len(self) else np.zeros(0, np.int64)
        return Detections(
            self.xyxy[idx],
            self.class_id[idx],
            self.score[idx],
            tuple(self.labels[i] for i in idx),
            None if self.track_id is None else self.track_id[idx],
            None if self.keypoints is None else self.keypoints[idx],
            None if self.polygons is None else tuple(self.polygons[i] for i in idx),
            None if self.area is None else self.area[idx],
        )

    def with_tracks(self, track_id: np.ndarray) -> Detections:
        """A copy carrying track ids (one per detection)."""
        return replace(self, track_id=track_id)

    def areas(self) -> dict[str, int]:
        """Mask pixels per label (segmentation), labels in first-seen order; {} without masks."""
        out: dict[str, int] = {}
        if self.area is not None:
            for label, pixels in zip(self.labels, self.area.tolist(), strict=True):
                out[label] = out.get(label, 0) + int(pixels)
        return out

    def counts(self) -> dict[str, int]:
        """Detections per label, labels in first-seen order."""
        out: dict[str, int] = {}
        for label in self.labels:
            out[label] = out.get(label, 0) + 1
        return out


@dataclass(frozen=True)
class Classification:
    """Top-k classes, best first: class_id int32 (k,), score float32 (k,) probabilities, labels (k,)."""

    class_id: np.ndarray
    score: np.ndarray
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_id", np.asarray(self.class_id, dtype=np.int32).reshape(-1))
        object.__setattr__(self, "score", np.asarray(self.score, dtype=np.float32).reshape(-1))
        object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))
        k = len(self.class_id)
        _check(k >= 1, "classification must hold at least one class")
        _check(len(self.score) == k and len(self.labels) == k,
               f"classification arrays must all have {k} entries, got scores {len(self.score)}, "
               f"labels {len(self.labels)}")
        _check(bool(np.all((self.score >= 0) & (self.score <= 1))), "classification.score must lie in [0, 1]")
        _check(bool(np.all(np.diff(self.score) <= 1e-6)), "classification scores must be sorted best first")

    @property
    def top_label(self) -> str:
        return self.labels[0]


@dataclass(frozen=True)
class Result:
    """One inference: task, model name, original image size, its output and per-stage timings in ms."""

    task: Task
    model: str
    width: int
    height: int
    detections: Detections | None = None
    classification: Classification | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self.task in TASKS, f"result.task must be one of {TASKS}, got {self.task!r}")
        _check(self.width > 0 and self.height > 0,
               f"result size must be positive, got {self.width}×{self.height}")
        if self.task in DETECTION_TASKS:
            _check(self.detections is not None, f"a {self.task} result needs detections")
        else:
            _check(self.classification is not None, "a classify result needs a classification")

    @property
    def top_label(self) -> str | None:
        """The label a board reacts to: top class, or the most frequent detected label; None when empty."""
        if self.classification is not None:
            return self.classification.top_label
        counts = self.detections.counts() if self.detections is not None else {}
        return max(counts, key=lambda k: counts[k]) if counts else None

    def counts(self) -> dict[str, int]:
        """Objects per label (detect) or {top label: 1} (classify)."""
        if self.detections is not None:
            return self.detections.counts()
        return {self.top_label: 1} if self.top_label else {}
