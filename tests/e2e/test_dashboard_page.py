"""The live dashboard in Chromium: a stream started through the API on a live MJPEG camera, watched by two
viewers at once; both get video frames and the figures update. Also the streams list page."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.mjpeg_source import MjpegCamera, clip_jpegs
from tests.mqtt_peers import free_port

from visioncast import config
from visioncast.server.app import create_app
from visioncast.server.wsgi import HttpServer


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[tuple[str, str]]:
    """(server URL, stream id) of a server running one pipeline on a looping MJPEG camera."""
    camera = MjpegCamera(clip_jpegs(data_dir / "vtest_clip.avi", 40), free_port(), fps=10).start()
    cfg = config.load(
        env={},
        overrides={
            "data_dir": str(tmp_path_factory.mktemp("dash")),
            "mqtt.enabled": False,
            "broker.enabled": False,
            "streams.allow": ["http://127.0.0.1:*", str(data_dir / "*")],
        },
    )
    app = create_app(cfg)
    server = HttpServer(app, "127.0.0.1", 0, workers=12).start_in_thread()
    body = json.dumps({"source": camera.url, "name": "gate", "lines": ["0,225,576,225:path"]}).encode()
    request = urllib.request.Request(
        f"{server.url}/api/v1/streams", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 201
        stream = json.load(answer)
    try:
        yield server.url, stream["id"]
    finally:
        server.stop()
        app.extensions["visioncast"].close()
        camera.stop()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def test_two_viewers_get_video_and_live_numbers(
    browser: Any, stream_server: tuple[str, str], screenshot: Callable[[Any, str], Path]
) -> None:
    url, sid = stream_server
    pages = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        page.goto(f"{url}/streams/{sid}")
        pages.append((context, page, errors))
    try:
        for _, page, _ in pages:
            page.wait_for_function("() => document.getElementById('video').naturalWidth > 0")
            page.wait_for_function("() => /^\\d+$/.test(document.getElementById('frame').textContent)")
        info = get_json(f"{url}/api/v1/streams/{sid}")
        assert info["viewers"] == 2
        assert info["state"] == "running"
        for _, page, _ in pages:
            first = int(page.text_content("#frame"))
            page.wait_for_function(f"() => Number(document.getElementById('frame').textContent) > {first}")
            assert page.locator("#counts tr[data-label='person']").count() == 1
            assert page.text_content("#regions").startswith("line path: in")
        sent = get_json(f"{url}/api/v1/streams/{sid}")["counters"]
        assert sent["frames_out"] > 0
        stats = get_json(f"{url}/api/v1/stats")
        assert stats["source"] == "gate"
        assert stats["counts"].get("person", 0) >= 1
        pages[0][1].wait_for_timeout(1500)  # let the chart collect a few points for the screenshot
        screenshot(pages[0][1], "dashboard-desktop")
    finally:
        for context, _, errors in pages:
            context.close()
            assert errors == []


def test_streams_page_lists_and_stops(
    page: Any, stream_server: tuple[str, str], screenshot: Callable[[Any, str], Path]
) -> None:
    url, sid = stream_server
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{url}/streams")
    row = page.locator("#streams tr", has_text="gate")
    row.wait_for()
    screenshot(page, "streams-phone")
    page.click("#menu-button")  # a phone's nav is folded into the menu
    assert page.get_by_role("link", name="Streams").count() >= 1
    page.click("#menu-button")
    page.get_by_role("button", name="Stop stream gate").click()
    deadline = time.monotonic() + 10
    while get_json(f"{url}/api/v1/streams/{sid}")["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert get_json(f"{url}/api/v1/streams/{sid}")["state"] == "stopped"


def test_started_from_the_page_with_an_event_hold_the_dashboard_lists_its_events(
    page: Any, stream_server: tuple[str, str], data_dir: Path, screenshot: Callable[[Any, str], Path]
) -> None:
    """person ≥ 7 flickers on the clip; with a 0.5 s hold the one lasting crowd begins at 3.9 s media time."""
    url, _ = stream_server
    page.goto(f"{url}/streams")
    page.fill("#source", str(data_dir / "vtest_clip.avi"))
    page.fill("#events", "person>=7:crowd")
    page.fill("#event-hold", "0.5")
    page.click("button[type=submit]")
    page.wait_for_url("**/streams/*")
    page.wait_for_function("() => document.getElementById('event-log').textContent.includes('crowd begin')",
                           timeout=20_000)
    crowd = page.locator("#event-log li", has_text="crowd")  # people leaving interleave with it
    assert crowd.all_text_contents() == ["crowd begin at 3.90 seconds"]
    sid = page.url.rsplit("/", 1)[1]
    info = get_json(f"{url}/api/v1/streams/{sid}")
    assert [e for e in info["events"] if e["type"] == "state"] == [
        {"type": "state", "name": "crowd", "state": "begin", "timestamp": 3.9, "condition": "person>=7",
         "text": "crowd begin at 3.90 seconds"}]
    screenshot(page, "dashboard-events")


def test_stop_on_the_dashboard_and_clear_stopped_and_unknown_states(
    phone_page: Any, stream_server: tuple[str, str], data_dir: Path, screenshot: Callable[[Any, str], Path]
) -> None:
    """At 390 px: the chart is drawn at the screen's resolution, Stop on the dashboard stops the stream and
    the page says so instead of a black box; an unknown stream says it does not exist, not 'Connecting…'."""
    url, _ = stream_server
    page = phone_page
    body = json.dumps({"source": str(data_dir / "vtest_clip.avi"), "name": "hall", "realtime": True}).encode()
    request = urllib.request.Request(f"{url}/api/v1/streams", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        sid = json.load(answer)["id"]
    page.goto(f"{url}/streams/{sid}")
    page.wait_for_function("() => /^\\d+$/.test(document.getElementById('frame').textContent)")
    chart = page.locator("#chart")
    assert chart.bounding_box()["width"] <= 390
    assert page.evaluate("document.getElementById('chart').width") == round(
        page.evaluate("document.getElementById('chart').clientWidth") * 3)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.click("#stop")
    page.wait_for_selector("#video-state:not([hidden])")
    assert page.text_content("#video-state-text").startswith("This stream has stopped.")
    assert page.is_hidden("#video")
    assert get_json(f"{url}/api/v1/streams/{sid}")["state"] == "stopped"
    screenshot(page, "dashboard-stopped-phone")
    page.goto(f"{url}/streams/no-such-stream")
    page.wait_for_selector("#video-state:not([hidden])")
    assert "There is no stream “no-such-stream”" in page.text_content("#video-state-text")
    assert page.text_content("#state") == ""
    screenshot(page, "dashboard-unknown-phone")
