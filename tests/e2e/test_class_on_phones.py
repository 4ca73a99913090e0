"""A class on the LAN, in Chromium: students' phones (390×844, touch) open the server by a LAN name, over
plain http (told where the live camera works and what to tap on the certificate warning; photos still work)
and over https with the server's self-signed certificate (the camera stays in view while recording any
class and while trying); the phone menu shows every page; on a laptop (1366×768) Detect's result and the
webcam's controls fit the screen.

The LAN name is this computer's host name, mapped to 127.0.0.1 inside Chromium (--host-resolver-rules), so
the tests stay on loopback while the browser treats the address as another device's: plain http there is
not a secure context. The server is the session's app on a second HttpServer with TLS (one port, both
schemes)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, SIZES, TIMEOUT_MS, new_teach_project, write_mjpeg

from visioncast.server.tls import ensure_certificate, ssl_context
from visioncast.server.wsgi import HttpServer

LAN = socket.gethostname().lower()  # a name the server answers to (its own host name), not loopback


@pytest.fixture(scope="module")
def lan_server(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    cert = ensure_certificate(tmp_path_factory.mktemp("tls"), [LAN])
    server = HttpServer(live_server.app, "127.0.0.1", 0, workers=4, ssl_context=ssl_context(cert))
    with server:
        yield server


@pytest.fixture(scope="module")
def lan_browser(browser: Any, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Any]:
    """Chromium resolving the LAN name to 127.0.0.1, with a fake camera playing the street clip."""
    clip = write_mjpeg(tmp_path_factory.mktemp("camera") / "camera.mjpeg", data_dir / "vtest_clip.mp4",
                       (640, 480))
    args = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {LAN} 127.0.0.1",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={clip}"]
    lan = browser.browser_type.launch(executable_path=str(CHROMIUM), args=args)
    try:
        yield lan
    finally:
        lan.close()


@pytest.fixture
def shot(artifacts_dir: Path) -> Callable[[Any, str], Path]:
    """``shot(page, name)``: what the screen shows (not the full page), as tests/artifacts/<name>.png."""

    def take(page: Any, name: str) -> Path:
        path = artifacts_dir / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return take


def open_page(browser: Any, size: str, camera_origin: str | None = None) -> Any:
    context = browser.new_context(**SIZES[size], ignore_https_errors=True, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    if camera_origin:
        context.grant_permissions(["camera"], origin=camera_origin)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


def close(page: Any) -> None:
    errors = page.errors
    page.context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def in_view(page: Any, selector: str) -> bool:
    """The element is on screen, whole."""
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] + 0.5 \
        and box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 0.5


def count_of(page: Any, label: str) -> int:
    return int(page.locator(".class-card", has_text=label).locator(".class-count").text_content().split()[0])


def test_plain_http_on_the_lan_explains_https_and_photos_still_work(
        lan_browser: Any, lan_server: HttpServer, data_dir: Path, shot: Callable[[Any, str], Path]) -> None:
    http, https = f"http://{LAN}:{lan_server.port}", f"https://{LAN}:{lan_server.port}"
    page = open_page(lan_browser, "phone")
    try:
        page.goto(f"{http}/teach?lang=zh")
        assert page.get_attribute("#https-link", "href") == f"{https}/teach?lang=zh"
        assert f"继续前往 {LAN}（不安全）" in page.text_content("main")
        assert in_view(page, "#https-link")
        shot(page, "lan-http-explained-phone")

        page.click("#http-link")  # stay on plain http: photos only
        page.wait_for_selector("#camera-note .camera-off:not([hidden])")
        assert page.is_hidden("#camera-note .camera-ok")
        assert page.get_attribute("#camera-note a", "href") == f"{https}/teach?lang=zh&http=1"
        assert in_view(page, "#camera-note")  # said before any setup
        new_teach_project(page, "猫还是公交", ("公交车", "猫咪"))
        card = page.locator(".class-card", has_text="公交车")
        assert card.locator("button.record").is_hidden()  # the live camera cannot work here
        assert card.locator("label", has_text="拍照").is_visible()
        card.locator("input[capture]").set_input_files(str(data_dir / "bus.jpg"))
        page.wait_for_function("() => document.querySelector('.class-card .class-count').textContent"
                               ".startsWith('1')")
        assert page.is_hidden("#camera-dock")
        shot(page, "lan-http-teach-photos-phone")

        page.goto(f"{http}/detect?lang=zh")  # the choice is remembered: no explanation page again
        first = page.locator("main input, main button, main label.button-link").first
        assert first.get_attribute("id") == "photo"  # the photo is the first thing on the page
        assert in_view(page, "label[for=photo]")
        assert in_view(page, "#file")
        assert page.is_hidden("#max-side")  # technical settings folded away
        page.set_input_files("#photo", str(data_dir / "bus.jpg"))  # taken: detected at once
        page.wait_for_selector("body[data-state=done]")
        assert int(page.get_attribute("#canvas", "data-boxes")) > 0
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing scrolls sideways
        page.wait_for_function("() => { const r = document.getElementById('canvas').getBoundingClientRect();"
                               " return r.top >= 0 && r.top < innerHeight / 2; }")  # scrolled to the result
        shot(page, "lan-http-detect-photo-phone")
    finally:
        close(page)


def hold_record(page: Any, label: str, samples: int) -> None:
    """Hold the class's Record button until it has ``samples``; the camera must stay in view meanwhile."""
    record = page.locator(".class-card", has_text=label).locator("button.record")
    record.evaluate("b => b.scrollIntoView({block: 'center'})")  # where a thumb would hold it
    record.hover()
    page.mouse.down()
    page.wait_for_function(
        "([label, n]) => [...document.querySelectorAll('.class-card')].some(c => "
        "c.textContent.includes(label) && parseInt(c.querySelector('.class-count').textContent) >= n)",
        arg=[label, samples])
    assert in_view(page, "#camera"), f"the camera left the screen while recording {label}"
    assert in_view(page, f".class-card:has-text('{label}') button.record")
    page.mouse.up()


