"""The layers of a configuration applied in precedence order into a :class:`~visioncast.config.model.Config`,
each value checked by its field's rule. Pure, no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visioncast.config.model import LAYERS, Config, Layers, default_cache_dir, default_data_dir, settable
from visioncast.config.schema import check_value
from visioncast.errors import ConfigError
from visioncast.lang import from_locale


def apply(obj: Any, changes: Mapping[str, Any], where: str) -> Any:
    """A copy of dataclass ``obj`` with nested ``changes`` applied, each value checked by its field's rule."""
    known = settable(obj)
    updates: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in known:
            raise ConfigError(f"unknown config key '{where}{key}'; known: {', '.join(known)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config '{where}{key}' must be a table, got {value!r}")
            updates[key] = apply(current, value, f"{where}{key}.")
        else:
            updates[key] = check_value(type(obj), key, value, f"config '{where}{key}'")
    return dataclasses.replace(obj, **updates)


def _check(cfg: Config) -> Config:
    """The rules that involve two fields."""
    if cfg.mqtt.payload == "template" and not cfg.mqtt.template:
        raise ConfigError("config 'mqtt.template' must not be empty when mqtt.payload is 'template'")
    return cfg


def build(layers: Layers) -> Config:
    """The Config of ``layers``: each layer applied in precedence order, checked, paths filled in."""
    cfg = Config()
    for layer in LAYERS:
        try:
            cfg = apply(cfg, getattr(layers, layer), "")
        except ConfigError as exc:
            raise ConfigError(f"{exc} ({layers.describe(layer)})") from exc
    cfg = _preset_from_broker(cfg, layers, LAYERS)
    return dataclasses.replace(_fill_paths(_check(cfg), layers.dirs), layers=layers)


def below_saved(layers: Layers) -> Config:
    """defaults ← config file: what the saved layer is compared with (cross-field rules not applied; the
    push's preset follows the broker's of every layer, as in :func:`build`)."""
    return _preset_from_broker(apply(Config(), layers.file, ""), layers, ("file",))


def _preset_from_broker(cfg: Config, layers: Layers, read: tuple[str, ...]) -> Config:
    """``cfg`` with the push's preset following the broker's (``serve --preset siot``: boards log in as
    siot and read siot/<source>) when none of the ``read`` layers sets ``mqtt.preset``: a preset chosen at
    start stays whatever else is saved, and only a preset chosen explicitly (even "") replaces it."""
    chosen = [layers.value(layer, "mqtt.preset") for layer in read]
    broker = next((v for v in (layers.value(layer, "broker.preset") for layer in reversed(LAYERS))
                   if v is not None), cfg.broker.preset)
    if any(v is not None for v in chosen) or not broker:
        return cfg
    return dataclasses.replace(cfg, mqtt=dataclasses.replace(cfg.mqtt, preset=broker))


def _fill_paths(cfg: Config, env: Mapping[str, str]) -> Config:
    """Defaults that come from the environment: the data and cache folders, the language of drawn frames."""
    data_dir = Path(cfg.data_dir) if cfg.data_dir else default_data_dir(env)
    models = cfg.models if cfg.models.cache_dir else dataclasses.replace(
        cfg.models, cache_dir=str(default_cache_dir(env)))
    pipeline = cfg.pipeline if cfg.pipeline.lang else dataclasses.replace(cfg.pipeline, lang=from_locale(env))
    server = cfg.server if cfg.server.results_dir else dataclasses.replace(
        cfg.server, results_dir=str(data_dir / "results"))
    return dataclasses.replace(cfg, data_dir=str(data_dir), models=models, server=server, pipeline=pipeline)


