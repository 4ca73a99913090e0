"""The configuration tree: frozen dataclasses, one per section, with their rules. Pure, no I/O (the
default folders are computed from an environment mapping the caller passes).

:func:`visioncast.config.load` (``config/loader.py``) is the only reader of config files and the environment;
``config/build.py`` applies the layers; ``config/saved.py`` reads and writes the saved settings.

Precedence, lowest first (each layer overrides the ones before it, key by key):

1. defaults (the dataclasses below);
2. the TOML file (``path`` or ``$VISIONCAST_CONFIG``);
3. settings saved from the pages (``<data_dir>/settings.toml``, written by ``PUT /api/v1/mqtt``; only the
   keys a teacher changed, only the ``[mqtt]`` section);
4. ``VISIONCAST_<SECTION>__<KEY>`` environment variables;
5. overrides: command-line flags. A flag always wins.

Every value of every layer — and of ``PUT /api/v1/mqtt`` — is checked once by the same rules, declared on the
fields with :func:`~visioncast.config.schema.rule` (:mod:`visioncast.config.schema`); an unknown section or
key is a ConfigError that names it, and says in which layer it was. Each component receives only its section.
A Config remembers its layers (:class:`Layers`), so the server can change a saved setting and build the
Config again with the same precedence (:func:`visioncast.config.saved.with_saved`), refuse a change a flag
or the environment would override, and say where each value came from.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visioncast.config.schema import (
    TEMPLATE_SAMPLE,
    check_label_map,
    check_replicas,
    check_template,
    check_token,
    check_topic,
    rule,
)
from visioncast.lang import LANGS

ENV_PREFIX = "VISIONCAST_"
SAVED_FILE = "settings.toml"
SAVED_SECTIONS = ("mqtt",)
LEGACY_MQTT_FILE = "mqtt.json"  # the /mqtt page's file before settings.toml; migrated once
LAYERS = ("file", "saved", "env", "flags")
DIR_VARIABLES = ("XDG_CACHE_HOME", "XDG_DATA_HOME", "LOCALAPPDATA")  # where the default folders are
MQTT_PRESETS = ("", "siot", "people-counter")
MQTT_PAYLOADS = ("label", "json", "template")
MQTT_POLICIES = ("", "every", "change", "rate")


def default_cache_dir(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """Where pulled models live: $XDG_CACHE_HOME/visioncast/models, else under the OS's cache folder:
    ~/.cache/visioncast/models, %LOCALAPPDATA%\\visioncast\\Cache\\models (Windows),
    ~/Library/Caches/visioncast/models (macOS)."""
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "visioncast" / "models"
    if platform == "win32":
        return _local_app_data(env) / "visioncast" / "Cache" / "models"
    base = Path.home() / ("Library/Caches" if platform == "darwin" else ".cache")
    return base / "visioncast" / "models"


def default_data_dir(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """Where state that must survive restarts lives (saved settings, results): $XDG_DATA_HOME/visioncast,
    else the OS's folder: ~/.local/share/visioncast, %LOCALAPPDATA%\\visioncast, ~/Library/Application
    Support/visioncast."""
    if env.get("XDG_DATA_HOME"):
        return Path(env["XDG_DATA_HOME"]) / "visioncast"
    if platform == "win32":
        return _local_app_data(env) / "visioncast"
    base = Path.home() / ("Library/Application Support" if platform == "darwin" else ".local/share")
    return base / "visioncast"


def _local_app_data(env: Mapping[str, str]) -> Path:
    return Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")


@dataclass(frozen=True)
class ModelsConfig:
    """Which models to run and on what. threads = 0 means one per available CPU.

    face_max_side: a still is searched for faces at its own resolution up to this longest side (tiled
    beyond); face_size: streams and video are searched at this longest side (tasks/face.py).
    """

    detect: str = "yolox-nano"
    classify: str = "resnet56-cifar10"
    engine: str = "auto"  # the fastest agreeing engine, measured once per model and machine (choice.py)
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
    face_max_side: int = rule(1920, minimum=64)
    face_size: int = rule(640, minimum=32)


@dataclass(frozen=True)
class ServerConfig:
    """The HTTP service. Limits protect the server; results_* bound the rendered-results folder.

    token: the teacher's credential ("" = the one kept in <data_dir>/token, made on first need); hosts: extra
    names the server answers to besides its own addresses, localhost and its host name (the Host header is
    checked against them). A client gets read_timeout_s to send each request, then must keep up
    min_read_bytes_per_s (408); at most max_client_conns requests of one LAN address are served at once
    (503). Every read is bounded (docs/security.md, "Every read is bounded"): a request line over
    max_request_line_kb is 414; a head over max_header_kb or with more than max_headers fields is 431; a
    body over max_body_mb is 413 (video uploads and teach imports have their own, larger limits); JSON
    nested deeper than max_json_depth or over max_json_kb (routes that take an image as JSON: max_body_mb) is
    400. At most max_conns connections are open at once, max_buffer_mb of request bodies are held in memory
    at once (503 past it), an idle keep-alive connection is closed after keep_alive_s. Live answers (MJPEG
    views, event streams): at most max_live in all, max_client_live per LAN address (429). KServe v2
    requests: input tensors at most max_tensor_mb in all (413), each free axis at most max_tensor_side.
    shared_sources: source names every student may publish results under (e.g. ["webcam"] when the whole
    class drives the boards); otherwise a student's results go under their own "<name>@<address>".
    tls: "auto" serves https (and plain http on the same port) whenever the server listens beyond loopback,
    because phones allow their camera only over https; "on" always; "off" never (see :meth:`https`).
    """

    host: str = "127.0.0.1"
    port: int = rule(5000, minimum=0, maximum=65535)
    workers: int = rule(8, minimum=1)
    max_body_mb: float = 20.0
    max_pixels: int = 40_000_000
    results_dir: str = ""
    results_max_mb: float = 200.0
    results_max_age_s: float = 3600.0
    tls: str = rule("auto", choices=("auto", "on", "off"))
    token: str = rule("", check=check_token)
    hosts: tuple[str, ...] = ()
    read_timeout_s: float = 10.0
    min_read_bytes_per_s: float = 4096.0
    max_client_conns: int = 6
    max_request_line_kb: float = rule(8.0, minimum=1)
    max_header_kb: float = rule(32.0, minimum=1)
    max_headers: int = rule(100, minimum=8)
    max_json_depth: int = rule(32, minimum=2)
    max_json_kb: float = rule(1024.0, minimum=1)
    max_conns: int = rule(1024, minimum=8)
    max_buffer_mb: float = rule(256.0, minimum=1)
    keep_alive_s: float = rule(10.0, above=0)
    max_live: int = rule(64, minimum=1)
    max_client_live: int = rule(4, minimum=1)
    max_tensor_mb: float = rule(8.0, above=0)
    max_tensor_side: int = rule(4096, minimum=1)
    shared_sources: tuple[str, ...] = ()

    def https(self, host: str | None = None) -> bool:
        """Whether the server (listening on ``host``, default ``self.host``) serves https: tls "on", or
        "auto" with an address other devices can reach (anything but 127.x, ::1 and localhost)."""
        host = self.host if host is None else host
        loopback = host == "localhost" or host.startswith("127.") or host in ("::1", "[::1]")
        return self.tls == "on" or (self.tls == "auto" and not loopback)


@dataclass(frozen=True)
class BrokerConfig:
    """The embedded MQTT broker (``visioncast serve`` / ``visioncast broker``).

    ws_port 0 disables MQTT over WebSocket; password "" means generated once and kept in the data dir;
    preset "siot" logs clients in as siot/dfrobot like SIoT. Anonymous clients only when ``anonymous`` is
    true. kind: "auto" (Mosquitto when installed, else the embedded broker) | "mosquitto" | "embedded";
    max_message_bytes: larger messages are not forwarded (a packet larger by more than a topic's 64 KiB
    closes the connection); max_connections: per listener, more are refused; tls_port: MQTT over TLS with
    the server's certificate when the server runs with TLS (0 = never).
    """

    enabled: bool = True
    kind: str = rule("auto", choices=("auto", "mosquitto", "embedded"))
    max_message_bytes: int = rule(262144, minimum=1024)
    max_connections: int = rule(256, minimum=1)
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
    retain: bool = rule(True, description="keep the last label, counts and target on the broker for "
                                          "boards that (re)connect; never the result JSON")
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
    lang: the language of the text drawn on frames (zh | en; empty: the locale's, from LC_ALL / LC_MESSAGES /
    LANG); a stream started from a page draws in the page's language.
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
    lang: str = rule("", choices=("", *LANGS))


@dataclass(frozen=True)
class Layers:
    """What :func:`load` read, layer by layer (nested dicts as given), kept to build the Config again.

    ``dirs`` holds the variables the default paths come from (XDG_*, Windows' LOCALAPPDATA), and the
    locale's (the default language of drawn frames).
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
class TeachConfig:
    """Teaching projects (the /teach page; docs/teach.md, docs/security.md).

    max_projects: per owner; max_client_mb: what one owner's projects may take on disk (samples, models);
    max_import_mb: an imported zip, compressed and unpacked; max_import_pixels: the pixels of all the
    images of one imported zip together (each is also under server.max_pixels).
    """

    max_projects: int = rule(20, minimum=1)
    max_client_mb: float = rule(200.0, above=0)
    max_import_mb: float = rule(100.0, above=0)
    max_import_pixels: int = rule(400_000_000, minimum=1)


@dataclass(frozen=True)
class RayConfig:
    """Running on a Ray cluster (``pip install "visioncast[ray]"``; docs/scale.md).

    address: "" = not on Ray; auto | local | host:6379 | ray://host:10001 — `serve` runs its models in Ray
    Serve deployments there, `run` one pipeline actor per source. replicas: per model, N or MIN-MAX
    (autoscaling); replica_cpus: CPUs (and engine threads) per replica; actor_cpus: CPUs (and engine threads)
    per pipeline actor — `run`'s sources and `serve`'s streams on the cluster; actor_restarts: how often a
    lost pipeline actor of one source or stream is started again; timeout_s: one inference call's bound
    (retries included); deploy_timeout_s: how long a model's replicas may take to start; auth_token: the
    cluster's token when it uses token authentication ("" = RAY_AUTH_TOKEN, else ~/.ray/auth_token).
    """

    address: str = ""
    replicas: str = rule("1", check=check_replicas)
    replica_cpus: float = rule(1.0, above=0)
    actor_cpus: float = rule(1.0, above=0)
    actor_restarts: int = rule(3, minimum=0)
    timeout_s: float = rule(30.0, above=0)
    deploy_timeout_s: float = rule(60.0, above=0)
    auth_token: str = field(default="", repr=False)


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
    teach: TeachConfig = field(default_factory=TeachConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    data_dir: str = ""
    layers: Layers = field(default_factory=Layers, compare=False, repr=False, metadata={"internal": True})


def settable(obj: Any) -> list[str]:
    """The setting names of section (or Config) ``obj``."""
    return [f.name for f in dataclasses.fields(obj) if not f.metadata.get("internal")]
