"""State-change events: a condition on the per-frame counts that begins and ends. Pure, no I/O.

Syntax (``--event`` and TOML ``pipeline.events``): ``EXPR[:NAME]`` where EXPR is ``LABEL`` (present, ≥ 1),
``!LABEL`` (absent, = 0) or ``LABEL OP K`` with OP one of ``>= > <= < == !=`` and K an integer, e.g.
``person>=3:danger``. The name defaults to the expression. Each change of the condition's truth yields one
event ``{"type": "state", "name", "state": "begin"|"end", "timestamp", "condition"}`` stamped with the frame's
media time, the way the seed printed "Danger begin at 12.3 seconds". The first frame sets the state silently
unless the condition holds (then it "begins" at that frame).
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

    def __init__(self, condition: Condition) -> None:
        self.condition = condition
        self.active = False

    def update(self, counts: Mapping[str, int], timestamp_s: float) -> dict[str, Any] | None:
        """The event when the condition changed at this frame, else None."""
        now = self.condition.holds(counts)
        if now == self.active:
            return None
        self.active = now
        return {
            "type": "state",
            "name": self.condition.name,
            "state": "begin" if now else "end",
            "timestamp": round(timestamp_s, 3),
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
