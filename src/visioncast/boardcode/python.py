"""The Python board programs filled in: MicroPython (UNIHIKER K10 / ESP32) and the UNIHIKER M10. Pure.

Settings are found with ``ast``, so a multi-line ``ACTIONS`` dict is replaced whole, and written as
double-quoted literals; what follows on an assignment's last line (a comment) stays.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from visioncast.boardcode.actions import Action
from visioncast.boardcode.literal import quoted, stamp
from visioncast.boardcode.settings import BoardSettings, common_settings
from visioncast.errors import InputError


class PythonSource(str):
    """A value :func:`fill_python` writes as it is (Python source), not as a string literal."""

    __slots__ = ()


def python_actions(actions: Mapping[str, Action]) -> PythonSource:
    """The ``ACTIONS`` dict: label → ((r, g, b), angle or None, text or None)."""
    rows = "".join(f"    {quoted(label)}: ({tuple(a.colour)!r}, {a.servo_deg!r}, "
                   f"{'None' if a.text is None else quoted(a.text)}),\n" for label, a in actions.items())
    return PythonSource("{  # label → (LED (r, g, b) 0–255, servo angle 0–180 or None: stays, text or None: "
                        "the label)\n" + rows + "}")


def fill_python(source: str, values: Mapping[str, object]) -> str:
    """``source`` with the module-level assignment of each name in ``values`` replaced by its literal (a
    :class:`PythonSource` as it is); what follows on the last line (a comment) stays."""
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
        end_line = node.end_lineno or node.lineno  # always set by ast.parse
        end_col = node.end_col_offset or 0
        text = value if isinstance(value, PythonSource) else _python_literal(value)
        last = lines[end_line - 1].encode("utf-8")  # col offsets count UTF-8 bytes
        rest = last[end_col:].decode("utf-8")
        lines[node.lineno - 1:end_line] = [f"{name} = {text}{rest}"]
    return "".join(lines)


def _python_literal(value: object) -> str:
    return quoted(value) if isinstance(value, str) else repr(value)


def _values(settings: BoardSettings, *, wifi: bool) -> dict[str, object]:
    values = {**common_settings(settings, wifi=wifi), "ACTIONS": python_actions(settings.actions)}
    if settings.servo_pin is not None:
        values["SERVO_PIN"] = settings.servo_pin
    return values


def fill_micropython(source: str, settings: BoardSettings) -> str:
    return stamp("#", "UNIHIKER K10 / ESP32 (MicroPython): copy it to the board as main.py") + \
        fill_python(source, _values(settings, wifi=True))


def fill_unihiker(source: str, settings: BoardSettings) -> str:
    return stamp("#", "UNIHIKER M10: run it with python3") + \
        fill_python(source, _values(settings, wifi=False))
