"""Query-string options of the inference routes, checked: each bad value is an InputError (HTTP 400) that
names the parameter, what was expected and what came. Pure: reads only the given mapping.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from visioncast.errors import InputError
from visioncast.tasks.detect import DetectOptions

RENDER_MODES = ("base64", "url")
DEFAULT_SOURCE = "api"
_SOURCE = re.compile(r"[A-Za-z0-9._-]{1,64}")
DEFAULT_TOP = 5


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


def class_ids(args: Mapping[str, str], labels: Sequence[str], model: str) -> tuple[int, ...] | None:
    """``classes=0,person,bus`` → class ids of this model, or None when absent."""
    text = _get(args, "classes")
    if text is None:
        return None
    ids = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        if item.isascii() and item.isdigit() and int(item) < len(labels):
            ids.append(int(item))
        elif item in labels:
            ids.append(labels.index(item))
        else:
            raise InputError(f"query 'classes': {item!r} is neither a class id 0–{len(labels) - 1} nor a "
                             f"label of model {model!r} (e.g. {', '.join(labels[:3])})")
    return tuple(ids)


def detect_options(args: Mapping[str, str], base: DetectOptions, labels: Sequence[str],
                   model: str) -> DetectOptions:
    """The model's options with conf, iou, max_det and classes from the query applied."""
    return base.merged(conf=unit_float(args, "conf"), iou=unit_float(args, "iou"),
                       max_det=positive_int(args, "max_det"), classes=class_ids(args, labels, model))


def flag(args: Mapping[str, str], name: str) -> bool:
    """A yes/no query value: 1/true/yes or 0/false/no (absent = no)."""
    text = (_get(args, name) or "0").lower()
    if text not in ("0", "1", "true", "false", "yes", "no"):
        raise InputError(f"query '{name}' must be 1/true/yes or 0/false/no, got {text[:40]!r}")
    return text in ("1", "true", "yes")


def top_k(args: Mapping[str, str]) -> int:
    return positive_int(args, "top") or DEFAULT_TOP


def render_mode(args: Mapping[str, str]) -> str | None:
    """None, 'base64' or 'url'."""
    text = _get(args, "render")
    if text is not None and text not in RENDER_MODES:
        raise InputError(f"query 'render' must be one of {', '.join(RENDER_MODES)}, got {text!r}")
    return text


def source_name(args: Mapping[str, str], *, default: str = DEFAULT_SOURCE) -> str:
    """The channel name results are published under (default 'api')."""
    text = _get(args, "source")
    if text is None:
        return default
    if not _SOURCE.fullmatch(text):
        raise InputError(f"query 'source' must be 1–64 letters, digits, '.', '_' or '-', got {text[:80]!r}")
    return text
