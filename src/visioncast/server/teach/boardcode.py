"""``POST /api/v1/board-code``: a board program ready to flash for the labels the /teach page gives (per label
an LED colour, a servo angle and a text), filled in with this server's broker (a LAN address when it listens
on every network), port and the boards' login, and the label topic of the chosen source.

When the push goes to another broker (``mqtt.host``/``mqtt.url``), the program connects there, without a
login (the server's own is never handed out) unless the siot preset's public default applies. The table is
keyed by what the push sends (``mqtt.label_map``) unless a topic is given as is. Broker and login come from
:func:`~visioncast.sinks.push_target.push_target`, the one decision the push itself uses.

Open to students: the boards' login is printed for the whole class by ``serve`` anyway, and the program only
lets a board read labels. I/O: reads the board templates (and the boards' password kept in the data dir when
no broker runs in this process).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from visioncast.boardcode import (
    ACTION_KEYS,
    BOARDS,
    COLOURS,
    DEFAULT_SOURCE,
    MAX_ACTION_TEXT,
    Action,
    BoardSettings,
    action_from,
    generate,
    label_topic,
    microbit_shows,
    pushed_actions,
)
from visioncast.errors import InputError
from visioncast.network import board_address
from visioncast.server.auth.access import access
from visioncast.server.openapi import Schema, document, error, response
from visioncast.server.push.routes import local_broker
from visioncast.server.services import services
from visioncast.server.sources import SourceNotYoursError, publish_source
from visioncast.server.teach.routes import project_of
from visioncast.sinks import mqtt_format as fmt
from visioncast.sinks.push_target import push_target

bp = Blueprint("boardcode", __name__)
FIELDS = ("board", "labels", "source", "project", "topic", "servo_pin", "wifi_ssid", "wifi_password")
INFO_HEADER = "X-Board-Program"
_COLOUR = {"type": "string", "description": f"{', '.join(COLOURS)} or #rrggbb"}
_ACTION = {"type": "object", "additionalProperties": False, "properties": {
    "colour": _COLOUR,
    "servo": {"type": "number", "minimum": 0, "maximum": 180,
              "description": "servo angle in degrees (rounded to whole degrees); omitted: the servo stays"},
    "text": {"type": "string", "maxLength": MAX_ACTION_TEXT,
             "description": "shown on the board's screen, one line (micro:bit: ASCII only); omitted: the "
                            "label"},
}}
BODY = Schema("BoardCodeRequest", {
    "type": "object", "required": ["board", "labels"], "additionalProperties": False,
    "properties": {
        "board": {"enum": list(BOARDS)},
        "labels": {"type": "object", "additionalProperties": {"oneOf": [_COLOUR, _ACTION]},
                   "minProperties": 1,
                   "description": "label → LED colour, or → {colour, servo, text}, e.g. {\"开心\": "
                                  "{\"colour\": \"yellow\", \"servo\": 90, \"text\": \"你好\"}, "
                                  "\"愤怒\": \"red\"}"},
        "source": {"type": "string", "description": "listen to this source's label (default 'teach': the "
                                                    "Teach page's try; e.g. 'webcam'); a student's board "
                                                    "listens to the student's own results under it "
                                                    "('teach@192-168-1-23') unless the teacher shares it"},
        "project": {"type": "string", "description": "the Teach project whose tries the board follows (its "
                                                     "tries publish as 'teach' once the teacher chose it)"},
        "topic": {"type": "string", "description": "listen to this topic as is (overrides source)"},
        "servo_pin": {"type": "integer", "description": "the servo's signal pin (default: GPIO 13 on ESP32 "
                                                        "boards, P10 on the M10, P0 on the micro:bit)"},
        "wifi_ssid": {"type": "string"}, "wifi_password": {"type": "string"},
    },
})
_INFO = {"description": "JSON (ASCII): broker, port, topic, login (whether one is filled in), push "
                        "(whether this server's push is on) and, for the micro:bit, shows: label → what its "
                        "5×5 screen shows", "schema": {"type": "string"}}


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise InputError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _actions(labels: Any) -> dict[str, Action]:
    if not isinstance(labels, dict):
        raise InputError("labels must be an object of label: colour or label: {" + ", ".join(ACTION_KEYS) +
                         "}, e.g. {\"开心\": \"yellow\"}")
    return {label: action_from(value, label=label) for label, value in labels.items()}


def _servo_pin(data: dict[str, Any]) -> int | None:
    pin = data.get("servo_pin")
    if pin is not None and (isinstance(pin, bool) or not isinstance(pin, int)):
        raise InputError(f"servo_pin must be an integer, got {pin!r}")
    return pin


def listen_source(given: str, project: str) -> str:
    """The source whose label the board listens to: where the caller's own results under that name are
    published (a student's ``name@address`` unless the teacher shared the name; the tries of the project the
    teacher chose go to ``teach``), or someone else's source as it is (a stream the board may follow)."""
    shared = bool(project) and bool(project_of(project).get("used"))
    if given:
        fmt.check_source(given)
    try:
        return publish_source({"source": given} if given else {}, DEFAULT_SOURCE, shared_default=shared)
    except SourceNotYoursError:
        return given


