"""Pipelines in the server: start, list and stop streams, their statistics, MJPEG video and dashboard page.

I/O: opens sources and runs pipelines on threads. Routes: ``POST/GET /api/v1/streams``,
``GET/DELETE /api/v1/streams/<id>``, ``GET /api/v1/streams/<id>/stats`` (the statistics snapshot),
``GET /api/v1/streams/<id>/mjpeg`` (``multipart/x-mixed-replace``, for ``<img src>``),
``GET /api/v1/streams/<id>/frame.jpg``, ``GET /api/v1/stats`` (the snapshot of the newest running stream, or
``?stream=ID``), and the page ``/streams`` (list + start form) and ``/streams/<id>`` (live dashboard).
``visioncast run --serve`` attaches its own pipeline as stream ``local``. Stats and events of API-started
streams go to every registered sink that publishes stats (the MQTT sink).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request

from visioncast.analytics import StatsSnapshot
from visioncast.config import PipelineConfig
from visioncast.errors import InputError, NotFoundError, TooLargeError
from visioncast.pipeline import Pipeline
from visioncast.pipeline.build import open_pipeline
from visioncast.server.app import services
from visioncast.server.openapi import Schema, document, error, query, response
from visioncast.sinks.mjpeg import CONTENT_TYPE, MjpegBroadcaster
from visioncast.tasks.detect import Detector

EXTENSION = "visioncast.streams"
api = Blueprint("streams_api", __name__, url_prefix="/api/v1")
pages = Blueprint("streams", __name__)


@dataclass
class StreamEntry:
    """A pipeline the server knows: its id, what it reads, its MJPEG broadcaster."""

    stream_id: str
    pipeline: Pipeline
    broadcaster: MjpegBroadcaster
    source: str
    model: str
    started_at: float = field(default_factory=time.time)

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
            "name": self.pipeline.analytics.source,
            "source": self.source,
            "model": self.model,
            "state": self.state,
            "mode": self.pipeline.mode,
            "error": str(self.pipeline.error) if self.pipeline.error else None,
            "started_at": round(self.started_at, 3),
            "mjpeg_url": self.mjpeg_path,
            "stats_url": f"/api/v1/streams/{self.stream_id}/stats",
            "counters": self.pipeline.counters(),
            "viewers": self.broadcaster.viewers,
            "stats": self.pipeline.stats,
        }


class StreamRegistry:
    """The streams of one app. Thread-safe."""

    def __init__(self, cfg: PipelineConfig) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self._streams: dict[str, StreamEntry] = {}
        self._ids = itertools.count(1)

    def attach(
        self,
        pipeline: Pipeline,
        broadcaster: MjpegBroadcaster,
        *,
        stream_id: str | None = None,
        model: str = "",
        source: str | None = None,
    ) -> StreamEntry:
        """Register a pipeline (already built, started or not) under ``stream_id`` (default: a new number)."""
        with self._lock:
            sid = stream_id or str(next(self._ids))
            entry = StreamEntry(sid, pipeline, broadcaster, source or pipeline.source.name, model)
            self._streams[sid] = entry
        return entry

    def start(self, body: dict[str, Any], detector: Detector, publishers: list[Any]) -> StreamEntry:
        """Open and start a pipeline from an API body (see ``STREAM_REQUEST``)."""
        running = sum(1 for e in self.list() if e.state == "running")
        if running >= self.cfg.max_streams:
            raise TooLargeError(f"at most {self.cfg.max_streams} streams may run at once; stop one first")
        cfg = _stream_config(self.cfg, body)
        broadcaster = MjpegBroadcaster(quality=cfg.jpeg_quality)
        pipeline = open_pipeline(
            str(body["source"]),
            detector,
            cfg,
            name=body.get("name") or None,
            sinks=[broadcaster],
            publishers=publishers,
        )
        entry = self.attach(pipeline, broadcaster, model=detector.name, source=str(body["source"]))
        pipeline.start()
        return entry

    def get(self, stream_id: str) -> StreamEntry:
        with self._lock:
            if stream_id not in self._streams:
                raise NotFoundError(f"no stream {stream_id!r}; known: {', '.join(self._streams) or 'none'}")
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


def _stream_config(base: PipelineConfig, body: dict[str, Any]) -> PipelineConfig:
    """The pipeline settings of one API request: lists of specs and the mode override the server's."""
    from dataclasses import replace  # noqa: PLC0415

    if not isinstance(body.get("source"), str | int) or not str(body.get("source")).strip():
        raise InputError("field 'source' must be a file path, a camera index or a stream URL")
    changes: dict[str, Any] = {}
    for key in ("lines", "zones", "events"):
        value = body.get(key)
        if value is not None:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InputError(f"field {key!r} must be a list of strings, got {type(value).__name__}")
            changes[key] = tuple(value)
    mode = body.get("mode")
    if mode is not None:
        if mode not in ("auto", "every", "latest"):
            raise InputError(f"field 'mode' must be auto, every or latest, got {mode!r}")
        changes["mode"] = mode
    realtime = body.get("realtime", True)  # watched on its dashboard: a file plays at its own speed
    if not isinstance(realtime, bool):
        raise InputError(f"field 'realtime' must be true or false, got {realtime!r}")
    return replace(base, **changes, realtime=realtime)


