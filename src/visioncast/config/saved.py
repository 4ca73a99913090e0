"""Settings saved from the pages: the "saved" layer of :func:`visioncast.config.load`. I/O: reads and writes
``<data_dir>/settings.toml`` (and migrates the /mqtt page's old ``mqtt.json`` once); reads TOML files.

The file is TOML, like the config file a teacher writes by hand, so one format holds every setting; it is
written with ``tomli-w`` (tiny, pure Python; the standard library reads TOML but does not write it). It holds
only what a teacher changed (values equal to defaults ← config file are dropped) and only the sections in
:data:`~visioncast.config.model.SAVED_SECTIONS`; mode 600, since it may hold an external broker's password.
Environment variables and command-line flags still win over it, so :func:`with_saved` refuses to save a
change they would hide.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from visioncast.atomic import write_atomic
from visioncast.config.build import below_saved, build
from visioncast.config.model import (
    LAYERS,
    LEGACY_MQTT_FILE,
    SAVED_FILE,
    SAVED_SECTIONS,
    Config,
    Layers,
    MqttConfig,
    default_data_dir,
    settable,
)
from visioncast.config.schema import check_value
from visioncast.errors import ConfigError
from visioncast.network import LOOPBACK

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)
SECRET = ("password", "url", "auth_token")  # never repeated in a message (a URL may hold a password)


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The TOML file at ``path`` (``what`` names it in the ConfigError of a missing or broken file)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} not found: '{path}'") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} '{path}' is not valid TOML: {exc}") from exc


def with_saved_file(layers: Layers) -> Layers:
    """``layers`` with the saved settings of the data dir the other layers name (migrating mqtt.json once)."""
    named = next((layers.value(layer, "data_dir") for layer in reversed(LAYERS)
                  if layers.value(layer, "data_dir") is not None), None)
    data_dir = Path(str(named)) if named else default_data_dir(layers.dirs)
    path = data_dir / SAVED_FILE
    layers = dataclasses.replace(layers, saved_path=str(path))
    if path.is_file():
        saved = read_toml(path, "saved settings")
        extra = [name for name in saved if name not in SAVED_SECTIONS]
        if extra:
            raise ConfigError(f"saved settings '{path}' may only hold [{'], ['.join(SAVED_SECTIONS)}], "
                              f"got '{extra[0]}'; fix or delete the file")
        return dataclasses.replace(layers, saved=saved)
    legacy = data_dir / LEGACY_MQTT_FILE
    if legacy.is_file():
        return migrate(legacy, layers)
    return layers


def migrate(legacy: Path, layers: Layers) -> Layers:
    """The /mqtt page's old ``mqtt.json`` as the saved layer, written to settings.toml; the old file renamed.

    Old files hold every field, the embedded broker's login included: settings that pointed at this
    machine's embedded broker (loopback, its port or its user) become host "" (the embedded broker, on
    whatever port it now has), ``retain`` false (the old default) is dropped, and values equal to the layers
    below are dropped.
    """
    try:
        data = json.loads(legacy.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot migrate the MQTT settings '{legacy}' ({exc}); fix or delete it") from exc
    mqtt = {k: v for k, v in data.items() if k in settable(MqttConfig())}
    if mqtt.get("retain") is False:  # the old default, not a choice: boards now get the state retained
        mqtt.pop("retain")
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
    text = ("# Settings saved from the visioncast pages (the /mqtt page). They win over the config file and\n"
            "# lose to VISIONCAST_* environment variables and command-line flags. Written by the server.\n"
            + tomli_w.dumps(dict(layers.saved)))
    write_atomic(Path(layers.saved_path), text.encode("utf-8"), mode=0o600)
