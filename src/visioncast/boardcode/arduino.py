"""The ESP32 Arduino sketch filled in: its settings and ``ACTIONS`` array as C++ literals. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping

from visioncast.boardcode.actions import Action
from visioncast.boardcode.literal import cpp_string, stamp, substitute
from visioncast.boardcode.settings import BoardSettings, common_settings

_SETTING = r"^(const (?:char \*|uint16_t |int ){name} = )[^;\n]*(;.*)$"
_ACTIONS = re.compile(r"^(const Action ACTIONS\[\] = \{\n).*?^(\};)$", re.MULTILINE | re.DOTALL)


def cpp_actions(actions: Mapping[str, Action]) -> str:
    """The rows of ``ACTIONS``: {label, r, g, b, angle or NO_SERVO, text or nullptr}."""
    return "".join(
        f"  {{{cpp_string(label)}, {r}, {g}, {b}, {'NO_SERVO' if a.servo_deg is None else a.servo_deg}, "
        f"{'nullptr' if a.text is None else cpp_string(a.text)}}},\n"
        for label, a in actions.items() for r, g, b in [a.colour])


def _setting(source: str, name: str, literal: str) -> str:
    pattern = re.compile(_SETTING.format(name=name), re.MULTILINE)
    return substitute(pattern, lambda m: f"{m.group(1)}{literal}{m.group(2)}", source, name)


def fill_arduino(source: str, settings: BoardSettings) -> str:
    values: dict[str, object] = dict(common_settings(settings, wifi=True))
    if settings.servo_pin is not None:
        values["SERVO_PIN"] = settings.servo_pin
    for name, value in values.items():
        source = _setting(source, name, str(value) if isinstance(value, int) else cpp_string(str(value)))
    rows = cpp_actions(settings.actions)
    source = substitute(_ACTIONS, lambda m: f"{m.group(1)}{rows}{m.group(2)}", source, "ACTIONS")
    return stamp("//", "an ESP32 (Arduino IDE)") + source
