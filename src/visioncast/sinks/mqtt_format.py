"""MQTT topics, presets and payloads: what goes on the wire, built in one place. Pure (no sockets, no paho).

Every topic comes from :data:`TOPICS`, one template table per preset. The default preset (prefix
``visioncast``) publishes per source ``{prefix}/{source}/result`` (the HTTP JSON + source, frame, timestamp
and sent_at: media time, and the wall-clock Unix time of publishing, so a client can measure latency),
``{prefix}/{source}/label`` (the top label as plain UTF-8, JSON or a user template, after the label→message
map; retained when ``retain`` is on, so a board that reboots gets it), ``{prefix}/{source}/count/{label}``
(an integer, retained likewise; one 0 when the label disappears), ``{prefix}/{source}/stats`` and ``…/event``
(analytics), ``{prefix}/{source}/target/x``, ``…/target/y`` and ``…/target/size`` (where the biggest face,
else the biggest person, is: integers 0–100, see :func:`target_messages`; one ``none`` on ``…/target`` when no
one is there), ``{prefix}/{source}/state`` (retained: paused, threshold; after each command) and
``{prefix}/{instance}/status`` (online/offline per publisher — "server" for serve, "run-<name>" for a run —
retained, the last will). ``siot`` publishes the label
text on ``siot/{source}`` as SIoT and Mind+ expect; ``people-counter`` publishes ``person`` {"count", "total"}
and ``person/duration`` {"duration"} as the OpenVINO course UI expects. The JSON Schemas of every payload live
here.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from visioncast.config import MqttConfig
from visioncast.config.schema import TEMPLATE_SAMPLE, check_template
from visioncast.core.payload import result_to_payload
from visioncast.core.types import Frame, Result
from visioncast.errors import ConfigError, InputError

PRESETS = ("", "siot", "people-counter")
PAYLOADS = ("label", "json", "template")
TEMPLATE_FIELDS = tuple(TEMPLATE_SAMPLE)
_COMMAND = {"cmd": "{prefix}/{source}/cmd", "reply": "{prefix}/{source}/cmd/reply",
            "state": "{prefix}/{source}/state", "status": "{prefix}/{instance}/status"}
_TARGET = {"target": "{prefix}/{source}/target", "target_x": "{prefix}/{source}/target/x",
           "target_y": "{prefix}/{source}/target/y", "target_size": "{prefix}/{source}/target/size"}
TOPICS: dict[str, dict[str, str]] = {
    "": {"result": "{prefix}/{source}/result", "label": "{prefix}/{source}/label",
         "count": "{prefix}/{source}/count/{label}", "stats": "{prefix}/{source}/stats",
         "event": "{prefix}/{source}/event", **_COMMAND, **_TARGET},
    "siot": {"label": "siot/{source}",
             **{k: v.replace("{prefix}", "siot") for k, v in {**_COMMAND, **_TARGET}.items()}},
    "people-counter": {"person": "person", "duration": "person/duration", **_COMMAND},
}
_UNSAFE = re.compile(r"[+#/\x00]")


@dataclass(frozen=True)
class Message:
    """One MQTT message to send."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False


def topic(cfg: MqttConfig, kind: str, source: str = "", label: str = "") -> str | None:
    """The topic of ``kind`` for this config (None when the preset does not publish that kind)."""
    template = TOPICS[cfg.preset].get(kind)
    if template is None:
        return None
    return template.format(prefix=cfg.prefix, source=_safe(source), label=_safe(label),
                           instance=_safe(cfg.instance))


def command_filter(cfg: MqttConfig) -> str:
    """The subscription that receives the commands of every source."""
    return TOPICS[cfg.preset]["cmd"].format(prefix=cfg.prefix, source="+")


def command_source(cfg: MqttConfig, name: str, kind: str = "cmd") -> str | None:
    """The source a command topic (or another ``kind`` of topic per source) addresses, or None when ``name``
    is not one."""
    head, _, tail = TOPICS[cfg.preset][kind].format(prefix=cfg.prefix, source="\0").partition("\0")
    if not (name.startswith(head) and name.endswith(tail)) or len(name) <= len(head) + len(tail):
        return None
    source = name[len(head): len(name) - len(tail)]
    return None if "/" in source else source


def resolve(cfg: MqttConfig) -> MqttConfig:
    """``cfg`` checked, with ``url`` (mqtt://user:pass@host:port) and preset credentials spelled out."""
    if cfg.url:
        cfg = dataclasses.replace(cfg, url="", **parse_url(cfg.url))
    elif not cfg.host:  # "" = the embedded broker; a sink built without one connects to this machine
        cfg = dataclasses.replace(cfg, host="127.0.0.1")
    if cfg.preset == "siot" and not cfg.username:
        cfg = dataclasses.replace(cfg, username="siot", password=cfg.password or "dfrobot")
    if not cfg.policy:
        cfg = dataclasses.replace(cfg, policy=policy_of(cfg))
    return check(cfg)


