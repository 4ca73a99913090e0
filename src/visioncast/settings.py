"""Settings saved from the pages: the "saved" layer of :func:`visioncast.config.load`. I/O: writes
``<data_dir>/settings.toml`` (and migrates the /mqtt page's old ``mqtt.json`` once).

The file is TOML, like the config file a teacher writes by hand, so one format holds every setting; it is
written with ``tomli-w`` (tiny, pure Python; the standard library reads TOML but does not write it). It holds
only what a teacher changed (values equal to defaults ← config file are dropped) and only the sections in
:data:`~visioncast.config.SAVED_SECTIONS`; mode 600, since it may hold an external broker's password.
Environment variables and command-line flags still win over it, so :func:`with_saved` refuses to save a
change they would hide.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from visioncast.config import (
    LEGACY_MQTT_FILE,
    LOOPBACK,
    SAVED_SECTIONS,
    Config,
    Layers,
    MqttConfig,
    below_saved,
    build,
    settable,
)
from visioncast.config_schema import check_value
from visioncast.errors import ConfigError

log = logging.getLogger(__name__)
SECRET = ("password", "url")  # never repeated in a message (a URL may hold a password)


def migrate(legacy: Path, layers: Layers) -> Layers:
    """The /mqtt page's old ``mqtt.json`` as the saved layer, written to settings.toml; the old file renamed.

    Old files hold every field, the embedded broker's login included: settings that pointed at this
    machine's embedded broker (loopback, its port or its user) become host "" (the embedded broker, on
    whatever port it now has), and values equal to the layers below are dropped.
    """
    try:
        data = json.loads(legacy.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot migrate the MQTT settings '{legacy}' ({exc}); fix or delete it") from exc
    mqtt = {k: v for k, v in data.items() if k in settable(MqttConfig())}
    if isinstance(mqtt.get("label_map"), dict):
        mqtt["label_map"] = [f"{k}={v}" for k, v in mqtt["label_map"].items()]
    broker = build(layers).broker
    if mqtt.get("host") in LOOPBACK and (mqtt.get("port") == broker.port
                                         or mqtt.get("username") == broker.username):
        for key in ("host", "port", "username", "password"):
            mqtt.pop(key, None)
    try:
        layers = dataclasses.replace(layers, saved=_only_changes({"mqtt": mqtt}, layers))
        build(layers)  # the migrated settings must make a valid Config before they are written
    except ConfigError as exc:
        raise ConfigError(f"cannot migrate the MQTT settings '{legacy}': {exc}; fix or delete it") from exc
    write_saved(layers)
    legacy.replace(legacy.with_name(LEGACY_MQTT_FILE + ".migrated"))
    log.info("migrated %s to %s", legacy, layers.saved_path)
    return layers


def _only_changes(saved: Mapping[str, Any], layers: Layers) -> dict[str, Any]:
    """``saved`` checked, without the values the layers below it (defaults ← TOML) already give."""
    below = below_saved(layers)
    out: dict[str, Any] = {}
    for section, values in saved.items():
        current = getattr(below, section)
        kept = {}
        for key, value in values.items():
            new = _checked(current, section, key, value)
            if new != getattr(current, key):
                kept[key] = list(new) if isinstance(new, tuple) else new
        if kept:
            out[section] = kept
    return out


def _checked(current: Any, section: str, key: str, value: Any) -> Any:
    if key not in settable(current):
        raise ConfigError(f"unknown config key '{section}.{key}'; known: {', '.join(settable(current))}")
    return check_value(type(current), key, value, f"config '{section}.{key}'")


def with_saved(cfg: Config, section: str, changes: Mapping[str, Any]) -> Config:
    """``cfg`` built again with ``changes`` added to the saved layer of ``section`` (not written yet).

    Each value is checked by the same rules as every layer; a change to a key that the environment or a
    flag sets is refused (it would not be used); the saved layer keeps only values that differ from
    defaults ← TOML. ConfigError names the key.
    """
    if section not in SAVED_SECTIONS:
        raise ConfigError(f"only [{'], ['.join(SAVED_SECTIONS)}] settings can be saved, not [{section}]")
    layers, current = cfg.layers, getattr(cfg, section)
    changed = {}
    for key, value in changes.items():
        new = _checked(current, section, key, value)
        if new == getattr(current, key):
            continue
        dotted = f"{section}.{key}"
        pinned = next((layer for layer in ("flags", "env") if layers.value(layer, dotted) is not None), None)
        if pinned:
            shown = "" if key in SECRET else f" ({getattr(current, key)!r})"
            raise ConfigError(f"config '{dotted}' is set {layers.describe(pinned, dotted)}{shown}, "
                              f"which wins over settings saved here")
        changed[key] = new
    saved = {**layers.saved, section: {**layers.saved.get(section, {}), **changed}}
    return build(dataclasses.replace(layers, saved=_only_changes(saved, layers)))


def write_saved(layers: Layers) -> None:
    """Write the saved layer to its file (mode 600: it may hold a broker password), atomically."""
    path = Path(layers.saved_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ("# Settings saved from the visioncast pages (the /mqtt page). They win over the config file and\n"
            "# lose to VISIONCAST_* environment variables and command-line flags. Written by the server.\n"
            + tomli_w.dumps(dict(layers.saved)))
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)  # os.open's mode applies only to a file it creates
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    tmp.replace(path)
