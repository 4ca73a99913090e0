"""A broker that comes back (issue 27, item 5): `visioncast serve` watches the managed Mosquitto. Killed with
SIGKILL, it is noticed, /readyz says push is not ready, and it is back within 10 s with the same logins: a
board's subscriber reconnects and hears the detect page again, and /metrics counts the restart. The embedded
broker has the same health check."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
import pytest
import requests
from tests.integration.test_serve_cli import _end, _lines, _wait_for
from tests.mqtt_peers import free_port

from visioncast.broker import open_broker
from visioncast.broker.mosquitto import find_mosquitto
from visioncast.config import BrokerConfig

WAIT_S = 10.0
BOARD = ("board", "pw-board")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def mosquitto_pid(serve_pid: int) -> int:
    for child in children(serve_pid):
        if b"mosquitto" in Path(f"/proc/{child}/cmdline").read_bytes():
            return child
    raise AssertionError("serve runs no Mosquitto")


def readyz(base: str) -> tuple[int, dict]:
    resp = requests.get(f"{base}/readyz", timeout=WAIT_S)
    return resp.status_code, resp.json()


def wait_until(what: str, check, timeout_s: float = WAIT_S, every_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"not {what} within {timeout_s} s")


class BoardListener:
    """A board's paho client (the boards' login) on every label topic, reconnecting by itself."""

    def __init__(self, port: int) -> None:
        self.labels: list[str] = []
        self.heard = threading.Condition()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="board-1")
        self.client.username_pw_set(*BOARD)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.on_connect = lambda client, *_: client.subscribe("visioncast/+/label", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with self.heard:
            self.labels.append(msg.payload.decode())
            self.heard.notify_all()

    def wait(self, predicate: Callable[[list[str]], bool], timeout_s: float = WAIT_S) -> bool:
        with self.heard:
            return self.heard.wait_for(lambda: predicate(self.labels), timeout=timeout_s)

    def clear(self) -> None:
        with self.heard:
            self.labels.clear()


def serve_with_mosquitto(tmp_path: Path, http: int, mqtt: int) -> subprocess.Popen[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "VISIONCAST_BROKER__WS_PORT": "0",
           "VISIONCAST_BROKER__USERNAME": BOARD[0], "VISIONCAST_BROKER__PASSWORD": BOARD[1],
           "VISIONCAST_MQTT__RETAIN": "true"}
    command = [sys.executable, "-m", "visioncast", "serve", "--port", str(http), "--workers", "2",
               "--broker-host", "127.0.0.1", "--broker-port", str(mqtt), "--broker-kind", "mosquitto"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            encoding="utf-8", env=env)


def test_a_killed_mosquitto_is_noticed_and_back_within_10_s(data_dir: Path, tmp_path: Path) -> None:
    if find_mosquitto() is None or not Path("/proc/self/task").is_dir():
        pytest.skip("needs Mosquitto (apt install mosquitto) and Linux's /proc")
    http, mqtt = free_port(), free_port()
    proc = serve_with_mosquitto(tmp_path, http, mqtt)
    (queue, pump), seen = _lines(proc), []
    base = f"http://127.0.0.1:{http}"
    image = {"image": ("bus.jpg", (data_dir / "bus.jpg").read_bytes())}
    board = None
    try:
        _wait_for(queue, "press Ctrl-C to stop", seen)
        status, body = readyz(base)
        assert status == 200, body
        assert body["checks"]["push"]["ready"], body
        assert requests.post(f"{base}/api/v1/detect", files=image, timeout=WAIT_S).status_code == 200
        board = BoardListener(mqtt)
        assert board.wait(bool), "no retained label before the crash"
        before = board.labels[0]
        board.clear()
        os.kill(mosquitto_pid(proc.pid), signal.SIGKILL)
        t0 = time.monotonic()
        down = wait_until("reported down", lambda: (s := readyz(base))[0] == 503 and s[1])
        assert down["checks"]["push"]["ready"] is False
        assert down["ready"] is False
        wait_until("back", lambda: readyz(base)[0] == 200, timeout_s=WAIT_S - (time.monotonic() - t0))
        # the board reconnects and gets the current label again, though Mosquitto lost what it retained
        assert board.wait(lambda labels: before in labels), board.labels

        def hears_bus() -> bool:  # and the page's new results reach it
            board.clear()
            assert requests.post(f"{base}/api/v1/detect", files=image, timeout=WAIT_S).status_code == 200
            return board.wait(lambda labels: bool({"bus", "person"} & set(labels)), timeout_s=1.0)

        wait_until("heard by the board", hears_bus, every_s=0.1)
        metrics = requests.get(f"{base}/metrics", timeout=WAIT_S).text
        assert "visioncast_broker_restarts_total 1.0" in metrics
        assert "visioncast_broker_up 1.0" in metrics
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT_S) == 0
    finally:
        if board is not None:
            board.client.loop_stop()
        _end(proc, pump)
    assert any("Mosquitto stopped" in line for line in seen + [q for q in list(queue.queue) if q])


def test_the_embedded_broker_has_the_same_health_check(tmp_path: Path) -> None:
    cfg = BrokerConfig(kind="embedded", host="127.0.0.1", port=free_port(), ws_port=0, tls_port=0,
                       username=BOARD[0], password=BOARD[1])
    handle = open_broker(cfg, data_dir=tmp_path)
    runner = handle.runner
    try:
        assert handle.up()
    finally:
        handle.close()
    assert runner is not None
    assert not runner.up()
