"""GET/PUT /api/v1/mqtt against a real embedded broker and a credential-recording peer: the embedded broker's
password never goes to another host, no password is ever returned, a stored one is kept or cleared by the
rules, a bad template is a 400 (never a 500 later), settings a flag sets are refused, and the OpenAPI schema
is the config's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from jsonschema import validate

from mqtt_peers import free_port
from mqtt_trap import CredentialTrap
from visioncast import config
from visioncast.broker import BrokerHandle, open_broker
from visioncast.config import BrokerConfig, MqttConfig
from visioncast.config.schema import property_schema
from visioncast.network import lan_addresses
from visioncast.server.app import create_app
from visioncast.server.push import routes as push

EMBEDDED_PASSWORD = "EMBEDDED-SECRET-pw"  # a test broker's login
WAIT_S = 10.0


@pytest.fixture
def embedded() -> Iterator[BrokerHandle]:
    with open_broker(BrokerConfig(host="127.0.0.1", port=free_port(), ws_port=0, username="visioncast",
                                  password=EMBEDDED_PASSWORD)) as handle:
        yield handle


@pytest.fixture
def trap() -> Iterator[CredentialTrap]:
    """A peer on this machine's LAN address when it has one: "another host" as a student's laptop would be."""
    peer = CredentialTrap(host=(lan_addresses() or ["127.0.0.1"])[0])
    yield peer
    peer.close()


def served(data: Path, embedded: BrokerHandle | None, **flags: Any) -> Flask:
    app = create_app(config.load(env={}, overrides={"data_dir": str(data), **flags}))
    push.start(app, embedded)
    return app


def put(app: Flask, body: dict[str, Any]) -> Any:
    return app.test_client().put("/api/v1/mqtt", json=body)


def test_the_embedded_password_never_goes_to_another_host(tmp_path: Path, embedded: BrokerHandle,
                                                          trap: CredentialTrap) -> None:
    app = served(tmp_path, embedded)
    try:
        sink = push.sink_of(app.extensions["visioncast"])
        assert sink is not None
        assert sink.wait_connected(WAIT_S), sink.error  # the embedded broker, with its own login
        got = app.test_client().get("/api/v1/mqtt")
        assert got.json["settings"]["host"] == ""
        assert got.json["status"]["broker"] == f"127.0.0.1:{embedded.port}"
        assert EMBEDDED_PASSWORD not in got.text

        # the takeover of issue 12: only a new host and port
        resp = put(app, {"host": trap.host, "port": trap.port})
        assert resp.status_code == 200, resp.json
        login = trap.wait_login()
        assert (login.username, login.password) == (None, None)
        assert EMBEDDED_PASSWORD.encode() not in login.raw
        assert "refused the login" in resp.json["status"]["error"]
        assert EMBEDDED_PASSWORD not in (tmp_path / "settings.toml").read_text(encoding="utf-8")

        resp = put(app, {"username": "board", "password": "own-pw"})  # its own credentials
        assert resp.status_code == 200, resp.json
        login = trap.wait_login(2)
        assert (login.username, login.password) == ("board", b"own-pw")
    finally:
        app.extensions["visioncast"].close()


def test_no_password_is_returned_one_is_kept_and_a_new_host_clears_it(tmp_path: Path,
                                                                       trap: CredentialTrap) -> None:
    app = served(tmp_path, None)
    other = CredentialTrap(host=trap.host)
    try:
        resp = put(app, {"host": trap.host, "port": trap.port, "username": "board", "password": "own-pw"})
        assert resp.status_code == 200, resp.json
        for answer in (resp, app.test_client().get("/api/v1/mqtt")):
            assert "password" not in answer.json["settings"]
            assert answer.json["settings"]["password_set"] is True
            assert "own-pw" not in answer.text
        trap.wait_login()

        resp = put(app, {"prefix": "class3"})  # no password given: the stored one is kept
        assert resp.status_code == 200, resp.json
        assert trap.wait_login(2).password == b"own-pw"
        resp = put(app, {"password": "********"})  # what older pages sent back: kept too
        assert trap.wait_login(3).password == b"own-pw"

        resp = put(app, {"port": other.port})  # another broker, no password: it is not sent there
        assert resp.json["settings"]["password_set"] is False
        login = other.wait_login()
        assert (login.username, login.password) == ("board", None)
    finally:
        other.close()
        app.extensions["visioncast"].close()


def test_a_template_that_cannot_format_is_a_400_and_detection_goes_on(tmp_path: Path, data_dir: Path,
                                                                      embedded: BrokerHandle) -> None:
    app = served(tmp_path, embedded)
    try:
        resp = put(app, {"payload": "template", "template": "{label} {score:d}"})
        assert resp.status_code == 400
        assert resp.json["error"] == "bad_input"
        assert "'mqtt.template' cannot format a sample result" in resp.json["message"]
        assert "Unknown format code 'd'" in resp.json["message"]
        assert not (tmp_path / "settings.toml").exists()  # nothing saved
        with (data_dir / "bus.jpg").open("rb") as f:
            detect = app.test_client().post("/api/v1/detect", data={"image": (f, "bus.jpg")})
        assert detect.status_code == 200, detect.json

        resp = put(app, {"payload": "template", "template": "{message}:{score:.2f}"})
        assert resp.status_code == 200, resp.json
        restarted = create_app(config.load(env={}, overrides={"data_dir": str(tmp_path)}))
        assert restarted.extensions["visioncast"].config.mqtt.template == "{message}:{score:.2f}"
    finally:
        app.extensions["visioncast"].close()


@pytest.mark.parametrize(("body", "message"), [
    ({"port": 0}, "config 'mqtt.port' must be at least 1, got 0"),
    ({"qos": 2}, "config 'mqtt.qos' must be one of 0, 1, got 2"),
    ({"colour": "red"}, "unknown setting 'colour'"),
    ({"label_map": ["a=b"]}, "label_map must be an object"),
    ({"url": "mqtt://x"}, "unknown setting 'url'"),
    ({"payload": "template", "template": ""}, "'mqtt.template' must not be empty when mqtt.payload"),
])
def test_bad_settings_are_400s_naming_them(tmp_path: Path, body: dict[str, Any], message: str) -> None:
    app = served(tmp_path, None)
    resp = put(app, body)
    assert resp.status_code == 400
    assert message in resp.json["message"]
    app.extensions["visioncast"].close()


def test_a_setting_a_flag_sets_cannot_be_changed_here(tmp_path: Path) -> None:
    app = served(tmp_path, None, **{"mqtt.port": 1999, "mqtt.url": "mqtt://u:urlpw@127.0.0.1:1999",
                                    "mqtt.enabled": False})
    try:
        fixed = app.test_client().get("/api/v1/mqtt").json["settings"]["fixed"]
        assert fixed["port"] == "on the command line"
        assert fixed["host"] == "replaced by mqtt.url, set on the command line"
        assert put(app, {"port": 1999}).status_code == 200  # unchanged: fine
        resp = put(app, {"port": 2000})
        assert resp.status_code == 400
        assert "'mqtt.port' is set on the command line (1999), which wins" in resp.json["message"]
        resp = put(app, {"host": "192.0.2.9"})  # page settings would replace the URL a flag sets
        assert resp.status_code == 400
        assert "'mqtt.url' is set on the command line, which wins" in resp.json["message"]
        assert "urlpw" not in resp.text
    finally:
        app.extensions["visioncast"].close()


def test_openapi_settings_schema_is_the_config_schema(tmp_path: Path, embedded: BrokerHandle) -> None:
    app = served(tmp_path, embedded)
    doc = app.test_client().get("/openapi.json").json
    schemas = doc["components"]["schemas"]
    for name in ("port", "preset", "template", "max_rate_hz", "policy"):
        assert schemas["MqttSettingsChange"]["properties"][name] == property_schema(MqttConfig, name)
    assert "password" not in schemas["MqttSettings"]["properties"]
    answer = app.test_client().get("/api/v1/mqtt").json
    validate(answer["settings"], schemas["MqttSettings"])
    answered_only = ("password_set", "fixed", "fixed_by", "policy_in_force")
    body = {k: v for k, v in answer["settings"].items() if k not in answered_only}
    validate(body, schemas["MqttSettingsChange"])
    assert put(app, body).status_code == 200  # what GET answers, PUT takes back
    assert config.load(env={}, overrides={"data_dir": str(tmp_path)}).layers.saved == {}  # nothing changed
    app.extensions["visioncast"].close()


def test_no_embedded_broker_and_no_host_is_a_400(tmp_path: Path) -> None:
    app = served(tmp_path, None)
    assert push.sink_of(app.extensions["visioncast"]) is None  # nothing to connect to: no push started
    status = app.test_client().get("/api/v1/mqtt").json["status"]
    assert "runs no embedded broker" in status["error"]
    resp = put(app, {"enabled": True, "prefix": "x"})
    assert resp.status_code == 400
    assert "'mqtt.host' is empty, which means the embedded broker, but this server runs none" in resp.json[
        "message"]
    app.extensions["visioncast"].close()
