"""examples/boards/unihiker_m10.py (Linux Python on the UNIHIKER M10) with the real paho-mqtt against a real
Mosquitto and visioncast's embedded broker; only the M10's own GPIO and screen libraries are stand-ins
(tests/boards/unihiker.py). The cases of the MicroPython program where they apply: a broker restart, a frozen
broker (stale display at once, only the newest label acted on), a listener that never answers, a wrong
password."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from tests.boards.unihiker import M10
from tests.integration.test_board_program import Peer, frozen_link, open_peer, through_a_freeze
from tests.mqtt_peers import BlackHole, free_port, mosquitto

USER, PASSWORD = "board", "s3cret-板"
TOPIC = "visioncast/教室/label"
SETTINGS = {"BROKER": "127.0.0.1", "USER": USER, "PASSWORD": PASSWORD, "TOPIC": TOPIC, "KEEPALIVE_S": 4,
            "PING_S": 1, "PING_WAIT_S": 1, "IO_TIMEOUT_S": 2, "RECONNECT_MAX_S": 1}
BLUE, RED, YELLOW, PURPLE = (0, 0, 255), (255, 0, 0), (255, 200, 0), (128, 0, 128)


def label_shown(board: M10, peer: Peer, label: str, rgb: tuple[int, int, int]) -> None:
    """Publish ``label`` until the board shows it (the first may race with the board's SUBSCRIBE)."""
    board.wait_until("connected", lambda: board.status_led == 1)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.username_pw_set(*peer.publisher)
    client.connect("127.0.0.1", peer.port)
    client.loop_start()
    try:
        for _ in range(20):
            client.publish(TOPIC, label.encode(), qos=1).wait_for_publish(10)
            try:
                board.wait_until(f"RGB {rgb}", lambda: board.rgb == rgb and board.text == label, 0.5)
                return
            except TimeoutError:
                continue
        raise AssertionError(f"{label!r} never reached the M10\n{board.log()}")
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("kind", ["mosquitto", "embedded"])
def test_labels_light_the_led_and_a_broker_restart_is_survived(kind: str, tmp_path: Path) -> None:
    port = free_port()
    with M10(**SETTINGS, PORT=port) as board:
        with open_peer(kind, tmp_path, port, PASSWORD) as peer:
            label_shown(board, peer, "person", BLUE)
        board.wait_until("LED off while the broker is gone", lambda: board.status_led == 0)
        assert board.rgb == (0, 0, 0)
        with open_peer(kind, tmp_path, port, PASSWORD) as peer:
            label_shown(board, peer, "person", BLUE)


@pytest.mark.parametrize("kind", ["mosquitto", "embedded"])
def test_a_frozen_broker_turns_the_screen_stale_and_only_the_newest_label_is_acted_on(
        kind: str, tmp_path: Path) -> None:
    settings = {**SETTINGS, "KEEPALIVE_S": 10}  # the freeze stays well inside it
    with open_peer(kind, tmp_path, free_port(), PASSWORD) as broker, \
            frozen_link(broker) as (port, freeze, thaw), M10(**settings, PORT=port) as board:
        label_shown(board, broker, "开心", YELLOW)
        pin = board.program.SERVO_PIN
        assert board.turns == [(pin, 180)]

        def stale() -> None:
            board.wait_until("a stale screen", lambda: board.text == board.program.STALE_TEXT)
            assert board.status_led == 0
            assert board.rgb == (0, 0, 0)

        through_a_freeze(broker, (freeze, thaw), stale, lambda: board.wait_until(
            "the newest label", lambda: board.rgb == RED and board.text == "愤怒"))
        assert board.status_led == 1
        assert board.turns == [(pin, 180), (pin, 0)]
        assert "the broker answers again" in board.log()


def test_a_listener_that_never_answers_is_given_up_and_tried_again() -> None:
    hole = BlackHole()
    try:
        with M10(**SETTINGS, PORT=hole.port) as board:
            board.wait_until("a second try", lambda: hole.connections >= 2)
            assert board.status_led == 0
    finally:
        hole.close()


@pytest.mark.parametrize("kind", ["mosquitto", "embedded"])
def test_a_refused_login_is_shown_and_retried(kind: str, tmp_path: Path) -> None:
    port = free_port()
    with M10(**SETTINGS, PORT=port) as board:
        with open_peer(kind, tmp_path, port, "another-password"):
            board.wait_until("purple", lambda: board.rgb == PURPLE)
            assert "check USER and PASSWORD" in board.text
        with open_peer(kind, tmp_path, port, PASSWORD) as peer:
            label_shown(board, peer, "person", BLUE)


def test_mosquitto_reloading_the_password_lets_the_m10_in(tmp_path: Path) -> None:
    port = free_port()
    with mosquitto(tmp_path, port, {USER: "another"}) as proc, M10(**SETTINGS, PORT=port) as board:
        board.wait_until("purple", lambda: board.rgb == PURPLE)
        password_file = tmp_path / f"passwd-{port}"
        password_file.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
        subprocess.run(["mosquitto_passwd", "-U", str(password_file)], check=True, timeout=10)
        os.kill(proc.pid, signal.SIGHUP)
        label_shown(board, Peer(port), "person", BLUE)
