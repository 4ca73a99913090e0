"""Commands received on ``{prefix}/{source}/cmd``: their JSON Schema and validation. Pure (jsonschema only).

A command is a JSON object such as ``{"cmd": "set_threshold", "conf": 0.5}``, ``{"cmd": "pause"}``,
``{"cmd": "resume"}`` or ``{"cmd": "snapshot"}``. :func:`parse_command` returns it or raises
:class:`~visioncast.errors.InputError` whose message says what was wrong (the sink sends it back on the reply
topic and otherwise ignores the command).

Commands are validated here and answered on ``…/cmd/reply``. The sink (:mod:`~visioncast.sinks.mqtt`)
handles ``pause`` (nothing of that source is published: results, stats, events), ``resume``, ``snapshot``
(publish the last result again) and ``set_threshold`` (this source publishes only what scores at least
``conf``; nothing else changes) itself, and echoes each source's state on the retained ``…/state``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from visioncast.errors import InputError, VisioncastError

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


def command_id(payload: bytes) -> Any:
    """The ``id`` of a command (echoed in its reply, also when the command is refused), or None."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    return data.get("id") if isinstance(data, dict) else None


def answer_command(payload: bytes, run: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any]:
    """The reply to the command in ``payload``: ``{"ok": True, "cmd", …what run(command) adds}``, or for a
    command that is invalid or that ``run`` refuses (VisioncastError) ``{"ok": False, "cmd", "error",
    "message"}``; with the command's ``id`` when it has one."""
    try:
        command = parse_command(payload)
        reply = {"ok": True, "cmd": command["cmd"], **(run(command) or {})}
    except VisioncastError as exc:
        reply = {"ok": False, "cmd": command_name(payload), "error": exc.code, "message": str(exc)}
    if (ident := command_id(payload)) is not None:
        reply["id"] = ident
    return reply
