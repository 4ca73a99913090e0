"""`visioncast serve` with its managed Mosquitto and the siot preset, end to end: the banner tells boards
where to connect and which topic to read, saved push settings with the boards' login are switched to the
server's own, the MicroPython board program lights its LED from the detect page's
results (debounced by the preset's 'change' policy), and the broker stops with the server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from tests.boards.micropython import Board
from tests.integration.test_serve_cli import _end, _lines, _wait_for
from tests.mqtt_peers import free_port

from visioncast.broker.mosquitto import find_mosquitto

WAIT_S = 10.0
BLUE = (0, 0, 255)


def test_serve_runs_mosquitto_and_a_board_follows_the_detect_page(data_dir: Path, tmp_path: Path) -> None:
    if find_mosquitto() is None:
        pytest.skip("Mosquitto is not installed (apt install mosquitto)")
    http, mqtt = free_port(), free_port()
    # Push settings saved earlier with the boards' login for this broker: serve must publish with its own.
    saved = {"enabled": True, "host": "127.0.0.1", "port": mqtt, "username": "siot", "password": "dfrobot",
             "preset": "siot"}
    (tmp_path / "visioncast").mkdir()
    (tmp_path / "visioncast" / "mqtt.json").write_text(json.dumps(saved), encoding="utf-8")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "VISIONCAST_BROKER__WS_PORT": str(free_port())}
    command = [sys.executable, "-m", "visioncast", "serve", "--port", str(http), "--workers", "2",
               "--broker-host", "127.0.0.1", "--broker-port", str(mqtt), "--preset", "siot"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            encoding="utf-8", env=env)
    (queue, pump), seen = _lines(proc), []
    board = Board(BROKER="127.0.0.1", PORT=mqtt, USER="siot", PASSWORD="dfrobot", TOPIC="siot/detect",
                  PING_S=1, DEAD_S=3, BACKOFF_MAX_S=1)
    try:
        _wait_for(queue, "models loaded", seen)
        _wait_for(queue, "MQTT broker (Mosquitto", seen)
        _wait_for(queue, "user siot  password dfrobot", seen)
        _wait_for(queue, "teacher (commands): user teacher", seen)
        _wait_for(queue, "topics: siot/<source> (label text", seen)
        _wait_for(queue, "press Ctrl-C to stop", seen)
        board.start()
        board.wait_until("the board connected", lambda: board.status_led == 1)
        image = {"image": ("bus.jpg", (data_dir / "bus.jpg").read_bytes())}
        for _ in range(3):  # siot defaults to 'change': a label must win 3 results in a row
            resp = requests.post(f"http://127.0.0.1:{http}/api/v1/detect", files=image, timeout=WAIT_S)
            assert resp.status_code == 200
        board.wait_until("person on the LED", lambda: board.rgb == BLUE)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT_S) == 0
        board.wait_until("the board saw the broker go", lambda: board.status_led == 0)
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", mqtt), timeout=1):
            pass  # Mosquitto stopped with the server
    finally:
        board.stop()
        _end(proc, pump)
