"""Segmentation on the pages, in headless Chromium against a real server: the "Find" switch's segment mode
asks /api/v1/segment, fills the person's outline in the class colour over the photo and says how much of the
picture it covers, in English at desktop size and in Chinese on a phone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from tests.e2e.conftest import open_sized_page

from visioncast.draw import MASK_ALPHA, palette


def segment_on_detect_page(page: Any, url: str, image: Path) -> dict[str, Any]:
    page.goto(f"{url}/detect")
    page.wait_for_selector("body[data-task]", state="attached")  # the page's script has bound the switch
    page.check("input[name=task][value=segment]")
    page.wait_for_selector("body[data-task=segment]", state="attached")
    page.set_input_files("#file", str(image))
    with page.expect_response("**/api/v1/segment?**") as response:
        page.click("#submit")
    page.wait_for_selector("body[data-state=done]")
    return json.loads(response.value.text())


def deepest_point(answer: dict[str, Any]) -> tuple[int, int]:
    canvas = np.zeros((answer["height"], answer["width"]), np.uint8)
    cv2.fillPoly(canvas, [np.round(np.array(answer["detections"][0]["polygons"][0])).astype(np.int32)], 1)
    depth = cv2.distanceTransform(np.pad(canvas, 1), cv2.DIST_L2, 5)  # the frame's edge is an edge too
    y, x = np.unravel_index(int(depth.argmax()), depth.shape)
    return int(x) - 1, int(y) - 1


def canvas_rgb(page: Any, point: tuple[int, int]) -> np.ndarray:
    return np.array(page.eval_on_selector("#canvas", """(canvas, [x, y]) => {
      const scale = Number(canvas.dataset.scale), dpr = canvas.width / canvas.clientWidth;
      const at = [x, y].map((v) => Math.round(v * scale * dpr));
      return [...canvas.getContext("2d").getImageData(at[0], at[1], 1, 1).data].slice(0, 3);
    }""", list(point)), float)


def test_segment_mode_fills_the_person_and_tells_the_share(page, live_server, data_dir, screenshot):
    answer = segment_on_detect_page(page, live_server.url, data_dir / "zidane.jpg")
    assert answer["task"] == "segment"
    assert page.input_value("#conf") == "0.5"
    assert int(page.get_attribute("#canvas", "data-masks")) >= 1
    share = round(100 * answer["detections"][0]["area"] / (answer["width"] * answer["height"]))
    assert page.text_content("#summary") == f"Outlined (share of the picture): person {share}%."
    x, y = deepest_point(answer)
    original = cv2.imread(str(data_dir / "zidane.jpg"))[y, x][::-1].astype(float)
    colour = np.array(palette(1)[::-1], float)
    shown = canvas_rgb(page, (x, y))
    expected = (1 - MASK_ALPHA) * original + MASK_ALPHA * colour
    assert np.abs(shown - expected).max() < 30, (shown, expected, original)
    screenshot(page, "detect-segment")


@pytest.fixture
def zh_phone(browser: Any) -> Any:
    yield from open_sized_page(browser, "phone", locale="zh-CN")


def test_segment_mode_speaks_chinese_on_a_phone(zh_phone, live_server, data_dir, screenshot):
    answer = segment_on_detect_page(zh_phone, live_server.url, data_dir / "squat.jpg")
    assert zh_phone.text_content("label:has(input[value=segment])").strip() == "人像区域"
    assert "像素" in zh_phone.text_content("#task-hint")
    share = round(100 * answer["detections"][0]["area"] / (answer["width"] * answer["height"]))
    assert zh_phone.text_content("#summary") == f"已标出（占画面比例）：人 {share}%。"
    assert zh_phone.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(zh_phone, "detect-segment-zh-phone")
