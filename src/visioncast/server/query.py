"""Query-string options of the inference routes, checked: each bad value is an InputError (HTTP 400) that
names the parameter, what was expected and what came. Pure: reads only the given mapping.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from visioncast.core.types import Result
from visioncast.errors import InputError
from visioncast.models.labels import class_ids
from visioncast.sinks.mqtt_format import check_source
from visioncast.tasks.base import TaskOptions

RENDER_MODES = ("base64", "url")
DEFAULT_SOURCE = "api"


def _get(args: Mapping[str, str], name: str) -> str | None:
    value = args.get(name)
    return None if value is None or value.strip() == "" else value.strip()


def unit_float(args: Mapping[str, str], name: str) -> float | None:
    """A number in [0, 1], or None when absent."""
    text = _get(args, name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # also refuses nan and inf
        raise InputError(f"query '{name}' must be a number between 0 and 1, got {text!r}")
    return value


def positive_int(args: Mapping[str, str], name: str) -> int | None:
    """An integer ≥ 1, or None when absent."""
    text = _get(args, name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise InputError(f"query '{name}' must be a whole number of at least 1, got {text!r}")
    return int(text)


def task_options(args: Mapping[str, str], labels: Sequence[str], model: str) -> TaskOptions:
    """The per-call options of the query: conf, iou, max_det, classes (names or ids of ``labels``) and top;
    what the query leaves out takes the model's default."""
    classes = class_ids(_get(args, "classes"), labels, model, field="query 'classes'")
    return TaskOptions(conf=unit_float(args, "conf"), iou=unit_float(args, "iou"),
                       max_det=positive_int(args, "max_det"), classes=classes, top=positive_int(args, "top"))


@dataclass(frozen=True)
class ShownFilter:
    """What a page shows of an answer, which is what is published (a board hears what the screen shows):
    detections scoring at least ``conf`` and not of a ``hidden`` class, at most ``top`` classes of a
    classification. The page may ask the server for more (to move its slider without a new request); the
    answer keeps everything, the published result only what is shown."""

    conf: float | None = None
    hidden: frozenset[str] = frozenset()
    top: int | None = None

    def apply(self, result: Result) -> Result:
        """``result`` as shown (itself when the filter keeps everything)."""
        dets, cls = result.detections, result.classification
        if dets is not None and (self.conf is not None or self.hidden):
            keep = dets.score >= (self.conf or 0.0)
            keep &= np.array([label not in self.hidden for label in dets.labels], dtype=bool)
            return dataclasses.replace(result, detections=dets.select(keep))
        if cls is not None and self.top is not None and self.top < len(cls.labels):
            top = slice(0, self.top)
            return dataclasses.replace(result, classification=type(cls)(
                cls.class_id[top], cls.score[top], cls.labels[top]))
        return result


def shown_filter(args: Mapping[str, str], labels: Sequence[str], model: str) -> ShownFilter:
    """The query's ``shown_conf``, ``shown_hide`` (class names or ids, comma-separated) and ``shown_top``:
    what the page shows, so what is published (absent: everything answered)."""
    hidden = class_ids(_get(args, "shown_hide"), labels, model, field="query 'shown_hide'") or ()
    return ShownFilter(conf=unit_float(args, "shown_conf"), hidden=frozenset(labels[i] for i in hidden),
                       top=positive_int(args, "shown_top"))


def flag(args: Mapping[str, str], name: str) -> bool:
    """A yes/no query value: 1/true/yes or 0/false/no (absent = no)."""
    text = (_get(args, name) or "0").lower()
    if text not in ("0", "1", "true", "false", "yes", "no"):
        raise InputError(f"query '{name}' must be 1/true/yes or 0/false/no, got {text[:40]!r}")
    return text in ("1", "true", "yes")


def render_mode(args: Mapping[str, str]) -> str | None:
    """None, 'base64' or 'url'."""
    text = _get(args, "render")
    if text is not None and text not in RENDER_MODES:
        raise InputError(f"query 'render' must be one of {', '.join(RENDER_MODES)}, got {text!r}")
    return text


def source_name(args: Mapping[str, str], default: str = DEFAULT_SOURCE) -> str:
    """The channel name results are published under (each route passes its own stable default)."""
    text = _get(args, "source")
    if text is None:
        return default
    return check_source(text, field="query 'source'")
