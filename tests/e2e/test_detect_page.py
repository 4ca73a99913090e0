"""The detection page in a real Chromium against a real server: the browser shrinks the photo to a JPEG and
uploads it as base64 JSON; the answered boxes are drawn on a canvas at the displayed size; the button cannot
fire twice; the tag checkbox and size control redraw without a request; the server-rendered image in both
modes; a server error in plain words; desktop and phone."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest

CIFAR = "cifar10/cifar10_06_1.png"  # a 32×32 CIFAR-10 automobile
WAIT_S = 10

# For each detection: the canvas pixel on the middle of its left edge (of the 3 across the stroke, the one
# closest to the box colour) and the colour app.js gives its class.
EDGE_PIXELS = """async (canvas) => {
  const {colorFor} = await import("/static/app.js");
  const answer = JSON.parse(canvas.dataset.answer);
  const scale = Number(canvas.dataset.scale);
  const dpr = canvas.width / canvas.clientWidth;
  const ctx = canvas.getContext("2d");
  return answer.detections.map((det) => {
    const x = Math.round(det.box[0] * scale * dpr);
    const y = Math.round((det.box[1] + det.box[3]) / 2 * scale * dpr);
    const hex = colorFor(det.class_id);
    const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const row = ctx.getImageData(x - 1, y, 3, 1).data;  // the 2 px stroke straddles the edge
    const pixels = [0, 4, 8].map((i) => Array.from(row.slice(i, i + 3)));
    const off = (p) => Math.max(...p.map((v, i) => Math.abs(v - want[i])));
    return {want, got: pixels.reduce((a, b) => (off(a) <= off(b) ? a : b))};
  });
}"""


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def open_detect(page, live_server, data_dir, image: str = "bus.jpg"):
    page.goto(f"{live_server.url}/detect")
    page.set_input_files("#file", str(data_dir / image))


def open_settings(page) -> None:
    """The technical settings are folded away (a <details>): unfold them."""
    page.click("details.settings > summary")


def run(page, selector: str = "#submit") -> tuple[object, dict]:
    """Click ``selector``, wait for the answer to be shown; (the request, the API answer)."""
    with page.expect_response("**/api/v1/detect**") as answer:
        page.click(selector)
    page.wait_for_selector("body[data-state=done], body[data-state=error]")
    return answer.value.request, json.loads(answer.value.text())


def shown(answer: dict, conf: float = 0.25) -> list[dict]:
    """The detections the page shows at the slider's confidence (it asks the server for all above 0.05)."""
    return [d for d in answer["detections"] if d["score"] >= conf]


def keep_answer(page, answer: dict) -> None:
    """Give EDGE_PIXELS the detections the canvas was drawn with."""
    drawn = {**answer, "detections": shown(answer)}
    page.eval_on_selector("#canvas", "(c, a) => { c.dataset.answer = JSON.stringify(a); }", drawn)


@pytest.mark.parametrize(
    ("image", "max_side", "sent"), [("bus.jpg", 640, (480, 640)), (CIFAR, 1280, (32, 32))]
)
def test_the_browser_shrinks_uploads_and_draws_the_boxes(  # noqa: PLR0917 (pytest fixtures and parameters)
    page, live_server, data_dir, api_log, screenshot, image, max_side, sent
):
    page.goto(f"{live_server.url}/detect")
    url = page.url
    requests = api_log(page)
    assert page.is_disabled("#submit"), "the button must wait for a file"
    page.set_input_files("#file", str(data_dir / image))
    assert page.is_enabled("#submit")
    open_settings(page)
    page.fill("#max-side", str(max_side))
    request, answer = run(page)

    body = request.post_data_json
    assert body["image"].startswith("data:image/jpeg;base64,"), "the page uploads a canvas JPEG as JSON"
    assert query_of(request.url) == {"conf": ["0.05"], "shown_conf": ["0.25"]}, \
        "it asks for all it may show, and says what it shows (what is published)"
    assert (answer["width"], answer["height"]) == sent, "the server saw the shrunk image"
    assert page.url == url
    assert len(requests) == 1
    canvas = page.locator("#canvas")
    assert canvas.is_visible()
    assert page.locator("#server-image").is_hidden()
    count = len(shown(answer))
    assert canvas.get_attribute("data-boxes") == str(count)
    assert page.locator("#table tbody tr").count() == count
    assert "yolox-nano" in page.text_content("#meta")
    assert "inference" in page.text_content("#meta")
    if image == "bus.jpg":
        labels = [d["label"] for d in shown(answer)]
        assert labels.count("person") >= 3
        assert "bus" in labels
        assert page.text_content("#table tbody tr:first-child td:nth-child(2)") == labels[0]
        keep_answer(page, answer)
        for pixel in canvas.evaluate(EDGE_PIXELS):
            assert max(abs(a - b) for a, b in zip(pixel["want"], pixel["got"], strict=True)) < 60, pixel
    else:
        assert page.text_content("#summary").startswith("Found")
    screenshot(page, f"detect-desktop-{image.split('/')[-1].split('.')[0]}")


