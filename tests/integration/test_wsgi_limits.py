"""The read pace and the per-client cap of the HTTP server (server/wsgi.py, http1.py), over real sockets: a
client that sends too slowly is cut off, a fast one with a big body is not, and one LAN address gets at most
``server.max_client_conns`` requests served at once."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from visioncast import config
from visioncast.network import lan_addresses
from visioncast.server.app import create_app
from visioncast.server.wsgi import HttpServer

TIMEOUT_S = 10


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    overrides = {"data_dir": str(tmp_path_factory.mktemp("wsgi")), "mqtt.enabled": False,
                 "broker.enabled": False, "server.read_timeout_s": 1.0, "server.max_client_conns": 2}
    app = create_app(config.load(env={}, overrides=overrides))
    http = HttpServer(app, "0.0.0.0", 0, workers=6).start_in_thread()
    try:
        yield http
    finally:
        http.stop()


def read_all(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_a_request_that_stops_arriving_is_cut_off_with_408(server: HttpServer) -> None:
    # the pace cuts it after read_timeout_s (1 s): 4 s is plenty
    with socket.create_connection(("127.0.0.1", server.port), timeout=4) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ... and never the blank line
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408")


def test_a_trickle_is_cut_off_even_though_bytes_keep_coming(server: HttpServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S) as sock:
        t0 = time.monotonic()
        cut = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                cut = True
                break
            time.sleep(0.1)
            if time.monotonic() - t0 > 6:
                break
        if not cut:
            sock.settimeout(2)
            cut = read_all(sock).startswith(b"HTTP/1.1 408")
    assert cut


def test_a_fast_upload_bigger_than_the_pace_needs_is_read(server: HttpServer, data_dir) -> None:
    body = b"x" * 3_000_000  # far more than grace × pace: bytes that arrive fast earn their own time
    answer = requests.post(f"http://127.0.0.1:{server.port}/api/v1/classify", data=body, timeout=TIMEOUT_S)
    assert answer.status_code == 415  # read to the end, then refused for what it is


@pytest.mark.skipif(lan_addresses()[0].startswith("127."), reason="no non-loopback address")
def test_one_lan_address_is_served_at_most_max_client_conns_requests_at_once(server: HttpServer) -> None:
    lan = lan_addresses()[0]
    socks = [socket.create_connection((lan, server.port), timeout=TIMEOUT_S) for _ in range(4)]
    try:
        for sock in socks:  # a request whose head is in, its body still coming
            sock.sendall(b"POST /api/v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
        time.sleep(0.3)
        refused = 0
        for sock in socks:
            sock.settimeout(0.5)
            with contextlib.suppress(TimeoutError):  # one of the two being served: waiting for its request
                refused += sock.recv(100).startswith(b"HTTP/1.1 503")
        assert refused == 2
        local = requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=TIMEOUT_S)
        assert local.status_code == 200
    finally:
        for sock in socks:
            sock.close()
    assert server.slots.refused >= 2
