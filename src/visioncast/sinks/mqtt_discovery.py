"""Home Assistant MQTT discovery: announce each source's label and per-label counts as sensors. Pure, no I/O.

With ``mqtt.ha_discovery`` on, the sink announces (retained, once per sink) a ``sensor`` for each source's
``…/label`` topic and one for each ``…/count/<label>`` the first time that label is seen, under
``homeassistant/sensor/visioncast_<instance>/<object>/config``. Home Assistant then lists them on its own,
available while ``{prefix}/{instance}/status`` says online. Only the default preset has these topics.
"""

from __future__ import annotations

import json
import re
from typing import Any

import visioncast.sinks.mqtt_format as fmt
from visioncast.config import MqttConfig

DISCOVERY_PREFIX = "homeassistant"
_OBJECT = re.compile(r"[^A-Za-z0-9_-]")


def object_id(*parts: str) -> str:
    """A discovery object id from topic parts (non-ASCII names become their code points, so 教室 stays
    distinct from 食堂)."""
    text = "_".join(parts)
    return "".join(c if not _OBJECT.match(c) else f"u{ord(c):x}" for c in text)


def discovery_messages(cfg: MqttConfig, source: str, labels: list[str],
                       announced: set[str]) -> list[fmt.Message]:
    """Config messages for ``source``'s label sensor and the count sensors of ``labels`` not yet in
    ``announced`` (which is updated)."""
    label_topic = fmt.topic(cfg, "label", source)
    if not cfg.ha_discovery or label_topic is None:
        return []
    wanted = [("label", label_topic, f"{source} label")]
    wanted += [(f"count_{label}", str(fmt.topic(cfg, "count", source, label)), f"{source} {label} count")
               for label in labels]
    out = []
    for key, state_topic, name in wanted:
        oid = object_id(source, key)
        if oid in announced:
            continue
        announced.add(oid)
        name_ = f"{DISCOVERY_PREFIX}/sensor/{object_id('visioncast', cfg.instance)}/{oid}/config"
        out.append(fmt.Message(name_, _json(_sensor(cfg, oid, state_topic, name, key != "label")), 1, True))
    return out


def _sensor(cfg: MqttConfig, oid: str, state_topic: str, name: str, numeric: bool) -> dict[str, Any]:
    node = object_id("visioncast", cfg.instance)
    sensor: dict[str, Any] = {
        "name": name, "unique_id": f"{node}_{oid}", "state_topic": state_topic,
        "availability_topic": fmt.topic(cfg, "status"), "payload_available": "online",
        "payload_not_available": "offline",
        "device": {"identifiers": [node], "name": f"visioncast {cfg.instance}", "manufacturer": "visioncast"},
    }
    if numeric:
        sensor.update(state_class="measurement", unit_of_measurement="objects")
    return sensor


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
