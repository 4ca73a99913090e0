"""A board hears what the /detect page shows (issue 21, "one answer"): the page asks the server for more than
it shows (its slider filters locally), but what a real MQTT subscriber receives is the list on the page. A
server with its own broker and push, as `serve` starts them; Chromium drives the page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.conftest import served_with_push
from tests.mqtt_peers import Subscriber

WAIT_S = 20.0
RESULT = "visioncast/detect/result"


@pytest.fixture(scope="module")
def pushing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app with its broker and its push connected to it, on a real HTTP server, and a subscriber with
    the boards' login to everything the detect page publishes."""
    with served_with_push(tmp_path_factory.mktemp("push"), WAIT_S) as (server, handle):
        board = Subscriber(handle.port, "visioncast/detect/#", handle.username, handle.password)
        try:
            yield {"url": server.url, "board": board}
        finally:
            board.close()


def set_slider(page: Any, value: float) -> None:
    page.eval_on_selector("#conf", "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }",
                          str(value))


def received(board: Subscriber, count: int) -> dict[str, Any]:
    """The ``count``-th result JSON the board received (waits for it)."""
    board.wait_for(lambda msgs: sum(t == RESULT for t, _ in msgs) >= count, WAIT_S)
    return json.loads(board.payloads(RESULT)[count - 1])


def page_rows(page: Any) -> list[tuple[str, str]]:
    """(label, score) of each row of the page's table."""
    return [(row.locator("td").nth(1).inner_text(), row.locator("td").nth(2).inner_text())
            for row in page.locator("#table tbody tr").all()]


def test_the_board_hears_the_list_the_page_shows_at_slider_05(page: Any, pushing: dict[str, Any],
                                                              data_dir: Any) -> None:
    board: Subscriber = pushing["board"]
    before = len(board.payloads(RESULT))
    page.goto(f"{pushing['url']}/detect?lang=en")
    set_slider(page, 0.5)
    page.set_input_files("#file", str(data_dir / "bus.jpg"))
    with page.expect_response("**/api/v1/detect**") as answer:
        page.click("#submit")
    page.wait_for_selector("body[data-state=done]")
    asked = json.loads(answer.value.text())
    assert any(d["score"] < 0.5 for d in asked["detections"]), "the page asks for more than it shows"

    got = received(board, before + 1)
    rows = page_rows(page)
    assert rows, "bus.jpg has objects above 0.5"
    assert [(d["label"], f"{d['score']:.3f}") for d in got["detections"]] == rows
    counts: dict[str, int] = {}
    for label, _ in rows:
        counts[label] = counts.get(label, 0) + 1
    for label, n in counts.items():
        topic = f"visioncast/detect/count/{label}"
        board.wait_for(lambda msgs, t=topic: any(m[0] == t for m in msgs), WAIT_S)
        assert board.payloads(topic)[-1] == str(n).encode()
    assert not any(t.startswith("visioncast/detect/count/") and t.rsplit("/", 1)[1] not in counts
                   for t, _ in board.messages[before:]), "no count of a class the page does not show"

    # letting go of the slider at 0.8 and switching off a class: the board hears the new list
    page.eval_on_selector("#conf", "el => { el.value = 0.8; el.dispatchEvent(new Event('input'));"
                                   " el.dispatchEvent(new Event('change')); }")
    got = received(board, before + 2)
    page.wait_for_selector("body[data-state=done]")
    assert [(d["label"], f"{d['score']:.3f}") for d in got["detections"]] == page_rows(page)
    hidden = rows[0][0]
    page.click(f'#legend .chip[data-label="{hidden}"]')
    got = received(board, before + 3)
    page.wait_for_selector("body[data-state=done]")
    assert hidden not in [d["label"] for d in got["detections"]]
    assert [(d["label"], f"{d['score']:.3f}") for d in got["detections"]] == page_rows(page)


def test_pose_from_the_detect_page_publishes_as_detect(page: Any, pushing: dict[str, Any],
                                                       data_dir: Any) -> None:
    board: Subscriber = pushing["board"]
    before = len(board.payloads(RESULT))
    page.goto(f"{pushing['url']}/detect?lang=en")
    page.check("input[name=task][value=pose]")
    page.set_input_files("#file", str(data_dir / "bus.jpg"))
    with page.expect_response("**/api/v1/pose**"):
        page.click("#submit")
    page.wait_for_selector("body[data-state=done]")
    got = received(board, before + 1)
    assert got["task"] == "pose"
    assert got["source"] == "detect"
    conf = float(page.input_value("#conf"))
    assert all(d["score"] >= conf for d in got["detections"])
    assert len(got["detections"]) == page.locator("#table tbody tr").count()
