"""Pipeline frames: the analytics drawn over a Result — counting lines with their in/out counts, zones with
their occupancy, and the counts panel — through the one renderer (:mod:`visioncast.draw`), so their tags and
the detections' never cover each other. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from visioncast import lang as words
from visioncast.analytics.region import LineCounter, ZoneCounter
from visioncast.core.types import Result
from visioncast.draw import Tag, annotate, scale_for, tag_height

LINE_BGR = (0, 220, 255)
ZONE_BGR = (255, 160, 0)
PANEL_BGR = (40, 40, 40)
PANEL_ROWS = 8
OVERLAY_RANK = 100.0  # placed before any detection's tag


def draw_frame(
    image: np.ndarray, result: Result, stats: Mapping[str, Any] | None = None,
    lines: Sequence[LineCounter] = (), zones: Sequence[ZoneCounter] = (), *, lang: str = "en",
) -> np.ndarray:
    """A copy of ``image`` with ``result``, the ``lines`` and ``zones`` and the counts of ``stats`` drawn,
    text in ``lang``."""
    out = image.copy()
    thick, size = scale_for(out.shape[1], out.shape[0])
    tags: list[Tag] = []
    for zone in zones:
        pts = np.round(np.array(zone.polygon)).astype(np.int32)
        cv2.polylines(out, [pts], True, ZONE_BGR, thick + 1, cv2.LINE_AA)
        text = words.translate(lang, "frame.zone", {"name": zone.name, "n": zone.occupancy})
        left, top, bottom = int(pts[:, 0].min()), int(pts[:, 1].min()), int(pts[:, 1].max())
        step = tag_height(size)
        spots: tuple[tuple[int, int], ...] = ((left, top - step), (left, top), (left, bottom - step),
                                              (left, bottom))
        tags.append(Tag(text, ZONE_BGR, spots, OVERLAY_RANK))
    for line in lines:
        ends = [(round(x), round(y)) for x, y in (line.start, line.end)]
        cv2.line(out, ends[0], ends[1], LINE_BGR, thick + 1, cv2.LINE_AA)
        text = words.translate(lang, "frame.line", {"name": line.name, "in": line.crossed_in,
                                                    "out": line.crossed_out})
        # either end, above the line first
        spots = tuple((x, y + dy) for x, y in ends for dy in (-tag_height(size), 0))
        tags.append(Tag(text, LINE_BGR, spots, OVERLAY_RANK))
    tags += panel_tags(stats or {}, out.shape[0], size, lang)
    return annotate(out, result, lang=lang, tags=tags)


def panel_tags(stats: Mapping[str, Any], height: int, size_px: int, lang: str) -> list[Tag]:
    """The counts panel, bottom left: one row per class, "person 2 / total 5" ("人 2 / 共 5")."""
    counts, totals = stats.get("counts", {}), stats.get("totals", {})
    labels = sorted(set(counts) | set(totals))[:PANEL_ROWS]
    step = tag_height(size_px)
    rows = [words.translate(lang, "frame.count", {"label": words.label_name(lang, label),
                                                  "n": counts.get(label, 0), "total": totals.get(label, 0)})
            for label in labels]
    return [Tag(text, PANEL_BGR, ((0, height - (len(rows) - i) * step),), OVERLAY_RANK * 2 - i)
            for i, text in enumerate(rows)]
