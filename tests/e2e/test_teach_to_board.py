"""Issue 15's "done when", in one run: a class goes from an empty /teach page on a phone (Chinese) to a board
reacting to its own labels without leaving visioncast. A server with its own broker and push (as `serve`
starts them); a class recorded by holding Record in front of the (fake) camera, one uploaded from photos;
Train; the board block's MicroPython program downloaded with a colour and a servo angle for a class; that
program running with the published umqtt.simple (tests/boards/micropython.py) against the server's broker,
with the login the server filled in; "Try" on the page; the board's LED and servo follow the label the page's
tries publish."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.boards.micropython import Board
from tests.e2e.conftest import PHONE, new_teach_project, open_teach_page, served_with_push

RED = (255, 0, 0)
FAST = {"KEEPALIVE_S": 4, "PING_S": 1, "DEAD_S": 3, "IO_TIMEOUT_S": 2, "BACKOFF_MAX_S": 1,
        "REFUSED_RETRY_S": 1}
BOARD_WAIT_S = 30.0


def duty_of(angle: float) -> int:
    """duty_u16 of a 50 Hz servo pulse of 0.5 ms at 0° … 2.5 ms at 180° (the program's documented range)."""
    return int((0.5 + 2.0 * angle / 180) / 20 * 65535)


@pytest.fixture(scope="module")
def classroom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app with its broker (managed Mosquitto when installed, else the embedded one) and its push
    connected to it, on a real HTTP server: what `visioncast serve` starts."""
    with served_with_push(tmp_path_factory.mktemp("classroom"), BOARD_WAIT_S) as (server, handle):
        yield {"url": server.url, "broker": handle}


def class_count(page: Any, name: str, at_least: int) -> None:
    page.wait_for_function(
        "([name, n]) => [...document.querySelectorAll('.class-card')].some(c => c.textContent.includes(name)"
        " && parseInt(c.querySelector('.class-count').textContent) >= n)", arg=[name, at_least],
        timeout=20_000)


def test_from_an_empty_teach_page_on_a_phone_to_a_board_that_reacts(
        camera_browser: Any, classroom: dict[str, Any], bus_photos: list[str], tmp_path: Path,
        screenshot: Callable[[Any, str], Path]) -> None:
    url = classroom["url"]
    page = open_teach_page(camera_browser, url, **PHONE)
    try:
        page.goto(f"{url}/teach?lang=zh")
        new_teach_project(page, "街道还是公交", ("街道", "公交车"))
        record = page.locator(".class-card", has_text="街道").locator("button.record")
        record.hover()
        page.mouse.down()  # hold to record from the camera
        class_count(page, "街道", 8)
        page.mouse.up()
        page.locator(".class-card", has_text="公交车").locator("input[multiple]").set_input_files(bus_photos)
        class_count(page, "公交车", 8)
        page.click("#train")
        page.wait_for_selector("#report:not([hidden])")

        # The board program for the classes just trained: 街道 → red LED, servo to 45°.
        page.select_option("#board-select", "micropython")
        street = page.locator(".board-action[data-label='街道']")
        street.locator(".board-colour").select_option("red")
        street.locator(".board-servo").fill("45")
        page.locator(".board-action[data-label='公交车'] .board-colour").select_option("yellow")
        with page.expect_download() as info:
            page.click("#board-download")
        program = tmp_path / "main.py"
        program.write_text(Path(info.value.path()).read_text(encoding="utf-8"), encoding="utf-8")
        assert "推送已关闭" not in page.text_content("#board-status")  # the push is on
        screenshot(page, "teach-to-board-phone")

        with Board(program=program, **FAST) as board:  # the login and broker the server filled in
            board.wait_until("connected", lambda: board.status_led == 1, timeout_s=BOARD_WAIT_S)
            page.click("#try")
            page.wait_for_function("() => document.getElementById('try-label').textContent.includes('街道')")
            servo = board.program.SERVO_PIN
            board.wait_until("the red LED and the servo at 45°",
                             lambda: (board.rgb, board.duty_u16_of(servo)) == (RED, duty_of(45)),
                             timeout_s=BOARD_WAIT_S)
            page.click("#stop-try")
        assert "check USER and PASSWORD" not in board.log()
        assert page.errors == []
    finally:
        page.context.close()
