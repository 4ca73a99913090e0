"""The streams a server runs: each pipeline with its id, source, model and MJPEG broadcaster. I/O: opens
sources and runs pipelines on threads.

:class:`StreamRegistry` starts pipelines from API bodies (``STREAM_REQUEST`` in :mod:`.streams`, checked by
:func:`stream_config`), attaches ``visioncast run --serve``'s own pipeline as stream ``local``, lists and
stops them; :func:`registry` is the app's one registry. The routes and pages live in :mod:`.streams`.

Placement: a stream runs here (a :class:`~visioncast.pipeline.Pipeline` on threads of this process) or, under
``serve --ray`` (which sets :attr:`StreamRegistry.placer`), as an actor on a node of the cluster, seen here
through its :class:`~visioncast.scale.stream.RayStream` proxy, which has the same members and feeds the
same broadcaster and bus. :func:`stream_placement` picks it from the request (see ``STREAM_REQUEST``).
"""

from __future__ import annotations

import fnmatch
import glob
import itertools
import os
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from flask import Flask

from visioncast.analytics import describe_event
from visioncast.config import PipelineConfig
from visioncast.errors import ConfigError, InputError, NotFoundError, SourceError, TooLargeError
from visioncast.pipeline import Pipeline
from visioncast.pipeline.build import analytics_for, open_pipeline
from visioncast.sinks.bus import Dispatcher
from visioncast.sinks.mjpeg import MjpegBroadcaster
from visioncast.sources import CAMERA_WORDS
from visioncast.sources.image import IMAGE_SUFFIXES
from visioncast.sources.video import VIDEO_SUFFIXES
from visioncast.tasks.base import Task, TaskOptions

if TYPE_CHECKING:
    from visioncast.scale.stream import RayStream, RayStreams

EXTENSION = "visioncast.streams"
PLACEMENTS = ("local", "ray")


@dataclass
class StreamEntry:
    """A pipeline the server knows: its id, what it reads, its MJPEG broadcaster. ``pipeline`` runs here or
    is the proxy of one running on the cluster (same members)."""

    stream_id: str
    pipeline: Pipeline | RayStream
    broadcaster: MjpegBroadcaster
    source: str
    model: str
    started_at: float = field(default_factory=time.time)
    bus: Dispatcher | None = None  # the server's bus this pipeline also delivers to

    @property
    def mjpeg_path(self) -> str:
        return f"/api/v1/streams/{self.stream_id}/mjpeg"

    @property
    def state(self) -> str:
        if self.pipeline.error is not None:
            return "failed"
        return "running" if self.pipeline.alive else "stopped"

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.stream_id,
            "name": self.pipeline.name,
            "source": self.source,
            "model": self.model,
            "state": self.state,
            "mode": self.pipeline.mode,
            "error": str(self.pipeline.error) if self.pipeline.error else None,
            "started_at": round(self.started_at, 3),
            "mjpeg_url": self.mjpeg_path,
            "stats_url": f"/api/v1/streams/{self.stream_id}/stats",
            "counters": self.pipeline.counters(),
            "sink_errors": self.sink_errors(),
            "viewers": self.broadcaster.viewers,
            "stats": self.pipeline.stats,
            "events": [{**e, "text": describe_event(e)} for e in self.pipeline.recent_events()],
            "placement": self.placement(),
        }

    def placement(self) -> dict[str, Any]:
        """Where the stream runs: {"where": "local"}, or the cluster's node, actor and restarts."""
        if isinstance(self.pipeline, Pipeline):
            return {"where": "local"}
        return self.pipeline.placement()

    def sink_errors(self) -> dict[str, dict[str, Any]]:
        """Failing sinks of this stream: its own, and the server's as far as this stream's deliveries go."""
        shared = self.bus.status(self.pipeline.name) if self.bus is not None else {}
        return {**self.pipeline.sink_status(), **shared}


