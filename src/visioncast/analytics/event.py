"""State-change events: a condition on the per-frame counts that begins and ends. Pure, no I/O.

Syntax (``--event`` and TOML ``pipeline.events``): ``EXPR[:NAME]`` where EXPR is ``LABEL`` (present, ≥ 1),
``!LABEL`` (absent, = 0) or ``LABEL OP K`` with OP one of ``>= > <= < == !=`` and K an integer, e.g.
``person>=3:danger``. The name defaults to the expression. Each change of the condition's truth yields one
event ``{"type": "state", "name", "state": "begin"|"end", "timestamp", "condition"}`` stamped with the frame's
media time, the way the seed printed "Danger begin at 12.3 seconds". The first frame sets the state silently
unless the condition holds (then it "begins" at that frame).

``hold_s`` debounces a flickering detector: a change counts only once the new state has lasted ``hold_s``
seconds of media time (a count dancing around the threshold yields nothing); the event is then stamped with
the time the change began, not the time it was confirmed. ``hold_s = 0`` reports every change at once.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from visioncast.errors import ConfigError

_OPS: dict[str, Callable[[int, int], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_EXPR = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<label>[^<>=!:]+?)\s*(?:(?P<op>>=|<=|==|!=|>|<)\s*(?P<k>-?\d+))?\s*$"
)


@dataclass(frozen=True)
class Condition:
    """``count(label) op k``; ``text`` is the normalised expression, ``name`` the event name."""

    label: str
    op: str
    k: int
    name: str
    text: str

    @classmethod
    def parse(cls, spec: str) -> Condition:
        expr, _, name = spec.partition(":")
        m = _EXPR.match(expr)
        if not m or (m["neg"] and m["op"]):
            raise ConfigError(
                f"event must look like 'person', '!person' or 'person>=3', optionally ':name', got {spec!r}"
            )
        label = m["label"].strip()
        op, k = ("==", 0) if m["neg"] else ((m["op"], int(m["k"])) if m["op"] else (">=", 1))
        text = f"{label}{op}{k}"
        return cls(label, op, k, name.strip() or text, text)

    def holds(self, counts: Mapping[str, int]) -> bool:
        return _OPS[self.op](int(counts.get(self.label, 0)), self.k)


class StateWatcher:
    """Turns a Condition into begin/end events as the counts change frame by frame."""

    def __init__(self, condition: Condition, hold_s: float = 0.0) -> None:
        if not hold_s >= 0:
            raise ConfigError(f"event hold must be 0 or more seconds, got {hold_s!r}")
        self.condition = condition
        self.hold_s = hold_s
        self.active = False
        self._changed_at: float | None = None  # media time the condition first differed from ``active``

    def update(self, counts: Mapping[str, int], timestamp_s: float) -> dict[str, Any] | None:
        """The event when a change of the condition is confirmed at this frame, else None."""
        now = self.condition.holds(counts)
        if now == self.active:
            self._changed_at = None
            return None
        if self._changed_at is None:
            self._changed_at = timestamp_s
        if timestamp_s - self._changed_at < self.hold_s - 1e-9:  # 0.7 − 0.4 is 0.2999… in floats
            return None
        began, self._changed_at = self._changed_at, None
        self.active = now
        return {
            "type": "state",
            "name": self.condition.name,
            "state": "begin" if now else "end",
            "timestamp": round(began, 3),
            "condition": self.condition.text,
        }


def describe_event(event: Mapping[str, Any]) -> str:
    """One human line: 'danger begin at 12.30 seconds' or 'person #3 left after 4.20 s (at 12.30 s)'."""
    if event.get("type") == "state":
        return f"{event['name']} {event['state']} at {event['timestamp']:.2f} seconds"
    return (
        f"{event.get('label')} #{event.get('track_id')} left after {event.get('duration_s', 0):.2f} s "
        f"(at {event.get('timestamp', 0):.2f} seconds)"
    )