def registry(app: Flask) -> StreamRegistry:
    """The app's stream registry."""
    reg: StreamRegistry = app.extensions[EXTENSION]
    return reg


def _registry() -> StreamRegistry:
    return registry(current_app)


# ---- API -----------------------------------------------------------------------------------------------
STATS = Schema(
    "StatsSnapshot",
    {
        "type": "object",
        "required": [
            "schema_version",
            "source",
            "frame",
            "timestamp",
            "fps",
            "latency_ms",
            "dropped",
            "counts",
            "totals",
            "dwell",
            "lines",
            "zones",
        ],
        "properties": {
            "schema_version": {"const": 1},
            "source": {"type": "string"},
            "frame": {"type": "integer"},
            "timestamp": {"type": "number", "description": "media seconds"},
            "fps": {"type": "number"},
            "latency_ms": {"type": "number"},
            "dropped": {"type": "integer"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "totals": {"type": "object", "additionalProperties": {"type": "integer"}},
            "dwell": {
                "type": "object",
                "properties": {
                    "average_s": {"type": "number"},
                    "active": {"type": "object", "additionalProperties": {"type": "number"}},
                },
            },
            "lines": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"in": {"type": "integer"}, "out": {"type": "integer"}},
                },
            },
            "zones": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    },
)
STREAM = Schema(
    "Stream",
    {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "source": {"type": "string"},
            "model": {"type": "string"},
            "state": {"enum": ["running", "stopped", "failed"]},
            "mode": {"enum": ["every", "latest"]},
            "error": {"type": ["string", "null"]},
            "mjpeg_url": {"type": "string"},
            "stats_url": {"type": "string"},
            "viewers": {"type": "integer"},
            "counters": {"type": "object"},
            "stats": STATS.ref,
            "started_at": {"type": "number"},
        },
    },
)
STREAM_REQUEST = Schema(
    "StreamRequest",
    {
        "type": "object",
        "required": ["source"],
        "properties": {
            "source": {
                "type": "string",
                "description": "video path, folder, CAM/camera index, rtsp/http(s) URL",
            },
            "model": {"type": "string", "description": "detection model name or .onnx path"},
            "name": {"type": "string"},
            "conf": {"type": "number", "minimum": 0, "maximum": 1},
            "realtime": {"type": "boolean", "default": True,
                         "description": "play a file at its own frame rate (false: as fast as possible)"},
            "mode": {"enum": ["auto", "every", "latest"]},
            "lines": {"type": "array", "items": {"type": "string"}, "description": "x1,y1,x2,y2[:name]"},
            "zones": {
                "type": "array",
                "items": {"type": "string"},
                "description": "x1,y1,x2,y2,x3,y3,...[:name]",
            },
            "events": {"type": "array", "items": {"type": "string"}, "description": "person>=3[:name]"},
        },
    },
)


@api.post("/streams")
@document(
    "Start a pipeline on a source",
    tags=["streams"],
    request_body={"required": True, "content": {"application/json": {"schema": STREAM_REQUEST}}},
    responses={
        201: response("started", STREAM),
        400: error("bad request or source cannot be opened"),
        413: error("too many streams running"),
    },
)
def start_stream() -> tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError('body must be a JSON object like {"source": "video.mp4"}')
    svc = services()
    base = svc.detector(body.get("model") or None)
    conf = body.get("conf")
    detector = Detector(
        base.runtime,
        base.decoder,
        base.labels,
        name=base.name,
        options=base.options.merged(conf=float(conf) if conf is not None else None),
    )
    publishers = [s for s in svc.sinks if hasattr(s, "publish_stats")]
    entry = _registry().start(body, detector, publishers)
    return jsonify(entry.describe()), 201


