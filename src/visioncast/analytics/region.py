"""Counting lines and occupancy zones configured by pixel coordinates, and their text syntax. Pure, no I/O.

An object's position is the bottom-centre of its box (where a person stands). A **line** counts tracked
objects whose position moves from one side to the other while within the segment: ``in`` when crossing from
the left of the direction (x1, y1) → (x2, y2) to its right (image coordinates, y down: for a line drawn left
to right, ``in`` means moving downwards), ``out`` the other way. A **zone** is a polygon; its occupancy is the
number of detections standing inside it in the current frame.

Syntax (CLI flags and TOML lists): ``x1,y1,x2,y2[:NAME]`` for a line, ``x1,y1,x2,y2,x3,y3,...[:NAME]`` for a
zone (three points or more). Names default to ``line1``, ``zone1``… in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from visioncast.core.types import Detections
from visioncast.errors import ConfigError

_DEADBAND_PX = 1.0


def anchors(dets: Detections) -> np.ndarray:
    """Bottom-centre points (N, 2) of the boxes."""
    return np.stack([(dets.xyxy[:, 0] + dets.xyxy[:, 2]) / 2, dets.xyxy[:, 3]], axis=1)


def parse_points(text: str, *, kind: str, default_name: str) -> tuple[str, tuple[tuple[float, float], ...]]:
    """``"x1,y1,x2,y2[:NAME]"`` → (name, points); ConfigError naming the flag and the expected form."""
    coords, _, name = text.partition(":")
    try:
        values = [float(v) for v in coords.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(
            f"{kind} must be comma-separated pixel numbers like 10,20,300,20[:name], got {text!r}"
        ) from exc
    need = 4 if kind == "line" else 6
    if len(values) % 2 or len(values) < need or (kind == "line" and len(values) != 4):
        form = "x1,y1,x2,y2" if kind == "line" else "at least three x,y points"
        raise ConfigError(f"{kind} must be {form}, got {len(values)} numbers in {text!r}")
    points = tuple((values[i], values[i + 1]) for i in range(0, len(values), 2))
    return (name.strip() or default_name), points


@dataclass
class LineCounter:
    """In/out crossings of one segment by tracked objects."""

    name: str
    start: tuple[float, float]
    end: tuple[float, float]
    crossed_in: int = 0
    crossed_out: int = 0
    _side: dict[int, float] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, text: str, default_name: str = "line1") -> LineCounter:
        name, pts = parse_points(text, kind="line", default_name=default_name)
        return cls(name, pts[0], pts[1])

    def update(self, dets: Detections) -> None:
        """Count the tracked detections that changed side since they were last seen."""
        if dets.track_id is None or not len(dets):
            return
        (x1, y1), (x2, y2) = self.start, self.end
        d = np.array([x2 - x1, y2 - y1])
        length2 = float(d @ d) or 1e-9
        rel = anchors(dets) - np.array([x1, y1])
        cross = (d[0] * rel[:, 1] - d[1] * rel[:, 0]) / np.sqrt(length2)  # signed distance, > 0 = right
        along = (rel @ d) / length2
        for tid, dist, t in zip(dets.track_id.tolist(), cross.tolist(), along.tolist(), strict=False):
            if tid < 0 or abs(dist) <= _DEADBAND_PX:
                continue
            side = 1.0 if dist > 0 else -1.0
            before = self._side.get(tid)
            self._side[tid] = side
            if before is None or before == side or not 0.0 <= t <= 1.0:
                continue
            if side > 0:
                self.crossed_in += 1
            else:
                self.crossed_out += 1

    def forget(self, track_ids: list[int]) -> None:
        """Drop the side memory of ended tracks."""
        for tid in track_ids:
            self._side.pop(tid, None)

    def counts(self) -> dict[str, int]:
        return {"in": self.crossed_in, "out": self.crossed_out}


@dataclass
class ZoneCounter:
    """Occupancy of one polygon: detections whose bottom-centre lies inside, per frame."""

    name: str
    polygon: tuple[tuple[float, float], ...]
    occupancy: int = 0

    @classmethod
    def from_spec(cls, text: str, default_name: str = "zone1") -> ZoneCounter:
        name, pts = parse_points(text, kind="zone", default_name=default_name)
        return cls(name, pts)

    def update(self, dets: Detections) -> None:
        self.occupancy = (
            int(np.count_nonzero(points_in_polygon(anchors(dets), self.polygon))) if len(dets) else 0
        )


def points_in_polygon(points: np.ndarray, polygon: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Even-odd rule: a boolean per point (N, 2) for a polygon given by its vertices in order."""
    poly = np.asarray(polygon, np.float64)
    x, y = points[:, 0][:, None], points[:, 1][:, None]
    x1, y1 = poly[:, 0][None, :], poly[:, 1][None, :]
    x2, y2 = np.roll(poly[:, 0], -1)[None, :], np.roll(poly[:, 1], -1)[None, :]
    straddles = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    hits = straddles & (x < x_cross)
    return (np.count_nonzero(hits, axis=1) % 2) == 1
