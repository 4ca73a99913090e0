"""`visioncast serve` beside a broker whose logins it does not manage (issue 21: "a login that always works"):
a Mosquitto with its own password file on the broker port (started here on a free port of the LAN address,
never the machine's 1883). serve starts its own broker on the next free port and prints it with the boards'
login and "boards can connect: yes"; a client on the LAN address logs in with what was printed and hears the
results; `board-code` and the /mqtt page name the same port and login. With `--broker-port` naming the taken
port it stops with one line; a taken HTTP port stops it before the models load."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from tests.integration.cli_run import cli_env, run_cli
from tests.integration.test_serve_cli import _end, _lines, _wait_for
from tests.mqtt_peers import Subscriber, free_port, mosquitto

from visioncast.network import lan_addresses

WAIT_S = 10.0
LAN = lan_addresses(loopback=False)
needs_lan = pytest.mark.skipif(not LAN, reason="this machine has no LAN address")


def _config(tmp_path: Path, host: str, port: int) -> Path:
    path = tmp_path / "visioncast.toml"
    path.write_text(f'[broker]\nhost = "{host}"\nport = {port}\nws_port = 0\n', encoding="utf-8")
    return path


def _serve(config: Path, http: int, home: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "visioncast", "--config", str(config), "serve", "--port", str(http),
               "--workers", "2", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            encoding="utf-8", env=cli_env(home))


@needs_lan
def test_beside_a_foreign_broker_the_printed_login_works(tmp_path: Path, data_dir: Path) -> None:
    lan, taken, http = LAN[0], free_port(), free_port()
    config = _config(tmp_path, lan, taken)
    with mosquitto(tmp_path, taken, {"owner": "its-own-password"}, host=lan):
        proc = _serve(config, http, tmp_path)
        (queue, pump), seen = _lines(proc), []
        try:
            moved = _wait_for(queue, "visioncast's broker listens on port", seen)
            assert f"port {taken} is taken by 'mosquitto'" in moved
            assert "a broker whose logins visioncast does not manage" in moved
            port = int(re.search(r"listens on port (\d+) instead", moved).group(1))
            assert port != taken
            _wait_for(queue, f"mqtt://{lan}:{port}  (boards on the same network)", seen)
            user, password = re.search(r"user (\S+)  password (\S+)",
                                       _wait_for(queue, "  user ", seen)).groups()
            reach = _wait_for(queue, "boards can connect:", seen)
            assert f"boards can connect: yes (mqtt://{lan}:{port}" in reach
            _wait_for(queue, "press Ctrl-C to stop", seen)
            assert sum("listens on port" in line for line in seen) == 1  # said once, not twice
            board = Subscriber(port, "visioncast/+/label", user, password, host=lan)
            try:
                files = {"image": ("bus.jpg", (data_dir / "bus.jpg").read_bytes())}
                resp = requests.post(f"http://127.0.0.1:{http}/api/v1/detect", files=files, timeout=WAIT_S)
                assert resp.status_code == 200
                board.wait_for(lambda msgs: any(t == "visioncast/detect/label" for t, _ in msgs))
            finally:
                board.close()
            page = requests.get(f"http://127.0.0.1:{http}/mqtt", timeout=WAIT_S).text
            assert f"<code>{port}</code>" in page
            assert f"<code>{user}</code>" in page
            assert f"<code>{password}</code>" in page
            assert 'class="reach connected" id="boards-reach"' in page
            code = run_cli("--config", config, "board-code", "micropython", "--label", "bus=red",
                           cwd=tmp_path, env=cli_env(tmp_path))
            assert code.returncode == 0, code.stderr
            assert f'PORT = {port}\n' in code.stdout
            assert f'USER = "{user}"  #' in code.stdout
            assert f'PASSWORD = "{password}"\n' in code.stdout
            proc.send_signal(signal.SIGINT)
            assert proc.wait(WAIT_S) == 0
        finally:
            _end(proc, pump)
    rest = list(iter(queue.get_nowait, None))
    assert "stopped the MQTT broker\n" in rest, rest


def test_a_broker_port_given_on_the_command_line_is_kept_or_refused(tmp_path: Path) -> None:
    taken, http = free_port(), free_port()
    config = _config(tmp_path, "127.0.0.1", free_port())
    with mosquitto(tmp_path, taken, {"owner": "its-own-password"}):
        proc = _serve(config, http, tmp_path, "--broker-port", str(taken))
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    errors = [line for line in out.splitlines() if line.startswith("visioncast: error:")]
    assert len(errors) == 1, out
    assert f"port {taken} is taken by 'mosquitto'" in errors[0]
    assert "choose another port with --broker-port, or push to that broker with --mqtt" in errors[0]
    assert "Traceback" not in out


def test_a_taken_http_port_stops_serve_before_the_models_load(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        done = run_cli("serve", "--port", str(port), "--mqtt", "off", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"visioncast: error: port {port} is taken by 'python' "
                                   f"(pid {os.getpid()}): stop it, or choose another port with --port "
                                   f"(e.g. --port {port + 1}; 0 = any free port)")
    assert "models loaded" not in done.stdout


def test_visioncasts_own_broker_already_running_is_used_and_left_running(tmp_path: Path) -> None:
    port, http = free_port(), free_port()
    config = _config(tmp_path, "127.0.0.1", port)
    broker = subprocess.Popen([sys.executable, "-m", "visioncast", "--config", str(config), "broker"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
                              env=cli_env(tmp_path))
    (broker_queue, broker_pump), broker_seen = _lines(broker), []
    try:
        _wait_for(broker_queue, "press Ctrl-C to stop", broker_seen)
        proc = _serve(config, http, tmp_path, "--broker-port", str(port))
        out, _ = proc.communicate(timeout=60) if _stop_when_ready(proc, http) else ("", "")
        assert proc.returncode == 0, out
        assert f"MQTT broker: port {port} already runs visioncast's broker (" in out, out
        assert f"MQTT push to 127.0.0.1:{port} (visioncast's broker, already running; connected)" in out
        assert "stopped the MQTT broker" not in out  # it is not this server's to stop
        assert broker.poll() is None
    finally:
        broker.send_signal(signal.SIGINT)
        broker.wait(WAIT_S)
        broker_pump.join(WAIT_S)
        assert broker.stdout is not None
        broker.stdout.close()


def _stop_when_ready(proc: subprocess.Popen[str], http: int) -> bool:
    """Ctrl-C once the server answers (True), or False when it ended first."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{http}/readyz", timeout=1).ok:
                proc.send_signal(signal.SIGINT)
                return True
        except requests.RequestException:
            time.sleep(0.2)
    return proc.poll() is None
