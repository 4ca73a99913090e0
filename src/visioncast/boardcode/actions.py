"""The label → action table of a board program: per label an LED colour, a servo angle and a text, parsed
from what a page, the API or the command line gives and checked. Pure.

An :class:`Action` says what a board does when a label arrives: its RGB LED shows ``colour`` (off when none
was given), its servo turns to ``servo_deg`` (None: it stays where it is) and its screen shows ``text`` (None:
the label itself, on the boards that show one).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from visioncast.errors import InputError

RGB = tuple[int, int, int]
COLOURS: dict[str, RGB] = {
    "red": (255, 0, 0), "yellow": (255, 200, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
    "purple": (128, 0, 128), "white": (255, 255, 255), "orange": (255, 100, 0), "cyan": (0, 255, 255),
    "off": (0, 0, 0),
}
OFF: RGB = (0, 0, 0)
PALETTE = ("yellow", "red", "green", "blue", "cyan", "orange", "white", "purple")  # a model's labels in turn
ACTION_KEYS = ("colour", "servo", "text")
MAX_ACTION_TEXT = 64  # characters: a line on a small screen
SERVO_MIN_DEG, SERVO_MAX_DEG = 0, 180
_HEX = re.compile(r"#([0-9a-fA-F]{6})")


@dataclass(frozen=True)
class Action:
    """What a board does on a label: ``colour`` (r, g, b) 0–255 on its RGB LED; ``servo_deg`` 0–180 (whole
    degrees) for its servo, None to leave the servo where it is; ``text`` for its screen (1–64 characters on
    one line), None to show the label itself."""

    colour: RGB = OFF
    servo_deg: int | None = None
    text: str | None = None


OFF_ACTION = Action()


def _where(label: str) -> str:
    return f" for label {label!r}" if label else ""


def parse_colour(text: str, *, label: str = "") -> RGB:
    """A colour name of :data:`COLOURS` or ``#rrggbb`` → (r, g, b); InputError naming the label otherwise."""
    name = text.strip().lower()
    if name in COLOURS:
        return COLOURS[name]
    match = _HEX.fullmatch(name)
    if match:
        value = int(match.group(1), 16)
        return (value >> 16, (value >> 8) & 0xFF, value & 0xFF)
    raise InputError(f"colour{_where(label)} must be one of {', '.join(COLOURS)} or #rrggbb, got {text!r}")


def parse_angle(value: object, *, label: str = "") -> int:
    """A servo angle in degrees (a number, or its text) 0–180 → whole degrees (rounded); InputError naming
    the label and what came otherwise."""
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise InputError(f"servo angle{_where(label)} must be a number of degrees 0–180, got {value!r}")
    if not SERVO_MIN_DEG <= number <= SERVO_MAX_DEG:
        raise InputError(f"servo angle{_where(label)} must be 0–180 degrees, got {value!r}")
    return round(number)


def parse_text(value: object, *, label: str = "") -> str | None:
    """The text a board shows for a label: None for none (None or ""); InputError when it is not a string,
    longer than :data:`MAX_ACTION_TEXT` characters or holds control characters (a line break included)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(f"text{_where(label)} must be a string, got {type(value).__name__}")
    if len(value) > MAX_ACTION_TEXT:
        raise InputError(f"text{_where(label)} must be at most {MAX_ACTION_TEXT} characters, "
                         f"got {len(value)}")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in value):
        raise InputError(f"text{_where(label)} must be one line of text without control characters, "
                         f"got {value!r}")
    return value


def action_from(value: object, *, label: str) -> Action:
    """The action of ``label`` from a request: a colour (``"yellow"``, ``"#ff0000"``) or an object with any
    of ``colour``, ``servo`` (degrees) and ``text``; InputError naming the label and the key otherwise."""
    if isinstance(value, str):
        return Action(colour=parse_colour(value, label=label))
    if not isinstance(value, Mapping):
        raise InputError(f"label {label!r} must map to a colour or an object with {', '.join(ACTION_KEYS)}, "
                         f"got {type(value).__name__}")
    unknown = [k for k in value if k not in ACTION_KEYS]
    if unknown:
        raise InputError(f"unknown key {unknown[0]!r} for label {label!r}; known: {', '.join(ACTION_KEYS)}")
    colour = value.get("colour")
    if colour is not None and not isinstance(colour, str):
        raise InputError(f"colour for label {label!r} must be a string, got {type(colour).__name__}")
    servo = value.get("servo")
    return Action(colour=OFF if colour is None else parse_colour(colour, label=label),
                  servo_deg=None if servo is None else parse_angle(servo, label=label),
                  text=parse_text(value.get("text"), label=label))


def check_action(label: str, action: Action) -> None:
    """InputError when an action built in code holds what no program may: a colour outside 0–255, an angle
    outside 0–180 or a bad text."""
    if len(action.colour) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in action.colour):
        raise InputError(f"colour for label {label!r} must be three integers 0–255, got {action.colour!r}")
    if action.servo_deg is not None and (type(action.servo_deg) is not int
                                         or parse_angle(action.servo_deg, label=label) != action.servo_deg):
        raise InputError(f"servo angle for label {label!r} must be whole degrees, got {action.servo_deg!r}")
    if action.text is not None and parse_text(action.text, label=label) is None:
        raise InputError(f"text for label {label!r} must not be empty (None means no text)")


def default_colours(labels: Iterable[str]) -> dict[str, RGB]:
    """Each label a colour of :data:`PALETTE` in turn (a label named like a colour, e.g. "red", gets it)."""
    out: dict[str, RGB] = {}
    for i, label in enumerate(labels):
        name = label.strip().lower()
        out[label] = COLOURS[name] if name in COLOURS else COLOURS[PALETTE[i % len(PALETTE)]]
    return out


def as_sent(actions: Mapping[str, Action], label_map: Mapping[str, str]) -> dict[str, Action]:
    """``actions`` keyed by the message a board receives for each label when the push maps labels to
    messages (``mqtt.label_map``, e.g. 开心=happy); InputError when two labels that become one message were
    given different actions."""
    out: dict[str, Action] = {}
    first: dict[str, str] = {}
    for label, action in actions.items():
        message = label_map.get(label, label)
        if message in out and out[message] != action:
            raise InputError(f"labels {first[message]!r} and {label!r} are both sent as {message!r} "
                             f"(mqtt.label_map), so they must have the same action")
        out.setdefault(message, action)
        first.setdefault(message, label)
    return out
