"""Where a board listens: the topic the server's push publishes a source's label on and the table keyed by
what the push really sends (its ``label_map``). The broker and login come from
:func:`visioncast.sinks.push_target.push_target`. Pure (reads the Config only)."""

from __future__ import annotations

from collections.abc import Mapping

from visioncast.boardcode.actions import Action, as_sent
from visioncast.config import Config
from visioncast.errors import InputError
from visioncast.sinks import mqtt_format as fmt

DEFAULT_SOURCE = "teach"  # what the /teach page's tries publish as


def label_topic(cfg: Config, source: str = DEFAULT_SOURCE) -> str:
    """The topic the server publishes ``source``'s label on under ``cfg`` (``mqtt.source``, when set, names
    every source); InputError under a preset that publishes no label."""
    mqtt = cfg.mqtt
    topic = fmt.topic(mqtt, "label", cfg.mqtt.source or fmt.check_source(source))
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