def test_the_button_cannot_fire_twice_while_a_request_is_in_flight(page, live_server, data_dir, api_log):
    held = []
    # Hold the real request until the checks are done (Playwright needs a Python function, not list.append).
    page.route("**/api/v1/detect**", lambda route: held.append(route))  # noqa: PLW0108
    open_detect(page, live_server, data_dir)
    requests = api_log(page)
    page.click("#submit")
    deadline = time.monotonic() + WAIT_S
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(20)
    assert held, "the upload never started"
    button = page.locator("#submit")
    assert button.is_disabled()
    assert button.get_attribute("aria-busy") == "true"
    assert button.text_content() == "Detecting…"
    button.click(force=True)
    page.keyboard.press("Enter")
    page.eval_on_selector("#detect-form", "form => form.requestSubmit()")

    held[0].continue_()
    page.wait_for_selector("body[data-state=done]")
    page.unroute("**/api/v1/detect**")
    assert len(requests) == 1, requests
    assert button.is_enabled()
    assert button.get_attribute("aria-busy") == "false"
    assert button.text_content() == "Upload and detect"


def test_tags_checkbox_and_size_control_redraw_without_a_request(page, live_server, data_dir, api_log):
    open_detect(page, live_server, data_dir)
    requests = api_log(page)
    _, answer = run(page)
    canvas = page.locator("#canvas")
    with_tags = canvas.evaluate("c => c.toDataURL()")
    assert canvas.get_attribute("data-tags") == "shown"

    page.uncheck("#show-tags")
    assert canvas.get_attribute("data-tags") == "hidden"
    assert canvas.evaluate("c => c.toDataURL()") != with_tags
    page.check("#show-tags")
    assert canvas.evaluate("c => c.toDataURL()") == with_tags

    full = canvas.bounding_box()["width"]
    open_settings(page)
    page.focus("#size")
    page.keyboard.press("Home")
    redrawn = "c => c.width === Math.round(c.clientWidth * devicePixelRatio) && c.clientWidth < 400"
    page.wait_for_function(redrawn, arg=canvas.element_handle(), timeout=WAIT_S * 1000)
    small = canvas.bounding_box()["width"]
    assert small == pytest.approx(full * 0.2, abs=2)
    assert page.text_content("#size-value") == "20 %"
    assert float(canvas.get_attribute("data-scale")) == pytest.approx(small / answer["width"], abs=1e-3)
    assert canvas.get_attribute("data-boxes") == str(len(shown(answer)))
    keep_answer(page, answer)
    close = [
        p
        for p in canvas.evaluate(EDGE_PIXELS)
        if max(abs(a - b) for a, b in zip(p["want"], p["got"], strict=True)) < 60
    ]
    assert len(close) >= len(shown(answer)) // 2, "boxes follow the smaller canvas"
    assert len(requests) == 1, "redrawing must not ask the server again"


def test_server_rendered_image_in_both_modes(page, live_server, data_dir, api_log, screenshot):
    open_detect(page, live_server, data_dir)
    requests = api_log(page)
    _, answer = run(page)
    image = page.locator("#server-image")
    open_settings(page)

    request, rendered = run(page, "#server-render")
    assert query_of(request.url)["render"] == ["base64"]
    assert image.is_visible()
    assert page.locator("#canvas").is_hidden()
    assert image.get_attribute("src").startswith("data:image/jpeg;base64,")
    assert image.evaluate("img => img.decode().then(() => img.naturalWidth)") == rendered["width"]
    assert image.get_attribute("data-mode") == "base64"
    screenshot(page, "detect-desktop-server-base64")

    request, rendered = run(page, "input[name=render][value=url]")
    assert query_of(request.url)["render"] == ["url"]
    assert image.get_attribute("src") == rendered["image_url"]
    assert "/results/" in rendered["image_url"]
    assert image.evaluate("img => img.decode().then(() => img.naturalHeight)") == rendered["height"]
    assert image.get_attribute("data-mode") == "url"

    page.click("#server-render")  # off: back to the canvas, from the answer already here
    assert page.locator("#canvas").is_visible()
    assert image.is_hidden()
    page.click("#server-render")  # on again, url mode: the saved image is reused
    assert image.is_visible()
    assert image.get_attribute("src") == rendered["image_url"]
    assert len(requests) == 3, requests
    assert len(rendered["detections"]) == len(shown(answer)), "the server draws at the slider's confidence"


