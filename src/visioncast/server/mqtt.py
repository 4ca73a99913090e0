"""Push settings: ``GET/PUT /api/v1/mqtt`` and the ``/mqtt`` page. I/O: reads/writes ``<data_dir>/mqtt.json``.

The app holds at most one :class:`~visioncast.sinks.mqtt.MqttSink`, in ``services.sinks`` like every sink.
``PUT`` validates the settings (400 naming the field), saves them under the data dir (so they survive
restarts; the password is stored there with mode 600 and never sent back in full), reconnects the sink
(creating it on first use) and answers the new status: connected, or the reason it is not. When the app
starts with saved settings that are enabled, the sink is created and connects right away. The sink's counters
are on /metrics.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from visioncast.broker import lan_addresses
from visioncast.config import MqttConfig
from visioncast.errors import ConfigError, InputError
from visioncast.server.app import services
from visioncast.server.metrics import metrics_of
from visioncast.server.openapi import Schema, document, error, response
from visioncast.server.services import Services
from visioncast.sinks import mqtt_format as fmt
from visioncast.sinks.mqtt import MqttSink
from visioncast.sinks.mqtt_policy import POLICIES

SETTINGS_FILE = "mqtt.json"
PASSWORD_MASK = "********"
CONNECT_WAIT_S = 3.0
FIELDS = ("enabled", "host", "port", "username", "password", "preset", "prefix", "source", "payload",
          "template", "label_map", "empty_label", "policy", "debounce_frames", "window", "max_rate_hz", "qos",
          "retain")

bp = Blueprint("mqtt", __name__)

SETTINGS = Schema("MqttSettings", {
    "type": "object",
    "description": "MQTT push settings; PUT accepts any subset. password: omit it (or send the mask) to "
                   "keep it.",
    "properties": {
        "enabled": {"type": "boolean"},
        "host": {"type": "string", "minLength": 1, "maxLength": 253},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "username": {"type": "string", "maxLength": 256},
        "password": {"type": "string", "maxLength": 256},
        "preset": {"enum": list(fmt.PRESETS)},
        "prefix": {"type": "string", "minLength": 1, "maxLength": 128},
        "source": {"type": "string", "maxLength": 64,
                   "description": "topic name used for every source ('' = each source's own)"},
        "payload": {"enum": list(fmt.PAYLOADS)},
        "template": {"type": "string", "maxLength": 512},
        "label_map": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 256}},
        "empty_label": {"type": "string", "minLength": 1, "maxLength": 64},
        "policy": {"enum": list(POLICIES)},
        "debounce_frames": {"type": "integer", "minimum": 1, "maximum": 1000},
        "window": {"type": "integer", "minimum": 0, "maximum": 1000},
        "max_rate_hz": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
        "qos": {"enum": [0, 1]},
        "retain": {"type": "boolean"},
    },
    "additionalProperties": False,
})
STATUS = Schema("MqttStatus", {
    "type": "object", "required": ["enabled", "connected", "error"],
    "properties": {"enabled": {"type": "boolean"}, "connected": {"type": "boolean"},
                   "error": {"type": "string"}, "broker": {"type": "string"}, "sent": {"type": "integer"},
                   "dropped": {"type": "integer"}, "queued": {"type": "integer"},
                   "last_message": {"type": ["object", "null"]}},
})
ANSWER = Schema("MqttAnswer", {"type": "object", "required": ["settings", "status"],
                               "properties": {"settings": SETTINGS.ref, "status": STATUS.ref}})
_VALIDATOR = Draft202012Validator(SETTINGS.schema)


def settings_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / SETTINGS_FILE


def load_saved(cfg: MqttConfig, data_dir: str | Path) -> MqttConfig | None:
    """``cfg`` with the saved settings applied, or None when nothing was saved."""
    path = settings_path(data_dir)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return merge(cfg, data)
    except (ValueError, InputError) as exc:
        raise ConfigError(f"saved MQTT settings '{path}' are unusable ({exc}); fix or delete the file"
                          ) from exc


def save(cfg: MqttConfig, data_dir: str | Path) -> None:
    path = settings_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(to_settings(cfg, mask=False), ensure_ascii=False, indent=2), encoding="utf-8")
    with contextlib.suppress(OSError):
        os.chmod(tmp, 0o600)
    tmp.replace(path)


def to_settings(cfg: MqttConfig, *, mask: bool = True) -> dict[str, Any]:
    """The settings JSON of ``cfg``; the password is masked unless ``mask`` is false."""
    out = {name: getattr(cfg, name) for name in FIELDS}
    out["label_map"] = fmt.label_map(cfg)
    out["policy"] = fmt.policy_of(cfg)  # the one in force, also when the config leaves it to the preset
    if mask and cfg.password:
        out["password"] = PASSWORD_MASK
    return out


def merge(cfg: MqttConfig, data: Any) -> MqttConfig:
    """``cfg`` updated with the (partial) settings ``data``; InputError naming the first bad field."""
    err = best_match(_VALIDATOR.iter_errors(data))
    if err is not None:
        where = ".".join(str(p) for p in err.absolute_path) or "settings"
        raise InputError(f"{where}: {err.message}")
    changes = dict(data)
    if changes.get("password") == PASSWORD_MASK:
        del changes["password"]
    if "label_map" in changes:
        changes["label_map"] = tuple(f"{k}={v}" for k, v in changes["label_map"].items())
    try:
        return fmt.resolve(dataclasses.replace(cfg, url="", **changes))
    except ConfigError as exc:
        raise InputError(str(exc)) from exc


def sink_of(svc: Services) -> MqttSink | None:
    return next((s for s in svc.sinks if isinstance(s, MqttSink)), None)


def attach(app: Flask, cfg: MqttConfig) -> MqttSink:
    """Connect the app's sink with ``cfg`` (created and added to the sinks on first use)."""
    svc: Services = app.extensions["visioncast"]
    sink = sink_of(svc)
    if sink is not None:
        sink.reconfigure(cfg)
        return sink
    sink = MqttSink(cfg)  # set_threshold is the sink's own: it changes only the source it addresses
    svc.sinks.append(sink)
    return sink


