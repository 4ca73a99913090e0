"""What a board program needs to know (:class:`BoardSettings`), the boards and their servo pins, and the
checks every generated program passes. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from visioncast.boardcode.actions import Action, check_action
from visioncast.errors import InputError

TEMPLATES = {  # board → (template under visioncast/boards/, file name to save it as)
    "micropython": ("mqtt_led_board.py", "main.py"),
    "unihiker-m10": ("unihiker_m10.py", "unihiker_m10.py"),
    "esp32-arduino": ("esp32_led/esp32_led.ino", "esp32_led.ino"),
    "microbit-obloq": ("microbit_obloq.ts", "microbit_obloq.ts"),
}
BOARDS = tuple(TEMPLATES)
_ESP32_TAKEN = {2, 25, 26, 27}  # the status LED and the RGB LED of the programs
SERVO_PINS: dict[str, tuple[int, ...]] = {  # board → the pins a servo may use, as the board numbers them
    "micropython": tuple(p for p in range(49) if p not in _ESP32_TAKEN),  # ESP32 / the K10's ESP32-S3 GPIO
    "esp32-arduino": tuple(p for p in range(34) if p not in _ESP32_TAKEN and not 6 <= p <= 11),  # not flash
    "unihiker-m10": (0, 2, 3, 8, 9, 10, 16),  # pinpong's Servo pins without the RGB LED's P21–P23
    "microbit-obloq": (0, 8, 12, 13, 14, 15, 16),  # not the OBLOQ's P1/P2, the display's or the buttons'
}
MAX_LABELS = 100
MAX_TEXT = 256


@dataclass(frozen=True)
class BoardSettings:
    """What a board program needs to know. ``wifi_ssid``/``wifi_password`` None keep the template's
    placeholders; ``actions`` is label → :class:`Action`, in the order the labels should be listed;
    ``servo_pin`` None keeps the template's pin."""

    broker: str
    port: int = 1883
    user: str = ""
    password: str = ""
    topic: str = "visioncast/teach/label"
    wifi_ssid: str | None = None
    wifi_password: str | None = None
    actions: Mapping[str, Action] = field(default_factory=dict)
    servo_pin: int | None = None


def check_settings(board: str, settings: BoardSettings) -> None:
    """InputError naming what no program of ``board`` may hold: no labels or too many, a bad label, action,
    text setting, port or servo pin."""
    if board not in TEMPLATES:
        raise InputError(f"board must be one of {', '.join(BOARDS)}, got {board!r}")
    if not settings.actions:
        raise InputError("give at least one label and its action, e.g. 开心=yellow")
    if len(settings.actions) > MAX_LABELS:
        raise InputError(f"at most {MAX_LABELS} labels, got {len(settings.actions)}")
    for label, action in settings.actions.items():
        if not label.strip() or len(label) > MAX_TEXT or "\x00" in label or not encodable(label):
            raise InputError(f"a label must be 1 to {MAX_TEXT} characters of text without NUL, got {label!r}")
        check_action(label, action)
    texts = {"broker": settings.broker, "topic": settings.topic, "user": settings.user,
             "password": settings.password, "wifi_ssid": settings.wifi_ssid or "",
             "wifi_password": settings.wifi_password or ""}
    for name, text in texts.items():
        if len(text) > MAX_TEXT or "\x00" in text or not encodable(text):
            raise InputError(f"{name} must be text of at most {MAX_TEXT} characters without NUL, "
                             f"got {len(text)} characters")
    for name in ("broker", "topic"):
        if not texts[name].strip():
            raise InputError(f"{name} must not be empty")
    if not 1 <= settings.port <= 65535:
        raise InputError(f"port must be 1–65535, got {settings.port}")
    if board == "microbit-obloq":
        _check_obloq({**texts, **{f"label {label!r}": label for label in settings.actions}})
    pins = SERVO_PINS[board]
    if settings.servo_pin is not None and settings.servo_pin not in pins:
        raise InputError(f"servo pin for {board} must be one of {', '.join(map(str, pins))}, "
                         f"got {settings.servo_pin}")


def _check_obloq(texts: Mapping[str, str]) -> None:
    """The OBLOQ module takes its settings and hands over messages as serial commands separated by '|' and a
    line break (Wi-Fi name and password by ','): a value holding one would be cut there."""
    for name, text in texts.items():
        bad = sorted({c for c in text if c in "|\r\n" or (c == "," and name == "wifi_ssid")})
        if bad:
            raise InputError(f"{name} for the micro:bit + OBLOQ must not hold {' or '.join(map(repr, bad))}: "
                             f"the OBLOQ's serial commands are cut there, got {text!r}")


def encodable(text: str) -> bool:
    """False for a lone surrogate (JSON can carry one), which no program file can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def common_settings(settings: BoardSettings, *, wifi: bool) -> dict[str, object]:
    """The settings every program with named constants has (Wi-Fi where the board joins one itself)."""
    values: dict[str, object] = {"BROKER": settings.broker, "PORT": settings.port, "USER": settings.user,
                                 "PASSWORD": settings.password, "TOPIC": settings.topic}
    if wifi and settings.wifi_ssid is not None:
        values["WIFI_SSID"] = settings.wifi_ssid
    if wifi and settings.wifi_password is not None:
        values["WIFI_PASSWORD"] = settings.wifi_password
    return values
