"""From labels to a board that reacts, for real: the generated MicroPython program runs with the published
umqtt.simple (tests/boards/micropython.py) against a real Mosquitto and against the server's own broker (the
program downloaded from ``POST /api/v1/board-code``, so with the login and address the server filled in),
and the LED, the servo's PWM duty and the K10 screen are read back; the generated M10 program runs with the
real paho (tests/boards/unihiker.py); when the push goes to another broker the downloaded program connects
there and follows what the server publishes; ``visioncast board-code`` runs as a subprocess, from labels and
from a model taught with ``visioncast teach``.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.boards.micropython import Board
from tests.boards.unihiker import M10
from tests.integration.cli_run import cli_env, run_cli, stderr_lines
from tests.integration.test_board_program import Peer, connected, label_shown, publish
from tests.mqtt_peers import free_port, mosquitto
from tests.teach_samples import class_samples, write_folders

from visioncast import config
from visioncast.boardcode import COLOURS, Action, BoardSettings, generate
from visioncast.broker import open_broker
from visioncast.config import BrokerConfig
from visioncast.network import board_address
from visioncast.server.app import create_app
from visioncast.server.push import routes as push

YELLOW, RED, OFF = COLOURS["yellow"], COLOURS["red"], (0, 0, 0)
FAST = {"KEEPALIVE_S": 4, "PING_S": 1, "PING_WAIT_S": 1, "DEAD_S": 3, "IO_TIMEOUT_S": 2, "BACKOFF_MAX_S": 1,
        "REFUSED_RETRY_S": 1}
TOPIC = "visioncast/教室/label"  # what label_shown publishes on
USER, PASSWORD = "board", 'q"uo\\te-板'


def duty_of(angle: float) -> int:
    """duty_u16 of a 50 Hz servo pulse of 0.5 ms at 0° … 2.5 ms at 180° (the program's documented range)."""
    return int((0.5 + 2.0 * angle / 180) / 20 * 65535)


def acted_on(board: Board, peer: Peer, label: str, what: str, done: Callable[[], bool]) -> None:
    """Publish ``label`` until ``done()`` (the first may race with the board's SUBSCRIBE)."""
    board.wait_until("connected", lambda: connected(board))
    for _ in range(20):
        publish(peer, label)
        try:
            board.wait_until(what, done, timeout_s=0.5)
            return
        except TimeoutError:
            continue
    raise AssertionError(f"label {label!r} never led to {what}\n{board.log()}")


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
                             actions={"开心": Action(YELLOW), "愤怒": Action(RED)})
    name, text = generate("micropython", settings)
    program = tmp_path / name
    program.write_text(text, encoding="utf-8")
    with mosquitto(tmp_path, port, {USER: PASSWORD}), Board(program=program, **FAST) as board:
        label_shown(board, Peer(port, (USER, PASSWORD)), "开心", YELLOW)
        label_shown(board, Peer(port, (USER, PASSWORD)), "愤怒", RED)
        label_shown(board, Peer(port, (USER, PASSWORD)), "none", OFF)
    assert "check USER and PASSWORD" not in board.log()
    # No label has an angle: nothing was ever made on the servo pin, and no PWM at a servo's 50 Hz.
    assert board.duty_u16_of(board.program.SERVO_PIN) is None
    assert [p.freq for p in board.pwms] == [1000, 1000, 1000]


def test_the_generated_program_turns_the_servo_and_shows_the_text(tmp_path: Path) -> None:
    """On a K10 (its screen module present): the LED, the servo's duty_u16 on its pin and the screen follow
    the table; a label without an angle leaves the servo where it is."""
    port = free_port()
    actions = {"开心": Action(YELLOW, 90, "你好 :)"), "愤怒": Action(RED, 0), "举手": Action(text="hands up")}
    settings = BoardSettings(broker="127.0.0.1", port=port, user=USER, password=PASSWORD, topic=TOPIC,
                             servo_pin=4, actions=actions)
    name, text = generate("micropython", settings)
    program = tmp_path / name
    program.write_text(text, encoding="utf-8")
    peer = Peer(port, (USER, PASSWORD))
    with mosquitto(tmp_path, port, {USER: PASSWORD}), Board(program=program, k10=True, **FAST) as board:
        board.wait_until("connected", lambda: connected(board))
        assert board.duty_u16_of(4) is None  # not driven before a label with an angle
        screen = board.screen
        assert screen is not None

        def state() -> tuple[Any, ...]:
            return board.rgb, board.duty_u16_of(4), screen.shown

        acted_on(board, peer, "开心", "yellow, 90°, 你好",
                 lambda: state() == (YELLOW, duty_of(90), ["你好 :)"]))
        acted_on(board, peer, "愤怒", "red, 0°, the label", lambda: state() == (RED, duty_of(0), ["愤怒"]))
        acted_on(board, peer, "举手", "off, servo kept, hands up",
                 lambda: state() == (OFF, duty_of(0), ["hands up"]))
        acted_on(board, peer, "猫", "an unknown label: off, servo kept, the label",
                 lambda: state() == (OFF, duty_of(0), ["猫"]))
    assert [p.freq for p in board.pwms if p.pin.number == 4] == [50]
    assert "text 你好 :)" in board.log()  # the serial console too


