"""`visioncast serve` as a real process on 127.0.0.1: ready when the port opens, one log line per request,
clean stop on Ctrl-C; the LAN URL / QR printing; startup errors in one line."""

from __future__ import annotations

import io
import ipaddress
import os
import re
import signal
import subprocess
import sys
import threading
import time
from queue import Empty, Queue

import cv2
import numpy as np
import pytest
import requests
from tests.mqtt_peers import free_port

from visioncast import config
from visioncast.cli.main import main as cli_main
from visioncast.cli.serve import ServeContext, print_qr, print_signin, print_urls
from visioncast.errors import ConfigError
from visioncast.network import lan_addresses
from visioncast.server.app import create_app
from visioncast.server.tls import ensure_certificate, ssl_context
from visioncast.server.wsgi import HttpServer

WAIT_S = 10


def _lines(proc: subprocess.Popen) -> tuple[Queue, threading.Thread]:
    queue: Queue = Queue()

    def pump() -> None:
        for line in proc.stdout:
            queue.put(line)
        queue.put(None)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return queue, thread


def _wait_for(queue: Queue, text: str, seen: list[str]) -> str:
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            line = queue.get(timeout=max(deadline - time.monotonic(), 0.01))
        except Empty:
            raise AssertionError(f"no line with {text!r} within {WAIT_S} s; got {seen}") from None
        if line is None:
            raise AssertionError(f"serve ended before printing {text!r}; got {seen}")
        seen.append(line)
        if text in line:
            return line


def _end(proc: subprocess.Popen, pump: threading.Thread) -> None:
    """After a test of a serve process: kill it if it still runs, let its pump finish, close the pipe."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(WAIT_S)
    pump.join(WAIT_S)
    assert proc.stdout is not None
    proc.stdout.close()


def test_serve_answers_logs_each_request_and_stops_on_ctrl_c(data_dir, tmp_path):
    port = free_port()
    # --mqtt off: only the HTTP service (the embedded broker would listen on every network)
    command = [sys.executable, "-m", "visioncast", "serve", "--port", str(port), "--workers", "2",
               "--mqtt", "off"]
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            encoding="utf-8", env=env)
    (queue, pump), seen = _lines(proc), []
    try:
        _wait_for(queue, "press Ctrl-C to stop", seen)
        assert any(f"listening on http://127.0.0.1:{port}/" in line for line in seen)
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=WAIT_S).json()["ready"] is True
        files = {"image": ("bus.jpg", (data_dir / "bus.jpg").read_bytes())}
        resp = requests.post(f"http://127.0.0.1:{port}/api/v1/detect", files=files, timeout=WAIT_S)
        assert resp.status_code == 200
        line = _wait_for(queue, "POST /api/v1/detect", seen)
        assert " 200 " in line
        assert " ms  bus 0.91, person×4" in line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT_S) == 0
        _wait_for(queue, "stopped", seen)
    finally:
        _end(proc, pump)


def test_lan_addresses_are_ipv4_and_not_loopback_unless_asked():
    assert lan_addresses()[-1] == "127.0.0.1"  # the fallback for a machine without a network
    for address in lan_addresses(loopback=False):
        ip = ipaddress.IPv4Address(address)
        assert not ip.is_loopback
        assert not ip.is_unspecified


def test_every_network_prints_each_lan_url_and_a_qr_code(tmp_path):
    cfg = config.load(env={}, overrides={"data_dir": str(tmp_path), "server.host": "0.0.0.0"})
    app = create_app(cfg)
    out = io.StringIO()
    with HttpServer(app, "127.0.0.1", 0, workers=1) as server:  # tests listen on loopback only
        print_urls(ServeContext(None, cfg, app, out=out, server=server))  # type: ignore[arg-type]
    text = out.getvalue()
    assert f"http://127.0.0.1:{server.port}/  (this machine)" in text
    assert f"API http://127.0.0.1:{server.port}/api/v1" in text
    for address in lan_addresses(loopback=False):
        assert f"http://{address}:{server.port}/  (phones" in text
    if lan_addresses(loopback=False):
        assert "█" in text or "▀" in text


def test_the_terminal_qr_code_decodes_to_the_url():
    """Each character is two modules (upper, lower half); light glyphs on a dark terminal (inverted)."""
    url = "http://192.168.1.20:5000/"
    out = io.StringIO()
    print_qr(url, out)
    upper = {"█": 255, "▀": 255, "▄": 0, " ": 0, "\xa0": 0}
    lower = {"█": 255, "▀": 0, "▄": 255, " ": 0, "\xa0": 0}
    rows = out.getvalue().splitlines()
    modules = np.array([[half[c] for c in row] for row in rows for half in (upper, lower)], np.uint8)
    big = cv2.resize(modules, None, fx=10, fy=10, interpolation=cv2.INTER_NEAREST)
    big = cv2.copyMakeBorder(big, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
    assert cv2.QRCodeDetector().detectAndDecode(big)[0] == url


def test_serve_refuses_model_and_busy_ports(capsys):
    assert cli_main(["serve", "--model", "yolox-nano"]) == 1
    assert "--detect-model and --classify-model, not --model" in capsys.readouterr().err
    app = create_app(config.load(env={}))
    busy = HttpServer(app, "127.0.0.1", 0, workers=1)
    with busy, pytest.raises(ConfigError, match="cannot listen on"):
        HttpServer(app, "127.0.0.1", busy.port, workers=1).start()


def test_on_every_network_the_urls_qr_code_and_signin_link_are_https(tmp_path):
    """https is the default beyond loopback: what phones scan and the teacher's link open the camera pages."""
    cfg = config.load(env={}, overrides={"data_dir": str(tmp_path), "server.host": "0.0.0.0"})
    assert cfg.server.https()
    app = create_app(cfg)
    out = io.StringIO()
    context = ssl_context(ensure_certificate(tmp_path / "tls", []))
    with HttpServer(app, "127.0.0.1", 0, workers=1, ssl_context=context) as server:
        ctx = ServeContext(None, cfg, app, out=out, server=server)  # type: ignore[arg-type]
        print_urls(ctx)
        print_signin(ctx)
    text = out.getvalue()
    assert f"https://127.0.0.1:{server.port}/  (this machine)" in text
    assert f"http:// on port {server.port} too" in text
    for address in lan_addresses(loopback=False):
        assert f"https://{address}:{server.port}/  (phones" in text
    assert re.search(rf"https://\S+:{server.port}/signin\?token=", text)
    assert "http://" not in text.replace("(http:// on", "")
