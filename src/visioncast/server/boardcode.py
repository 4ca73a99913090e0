"""``POST /api/v1/board-code``: a board program ready to flash for the labels the /teach page gives, filled
in with this server's broker (a LAN address when it listens on every network), port and the boards' login.

Open to students: the boards' login is printed for the whole class by ``serve`` anyway, and the program only
lets a board read labels. I/O: reads the board templates (and the boards' password kept in the data dir when
no broker runs in this process).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from visioncast.boardcode import BOARDS, COLOURS, BoardSettings, generate, label_topic, parse_colour
from visioncast.broker import board_address, credentials
from visioncast.errors import InputError
from visioncast.server.access import access
from visioncast.server.app import services
from visioncast.server.mqtt import push_of
from visioncast.server.openapi import Schema, document, error, response

bp = Blueprint("boardcode", __name__)
FIELDS = ("board", "labels", "topic", "wifi_ssid", "wifi_password")
_COLOUR = {"type": "string", "description": f"{', '.join(COLOURS)} or #rrggbb"}
BODY = Schema("BoardCodeRequest", {
    "type": "object", "required": ["board", "labels"], "additionalProperties": False,
    "properties": {
        "board": {"enum": list(BOARDS)},
        "labels": {"type": "object", "additionalProperties": _COLOUR, "minProperties": 1,
                   "description": "label → LED colour, e.g. {\"开心\": \"yellow\", \"愤怒\": \"red\"}"},
        "topic": {"type": "string", "description": "default: the label topic of source 'teach'"},
        "wifi_ssid": {"type": "string"}, "wifi_password": {"type": "string"},
    },
})


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise InputError(f"{name} must be a string, got {type(value).__name__}")
    return value


def settings_from(data: Any) -> tuple[str, BoardSettings]:
    """(board, settings) for a request body; InputError naming the field that is wrong."""
    if not isinstance(data, dict):
        raise InputError("the body must be a JSON object, e.g. {\"board\": \"micropython\", "
                         "\"labels\": {\"开心\": \"yellow\"}}")
    unknown = [k for k in data if k not in FIELDS]
    if unknown:
        raise InputError(f"unknown field '{unknown[0]}'; known: {', '.join(FIELDS)}")
    labels = data.get("labels")
    if not isinstance(labels, dict) or not all(isinstance(c, str) for c in labels.values()):
        raise InputError("labels must be an object of label: colour, e.g. {\"开心\": \"yellow\"}")
    colours = {label: parse_colour(colour, label=label) for label, colour in labels.items()}
    cfg = services().config
    handle = push_of(current_app).embedded
    if handle is not None:
        host, port, user, password = handle.host, handle.port, handle.username, handle.password
    else:  # no broker in this process (e.g. a WSGI server): what `serve` would start and print
        host, port = cfg.broker.host, cfg.broker.port
        user, password = credentials(cfg.broker, Path(cfg.data_dir))
    settings = BoardSettings(
        broker=board_address(host), port=port, user=user, password=password,
        topic=_text(data, "topic") or label_topic(cfg), wifi_ssid=_text(data, "wifi_ssid") or None,
        wifi_password=_text(data, "wifi_password") or None, colours=colours)
    return _text(data, "board") or "", settings


@bp.post("/api/v1/board-code")
@document("A board program with this server's broker, the boards' login, the topic and label colours "
          "filled in", tags=["mqtt"],
          request_body={"required": True, "content": {"application/json": {"schema": BODY.ref}}},
          responses={200: response("the program, as a file to save", {"type": "string"},
                                   media_type="text/plain"),
                     400: error("unknown board, bad colour, no labels or a bad field (named)")})
@access("student")
def board_code() -> Any:
    board, settings = settings_from(request.get_json(silent=True))
    name, text = generate(board, settings)
    answer = Response(text, mimetype="text/plain")  # Flask adds charset=utf-8
    answer.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Cache-Control"] = "no-store"  # it holds the boards' password
    return answer


def register(app: Flask) -> None:
    app.register_blueprint(bp)