def test_the_generated_m10_program_turns_the_servo_and_shows_the_text(tmp_path: Path) -> None:
    port = free_port()
    settings = BoardSettings(broker="127.0.0.1", port=port, user=USER, password=PASSWORD, topic=TOPIC,
                             servo_pin=8, actions={"开心": Action(YELLOW, 120, "你好"), "愤怒": Action(RED)})
    name, text = generate("unihiker-m10", settings)
    program = tmp_path / name
    program.write_text(text, encoding="utf-8")
    with mosquitto(tmp_path, port, {USER: PASSWORD}), \
            M10(program=program, KEEPALIVE_S=4, RECONNECT_MAX_S=1, PING_S=1) as m10:
        m10.wait_until("connected", lambda: m10.status_led == 1)
        for _ in range(20):
            publish(Peer(port, (USER, PASSWORD)), "开心")
            try:
                m10.wait_until("yellow, 120°, 你好", lambda: (m10.rgb, m10.servo, m10.text) == (
                    YELLOW, {8: 120}, "你好"), timeout_s=0.5)
                break
            except TimeoutError:
                continue
        publish(Peer(port, (USER, PASSWORD)), "愤怒")
        m10.wait_until("red, servo kept, the label", lambda: (m10.rgb, m10.servo, m10.text) == (
            RED, {8: 120}, "愤怒"))


# ---- the API -----------------------------------------------------------------------------------------------
def student(app: Any) -> Any:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.10"  # a LAN caller: a student
    return client


@pytest.fixture
def app(tmp_path: Path, make_app: Any) -> Any:
    return make_app(models__cache_dir=str(tmp_path / "c"), broker__enabled=True)


def test_a_program_downloaded_from_the_server_works_with_its_broker(app: Any, tmp_path: Path) -> None:
    cfg = BrokerConfig(kind="embedded", host="127.0.0.1", port=free_port(), ws_port=0)
    with open_broker(cfg, data_dir=tmp_path) as handle:
        push.start(app, handle)  # what serve does after starting the broker
        answer = student(app).post("/api/v1/board-code", json={
            "board": "micropython", "labels": {"开心": {"colour": "yellow", "servo": 45}, "愤怒": "#ff0000"},
            "topic": TOPIC, "wifi_ssid": "教室"})
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
            assert board.duty_u16_of(board.program.SERVO_PIN) == duty_of(45)
            label_shown(board, server, "愤怒", RED)
        assert json.loads(answer.headers["X-Board-Program"]) == {
            "broker": "127.0.0.1", "port": handle.port, "topic": TOPIC, "login": True, "push": False}


def test_without_a_broker_running_the_program_has_what_serve_would_print(app: Any, tmp_path: Path) -> None:
    answer = student(app).post("/api/v1/board-code",
                               json={"board": "esp32-arduino", "labels": {"开心": "yellow"}})
    assert answer.status_code == 200, answer.get_json()
    assert answer.headers["Content-Disposition"] == 'attachment; filename="esp32_led.ino"'
    text = answer.data.decode("utf-8")
    stored = (tmp_path / "broker-password").read_text(encoding="utf-8").strip()  # the one serve prints
    assert f'const char *PASSWORD = "{stored}";' in text
    assert f'const char *BROKER = "{board_address("0.0.0.0")}";' in text
    assert 'const char *TOPIC = "visioncast/teach@192-0-2-10/label";' in text  # the student's own tries


