"""Configuration: frozen dataclasses and ``load()``, the only reader of config files and the environment.

Precedence: defaults ← TOML file ← ``VISIONCAST_<SECTION>__<KEY>`` environment variables ← overrides (CLI
flags). An unknown section or key is a ConfigError that names it. Each component receives only its section.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visioncast.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ENV_PREFIX = "VISIONCAST_"


def default_cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where pulled models live: $XDG_CACHE_HOME/visioncast/models or ~/.cache/visioncast/models."""
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "visioncast" / "models"


def default_data_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where state that must survive restarts lives (push settings, results): $XDG_DATA_HOME/visioncast."""
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "visioncast"


@dataclass(frozen=True)
class ModelsConfig:
    """Which models to run and on what. threads = 0 means one per available CPU."""

    detect: str = "yolox-nano"
    classify: str = "resnet56-cifar10"
    engine: str = "onnxruntime"
    device: str = "CPU"
    precision: str = "f32"
    threads: int = 0
    family: str = ""
    labels: str = ""
    cache_dir: str = ""
    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300


@dataclass(frozen=True)
class ServerConfig:
    """The HTTP service. Limits protect the server; results_* bound the rendered-results folder."""

    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 8
    max_body_mb: float = 20.0
    max_pixels: int = 40_000_000
    results_dir: str = ""
    results_max_mb: float = 200.0
    results_max_age_s: float = 3600.0
    tls: bool = False


@dataclass(frozen=True)
class BrokerConfig:
    """The embedded MQTT broker (``visioncast serve`` / ``visioncast broker``).

    ws_port 0 disables MQTT over WebSocket; password "" means generated once and kept in the data dir;
    preset "siot" logs clients in as siot/dfrobot like SIoT. Anonymous clients only when ``anonymous`` is
    true. kind: "auto" (Mosquitto when installed, else the embedded broker) | "mosquitto" | "embedded";
    max_message_bytes: larger messages are not forwarded; tls_port: MQTT over TLS with the server's
    certificate when the server runs with TLS (0 = never).
    """

    enabled: bool = True
    kind: str = "auto"
    max_message_bytes: int = 262144
    tls_port: int = 8883
    host: str = "0.0.0.0"
    port: int = 1883
    ws_port: int = 8083
    username: str = "visioncast"
    password: str = ""
    anonymous: bool = False
    preset: str = ""


@dataclass(frozen=True)
class MqttConfig:
    """MQTT push (one sink for every channel). url "" means the embedded broker (host/port/user/password).

    preset: "" | "siot" | "people-counter"; payload: "label" | "json" | "template" (label topic);
    label_map: "label=message" entries; policy: "every" | "change" (debounce_frames consecutive, or a majority
    of ``window`` frames when window > 0) | "rate" (at most max_rate_hz results/s per source) | "" (the
    preset's default: change for siot, every otherwise). instance names this publisher's status topic
    ``{prefix}/{instance}/status``; flush_timeout_s: how long a stop waits for acknowledgements; ha_discovery:
    announce labels and counts to Home Assistant (MQTT discovery).
    """

    enabled: bool = True
    url: str = ""
    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""
    password: str = ""
    prefix: str = "visioncast"
    preset: str = ""
    source: str = ""
    payload: str = "label"
    template: str = ""
    label_map: tuple[str, ...] = ()
    empty_label: str = "none"
    policy: str = ""
    debounce_frames: int = 3
    window: int = 0
    max_rate_hz: float = 5.0
    qos: int = 0
    retain: bool = False
    queue_size: int = 1000
    keepalive_s: int = 30
    reconnect_max_s: float = 10.0
    instance: str = "server"
    flush_timeout_s: float = 5.0
    ha_discovery: bool = False


@dataclass(frozen=True)
class VideosConfig:
    """Video jobs (upload → per-frame detection → AVI render). dir "" means <data_dir>/videos.

    workers: jobs detecting at once (others queue); max_jobs: jobs kept (any state) before uploads are
    refused; abandon_after_s: a job nobody watches (no results stream, no status poll) for this long is
    cancelled; keep_s: a finished job and its files are removed this long after it ended.
    """

    dir: str = ""
    max_upload_mb: float = 500.0
    workers: int = 2
    max_jobs: int = 16
    abandon_after_s: float = 30.0
    keep_s: float = 3600.0


@dataclass(frozen=True)
class PipelineConfig:
    """The edge pipeline (`visioncast run`, streams started from the server); see docs/pipeline.md.

    mode: auto (latest-frame for cameras/streams, every-frame for files) | every | latest. lines / zones /
    events: specs ``x1,y1,x2,y2[:name]``, ``x1,y1,x2,y2,x3,y3,...[:name]``, ``person>=3[:name]`` (TOML lists;
    the environment cannot express them). event_hold_s: how long a new state must last before its event
    fires (debounce; stamped with the time it began). lost_frames: frames a track may go unseen before it
    has left.
    realtime: play files and folders at their own frame rate instead of as fast as possible (live sources
    always run in real time); `run --serve` and streams started from the server turn it on for files.
    """

    mode: str = "auto"
    queue_size: int = 4
    async_jobs: int = 0
    lines: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    event_hold_s: float = 0.0
    track: bool = True
    lost_frames: int = 30
    realtime: bool = False
    folder_fps: float = 1.0
    jpeg_quality: int = 80
    max_streams: int = 4


@dataclass(frozen=True)
class Config:
    """The whole configuration tree."""

    models: ModelsConfig = field(default_factory=ModelsConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    videos: VideosConfig = field(default_factory=VideosConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    data_dir: str = ""


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """Convert a TOML/env/CLI value to the field's type, or ConfigError naming ``where``."""
    if isinstance(kind, str):
        kind = {"str": str, "int": int, "float": float, "bool": bool}.get(kind.split(" ")[0], str)
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind in (tuple, list) or typing.get_origin(kind) in (tuple, list):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(x.strip() if isinstance(x, str) else x for x in items if str(x).strip())
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError) as exc:
        name = getattr(kind, "__name__", str(kind))
        raise ConfigError(f"{where} must be {name}, got {value!r}") from exc