@api.get("/streams")
@document(
    "The streams this server runs or ran",
    tags=["streams"],
    responses={
        200: response(
            "the streams",
            {"type": "object", "properties": {"streams": {"type": "array", "items": STREAM.ref}}},
        )
    },
)
def list_streams() -> Response:
    return jsonify({"streams": [e.describe() for e in _registry().list()]})


@api.get("/streams/<stream_id>")
@document(
    "One stream",
    tags=["streams"],
    responses={200: response("the stream", STREAM), 404: error("no such stream")},
)
def get_stream(stream_id: str) -> Response:
    return jsonify(_registry().get(stream_id).describe())


@api.delete("/streams/<stream_id>")
@document(
    "Stop a stream (outputs are finalised)",
    tags=["streams"],
    responses={200: response("stopped", STREAM), 404: error("no such stream")},
)
def stop_stream(stream_id: str) -> Response:
    return jsonify(_registry().stop(stream_id).describe())


@api.get("/streams/<stream_id>/stats")
@document(
    "The statistics snapshot of a stream",
    tags=["streams"],
    responses={200: response("the latest snapshot", STATS), 404: error("no such stream")},
)
def stream_stats(stream_id: str) -> Response:
    return jsonify(_registry().get(stream_id).pipeline.stats)


@api.get("/stats")
@document(
    "The statistics snapshot of the newest running stream",
    tags=["streams"],
    parameters=[query("stream", {"type": "string"}, "stream id (default: the newest running)")],
    responses={200: response("the latest snapshot", STATS), 404: error("no stream")},
)
def stats() -> Response:
    sid = request.args.get("stream")
    entry = _registry().get(sid) if sid else _registry().newest_running()
    snapshot: StatsSnapshot = entry.pipeline.stats
    return jsonify(snapshot)


@api.get("/streams/<stream_id>/mjpeg")
@document(
    "The annotated video as MJPEG (for <img src>), any number of viewers",
    tags=["streams"],
    responses={
        200: response(
            "multipart JPEG parts",
            {"type": "string", "format": "binary"},
            media_type="multipart/x-mixed-replace",
        ),
        404: error("no such stream"),
    },
)
def stream_mjpeg(stream_id: str) -> Response:
    entry = _registry().get(stream_id)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return Response(
        entry.broadcaster.stream(), mimetype=CONTENT_TYPE, headers=headers, direct_passthrough=True
    )


@api.get("/streams/<stream_id>/frame.jpg")
@document(
    "The newest annotated frame as one JPEG",
    tags=["streams"],
    responses={
        200: response("JPEG", {"type": "string", "format": "binary"}, media_type="image/jpeg"),
        404: error("no such stream or no frame yet"),
    },
)
def stream_frame(stream_id: str) -> Response:
    jpeg, _ = _registry().get(stream_id).broadcaster.latest_jpeg()
    if not jpeg:
        raise NotFoundError(f"stream {stream_id!r} has no frame yet")
    return Response(jpeg, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


# ---- pages ---------------------------------------------------------------------------------------------
@pages.get("/streams")
@document(
    "Streams page: running pipelines and a form to start one",
    tags=["pages"],
    responses={200: response("the page", media_type="text/html")},
)
def page() -> str:
    return render_template("dashboard.html", stream_id=None)


@pages.get("/streams/<stream_id>")
@document(
    "Live dashboard of one stream",
    tags=["pages"],
    responses={200: response("the page", media_type="text/html")},
)
def dashboard(stream_id: str) -> str:
    return render_template("dashboard.html", stream_id=stream_id)


def register(app: Flask) -> None:
    """The streams API, the dashboard pages and one navigation link; streams stop when services close."""
    from visioncast.server.pages import add_nav_link  # noqa: PLC0415 — pages registers before us

    reg = StreamRegistry(services_of(app).config.pipeline)
    app.extensions[EXTENSION] = reg
    services_of(app).on_close.append(reg.close)
    app.register_blueprint(api)
    app.register_blueprint(pages)
    add_nav_link(app, "streams.page", "Streams", "Live pipelines: annotated video, counts, totals and dwell.")


def services_of(app: Flask) -> Any:
    from visioncast.server.app import EXTENSION as SERVICES  # noqa: PLC0415

    return app.extensions[SERVICES]
