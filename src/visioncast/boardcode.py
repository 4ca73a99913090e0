"""Board programs made ready to flash: the package's board programs (``visioncast/boards/``, the programs of
examples/) with a class's broker address, login, topic, Wi-Fi and label → colour table filled in.

Pure apart from reading the templates. Each language gets its own literal syntax: Python settings are found
with ``ast`` (so a multi-line ``COLOURS`` dict is replaced whole) and written as double-quoted literals; the
Arduino sketch's settings and ``COLOURS`` array are C++ string literals (quotes, backslashes and control
characters escaped, UTF-8 kept); the MakeCode program's setup calls and label chain are JavaScript strings
(JSON). The micro:bit has no RGB LED: it shows the label text (its 5×5 font has no Chinese, so a label that is
not plain ASCII shows its number in the table instead) and clears the screen on ``none``.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources

from visioncast.config import Config
from visioncast.errors import InputError
from visioncast.sinks import mqtt_format as fmt

RGB = tuple[int, int, int]
COLOURS: dict[str, RGB] = {
    "red": (255, 0, 0), "yellow": (255, 200, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
    "purple": (128, 0, 128), "white": (255, 255, 255), "orange": (255, 100, 0), "cyan": (0, 255, 255),
    "off": (0, 0, 0),
}
PALETTE = ("yellow", "red", "green", "blue", "cyan", "orange", "white", "purple")  # a model's labels in turn
TEMPLATES = {  # board → (template under visioncast/boards/, file name to save it as)
    "micropython": ("mqtt_led_board.py", "main.py"),
    "unihiker-m10": ("unihiker_m10.py", "unihiker_m10.py"),
    "esp32-arduino": ("esp32_led/esp32_led.ino", "esp32_led.ino"),
    "microbit-obloq": ("microbit_obloq.ts", "microbit_obloq.ts"),
}
BOARDS = tuple(TEMPLATES)
MAX_LABELS = 100
MAX_TEXT = 256
_HEX = re.compile(r"#([0-9a-fA-F]{6})")


@dataclass(frozen=True)
class BoardSettings:
    """What a board program needs to know. ``wifi_ssid``/``wifi_password`` None keep the template's
    placeholders; ``colours`` is label → (r, g, b) 0–255, in the order the labels should be listed."""

    broker: str
    port: int = 1883
    user: str = ""
    password: str = ""
    topic: str = "visioncast/teach/label"
    wifi_ssid: str | None = None
    wifi_password: str | None = None
    colours: Mapping[str, RGB] = field(default_factory=dict)


def parse_colour(text: str, *, label: str = "") -> RGB:
    """A colour name of :data:`COLOURS` or ``#rrggbb`` → (r, g, b); InputError naming the label otherwise."""
    name = text.strip().lower()
    if name in COLOURS:
        return COLOURS[name]
    match = _HEX.fullmatch(name)
    if match:
        value = int(match.group(1), 16)
        return (value >> 16, (value >> 8) & 0xFF, value & 0xFF)
    where = f" for label {label!r}" if label else ""
    raise InputError(f"colour{where} must be one of {', '.join(COLOURS)} or #rrggbb, got {text!r}")


def default_colours(labels: Iterable[str]) -> dict[str, RGB]:
    """Each label a colour of :data:`PALETTE` in turn (a label named like a colour, e.g. "red", gets it)."""
    out: dict[str, RGB] = {}
    for i, label in enumerate(labels):
        name = label.strip().lower()
        out[label] = COLOURS[name] if name in COLOURS else COLOURS[PALETTE[i % len(PALETTE)]]
    return out


def label_topic(cfg: Config, source: str = "teach") -> str:
    """The topic the server publishes ``source``'s label on under ``cfg``'s preset (``teach``: the /teach
    page's tries); InputError under a preset that publishes no label."""
    topic = fmt.topic(fmt.with_broker_preset(cfg.mqtt, cfg.broker.preset), "label", source)
    if topic is None:
        raise InputError(f"MQTT preset {cfg.mqtt.preset!r} publishes no label topic: give the topic")
    return topic


def generate(board: str, settings: BoardSettings) -> tuple[str, str]:
    """(file name, program text) of ``board``'s program with ``settings`` filled in. InputError for an
    unknown board, no labels, too many, or an empty or too long text."""
    if board not in TEMPLATES:
        raise InputError(f"board must be one of {', '.join(BOARDS)}, got {board!r}")
    _check(settings)
    template, file_name = TEMPLATES[board]
    path = resources.files("visioncast") / "boards"
    for part in template.split("/"):  # one part at a time: Python 3.10's Traversable.joinpath takes one
        path = path / part
    source = path.read_text(encoding="utf-8")
    return file_name, _FILLERS[board](source, settings)


