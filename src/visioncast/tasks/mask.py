"""Masks → what a result carries: outlines as simplified polygons, pixel areas, bounding boxes; and an
Ultralytics segmentation export's instance masks decoded from prototypes and coefficients. No I/O (OpenCV
finds the contours and resizes).

A mask is a bool H×W array in original-image pixels. Its outlines are OpenCV's external contours (as
Ultralytics' ``masks2segments`` finds them), simplified with Douglas–Peucker to within ``SIMPLIFY`` of the
image's longer side, parts smaller than ``MIN_PART`` of the image dropped from the outline (not from the
area).
"""

from __future__ import annotations

import cv2
import numpy as np

from visioncast.core.boxes import Letterbox

SIMPLIFY = 0.002  # Douglas–Peucker tolerance, as a fraction of the image's longer side (≥ 1 px)
MIN_PART = 0.0005  # outline parts below this fraction of the image's area are left out


def mask_polygons(mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """The outlines of a bool mask: float32 (P, 2) arrays of (x, y) pixels, largest first."""
    h, w = mask.shape[:2]
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    tolerance = max(1.0, SIMPLIFY * max(h, w))
    min_area = MIN_PART * h * w
    parts = sorted((c for c in contours if cv2.contourArea(c) >= min_area), key=cv2.contourArea, reverse=True)
    out = []
    for contour in parts:
        simple = cv2.approxPolyDP(contour, tolerance, True).reshape(-1, 2)
        if len(simple) >= 3:
            out.append(simple.astype(np.float32))
    return tuple(out)


def mask_box(mask: np.ndarray) -> np.ndarray:
    """The xyxy float32 box around a mask's pixels (pixel edges: a one-pixel mask at (x, y) is x..x+1);
    zeros for an empty mask."""
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not len(xs):
        return np.zeros(4, np.float32)
    return np.array([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1], np.float32)


def instance_mask(protos: np.ndarray, coefs: np.ndarray, box_xyxy: np.ndarray,
                  letterbox: Letterbox) -> np.ndarray:
    """One object's mask from a segmentation export, decoded as Ultralytics' predict does (ultralytics 8.4
    ``process_mask(upsample=True)``), then mapped to the original image: bool H×W at the letterbox's source
    size.

    ``protos`` (M, mh, mw) prototypes, ``coefs`` (M,) the object's coefficients, ``box_xyxy`` its box in
    model-input pixels. The prototypes weighted by the coefficients give logits on the prototype grid; they
    are upsampled bilinearly (half-pixel centres, as ``F.interpolate(align_corners=False)``) to the model
    input; a pixel is in the mask when its logit is above 0 (sigmoid above 0.5) and its index lies within
    the box (x1 ≤ column < x2, y1 ≤ row < y2). The letterbox's padding is cut off and the rest resized to
    the original image (bilinear on 0/1, kept above 0.5), as Ultralytics' ``scale_masks``.
    """
    m, mh, mw = protos.shape
    logits = (coefs.astype(np.float32) @ protos.reshape(m, -1)).reshape(mh, mw)
    big = cv2.resize(logits, (letterbox.dst_w, letterbox.dst_h), interpolation=cv2.INTER_LINEAR) > 0
    x1, y1, x2, y2 = np.asarray(box_xyxy, np.float32)
    cols, rows = np.arange(letterbox.dst_w), np.arange(letterbox.dst_h)
    big &= ((rows >= y1) & (rows < y2))[:, None] & ((cols >= x1) & (cols < x2))[None, :]
    new_w, new_h = letterbox.resized_size
    left, top = round(letterbox.pad_x), round(letterbox.pad_y)
    placed = big[top : top + new_h, left : left + new_w]
    if (new_w, new_h) == (letterbox.src_w, letterbox.src_h):
        return placed
    return cv2.resize(placed.astype(np.float32), (letterbox.src_w, letterbox.src_h),
                      interpolation=cv2.INTER_LINEAR) > 0.5
