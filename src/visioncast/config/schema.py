"""The schema of the configuration: one rule per field, read from the dataclasses of :mod:`visioncast.config`.

Pure (no I/O). Every value that reaches a Config — from the TOML file, the saved page settings, the
environment, command-line flags or ``PUT /api/v1/mqtt`` — goes through :func:`check_value`: converted to the
field's type, then held to the field's :class:`Rule` (choices, bounds, lengths, a check function).
:func:`json_schema` turns the same types and rules into JSON Schema for the OpenAPI document, so the API
cannot promise something the loader does not enforce. The checks some fields use (a label template is
formatted with a sample result) live here too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import string
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from visioncast.errors import ConfigError

RULE = "rule"  # the dataclass field metadata key holding a Rule
_SCALARS = {"str": str, "int": int, "float": float, "bool": bool}
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


@dataclass(frozen=True)
class Rule:
    """What a field's value must be beyond its type. ``check`` raises ValueError with the reason."""

    choices: Sequence[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None  # exclusive minimum
    min_length: int | None = None
    max_length: int | None = None
    check: Callable[[Any], None] | None = None
    description: str = ""


def rule(default: Any, **kwargs: Any) -> Any:
    """A dataclass field with ``default`` and a :class:`Rule` (``port: int = rule(1883, minimum=1)``)."""
    return dataclasses.field(default=default, metadata={RULE: Rule(**kwargs)})


def field_kind(cls: type, name: str) -> Any:
    """The type of field ``name`` of dataclass ``cls`` (str, int, float, bool or tuple)."""
    kind = typing.get_type_hints(cls)[name]
    if isinstance(kind, str):
        kind = _SCALARS.get(kind.split(" ")[0], str)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if kind in (tuple, list) or typing.get_origin(kind) in (tuple, list):
        return tuple
    return kind


def field_rule(cls: type, name: str) -> Rule:
    return next(f for f in dataclasses.fields(cls) if f.name == name).metadata.get(RULE, Rule())


def coerce(value: Any, kind: Any, name: str) -> Any:
    """``value`` converted to ``kind`` (env strings too: "80", "yes", "a,b"); ConfigError naming ``name``."""
    try:
        if isinstance(value, bool) and kind in (int, float):
            raise ValueError(value)
        if kind is bool:
            return _to_bool(value)
        if kind is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(x.strip() if isinstance(x, str) else x for x in items if str(x).strip())
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        if kind is str and isinstance(value, (bool, dict, list, tuple)):
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be {getattr(kind, '__name__', kind)}, got {value!r}") from exc


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def check_value(cls: type, key: str, value: Any, name: str) -> Any:
    """``value`` for field ``key`` of ``cls``: converted, then held to the field's rule; ConfigError naming
    ``name`` (e.g. "config 'mqtt.port'") and what was expected."""
    r = field_rule(cls, key)
    if r.choices is not None and {"on", "off"} <= set(r.choices):  # a switch that grew "auto": true → "on"
        with contextlib.suppress(ValueError):
            value = "on" if _to_bool(value) else "off"
    value = coerce(value, field_kind(cls, key), name)
    if r.choices is not None and value not in r.choices:
        raise ConfigError(f"{name} must be one of {', '.join(repr(c) for c in r.choices)}, got {value!r}")
    if r.minimum is not None and value < r.minimum:
        raise ConfigError(f"{name} must be at least {r.minimum:g}, got {value!r}")
    if r.maximum is not None and value > r.maximum:
        raise ConfigError(f"{name} must be at most {r.maximum:g}, got {value!r}")
    if r.above is not None and value <= r.above:
        raise ConfigError(f"{name} must be more than {r.above:g}, got {value!r}")
    if r.min_length is not None and len(value) < r.min_length:
        raise ConfigError(f"{name} must not be empty" if r.min_length == 1 else
                          f"{name} must be at least {r.min_length} long, got {value!r}")
    if r.max_length is not None and len(value) > r.max_length:
        raise ConfigError(f"{name} must be at most {r.max_length} characters, got {len(value)}")
    if r.check is not None:
        try:
            r.check(value)
        except ValueError as exc:
            raise ConfigError(f"{name} {exc}") from exc
    return value


def json_schema(cls: type, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of dataclass ``cls`` (only ``keys`` if given), from types and rules."""
    names = keys or [f.name for f in dataclasses.fields(cls)]
    return {"type": "object", "properties": {name: property_schema(cls, name) for name in names},
            "additionalProperties": False}


def property_schema(cls: type, name: str) -> dict[str, Any]:
    kind, r = field_kind(cls, name), field_rule(cls, name)
    out: dict[str, Any] = ({"type": "array", "items": {"type": "string"}} if kind is tuple
                           else {"type": _JSON_TYPES[kind]})
    if r.choices is not None:
        out = {"enum": list(r.choices)}
    for key, value in (("minimum", r.minimum), ("maximum", r.maximum), ("exclusiveMinimum", r.above),
                       ("minLength", r.min_length), ("maxLength", r.max_length)):
        if value is not None:
            out[key] = value
    if r.description:
        out["description"] = r.description
    return out


# What a label template is formatted with (sinks.mqtt_format.label_payload gives the same names and types).
TEMPLATE_SAMPLE: dict[str, Any] = {"label": "person", "message": "person", "score": 0.91, "count": 2,
                                   "source": "api", "frame": 1, "timestamp": 1767225600.0,
                                   "sent_at": 1767225600.125}


def check_template(template: str) -> None:
    """ValueError naming the problem unless ``template`` formats a sample label message (empty is allowed)."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(f"is not a valid template: {exc}") from exc
    unknown = [n for n in names if n not in TEMPLATE_SAMPLE]
    if unknown:
        raise ValueError(f"may use {{{'}, {'.join(TEMPLATE_SAMPLE)}}}, got {{{unknown[0]}}}")
    try:
        template.format_map(TEMPLATE_SAMPLE)
    except (ValueError, TypeError) as exc:
        sample = ", ".join(f"{k}={v!r}" for k, v in TEMPLATE_SAMPLE.items() if k in names)
        raise ValueError(f"cannot format a sample result ({sample}): {exc}") from exc


def check_label_map(entries: tuple[str, ...]) -> None:
    for entry in entries:
        label, sep, _ = entry.partition("=")
        if not sep or not label.strip():
            raise ValueError(f"entries must look like 'label=message', got {entry!r}")


REPLICAS = re.compile(r"^(\d+)(?:-(\d+))?$")
"""Replicas of a model on Ray: N, or MIN-MAX to autoscale (``ray.replicas``, ``serve --replicas``)."""


def check_replicas(text: str) -> None:
    match = REPLICAS.match(text.strip())
    if match is None or not 1 <= int(match[1]) <= int(match[2] or match[1]):
        raise ValueError(f"must be N or MIN-MAX with 1 ≤ MIN ≤ MAX (e.g. 2 or 1-4), got {text!r}")


MIN_TOKEN_CHARS = 16
"""A token one can guess is no lock: ``server.token`` / ``serve --token`` must be at least this long."""


def check_token(token: str) -> None:
    if token and (len(token.strip()) < MIN_TOKEN_CHARS or not token.isprintable() or token != token.strip()):
        raise ValueError(f"must be empty (a random token is made) or at least {MIN_TOKEN_CHARS} printable "
                         f"characters without spaces around, got {len(token)} characters")


def check_topic(prefix: str) -> None:
    if any(c in prefix for c in "+#\x00"):
        raise ValueError(f"must be a topic without + or #, got {prefix!r}")
