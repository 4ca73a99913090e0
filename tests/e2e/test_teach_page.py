"""The teach page in headless Chromium, as a class uses it: a project, one class recorded by holding Record
in front of the (fake) camera playing the street clip, one class uploaded from photos, Train, the confusion
table, a live try that names the street, a board program downloaded for the trained classes, and the same
page on a phone, where a class gets a servo angle and a text and the micro:bit says what it will show."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.conftest import PHONE, new_teach_project
from tests.e2e.conftest import open_teach_page as open_page


def count_of(page: Any, label: str) -> int:
    card = page.locator(".class-card", has_text=label)
    return int(card.locator(".class-count").text_content().split()[0])


def test_record_upload_train_try(camera_browser: Any, live_server: Any, bus_photos: list[str],
                                 screenshot: Callable[[Any, str], Path]) -> None:
    page = open_page(camera_browser, live_server.url, viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{live_server.url}/teach")
        new_teach_project(page, "街道还是公交", ("街道", "公交车"))
        record = page.locator(".class-card", has_text="街道").locator("button.record")
        record.hover()
        page.mouse.down()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.class-card')].some(c => c.textContent.includes('街道') "
            "&& parseInt(c.querySelector('.class-count').textContent) >= 8)", timeout=10_000)
        page.mouse.up()
        assert record.get_attribute("aria-pressed") == "false"
        recorded = count_of(page, "街道")
        page.wait_for_timeout(500)
        assert count_of(page, "街道") <= recorded + 2  # stopped on release (at most the frames in flight)
        page.locator(".class-card", has_text="公交车").locator("input[multiple]").set_input_files(bus_photos)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.class-card')].some(c => c.textContent.includes('公交车') "
            "&& parseInt(c.querySelector('.class-count').textContent) === 8)")
        assert page.locator(".class-card", has_text="公交车").locator(".thumb img").count() == 8
        page.click("#train")
        page.wait_for_selector("#report:not([hidden])")
        assert "Right on" in page.text_content("#accuracy")
        assert page.locator("#confusion th", has_text="公交车").count() == 2
        page.click("#try")
        page.wait_for_function("() => document.getElementById('try-label').textContent.includes('街道')")
        page.click("#stop-try")
        # A board program for the classes just trained: one row per class, downloaded as a file.
        assert page.locator("#board-actions .board-action").count() == 2
        page.locator(".board-action[data-label='街道'] .board-colour").select_option("red")
        page.fill("#wifi-ssid", "教室")
        with page.expect_download() as info:
            page.click("#board-download")
        assert info.value.suggested_filename == "main.py"
        program = Path(info.value.path()).read_text(encoding="utf-8")
        assert '"街道": ((255, 0, 0), None, None)' in program
        assert 'WIFI_SSID = "教室"' in program
        compile(program, "main.py", "exec")
        assert "main.py" in page.text_content("#board-status")
        assert "visioncast/teach/label" in page.text_content("#board-status")
        screenshot(page, "teach-desktop")
        assert page.errors == []
    finally:
        page.context.close()


def test_phone_layout_fits_and_remembers_the_project(camera_browser: Any, live_server: Any,
                                                     screenshot: Callable[[Any, str], Path]) -> None:
    page = open_page(camera_browser, live_server.url, viewport={"width": 390, "height": 844},
                     device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page.goto(f"{live_server.url}/teach")
        page.fill("#project-name", "手机")
        page.click("#create-project")
        page.wait_for_selector("#workspace:not([hidden])")
        page.fill("#class-name", "举手")
        page.click("#class-form button[type=submit]")
        page.wait_for_selector(".class-card")
        page.reload()
        page.wait_for_selector(".class-card:has-text('举手')")  # the project is opened again
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, "teach-phone")
        assert page.errors == []
    finally:
        page.context.close()


def board_row(page: Any, label: str) -> Any:
    return page.locator(f".board-action[data-label='{label}']")


def test_phone_board_program_with_a_servo_and_a_text(browser: Any, live_server: Any, bus_photos: list[str],
                                                     player_photos: list[str],
                                                     screenshot: Callable[[Any, str], Path]) -> None:
    """On a phone: two classes uploaded and trained; one gets a servo angle and a text, the program holds
    them; the micro:bit hides the colours and says, per class, what its screen will show; the block fits."""
    page = open_page(browser, live_server.url, **PHONE)
    try:
        page.goto(f"{live_server.url}/teach?lang=zh")
        page.fill("#project-name", "舵机")
        page.click("#create-project")
        page.wait_for_selector("#workspace:not([hidden])")
        for name, photos in (("公交车", bus_photos), ("球员", player_photos)):
            page.fill("#class-name", name)
            page.click("#class-form button[type=submit]")
            card = page.locator(".class-card", has_text=name)
            card.locator("input[multiple]").set_input_files(photos)
            page.wait_for_function(
                "name => [...document.querySelectorAll('.class-card')].some(c => c.textContent.includes(name)"
                " && parseInt(c.querySelector('.class-count').textContent) === 8)",
                arg=name)
        page.click("#train")
        page.wait_for_selector("#report:not([hidden])")
        bus = board_row(page, "公交车")
        bus.locator(".board-servo").fill("90")
        bus.locator(".board-text").fill("车来了 :)")
        page.fill("#board-source", "一班")
        with page.expect_download() as info:
            page.click("#board-download")
        program = Path(info.value.path()).read_text(encoding="utf-8")
        assert '"公交车": ((255, 200, 0), 90, "车来了 :)")' in program
        assert '"球员": ((255, 0, 0), None, None)' in program
        assert 'TOPIC = "visioncast/一班/label"' in program
        status = page.text_content("#board-status")
        assert "visioncast/一班/label" in status
        assert "推送已关闭" in status  # the live server runs with mqtt.enabled = false
        screenshot(page, "teach-board-phone-micropython")
        # The micro:bit: no LED colours; each class says what the 5×5 screen shows (Chinese: an icon).
        page.select_option("#board-select", "microbit-obloq")
        assert not bus.locator(".board-colour").is_visible()
        assert page.locator(".board-note[data-board='microbit-obloq']").is_visible()
        shows = ("([label, part]) => document.querySelector(`.board-action[data-label='${label}'] "
                 ".board-shows`).textContent.includes(part)")
        page.wait_for_function(shows, arg=["球员", "图标"])
        bus.locator(".board-text").fill("bus")
        page.wait_for_function(shows, arg=["公交车", "bus"])
        with page.expect_download() as info:
            page.click("#board-download")
        makecode = Path(info.value.path()).read_text(encoding="utf-8")
        assert ('if (message == "公交车") {\n        if (turn) pins.servoWritePin(AnalogPin.P0, 90)\n'
                in makecode)
        assert 'basic.showString("bus")' in makecode
        assert board_row(page, "球员").locator(".board-shows").text_content() == "micro:bit 显示 Happy 图标"
        assert board_row(page, "公交车").locator(".board-shows").text_content() == "micro:bit 滚动显示“bus”"
        page.locator("#board-form").scroll_into_view_if_needed()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, "teach-board-phone-microbit")
        assert page.errors == []
    finally:
        page.context.close()
