"""boardcode.generate: each board program filled in and still valid for its toolchain, with the values read
back exactly (Python with ``ast``, C++ string literals compiled by g++, the MakeCode program run by Node with
stand-ins for the OBLOQ extension, the pins and the screen), whatever quotes, backslashes or Chinese the
labels, texts and passwords hold."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.unit.examples.test_board_programs import parse_errors

from visioncast.boardcode import (
    BOARDS,
    COLOURS,
    SERVO_PINS,
    Action,
    BoardSettings,
    cpp_string,
    generate,
)
from visioncast.errors import InputError

YELLOW, RED = COLOURS["yellow"], COLOURS["red"]
TRICKY = 'p"a\\s\'s?\n密码'
ACTIONS = {"开心": Action(YELLOW, 90, "你好 :)"), "愤怒": Action(RED, 0),
           'say "hi"': Action((1, 2, 3), None, 'a"b\\'), "none": Action()}
SETTINGS = BoardSettings(broker="192.0.2.2", port=1884, user="板子", password=TRICKY,
                         topic="visioncast/教室/label", wifi_ssid='教室 "wifi"', wifi_password="x\\y",
                         actions=ACTIONS)
OBLOQ_TRICKY = TRICKY.replace("\n", " ")  # the OBLOQ's serial commands cannot carry a line break
OBLOQ_SETTINGS = replace(SETTINGS, password=OBLOQ_TRICKY)
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
    assert values["ACTIONS"] == {"开心": (YELLOW, 90, "你好 :)"), "愤怒": (RED, 0, None),
                                 'say "hi"': ((1, 2, 3), None, 'a"b\\'), "none": ((0, 0, 0), None, None)}
    if board == "micropython":
        assert name == "main.py"
        assert (values["WIFI_SSID"], values["WIFI_PASSWORD"]) == ('教室 "wifi"', "x\\y")
        assert values["SERVO_PIN"] == 13  # the template's
    else:
        assert "WIFI_SSID" not in values  # the M10 is a Linux computer with its own Wi-Fi settings
        assert values["SERVO_PIN"] == 10


@pytest.mark.parametrize(("board", "pin"), [("micropython", 4), ("unihiker-m10", 8)])
def test_the_servo_pin_is_filled_in(board: str, pin: int) -> None:
    _, text = generate(board, BoardSettings(broker="h", actions={"a": Action(servo_deg=5)}, servo_pin=pin))
    assert python_settings(text)["SERVO_PIN"] == pin


def test_the_rest_of_the_python_program_is_the_template() -> None:
    template = Path(__file__).resolve().parents[3] / "src" / "visioncast" / "boards" / "mqtt_led_board.py"
    _, text = generate("micropython", SETTINGS)
    kept = template.read_text(encoding="utf-8").split("OFF = (0, 0, 0)\n", 1)[1]
    assert text.endswith(kept)
    assert python_settings(text)["KEEPALIVE_S"] == 30


def test_wifi_left_out_keeps_the_placeholders() -> None:
    _, text = generate("micropython", BoardSettings(broker="10.0.0.1", actions={"a": Action(RED)}))
    assert python_settings(text)["WIFI_SSID"] == "classroom"


def test_arduino_sketch_parses_and_holds_the_table() -> None:
    name, text = generate("esp32-arduino", SETTINGS)
    assert name == "esp32_led.ino"
    assert parse_errors(text.encode("utf-8"), "cpp") == []
    assert "const uint16_t PORT = 1884;" in text
    assert ('  {"开心", 255, 200, 0, 90, "你好 :)"},\n  {"愤怒", 255, 0, 0, 0, nullptr},\n'
            '  {"say \\"hi\\"", 1, 2, 3, NO_SERVO, "a\\"b\\\\"},\n  {"none", 0, 0, 0, NO_SERVO, nullptr},\n};'
            in text)
    assert f"const char *PASSWORD = {cpp_string(TRICKY)};" in text
    assert "const int SERVO_PIN = 13;" in text
    _, pinned = generate("esp32-arduino", BoardSettings(broker="h", actions={"a": Action()}, servo_pin=18))
    assert "const int SERVO_PIN = 18;" in pinned


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


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
def test_the_arduino_table_and_servo_maths_compile_as_cpp(tmp_path: Path) -> None:
    """The sketch's table, NO_SERVO and turnServo's duty formula, cut out and compiled with g++ (the ESP32
    core itself cannot be installed offline): each row reads back, 0°/90°/180° give 0.5/1.5/2.5 ms."""
    _, text = generate("esp32-arduino", SETTINGS)
    head = text[text.index("const int SERVO_PIN"):text.index("// ---- link watch")]
    source = tmp_path / "table.cpp"
    source.write_text("#include <cstdint>\n#include <cstdio>\n" + head + """
