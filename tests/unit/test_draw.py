"""Drawing: boxes and tags fit any image size, and CJK labels render as real glyphs (not tofu boxes)."""

from __future__ import annotations

import numpy as np
import pytest

from visioncast.core.types import Classification, Detections, Result
from visioncast.draw import draw_result, scale_for


def detect_result(width: int, height: int, boxes: list[list[float]], labels: list[str]) -> Result:
    n = len(boxes)
    dets = Detections(np.array(boxes, np.float32), list(range(n)), [0.9] * n, labels)
    return Result("detect", "m", width, height, dets)


@pytest.mark.parametrize(("width", "height"), [(40, 30), (4000, 3000), (2, 2), (30, 900)])
def test_boxes_and_tags_fit_any_image_size(width, height):
    image = np.full((height, width, 3), 40, np.uint8)
    boxes = [[0, 0, width, height], [width / 2, height / 2, width, height], [0, 0, width / 4, height / 4]]
    out = draw_result(image, detect_result(width, height, boxes, ["person", "bus", "开心"]))
    assert out.shape == image.shape
    assert out.dtype == np.uint8
    assert (out != image).any()
    assert (image == 40).all()  # the input is not drawn on


def test_line_and_font_scale_with_the_image():
    assert scale_for(40, 30) == (1, 12)
    thick, size = scale_for(4000, 3000)
    assert thick == 10
    assert size == 75


@pytest.mark.parametrize(("width", "height"), [(32, 32), (8, 8), (640, 480)])
def test_classification_panel_fits_any_image(width, height):
    """CIFAR-10 images are 32×32: the panel of five labels is taller than the image."""
    image = np.zeros((height, width, 3), np.uint8)
    cls = Classification([3, 5, 1, 0, 2], [0.6, 0.2, 0.1, 0.06, 0.04], ["cat", "狗", "automobile", "a", "b"])
    out = draw_result(image, Result("classify", "m", width, height, classification=cls))
    assert out.shape == image.shape
    assert (out[:16] != 0).any()


def render(label: str) -> np.ndarray:
    image = np.full((120, 200, 3), 100, np.uint8)
    return draw_result(image, detect_result(200, 120, [[10, 60, 150, 110]], [label]), scores=False)


def test_cjk_labels_render_as_distinct_glyphs():
    """With a font lacking CJK, both labels would be the same two tofu boxes; the check itself is shown to
    notice that: two different code points missing from every font render identically."""
    happy, angry = render("开心"), render("愤怒")
    tofu_a, tofu_b = render("\U0010fffd\U0010fffd"), render("\U000f0001\U000f0001")
    np.testing.assert_array_equal(tofu_a, tofu_b)
    assert (happy != angry).any()
    assert (happy != tofu_a).any()
    tag = happy[:60, :]  # the tag sits above the box's top edge (y = 60)
    ink = tag.min(axis=2) >= 200  # white text on class 0's red tag, over a grey image
    assert ink.sum() > 20  # two 12 px glyphs
