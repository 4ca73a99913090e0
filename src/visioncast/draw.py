"""Annotate images with results: boxes, labels and scores readable at any size, CJK labels included; pose
skeletons and face landmarks.

No I/O except loading the bundled font once. Boxes are drawn with OpenCV; text is rendered with Pillow and the
bundled WenQuanYi Micro Hei font (Apache-2.0, covers Latin and CJK): OpenCV's Hershey fonts are ASCII only.
"""

from __future__ import annotations

import functools
from importlib import resources

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from visioncast.core.types import COCO_SKELETON, Result

FONT_FILE = "wqy-microhei.ttc"
KEYPOINT_MIN_SCORE = 0.3  # keypoints and bones below this score are not drawn
# BGR: the subject's left side orange, right side blue, the middle (nose, face landmarks' nose) green.
LEFT, RIGHT, MIDDLE = (0, 140, 255), (255, 120, 0), (80, 220, 80)


def palette(class_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per class id (golden-ratio hue walk)."""
    hue = int((class_id * 0.618033988749895 % 1.0) * 179)
    hsv = np.array([[[hue, 200, 255]]], dtype=np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


@functools.lru_cache(maxsize=16)
def font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The bundled CJK-capable font at ``size_px``."""
    path = resources.files("visioncast") / "assets" / FONT_FILE
    with resources.as_file(path) as real:
        return ImageFont.truetype(str(real), size_px)


@functools.lru_cache(maxsize=2048)
def _text_patch(text: str, size_px: int) -> np.ndarray:
    """White text on transparent, as an alpha mask (H×W uint8), cached because labels repeat every frame."""
    f = font(size_px)
    left, top, right, bottom = f.getbbox(text)
    w, h = max(1, int(right - left)), max(1, int(bottom - top))
    img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(img).text((-left, -top), text, fill=255, font=f)
    return np.asarray(img)


def scale_for(width: int, height: int) -> tuple[int, int]:
    """(line thickness px, font size px) that stay readable from thumbnails to 4K."""
    side = max(min(width, height), 1)
    return max(1, round(side / 300)), max(12, round(side / 40))


def put_label(  # noqa: PLR0917 - (image, text, x, y, colour, size) reads naturally; callers pass them in order
    image: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int], size_px: int
) -> None:
    """Draw ``text`` on a filled ``color`` tag, bottom-left at (x, y), kept inside the image. In place."""
    mask = _text_patch(text, size_px)
    pad = max(2, size_px // 5)
    h, w = mask.shape[0] + 2 * pad, mask.shape[1] + 2 * pad
    ih, iw = image.shape[:2]
    x = int(min(max(x, 0), max(iw - w, 0)))
    y0 = int(min(max(y - h if y - h >= 0 else y, 0), max(ih - h, 0)))
    tag = image[y0 : y0 + h, x : x + w]
    tag[:] = color
    # On an image smaller than the tag the text is cut (never a negative slice: it would count from the end).
    m = mask[: max(tag.shape[0] - pad, 0), : max(tag.shape[1] - pad, 0)]
    ink = (0, 0, 0) if sum(color) > 380 else (255, 255, 255)
    region = tag[pad : pad + m.shape[0], pad : pad + m.shape[1]]
    alpha = (m.astype(np.float32) / 255)[..., None]
    region[:] = (region * (1 - alpha) + np.array(ink, np.float32) * alpha).astype(np.uint8)


def draw_result(image: np.ndarray, result: Result, *, labels: bool = True, scores: bool = True) -> np.ndarray:
    """A copy of ``image`` (BGR) with the result drawn: boxes + tags for detections, else a top-k panel."""
    out = image.copy()
    h, w = out.shape[:2]
    thick, size = scale_for(w, h)
    if result.detections is not None:
        dets = result.detections
        for i in range(len(dets)):
            x1, y1, x2, y2 = (round(float(v)) for v in dets.xyxy[i])
            color = palette(int(dets.class_id[i]))
            cv2.rectangle(out, (x1, y1), (x2, y2), color, thick, cv2.LINE_AA)
            if labels or scores:
                tid = "" if dets.track_id is None or dets.track_id[i] < 0 else f"#{dets.track_id[i]} "
                text = " ".join(p for p in (tid + dets.labels[i] if labels else tid.strip(),
                                            f"{dets.score[i]:.2f}" if scores else "") if p)
                put_label(out, text, x1, y1, color, size)
        if dets.keypoints is not None:
            draw_keypoints(out, dets.keypoints, thick)
    if result.classification is not None:
        cls = result.classification
        line = size + 2 * max(2, size // 5)
        for rank in range(len(cls.labels)):
            if rank and (rank + 1) * line > h:  # the best class always shows; the rest only when they fit
                break
            text = f"{cls.labels[rank]} {cls.score[rank]:.1%}" if scores else cls.labels[rank]
            put_label(out, text, 0, (rank + 1) * line, palette(int(cls.class_id[rank])), size)
    return out


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
