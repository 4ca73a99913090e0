"""``load()``: the only reader of config files and the environment. I/O: reads the TOML file, the saved
settings of the data dir (:mod:`visioncast.config.saved`) and the environment.

The precedence of the layers is written in :mod:`visioncast.config.model`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visioncast.config.build import build
from visioncast.config.model import DIR_VARIABLES, ENV_PREFIX, Config, Layers
from visioncast.config.saved import read_toml, with_saved_file
from visioncast.lang import LOCALE_VARIABLES


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name or name == "VISIONCAST_CONFIG":
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{'server.port': 1} → {'server': {'port': 1}}; None values (unset CLI flags) are skipped."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def load(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the Config: defaults ← TOML (``path`` or $VISIONCAST_CONFIG) ← saved page settings ← env ←
    ``overrides`` (see the module docstring).

    ``overrides`` maps dotted keys to values (``{"server.port": 8000}``); None values are ignored. The saved
    settings are read from the data dir the other layers name; a ``mqtt.json`` of an older version found
    there is migrated once into ``settings.toml`` (and renamed ``mqtt.json.migrated``).
    """
    env = os.environ if env is None else env
    path = path or env.get("VISIONCAST_CONFIG")
    layers = Layers(file=read_toml(Path(path), "config file") if path else {}, env=_from_env(env),
                    flags=_nest(overrides or {}), file_path=str(path or ""),
                    dirs={k: env[k] for k in (*DIR_VARIABLES, *LOCALE_VARIABLES) if k in env})
    return build(with_saved_file(layers))