class StreamRegistry:
    """The streams of one app. Thread-safe."""

    def __init__(self, cfg: PipelineConfig) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self._streams: dict[str, StreamEntry] = {}
        self._ids = itertools.count(1)
        self.placer: RayStreams | None = None  # `serve --ray` places streams on its cluster with it

    def attach(
        self,
        pipeline: Pipeline,
        broadcaster: MjpegBroadcaster,
        *,
        stream_id: str | None = None,
        model: str = "",
        source: str | None = None,
        bus: Dispatcher | None = None,
    ) -> StreamEntry:
        """Register a pipeline (already built, started or not) under ``stream_id`` (default: a new number)."""
        sid, source = stream_id or self._new_id(), source or pipeline.source.name
        entry = StreamEntry(sid, pipeline, broadcaster, source, model, bus=bus)
        with self._lock:
            self._streams[entry.stream_id] = entry
        return entry

    def _new_id(self) -> str:
        with self._lock:
            return str(next(self._ids))

    def start(self, body: dict[str, Any], cfg: PipelineConfig, task: Task, bus: Dispatcher,
              task_options: TaskOptions | None = None) -> StreamEntry:
        """Open and start a pipeline from an API body (see ``STREAM_REQUEST``) and its settings
        (``stream_config(self.cfg, body)``), running ``task`` with ``task_options``, delivering to its MJPEG
        broadcaster and the server's ``bus``."""
        running = sum(1 for e in self.list() if e.state == "running")
        if running >= self.cfg.max_streams:
            raise TooLargeError(f"at most {self.cfg.max_streams} streams may run at once; stop one first",
                                    code="too_many_streams")
        where = stream_placement(body, self.placer is not None)
        broadcaster = MjpegBroadcaster(quality=cfg.jpeg_quality)
        source, name, sid = str(body["source"]).strip(), body.get("name") or None, self._new_id()
        run: Pipeline | RayStream
        try:
            if where == "ray" and self.placer is not None:  # the actor opens the source on its node
                run = self.placer.place(source, task, cfg, stream_id=sid, name=name, broadcaster=broadcaster,
                                        bus=bus, task_options=task_options)
            else:
                run = open_pipeline(source, task, cfg, name=name, sinks=[broadcaster], shared=[bus],
                                    task_options=task_options)
        except SourceError as exc:  # one message whatever the cause: no oracle of which server paths exist
            raise InputError(f"cannot open source {source!r} as a camera, a stream, a video or a folder of "
                             "images") from exc
        entry = StreamEntry(sid, run, broadcaster, str(body["source"]), task.name, bus=bus)
        with self._lock:
            self._streams[sid] = entry
        if isinstance(run, Pipeline):
            run.start()
        return entry

    def get(self, stream_id: str) -> StreamEntry:
        with self._lock:
            if stream_id not in self._streams:
                raise NotFoundError(f"no stream {stream_id!r}; known: {', '.join(self._streams) or 'none'}",
                                    code="stream_not_found")
            return self._streams[stream_id]

    def list(self) -> list[StreamEntry]:
        with self._lock:
            return list(self._streams.values())

    def stop(self, stream_id: str, *, timeout_s: float = 5.0) -> StreamEntry:
        entry = self.get(stream_id)
        entry.pipeline.stop()
        entry.pipeline.join(timeout_s)
        return entry

    def newest_running(self) -> StreamEntry:
        running = [e for e in self.list() if e.state == "running"] or self.list()
        if not running:
            raise NotFoundError("no stream is running; start one with POST /api/v1/streams")
        return max(running, key=lambda e: e.started_at)

    def close(self) -> None:
        for entry in self.list():
            entry.pipeline.stop()
        for entry in self.list():
            entry.pipeline.join(5.0)
            entry.broadcaster.close()
        if self.placer is not None:
            self.placer.close()


def stream_config(base: PipelineConfig, body: dict[str, Any]) -> PipelineConfig:
    """The pipeline settings of one API request: lists of specs and the mode override the server's."""
    if not isinstance(body.get("source"), str | int) or not str(body.get("source")).strip():
        raise InputError("field 'source' must be a file path, a camera index or a stream URL")
    changes: dict[str, Any] = {}
    for key in ("lines", "zones", "events"):
        value = body.get(key)
        if value is not None:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InputError(f"field {key!r} must be a list of strings, got {type(value).__name__}")
            changes[key] = tuple(value)
    hold = body.get("event_hold_s")
    if hold is not None:
        if isinstance(hold, bool) or not isinstance(hold, int | float) or hold < 0:
            raise InputError(f"field 'event_hold_s' must be a number of seconds ≥ 0, got {hold!r}")
        changes["event_hold_s"] = float(hold)
    mode = body.get("mode")
    if mode is not None:
        if mode not in ("auto", "every", "latest"):
            raise InputError(f"field 'mode' must be auto, every or latest, got {mode!r}")
        changes["mode"] = mode
    realtime = body.get("realtime", True)  # watched on its dashboard: a file plays at its own speed
    if not isinstance(realtime, bool):
        raise InputError(f"field 'realtime' must be true or false, got {realtime!r}")
    conf = body.get("conf")
    if conf is not None and (isinstance(conf, bool) or not isinstance(conf, int | float)
                             or not 0 <= conf <= 1):
        raise InputError(f"field 'conf' must be a number between 0 and 1, got {conf!r}")
    cfg = replace(base, **changes, realtime=realtime)
    try:
        analytics_for(cfg, "check")  # the request's line, zone and event specs: its mistake, not the server's
    except ConfigError as exc:
        raise InputError(str(exc)) from exc
    return cfg