def _check(settings: BoardSettings) -> None:
    if not settings.colours:
        raise InputError("give at least one label and its colour, e.g. 开心=yellow")
    if len(settings.colours) > MAX_LABELS:
        raise InputError(f"at most {MAX_LABELS} labels, got {len(settings.colours)}")
    for label in settings.colours:
        if not label.strip() or len(label) > MAX_TEXT or "\x00" in label or not _encodable(label):
            raise InputError(f"a label must be 1 to {MAX_TEXT} characters of text without NUL, got {label!r}")
    texts = {"broker": settings.broker, "topic": settings.topic, "user": settings.user,
             "password": settings.password, "wifi_ssid": settings.wifi_ssid or "",
             "wifi_password": settings.wifi_password or ""}
    for name, text in texts.items():
        if len(text) > MAX_TEXT or "\x00" in text or not _encodable(text):
            raise InputError(f"{name} must be text of at most {MAX_TEXT} characters without NUL, "
                             f"got {len(text)} characters")
    for name in ("broker", "topic"):
        if not texts[name].strip():
            raise InputError(f"{name} must not be empty")
    if not 1 <= settings.port <= 65535:
        raise InputError(f"port must be 1–65535, got {settings.port}")


def _encodable(text: str) -> bool:
    """False for a lone surrogate (JSON can carry one), which no program file can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _common(settings: BoardSettings, *, wifi: bool) -> dict[str, object]:
    values: dict[str, object] = {"BROKER": settings.broker, "PORT": settings.port, "USER": settings.user,
                                 "PASSWORD": settings.password, "TOPIC": settings.topic}
    if wifi and settings.wifi_ssid is not None:
        values["WIFI_SSID"] = settings.wifi_ssid
    if wifi and settings.wifi_password is not None:
        values["WIFI_PASSWORD"] = settings.wifi_password
    return values


# ---- Python (MicroPython and the UNIHIKER M10) -------------------------------------------------------------
def _python_colours(colours: Mapping[str, RGB]) -> str:
    rows = "".join(f"    {quoted(label)}: {tuple(rgb)!r},\n" for label, rgb in colours.items())
    return "{  # label → (r, g, b) 0–255\n" + rows + "}"


def fill_python(source: str, values: Mapping[str, object]) -> str:
    """``source`` with the module-level assignment of each name in ``values`` replaced by its literal (a str
    is taken as Python source when the name is COLOURS); what follows on the last line (a comment) stays."""
    lines = source.splitlines(keepends=True)
    spans = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            spans[node.targets[0].id] = node
    missing = [name for name in values if name not in spans]
    if missing:
        raise InputError(f"the board template has no setting {missing[0]}")
    for name in sorted(values, key=lambda n: spans[n].lineno, reverse=True):
        node, value = spans[name], values[name]
        assert node.end_lineno is not None  # always set by ast.parse
        assert node.end_col_offset is not None
        text = value if name == "COLOURS" and isinstance(value, str) else _python_literal(value)
        last = lines[node.end_lineno - 1].encode("utf-8")  # col offsets count UTF-8 bytes
        rest = last[node.end_col_offset:].decode("utf-8")
        lines[node.lineno - 1:node.end_lineno] = [f"{name} = {text}{rest}"]
    return "".join(lines)


def _python_literal(value: object) -> str:
    return quoted(value) if isinstance(value, str) else repr(value)


def _fill_micropython(source: str, settings: BoardSettings) -> str:
    values = {**_common(settings, wifi=True), "COLOURS": _python_colours(settings.colours)}
    return _stamp("#", "UNIHIKER K10 / ESP32 (MicroPython): copy it to the board as main.py") + \
        fill_python(source, values)


def _fill_unihiker(source: str, settings: BoardSettings) -> str:
    values = {**_common(settings, wifi=False), "COLOURS": _python_colours(settings.colours)}
    return _stamp("#", "UNIHIKER M10: run it with python3") + fill_python(source, values)


def _stamp(comment: str, how: str, note: str = "") -> str:
    return (f"{comment} Made by visioncast board-code for {how}: the settings and the label table are filled "
            f"in.{note}\n")


# ---- Arduino (C++) -----------------------------------------------------------------------------------------
def cpp_string(text: str) -> str:
    """``text`` as a C++ string literal: UTF-8 kept; quote, backslash, ``?`` (trigraphs) and control
    characters escaped (octal, which, unlike ``\\x``, cannot swallow the digits that follow)."""
    out = []
    for char in text:
        if char in '"\\?':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):03o}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


_CPP_SETTING = r"^(const (?:char \*|uint16_t ){name} = )[^;\n]*(;.*)$"
_CPP_COLOURS = re.compile(r"^(const Colour COLOURS\[\] = \{\n).*?^(\};)$", re.MULTILINE | re.DOTALL)


def _fill_arduino(source: str, settings: BoardSettings) -> str:
    for name, value in _common(settings, wifi=True).items():
        literal = str(value) if isinstance(value, int) else cpp_string(str(value))
        source = _cpp_setting(source, name, literal)
    rows = "".join(f"  {{{cpp_string(label)}, {r}, {g}, {b}}},\n"
                   for label, (r, g, b) in settings.colours.items())
    source = _substitute(_CPP_COLOURS, lambda m: f"{m.group(1)}{rows}{m.group(2)}", source, "COLOURS")
    return _stamp("//", "an ESP32 (Arduino IDE)") + source


def _cpp_setting(source: str, name: str, literal: str) -> str:
    pattern = re.compile(_CPP_SETTING.format(name=name), re.MULTILINE)
    return _substitute(pattern, lambda m: f"{m.group(1)}{literal}{m.group(2)}", source, name)


def _substitute(pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str], source: str,
                what: str) -> str:
    out, count = pattern.subn(repl, source, count=1)
    if count != 1:
        raise InputError(f"the board template has no setting {what}")
    return out


# ---- MakeCode (JavaScript / TypeScript) --------------------------------------------------------------------
def quoted(text: str) -> str:
    """``text`` as a double-quoted string literal of Python and JavaScript alike: JSON's escapes (``\\"``,
    ``\\\\``, ``\\n``, ``\\uXXXX``) are valid in both; Chinese is kept as is."""
    return json.dumps(text, ensure_ascii=False)


_CALLBACK = re.compile(r"^DFRobotWiFiIoTUART\.mqttCallbackUserMore\(TOPIC\.topic_1, function \(message\) \{\n"
                       r".*?^\}\)$", re.MULTILINE | re.DOTALL)


def _makecode_chain(colours: Mapping[str, RGB]) -> str:
    lines = ["DFRobotWiFiIoTUART.mqttCallbackUserMore(TOPIC.topic_1, function (message) {"]
    keyword = "if"
    for number, label in enumerate(colours, start=1):
        if label == "none":
            show = "basic.clearScreen()"
        elif label.isascii():
            show = f"basic.showString({quoted(label)})"
        else:
            show = f"basic.showNumber({number})"  # the 5×5 font has no Chinese
        lines += [f"    {keyword} (message == {quoted(label)}) {{", f"        {show}"]
        keyword = "} else if"
    lines += ["    } else {", "        basic.clearScreen()", "    }", "})"]
    return "\n".join(lines)


def _fill_makecode(source: str, settings: BoardSettings) -> str:
    wifi = re.compile(r'^(DFRobotWiFiIoTUART\.WIFISetup\(SerialPin\.P1, SerialPin\.P2, )("[^"\n]*"), '
                      r'("[^"\n]*")\)$', re.MULTILINE)
    ssid, wifi_password = settings.wifi_ssid, settings.wifi_password
    source = _substitute(wifi, lambda m: (
        f"{m.group(1)}{quoted(ssid) if ssid is not None else m.group(2)}, "
        f"{quoted(wifi_password) if wifi_password is not None else m.group(3)})"), source, "WIFISetup")
    mqtt = re.compile(r'^(DFRobotWiFiIoTUART\.mqttSetup\()"[^"\n]*", "[^"\n]*"(, "[^"\n]*", '
                      r'DFRobotWiFiIoTUART\.SERVERS\.Siot, )"[^"\n]*"\)$', re.MULTILINE)
    source = _substitute(mqtt, lambda m: (
        f"{m.group(1)}{quoted(settings.user)}, {quoted(settings.password)}{m.group(2)}"
        f"{quoted(settings.broker)})"), source, "mqttSetup")
    topic = re.compile(r'^(DFRobotWiFiIoTUART\.mqttAddTopic\(TOPIC\.topic_1, )"[^"\n]*"\)$', re.MULTILINE)
    source = _substitute(topic, lambda m: f"{m.group(1)}{quoted(settings.topic)})", source, "mqttAddTopic")
    source = _substitute(_CALLBACK, lambda _m: _makecode_chain(settings.colours), source, "the label chain")
    note = "" if settings.port == 1883 else f"\n// The OBLOQ uses port 1883, the broker is {settings.port}."
    return _stamp("//", "a micro:bit + OBLOQ (MakeCode JavaScript)", note) + source


_FILLERS: dict[str, Callable[[str, BoardSettings], str]] = {
    "micropython": _fill_micropython, "unihiker-m10": _fill_unihiker, "esp32-arduino": _fill_arduino,
    "microbit-obloq": _fill_makecode,
}
