"""boardcode.generate: each board program filled in and still valid for its toolchain, with the values read
back exactly (Python with ``ast``, C++ string literals compiled by g++, the MakeCode program run by Node with
stand-ins for the OBLOQ extension), whatever quotes, backslashes or Chinese the labels and passwords hold."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.unit.examples.test_board_programs import parse_errors

from visioncast import config
from visioncast.boardcode import (
    BOARDS,
    COLOURS,
    BoardSettings,
    cpp_string,
    default_colours,
    generate,
    label_topic,
    parse_colour,
)
from visioncast.errors import InputError

YELLOW, RED = COLOURS["yellow"], COLOURS["red"]
TRICKY = 'p"a\\s\'s?\n密码'
SETTINGS = BoardSettings(broker="192.0.2.2", port=1884, user="板子", password=TRICKY,
                         topic="visioncast/教室/label", wifi_ssid='教室 "wifi"', wifi_password="x\\y",
                         colours={"开心": YELLOW, "愤怒": RED, 'say "hi"': (1, 2, 3), "none": (0, 0, 0)})
WAIT_S = 10


def python_settings(text: str) -> dict[str, Any]:
    """The module-level constant assignments of a Python program, evaluated as literals."""
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return out


@pytest.mark.parametrize("board", ["micropython", "unihiker-m10"])
def test_python_programs_compile_and_hold_the_settings_exactly(board: str) -> None:
    name, text = generate(board, SETTINGS)
    compile(text, name, "exec")
    values = python_settings(text)
    assert values["BROKER"] == "192.0.2.2"
    assert values["PORT"] == 1884
    assert values["USER"] == "板子"
    assert values["PASSWORD"] == TRICKY
    assert values["TOPIC"] == "visioncast/教室/label"
    assert values["COLOURS"] == dict(SETTINGS.colours)
    if board == "micropython":
        assert name == "main.py"
        assert (values["WIFI_SSID"], values["WIFI_PASSWORD"]) == ('教室 "wifi"', "x\\y")
    else:
        assert "WIFI_SSID" not in values  # the M10 is a Linux computer with its own Wi-Fi settings


def test_the_rest_of_the_python_program_is_the_template() -> None:
    template = Path(__file__).resolve().parents[2] / "src" / "visioncast" / "boards" / "mqtt_led_board.py"
    _, text = generate("micropython", SETTINGS)
    kept = template.read_text(encoding="utf-8").split("OFF = (0, 0, 0)\n", 1)[1]
    assert text.endswith(kept)
    assert python_settings(text)["KEEPALIVE_S"] == 30


def test_wifi_left_out_keeps_the_placeholders() -> None:
    _, text = generate("micropython", BoardSettings(broker="10.0.0.1", colours={"a": RED}))
    assert python_settings(text)["WIFI_SSID"] == "classroom"


def test_arduino_sketch_parses_and_holds_the_table() -> None:
    name, text = generate("esp32-arduino", SETTINGS)
    assert name == "esp32_led.ino"
    assert parse_errors(text.encode("utf-8"), "cpp") == []
    assert "const uint16_t PORT = 1884;" in text
    assert '  {"开心", 255, 200, 0},\n  {"愤怒", 255, 0, 0},\n  {"say \\"hi\\"", 1, 2, 3},' in text
    assert f"const char *PASSWORD = {cpp_string(TRICKY)};" in text


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
@pytest.mark.parametrize("text", [TRICKY, "开心", "a\x01b7", "??=", "\t\\0x", ""])
def test_cpp_string_literals_mean_the_text(text: str, tmp_path: Path) -> None:
    source = tmp_path / "literal.cpp"
    source.write_text(f"#include <cstdio>\nint main() {{ std::fputs({cpp_string(text)}, stdout); }}\n",
                      encoding="utf-8")
    subprocess.run(["g++", "-std=gnu++17", "-o", str(tmp_path / "literal"), str(source)], check=True,
                   timeout=60)
    out = subprocess.run([str(tmp_path / "literal")], capture_output=True, check=True, timeout=WAIT_S)
    assert out.stdout.decode("utf-8") == text


OBLOQ = """
const calls = [];
let callback = null;
const SerialPin = {P1: "P1", P2: "P2"};
const TOPIC = {topic_1: "topic_1"};
const DFRobotWiFiIoTUART = {
  SERVERS: {Siot: "Siot"},
  WIFISetup: (...a) => calls.push(["wifi", ...a]),
  mqttSetup: (...a) => calls.push(["mqtt", ...a]),
  mqttAddTopic: (...a) => calls.push(["topic", ...a]),
  mqttCallbackUserMore: (topic, f) => { callback = f; },
};
const basic = {
  showString: (s) => calls.push(["string", s]),
  showNumber: (n) => calls.push(["number", n]),
  clearScreen: () => calls.push(["clear"]),
};
"""


def test_makecode_program_parses() -> None:
    name, text = generate("microbit-obloq", SETTINGS)
    assert name == "microbit_obloq.ts"
    assert parse_errors(text.encode("utf-8"), "typescript") == []


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_makecode_program_runs_with_the_settings_and_shows_each_label(tmp_path: Path) -> None:
    _, text = generate("microbit-obloq", SETTINGS)
    messages = ["开心", "愤怒", 'say "hi"', "none", "something else"]
    script = tmp_path / "program.js"
    script.write_text(OBLOQ + text + f"\nfor (const m of {json.dumps(messages)}) callback(m);\n"
                      "console.log(JSON.stringify(calls));\n", encoding="utf-8")
    out = subprocess.run(["node", str(script)], capture_output=True, check=True, timeout=WAIT_S,
                         encoding="utf-8")
    calls = json.loads(out.stdout)
    assert calls[:3] == [["wifi", "P1", "P2", '教室 "wifi"', "x\\y"],
                         ["mqtt", "板子", TRICKY, "siot/board", "Siot", "192.0.2.2"],
                         ["topic", "topic_1", "visioncast/教室/label"]]
    # Chinese labels show their number in the table (the 5×5 font has no Chinese); none clears the screen.
    assert calls[3:] == [["number", 1], ["number", 2], ["string", 'say "hi"'], ["clear"], ["clear"]]


@pytest.mark.parametrize(("text", "rgb"), [("yellow", YELLOW), (" Red ", RED), ("#0a0B0c", (10, 11, 12)),
                                           ("off", (0, 0, 0))])
def test_colours_by_name_or_hex(text: str, rgb: tuple[int, int, int]) -> None:
    assert parse_colour(text) == rgb


@pytest.mark.parametrize("text", ["pink", "#12345", "#gggggg", "", "255,0,0"])
def test_unknown_colours_are_named_in_the_error(text: str) -> None:
    with pytest.raises(InputError, match="for label '开心' must be one of red, yellow"):
        parse_colour(text, label="开心")


def test_default_colours_follow_the_palette_and_colour_names() -> None:
    assert default_colours(["开心", "愤怒", "Blue"]) == {"开心": YELLOW, "愤怒": RED, "Blue": COLOURS["blue"]}


@pytest.mark.parametrize(("board", "settings", "message"), [
    ("arduino-uno", SETTINGS, "board must be one of micropython"),
    ("micropython", BoardSettings(broker="h"), "at least one label"),
    ("micropython", BoardSettings(broker="h", colours={" ": RED}), "a label must be"),
    ("micropython", BoardSettings(broker="h", colours={"\ud800": RED}), "a label must be"),
    ("esp32-arduino", BoardSettings(broker="h", colours={"a\x00b": RED}), "a label must be"),
    ("micropython", BoardSettings(broker="", colours={"a": RED}), "broker must not be empty"),
    ("micropython", BoardSettings(broker="h", password="x" * 300, colours={"a": RED}), "password must be"),
    ("micropython", BoardSettings(broker="h", port=0, colours={"a": RED}), "port must be"),
])
def test_bad_settings_are_input_errors(board: str, settings: BoardSettings, message: str) -> None:
    with pytest.raises(InputError, match=message):
        generate(board, settings)


@pytest.mark.parametrize("board", BOARDS)
def test_every_board_keeps_its_template_shape(board: str) -> None:
    """A template edited so that a setting can no longer be found fails here, not in a class."""
    _, text = generate(board, BoardSettings(broker="10.0.0.1", colours={"a": RED}))
    assert "10.0.0.1" in text


@pytest.mark.parametrize(("overrides", "topic"), [
    ({}, "visioncast/teach/label"),
    ({"broker.preset": "siot"}, "siot/teach"),
    ({"mqtt.prefix": "班级"}, "班级/teach/label"),
])
def test_label_topic_follows_the_preset(overrides: dict[str, str], topic: str) -> None:
    assert label_topic(config.load(env={}, overrides=overrides)) == topic
