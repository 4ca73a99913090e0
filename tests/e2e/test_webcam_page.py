"""The webcam page in headless Chromium with its fake camera playing frames of the test clip (an MJPEG file is
concatenated JPEGs, written here with OpenCV): results drawn, FPS shown, one frame in flight, pause/play, and
a clear message when the camera is denied."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ANIMATION_FRAMES, TIMEOUT_MS

# Counts requests to the detect API sent and in flight at once, to check only one frame is ever on its way.
COUNT_IN_FLIGHT = """
window.__inFlight = 0; window.__maxInFlight = 0; window.__sent = 0;
const realFetch = window.fetch;
window.fetch = async (...args) => {
  const detect = String(args[0]).includes("/api/v1/detect");
  if (detect) window.__sent++;
  if (detect) window.__maxInFlight = Math.max(window.__maxInFlight, ++window.__inFlight);
  try { return await realFetch(...args); } finally { if (detect) window.__inFlight--; }
};
"""


def open_page(browser: Any, url: str, *, camera: bool) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    if camera:
        context.grant_permissions(["camera"], origin=url)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


def frames(page: Any) -> int:
    return int(page.get_attribute("#view", "data-frames"))


def test_camera_frames_are_detected_and_drawn_live(camera_browser: Any, live_server: Any,
                                                   screenshot: Callable[[Any, str], Path]) -> None:
    page = open_page(camera_browser, live_server.url, camera=True)
    try:
        page.add_init_script(COUNT_IN_FLIGHT)
        page.goto(f"{live_server.url}/webcam")
        assert page.is_hidden("#insecure")  # 127.0.0.1 is a secure context
        page.click("#start")
        page.wait_for_function("() => Number(document.getElementById('view').dataset.frames) >= 8")
        assert int(page.get_attribute("#view", "data-boxes")) > 0
        assert float(page.get_attribute("#view", "data-fps")) > 0
        assert float(page.get_attribute("#view", "data-latency-ms")) > 0
        assert page.text_content("#fps") not in ("", "–", "0")
        assert "640 × 480" in page.text_content("#status")
        assert page.evaluate("document.getElementById('camera-select').options.length") >= 1
        assert page.evaluate("window.__maxInFlight") == 1
        screenshot(page, "webcam-live")

        page.click("#pause")
        page.wait_for_function("() => window.__inFlight === 0")  # an answer on its way is dropped, not drawn
        page.evaluate(ANIMATION_FRAMES, 10)
        frozen, sent = frames(page), page.evaluate("window.__sent")
        page.evaluate(ANIMATION_FRAMES, 30)  # the page ran 30 animation frames: a live loop would have sent
        assert frames(page) == frozen
        assert page.evaluate("window.__sent") == sent
        page.click("#play")
        page.wait_for_function(
            f"() => Number(document.getElementById('view').dataset.frames) >= {frozen + 3}")
        assert page.evaluate("window.__maxInFlight") == 1
        assert page.errors == []
    finally:
        page.context.close()


def test_denied_camera_is_explained(camera_browser: Any, live_server: Any,
                                    screenshot: Callable[[Any, str], Path]) -> None:
    page = open_page(camera_browser, live_server.url, camera=False)
    try:
        page.goto(f"{live_server.url}/webcam")
        page.click("#start")
        page.wait_for_selector("#error:not([hidden])")
        assert "camera was denied" in page.text_content("#error")
        assert frames(page) == 0
        screenshot(page, "webcam-denied")
        assert page.errors == []
    finally:
        page.context.close()
