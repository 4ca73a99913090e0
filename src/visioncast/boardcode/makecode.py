"""The micro:bit + OBLOQ MakeCode program filled in, and what its 5×5 screen shows for each label. Pure.

The micro:bit has no RGB LED, so colours are ignored. Its font has no Chinese: a label shows its text when
that is plain ASCII, else the label when that is, else a built-in icon (one per label, chosen by meaning for
a few common words, e.g. 开心 → Happy, then in turn), else, when the icons run out, its number in the table.
``none`` clears the screen. A servo angle becomes ``pins.servoWritePin`` before the screen changes (a
scrolling text blocks until it has scrolled).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from visioncast.boardcode.actions import Action
from visioncast.boardcode.literal import quoted, stamp, substitute
from visioncast.boardcode.settings import BoardSettings

DEFAULT_SERVO_PIN = 0  # AnalogPin.P0
ICONS = ("Happy", "Sad", "Angry", "Surprised", "Heart", "Yes", "No", "Asleep", "Confused", "Silly", "Duck",
         "Rabbit", "Tortoise", "Butterfly", "Giraffe", "Snake", "Cow", "House", "Umbrella", "Ghost",
         "StickFigure", "TShirt", "Target", "Diamond", "Square", "Triangle", "Chessboard", "QuarterNote",
         "Sword", "Scissors", "Skull", "Pitchfork", "Rollerskate", "Fabulous", "Meh", "SmallHeart",
         "SmallDiamond", "SmallSquare", "LeftTriangle", "EigthNote")  # MakeCode's IconNames (its spelling)
ICON_WORDS = {  # a label that is one of these words gets this icon when it is still free
    "开心": "Happy", "高兴": "Happy", "快乐": "Happy", "笑": "Happy", "微笑": "Happy",
    "难过": "Sad", "伤心": "Sad", "哭": "Sad", "悲伤": "Sad",
    "愤怒": "Angry", "生气": "Angry", "惊讶": "Surprised", "吃惊": "Surprised",
    "睡觉": "Asleep", "困": "Asleep", "疑惑": "Confused", "困惑": "Confused",
    "爱": "Heart", "喜欢": "Heart", "心": "Heart", "是": "Yes", "对": "Yes", "好": "Yes",
    "不是": "No", "不": "No", "错": "No", "不好": "No",
    "人": "StickFigure", "举手": "StickFigure", "站立": "StickFigure",
    "鸭子": "Duck", "兔子": "Rabbit", "乌龟": "Tortoise", "蝴蝶": "Butterfly", "长颈鹿": "Giraffe",
    "蛇": "Snake", "牛": "Cow", "房子": "House", "家": "House", "雨伞": "Umbrella", "伞": "Umbrella",
    "鬼": "Ghost", "剪刀": "Scissors", "音乐": "QuarterNote", "衣服": "TShirt",
}


@dataclass(frozen=True)
class Shown:
    """What the micro:bit's screen shows for a label: ``kind`` "text" (scrolled), "icon" (an IconNames
    member), "number" (the label's number in the table, 1-based) or "clear"; ``value`` what."""

    kind: str
    value: str = ""


def microbit_shows(actions: Mapping[str, Action]) -> dict[str, Shown]:
    """Per label what the micro:bit shows (see the module docstring for the rules)."""
    shows: dict[str, Shown] = {}
    wants_icon = []
    for number, (label, action) in enumerate(actions.items(), start=1):
        if action.text is not None and action.text.isascii():
            shows[label] = Shown("text", action.text)
        elif label == "none":
            shows[label] = Shown("clear")
        elif label.isascii():
            shows[label] = Shown("text", label)
        else:
            shows[label] = Shown("number", str(number))
            wants_icon.append(label)
    used: set[str] = set()
    for label in wants_icon:  # first the icons that mean the word, then the rest in turn
        icon = ICON_WORDS.get(label.strip())
        if icon is not None and icon not in used:
            shows[label] = Shown("icon", icon)
            used.add(icon)
    free = [icon for icon in ICONS if icon not in used]
    for label in wants_icon:
        if shows[label].kind == "number" and free:
            shows[label] = Shown("icon", free.pop(0))
    return shows


def _show_call(shown: Shown) -> str:
    if shown.kind == "text":
        return f"basic.showString({quoted(shown.value)})"
    if shown.kind == "icon":
        return f"basic.showIcon(IconNames.{shown.value})"
    if shown.kind == "number":
        return f"basic.showNumber({shown.value})"
    return "basic.clearScreen()"


_CHAIN = re.compile(r"^function showLabel\(message: string, turn: boolean\) \{\n.*?^\}$",
                    re.MULTILINE | re.DOTALL)


def makecode_chain(actions: Mapping[str, Action], servo_pin: int = DEFAULT_SERVO_PIN) -> str:
    """``showLabel(message, turn)``, what the program does for a label: one branch per label (the servo when
    ``turn``, then the screen); anything else clears it."""
    shows = microbit_shows(actions)
    lines = ["function showLabel(message: string, turn: boolean) {"]
    keyword = "if"
    for label, action in actions.items():
        lines.append(f"    {keyword} (message == {quoted(label)}) {{")
        if action.servo_deg is not None:
            lines.append(f"        if (turn) pins.servoWritePin(AnalogPin.P{servo_pin}, {action.servo_deg})")
        lines.append(f"        {_show_call(shows[label])}")
        keyword = "} else if"
    lines += ["    } else {", "        basic.clearScreen()", "    }", "}"]
    return "\n".join(lines)


def _shows_comment(shows: Mapping[str, Shown]) -> str:
    """One comment line per label; the label and a text as string literals, so that no value can end the
    comment (a line break, U+2028 and U+2029 end a line of JavaScript)."""
    lines = [f"\n//   {quoted(label)} → {s.kind} {quoted(s.value) if s.kind == 'text' else s.value}".rstrip()
             for label, s in shows.items()]
    head = "\n// The micro:bit has no RGB LED (the colours are ignored). What its screen shows:"
    return head + "".join(lines)


def fill_makecode(source: str, settings: BoardSettings) -> str:
    wifi = re.compile(r'^(DFRobotWiFiIoTUART\.WIFISetup\(SerialPin\.P1, SerialPin\.P2, )("[^"\n]*"), '
                      r'("[^"\n]*")\)$', re.MULTILINE)
    ssid, wifi_password = settings.wifi_ssid, settings.wifi_password
    source = substitute(wifi, lambda m: (
        f"{m.group(1)}{quoted(ssid) if ssid is not None else m.group(2)}, "
        f"{quoted(wifi_password) if wifi_password is not None else m.group(3)})"), source, "WIFISetup")
    mqtt = re.compile(r'^(DFRobotWiFiIoTUART\.mqttSetup\()"[^"\n]*", "[^"\n]*"(, "[^"\n]*", '
                      r'DFRobotWiFiIoTUART\.SERVERS\.Siot, )"[^"\n]*"\)$', re.MULTILINE)
    source = substitute(mqtt, lambda m: (
        f"{m.group(1)}{quoted(settings.user)}, {quoted(settings.password)}{m.group(2)}"
        f"{quoted(settings.broker)})"), source, "mqttSetup")
    topic = re.compile(r'^(DFRobotWiFiIoTUART\.mqttAddTopic\(TOPIC\.topic_1, )"[^"\n]*"\)$', re.MULTILINE)
    source = substitute(topic, lambda m: f"{m.group(1)}{quoted(settings.topic)})", source, "mqttAddTopic")
    pin = DEFAULT_SERVO_PIN if settings.servo_pin is None else settings.servo_pin
    chain = makecode_chain(settings.actions, pin)
    source = substitute(_CHAIN, lambda _m: chain, source, "the label chain")
    note = _shows_comment(microbit_shows(settings.actions))
    if settings.port != 1883:
        note += f"\n// The OBLOQ uses port 1883, the broker is {settings.port}."
    return stamp("//", "a micro:bit + OBLOQ (MakeCode JavaScript)", note) + source
