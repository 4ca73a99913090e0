"""The classification page in a real Chromium against a real server: upload without navigation, the top class
and top-5 bars, the size control, the button states and a server error in plain words; desktop and phone."""

from __future__ import annotations

import json

import pytest

CAT = "cifar10/cifar10_00_3.png"  # CIFAR-10 test image 0, a cat


def choose(page, path) -> None:
    page.set_input_files("#file", str(path))


def classify(page, path) -> dict:
    """Choose ``path``, press the button, and return the API answer the page received."""
    choose(page, path)
    with page.expect_response("**/api/v1/classify**") as answer:
        page.click("#submit")
    page.wait_for_selector("body[data-state=done], body[data-state=error]")
    return json.loads(answer.value.text())


@pytest.mark.parametrize("image", [CAT, "bus.jpg"])
def test_upload_shows_the_image_top_class_and_top5_on_the_same_page(  # noqa: PLR0917 (pytest fixtures)
    page, live_server, data_dir, api_log, screenshot, image
):
    url = f"{live_server.url}/classify"
    page.goto(url)
    requests = api_log(page)
    assert page.is_disabled("#submit"), "the button must wait for a file"
    choose(page, data_dir / image)
    assert page.is_enabled("#submit")
    assert page.eval_on_selector("#preview", "img => img.complete && img.naturalWidth > 0")

    with page.expect_response("**/api/v1/classify**") as answer:
        page.click("#submit")
    page.wait_for_selector("body[data-state=done]")
    body = json.loads(answer.value.text())

    assert page.url == url, "the page must not navigate"
    assert requests == [("POST", f"{live_server.url}/api/v1/classify?top=5")]
    best = body["predictions"][0]
    assert page.text_content("#top-class").startswith(best["label"])
    bars = page.locator("#bars li")
    assert bars.count() == len(body["predictions"]) == 5
    assert bars.nth(0).locator(".bar-label").text_content() == best["label"]
    assert bars.nth(0).locator(".bar-value").text_content() == f"{best['score'] * 100:.1f} %"
    assert "resnet56-cifar10" in page.text_content("#meta")
    assert page.is_enabled("#submit")
    if image == CAT:
        assert best["label"] == "cat"
    screenshot(page, f"classify-desktop-{image.split('/')[-1].split('.')[0]}")


def test_size_control_changes_the_displayed_image(page, live_server, data_dir):
    page.goto(f"{live_server.url}/classify")
    classify(page, data_dir / CAT)
    width = page.eval_on_selector("#preview", "img => img.getBoundingClientRect().width")
    page.focus("#size")
    page.keyboard.press("Home")
    smallest = page.eval_on_selector("#preview", "img => img.getBoundingClientRect().width")
    page.keyboard.press("End")
    largest = page.eval_on_selector("#preview", "img => img.getBoundingClientRect().width")
    assert smallest == 32 < width == 256 < largest == 640
    assert page.input_value("#size") == "640"
    assert page.text_content("#size-value") == "640 px"


def test_a_text_file_gets_the_server_error_in_plain_words(page, live_server, tmp_path, screenshot):
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a picture\n", encoding="utf-8")
    url = f"{live_server.url}/classify"
    page.goto(url)
    choose(page, notes)
    with page.expect_response("**/api/v1/classify**") as answer:
        page.click("#submit")
    page.wait_for_selector("body[data-state=error]")
    assert answer.value.status == 415
    error = page.locator("#error")
    assert error.is_visible()
    assert error.get_attribute("role") == "alert"
    words = error.locator(".error-text").text_content()
    assert words.startswith("This file is not an image the server can read.")
    assert json.loads(answer.value.text())["message"] == error.locator("details code").text_content()
    assert page.url == url
    assert page.is_enabled("#submit")
    assert page.locator("#top-class").is_hidden()
    screenshot(page, "classify-desktop-error")

    page.click("#submit")
    page.wait_for_selector("body[data-state=error]")
    assert page.locator("#error").is_visible(), "a second try answers the same error"


def test_phone_layout_fits_the_screen(phone_page, live_server, data_dir, screenshot):
    page = phone_page
    page.goto(f"{live_server.url}/classify")
    classify(page, data_dir / CAT)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling on a phone"
    button = page.locator("#submit").bounding_box()
    assert button["height"] >= 44, "a touch-sized button"
    assert button["width"] >= 300, "a full-width button"
    screenshot(page, "classify-phone")