def stream_placement(body: dict[str, Any], cluster: bool) -> str:
    """Where a requested stream runs: the body's ``placement`` ("local" or "ray"), else "ray" when the server
    has a cluster (``cluster``) and the source is not a camera of this machine, else "local". InputError for
    a placement that cannot be had."""
    source, asked = str(body.get("source", "")).strip(), body.get("placement")
    camera = source.lower() in CAMERA_WORDS or source.isdigit()  # a device of the machine that opens it
    if asked is None:
        return "ray" if cluster and not camera else "local"
    if asked not in PLACEMENTS:
        raise InputError(f"field 'placement' must be local or ray, got {asked!r}")
    if asked == "ray" and not cluster:
        raise InputError("field 'placement' is 'ray' but this server has no Ray cluster (start it with "
                         "visioncast serve --ray ADDRESS)")
    if asked == "ray" and camera:
        raise InputError(f"source {source!r} is a camera of this server: it cannot be placed on the cluster "
                         "(placement 'ray' takes a stream URL or a file every node can read)")
    return str(asked)


def allowed_source(source: str, allow: tuple[str, ...]) -> str:
    """``source`` when a pattern of ``streams.allow`` (fnmatch) admits it, else InputError.

    A camera ("CAM", "camera", an index) matches "CAM" or its index; a URL matches as written; a path matches
    once made absolute with its symlinks and ``..`` resolved, so a pattern's folder cannot be left. The answer
    is the same whether or not a path exists.
    """
    text = source.strip()
    if text.lower() in CAMERA_WORDS or text.isdigit():
        candidates = ["CAM", text]
    elif "://" in text:
        candidates = [text]
    else:
        candidates = [os.path.realpath(os.path.expanduser(text))]
    patterns = [p if "://" in p or p == "CAM" or p.isdigit() else os.path.expanduser(p) for p in allow]
    if any(fnmatch.fnmatchcase(c, p) for c in candidates for p in patterns):
        return text
    allowed = ", ".join(allow) or "none (set streams.allow in the config)"
    raise SourceNotAllowedError(f"source {text!r} is not one the teacher allowed for streams; allowed: "
                                f"{allowed}")


class SourceNotAllowedError(InputError):
    """A stream source ``streams.allow`` does not admit (HTTP 400, its own code for the page's words)."""

    code = "source_not_allowed"


MAX_CHOICES = 200


def allowed_choices(allow: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """What the teacher may pick as a stream source: (the sources ``streams.allow`` names or whose files
    exist now — cameras, URLs written out, files and folders matching a path pattern; at most MAX_CHOICES —,
    the patterns that cannot be listed: URLs with wildcards)."""
    choices: list[str] = []
    open_patterns: list[str] = []
    for pattern in allow:
        if pattern == "CAM" or pattern.isdigit():
            choices.append(pattern)
        elif "://" in pattern:
            (open_patterns if any(c in pattern for c in "*?[") else choices).append(pattern)
        else:
            choices.extend(path for path in sorted(glob.glob(os.path.expanduser(pattern))) if _openable(path))
    return list(dict.fromkeys(choices))[:MAX_CHOICES], open_patterns


def _openable(path: str) -> bool:
    """A file a stream can play (a video or an image) or a folder holding an image: never a README."""
    media = (*VIDEO_SUFFIXES, *IMAGE_SUFFIXES)
    if os.path.isdir(path):
        try:
            with os.scandir(path) as entries:
                return any(e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES
                           for e in entries)
        except OSError:
            return False
    return os.path.splitext(path)[1].lower() in media


def registry(app: Flask) -> StreamRegistry:
    """The app's stream registry."""
    reg: StreamRegistry = app.extensions[EXTENSION]
    return reg
