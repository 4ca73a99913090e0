"""Push settings and the push itself: ``GET/PUT /api/v1/mqtt``, the ``/mqtt`` page, and :func:`start` /
:func:`stop`, the start-up and shut-down steps of the push. I/O: MQTT (through the sink), the saved settings.

The settings are the ``[mqtt]`` section of the app's Config. ``PUT`` checks a change with the same rules as
every config layer (:mod:`visioncast.config.schema`: a bad template is a 400 naming the problem), saves it
in the saved layer (:mod:`visioncast.config.saved`, ``<data_dir>/settings.toml``), builds the Config again and
reconnects the sink, answering the status after at most 3 s of connecting. Keys a flag or the environment sets
cannot be changed here (400 naming where they are set); ``GET`` lists them under ``fixed``.

Credentials: ``GET`` never returns a password (``password_set`` instead); ``PUT`` keeps the stored one when
none is given, except that a new host or port without a password clears it (a password belongs to its
broker). The embedded broker's login is not a setting: :func:`~visioncast.sinks.push_target.push_target`
(the one decision of where the push goes and with which login) adds it at connect time only when the push
goes to the embedded broker itself (host "", or loopback on its port), so it is never sent elsewhere.

Nothing connects when the app is built: ``serve`` calls :func:`start` after starting the broker (and
:func:`stop` before stopping it); a PUT connects on demand. The app holds at most one
:class:`~visioncast.sinks.mqtt.MqttSink`, on ``services.bus`` like every sink; its counters are on
/metrics.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, render_template, request

from visioncast.broker import BrokerHandle, credentials
from visioncast.broker.port import Reach
from visioncast.config import Config, MqttConfig
from visioncast.config.saved import with_saved, write_saved
from visioncast.config.schema import json_schema
from visioncast.errors import ConfigError, InputError
from visioncast.network import ANY_HOSTS, lan_addresses
from visioncast.server.auth.access import access
from visioncast.server.metrics import metrics_of
from visioncast.server.openapi import Schema, document, error, response
from visioncast.server.services import Services, services
from visioncast.sinks import mqtt_format as fmt
from visioncast.sinks import open_mqtt_sink
from visioncast.sinks.mqtt import MqttSink
from visioncast.sinks.push_target import BrokerAddress, LocalBroker, has_target, push_target

EXTENSION = "visioncast.push"
PASSWORD_MASK = "********"  # what older pages sent back to mean "keep the password"
CONNECT_WAIT_S = 3.0
FIELDS = ("enabled", "host", "port", "username", "password", "preset", "prefix", "source", "payload",
          "template", "label_map", "empty_label", "policy", "debounce_frames", "window", "max_rate_hz", "qos",
          "retain")
TARGET = ("host", "port", "username", "password")  # what mqtt.url replaces

bp = Blueprint("mqtt", __name__)

_LABEL_MAP = {"type": "object", "additionalProperties": {"type": "string", "maxLength": 256},
              "description": "label → message, e.g. {\"happy\": \"yellow\"}"}
_FROM_CONFIG = json_schema(MqttConfig, FIELDS)["properties"]
SETTINGS_IN = Schema("MqttSettingsChange", {
    "type": "object",
    "description": "Any subset of the push settings (the [mqtt] config section, same rules). password: omit "
                   "it to keep the stored one (a new host or port without one clears it); \"\" clears it.",
    "properties": {**_FROM_CONFIG, "label_map": _LABEL_MAP},
    "additionalProperties": False,
})
SETTINGS = Schema("MqttSettings", {
    "type": "object",
    "description": "The push settings in use. Never a password: password_set says whether one is stored. "
                   "fixed: settings a flag, the environment or mqtt.url sets (cannot be changed here).",
    "properties": {**{k: v for k, v in _FROM_CONFIG.items() if k != "password"}, "label_map": _LABEL_MAP,
                   "password_set": {"type": "boolean"},
                   "policy_in_force": {"enum": ["every", "change", "rate"],
                                       "description": "the policy used: 'policy', or the preset's if empty"},
                   "fixed": {"type": "object", "additionalProperties": {"type": "string"}},
                   "fixed_by": {"type": "object", "additionalProperties": {"enum": ["flags", "env", "url"]},
                                "description": "what fixes each of 'fixed', stable (pages translate it)"}},
})
MQTT_ERROR_CODES = ("off", "login_refused", "unreachable", "connection_lost", "no_broker", "not_started")
STATUS = Schema("MqttStatus", {
    "type": "object", "required": ["enabled", "connected", "error"],
    "properties": {"enabled": {"type": "boolean"}, "connected": {"type": "boolean"},
                   "error": {"type": "string", "description": "why not connected, in English (for logs)"},
                   "error_code": {"enum": ["", *MQTT_ERROR_CODES],
                                  "description": "why not connected, stable (pages translate it)"},
                   "broker": {"type": "string"}, "sent": {"type": "integer"},
                   "dropped": {"type": "integer"}, "queued": {"type": "integer"},
                   "last_message": {"type": ["object", "null"]}},
})
ANSWER = Schema("MqttAnswer", {"type": "object", "required": ["settings", "status"],
                               "properties": {"settings": SETTINGS.ref, "status": STATUS.ref}})


@dataclass
class Push:
    """The push state of one app: the broker ``serve`` started or found (None: none), whether boards can log
    in to it (serve's check at start), a lock for PUTs."""

    embedded: BrokerHandle | None = None
    reach: Reach | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def push_of(app: Flask) -> Push:
    return app.extensions[EXTENSION]


def local_broker(app: Flask) -> LocalBroker:
    """This server's broker for what boards are told: the one ``serve`` started or found, else (no broker
    in this process, e.g. a WSGI server) the one the config describes, with the boards' login."""
    push, cfg = push_of(app), app.extensions["visioncast"].config
    if push.embedded is not None:
        return push.embedded
    user, password = credentials(cfg.broker, Path(cfg.data_dir))
    return BrokerAddress(cfg.broker.host, cfg.broker.port, user, password)


def sink_of(svc: Services) -> MqttSink | None:
    return next((s for s in svc.bus.sinks if isinstance(s, MqttSink)), None)


def attach(app: Flask, cfg: MqttConfig) -> MqttSink:
    """Connect the app's sink with ``cfg`` as given (created and added to the sinks on first use)."""
    svc: Services = app.extensions["visioncast"]
    sink = sink_of(svc)
    if sink is not None:
        sink.reconfigure(cfg)
        return sink
    sink = open_mqtt_sink(cfg)  # set_threshold is the sink's own: it changes only the source it addresses
    svc.bus.add(sink)
    return sink


def start(app: Flask, embedded: BrokerHandle | None) -> MqttSink | None:
    """Start-up step: the push of the app's settings (None when push is off or has no broker to go to).
    ``embedded``: the broker ``serve`` started, whose login is used only when the push goes to it."""
    push_of(app).embedded = embedded
    config = app.extensions["visioncast"].config
    cfg = config.mqtt
    if not cfg.enabled or not has_target(cfg, embedded):
        return None
    return attach(app, push_target(cfg, embedded).mqtt)


def stop(app: Flask) -> dict[str, Any] | None:
    """Shut-down step: close the push (offline status sent) and answer its last status (None: no push)."""
    svc: Services = app.extensions["visioncast"]
    sink = sink_of(svc)
    if sink is None:
        return None
    svc.bus.remove(sink)
    sink.close()
    return sink.status()


def to_settings(cfg: Config) -> dict[str, Any]:
    """The settings JSON of ``cfg.mqtt``: no password, ``password_set`` and ``fixed`` instead."""
    mqtt, layers = cfg.mqtt, cfg.layers
    out: dict[str, Any] = {name: getattr(mqtt, name) for name in FIELDS if name != "password"}
    out["label_map"] = fmt.label_map(mqtt)
    out["policy_in_force"] = fmt.policy_of(mqtt)  # policy "" leaves it to the preset (change for siot)
    out["password_set"] = bool(mqtt.password)
    fixed, fixed_by = {}, {}
    for name in FIELDS:
        layer = layers.origin(f"mqtt.{name}")
        if layer in ("flags", "env"):
            fixed[name], fixed_by[name] = layers.describe(layer, f"mqtt.{name}"), layer
        elif mqtt.url and name in TARGET:
            where = layers.describe(layers.origin("mqtt.url"), "mqtt.url")
            fixed[name], fixed_by[name] = f"replaced by mqtt.url, set {where}", "url"
    out["fixed"], out["fixed_by"] = fixed, fixed_by
    return out


def changes_from(body: dict[str, Any], current: MqttConfig) -> dict[str, Any]:
    """The config changes a PUT body asks for (label_map object → entries, the password rules applied)."""
    unknown = [k for k in body if k not in FIELDS]
    if unknown:
        raise InputError(f"unknown setting '{unknown[0]}'; known: {', '.join(FIELDS)}")
    changes = dict(body)
    if "label_map" in changes:
        entries = changes["label_map"]
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            raise InputError("label_map must be an object of label: message texts, "
                             "e.g. {\"happy\": \"yellow\"}")
        changes["label_map"] = tuple(f"{k}={v}" for k, v in entries.items())
    password = changes.pop("password", None)
    moved = any(k in changes and str(changes[k]) != str(getattr(current, k)) for k in ("host", "port"))
    if password is not None and password != PASSWORD_MASK:
        changes["password"] = password
    elif moved:
        changes["password"] = ""  # the stored password belongs to the broker it was given for
    if any(k in changes and changes[k] != getattr(current, k) for k in TARGET):
        changes["url"] = ""  # settings made here replace a URL from the config file
    return changes


def _status(svc: Services, push: Push) -> dict[str, Any]:
    sink = sink_of(svc)
    if sink is not None:
        return sink.status()
    cfg = svc.config.mqtt
    if not has_target(cfg, push.embedded):
        code, broker = "no_broker", ""
        error = "no broker: this server runs no embedded broker; give a broker address"
    else:
        code, error = "not_started", "push is not started: press Connect"
        cfg = push_target(cfg, push.embedded).mqtt
        broker = f"{cfg.host}:{cfg.port}"
    return {"enabled": False, "connected": False, "error": error, "error_code": code, "broker": broker,
            "sent": 0, "dropped": 0,
            "queued": 0, "last_message": None}


@bp.get("/api/v1/mqtt")
@document("MQTT push settings (never a password) and status", tags=["mqtt"],
          responses={200: response("settings and status", ANSWER)})
@access("teacher")
def get_settings() -> Any:
    svc = services()
    return jsonify(settings=to_settings(svc.config), status=_status(svc, push_of(current_app)))


@bp.put("/api/v1/mqtt")
@document("Change the MQTT push settings, save them and reconnect", tags=["mqtt"],
          request_body={"required": True, "content": {"application/json": {"schema": SETTINGS_IN.ref}}},
          responses={200: response("saved; the status after (at most 3 s of) connecting", ANSWER),
                     400: error("a setting is invalid, or set by a flag or the environment (the message "
                                "names it)")})
@access("teacher")
def put_settings() -> Any:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InputError("the body must be a JSON object of settings, e.g. {\"host\": \"192.168.1.20\"}")
    svc, push = services(), push_of(current_app)
    with push.lock:
        try:
            cfg = with_saved(svc.config, "mqtt", changes_from(data, svc.config.mqtt))
            connect = push_target(cfg.mqtt, push.embedded).mqtt
        except ConfigError as exc:
            raise InputError(str(exc)) from exc
        write_saved(cfg.layers)
        svc.config = cfg
        sink = attach(current_app, connect)
    sink.wait_connected(CONNECT_WAIT_S if cfg.mqtt.enabled else 0)
    return jsonify(settings=to_settings(cfg), status=sink.status())


@bp.get("/mqtt")
@document("MQTT push settings page", tags=["pages"],
          responses={200: response("the page", media_type="text/html")})
@access("teacher")
def page() -> str:
    to = push_target(services().config.mqtt, local_broker(current_app))
    addresses = lan_addresses() if to.board_host in ANY_HOSTS else [to.board_host]
    boards = {"port": to.board_port, "user": to.board_user, "password": to.board_password,
              "reach": push_of(current_app).reach if to.local else None}
    return render_template("mqtt.html", addresses=addresses, boards=boards)


def _counters(app: Flask) -> dict[tuple[str, ...], float]:
    sink = sink_of(app.extensions["visioncast"])
    status = sink.status() if sink is not None else {}
    keys = ("sent", "lost", "dropped_queue_full", "dropped_disconnected", "dropped_error", "skipped",
            "paused")
    return {(k,): float(status.get(k, 0)) for k in keys}


def _gauge(app: Flask, key: str) -> float:
    sink = sink_of(app.extensions["visioncast"])
    return float(sink.status()[key]) if sink is not None else 0.0


def register(app: Flask) -> None:
    """Routes, the nav link, /metrics callbacks. Connects nothing (see :func:`start`)."""
    from visioncast.server.pages import add_nav_link  # noqa: PLC0415 (pages imports app)

    app.extensions[EXTENSION] = Push()
    app.register_blueprint(bp)
    add_nav_link(app, "mqtt.page", "MQTT push", "Push every result to IoT boards: broker, topics, policy.")
    m = metrics_of(app)
    m.add_callback("visioncast_mqtt_messages", "MQTT messages by outcome (sent = acknowledged, lost = not "
                   "acknowledged at stop, dropped_*, skipped, paused)",
                   lambda: _counters(app), kind="counter", labels=["outcome"])
    m.add_callback("visioncast_mqtt_queued", "MQTT messages waiting in the outgoing queue",
                   lambda: _gauge(app, "queued"))
    m.add_callback("visioncast_mqtt_connected", "1 when connected to the MQTT broker",
                   lambda: _gauge(app, "connected"))
