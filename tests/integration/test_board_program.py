"""examples/mqtt_led_board.py (MicroPython) with the published umqtt.simple against a real Mosquitto.

The board program runs unchanged on CPython through the stand-ins of tests/boards/micropython.py; the broker
is a Mosquitto started here on a free port with a password file. Each test breaks the link the way a classroom
does (broker restart, a half-open link, a wrong password) and checks the LEDs say the truth afterwards and
labels arrive again.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from tests.boards.micropython import Board
from tests.mqtt_peers import StallingProxy, free_port, mosquitto

from visioncast.broker import open_broker
from visioncast.config import BrokerConfig

USER, PASSWORD = "board", "s3cret-板"
TOPIC = "visioncast/教室/label"
FAST = {"KEEPALIVE_S": 4, "PING_S": 1, "DEAD_S": 3, "IO_TIMEOUT_S": 2, "BACKOFF_MAX_S": 1,
        "REFUSED_RETRY_S": 1, "USER": USER, "TOPIC": TOPIC}
BLUE, PURPLE, OFF = (0, 0, 255), (128, 0, 128), (0, 0, 0)


@dataclass(frozen=True)
class Peer:
    """A broker under test: its port and the login labels are published with (the server's, where the broker
    has topic rules that keep the boards' login from writing labels)."""

    port: int
    publisher: tuple[str, str] = (USER, PASSWORD)


def publish(peer: Peer, label: str) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.username_pw_set(*peer.publisher)
    client.connect("127.0.0.1", peer.port)
    client.loop_start()
    try:
        client.publish(TOPIC, label.encode(), qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def connected(board: Board) -> bool:
    return board.status_led == 1


def label_shown(board: Board, peer: Peer, label: str, rgb: tuple[int, int, int]) -> None:
    """Publish ``label`` until the board shows ``rgb`` (the first may race with the board's SUBSCRIBE)."""
    board.wait_until("connected", lambda: connected(board))
    for _ in range(20):
        publish(peer, label)
        try:
            board.wait_until(f"LED {rgb}", lambda: board.rgb == rgb, timeout_s=0.5)
            return
        except TimeoutError:
            continue
    raise AssertionError(f"label {label!r} never reached the LED\n{board.log()}")


@pytest.fixture(params=["mosquitto", "embedded"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Peer]:
    """A plain Mosquitto (the reference), or visioncast's embedded broker with the board's login."""
    port = free_port()
    if request.param == "mosquitto":
        with mosquitto(tmp_path, port, {USER: PASSWORD}):
            yield Peer(port)
        return
    cfg = BrokerConfig(kind="embedded", host="127.0.0.1", port=port, ws_port=0, username=USER,
                       password=PASSWORD)
    with open_broker(cfg, data_dir=tmp_path) as handle:
        assert handle.server_login is not None
        yield Peer(port, (handle.server_login.username, handle.server_login.password))


def test_client_id_is_text_from_the_mac_and_labels_light_the_led(broker: Peer) -> None:
    with Board(**FAST, BROKER="127.0.0.1", PORT=broker.port, PASSWORD=PASSWORD) as board:
        label_shown(board, broker, "person", BLUE)
        assert board.program.CLIENT_ID == b"vc-board-24a16057c3f0"
        label_shown(board, broker, "none", OFF)
        assert connected(board)


def test_the_board_pings_and_stays_connected_past_the_keepalive(broker: Peer) -> None:
    # A broker drops a client silent for 1.5 × keepalive (6 s here); the board must still be there after 8 s.
    with Board(**FAST, BROKER="127.0.0.1", PORT=broker.port, PASSWORD=PASSWORD) as board:
        board.wait_until("connected", lambda: connected(board))
        with pytest.raises(TimeoutError):
            board.wait_until("a disconnection", lambda: not connected(board), timeout_s=8)
        assert "MQTT error" not in board.log()
        label_shown(board, broker, "person", BLUE)


def test_broker_restart_blanks_the_leds_and_the_board_comes_back(tmp_path: Path) -> None:
    port = free_port()
    with Board(**FAST, BROKER="127.0.0.1", PORT=port, PASSWORD=PASSWORD) as board:
        with mosquitto(tmp_path, port, {USER: PASSWORD}):
            label_shown(board, Peer(port), "person", BLUE)
        board.wait_until("status LED off once the broker is gone", lambda: not connected(board))
        assert board.rgb == OFF, "a stale label must not stay on the LED"
        with mosquitto(tmp_path, port, {USER: PASSWORD}):
            label_shown(board, Peer(port), "person", BLUE)
    assert "next try in" in board.log()


def test_a_half_open_link_is_detected_and_replaced(broker: Peer) -> None:
    proxy = StallingProxy(broker.port)
    try:
        with Board(**FAST, BROKER="127.0.0.1", PORT=proxy.port, PASSWORD=PASSWORD) as board:
            label_shown(board, broker, "person", BLUE)
            proxy.stall()  # the TCP connection stays open, nothing goes through any more
            board.wait_until("the dead link noticed", lambda: not connected(board))
            assert board.rgb == OFF
            assert "the link is dead" in board.log()
            proxy.resume()
            label_shown(board, broker, "person", BLUE)
    finally:
        proxy.close()


def test_a_refused_login_shows_purple_says_why_and_retries(tmp_path: Path) -> None:
    port = free_port()
    with mosquitto(tmp_path, port, {USER: "another-password"}) as proc, \
            Board(**FAST, BROKER="127.0.0.1", PORT=port, PASSWORD=PASSWORD) as board:
        board.wait_until("purple LED", lambda: board.rgb == PURPLE)
        assert not connected(board)
        assert "check USER and PASSWORD" in board.log()
        # The teacher fixes the password on the broker: the board's next retry gets in without a reset.
        password_file = tmp_path / f"passwd-{port}"
        password_file.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
        subprocess.run(["mosquitto_passwd", "-U", str(password_file)], check=True, timeout=10)
        os.kill(proc.pid, signal.SIGHUP)
        label_shown(board, Peer(port), "person", BLUE)
