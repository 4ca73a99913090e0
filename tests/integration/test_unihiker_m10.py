"""examples/boards/unihiker_m10.py (Linux Python on the UNIHIKER M10) with the real paho-mqtt against a real
Mosquitto; only the M10's own GPIO and screen libraries are stand-ins (tests/boards/unihiker.py)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import paho.mqtt.client as paho
from tests.boards.unihiker import M10
from tests.mqtt_peers import free_port, mosquitto

USER, PASSWORD = "board", "pw-板"
TOPIC = "visioncast/教室/label"
SETTINGS = {"BROKER": "127.0.0.1", "USER": USER, "PASSWORD": PASSWORD, "TOPIC": TOPIC, "KEEPALIVE_S": 4,
            "RECONNECT_MAX_S": 1}
BLUE, PURPLE = (0, 0, 255), (128, 0, 128)


def label_shown(board: M10, port: int, label: str, rgb: tuple[int, int, int]) -> None:
    """Publish ``label`` until the board shows it (the first may race with the board's SUBSCRIBE)."""
    board.wait_until("connected", lambda: board.status_led == 1)
    peer = paho.Client(paho.CallbackAPIVersion.VERSION2)
    peer.username_pw_set(USER, PASSWORD)
    peer.connect("127.0.0.1", port)
    peer.loop_start()
    try:
        for _ in range(20):
            peer.publish(TOPIC, label.encode(), qos=1).wait_for_publish(10)
            try:
                board.wait_until(f"RGB {rgb}", lambda: board.rgb == rgb and board.text == label, 0.5)
                return
            except TimeoutError:
                continue
        raise AssertionError(f"{label!r} never reached the M10")
    finally:
        peer.disconnect()
        peer.loop_stop()


def test_labels_light_the_led_and_a_broker_restart_is_survived(tmp_path: Path) -> None:
    port = free_port()
    with M10(**SETTINGS, PORT=port) as board:
        with mosquitto(tmp_path, port, {USER: PASSWORD}):
            label_shown(board, port, "person", BLUE)
        board.wait_until("LED off while the broker is gone", lambda: board.status_led == 0)
        assert board.rgb == (0, 0, 0)
        assert board.text.startswith("reconnecting")
        with mosquitto(tmp_path, port, {USER: PASSWORD}):
            label_shown(board, port, "person", BLUE)


def test_a_refused_login_is_shown_and_retried(tmp_path: Path) -> None:
    port = free_port()
    with mosquitto(tmp_path, port, {USER: "another"}) as proc, M10(**SETTINGS, PORT=port) as board:
        board.wait_until("purple", lambda: board.rgb == PURPLE)
        assert "check USER and PASSWORD" in board.text
        password_file = tmp_path / f"passwd-{port}"
        password_file.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
        subprocess.run(["mosquitto_passwd", "-U", str(password_file)], check=True, timeout=10)
        os.kill(proc.pid, signal.SIGHUP)
        label_shown(board, port, "person", BLUE)
