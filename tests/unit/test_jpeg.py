"""visioncast.jpeg: the one JPEG encoder (shrinking by width or longer side, quality, never enlarging)."""

from __future__ import annotations

import cv2
import numpy as np

from visioncast.jpeg import encode_jpeg


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_a_small_image_keeps_its_size_and_colour():
    image = np.full((30, 40, 3), (10, 200, 90), np.uint8)
    out = decoded(encode_jpeg(image, 95, max_width=100, max_side=100))
    assert out.shape == (30, 40, 3)
    assert np.abs(out.astype(int) - image).max() <= 6


def test_max_width_shrinks_to_that_width_keeping_the_aspect():
    assert decoded(encode_jpeg(np.zeros((600, 1920, 3), np.uint8), 80, max_width=960)).shape[:2] == (300, 960)


def test_max_side_shrinks_the_longer_side():
    assert decoded(encode_jpeg(np.zeros((1000, 500, 3), np.uint8), 90, max_side=200)).shape[:2] == (200, 100)


def test_quality_changes_the_size():
    noise = np.random.default_rng(0).integers(0, 256, (120, 160, 3), np.uint8)
    assert len(encode_jpeg(noise, 30)) < len(encode_jpeg(noise, 95))
