"""Multi-object tracking with ByteTrack (Zhang et al., ECCV 2022). Pure (numpy + scipy), no I/O.

Why not ``supervision.ByteTrack``: supervision ≥ 0.27 removed it in favour of the separate ``trackers``
package, which hard-requires the GUI build ``opencv-python``; installed beside ``opencv-python-headless`` both
write the same ``cv2`` module (OpenCV's own docs say never to mix them) and the GUI build needs libGL on a
server. The algorithm is small, so it lives here, following the paper and supervision's former implementation:

1. predict every track with a constant-velocity Kalman filter on (cx, cy, aspect, h);
2. match high-score detections (≥ ``high_score``) to tracked and lost tracks by IoU;
3. match the remaining *low*-score detections to the still unmatched tracked tracks (ByteTrack's key idea:
   occluded people keep their id through low-confidence frames);
4. a new track needs ``min_hits`` consecutive matches before it gets a public id, so one-frame false positives
   never reach the unique totals; a track unseen for ``lost_frames`` frames is removed and reported as ended.

Matching is class-aware (a person never continues a bicycle's track). Deterministic for the same input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from visioncast.core.types import Detections

_STD_POS, _STD_VEL = 1.0 / 20, 1.0 / 160
_MOTION = np.eye(8)  # constant velocity: position += velocity each frame
_MOTION[:4, 4:] = np.eye(4)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4 xyxy) with every box in ``b`` (M, 4) → (N, M) float."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float64)
    a, b = a.astype(np.float64), b.astype(np.float64)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _xyah(box: np.ndarray) -> np.ndarray:
    w, h = box[2] - box[0], max(box[3] - box[1], 1e-3)
    return np.array([box[0] + w / 2, box[1] + h / 2, w / h, h], np.float64)


@dataclass(eq=False)
class _Track:
    """One Kalman-filtered object: state mean (8,), covariance (8, 8), class, hits and misses."""

    mean: np.ndarray
    cov: np.ndarray
    class_id: int
    hits: int = 1
    misses: int = 0
    track_id: int = -1
    first_frame: int = 0

    @classmethod
    def start(cls, box: np.ndarray, class_id: int, frame: int) -> _Track:
        m = _xyah(box)
        std = np.array(
            [
                2 * _STD_POS * m[3],
                2 * _STD_POS * m[3],
                1e-2,
                2 * _STD_POS * m[3],
                10 * _STD_VEL * m[3],
                10 * _STD_VEL * m[3],
                1e-5,
                10 * _STD_VEL * m[3],
            ]
        )
        return cls(np.concatenate([m, np.zeros(4)]), np.diag(std**2), class_id, first_frame=frame)

    def predict(self) -> None:
        pos, vel = _STD_POS * self.mean[3], _STD_VEL * self.mean[3]
        q = np.diag(np.array([pos, pos, 1e-2, pos, vel, vel, 1e-5, vel]) ** 2)
        self.mean = _MOTION @ self.mean
        self.cov = _MOTION @ self.cov @ _MOTION.T + q

    def update(self, box: np.ndarray) -> None:
        z = _xyah(box)
        h = self.mean[3]
        r = np.diag(np.array([_STD_POS * h, _STD_POS * h, 1e-1, _STD_POS * h]) ** 2)
        proj_cov = self.cov[:4, :4] + r
        gain = np.linalg.solve(proj_cov, self.cov[:4, :]).T
        self.mean = self.mean + gain @ (z - self.mean[:4])
        self.cov = self.cov - gain @ proj_cov @ gain.T
        self.hits += 1
        self.misses = 0

    def xyxy(self) -> np.ndarray:
        cx, cy, a, h = self.mean[:4]
        w = a * h
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@dataclass
class ByteTracker:
    """ByteTrack over Detections: ``update(dets)`` → the same detections with ``track_id`` (−1 = not yet
    confirmed). ``ended`` lists the public ids removed by the last update (unseen for ``lost_frames``)."""

    high_score: float = 0.5
    low_score: float = 0.1
    new_track_score: float = 0.6
    match_iou: float = 0.2
    low_match_iou: float = 0.5
    lost_frames: int = 30
    min_hits: int = 2
    ended: list[int] = field(default_factory=list)
    _tracks: list[_Track] = field(default_factory=list)
    _next_id: int = 1
    _frame: int = 0

    def update(self, dets: Detections) -> Detections:
        """Associate ``dets`` with the tracks; a new frame each call."""
        self._frame += 1
        self.ended = []
        for t in self._tracks:
            t.predict()
        ids = np.full(len(dets), -1, np.int64)
        high = np.flatnonzero(dets.score >= self.high_score)
        low = np.flatnonzero((dets.score >= self.low_score) & (dets.score < self.high_score))
        confirmed = [t for t in self._tracks if t.track_id >= 0]
        fresh = [t for t in self._tracks if t.track_id < 0]
        matched, left = self._match(confirmed, dets, high, self.match_iou)
        visible = [t for t in confirmed if t.misses == 0 and t not in matched]
        matched_low, _ = self._match(visible, dets, low, self.low_match_iou)
        matched_fresh, left = self._match(fresh, dets, left, 1 - 0.7)
        for track, i in [*matched.items(), *matched_low.items(), *matched_fresh.items()]:
            track.update(dets.xyxy[i])
            if track.track_id < 0 and track.hits >= self.min_hits:
                track.track_id, self._next_id = self._next_id, self._next_id + 1
            ids[i] = track.track_id
        hit = set(map(id, [*matched, *matched_low, *matched_fresh]))
        self._age(hit)
        for i in left:
            if dets.score[i] >= self.new_track_score:
                self._tracks.append(_Track.start(dets.xyxy[i], int(dets.class_id[i]), self._frame))
        return dets.with_tracks(ids)

    def _match(
        self, tracks: list[_Track], dets: Detections, idx: np.ndarray, min_iou: float
    ) -> tuple[dict[_Track, int], np.ndarray]:
        """Hungarian matching on IoU (class-aware); returns {track: det index} and the unmatched det
        indices."""
        if not tracks or len(idx) == 0:
            return {}, idx
        boxes = np.array([t.xyxy() for t in tracks])
        iou = iou_matrix(boxes, dets.xyxy[idx])
        same = np.array([[t.class_id == dets.class_id[i] for i in idx] for t in tracks])
        iou = np.where(same, iou, 0.0)
        rows, cols = linear_sum_assignment(-iou)
        pairs = {tracks[r]: int(idx[c]) for r, c in zip(rows, cols, strict=False) if iou[r, c] >= min_iou}
        used = set(pairs.values())
        return pairs, np.array([i for i in idx if int(i) not in used], np.int64)

    def _age(self, hit: set[int]) -> None:
        keep = []
        for t in self._tracks:
            if id(t) not in hit:
                t.misses += 1
            if t.track_id < 0 and t.misses > 0:
                continue  # an unconfirmed track missed once: a flicker, never counted
            if t.misses > self.lost_frames:
                self.ended.append(t.track_id)
                continue
            keep.append(t)
        self._tracks = keep

    def active_ids(self) -> list[int]:
        """Public ids of the confirmed tracks still alive (seen or briefly lost)."""
        return [t.track_id for t in self._tracks if t.track_id >= 0]