def policy_of(cfg: MqttConfig) -> str:
    """The publish policy in force: the configured one, else the preset's (change for siot: micro:bit + OBLOQ
    cannot take a message per frame; every otherwise)."""
    return cfg.policy or ("change" if cfg.preset == "siot" else "every")


def parse_url(url: str) -> dict[str, Any]:
    """host, port, username, password of ``mqtt://[user[:password]@]host[:port]``; ConfigError otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port or 1883
    except ValueError as exc:
        raise ConfigError(f"--mqtt must look like mqtt://user:pass@host:port, got {url!r}: {exc}") from exc
    if parts.scheme != "mqtt" or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"--mqtt must look like mqtt://user:pass@host:port (or 'off'), got {url!r}")
    return {"host": parts.hostname, "port": port, "username": unquote(parts.username or ""),
            "password": unquote(parts.password or "")}


def _safe(part: str) -> str:
    """A topic level: wildcards and separators replaced, never empty."""
    return _UNSAFE.sub("_", part) or "_"


def label_map(cfg: MqttConfig) -> dict[str, str]:
    """The label→message map from 'label=message' entries."""
    out: dict[str, str] = {}
    for entry in cfg.label_map:
        label, sep, message = entry.partition("=")
        if not sep or not label.strip():
            raise ConfigError(f"mqtt.label_map entries must look like 'label=message', got {entry!r}")
        out[label.strip()] = message.strip()
    return out


def check(cfg: MqttConfig) -> MqttConfig:
    """``cfg`` when every MQTT setting is usable; ConfigError naming the first wrong one."""
    _one_of("mqtt.preset", cfg.preset, PRESETS)
    _one_of("mqtt.payload", cfg.payload, PAYLOADS)
    _one_of("mqtt.qos", cfg.qos, (0, 1))
    if not 0 < cfg.port < 65536:
        raise ConfigError(f"mqtt.port must be 1–65535, got {cfg.port}")
    if not cfg.prefix or _UNSAFE.search(cfg.prefix.replace("/", "")):
        raise ConfigError(f"mqtt.prefix must be a non-empty topic without + or #, got {cfg.prefix!r}")
    if cfg.queue_size < 1:
        raise ConfigError(f"mqtt.queue_size must be >= 1, got {cfg.queue_size}")
    if not cfg.instance:
        raise ConfigError("mqtt.instance must not be empty (it names this publisher's status topic)")
    if cfg.payload == "template":
        _check_template(cfg.template)
    label_map(cfg)
    return cfg


def _one_of(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")


def _check_template(template: str) -> None:
    if not template:
        raise ConfigError("mqtt.template must not be empty when payload is 'template'")
    try:
        check_template(template)  # the config's own check: formats a sample result
    except ValueError as exc:
        raise ConfigError(f"mqtt.template {exc}") from exc


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def result_fields(source: str, frame: Frame | None, seq: int, extra: dict[str, Any]) -> dict[str, Any]:
    """The fields a result's messages carry: source, frame (the frame's index, else the source's own count
    ``seq``), timestamp (the frame's media time, else now), sent_at (now: when the result is published, wall
    clock) and ``extra`` but images (no base64 on MQTT)."""
    now = time.time()
    fields: dict[str, Any] = {"source": source, "frame": frame.index if frame else seq,
                              "timestamp": frame.timestamp_s if frame else round(now, 3),
                              "sent_at": round(now, 6)}
    fields.update((k, v) for k, v in extra.items() if k != "image")
    return fields


def result_messages(cfg: MqttConfig, result: Result, label: str, fields: dict[str, Any],
                    previous_labels: set[str]) -> list[Message]:
    """The messages of one published result. ``fields``: source, frame, timestamp (+ extra JSON keys).

    ``label`` is the label the policy decided on; labels of the previous published result absent now are
    sent once as 0. ``retain`` keeps the label and counts (a board's state), never the result JSON.
    """
    source = fields["source"]
    out: list[Message] = []
    if (name := topic(cfg, "result", source)) is not None:
        out.append(Message(name, _json(result_to_payload(result, **fields)), cfg.qos, False))
    if (name := topic(cfg, "label", source)) is not None:
        out.append(Message(name, label_payload(cfg, result, label, fields), cfg.qos, cfg.retain))
    if topic(cfg, "count", source) is not None:
        counts = result.counts()
        for gone in sorted(previous_labels - set(counts)):
            counts[gone] = 0
        for name_, n in counts.items():
            out.append(Message(str(topic(cfg, "count", source, name_)), str(n).encode(), cfg.qos, cfg.retain))
    return out


def above(result: Result, conf: float | None) -> tuple[Result, str | None]:
    """``result`` keeping the detections that score at least ``conf``, and its top label (None when nothing
    reaches ``conf``: a classification whose best class is below it keeps its classes but has no label)."""
    if conf is None:
        return result, result.top_label
    if result.detections is not None:
        kept = result.detections.select(result.detections.score >= conf)
        result = dataclasses.replace(result, detections=kept)
        return result, result.top_label
    if result.classification is not None and float(result.classification.score[0]) < conf:
        return result, None
    return result, result.top_label


def label_payload(cfg: MqttConfig, result: Result, label: str, fields: dict[str, Any]) -> bytes:
    """The label message in the configured format (plain text, JSON or the user's template)."""
    message = label_map(cfg).get(label, label)
    if cfg.payload == "label":
        return message.encode("utf-8")
    values = {"label": label, "message": message, "score": top_score(result, label),
              "count": result.counts().get(label, 0), "source": fields["source"], "frame": fields["frame"],
              "timestamp": fields["timestamp"]}
    if "sent_at" in fields:
        values["sent_at"] = fields["sent_at"]
    if cfg.payload == "json":
        return _json(values)
    return cfg.template.format_map(values).encode("utf-8")


def top_score(result: Result, label: str) -> float:
    """The best score of ``label`` in ``result`` (0.0 when absent)."""
    if result.classification is not None:
        pairs = zip(result.classification.score, result.classification.labels, strict=True)
    elif result.detections is not None:
        pairs = zip(result.detections.score, result.detections.labels, strict=True)
    else:
        return 0.0
    return round(max((float(s) for s, n in pairs if n == label), default=0.0), 4)


TARGET_LABELS = ("face", "person")  # what a board follows, first found wins
NO_TARGET = b"none"


def pick_target(result: Result) -> tuple[int, int, int] | None:
    """(x, y, size) of the biggest face, else the biggest person, as integers 0–100: the box centre in percent
    of the frame width and height, its width in percent of the frame width. None when neither is there."""
    dets = result.detections
    if dets is None:
        return None
    for label in TARGET_LABELS:
        rows = [i for i, name in enumerate(dets.labels) if name == label]
        if rows:
            boxes = dets.xyxy[rows]
            areas = (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)
            x1, y1, x2, y2 = (float(v) for v in boxes[int(areas.argmax())])
            return (_percent((x1 + x2) / 2, result.width), _percent((y1 + y2) / 2, result.height),
                    _percent(x2 - x1, result.width))
    return None


def _percent(value: float, whole: int) -> int:
    return int(min(max(round(value / whole * 100), 0), 100))


def target_messages(cfg: MqttConfig, result: Result, source: str,
                    had_target: bool | None) -> tuple[list[Message], bool | None]:
    """The target messages of one result and whether it had a target (the next call's ``had_target``).

    x, y and size as plain integers when someone is there; one ``none`` on ``…/target`` when no one is and
    someone was (or nothing was published yet). Results without detections (classify) publish nothing and
    leave the state as it was.
    """
    if result.detections is None or topic(cfg, "target", source) is None:
        return [], had_target
    target = pick_target(result)
    if target is None:
        none = Message(str(topic(cfg, "target", source)), NO_TARGET, cfg.qos, cfg.retain)
        return ([] if had_target is False else [none]), False
    return [Message(str(topic(cfg, kind, source)), str(value).encode(), cfg.qos, cfg.retain)
            for kind, value in zip(("target_x", "target_y", "target_size"), target, strict=True)], True


def stats_messages(cfg: MqttConfig, stats: dict[str, Any], source: str) -> list[Message]:
    """Messages of one analytics snapshot (the contract's stats schema)."""
    if cfg.preset == "people-counter":
        value = {"count": int(stats.get("counts", {}).get("person", 0)),
                 "total": int(stats.get("totals", {}).get("person", 0))}
        return [Message("person", _json(value), cfg.qos, cfg.retain)]
    name = topic(cfg, "stats", source)
    return [] if name is None else [Message(name, _json(stats), cfg.qos, cfg.retain)]


def event_messages(cfg: MqttConfig, event: dict[str, Any], source: str) -> list[Message]:
    """Messages of one analytics event (track_left, state)."""
    if cfg.preset == "people-counter":
        if event.get("type") == "track_left" and event.get("label") == "person":
            value = {"duration": float(event.get("duration_s", 0.0))}
            return [Message("person/duration", _json(value), cfg.qos, False)]
        return []
    name = topic(cfg, "event", source)
    return [] if name is None else [Message(name, _json({**event, "source": source}), cfg.qos, False)]


def clearable(cfg: MqttConfig, message: Message) -> bool:
    """Whether ``message`` leaves a retained value that :func:`clear_messages` removes when retain is turned
    off (labels, counts, targets, stats): not the status and state, which are always retained."""
    return message.retain and message.topic != topic(cfg, "status") and (
        "state" not in TOPICS[cfg.preset] or command_source(cfg, message.topic, "state") is None)


def clear_messages(topics: set[str]) -> list[Message]:
    """Empty retained messages: the broker forgets what it kept on each of ``topics`` (MQTT 3.1.1)."""
    return [Message(name, b"", 1, True) for name in sorted(topics)]


def status_message(cfg: MqttConfig, online: bool) -> Message:
    """``{prefix}/status`` online/offline, retained, QoS 1 (also the last will)."""
    return Message(str(topic(cfg, "status")), b"online" if online else b"offline", 1, True)


def reply_message(cfg: MqttConfig, source: str, reply: dict[str, Any]) -> Message:
    return Message(str(topic(cfg, "reply", source)), _json(reply), 1, False)


def state_message(cfg: MqttConfig, source: str, state: dict[str, Any]) -> Message:
    """``…/state``: what commands set for this source (paused, threshold), retained for boards that reboot."""
    return Message(str(topic(cfg, "state", source)), _json(state), 1, True)


LABEL_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "label message (payload = json)",
    "type": "object",
    "required": ["label", "message", "score", "count", "source", "frame", "timestamp"],
    "properties": {
        "label": {"type": "string"}, "message": {"type": "string"},
        "score": {"type": "number", "minimum": 0, "maximum": 1}, "count": {"type": "integer", "minimum": 0},
        "source": {"type": "string"}, "frame": {"type": "integer", "minimum": 0},
        "timestamp": {"type": "number"},
        "sent_at": {"type": "number", "description": "Unix time (s) the server published it"},
    },
    "additionalProperties": False,
}
TARGET_SCHEMA: dict[str, Any] = {"title": "target/x, target/y, target/size (decoded as JSON)",
                                  "type": "integer", "minimum": 0, "maximum": 100}
COUNT_SCHEMA: dict[str, Any] = {"title": "count message (decoded as JSON)", "type": "integer", "minimum": 0}
STATUS_SCHEMA: dict[str, Any] = {"title": "status message (text)", "enum": ["online", "offline"]}
STATE_SCHEMA: dict[str, Any] = {
    "title": "state on {prefix}/{source}/state (retained)", "type": "object",
    "required": ["paused", "threshold"],
    "properties": {"paused": {"type": "boolean"}, "threshold": {"type": ["number", "null"]}},
    "additionalProperties": False,
}
PERSON_SCHEMA: dict[str, Any] = {
    "title": "people-counter `person`", "type": "object", "required": ["count", "total"],
    "properties": {"count": {"type": "integer", "minimum": 0}, "total": {"type": "integer", "minimum": 0}},
    "additionalProperties": False,
}
DURATION_SCHEMA: dict[str, Any] = {
    "title": "people-counter `person/duration`", "type": "object", "required": ["duration"],
    "properties": {"duration": {"type": "number", "minimum": 0}}, "additionalProperties": False,
}
REPLY_SCHEMA: dict[str, Any] = {
    "title": "command reply on {prefix}/{source}/cmd/reply", "type": "object", "required": ["ok"],
    "properties": {"ok": {"type": "boolean"}, "cmd": {"type": ["string", "null"]},
                   "error": {"type": "string"}, "message": {"type": "string"}},
    "if": {"properties": {"ok": {"const": False}}}, "then": {"required": ["ok", "error", "message"]},
}


_SOURCE = re.compile(r"[^\s/+#\x00-\x1f]{1,64}")  # one topic level: no separator, wildcard, space or control


def check_source(name: str, *, field: str = "source") -> str:
    """``name`` when it can be a source, the ``<source>`` level of the topics (教室, door-2, 3班: 1–64
    characters without spaces, '/', '+' or '#'); InputError naming ``field`` otherwise."""
    if not _SOURCE.fullmatch(name):
        raise InputError(f"{field} must be 1–64 characters without spaces, '/', '+' or '#' (e.g. 教室 or "
                         f"door-2), got {name[:80]!r}")
    return name
