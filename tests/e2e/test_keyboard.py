"""Keyboard only: Detect, Video and Teach used with Tab, Shift+Tab, Enter and Space alone (a file is chosen
in the file chooser that Space opens on a focused file input, as the system dialog would take it from the
keyboard). Each control is reached by tabbing in page order, and after the work the focus is still on
something the user can act from, never dropped to <body>."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeout

MAX_TABS = 80
CHOOSER_WAIT_MS = 5000


def tab_to(page: Any, selector: str) -> None:
    """Press Tab until the focused element matches ``selector`` (fails after MAX_TABS presses)."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def choose_file(page: Any, selector: str, files: str | list[str], tries: int = 3) -> None:
    """Tab to the file input ``selector`` and open its chooser with Space (again, from Tab, when no chooser
    came: once in a loaded suite's run the Space was lost and the chooser never opened)."""
    for attempt in range(tries):
        tab_to(page, selector)
        try:
            with page.expect_file_chooser(timeout=CHOOSER_WAIT_MS) as chooser:
                page.keyboard.press("Space")
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise
            continue
        chooser.value.set_files(files)
        return


def focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement?.id || document.activeElement?.tagName || ''"))


def test_detect_by_keyboard(page: Any, live_server: Any, data_dir: Path) -> None:
    page.goto(f"{live_server.url}/detect")
    choose_file(page, "#file", str(data_dir / "bus.jpg"))
    tab_to(page, "#submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-state=done]")
    assert focused(page) not in ("BODY", ""), "after a detection the focus stays on the page's controls"
    assert page.locator("#summary").text_content()
    tab_to(page, "#submit")  # and the next photo can be sent the same way
    page.keyboard.press("Space")
    page.wait_for_selector("body[data-state=done]")


def test_video_by_keyboard(page: Any, live_server: Any, data_dir: Path) -> None:
    page.goto(f"{live_server.url}/video")
    choose_file(page, "#file", str(data_dir / "vtest_clip.mp4"))
    tab_to(page, "#upload")
    page.keyboard.press("Enter")
    page.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 1")
    page.wait_for_function("() => !document.getElementById('save').disabled")
    tab_to(page, "#save")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.endswith(".webm")
    tab_to(page, "#save-avi")  # the next control in order: the AVI, with Space
    with page.expect_download() as download:
        page.keyboard.press("Space")
    assert download.value.suggested_filename.endswith(".avi")


def test_teach_by_keyboard(page: Any, live_server: Any, bus_photos: list[str],
                           player_photos: list[str]) -> None:
    page.goto(f"{live_server.url}/teach?lang=zh")
    tab_to(page, "#project-name")
    page.keyboard.type("键盘")
    page.keyboard.press("Enter")
    page.wait_for_selector("#workspace:not([hidden])")
    for name, photos in (("公交车", bus_photos), ("球员", player_photos)):
        tab_to(page, "#class-name")
        page.keyboard.type(name)
        page.keyboard.press("Enter")
        card = page.locator(".class-card", has_text=name)
        card.wait_for()
        picker = card.locator("input[type=file][multiple]").get_attribute("id")  # "选图片" (the other: 拍照)
        choose_file(page, f"#{picker}", photos)
        page.wait_for_function(
            "name => [...document.querySelectorAll('.class-card')].some(c => c.textContent.includes(name)"
            " && parseInt(c.querySelector('.class-count').textContent) === 8)", arg=name)
    tab_to(page, "#train")
    page.keyboard.press("Enter")
    page.wait_for_selector("#report:not([hidden])")
    assert focused(page) not in ("BODY", "")
