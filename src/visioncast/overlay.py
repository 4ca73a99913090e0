"""Annotate pipeline frames with analytics: counting lines with their in/out counts, zones with their
occupancy, and a counts panel. No I/O; drawing with OpenCV and the bundled font (via :mod:`visioncast.draw`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from visioncast.analytics.region import LineCounter, ZoneCounter
from visioncast.draw import put_label, scale_for

LINE_BGR = (0, 220, 255)
ZONE_BGR = (255, 160, 0)
PANEL_BGR = (40, 40, 40)


def draw_overlay(
    image: np.ndarray, stats: Mapping[str, Any], lines: Sequence[LineCounter], zones: Sequence[ZoneCounter]
) -> np.ndarray:
    """Draw on ``image`` in place (it is already a copy): lines, zones, then the counts panel; returns it."""
    thick, size = scale_for(image.shape[1], image.shape[0])
    for zone in zones:
        pts = np.round(np.array(zone.polygon)).astype(np.int32)
        cv2.polylines(image, [pts], True, ZONE_BGR, thick + 1, cv2.LINE_AA)
        put_label(
            image,
            f"{zone.name}: {zone.occupancy}",
            int(pts[:, 0].min()),
            int(pts[:, 1].min()),
            ZONE_BGR,
            size,
        )
    for line in lines:
        p1 = tuple(round(v) for v in line.start)
        p2 = tuple(round(v) for v in line.end)
        cv2.line(image, p1, p2, LINE_BGR, thick + 1, cv2.LINE_AA)
        put_label(
            image, f"{line.name} in {line.crossed_in} out {line.crossed_out}", p1[0], p1[1], LINE_BGR, size
        )
    counts, totals = stats.get("counts", {}), stats.get("totals", {})
    rows = [
        f"{label} {counts.get(label, 0)} / total {totals.get(label, 0)}"
        for label in sorted(set(counts) | set(totals))
    ]
    step = size + 2 * max(2, size // 5)
    for i, text in enumerate(rows[:8]):
        put_label(image, text, 0, image.shape[0] - (len(rows[:8]) - 1 - i) * step, PANEL_BGR, size)
    return image
