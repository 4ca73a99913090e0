"""From labels to a board that reacts, for real: the generated MicroPython program runs with the published
umqtt.simple (tests/boards/micropython.py) against a real Mosquitto and against the server's own broker (the
program downloaded from ``POST /api/v1/board-code``, so with the login and address the server filled in);
``visioncast board-code`` runs as a subprocess, from labels and from a model taught with ``visioncast teach``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.boards.micropython import Board
from tests.integration.cli_run import cli_env, run_cli, stderr_lines
from tests.integration.test_board_program import Peer, label_shown
from tests.mqtt_peers import free_port, mosquitto
from tests.teach_samples import class_samples, write_folders

from visioncast import config
from visioncast.boardcode import COLOURS, BoardSettings, generate
from visioncast.broker import board_address, open_broker
from visioncast.config import BrokerConfig
from visioncast.server import create_app
from visioncast.server import mqtt as push

YELLOW, RED, OFF = COLOURS["yellow"], COLOURS["red"], (0, 0, 0)
FAST = {"KEEPALIVE_S": 4, "PING_S": 1, "DEAD_S": 3, "IO_TIMEOUT_S": 2, "BACKOFF_MAX_S": 1,
        "REFUSED_RETRY_S": 1}
TOPIC = "visioncast/教室/label"  # what label_shown publishes on
USER, PASSWORD = "board", 'q"uo\\te-板'


def settings_of(text: str) -> dict[str, Any]:
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return out


def test_the_generated_program_turns_the_led_yellow_on_a_happy_label(tmp_path: Path) -> None:
    port = free_port()
    settings = BoardSettings(broker="127.0.0.1", port=port, user=USER, password=PASSWORD, topic=TOPIC,
                             colours={"开心": YELLOW, "愤怒": RED})
    name, text = generate("micropython", settings)
    program = tmp_path / name
    program.write_text(text, encoding="utf-8")
    with mosquitto(tmp_path, port, {USER: PASSWORD}), Board(program=program, **FAST) as board:
        label_shown(board, Peer(port, (USER, PASSWORD)), "开心", YELLOW)
        label_shown(board, Peer(port, (USER, PASSWORD)), "愤怒", RED)
        label_shown(board, Peer(port, (USER, PASSWORD)), "none", OFF)
    assert "check USER and PASSWORD" not in board.log()


# ---- the API -----------------------------------------------------------------------------------------------
def student(app: Any) -> Any:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.10"  # a LAN caller: a student
    return client


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    cfg = config.load(env={}, overrides={"data_dir": str(tmp_path), "models.cache_dir": str(tmp_path / "c"),
                                         "mqtt.enabled": False})
    app = create_app(cfg)
    yield app
    app.extensions["visioncast"].close()


def test_a_program_downloaded_from_the_server_works_with_its_broker(app: Any, tmp_path: Path) -> None:
    cfg = BrokerConfig(kind="embedded", host="127.0.0.1", port=free_port(), ws_port=0)
    with open_broker(cfg, data_dir=tmp_path) as handle:
        push.start(app, handle)  # what serve does after starting the broker
        answer = student(app).post("/api/v1/board-code", json={
            "board": "micropython", "labels": {"开心": "yellow", "愤怒": "#ff0000"}, "topic": TOPIC,
            "wifi_ssid": "教室"})
        assert answer.status_code == 200, answer.get_json()
        assert answer.headers["Content-Disposition"] == 'attachment; filename="main.py"'
        assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        program = tmp_path / "main.py"
        program.write_bytes(answer.data)
        values = settings_of(answer.data.decode("utf-8"))
        assert (values["BROKER"], values["PORT"]) == ("127.0.0.1", handle.port)
        assert (values["USER"], values["PASSWORD"]) == (handle.username, handle.password)
        assert values["WIFI_SSID"] == "教室"
        assert handle.server_login is not None
        server = Peer(handle.port, (handle.server_login.username, handle.server_login.password))
        with Board(program=program, **FAST) as board:
            label_shown(board, server, "开心", YELLOW)
            label_shown(board, server, "愤怒", RED)


def test_without_a_broker_running_the_program_has_what_serve_would_print(app: Any, tmp_path: Path) -> None:
    answer = student(app).post("/api/v1/board-code",
                               json={"board": "esp32-arduino", "labels": {"开心": "yellow"}})
    assert answer.status_code == 200, answer.get_json()
    assert answer.headers["Content-Disposition"] == 'attachment; filename="esp32_led.ino"'
    text = answer.data.decode("utf-8")
    stored = (tmp_path / "broker-password").read_text(encoding="utf-8").strip()  # the one serve prints
    assert f'const char *PASSWORD = "{stored}";' in text
    assert f'const char *BROKER = "{board_address("0.0.0.0")}";' in text
    assert 'const char *TOPIC = "visioncast/teach/label";' in text


@pytest.mark.parametrize(("body", "message"), [
    ({"board": "micropython", "labels": {"开心": "pink"}}, "colour for label '开心' must be one of"),
    ({"board": "arduino-uno", "labels": {"开心": "red"}}, "board must be one of"),
    ({"board": "micropython", "labels": {}}, "at least one label"),
    ({"board": "micropython", "labels": ["开心"]}, "labels must be an object"),
    ({"board": "micropython", "labels": {"a": "red"}, "port": 1}, "unknown field 'port'"),
    ({"board": 3, "labels": {"a": "red"}}, "board must be a string"),
    ([], "the body must be a JSON object"),
])
def test_bad_requests_are_400_naming_the_problem(app: Any, body: Any, message: str) -> None:
    answer = student(app).post("/api/v1/board-code", json=body)
    assert answer.status_code == 400
    assert message in answer.get_json()["message"]


# ---- the CLI -----------------------------------------------------------------------------------------------
def test_cli_writes_a_program_with_the_boards_login(tmp_path: Path) -> None:
    out = tmp_path / "main.py"
    done = run_cli("board-code", "micropython", "--label", "开心=yellow", "--label", "愤怒=#FF0000",
                   "--wifi", "教室", "--wifi-password", 'a"b', "-o", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    values = settings_of(out.read_text(encoding="utf-8"))
    stored = next(tmp_path.rglob("broker-password")).read_text(encoding="utf-8").strip()
    assert (values["USER"], values["PASSWORD"]) == ("visioncast", stored)
    assert values["COLOURS"] == {"开心": YELLOW, "愤怒": RED}
    assert (values["WIFI_SSID"], values["WIFI_PASSWORD"]) == ("教室", 'a"b')
    assert values["TOPIC"] == "visioncast/teach/label"


def test_cli_takes_the_labels_of_a_taught_model(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    samples = class_samples(6)
    folders = write_folders(tmp_path / "samples", {k: samples[k] for k in ("公交车", "球员")})
    args = [a for label, folder in folders.items() for a in ("--class", f"{label}={folder}")]
    taught = run_cli("teach", "表情", *args, cwd=tmp_path, env=env)
    assert taught.returncode == 0, taught.stderr
    done = run_cli("board-code", "esp32-arduino", "--model", "表情", "--label", "球员=blue",
                   "--broker", "10.1.2.3", "--password", "pw", "--topic", "siot/teach", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert '  {"公交车", 255, 200, 0},\n  {"球员", 0, 0, 255},\n};' in done.stdout  # palette, then --label
    assert 'const char *BROKER = "10.1.2.3";' in done.stdout
    assert 'const char *TOPIC = "siot/teach";' in done.stdout
    wrong = run_cli("board-code", "esp32-arduino", "--model", "表情", "--label", "猫=red", cwd=tmp_path,
                    env=env)
    assert wrong.returncode == 1
    assert "not a label of model '表情'" in wrong.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--label", "开心=pink"], "must be one of red, yellow"),
    (["--label", "开心"], "--label must be LABEL=COLOUR"),
    ([], "give --model NAME or at least one --label"),
    (["--model", "no-such-model"], "no-such-model"),
])
def test_cli_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = run_cli("board-code", "microbit-obloq", *args, cwd=tmp_path)
    assert done.returncode == 1
    lines = stderr_lines(done)
    assert len(lines) == 1
    assert message in lines[0]
