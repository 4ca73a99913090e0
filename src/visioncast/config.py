"""Configuration: frozen dataclasses and ``load()``, the only reader of config files and the environment.
I/O: reads the TOML file, the saved settings in the data dir and the environment (:mod:`visioncast.settings`
writes the saved settings).

Precedence, lowest first (each layer overrides the ones before it, key by key):

1. defaults (the dataclasses below);
2. the TOML file (``path`` or ``$VISIONCAST_CONFIG``);
3. settings saved from the pages (``<data_dir>/settings.toml``, written by ``PUT /api/v1/mqtt``; only the
   keys a teacher changed, only the ``[mqtt]`` section);
4. ``VISIONCAST_<SECTION>__<KEY>`` environment variables;
5. overrides: command-line flags. A flag always wins.

Every value of every layer — and of ``PUT /api/v1/mqtt`` — is checked once by the same rules, declared on the
fields with :func:`~visioncast.config_schema.rule` (:mod:`visioncast.config_schema`); an unknown section or
key is a ConfigError that names it, and says in which layer it was. Each component receives only its section.
A Config remembers its layers (:class:`Layers`), so the server can change a saved setting and build the
Config again with the same precedence (:func:`visioncast.settings.with_saved`), refuse a change a flag or the
environment would override, and say where each value came from.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visioncast.config_schema import (
    TEMPLATE_SAMPLE,
    check_label_map,
    check_replicas,
    check_template,
    check_topic,
    check_value,
    rule,
)
from visioncast.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ENV_PREFIX = "VISIONCAST_"
SAVED_FILE = "settings.toml"
SAVED_SECTIONS = ("mqtt",)
LEGACY_MQTT_FILE = "mqtt.json"  # the /mqtt page's file before settings.toml; migrated once
LAYERS = ("file", "saved", "env", "flags")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MQTT_PRESETS = ("", "siot", "people-counter")
MQTT_PAYLOADS = ("label", "json", "template")
MQTT_POLICIES = ("", "every", "change", "rate")


def default_cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where pulled models live: $XDG_CACHE_HOME/visioncast/models or ~/.cache/visioncast/models."""
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "visioncast" / "models"