uint32_t dutyOf(int16_t angle) {
  uint32_t pulseUs = SERVO_MIN_US + (SERVO_MAX_US - SERVO_MIN_US) * (uint32_t)angle / 180;
  return pulseUs * 16384 / 20000;
}
int main() {
  for (const Action &a : ACTIONS) std::printf("%s|%d|%d|%d|%d|%s\\n", a.label, a.r, a.g, a.b, a.servo,
                                               a.text ? a.text : "-");
  std::printf("%u %u %u\\n", dutyOf(0), dutyOf(90), dutyOf(180));
}
""", encoding="utf-8")
    subprocess.run(["g++", "-std=gnu++17", "-o", str(tmp_path / "table"), str(source)], check=True,
                   timeout=60)
    out = subprocess.run([str(tmp_path / "table")], capture_output=True, check=True, timeout=WAIT_S)
    lines = out.stdout.decode("utf-8").splitlines()
    assert lines == ["开心|255|200|0|90|你好 :)", "愤怒|255|0|0|0|-", 'say "hi"|1|2|3|-1|a"b\\',
                     "none|0|0|0|-1|-", " ".join(str(us * 16384 // 20000) for us in (500, 1500, 2500))]
    assert "if (a->servo != NO_SERVO) turnServo(a->servo);" in text


OBLOQ = """
const calls = [];
const callbacks = {};
let forever = null;
let now = 0;
const SerialPin = {P1: "P1", P2: "P2"};
const TOPIC = {topic_1: "topic_1", topic_2: "topic_2"};
const AnalogPin = new Proxy({}, {get: (_t, name) => name});
const IconNames = new Proxy({}, {get: (_t, name) => name});
const DFRobotWiFiIoTUART = {
  SERVERS: {Siot: "Siot"},
  WIFISetup: (...a) => calls.push(["wifi", ...a]),
  mqttSetup: (...a) => calls.push(["mqtt", ...a]),
  mqttAddTopic: (...a) => calls.push(["topic", ...a]),
  mqttCallbackUserMore: (topic, f) => { callbacks[topic] = f; },
  mqttSendMessageMore: (message, topic) => calls.push(["send", message, topic]),
};
const control = {deviceSerialNumber: () => 1234};
const input = {runningTime: () => now};
const pins = {servoWritePin: (pin, angle) => calls.push(["servo", pin, angle])};
const basic = {
  showString: (s) => calls.push(["string", s]),
  showNumber: (n) => calls.push(["number", n]),
  showIcon: (i) => calls.push(["icon", i]),
  showLeds: (_leds) => calls.push(["leds"]),
  clearScreen: () => calls.push(["clear"]),
  forever: (f) => { forever = f; },
  pause: (ms) => { now += ms; },
};
"""
ANSWERING = """
for (const m of MESSAGES) { callbacks.topic_1(m); forever(); }
"""


def as_javascript(text: str) -> str:
    """The MakeCode TypeScript as JavaScript for Node: the parameter types of its function declarations
    dropped (the only TypeScript it has; tree-sitter checks it as TypeScript)."""
    return re.sub(r"^function \w+\(.*\) \{$",
                  lambda m: re.sub(r"(\w+): (?:string|boolean|number)\b", r"\1", m.group(0)), text,
                  flags=re.MULTILINE)


def run_makecode(text: str, messages: list[str], tmp_path: Path, script: str = ANSWERING) -> list[list[Any]]:
    """The calls the program makes when it starts and then, by default, receives each of ``messages`` and
    runs its forever loop once (``script``: other JavaScript driving ``callbacks``, ``forever`` and
    ``now``)."""
    path = tmp_path / "program.js"
    path.write_text(OBLOQ + as_javascript(text) + f"\nconst MESSAGES = {json.dumps(messages)};\n" + script
                    + "\nconsole.log(JSON.stringify(calls));\n", encoding="utf-8")
    out = subprocess.run(["node", str(path)], capture_output=True, check=True, timeout=WAIT_S,
                         encoding="utf-8")
    return json.loads(out.stdout)


def test_makecode_program_parses() -> None:
    name, text = generate("microbit-obloq", OBLOQ_SETTINGS)
    assert name == "microbit_obloq.ts"
    assert parse_errors(text.encode("utf-8"), "typescript") == []
    assert "if (turn) pins.servoWritePin(AnalogPin.P0, 90)" in text
    assert text.splitlines()[1:6] == [  # what its screen shows, in a comment at the top
        "// The micro:bit has no RGB LED (the colours are ignored). What its screen shows:",
        '//   "开心" → icon Happy', '//   "愤怒" → icon Angry',
        '//   "say \\"hi\\"" → text "a\\"b\\\\"',
        '//   "none" → clear']


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_makecode_program_runs_with_the_settings_and_acts_on_each_label(tmp_path: Path) -> None:
    _, text = generate("microbit-obloq", OBLOQ_SETTINGS)
    calls = run_makecode(text, ["开心", "愤怒", 'say "hi"', "none", "something else"], tmp_path)
    assert calls[:4] == [["wifi", "P1", "P2", '教室 "wifi"', "x\\y"],
                         ["mqtt", "板子", OBLOQ_TRICKY, "siot/board", "Siot", "192.0.2.2"],
                         ["topic", "topic_1", "visioncast/教室/label"],
                         ["topic", "topic_2", "board/mb-1234/ping"]]
    # The servo turns before the screen changes; Chinese labels show an icon that means them, an ASCII text
    # is shown as given; none and anything else clear the screen and leave the servo alone.
    assert calls[4:] == [["servo", "P0", 90], ["icon", "Happy"], ["servo", "P0", 0], ["icon", "Angry"],
                         ["string", 'a"b\\'], ["clear"], ["clear"]]


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_a_table_without_angles_never_drives_a_servo(tmp_path: Path) -> None:
    settings = BoardSettings(broker="h", actions={"开心": Action(YELLOW), "a": Action(text="A")}, servo_pin=8)
    _, makecode = generate("microbit-obloq", settings)
    assert "pins.servoWritePin(" not in makecode
    assert [c for c in run_makecode(makecode, ["开心", "a"], tmp_path) if c[0] == "servo"] == []
    _, pinned = generate("microbit-obloq", BoardSettings(broker="h", actions={"a": Action(servo_deg=30)},
                                                         servo_pin=8))
    assert [c for c in run_makecode(pinned, ["a"], tmp_path) if c[0] == "servo"] == [["servo", "P8", 30]]


@pytest.mark.parametrize(("board", "settings", "message"), [
    ("arduino-uno", SETTINGS, "board must be one of micropython"),
    ("micropython", BoardSettings(broker="h"), "at least one label"),
    ("micropython", BoardSettings(broker="h", actions={" ": Action(RED)}), "a label must be"),
    ("micropython", BoardSettings(broker="h", actions={"\ud800": Action(RED)}), "a label must be"),
    ("esp32-arduino", BoardSettings(broker="h", actions={"a\x00b": Action(RED)}), "a label must be"),
    ("micropython", BoardSettings(broker="", actions={"a": Action(RED)}), "broker must not be empty"),
    ("micropython", BoardSettings(broker="h", password="x" * 300, actions={"a": Action(RED)}),
     "password must be"),
    ("micropython", BoardSettings(broker="h", port=0, actions={"a": Action(RED)}), "port must be"),
    ("micropython", BoardSettings(broker="h", actions={"a": Action((256, 0, 0))}), "three integers 0–255"),
    ("micropython", BoardSettings(broker="h", actions={"a": Action(servo_deg=200)}), "must be 0–180"),
    ("esp32-arduino", BoardSettings(broker="h", actions={"a": Action(servo_deg=90.0)}),  # type: ignore[arg-type]
     "must be whole degrees, got 90.0"),
    ("micropython", BoardSettings(broker="h", actions={"a": Action(text="")}), "must not be empty"),
    ("micropython", BoardSettings(broker="h", actions={"a": Action(text="x\ny")}), "one line of text"),
    ("micropython", BoardSettings(broker="h", actions={"a": Action()}, servo_pin=25),
     "servo pin for micropython must be one of 0, 1, 3"),
    ("esp32-arduino", BoardSettings(broker="h", actions={"a": Action()}, servo_pin=34),
     "servo pin for esp32-arduino must be one of"),
    ("unihiker-m10", BoardSettings(broker="h", actions={"a": Action()}, servo_pin=21),
     "servo pin for unihiker-m10 must be one of 0, 2, 3, 8, 9, 10, 16, got 21"),
    ("microbit-obloq", BoardSettings(broker="h", actions={"a": Action()}, servo_pin=1),
     "servo pin for microbit-obloq must be one of 0, 8, 12"),
    ("microbit-obloq", SETTINGS, r"password for the micro:bit \+ OBLOQ must not hold '\\n'"),
    ("microbit-obloq", BoardSettings(broker="h", actions={"a|b": Action()}),
     r"label 'a\|b' for the micro:bit \+ OBLOQ must not hold '\|'"),
    ("microbit-obloq", BoardSettings(broker="h", wifi_ssid="a,b", actions={"a": Action()}),
     "wifi_ssid for the micro:bit"),
])
def test_bad_settings_are_input_errors(board: str, settings: BoardSettings, message: str) -> None:
    with pytest.raises(InputError, match=message):
        generate(board, settings)


@pytest.mark.parametrize("board", BOARDS)
def test_every_board_keeps_its_template_shape(board: str) -> None:
    """A template edited so that a setting can no longer be found fails here, not in a class."""
    pin = SERVO_PINS[board][-1]
    _, text = generate(board, BoardSettings(broker="10.0.0.1", actions={"a": Action(RED, 45)}, servo_pin=pin))
    assert "10.0.0.1" in text
    assert str(pin) in text
