"""`visioncast serve --tls` as a real process: a self-signed certificate made in the data dir, its SHA-256
fingerprint printed, and the pages and API served over https with exactly that certificate."""

from __future__ import annotations

import hashlib
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Empty, Queue

import requests
from tests.integration.test_serve_cli import _end
from tests.mqtt_peers import free_port

WAIT_S = 10


def lines_into(proc: subprocess.Popen, queue: Queue) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        queue.put(line)
    queue.put(None)


def wait_for(queue: Queue, text: str, seen: list[str]) -> str:
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


def test_serve_tls_prints_the_fingerprint_and_serves_https(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "visioncast", "serve", "--tls", "--port", str(port), "--workers", "2",
               "--mqtt", "off"]
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            encoding="utf-8", env=env)
    queue: Queue = Queue()
    pump = threading.Thread(target=lines_into, args=(proc, queue), daemon=True)
    pump.start()
    seen: list[str] = []
    try:
        assert "made a new self-signed certificate" in wait_for(queue, "TLS:", seen)
        printed = wait_for(queue, "SHA-256 fingerprint", seen).split()[-1]
        wait_for(queue, "press Ctrl-C to stop", seen)
        assert any(f"listening on https://127.0.0.1:{port}/" in line for line in seen)
        cert = tmp_path / "visioncast" / "tls" / "cert.pem"
        served = ssl.get_server_certificate(("127.0.0.1", port), timeout=WAIT_S)
        digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(served)).hexdigest().upper()
        assert digest == printed.replace(":", "")
        page = requests.get(f"https://127.0.0.1:{port}/webcam", verify=str(cert), timeout=WAIT_S)
        assert page.status_code == 200
        assert 'id="camera-select"' in page.text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT_S) == 0
    finally:
        _end(proc, pump)
