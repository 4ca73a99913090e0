"""One port, both schemes: a real HttpServer with the data dir's self-signed certificate answers https and
plain http on the same port (told apart by the first byte). Plain http from another device's address gets
the page pointing at https (in the visitor's language), until the visitor chooses to go on without the live
camera; the API, static files and the computer's own addresses are never held back."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from visioncast import config
from visioncast.server.app import create_app
from visioncast.server.tls import ensure_certificate, ssl_context
from visioncast.server.wsgi import HttpServer

WAIT_S = 10
LAN_NAME = "classroom.lan"  # a name standing for the LAN address a phone opens (tests stay on loopback)
PAGE = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HttpServer, Path]]:
    data = tmp_path_factory.mktemp("https")
    cfg = config.load(env={}, overrides={"data_dir": str(data), "mqtt.enabled": False,
                                         "server.hosts": [LAN_NAME]})
    app: Flask = create_app(cfg)
    cert = ensure_certificate(data / "tls", [])
    with HttpServer(app, "127.0.0.1", 0, workers=2, ssl_context=ssl_context(cert)) as server:
        yield server, cert.cert_path


def lan_get(server: HttpServer, path: str, **kwargs: object) -> requests.Response:
    headers = {**PAGE, "Host": f"{LAN_NAME}:{server.port}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    return requests.get(f"http://127.0.0.1:{server.port}{path}", headers=headers, timeout=WAIT_S,
                        allow_redirects=False, **kwargs)  # type: ignore[arg-type]


def test_the_same_port_answers_https_with_the_certificate(served: tuple[HttpServer, Path]) -> None:
    server, cert = served
    page = requests.get(f"https://127.0.0.1:{server.port}/teach", verify=str(cert), timeout=WAIT_S)
    assert page.status_code == 200
    assert 'id="start-camera"' in page.text


@pytest.mark.parametrize(("lang", "words"), [("zh", "继续前往 classroom.lan（不安全）"),
                                             ("en", "Proceed to classroom.lan (unsafe)")])
def test_plain_http_from_another_device_points_at_https(served: tuple[HttpServer, Path], lang: str,
                                                          words: str) -> None:
    server, _ = served
    page = lan_get(server, f"/teach?lang={lang}")
    assert page.status_code == 200
    assert f'href="https://{LAN_NAME}:{server.port}/teach?lang={lang}"' in page.text
    assert words in page.text
    assert page.headers["Cache-Control"] == "no-store"


def test_going_on_without_the_camera_is_remembered(served: tuple[HttpServer, Path]) -> None:
    server, _ = served
    first = lan_get(server, "/detect?http=1")
    assert 'id="detect-form"' in first.text
    assert first.cookies.get("visioncast_http") == "1"
    again = lan_get(server, "/teach", cookies={"visioncast_http": "1"})
    assert 'id="start-camera"' in again.text


@pytest.mark.parametrize("path", ["/api/v1/models", "/healthz", "/openapi.json"])
def test_the_api_still_speaks_plain_http(served: tuple[HttpServer, Path], path: str) -> None:
    server, _ = served
    assert lan_get(server, path, headers={"Accept": "*/*"}).status_code == 200


def test_the_computer_itself_gets_pages_over_plain_http(served: tuple[HttpServer, Path]) -> None:
    server, _ = served
    page = requests.get(f"http://127.0.0.1:{server.port}/teach", headers=PAGE, timeout=WAIT_S)
    assert 'id="start-camera"' in page.text


def test_a_failed_handshake_leaves_the_server_serving(served: tuple[HttpServer, Path]) -> None:
    server, cert = served
    context = ssl.create_default_context()  # does not trust the self-signed certificate: a warning page
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname="127.0.0.1")
    assert requests.get(f"https://127.0.0.1:{server.port}/healthz", verify=str(cert), timeout=WAIT_S).ok
