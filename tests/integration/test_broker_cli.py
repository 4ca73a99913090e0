"""`visioncast broker` as a real process: it prints the addresses and login boards use, relays messages
between a board on MQTT/TCP and a browser dashboard on MQTT over WebSocket (both ways), refuses a wrong
password on either, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_run import cli_env
from tests.mqtt_peers import Subscriber, client, free_port, login_result, wait_port

from visioncast.broker.mosquitto import find_mosquitto

USER, PASSWORD = "board", "s3cret-pw"


def _publish(port: int, topic: str, payload: bytes, transport: str) -> None:
    peer = client(transport)
    peer.username_pw_set(USER, PASSWORD)
    peer.connect("127.0.0.1", port)
    peer.loop_start()
    try:
        peer.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    finally:
        peer.disconnect()
        peer.loop_stop()


@pytest.mark.parametrize("kind", ["embedded", "mosquitto"])
def test_broker_relays_between_tcp_and_websocket_and_stops_on_ctrl_c(tmp_path: Path, kind: str) -> None:
    if kind == "mosquitto" and find_mosquitto() is None:
        pytest.skip("Mosquitto is not installed (apt install mosquitto)")
    tcp, ws = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "visioncast", "broker", "--host", "127.0.0.1", "--port", str(tcp),
         "--ws-port", str(ws), "--user", USER, "--password", PASSWORD, "--kind", kind],
        cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_port(tcp)
        wait_port(ws)
        board = Subscriber(tcp, "board/dashboard/#", USER, PASSWORD)
        browser = Subscriber(ws, "board/a1/#", USER, PASSWORD, transport="websockets")
        try:
            _publish(ws, "visioncast/webcam/label", b"fake", "websockets")  # not the boards' to write
            _publish(ws, "board/dashboard/light", "开心".encode(), "websockets")  # browser → board
            _publish(tcp, "board/a1/button", b"pressed", "tcp")  # board → browser
            board.wait_for(bool)
            browser.wait_for(bool)
        finally:
            board.close()
            browser.close()
        assert board.messages == [("board/dashboard/light", "开心".encode())]
        assert browser.messages == [("board/a1/button", b"pressed")]
        assert login_result(tcp, USER, "wrong") == "Not authorized"
        assert login_result(ws, USER, "wrong", transport="websockets") == "Not authorized"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f"mqtt://127.0.0.1:{tcp}  (this machine only)" in out
    assert f"ws://127.0.0.1:{ws}/  (MQTT over WebSocket, browser dashboards)" in out
    assert f"user {USER}  password {PASSWORD}" in out
    assert ("Mosquitto 2" if kind == "mosquitto" else "(embedded)") in out
    assert "teacher (commands): user teacher  password " in out
    assert "stopping…" in out


def test_a_killed_broker_command_takes_its_mosquitto_with_it(tmp_path: Path) -> None:
    if find_mosquitto() is None:
        pytest.skip("Mosquitto is not installed (apt install mosquitto)")
    tcp = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "visioncast", "broker", "--host", "127.0.0.1", "--port", str(tcp),
         "--ws-port", "0", "--kind", "mosquitto"],
        cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(tcp)
        proc.kill()  # no chance to clean up: the child must still go
        proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", tcp), timeout=0.5).close()
            except OSError:
                return
            time.sleep(0.1)
        raise AssertionError(f"Mosquitto still listens on {tcp} after visioncast was killed")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
