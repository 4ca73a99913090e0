"""Results you can play with, in Chromium at 1366×768 and 390×844: the confidence slider and the class chips
filter the shown detections live (no new request); tags never cover each other; the result is brought into
view; drop, paste and sample images start the work; a classification below the bar says it is not sure."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import SIZES, open_sized_page

DROP = """async ([selector, url, name]) => {
  const blob = await (await fetch(url)).blob();
  const transfer = new DataTransfer();
  transfer.items.add(new File([blob], name, {type: blob.type}));
  const drop = new DragEvent("drop", {dataTransfer: transfer, bubbles: true});
  document.querySelector(selector).dispatchEvent(drop);
}"""
PASTE = """async ([url, name]) => {
  const blob = await (await fetch(url)).blob();
  const transfer = new DataTransfer();
  transfer.items.add(new File([blob], name, {type: blob.type}));
  document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true}));
}"""


@pytest.fixture(params=sorted(SIZES))
def sized_page(request: Any, browser: Any) -> Iterator[Any]:
    yield from open_sized_page(browser, request.param)


def detect_with(page: Any, action: Callable[[], None]) -> dict[str, Any]:
    with page.expect_response("**/api/v1/detect**") as answer:
        action()
    page.wait_for_selector("body[data-state=done]")
    return json.loads(answer.value.text())


def in_view(page: Any, selector: str) -> bool:
    """True once the element is (partly) on screen; the page scrolls smoothly, so this waits up to 5 s."""
    page.wait_for_function("""(s) => { const r = document.querySelector(s).getBoundingClientRect();
      return r.top < window.innerHeight && r.bottom > 0; }""", arg=selector, timeout=5000)
    return True


def test_slider_and_chips_filter_the_result_live(sized_page: Any, live_server: Any, data_dir: Path,
                                                 api_log: Callable[[Any], list[Any]],
                                                 screenshot: Callable[[Any, str], Path]) -> None:
    page = sized_page
    page.goto(f"{live_server.url}/detect")
    page.set_input_files("#file", str(data_dir / "bus.jpg"))
    answer = detect_with(page, lambda: page.click("#submit"))
    assert in_view(page, "#canvas"), "the result is brought into view"
    requests = api_log(page)
    boxes = lambda: int(page.get_attribute("#canvas", "data-boxes"))  # noqa: E731
    above = lambda conf: sum(d["score"] >= conf for d in answer["detections"])  # noqa: E731
    assert boxes() == above(0.25)
    page.eval_on_selector("#conf", "(r) => { r.value = '0.8'; r.dispatchEvent(new Event('input')); }")
    assert boxes() == above(0.8) < above(0.25)
    assert page.locator("#table tbody tr").count() == above(0.8)
    page.eval_on_selector("#conf", "(r) => { r.value = '0.05'; r.dispatchEvent(new Event('input')); }")
    assert boxes() == len(answer["detections"])
    assert requests == [], "moving the slider filters on the page, with no new request"
    people = sum(d["label"] == "person" for d in answer["detections"])
    chip = page.locator("#legend .chip[data-label='person']")
    assert chip.get_attribute("aria-pressed") == "true"
    chip.click()
    assert page.locator("#legend .chip[data-label='person']").get_attribute("aria-pressed") == "false"
    assert boxes() == len(answer["detections"]) - people
    assert "person" not in page.text_content("#summary")
    page.locator("#legend .chip[data-label='person']").click()
    assert boxes() == len(answer["detections"])
    # a class switched off or on is shown at once; the photo is sent again, with what the page shows, so the
    # boards hear the same list (issue 21: what a channel pushes is what its user sees)
    assert all(method == "POST" and "shown_conf=" in url for method, url in requests), requests
    rects = json.loads(page.get_attribute("#canvas", "data-tag-rects"))
    hidden = int(page.get_attribute("#canvas", "data-tags-hidden"))
    assert len(rects) + hidden == boxes()
    for i, (x, y, w, h) in enumerate(rects):
        for x2, y2, w2, h2 in rects[i + 1:]:
            assert x + w <= x2 + 1 or x2 + w2 <= x + 1 or y + h <= y2 + 1 or y2 + h2 <= y + 1, "tags overlap"
    screenshot(page, f"detect-filtered-{page.size_name}")


def test_a_sample_a_drop_and_a_paste_each_start_a_detection(sized_page: Any, live_server: Any) -> None:
    page = sized_page
    page.goto(f"{live_server.url}/detect")
    answer = detect_with(page, lambda: page.click("#samples a[data-name='messi5.jpg']"))
    assert any(d["label"] == "person" for d in answer["detections"])
    assert "messi5.jpg" in page.text_content("#file-info")
    url = f"{live_server.url}/samples/messi5.jpg"
    answer = detect_with(page, lambda: page.evaluate(DROP, ["#detect-form", url, "dropped.jpg"]))
    assert "dropped.jpg" in page.text_content("#file-info")
    answer = detect_with(page, lambda: page.evaluate(PASTE, [url, "pasted.jpg"]))
    assert "pasted.jpg" in page.text_content("#file-info")
    assert int(page.get_attribute("#canvas", "data-boxes")) >= 1


def test_classify_says_when_it_is_not_sure(sized_page: Any, live_server: Any, data_dir: Path,
                                           screenshot: Callable[[Any, str], Path]) -> None:
    page = sized_page
    page.goto(f"{live_server.url}/classify")
    with page.expect_response("**/api/v1/classify**") as answer:
        page.click("#samples a[data-name='cifar10-cat.png']")
    page.wait_for_selector("body[data-state=done]")
    assert json.loads(answer.value.text())["predictions"][0]["label"] == "cat"
    assert page.is_hidden("#unsure")
    assert page.get_attribute("#answer", "data-sure") == "true"
    assert in_view(page, "#top-class")
    page.set_input_files("#file", str(data_dir / "zidane.jpg"))  # two men: no CIFAR-10 class fits
    with page.expect_response("**/api/v1/classify**") as answer:
        page.click("#submit")
    page.wait_for_selector("body[data-state=done]")
    best = json.loads(answer.value.text())["predictions"][0]
    assert best["score"] < 0.9
    assert page.is_visible("#unsure")
    assert page.text_content("#unsure").startswith(f"Not sure: it may be {best['label']}")
    screenshot(page, f"classify-unsure-{page.size_name}")
