"""The one renderer of server-drawn frames: boxes and tags fit any image size, CJK labels render as real
glyphs (not tofu boxes), tags never cover each other, labels, counts, lines and zones speak the viewer's
language, glyphs are rendered once."""

from __future__ import annotations

import numpy as np
import pytest

from visioncast.analytics.region import LineCounter, ZoneCounter
from visioncast.core.types import Classification, Detections, Result
from visioncast.draw import draw_result, draw_tags, palette, result_tags, scale_for, tag_image
from visioncast.overlay import LINE_BGR, PANEL_BGR, ZONE_BGR, draw_frame
from visioncast.text import glyph, text_mask


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
    assert scale_for(40, 30) == (1, 14)
    thick, size = scale_for(4000, 3000)
    assert thick == 10
    assert size == 94


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


def crowd(count: int, width: int = 640, height: int = 480) -> Result:
    """``count`` people whose boxes nearly coincide: every tag wants the same few spots."""
    boxes = [[100 + 3 * i, 120 + 2 * i, 300 + 3 * i, 400 + 2 * i] for i in range(count)]
    dets = Detections(np.array(boxes, np.float32), [0] * count, [0.9 - 0.01 * i for i in range(count)],
                      ["person"] * count, track_id=np.arange(count))
    return Result("detect", "m", width, height, dets)


def test_tags_never_cover_each_other_and_the_best_are_kept():
    result = crowd(12)
    _, size = scale_for(640, 480)
    tags = result_tags(result, size, lang="zh")
    image = np.zeros((480, 640, 3), np.uint8)
    placed, hidden = draw_tags(image, tags, size)
    assert len(placed) + hidden == 12
    assert hidden > 0  # twelve tags cannot all sit by twelve nearly equal boxes
    for i, (x, y, w, h) in enumerate(placed):
        assert min(x, y) >= 0
        assert x + w <= 640
        assert y + h <= 480
        for (x2, y2, w2, h2) in placed[i + 1:]:
            assert not (x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h), "two tags overlap"
    first = tag_image("#0 人 0.90", palette(0), size)  # the best score gets the first spot: above its box
    x, y, w, h = placed[0]
    np.testing.assert_array_equal(image[y : y + h, x : x + w], first[:h, :w])


@pytest.mark.parametrize(("lang", "text"), [("zh", "#0 人 0.90"), ("en", "#0 person 0.90")])
def test_labels_speak_the_viewers_language(lang, text):
    out = draw_result(np.zeros((480, 640, 3), np.uint8), crowd(1), lang=lang)
    _, size = scale_for(640, 480)
    patch = tag_image(text, palette(0), size)
    y = 120 - patch.shape[0]  # above the box at (100, 120)
    np.testing.assert_array_equal(out[y:120, 100 : 100 + patch.shape[1]], patch)


def test_the_counts_panel_lines_and_zones_are_tags_like_the_rest():
    image = np.zeros((480, 640, 3), np.uint8)
    line = LineCounter("门口", (0.0, 450.0), (640.0, 450.0), crossed_in=3, crossed_out=5)
    zone = ZoneCounter("操场", ((400.0, 50.0), (600.0, 50.0), (600.0, 200.0), (400.0, 200.0)), occupancy=2)
    stats = {"counts": {"person": 2, "car": 1}, "totals": {"person": 5, "car": 2}}
    out = draw_frame(image, crowd(3), stats, [line], [zone], lang="zh")
    _, size = scale_for(640, 480)
    rows = [tag_image(text, PANEL_BGR, size) for text in ("汽车 1 / 共 2", "人 2 / 共 5")]
    h = rows[0].shape[0]
    np.testing.assert_array_equal(out[480 - 2 * h : 480 - h, : rows[0].shape[1]], rows[0])
    np.testing.assert_array_equal(out[480 - h :, : rows[1].shape[1]], rows[1])
    zone_tag = tag_image("操场：2", ZONE_BGR, size)
    np.testing.assert_array_equal(out[50 - h : 50, 400 : 400 + zone_tag.shape[1]], zone_tag)
    line_tag = tag_image("门口 进 3 出 5", LINE_BGR, size)  # its left end is under the panel: the right end
    found = [(x, y) for x in range(0, 640 - line_tag.shape[1] + 1) for y in (450 - h, 450)
             if np.array_equal(out[y : y + h, x : x + line_tag.shape[1]], line_tag)]
    assert found, "the line's tag is drawn at one of its ends"
    assert (image == 0).all()


def test_glyphs_are_rendered_once_and_every_character_has_one():
    glyph.cache_clear()
    for _ in range(3):
        text_mask("猫咪 咧嘴笑 0.93", 20)
    info = glyph.cache_info()
    assert info.misses == len(set("猫咪 咧嘴笑 0.93"))
    masks = {c: glyph(c, 20)[0] for c in "咪咧喵嗨噘"}
    tofu = glyph("\U0010fffd", 20)[0]
    assert all(mask.any() for mask in masks.values())
    assert len({mask.tobytes() for mask in masks.values()} | {tofu.tobytes()}) == 6