def settings_from(data: Any) -> tuple[str, BoardSettings, dict[str, str]]:
    """(board, settings, the table key of each label given) for a request body (a key differs from its
    label when the push maps labels to messages); InputError naming the field that is wrong."""
    if not isinstance(data, dict):
        raise InputError("the body must be a JSON object, e.g. {\"board\": \"micropython\", "
                         "\"labels\": {\"开心\": \"yellow\"}}")
    unknown = [k for k in data if k not in FIELDS]
    if unknown:
        raise InputError(f"unknown field '{unknown[0]}'; known: {', '.join(FIELDS)}")
    actions = _actions(data.get("labels"))
    cfg = services().config
    keys = {label: label for label in actions}
    topic = _text(data, "topic")
    if not topic:
        topic = label_topic(cfg, listen_source(_text(data, "source") or "", _text(data, "project") or ""))
        sent_as = fmt.label_map(cfg.mqtt)
        keys = {label: sent_as.get(label, label) for label in actions}
        actions = pushed_actions(cfg, actions)
    to = push_target(cfg.mqtt, local_broker(current_app))
    settings = BoardSettings(
        broker=board_address(to.board_host), port=to.board_port, user=to.board_user,
        password=to.board_password, topic=topic,
        wifi_ssid=_text(data, "wifi_ssid") or None, wifi_password=_text(data, "wifi_password") or None,
        actions=actions, servo_pin=_servo_pin(data))
    return _text(data, "board") or "", settings, keys


def program_info(board: str, settings: BoardSettings, keys: dict[str, str]) -> str:
    """The :data:`INFO_HEADER` value: where the program connects, whether the push is on and, on the
    micro:bit, what it shows for each label given (``keys``: its row in the table)."""
    info: dict[str, Any] = {"broker": settings.broker, "port": settings.port, "topic": settings.topic,
                            "login": bool(settings.user), "push": services().config.mqtt.enabled}
    if board == "microbit-obloq":
        shows = microbit_shows(settings.actions)
        info["shows"] = {label: {"kind": shows[key].kind, "value": shows[key].value}
                         for label, key in keys.items()}
    return json.dumps(info, ensure_ascii=True, separators=(",", ":"))  # a header holds ASCII


@bp.post("/api/v1/board-code")
@document("A board program with this server's broker, the boards' login, the topic and the label → action "
          "table (LED colour, servo angle, text) filled in", tags=["mqtt"],
          request_body={"required": True, "content": {"application/json": {"schema": BODY.ref}}},
          responses={200: {**response("the program, as a file to save", {"type": "string"},
                                      media_type="text/plain"), "headers": {INFO_HEADER: _INFO}},
                     400: error("unknown board, bad colour, angle, text or key, no labels, a source the "
                                "push cannot publish, or a bad field (named)")})
@access("student")
def board_code() -> Any:
    board, settings, keys = settings_from(request.get_json(silent=True))
    name, text = generate(board, settings)
    answer = Response(text, mimetype="text/plain")  # Flask adds charset=utf-8
    answer.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Cache-Control"] = "no-store"  # it holds the boards' password
    answer.headers[INFO_HEADER] = program_info(board, settings, keys)
    return answer


def register(app: Flask) -> None:
    app.register_blueprint(bp)
