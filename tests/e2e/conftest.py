"""Browser-test fixtures shared by every page's tests: a real visioncast server and Debian's headless
Chromium.

* ``live_server`` — the full app (``create_app`` with the shipped models warmed up, MQTT off) on the HTTP
  server at 127.0.0.1 on a free port in a thread, for the whole session. ``live_server.url`` is its base URL.
* ``browser`` — Chromium from ``/usr/bin/chromium`` through Playwright's sync API (never
  ``playwright install``); the tests are skipped with the reason when the binary or the package is missing.
* ``page`` (1280×900 desktop) and ``phone_page`` (390×844, touch, 3× pixels): fresh contexts per test with
  10 s timeouts. Uncaught page errors fail the test (``page.errors`` lists them).
* ``api_log(page)`` — a list that records every request to ``/api/`` (method and URL) from now on.
* ``served_with_push(data, wait_s)`` — what `visioncast serve` starts: the app with its own broker (managed
  Mosquitto when installed, else the embedded one) and its push connected to it, on a real HTTP server;
  yields (server, broker handle).
* ``screenshot(page, name)`` — saves ``tests/artifacts/<name>.png`` (full page) and returns its path.

Every test in tests/e2e is marked ``browser``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from tests.mqtt_peers import free_port
from tests.teach_samples import jitter

from visioncast import config
from visioncast.broker import BrokerHandle, open_broker
from visioncast.server.app import create_app
from visioncast.server.health import warm_up
from visioncast.server.push import routes as push
from visioncast.server.wsgi import HttpServer
from visioncast.sources.video import open_video

CHROMIUM = Path(os.environ.get("VISIONCAST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 10_000
# page.evaluate(ANIMATION_FRAMES, n): returns after the page drew n animation frames (a sentinel: a loop that
# would change the page has had n turns), never after a fixed time.
ANIMATION_FRAMES = """(n) => new Promise((done) => {
    const tick = () => (--n <= 0 ? done() : requestAnimationFrame(tick));
    requestAnimationFrame(tick);
})"""
DESKTOP = {"width": 1280, "height": 900}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """The whole app on a real server (server/wsgi.py) at 127.0.0.1:<free port> in a thread."""
    data = tmp_path_factory.mktemp("live-server")
    overrides = {"data_dir": str(data), "mqtt.enabled": False, "broker.enabled": False,
                 "streams.allow": [str(Path(__file__).parents[1] / "data" / "*")]}
    cfg = config.load(env={}, overrides=overrides)
    app = create_app(cfg)
    warm_up(app)
    server = HttpServer(app, "127.0.0.1", 0, workers=4).start_in_thread()
    try:
        yield server
    finally:
        server.stop()
        app.extensions["visioncast"].close()


@contextlib.contextmanager
def served_with_push(data: Path, wait_s: float) -> Iterator[tuple[HttpServer, BrokerHandle]]:
    cfg = config.load(env={}, overrides={"data_dir": str(data), "broker.host": "127.0.0.1",
                                         "broker.port": free_port()})
    app = create_app(cfg)
    warm_up(app)
    with open_broker(cfg.broker, data_dir=data) as handle:
        sink = push.start(app, handle)
        assert sink is not None
        assert sink.wait_connected(wait_s)
        server = HttpServer(app, "127.0.0.1", 0, workers=4).start_in_thread()
        try:
            yield server, handle
        finally:
            server.stop()
            app.extensions["visioncast"].close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (skipped with the reason when unavailable)."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="browser tests need the 'playwright' package"
    )
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


SIZES = {  # the two sizes pages are checked at: a 1366×768 laptop and a 390×844 touch phone
    "laptop": {"viewport": {"width": 1366, "height": 768}},
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True,
              "has_touch": True},
}


def open_sized_page(browser: Any, size: str, **context_options: Any) -> Iterator[Any]:
    """A page at ``SIZES[size]`` (``page.size_name`` says which) in a fresh context, as ``_open_page``."""
    for page in _open_page(browser, **SIZES[size], **context_options):
        page.size_name = size
        yield page


def write_mjpeg(path: Path, source: Path, size: tuple[int, int]) -> Path:
    """The frames of the video ``source`` resized to ``size`` as concatenated JPEGs (a fake camera's file)."""
    with open_video(source) as video, path.open("wb") as out:
        for frame in video:
            ok, jpeg = cv2.imencode(".jpg", cv2.resize(frame.image, size), [cv2.IMWRITE_JPEG_QUALITY, 85])
            assert ok
            out.write(jpeg.tobytes())
    return path


@pytest.fixture(scope="session")
def camera_browser(browser: Any, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Any]:
    """A second Chromium (same Playwright driver as ``browser``) whose camera plays the test clip at 640×480;
    the camera permission is still asked per context."""
    clip = write_mjpeg(tmp_path_factory.mktemp("camera") / "camera.mjpeg", data_dir / "vtest_clip.mp4",
                       (640, 480))
    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={clip}"]
    camera = browser.browser_type.launch(executable_path=str(CHROMIUM), args=args)
    try:
        yield camera
    finally:
        camera.close()


def _open_page(browser: Any, **context_options: Any) -> Iterator[Any]:
    context = browser.new_context(**context_options)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    try:
        yield page
        assert page.errors == [], f"uncaught errors in the page: {page.errors}"
    finally:
        context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A desktop-sized page (1280×900) in a fresh context."""
    yield from _open_page(browser, viewport=DESKTOP)


@pytest.fixture
def phone_page(browser: Any) -> Iterator[Any]:
    """A phone-sized page (390×844 CSS pixels, touch, 3× device pixels) in a fresh context."""
    yield from _open_page(browser, **PHONE)


@pytest.fixture
def api_log() -> Callable[[Any], list[tuple[str, str]]]:
    """``api_log(page)`` → a live list of (method, url) of every /api/ request the page makes from now on."""

    def start(page: Any) -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        page.on("request", lambda req: seen.append((req.method, req.url)) if "/api/" in req.url else None)
        return seen

    return start


@pytest.fixture
def screenshot(artifacts_dir: Path) -> Callable[[Any, str], Path]:
    """``screenshot(page, name)`` saves a full-page PNG to tests/artifacts/<name>.png."""

    def take(page: Any, name: str) -> Path:
        path = artifacts_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def jittered_photos(folder: Path, source: Path, stem: str, seed: int) -> list[str]:
    """8 jittered copies of the photo ``source`` (tests/teach_samples.py) as JPEGs: a class's samples."""
    paths = []
    for i, image in enumerate(jitter(cv2.imread(str(source)), 8, seed=seed)):
        path = folder / f"{stem}{i}.jpg"
        cv2.imwrite(str(path), image)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="session")
def bus_photos(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> list[str]:
    return jittered_photos(tmp_path_factory.mktemp("bus"), data_dir / "bus.jpg", "bus", 3)


@pytest.fixture(scope="session")
def player_photos(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> list[str]:
    return jittered_photos(tmp_path_factory.mktemp("player"), data_dir / "zidane.jpg", "player", 5)


def open_teach_page(browser: Any, url: str, **context: Any) -> Any:
    """A page in a fresh context allowed the camera at ``url`` (``page.errors`` collects uncaught errors)."""
    ctx = browser.new_context(**context)
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.grant_permissions(["camera"], origin=url)
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


def new_teach_project(page: Any, name: str, classes: tuple[str, ...]) -> None:
    """On the /teach page: create project ``name`` and add ``classes``."""
    page.fill("#project-name", name)
    page.click("#create-project")
    page.wait_for_selector("#workspace:not([hidden])")
    for label in classes:
        page.fill("#class-name", label)
        page.click("#class-form button[type=submit]")
        page.wait_for_selector(f".class-card:has-text('{label}')")
