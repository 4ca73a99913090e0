"""The MQTT push settings page in Chromium: Connect turns green on a running broker, red with the reason on a
closed port, and the settings survive an app restart (they live in the data dir, not in the browser); the
password is never shown again, and a setting fixed by a flag is shown but cannot be changed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mqtt_peers import free_port
from visioncast import config
from visioncast.broker import open_broker
from visioncast.config import BrokerConfig
from visioncast.server.app import create_app
from visioncast.server.push import routes as push
from visioncast.server.wsgi import HttpServer

USER, PASSWORD = "board", "pw-for-page"


@contextmanager
def running_app(data: Path, embedded: Any = None, **flags: Any) -> Iterator[str]:
    """The app (no models warmed: the page needs none) on a real server, its push started as `serve` does
    (with the ``embedded`` broker handle, or none); yields its base URL."""
    app = create_app(config.load(env={}, overrides={"data_dir": str(data), "broker.enabled": False, **flags}))
    push.start(app, embedded)
    server = HttpServer(app, "127.0.0.1", 0, workers=2).start_in_thread()
    try:
        yield server.url
    finally:
        server.stop()
        app.extensions["visioncast"].close()


@pytest.fixture
def broker_port() -> Iterator[int]:
    port = free_port()
    with open_broker(BrokerConfig(host="127.0.0.1", port=port, ws_port=0, username=USER, password=PASSWORD)):
        yield port


def fill(page: Any, host: str, port: int, password: str) -> None:
    page.fill("#host", host)
    page.fill("#port", str(port))
    page.fill("#username", USER)
    page.fill("#password", password)


def test_connect_green_then_red_and_settings_persist(page: Any, tmp_path: Path, broker_port: int,
                                                     screenshot: Callable[[Any, str], Path]) -> None:
    with running_app(tmp_path) as url:
        page.goto(f"{url}/mqtt")
        page.wait_for_selector("#mqtt-form[data-filled]")
        page.select_option("#preset", "")
        fill(page, "127.0.0.1", broker_port, PASSWORD)
        page.fill("#label_map", "开心=yellow\n愤怒=red")
        page.click("#connect")
        page.wait_for_selector("#connect.connected")
        assert page.inner_text("#connect") == "Connected"
        assert f"127.0.0.1:{broker_port}" in page.inner_text("#state")
        assert page.get_attribute("#mqtt-form", "data-api") == "/api/v1/mqtt"
        screenshot(page, "mqtt_connected")

        closed = free_port()
        page.fill("#port", str(closed))
        page.click("#connect")
        page.wait_for_selector("#connect.failed")
        assert page.inner_text("#state").startswith("Cannot reach the MQTT server")  # by the status's code
        assert "connection refused" in page.text_content("#state details")  # the server's words, folded
        screenshot(page, "mqtt_refused")

        fill(page, "127.0.0.1", broker_port, PASSWORD)
        with page.expect_response(lambda r: r.request.method == "PUT" and "/api/v1/mqtt" in r.url):
            page.click("#connect")
        page.wait_for_selector("#connect.connected")

    with running_app(tmp_path) as url:  # a restart: the saved settings come back and connect by themselves
        page.goto(f"{url}/mqtt")
        page.wait_for_selector("#connect.connected")
        assert page.input_value("#port") == str(broker_port)
        assert page.input_value("#password") == ""  # never sent back to the browser
        assert "saved" in page.get_attribute("#password", "placeholder")
        assert page.input_value("#label_map") == "开心=yellow\n愤怒=red"
        page.fill("#prefix", "class3")  # an empty password field keeps the saved one
        with page.expect_response(lambda r: r.request.method == "PUT" and "/api/v1/mqtt" in r.url):
            page.click("#connect")  # (it was connected before: wait for this save, not the old state)
        page.wait_for_selector("#connect.connected")
        assert "class3" in (tmp_path / "settings.toml").read_text(encoding="utf-8")


def test_bad_setting_is_explained(phone_page: Any, tmp_path: Path,
                                  screenshot: Callable[[Any, str], Path]) -> None:
    with running_app(tmp_path) as url:
        phone_page.goto(f"{url}/mqtt")
        phone_page.wait_for_selector("#mqtt-form[data-filled]")  # typed before, it was overwritten
        phone_page.fill("#host", "127.0.0.1")
        phone_page.fill("#port", "1883")
        phone_page.select_option("#payload", "template")
        phone_page.fill("#template", "{colour}")
        phone_page.click("#connect")
        error = phone_page.wait_for_selector("#error:not([hidden])")
        assert error.inner_text().startswith("Check “Template”")
        assert "'mqtt.template' may use" in error.text_content()  # the server's words, folded
        assert phone_page.get_attribute("#template", "aria-invalid") == "true"
        phone_page.fill("#template", "{label} {score:d}")
        phone_page.click("#connect")
        phone_page.wait_for_function(
            "() => document.querySelector('#error').textContent.includes('cannot format a sample result')")
        screenshot(phone_page, "mqtt_phone_error")


def test_a_setting_fixed_by_a_flag_cannot_be_changed(page: Any, tmp_path: Path) -> None:
    with running_app(tmp_path, **{"mqtt.prefix": "fromflag", "mqtt.enabled": False}) as url:
        page.goto(f"{url}/mqtt")
        page.wait_for_selector("#fixed:not([hidden])")
        assert page.is_disabled("#prefix")
        assert page.input_value("#prefix") == "fromflag"
        assert "prefix (on the command line)" in page.inner_text("#fixed")
        page.click("#connect")  # enabled is fixed to false: the server says why
        error = page.wait_for_selector("#error:not([hidden])")
        assert "'mqtt.enabled' is set on the command line" in error.text_content()


def test_the_preset_chosen_at_start_is_shown_and_survives_a_save(page: Any, tmp_path: Path) -> None:
    """`serve --preset siot`: the page shows siot; saving another setting keeps it (issue 21)."""
    port = free_port()
    with open_broker(BrokerConfig(host="127.0.0.1", port=port, ws_port=0, preset="siot"),
                     data_dir=tmp_path / "broker"), \
            running_app(tmp_path, **{"broker.preset": "siot", "mqtt.host": "127.0.0.1",
                                     "mqtt.port": port}) as url:
        page.goto(f"{url}/mqtt")
        page.wait_for_selector("#connect.connected")
        assert page.input_value("#preset") == "siot"
        assert "siot" in page.inner_text("#boards-login")  # the login boards use there
        page.fill("#debounce_frames", "4")
        with page.expect_response(lambda r: r.request.method == "PUT" and "/api/v1/mqtt" in r.url) as put:
            page.click("#connect")
        assert put.value.json()["settings"]["preset"] == "siot"
        page.wait_for_selector("#connect.connected")
        page.reload()
        page.wait_for_selector("#connect.connected")
        assert page.input_value("#preset") == "siot"
        assert page.input_value("#debounce_frames") == "4"


def test_the_built_in_brokers_port_and_only_the_chosen_policys_settings(page: Any, tmp_path: Path) -> None:
    """No host: the port shown is the one the server's own broker listens on (not 1883, which another
    broker holds here), read-only and not saved; each policy shows only its own settings."""
    port = free_port()
    with open_broker(BrokerConfig(host="127.0.0.1", port=port, ws_port=0, username=USER,
                                  password=PASSWORD)) as handle, running_app(tmp_path, handle) as url:
        page.goto(f"{url}/mqtt")
        page.wait_for_selector("#mqtt-form[data-filled]")
        page.fill("#host", "")
        assert page.input_value("#port") == str(port) != "1883"
        assert page.get_attribute("#port", "readonly") is not None
        assert page.is_visible("#port-hint")
        page.fill("#host", "192.0.2.7")  # another broker: its port is typed
        assert page.get_attribute("#port", "readonly") is None
        assert page.is_hidden("#port-hint")
        shown = "(n) => !document.getElementById(n).closest('.field').hidden"
        for policy, fields in (("rate", {"max_rate_hz"}), ("change", {"debounce_frames", "window"}),
                               ("every", set())):
            page.select_option("#policy", policy)
            visible = {n for n in ("max_rate_hz", "debounce_frames", "window") if page.evaluate(shown, n)}
            assert visible == fields, policy
