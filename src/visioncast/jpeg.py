"""JPEG out: the one encoder of every JPEG visioncast makes (API answers, saved results, previews, MJPEG
views, teach samples). Pure apart from OpenCV: no I/O.
"""

from __future__ import annotations

import cv2
import numpy as np

from visioncast.errors import VisioncastError


def encode_jpeg(image: np.ndarray, quality: int, *, max_width: int | None = None,
                max_side: int | None = None) -> bytes:
    """``image`` (BGR uint8) as JPEG bytes at ``quality`` (1–100), first shrunk (never enlarged, INTER_AREA)
    so its width is at most ``max_width`` and its longer side at most ``max_side`` when those are given."""
    h, w = image.shape[:2]
    scale = min(1.0, max_width / w if max_width else 1.0, max_side / max(h, w) if max_side else 1.0)
    if scale < 1:
        size = (max_width if max_width and max_width / w == scale else max(1, round(w * scale)),
                max(1, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise VisioncastError(f"cannot encode the {w}×{h} image as JPEG")
    return buf.tobytes()
