"""Commands received on ``{prefix}/{source}/cmd``: their JSON Schema and validation. Pure (jsonschema only).

A command is a JSON object such as ``{"cmd": "set_threshold", "conf": 0.5}``, ``{"cmd": "pause"}``,
``{"cmd": "resume"}`` or ``{"cmd": "snapshot"}``. :func:`parse_command` returns it or raises
:class:`~visioncast.errors.InputError` whose message says what was wrong (the sink sends it back on the reply
topic and otherwise ignores the command).
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from visioncast.errors import InputError

COMMANDS = ("set_threshold", "pause", "resume", "snapshot")
MAX_COMMAND_BYTES = 4096

COMMAND_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "command on {prefix}/{source}/cmd",
    "type": "object",
    "required": ["cmd"],
    "properties": {
        "cmd": {"enum": list(COMMANDS)},
        "conf": {"type": "number", "minimum": 0, "maximum": 1,
                 "description": "set_threshold: minimum confidence"},
        "id": {"type": ["string", "integer"], "description": "echoed in the reply to match it"},
    },
    "additionalProperties": False,
    "allOf": [{"if": {"properties": {"cmd": {"const": "set_threshold"}}}, "then": {"required": ["conf"]}}],
}
_VALIDATOR = Draft202012Validator(COMMAND_SCHEMA)


def parse_command(payload: bytes) -> dict[str, Any]:
    """The validated command in ``payload``; InputError naming what is wrong otherwise."""
    if len(payload) > MAX_COMMAND_BYTES:
        raise InputError(f"command must be at most {MAX_COMMAND_BYTES} bytes, got {len(payload)}")
    try:
        data = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"command must be UTF-8 JSON, got undecodable bytes at {exc.start}") from exc
    except json.JSONDecodeError as exc:
        got = f"{payload[:40]!r} ({exc.msg} at column {exc.colno})"
        raise InputError(f"command must be JSON, got {got}") from exc
    error = best_match(_VALIDATOR.iter_errors(data))
    if error is not None:
        where = "command" + "".join(f".{p}" for p in error.absolute_path)
        raise InputError(f"{where}: {error.message}")
    return dict(data)


def command_name(payload: bytes) -> str | None:
    """The 'cmd' field of a (possibly invalid) command, for the reply; None when unreadable."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    name = data.get("cmd") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None