def _apply(obj: Any, changes: Mapping[str, Any], where: str) -> Any:
    """A copy of dataclass ``obj`` with nested ``changes`` applied and type-checked."""
    fields = {f.name: f for f in dataclasses.fields(obj)}
    hints = typing.get_type_hints(type(obj))
    updates: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in fields:
            raise ConfigError(f"unknown config key '{where}{key}'; known: {', '.join(fields)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config '{where}{key}' must be a table, got {value!r}")
            updates[key] = _apply(current, value, f"{where}{key}.")
        else:
            updates[key] = _coerce(value, hints[key], f"config '{where}{key}'")
    return dataclasses.replace(obj, **updates)


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
    """Build the Config: defaults ← TOML (``path`` or $VISIONCAST_CONFIG) ← env ← ``overrides``.

    ``overrides`` maps dotted keys to values (``{"server.port": 8000}``); None values are ignored.
    """
    env = os.environ if env is None else env
    cfg = Config()
    path = path or env.get("VISIONCAST_CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: '{path}'") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file '{path}' is not valid TOML: {exc}") from exc
        cfg = _apply(cfg, data, "")
    cfg = _apply(cfg, _from_env(env), "")
    cfg = _apply(cfg, _nest(overrides or {}), "")
    return _fill_paths(cfg, env)


def _fill_paths(cfg: Config, env: Mapping[str, str]) -> Config:
    data_dir = Path(cfg.data_dir) if cfg.data_dir else default_data_dir(env)
    models = cfg.models if cfg.models.cache_dir else dataclasses.replace(
        cfg.models, cache_dir=str(default_cache_dir(env)))
    server = cfg.server if cfg.server.results_dir else dataclasses.replace(
        cfg.server, results_dir=str(data_dir / "results"))
    return dataclasses.replace(cfg, data_dir=str(data_dir), models=models, server=server)