@pytest.mark.parametrize(("image", "people"), [("zidane.heic", 2), ("motion_photo.jpg", 1)])
def test_phone_photos_are_found_and_shown(  # noqa: PLR0917 (pytest fixtures and parameters)
    page, live_server, data_dir, screenshot, image, people
):
    """Chromium cannot decode a HEIC: the page sends the file unchanged and shows the server's drawing. A
    motion photo is an ordinary JPEG to the browser (the MP4 after its end is ignored), shrunk as one."""
    open_detect(page, live_server, data_dir, image)
    request, answer = run(page)
    assert page.locator("body").get_attribute("data-state") == "done"
    assert sum(d["label"] == "person" for d in shown(answer)) == people
    if image.endswith(".heic"):
        assert query_of(request.url)["render"] == ["base64"]
        assert "sent the file unchanged" in page.locator("#meta").text_content()
        server_image = page.locator("#server-image")
        assert server_image.is_visible()
        assert page.locator("#canvas").is_hidden()
        assert server_image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 1280
        screenshot(page, "detect-desktop-heic")
    else:
        assert "render" not in query_of(request.url)
        assert page.locator("#canvas").is_visible()
        assert answer["width"] == 500


def test_a_text_file_gets_the_server_error_in_plain_words(page, live_server, tmp_path, screenshot):
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a picture\n", encoding="utf-8")
    page.goto(f"{live_server.url}/detect")
    page.set_input_files("#file", str(notes))
    with page.expect_response("**/api/v1/detect**") as answer:
        page.click("#submit")
    page.wait_for_selector("body[data-state=error]")
    assert answer.value.status == 415
    error = page.locator("#error")
    assert error.is_visible()
    assert error.get_attribute("aria-live") == "assertive"
    assert error.locator(".error-text").text_content() == (
        "This file is not an image the server can read. "
        "Choose a JPEG, PNG, HEIC, AVIF, WebP, BMP or TIFF image.")
    assert json.loads(answer.value.text())["error"] == "image_unsupported"
    assert json.loads(answer.value.text())["message"] == error.locator("details code").text_content()
    assert error.locator("details code").is_hidden(), "the server's technical words stay folded"
    assert page.locator("#canvas").is_hidden()
    assert page.is_enabled("#submit")
    screenshot(page, "detect-desktop-error")


def test_phone_layout_fits_the_screen(phone_page, live_server, data_dir, screenshot):
    page = phone_page
    open_detect(page, live_server, data_dir)
    request, answer = run(page)
    original = base64.b64encode((data_dir / "bus.jpg").read_bytes()).decode()
    assert request.post_data_json["image"] == f"data:image/jpeg;base64,{original}", (
        "a JPEG that needs no shrinking and is smaller than its re-encoding is sent as it is"
    )
    assert "sent the original 810×1080 JPEG" in page.text_content("#meta")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling on a phone"
    canvas = page.locator("#canvas")
    assert canvas.bounding_box()["width"] <= 390
    assert page.eval_on_selector("#canvas", "c => c.width") == round(canvas.bounding_box()["width"] * 3)
    assert canvas.get_attribute("data-boxes") == str(len(shown(answer)))
    screenshot(page, "detect-phone")


def test_the_chinese_page_names_the_classes_in_chinese_and_asks_in_english(phone_page, live_server, data_dir,
                                                                          screenshot):
    """A class in Chinese on the zh page (table, chips, the tag drawn on the canvas: "人 0.87"); the request,
    the answer and the filter still use the model's own names."""
    page = phone_page
    page.goto(f"{live_server.url}/detect?lang=zh")
    page.set_input_files("#file", str(data_dir / "bus.jpg"))
    _request, answer = run(page)
    labels = [d["label"] for d in shown(answer)]
    assert "person" in labels
    assert "bus" in labels
    cells = page.locator("#table tbody tr td:nth-child(2)").all_text_contents()
    assert cells == [{"person": "人", "bus": "公交车"}.get(label, label) for label in labels]
    assert "公交车" in page.text_content("#summary")
    assert "bus" not in page.text_content("#summary")
    chips = page.locator("#legend .chip").all_text_contents()
    assert any(chip.startswith("人 ") for chip in chips)
    assert any(chip.startswith("公交车 ") for chip in chips)
    assert page.locator('#legend .chip[data-label="person"]').count() == 1  # toggles keep the model's name
    page.click('#legend .chip[data-label="person"]')
    assert page.get_attribute('#legend .chip[data-label="person"]', "aria-pressed") == "false"
    screenshot(page, "detect-phone-zh-labels")