def test_https_on_a_phone_keeps_the_camera_in_view(lan_browser: Any, lan_server: HttpServer,
                                                  shot: Callable[[Any, str], Path]) -> None:
    https = f"https://{LAN}:{lan_server.port}"
    page = open_page(lan_browser, "phone", camera_origin=https)
    try:
        page.goto(f"{https}/teach?lang=zh")
        assert page.is_visible("#camera-note .camera-ok")
        # every page in the menu, on screen, nothing scrolling sideways
        assert page.is_hidden("#nav-list")
        page.click("#menu-button")
        links = page.locator("#nav-list a")
        assert links.count() >= 6
        for i in range(links.count()):
            assert in_view(page, f"#nav-list li:nth-child({i + 1}) a")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "teach-menu-phone")
        page.click("#menu-button")

        new_teach_project(page, "手机上的街道", ("街道", "公交车", "人"))
        page.click("#start-camera")
        page.wait_for_function("() => document.getElementById('camera').videoWidth > 0")
        hold_record(page, "人", 6)  # the last card, far below the camera's place
        shot(page, "teach-recording-last-class-phone")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        hold_record(page, "街道", 6)
        hold_record(page, "公交车", 6)
        page.click("#train")
        page.wait_for_selector("#try-panel:not([hidden])", timeout=30_000)
        page.locator("#try").evaluate("b => b.scrollIntoView({block: 'center'})")
        page.click("#try")
        page.wait_for_selector("#dock-guess:not([hidden])")
        for selector in ("#camera", "#dock-guess", "#stop-try"):
            assert in_view(page, selector), f"{selector} is off screen while trying"
        shot(page, "teach-trying-phone")
        page.click("#stop-try")
    finally:
        close(page)


def test_laptop_result_and_controls_fit_768(lan_browser: Any, lan_server: HttpServer, data_dir: Path,
                                            shot: Callable[[Any, str], Path]) -> None:
    https = f"https://{LAN}:{lan_server.port}"
    page = open_page(lan_browser, "laptop", camera_origin=https)
    try:
        page.goto(f"{https}/detect?lang=zh")
        page.set_input_files("#file", str(data_dir / "bus.jpg"))  # a portrait photo
        page.click("#submit")
        page.wait_for_selector("body[data-state=done]")
        page.wait_for_timeout(600)  # the smooth scroll to the result
        for selector in ("#canvas", "#summary", "#conf", "#submit"):
            assert in_view(page, selector), f"{selector} is off the 768 px screen"
        shot(page, "detect-portrait-laptop")

        page.goto(f"{https}/webcam?lang=zh")
        page.click("#start")
        page.wait_for_function("() => Number(document.getElementById('view').dataset.frames) >= 3")
        page.wait_for_timeout(600)
        for selector in ("#view", "#play", "#pause", "#fps"):
            assert in_view(page, selector), f"{selector} is off the 768 px screen"
        shot(page, "webcam-live-laptop")
    finally:
        close(page)