def test_the_micro_bit_program_says_what_it_shows(app: Any) -> None:
    answer = student(app).post("/api/v1/board-code", json={
        "board": "microbit-obloq", "source": "webcam",
        "labels": {"开心": {"servo": 30}, "愤怒": "red", "wave": {"text": "hi"}, "none": "off"}})
    assert answer.status_code == 200, answer.get_json()
    info = json.loads(answer.headers["X-Board-Program"])  # ASCII JSON: a header holds no Chinese as is
    assert info["topic"] == "visioncast/webcam@192-0-2-10/label"  # what this student's webcam page publishes
    assert info["shows"] == {"开心": {"kind": "icon", "value": "Happy"},
                             "愤怒": {"kind": "icon", "value": "Angry"},
                             "wave": {"kind": "text", "value": "hi"}, "none": {"kind": "clear", "value": ""}}
    text = answer.data.decode("utf-8")
    assert "pins.servoWritePin(AnalogPin.P0, 30)\n        basic.showIcon(IconNames.Happy)" in text
    assert 'DFRobotWiFiIoTUART.mqttAddTopic(TOPIC.topic_1, "visioncast/webcam@192-0-2-10/label")' in text


def test_the_table_holds_what_the_push_sends(tmp_path: Path) -> None:
    cfg = config.load(env={}, overrides={"data_dir": str(tmp_path), "models.cache_dir": str(tmp_path / "c"),
                                         "mqtt.enabled": False, "mqtt.label_map": ["开心=yellow", "愤怒=red"],
                                         "mqtt.source": "一班"})
    app = create_app(cfg)
    try:
        answer = student(app).post("/api/v1/board-code", json={"board": "micropython", "labels": {
            "开心": {"colour": "yellow", "servo": 10}, "举手": {"text": "手"}}})
        assert answer.status_code == 200, answer.get_json()
        values = settings_of(answer.data.decode("utf-8"))
        assert values["ACTIONS"] == {"yellow": (YELLOW, 10, None), "举手": (OFF, None, "手")}
        assert values["TOPIC"] == "visioncast/一班/label"  # mqtt.source names every source
        as_is = student(app).post("/api/v1/board-code", json={"board": "micropython", "topic": "t/x",
                                                              "labels": {"开心": "yellow"}})
        assert settings_of(as_is.data.decode("utf-8"))["ACTIONS"] == {"开心": (YELLOW, None, None)}
        microbit = student(app).post("/api/v1/board-code", json={"board": "microbit-obloq", "labels": {
            "开心": "yellow", "举手": "red"}})
        program = microbit.data.decode("utf-8")
        assert 'if (message == "yellow") {\n        basic.showString("yellow")' in program
        assert json.loads(microbit.headers["X-Board-Program"])["shows"] == {  # by the labels the page gave
            "开心": {"kind": "text", "value": "yellow"}, "举手": {"kind": "icon", "value": "StickFigure"}}
    finally:
        app.extensions["visioncast"].close()


CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def test_when_the_push_goes_to_another_broker_the_program_follows_it_there(tmp_path: Path,
                                                                            data_dir: Path) -> None:
    """The push goes to a Mosquitto of its own (mqtt.host/port), with a label map: the downloaded program
    names that broker, carries no login of the server's, keys its table by the mapped messages, and the board
    turns its servo to the angle of the label the server's classify answers and publishes there."""
    port = free_port()
    cfg = config.load(env={}, overrides={
        "data_dir": str(tmp_path), "models.cache_dir": str(tmp_path / "c"), "mqtt.host": "127.0.0.1",
        "mqtt.port": port, "broker.port": free_port(),
        "server.shared_sources": ["教室"],  # the teacher lets the class drive this board
        "mqtt.label_map": [f"{c}={c.upper()}" for c in CIFAR10]})
    app = create_app(cfg)
    try:
        body = {"board": "micropython", "source": "教室",
                "labels": {c: {"servo": 10 + 15 * i, "text": c} for i, c in enumerate(CIFAR10)}}
        answer = student(app).post("/api/v1/board-code", json=body)
        assert answer.status_code == 200, answer.get_json()
        values = settings_of(answer.data.decode("utf-8"))
        assert (values["BROKER"], values["PORT"]) == ("127.0.0.1", port)
        assert (values["USER"], values["PASSWORD"]) == ("", "")
        assert values["TOPIC"] == "visioncast/教室/label"
        assert set(values["ACTIONS"]) == {c.upper() for c in CIFAR10}
        program = tmp_path / "main.py"
        program.write_bytes(answer.data)
        bus = (data_dir / "bus.jpg").read_bytes()
        with mosquitto(tmp_path, port), Board(program=program, **FAST) as board:
            push.start(app, None)  # what serve does: the push connects to the configured broker
            board.wait_until("connected", lambda: connected(board))
            for _ in range(20):
                top = student(app).post("/api/v1/classify?source=教室", data=bus).get_json()["predictions"][0]
                label = top["label"]
                duty = duty_of(10 + 15 * CIFAR10.index(label))
                try:
                    board.wait_until(f"servo at the angle of {label}", lambda d=duty: board.duty_u16_of(
                        board.program.SERVO_PIN) == d, timeout_s=0.5)
                    break
                except TimeoutError:
                    continue
            else:
                raise AssertionError(f"the board never turned to {label!r}\n{board.log()}")
            assert f"text {label}" in board.log()
            push.stop(app)
    finally:
        app.extensions["visioncast"].close()


