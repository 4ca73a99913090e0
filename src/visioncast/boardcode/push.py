"""Where a board listens: the topic the server's push publishes a source's label on, the table keyed by what
the push really sends (its ``label_map``), and the broker when the push goes to one other than this server's.
Pure (reads the Config only)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from visioncast.boardcode.actions import Action, as_sent
from visioncast.config import LOOPBACK, Config
from visioncast.errors import InputError
from visioncast.sinks import mqtt_format as fmt

DEFAULT_SOURCE = "teach"  # what the /teach page's tries publish as
_SOURCE = re.compile(r"[^\s/+#\x00-\x1f]{1,64}")  # the rule of ?source= on the API


@dataclass(frozen=True)
class PushBroker:
    """A broker the push goes to that is not this server's: its address and port as configured, and the
    login boards may be given (the siot preset's public default, else none: the server's own is never given
    out)."""

    host: str
    port: int
    user: str = ""
    password: str = ""


def check_source(source: str) -> str:
    """``source`` when it can name a source (1–64 characters without spaces, '/', '+' or '#')."""
    if not _SOURCE.fullmatch(source):
        raise InputError(f"source must be 1–64 characters without spaces, '/', '+' or '#' (e.g. teach or "
                         f"教室), got {source[:80]!r}")
    return source


def label_topic(cfg: Config, source: str = DEFAULT_SOURCE) -> str:
    """The topic the server publishes ``source``'s label on under ``cfg`` (``mqtt.source``, when set, names
    every source); InputError under a preset that publishes no label."""
    mqtt = fmt.with_broker_preset(cfg.mqtt, cfg.broker.preset)
    topic = fmt.topic(mqtt, "label", cfg.mqtt.source or check_source(source))
    if topic is None:
        raise InputError(f"MQTT preset {mqtt.preset!r} publishes no label topic: give the topic")
    return topic


def pushed_actions(cfg: Config, actions: Mapping[str, Action]) -> dict[str, Action]:
    """``actions`` keyed by the message the push sends for each label (``mqtt.label_map``); InputError when
    the push sends labels as JSON or a template, which a board's table cannot match."""
    if cfg.mqtt.payload != "label":
        raise InputError(f"the push sends labels as {cfg.mqtt.payload!r} (mqtt.payload), but a board "
                         f"program compares plain text: set mqtt.payload to 'label' on the MQTT page, or "
                         f"give the topic")
    return as_sent(actions, fmt.label_map(cfg.mqtt))


def push_broker(cfg: Config, embedded_port: int) -> PushBroker | None:
    """The broker the push goes to when it is not this server's (``mqtt.url``, or ``mqtt.host`` other than
    loopback on ``embedded_port``); None when it is this server's embedded broker."""
    mqtt = cfg.mqtt
    if not mqtt.url and (not mqtt.host or (mqtt.host in LOOPBACK and mqtt.port == embedded_port)):
        return None
    target = fmt.parse_url(mqtt.url) if mqtt.url else {"host": mqtt.host, "port": mqtt.port}
    preset = fmt.with_broker_preset(mqtt, cfg.broker.preset).preset
    siot_default = preset == "siot" and not mqtt.username and not (mqtt.url and target.get("username"))
    user, password = ("siot", "dfrobot") if siot_default else ("", "")
    host, port = target["host"], target["port"]
    if not isinstance(host, str) or not isinstance(port, int):  # what parse_url and the config hold
        raise InputError(f"the push's broker is not an address and a port: {host!r}, {port!r}")
    return PushBroker(host=host, port=port, user=user, password=password)
