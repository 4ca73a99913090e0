"""The one renderer of the frames the server draws: masks, boxes, tags, pose skeletons and face landmarks, in
the viewer's language, with the shipped font, in the pages' colours. No I/O but the font
(:mod:`visioncast.text`).

Every server-drawn picture goes through here: ``render=`` images of the API, ``-o`` images of the CLI, the
pipeline's frames (``run -o``, MJPEG dashboards: :mod:`visioncast.overlay` adds lines, zones and counts), a
video job's AVI / WebM and its live preview frames. The rules are the pages' (static/draw.js): one palette
(:func:`palette`, served to the pages), the tag text black or white by the colour's luminance, and tags that
never cover each other: each tag tries above its box, inside its top, inside its bottom, then below; the
first spot that covers no tag placed before wins, and a tag with no free spot is left out (counted). Tags are
placed in order of importance (counts and lines first, then detections by score) and drawn last, over the
boxes. Sizes follow the frame: the text is 1/32 of its shorter side (at least 14 px).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from visioncast import lang as words
from visioncast.core.types import COCO_SKELETON, Result
from visioncast.text import line_box, measure, text_mask

KEYPOINT_MIN_SCORE = 0.3  # keypoints and bones below this score are not drawn
# BGR: the subject's left side orange, right side blue, the middle (nose, face landmarks' nose) green.
LEFT, RIGHT, MIDDLE = (0, 140, 255), (255, 120, 0), (80, 220, 80)
MIN_TEXT_PX = 14
MAX_TAG_WIDTH = 0.6  # of the frame's width; longer text is cut with "…"


def palette(class_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per class id (golden-ratio hue walk)."""
    hue = int((class_id * 0.618033988749895 % 1.0) * 179)
    hsv = np.array([[[hue, 200, 255]]], dtype=np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def ink_on(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white text on a BGR ``color``, by its luminance (as draw.js does)."""
    b, g, r = (c / 255 for c in color)
    return (0, 0, 0) if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else (255, 255, 255)


def scale_for(width: int, height: int) -> tuple[int, int]:
    """(line thickness px, text size px) for a ``width``×``height`` frame: readable from thumbnails to 4K."""
    side = max(min(width, height), 1)
    return max(1, round(side / 300)), max(MIN_TEXT_PX, round(side / 32))


@dataclass(frozen=True)
class Tag:
    """A label to place: its text and colour, the top-left corners it may take in order of preference
    (``spots``: (x, y); x is moved left as far as the tag needs to stay inside the frame); ``rank``: tags of
    higher rank are placed first."""

    text: str
    color: tuple[int, int, int]
    spots: tuple[tuple[int, int], ...]
    rank: float


def box_tag(text: str, color: tuple[int, int, int], xyxy: Sequence[float], size_px: int, rank: float) -> Tag:
    """A tag naming the box ``xyxy``: above it, inside its top, inside its bottom, below it."""
    x1, y1, _, y2 = (round(float(v)) for v in xyxy)
    height = tag_height(size_px)
    return Tag(text, color, tuple((x1, y) for y in (y1 - height, y1, y2 - height, y2)), rank)


def tag_height(size_px: int) -> int:
    return line_box(size_px)[0] + 2 * _pad(size_px)


def _pad(size_px: int) -> int:
    return max(2, size_px // 7)


def _fit(text: str, size_px: int, max_width: int) -> str:
    if measure(text, size_px) <= max_width:
        return text
    while len(text) > 1 and measure(f"{text}…", size_px) > max_width:
        text = text[:-1]
    return f"{text}…"


Rect = tuple[int, int, int, int]  # x, y, width, height


def draw_tags(image: np.ndarray, tags: Iterable[Tag], size_px: int) -> tuple[list[Rect], int]:
    """Place and draw ``tags`` on ``image`` (in place) so that none covers another: (the rectangles drawn,
    x y w h; how many tags found no room)."""
    ih, iw = image.shape[:2]
    pad, height = _pad(size_px), min(tag_height(size_px), ih)  # a frame smaller than a tag shows part
    placed: list[Rect] = []
    hidden = 0
    for tag in sorted(tags, key=lambda t: -t.rank):
        text = _fit(tag.text, size_px, max(size_px, int(iw * MAX_TAG_WIDTH) - 2 * pad))
        patch = tag_image(text, tag.color, size_px)
        width = min(patch.shape[1], iw)
        spot = next(((x, y) for x, y in ((min(max(x, 0), max(iw - width, 0)), y) for x, y in tag.spots)
                     if 0 <= y <= ih - height
                     and not any(x < px + pw and px < x + width and y < py + ph and py < y + height
                                 for px, py, pw, ph in placed)), None)
        if spot is None:
            hidden += 1
            continue
        x, y = spot
        placed.append((x, y, width, height))
        image[y : y + height, x : x + width] = patch[:height, :width]
    return placed, hidden


@functools.lru_cache(maxsize=512)  # a 1080p tag is ~30 KB: at most ~15 MB kept
def tag_image(text: str, color: tuple[int, int, int], size_px: int) -> np.ndarray:
    """A tag as BGR pixels: ``text`` on ``color``, padded; kept, since the same tags come back every frame."""
    mask = text_mask(text, size_px)
    pad = _pad(size_px)
    patch = np.empty((tag_height(size_px), mask.shape[1] + 2 * pad, 3), np.uint8)
    patch[:] = color
    target = patch[pad : pad + mask.shape[0], pad : pad + mask.shape[1]]
    alpha = mask[..., None].astype(np.uint16)
    ink = np.array(ink_on(color), np.uint16)
    target[:] = ((target * (255 - alpha) + ink * alpha + 127) // 255).astype(np.uint8)
    patch.flags.writeable = False
    return patch


def result_tags(result: Result, size_px: int, *, lang: str = "en", labels: bool = True,
                scores: bool = True, frame_height: int = 0) -> list[Tag]:
    """The tags of a Result: one per detection (track id, class name in ``lang``, score), or the top-k
    classes of a classification stacked at the top left."""
    tags = []
    if result.detections is not None and (labels or scores):
        dets = result.detections
        for i in range(len(dets)):
            parts = []
            if dets.track_id is not None and dets.track_id[i] >= 0:
                parts.append(f"#{dets.track_id[i]}")
            if labels:
                parts.append(words.label_name(lang, dets.labels[i]))
            if scores:
                parts.append(f"{dets.score[i]:.2f}")
            tags.append(box_tag(" ".join(parts), palette(int(dets.class_id[i])), dets.xyxy[i], size_px,
                                float(dets.score[i])))
    if result.classification is not None:
        cls, step = result.classification, tag_height(size_px)
        for rank in range(len(cls.labels)):
            name = words.label_name(lang, cls.labels[rank])
            text = f"{name} {cls.score[rank]:.1%}" if scores else name
            tags.append(Tag(text, palette(int(cls.class_id[rank])), ((0, rank * step),), 10.0 - rank))
    return tags


def annotate(image: np.ndarray, result: Result, *, lang: str = "en", tags: Iterable[Tag] = (),
             labels: bool = True, scores: bool = True) -> np.ndarray:
    """Draw ``result`` on ``image`` in place: boxes, keypoints, then its tags and ``tags`` (placed first when
    their rank is higher) so that none covers another. Returns ``image``."""
    h, w = image.shape[:2]
    thick, size = scale_for(w, h)
    dets = result.detections
    if dets is not None and dets.polygons is not None:
        draw_masks(image, dets.polygons, [palette(int(c)) for c in dets.class_id], thick)
    if dets is not None:
        for i in range(len(dets)):
            x1, y1, x2, y2 = (round(float(v)) for v in dets.xyxy[i])
            cv2.rectangle(image, (x1, y1), (x2, y2), palette(int(dets.class_id[i])), thick, cv2.LINE_AA)
        if dets.keypoints is not None:
            draw_keypoints(image, dets.keypoints, thick)
    draw_tags(image, [*tags, *result_tags(result, size, lang=lang, labels=labels, scores=scores)], size)
    return image


def draw_result(image: np.ndarray, result: Result, *, lang: str = "en", labels: bool = True,
                scores: bool = True) -> np.ndarray:
    """A copy of ``image`` (BGR) with ``result`` drawn (:func:`annotate`) in ``lang``."""
    return annotate(image.copy(), result, lang=lang, labels=labels, scores=scores)


MASK_ALPHA = 0.45  # how much of a mask's colour covers the frame (draw.js: the same)


def draw_masks(image: np.ndarray, polygons: Sequence[Sequence[np.ndarray]],
               colors: Sequence[tuple[int, int, int]], thick: int) -> None:
    """Each detection's mask outlines filled with its colour at ``MASK_ALPHA`` over ``image`` and outlined.
    In place; the blend touches only the rows the masks cover."""
    shapes = [[np.round(p).astype(np.int32) for p in parts] for parts in polygons]
    points = [p for parts in shapes for p in parts]
    if not points:
        return
    top = max(0, int(min(p[:, 1].min() for p in points)))
    bottom = min(image.shape[0], int(max(p[:, 1].max() for p in points)) + 1)
    band = image[top:bottom]
    layer = band.copy()
    for parts, color in zip(shapes, colors, strict=True):
        if parts:
            cv2.fillPoly(layer, [p - (0, top) for p in parts], color, cv2.LINE_AA)
    cv2.addWeighted(layer, MASK_ALPHA, band, 1 - MASK_ALPHA, 0, dst=band)
    for parts, color in zip(shapes, colors, strict=True):
        cv2.polylines(image, parts, True, color, max(1, thick), cv2.LINE_AA)


def _side_color(name_index: int, count: int) -> tuple[int, int, int]:
    """COCO keypoints: odd indices are left, even right, 0 the nose; face landmarks: right eye/mouth first."""
    if count == len(COCO_SKELETON) + 1:  # 17 COCO keypoints
        return MIDDLE if name_index == 0 else (LEFT if name_index % 2 else RIGHT)
    return {0: RIGHT, 1: LEFT, 3: RIGHT, 4: LEFT}.get(name_index, MIDDLE)


def draw_keypoints(image: np.ndarray, keypoints: np.ndarray, thick: int) -> None:
    """Skeleton bones (17 COCO keypoints) and dots (any count, e.g. 5 face landmarks) of (N, K, 3) keypoints
    (x, y, score) in pixels. In place."""
    radius = max(2, thick + 1)
    for person in keypoints:
        count = len(person)
        seen = person[:, 2] >= KEYPOINT_MIN_SCORE
        if count == len(COCO_SKELETON) + 1:
            for a, b in COCO_SKELETON:
                if seen[a] and seen[b]:
                    pa = (round(float(person[a, 0])), round(float(person[a, 1])))
                    pb = (round(float(person[b, 0])), round(float(person[b, 1])))
                    color = _side_color(b, count) if a % 2 == b % 2 else MIDDLE
                    cv2.line(image, pa, pb, color, max(1, thick), cv2.LINE_AA)
        for k in np.flatnonzero(seen):
            centre = (round(float(person[k, 0])), round(float(person[k, 1])))
            cv2.circle(image, centre, radius + 1, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(image, centre, radius, _side_color(int(k), count), -1, cv2.LINE_AA)