@pytest.mark.parametrize(("body", "message"), [
    ({"board": "micropython", "labels": {"开心": "pink"}}, "colour for label '开心' must be one of"),
    ({"board": "arduino-uno", "labels": {"开心": "red"}}, "board must be one of"),
    ({"board": "micropython", "labels": {}}, "at least one label"),
    ({"board": "micropython", "labels": ["开心"]}, "labels must be an object"),
    ({"board": "micropython", "labels": {"a": "red"}, "port": 1}, "unknown field 'port'"),
    ({"board": 3, "labels": {"a": "red"}}, "board must be a string"),
    ([], "the body must be a JSON object"),
    ({"board": "micropython", "labels": {"开心": {"servo": "up"}}},
     "servo angle for label '开心' must be a number of degrees 0–180, got 'up'"),
    ({"board": "micropython", "labels": {"开心": {"servo": -5}}},
     "servo angle for label '开心' must be 0–180 degrees, got -5"),
    ({"board": "micropython", "labels": {"开心": {"servo": 181}}},
     "servo angle for label '开心' must be 0–180 degrees, got 181"),
    ({"board": "micropython", "labels": {"开心": {"servo": True}}}, "must be a number of degrees"),
    ({"board": "micropython", "labels": {"开心": {"color": "red"}}},
     "unknown key 'color' for label '开心'; known: colour, servo, text"),
    ({"board": "micropython", "labels": {"开心": {"text": "长" * 65}}},
     "text for label '开心' must be at most 64 characters, got 65"),
    ({"board": "micropython", "labels": {"开心": {"text": "a\nb"}}}, "one line of text"),
    ({"board": "micropython", "labels": {"开心": 5}}, "label '开心' must map to a colour or an object"),
    ({"board": "micropython", "labels": {"a": "red"}, "servo_pin": "13"}, "servo_pin must be an integer"),
    ({"board": "unihiker-m10", "labels": {"a": "red"}, "servo_pin": 22},
     "servo pin for unihiker-m10 must be one of 0, 2, 3, 8, 9, 10, 16, got 22"),
    ({"board": "micropython", "labels": {"a": "red"}, "source": "a/b"}, "source must be 1–64 characters"),
])
def test_bad_requests_are_400_naming_the_problem(app: Any, body: Any, message: str) -> None:
    answer = student(app).post("/api/v1/board-code", json=body)
    assert answer.status_code == 400
    assert message in answer.get_json()["message"]