def _current(svc: Services) -> tuple[MqttConfig, dict[str, Any]]:
    sink = sink_of(svc)
    if sink is not None:
        return sink.cfg, sink.status()
    cfg = load_saved(svc.config.mqtt, svc.config.data_dir) or svc.config.mqtt
    return cfg, {"enabled": False, "connected": False, "error": "push is not started: press Connect",
                 "broker": f"{cfg.host}:{cfg.port}", "sent": 0, "dropped": 0, "queued": 0,
                 "last_message": None}


@bp.get("/api/v1/mqtt")
@document("MQTT push settings and status", tags=["mqtt"],
          responses={200: response("settings and status", ANSWER)})
def get_settings() -> Any:
    cfg, status = _current(services())
    return jsonify(settings=to_settings(cfg), status=status)


@bp.put("/api/v1/mqtt")
@document("Change the MQTT push settings, save them and reconnect", tags=["mqtt"],
          request_body={"required": True, "content": {"application/json": {"schema": SETTINGS.ref}}},
          responses={200: response("saved; the status after (at most 3 s of) connecting", ANSWER),
                     400: error("a setting is invalid (the message names it)")})
def put_settings() -> Any:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InputError("the body must be a JSON object of settings, e.g. {\"host\": \"192.168.1.20\"}")
    svc = services()
    cfg = merge(_current(svc)[0], data)
    save(cfg, svc.config.data_dir)
    sink = attach(current_app, cfg)
    sink.wait_connected(CONNECT_WAIT_S if cfg.enabled else 0)
    return jsonify(settings=to_settings(sink.cfg), status=sink.status())


@bp.get("/mqtt")
@document("MQTT push settings page", tags=["pages"],
          responses={200: response("the page", media_type="text/html")})
def page() -> str:
    return render_template("mqtt.html", addresses=lan_addresses(), broker=services().config.broker)


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
    """Routes, the nav link, /metrics callbacks; connect right away when saved settings say so."""
    from visioncast.server.pages import add_nav_link  # noqa: PLC0415 (pages imports app)

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
    svc: Services = app.extensions["visioncast"]
    saved = load_saved(svc.config.mqtt, svc.config.data_dir)
    if saved is not None and saved.enabled:
        attach(app, saved)