def default_data_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where state that must survive restarts lives (saved settings, results): $XDG_DATA_HOME/visioncast."""
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
    max_loaded: int = 4


@dataclass(frozen=True)
class ServerConfig:
    """The HTTP service. Limits protect the server; results_* bound the rendered-results folder.

    token: the teacher's credential ("" = the one kept in <data_dir>/token, made on first need); hosts: extra
    names the server answers to besides its own addresses, localhost and its host name (the Host header is
    checked against them). A client gets read_timeout_s to send each request, then must keep up
    min_read_bytes_per_s; at most max_client_conns requests of one LAN address are served at once.
    """

    host: str = "127.0.0.1"
    port: int = rule(5000, minimum=0, maximum=65535)
    workers: int = rule(8, minimum=1)
    max_body_mb: float = 20.0
    max_pixels: int = 40_000_000
    results_dir: str = ""
    results_max_mb: float = 200.0
    results_max_age_s: float = 3600.0
    tls: bool = False
    token: str = ""
    hosts: tuple[str, ...] = ()
    read_timeout_s: float = 10.0
    min_read_bytes_per_s: float = 4096.0
    max_client_conns: int = 6


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
    kind: str = rule("auto", choices=("auto", "mosquitto", "embedded"))
    max_message_bytes: int = rule(262144, minimum=1024)
    tls_port: int = rule(8883, minimum=0, maximum=65535)
    host: str = "0.0.0.0"
    port: int = rule(1883, minimum=1, maximum=65535)
    ws_port: int = rule(8083, minimum=0, maximum=65535)
    username: str = "visioncast"
    password: str = ""
    anonymous: bool = False
    preset: str = rule("", choices=("", "siot"))


@dataclass(frozen=True)
class MqttConfig:
    """MQTT push (one sink for every channel).

    Where to: ``url`` (mqtt://user:pass@host:port) when set, else ``host``/``port`` with ``username``/
    ``password``. host "" means the embedded broker of ``serve`` (its port and its login; ``run``, which
    starts none, connects to 127.0.0.1:port). The embedded broker's login is only ever used for the
    embedded broker: any other host gets the credentials set here. preset: "" | "siot" | "people-counter";
    payload: "label" | "json" | "template" (label topic; a template is checked by formatting a sample result);
    label_map: "label=message" entries; policy: "every" | "change" (debounce_frames consecutive, or a
    majority of ``window`` frames when window > 0) | "rate" (at most max_rate_hz results/s per source) | ""
    (the preset's default: change for siot, every otherwise). instance names this publisher's status topic
    ``{prefix}/{instance}/status``; flush_timeout_s: how long a stop waits for acknowledgements; ha_discovery:
    announce labels and counts to Home Assistant (MQTT discovery).
    """

    enabled: bool = True
    url: str = ""
    host: str = rule("", max_length=253, description="broker address; empty = the embedded broker")
    port: int = rule(1883, minimum=1, maximum=65535, description="ignored for the embedded broker")
    username: str = rule("", max_length=256)
    password: str = rule("", max_length=256)
    prefix: str = rule("visioncast", min_length=1, max_length=128, check=check_topic)
    preset: str = rule("", choices=MQTT_PRESETS)
    source: str = rule("", max_length=64,
                       description="topic name used for every source ('' = each source's own)")
    payload: str = rule("label", choices=MQTT_PAYLOADS)
    template: str = rule("", max_length=512, check=check_template,
                         description=f"label message when payload is 'template'; fields: "
                                     f"{', '.join(TEMPLATE_SAMPLE)}")
    label_map: tuple[str, ...] = rule((), check=check_label_map)
    empty_label: str = rule("none", min_length=1, max_length=64)
    policy: str = rule("", choices=MQTT_POLICIES,
                       description="'' = the preset's default (change for siot, every otherwise)")
    debounce_frames: int = rule(3, minimum=1, maximum=1000)
    window: int = rule(0, minimum=0, maximum=1000)
    max_rate_hz: float = rule(5.0, above=0, maximum=1000)
    qos: int = rule(0, choices=(0, 1))
    retain: bool = False
    queue_size: int = rule(1000, minimum=1)
    keepalive_s: int = rule(30, minimum=1)
    reconnect_max_s: float = rule(10.0, above=0)
    instance: str = rule("server", min_length=1, max_length=64, check=check_topic)
    flush_timeout_s: float = rule(5.0, minimum=0)
    ha_discovery: bool = False


@dataclass(frozen=True)
class VideosConfig:
    """Video jobs (upload → per-frame detection → AVI render). dir "" means <data_dir>/videos.

    workers: jobs detecting at once (others queue); max_jobs: jobs kept (any state) before uploads are
    refused; max_jobs_per_client: jobs one LAN address keeps (its oldest finished one makes room);
    abandon_after_s: a job nobody watches (no results stream, no status poll) for this long is
    cancelled; keep_s: a finished job and its files are removed this long after it ended.
    """

    dir: str = ""
    max_upload_mb: float = 500.0
    workers: int = 2
    max_jobs: int = 16
    max_jobs_per_client: int = 3
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
class Layers:
    """What :func:`load` read, layer by layer (nested dicts as given), kept to build the Config again.

    ``dirs`` holds the XDG variables the default paths come from.
    """

    file: Mapping[str, Any] = field(default_factory=dict)
    saved: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, Any] = field(default_factory=dict)
    flags: Mapping[str, Any] = field(default_factory=dict)
    file_path: str = ""
    saved_path: str = ""
    dirs: Mapping[str, str] = field(default_factory=dict)

    def value(self, layer: str, dotted: str) -> Any:
        """The value ``layer`` gives ``dotted`` ("mqtt.port"), or None when it gives none."""
        node: Any = getattr(self, layer)
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node

    def origin(self, dotted: str) -> str:
        """The layer the value of ``dotted`` comes from: "flags", "env", "saved", "file" or "default"."""
        return next((layer for layer in reversed(LAYERS) if self.value(layer, dotted) is not None), "default")

    def describe(self, layer: str, dotted: str = "") -> str:
        """Where ``layer`` is, in words ("on the command line", "in the saved settings '…'")."""
        if layer == "env" and dotted:
            return f"by the environment variable {ENV_PREFIX}{dotted.upper().replace('.', '__')}"
        return {"flags": "on the command line", "env": "in the environment",
                "saved": f"in the saved settings '{self.saved_path}'", "file": f"in '{self.file_path}'",
                "default": "by default"}[layer]
@dataclass(frozen=True)
class StreamsConfig:
    """What the teacher lets the server open as a stream (POST /api/v1/streams).

    allow: patterns (fnmatch) of sources: "CAM" or a camera index, "rtsp://*", "/srv/videos/*"; empty = none.
    """

    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class RayConfig:
    """Running on a Ray cluster (``pip install "visioncast[ray]"``; docs/scale.md).

    address: "" = not on Ray; auto | local | host:6379 | ray://host:10001 — `serve` runs its models in Ray
    Serve deployments there, `run` one pipeline actor per source. replicas: per model, N or MIN-MAX
    (autoscaling); replica_cpus: CPUs (and engine threads) per replica; actor_cpus: CPUs (and engine threads)
    per pipeline actor — `run`'s sources and `serve`'s streams on the cluster; actor_restarts: how often a
    lost pipeline actor of one source or stream is started again; timeout_s: one inference call's bound
    (retries included); deploy_timeout_s: how long a model's replicas may take to start.
    """

    address: str = ""
    replicas: str = rule("1", check=check_replicas)
    replica_cpus: float = rule(1.0, above=0)
    actor_cpus: float = rule(1.0, above=0)
    actor_restarts: int = rule(3, minimum=0)
    timeout_s: float = rule(30.0, above=0)
    deploy_timeout_s: float = rule(60.0, above=0)


@dataclass(frozen=True)
class Config:
    """The whole configuration tree (``layers``: where it came from; not a setting)."""

    models: ModelsConfig = field(default_factory=ModelsConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    videos: VideosConfig = field(default_factory=VideosConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    streams: StreamsConfig = field(default_factory=StreamsConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    data_dir: str = ""
    layers: Layers = field(default_factory=Layers, compare=False, repr=False, metadata={"internal": True})


def settable(obj: Any) -> list[str]:
    """The setting names of section (or Config) ``obj``."""
    return [f.name for f in dataclasses.fields(obj) if not f.metadata.get("internal")]


def _apply(obj: Any, changes: Mapping[str, Any], where: str) -> Any:
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
            updates[key] = _apply(current, value, f"{where}{key}.")
        else:
            updates[key] = check_value(type(obj), key, value, f"config '{where}{key}'")
    return dataclasses.replace(obj, **updates)


def _check(cfg: Config) -> Config:
    """The rules that involve two fields."""
    if cfg.mqtt.payload == "template" and not cfg.mqtt.template:
        raise ConfigError("config 'mqtt.template' must not be empty when mqtt.payload is 'template'")
    return cfg


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


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} not found: '{path}'") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} '{path}' is not valid TOML: {exc}") from exc


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
    layers = Layers(file=_read_toml(Path(path), "config file") if path else {}, env=_from_env(env),
                    flags=_nest(overrides or {}), file_path=str(path or ""),
                    dirs={k: env[k] for k in ("XDG_CACHE_HOME", "XDG_DATA_HOME") if k in env})
    return build(_with_saved_file(layers))


def build(layers: Layers) -> Config:
    """The Config of ``layers``: each layer applied in precedence order, checked, paths filled in."""
    cfg = Config()
    for layer in LAYERS:
        try:
            cfg = _apply(cfg, getattr(layers, layer), "")
        except ConfigError as exc:
            raise ConfigError(f"{exc} ({layers.describe(layer)})") from exc
    return dataclasses.replace(_fill_paths(_check(cfg), layers.dirs), layers=layers)


def below_saved(layers: Layers) -> Config:
    """defaults ← config file: what the saved layer is compared with (cross-field rules not applied)."""
    return _apply(Config(), layers.file, "")


def _fill_paths(cfg: Config, env: Mapping[str, str]) -> Config:
    data_dir = Path(cfg.data_dir) if cfg.data_dir else default_data_dir(env)
    models = cfg.models if cfg.models.cache_dir else dataclasses.replace(
        cfg.models, cache_dir=str(default_cache_dir(env)))
    server = cfg.server if cfg.server.results_dir else dataclasses.replace(
        cfg.server, results_dir=str(data_dir / "results"))
    return dataclasses.replace(cfg, data_dir=str(data_dir), models=models, server=server)


# ---- the saved layer (written by visioncast.settings) -------------------------------------------------


def _with_saved_file(layers: Layers) -> Layers:
    """``layers`` with the saved settings of the data dir the other layers name (migrating mqtt.json once)."""
    named = next((layers.value(layer, "data_dir") for layer in reversed(LAYERS)
                  if layers.value(layer, "data_dir") is not None), None)
    data_dir = Path(str(named)) if named else default_data_dir(layers.dirs)
    path = data_dir / SAVED_FILE
    layers = dataclasses.replace(layers, saved_path=str(path))
    if path.is_file():
        saved = _read_toml(path, "saved settings")
        extra = [name for name in saved if name not in SAVED_SECTIONS]
        if extra:
            raise ConfigError(f"saved settings '{path}' may only hold [{'], ['.join(SAVED_SECTIONS)}], "
                              f"got '{extra[0]}'; fix or delete the file")
        return dataclasses.replace(layers, saved=saved)
    legacy = data_dir / LEGACY_MQTT_FILE
    if legacy.is_file():
        from visioncast.settings import migrate  # noqa: PLC0415 — settings builds Configs with this module

        return migrate(legacy, layers)
    return layers