# ---- the CLI -----------------------------------------------------------------------------------------------
def test_cli_writes_a_program_with_the_boards_login(tmp_path: Path) -> None:
    out = tmp_path / "main.py"
    done = run_cli("board-code", "micropython", "--label", "开心=yellow", "--label", "愤怒=#FF0000",
                   "--servo", "开心=90", "--text", "开心=a=b 你好", "--servo", "举手=180", "--servo-pin", "4",
                   "--wifi", "教室", "--wifi-password", 'a"b', "-o", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    assert "开心 #ffc800 servo 90° text 'a=b 你好', 愤怒 #ff0000, 举手 #000000 servo 180°" in done.stdout
    values = settings_of(out.read_text(encoding="utf-8"))
    stored = next(tmp_path.rglob("broker-password")).read_text(encoding="utf-8").strip()
    assert (values["USER"], values["PASSWORD"]) == ("visioncast", stored)
    assert values["ACTIONS"] == {"开心": (YELLOW, 90, "a=b 你好"), "愤怒": (RED, None, None),
                                 "举手": (OFF, 180, None)}
    assert values["SERVO_PIN"] == 4
    assert (values["WIFI_SSID"], values["WIFI_PASSWORD"]) == ("教室", 'a"b')
    assert values["TOPIC"] == "visioncast/teach/label"


def test_cli_follows_the_push_to_another_broker_and_says_what_is_missing(tmp_path: Path) -> None:
    env = cli_env(tmp_path, VISIONCAST_MQTT__HOST="10.9.8.7", VISIONCAST_MQTT__PORT="1999",
                  VISIONCAST_MQTT__USERNAME="server", VISIONCAST_MQTT__PASSWORD="server-secret")
    done = run_cli("board-code", "micropython", "--label", "开心=yellow", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    values = settings_of(done.stdout)
    assert (values["BROKER"], values["PORT"]) == ("10.9.8.7", 1999)
    assert (values["USER"], values["PASSWORD"]) == ("", "")  # never the server's own login
    assert "server-secret" not in done.stdout
    assert stderr_lines(done) == ["visioncast: note: the push goes to 10.9.8.7:1999: give the boards' login "
                                  "there with --user/--password"]
    given = run_cli("board-code", "micropython", "--label", "开心=yellow", "--user", "b", "--password", "p",
                    cwd=tmp_path, env={**env, "VISIONCAST_MQTT__ENABLED": "false"})
    assert (settings_of(given.stdout)["USER"], settings_of(given.stdout)["PASSWORD"]) == ("b", "p")
    assert stderr_lines(given) == ["visioncast: note: the push is off (mqtt.enabled = false): boards get no "
                                   "labels until it is on"]


def test_cli_says_what_the_micro_bit_shows(tmp_path: Path) -> None:
    env = cli_env(tmp_path, VISIONCAST_BROKER__PORT=str(free_port()))  # never the machine's 1883
    done = run_cli("board-code", "microbit-obloq", "--label", "开心=yellow", "--label", "苹果=red",
                   "--text", "苹果=apple", "--label", "香蕉=off", "--source", "webcam", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert 'mqttAddTopic(TOPIC.topic_1, "visioncast/webcam/label")' in done.stdout
    assert stderr_lines(done) == ["micro:bit shows 开心: icon Happy, 苹果: text apple, 香蕉: icon Sad"]


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
    assert ('  {"公交车", 255, 200, 0, NO_SERVO, nullptr},\n  {"球员", 0, 0, 255, NO_SERVO, nullptr},\n};'
            in done.stdout)  # palette, then --label
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
    (["--servo", "开心=up"], "servo angle for label '开心' must be a number of degrees 0–180, got 'up'"),
    (["--servo", "开心=-1"], "servo angle for label '开心' must be 0–180 degrees, got '-1'"),
    (["--servo", "开心=200"], "servo angle for label '开心' must be 0–180 degrees, got '200'"),
    (["--servo", "90"], "--servo must be LABEL=ANGLE"),
    (["--text", "开心=" + "长" * 65], "text for label '开心' must be at most 64 characters, got 65"),
    (["--text", "开心"], "--text must be LABEL=TEXT"),
    (["--label", "a=red", "--servo-pin", "1"], "servo pin for microbit-obloq must be one of 0, 8, 12"),
    (["--label", "a=red", "--source", "a b"], "source must be 1–64 characters"),
])
def test_cli_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = run_cli("board-code", "microbit-obloq", *args, cwd=tmp_path)
    assert done.returncode == 1
    lines = stderr_lines(done)
    assert len(lines) == 1
    assert message in lines[0]


def test_cli_wifi_without_its_password_is_refused_not_a_placeholder(tmp_path: Path) -> None:
    env = cli_env(tmp_path, VISIONCAST_BROKER__PORT=str(free_port()))
    args = ("board-code", "micropython", "--label", "开心=yellow", "--wifi", "教室")
    done = run_cli(*args, cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert stderr_lines(done) == ["visioncast: error: --wifi '教室' needs --wifi-password ('' for an open "
                                  "network)"]
    open_net = run_cli(*args, "--wifi-password", "", cwd=tmp_path, env=env)
    assert open_net.returncode == 0, open_net.stderr
    assert 'WIFI_PASSWORD = ""' in open_net.stdout
    assert "wifi-password" not in open_net.stdout
