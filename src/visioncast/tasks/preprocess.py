"""Image → model-input tensors: letterbox, colour order, scaling, layout. No I/O (OpenCV only resizes)."""

from __future__ import annotations

import cv2
import numpy as np

from visioncast.core.boxes import Letterbox


def letterbox_image(
    image: np.ndarray, size_wh: tuple[int, int], *, center: bool, fill: int = 114
) -> tuple[np.ndarray, Letterbox]:
    """Resize ``image`` (bilinear, as YOLOX and Ultralytics do) keeping its aspect into a ``size_wh`` canvas
    filled with ``fill``; returns (canvas, geometry). The resize writes straight into the canvas (its rows
    are one block whenever the image fills the width) and only the padding strips are filled."""
    h, w = image.shape[:2]
    box = Letterbox.fit(w, h, size_wh[0], size_wh[1], center=center)
    new_w, new_h = box.resized_size
    # Centred padding rounds like Ultralytics: left/top get the floor of the half after a −0.1 nudge.
    left = round(box.pad_x - 0.1) if center else 0
    top = round(box.pad_y - 0.1) if center else 0
    canvas = np.empty((size_wh[1], size_wh[0], 3), dtype=np.uint8)
    canvas[:top] = fill
    canvas[top + new_h :] = fill
    canvas[top : top + new_h, :left] = fill
    canvas[top : top + new_h, left + new_w :] = fill
    inner = canvas[top : top + new_h, left : left + new_w]
    if (new_w, new_h) == (w, h):
        inner[...] = image
    elif inner.flags.c_contiguous:
        cv2.resize(image, (new_w, new_h), dst=inner, interpolation=cv2.INTER_LINEAR)
    else:
        inner[...] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    if center:
        box = Letterbox(box.src_w, box.src_h, box.dst_w, box.dst_h, box.scale, float(left), float(top))
    return canvas, box


def to_nchw(image: np.ndarray, *, rgb: bool, scale: float = 1.0, dtype: str = "float32") -> np.ndarray:
    """HWC BGR uint8 → 1×3×H×W tensor, optionally RGB and multiplied by ``scale``.

    The planes are split by OpenCV and each converted in one contiguous pass: 0.3 instead of 0.6 ms for a
    640×640 input (0.1 instead of 0.3 ms at 416), the same values as transposing and casting with numpy.
    """
    planes = cv2.split(image)
    if rgb:
        planes = planes[::-1]
    if dtype == "uint8":
        return np.stack(planes)[None]
    out = np.empty((1, len(planes), *image.shape[:2]), np.float32)
    for i, plane in enumerate(planes):
        out[0, i] = plane
    if scale != 1.0:
        out *= scale
    return out.astype(dtype, copy=False)
