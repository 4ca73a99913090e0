"""examples/mqtt_led_board.py (MicroPython) with the published umqtt.simple against real brokers.

The board program runs unchanged on CPython through the stand-ins of tests/boards/micropython.py, with each
vendored release of umqtt.simple (1.3.4, and 1.8.0 which ``mip install`` gives today), against a Mosquitto
started here on a free port with a password file and against visioncast's embedded broker. Each test breaks
the link the way a classroom does (a broker restart, a frozen broker, a half-open link, a listener that
never answers, a wrong password) and checks the LEDs say the truth afterwards and labels arrive again.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from tests.boards.micropython import UMQTT, Board
from tests.mqtt_peers import BlackHole, StallingProxy, Subscriber, free_port, mosquitto

from visioncast.broker import open_broker
from visioncast.config import BrokerConfig

USER, PASSWORD = "board", "s3cret-板"
TOPIC = "visioncast/教室/label"
FAST = {"KEEPALIVE_S": 4, "PING_S": 1, "PING_WAIT_S": 1, "DEAD_S": 3, "IO_TIMEOUT_S": 2, "BACKOFF_MAX_S": 1,
        "REFUSED_RETRY_S": 1, "USER": USER, "TOPIC": TOPIC, "BROKER": "127.0.0.1"}
BLUE, RED, YELLOW, PURPLE, OFF = (0, 0, 255), (255, 0, 0), (255, 200, 0), (128, 0, 128), (0, 0, 0)


@dataclass(frozen=True)
class Peer:
    """A broker under test: its kind, its port, the login labels are published with (the server's, where the
    broker has topic rules that keep the boards' login from writing labels) and, for Mosquitto, its pid."""

    port: int
    publisher: tuple[str, str] = (USER, PASSWORD)
    kind: str = "mosquitto"
    pid: int | None = None


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


@pytest.fixture(params=sorted(UMQTT))
def umqtt(request: pytest.FixtureRequest) -> str:
    """The release of umqtt.simple on the board."""
    return str(request.param)


def open_peer(kind: str, tmp_path: Path, port: int, password: str) -> AbstractContextManager[Peer]:
    """A plain Mosquitto (the reference), or visioncast's embedded broker, whose board login has
    ``password``."""

    @contextmanager
    def opened() -> Iterator[Peer]:
        if kind == "mosquitto":
            with mosquitto(tmp_path, port, {USER: password}) as proc:
                yield Peer(port, (USER, password), kind, proc.pid)
            return
        cfg = BrokerConfig(kind="embedded", host="127.0.0.1", port=port, ws_port=0, username=USER,
                           password=password)
        with open_broker(cfg, data_dir=tmp_path) as handle:
            assert handle.server_login is not None
            yield Peer(port, (handle.server_login.username, handle.server_login.password), kind)

    return opened()


@pytest.fixture(params=["mosquitto", "embedded"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Peer]:
    with open_peer(str(request.param), tmp_path, free_port(), PASSWORD) as peer:
        yield peer


def test_client_id_is_text_from_the_mac_and_labels_light_the_led(broker: Peer, umqtt: str) -> None:
    with Board(**FAST, umqtt=umqtt, PORT=broker.port, PASSWORD=PASSWORD) as board:
        label_shown(board, broker, "person", BLUE)
        assert board.program.CLIENT_ID == b"vc-board-24a16057c3f0"
        label_shown(board, broker, "none", OFF)
        assert connected(board)


def test_the_board_pings_and_stays_connected_past_the_keepalive(broker: Peer, umqtt: str) -> None:
    # A broker drops a client silent for 1.5 × keepalive (6 s here); the board must still be there after 8 s.
    with Board(**FAST, umqtt=umqtt, PORT=broker.port, PASSWORD=PASSWORD) as board:
        board.wait_until("connected", lambda: connected(board))
        with pytest.raises(TimeoutError):
            board.wait_until("a disconnection", lambda: not connected(board), timeout_s=8)
        assert "MQTT error" not in board.log()
        assert "stale" not in board.log()
        label_shown(board, broker, "person", BLUE)


@pytest.mark.parametrize("kind", ["mosquitto", "embedded"])
def test_broker_restart_blanks_the_leds_and_the_board_comes_back(kind: str, umqtt: str,
                                                                 tmp_path: Path) -> None:
    port = free_port()
    with Board(**FAST, umqtt=umqtt, PORT=port, PASSWORD=PASSWORD) as board:
        with open_peer(kind, tmp_path, port, PASSWORD) as peer:
            label_shown(board, peer, "person", BLUE)
        board.wait_until("status LED off once the broker is gone", lambda: not connected(board))
        assert board.rgb == OFF, "a stale label must not stay on the LED"
        with open_peer(kind, tmp_path, port, PASSWORD) as peer:
            label_shown(board, peer, "person", BLUE)
    assert "next try in" in board.log()


@contextmanager
def frozen_link(peer: Peer) -> Iterator[tuple[int, Callable[[], None], Callable[[], None]]]:
    """(the port the board connects to, freeze, thaw): Mosquitto is stopped with SIGSTOP; the embedded broker
    runs in this process, so a proxy in front of it stops forwarding instead."""
    if peer.pid is not None:
        pid = peer.pid
        try:
            yield peer.port, lambda: os.kill(pid, signal.SIGSTOP), lambda: os.kill(pid, signal.SIGCONT)
        finally:
            os.kill(pid, signal.SIGCONT)
        return
    proxy = StallingProxy(peer.port)
    try:
        yield proxy.port, proxy.freeze, proxy.thaw
    finally:
        proxy.close()


QUEUED = ["愤怒" if i % 2 == 0 else "开心" for i in range(35)]  # the newest is 愤怒: red, servo at 0°


def through_a_freeze(broker: Peer, freeze_thaw: tuple[Callable[[], None], Callable[[], None]],
                     stale: Callable[[], None], newest: Callable[[], None]) -> None:
    """Freeze the board's link, ``stale()`` (waits for the stale display), queue :data:`QUEUED` behind the
    freeze, thaw, ``newest()`` (waits for the newest label)."""
    freeze, thaw = freeze_thaw
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
    publisher.username_pw_set(*broker.publisher)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    watcher = Subscriber(broker.port, TOPIC, *broker.publisher)
    try:
        freeze()
        stale()
        for label in QUEUED:
            publisher.publish(TOPIC, label.encode(), qos=0).wait_for_publish(10)
        if broker.kind == "embedded":  # the broker has passed them on: they wait in the frozen proxy
            watcher.wait_for(lambda m: len(m) >= len(QUEUED))
        thaw()
        newest()
    finally:
        thaw()
        watcher.close()
        publisher.disconnect()
        publisher.loop_stop()


def test_a_frozen_broker_turns_the_display_stale_and_only_the_newest_label_is_acted_on(
        broker: Peer, umqtt: str) -> None:
    """The issue: 25 s of a stale label with the status LED on, then 35 queued labels replayed in 2 ms (the
    servo flipped 35 times). Now the display turns stale as soon as a ping goes unanswered, and after the
    freeze the servo turns once, to the newest label's angle."""
    settings = {**FAST, "KEEPALIVE_S": 10, "DEAD_S": 8}  # the freeze stays well inside both
    with frozen_link(broker) as (port, freeze, thaw), \
            Board(**settings, umqtt=umqtt, k10=True, PORT=port, PASSWORD=PASSWORD) as board:
        label_shown(board, broker, "开心", YELLOW)
        program = board.program
        servo = program.SERVO_PIN
        assert board.duties_u16_of(servo) == [program.servo_duty(180)]

        def stale() -> None:
            board.wait_until("a stale display", lambda: not connected(board) and board.rgb == OFF)
            assert board.screen is not None
            assert board.screen.shown == [program.STALE_TEXT]

        through_a_freeze(broker, (freeze, thaw), stale, lambda: board.wait_until(
            "the newest label", lambda: connected(board) and board.rgb == RED))
        assert board.screen is not None
        assert board.duties_u16_of(servo) == [program.servo_duty(180), program.servo_duty(0)]
        assert board.screen.shown == ["愤怒"]
        log = board.log()
        assert log.count("connected to") == 1, "the board kept its connection through the freeze"
        assert log.count("label 愤怒") == 1
        assert "the broker answers again" in log


def test_a_half_open_link_is_detected_and_replaced(broker: Peer, umqtt: str) -> None:
    proxy = StallingProxy(broker.port)
    try:
        with Board(**FAST, umqtt=umqtt, PORT=proxy.port, PASSWORD=PASSWORD) as board:
            label_shown(board, broker, "person", BLUE)
            proxy.stall()  # the TCP connection stays open, nothing goes through any more
            board.wait_until("the dead link noticed", lambda: not connected(board))
            assert board.rgb == OFF
            board.wait_until("the link dropped", lambda: "the link is dead" in board.log())
            proxy.resume()
            label_shown(board, broker, "person", BLUE)
    finally:
        proxy.close()


def test_a_listener_that_never_answers_is_given_up_and_tried_again(umqtt: str) -> None:
    """umqtt.simple 1.8.0's connect(timeout=None) turned the socket's timeout off: the board sat in connect()
    forever. Now each try gives up after IO_TIMEOUT_S and the next one comes."""
    hole = BlackHole()
    try:
        with Board(**FAST, umqtt=umqtt, PORT=hole.port, PASSWORD=PASSWORD) as board:
            board.wait_until("a second try", lambda: hole.connections >= 2)
            assert not connected(board)
            assert board.rgb == OFF
            assert "MQTT error" in board.log()
    finally:
        hole.close()


@pytest.mark.parametrize("kind", ["mosquitto", "embedded"])
def test_a_refused_login_shows_purple_says_why_and_retries(kind: str, umqtt: str, tmp_path: Path) -> None:
    port = free_port()
    with Board(**FAST, umqtt=umqtt, PORT=port, PASSWORD=PASSWORD) as board:
        with open_peer(kind, tmp_path, port, "another-password"):
            board.wait_until("purple LED", lambda: board.rgb == PURPLE)
            assert not connected(board)
            assert "check USER and PASSWORD" in board.log()
            board.wait_until("a retry", lambda: board.log().count("refused the login") >= 2)
        # The teacher gives the broker the password the board has: its next retry gets in without a reset.
        with open_peer(kind, tmp_path, port, PASSWORD) as peer:
            label_shown(board, peer, "person", BLUE)


def test_mosquitto_reloading_the_password_lets_the_board_in(umqtt: str, tmp_path: Path) -> None:
    port = free_port()
    with mosquitto(tmp_path, port, {USER: "another-password"}) as proc, \
            Board(**FAST, umqtt=umqtt, PORT=port, PASSWORD=PASSWORD) as board:
        board.wait_until("purple LED", lambda: board.rgb == PURPLE)
        password_file = tmp_path / f"passwd-{port}"
        password_file.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
        subprocess.run(["mosquitto_passwd", "-U", str(password_file)], check=True, timeout=10)
        os.kill(proc.pid, signal.SIGHUP)
        label_shown(board, Peer(port), "person", BLUE)
