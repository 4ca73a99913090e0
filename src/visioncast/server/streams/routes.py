"""The routes of pipelines in the server: start, list and stop streams, their statistics, MJPEG video and
dashboard page (the streams themselves: :mod:`.stream_registry`). I/O: HTTP.

Routes: ``POST/GET /api/v1/streams``, ``GET/DELETE /api/v1/streams/<id>``,
``GET /api/v1/streams/<id>/stats`` (the statistics snapshot),
``GET /api/v1/streams/<id>/mjpeg`` (``multipart/x-mixed-replace``, for ``<img src>``),
``GET /api/v1/streams/<id>/frame.jpg``, ``GET /api/v1/stats`` (the snapshot of the newest running stream, or
``?stream=ID``), and the page ``/streams`` (list + start form) and ``/streams/<id>`` (live dashboard).
``visioncast run --serve`` attaches its own pipeline as stream ``local``. Results, stats and events of
API-started streams deliver to their MJPEG broadcaster and to the server's bus (the MQTT sink), whether the
pipeline runs here or, under ``serve --ray``, as an actor on the cluster (``placement``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request

from visioncast.analytics import StatsSnapshot
from visioncast.errors import ConfigError, InputError, NotFoundError
from visioncast.pipeline.build import analytics_for
from visioncast.server import i18n
from visioncast.server.api import registry_model
from visioncast.server.auth.access import access
from visioncast.server.auth.core import client_id, current_role
from visioncast.server.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from visioncast.server.live import live_response
from visioncast.server.openapi import Schema, document, error, query, response
from visioncast.server.services import services
from visioncast.server.streams.registry import (
    EXTENSION,
    StreamRegistry,
    allowed_choices,
    allowed_source,
    registry,
    stream_config,
    stream_placement,
)
from visioncast.sinks.mjpeg import CONTENT_TYPE
from visioncast.tasks.base import TaskOptions

api = Blueprint("streams_api", __name__, url_prefix="/api/v1")
pages = Blueprint("streams", __name__)


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
            "areas": {"type": "object", "additionalProperties": {"type": "integer"},
                      "description": "segmentation: the pixels each label's masks cover in this frame"},
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
            "sink_errors": {"type": "object", "description": "sinks that failed for this stream (its own "
                            "and the server's, e.g. MqttSink): {name: {failed, last_error}}; the stream "
                            "goes on"},
            "stats": STATS.ref,
            "events": {"type": "array", "items": {"type": "object"},
                       "description": "the last 50 events (state changes, tracks that left), oldest first, "
                                      "each with 'text', the line `visioncast run` prints for it"},
            "started_at": {"type": "number"},
            "placement": {
                "type": "object",
                "description": "where the pipeline runs: {where: local}, or on the Ray cluster (serve --ray) "
                               "{where: ray, node, actor, restarts, max_restarts, last_loss}: an actor that "
                               "dies is restarted up to max_restarts times, then the stream fails",
                "properties": {"where": {"enum": ["local", "ray"]}, "node": {"type": "string"},
                               "actor": {"type": "string"}, "restarts": {"type": "integer"},
                               "max_restarts": {"type": "integer"},
                               "last_loss": {"type": ["string", "null"]}},
            },
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
                "description": "video path, folder, CAM/camera index, rtsp/http(s) URL: one that "
                               "streams.allow admits",
            },
            "model": {"type": "string", "description": "model name (GET /api/v1/models), detect or classify "
                      "(default: the server's detector); lines and zones need a detect model"},
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
            "event_hold_s": {"type": "number", "minimum": 0,
                             "description": "seconds a new state must last before its event fires"},
            "placement": {"enum": ["local", "ray"],
                          "description": "run the pipeline in this server (local) or as an actor on the Ray "
                                         "cluster (ray; only under serve --ray, for a URL or a file every "
                                         "node reads). Default: ray under serve --ray unless the source is "
                                         "a camera of this server, else local"},
        },
    },
)


@api.post("/streams")
@document(
    "Start a pipeline on a source",
    tags=["streams"],
    request_body={"required": True, "content": {"application/json": {"schema": STREAM_REQUEST}}},
    parameters=[IDEMPOTENCY_PARAMETER],
    responses={
        201: response("started", STREAM),
        400: error("bad request, a source streams.allow does not admit, or one that cannot be opened"),
        401: error("teacher only"),
        404: error("unknown model"),
        413: error("too many streams running"),
    },
)
@idempotent
@access("teacher")
def start_stream() -> tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError('body must be a JSON object like {"source": "video.mp4"}')
    cfg = stream_config(_registry().cfg, body)  # a bad field is a 400 before any model loads
    cfg = replace(cfg, lang=i18n.current())  # its dashboard speaks the language of the page that started it
    svc = services()
    body["source"] = allowed_source(str(body["source"]), svc.config.streams.allow)
    body["placement"] = stream_placement(body, _registry().placer is not None)
    task = svc.model(*_model_of(body))
    conf = body.get("conf")
    try:
        analytics_for(cfg, "check", task.task)  # lines and zones need a detect model
    except ConfigError as exc:
        raise InputError(str(exc)) from exc
    entry = _registry().start(body, cfg, task, svc.bus,
                              TaskOptions(conf=float(conf)) if conf is not None else None)
    return jsonify(entry.describe()), 201


def _model_of(body: dict[str, Any]) -> tuple[str, str | None]:
    """(task, model name) of the body's ``model``: a registry name (never a server path) of any task; absent =
    the server's detector."""
    name, task = registry_model(body.get("model"), None)
    return task, name


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
@access("student")
def list_streams() -> Response:
    return jsonify({"streams": [e.describe() for e in _registry().list()]})


@api.get("/streams/<stream_id>")
@document(
    "One stream",
    tags=["streams"],
    responses={200: response("the stream", STREAM), 404: error("no such stream")},
)
@access("student")
def get_stream(stream_id: str) -> Response:
    return jsonify(_registry().get(stream_id).describe())


@api.delete("/streams/<stream_id>")
@document(
    "Stop a stream (outputs are finalised)",
    tags=["streams"],
    responses={200: response("stopped", STREAM), 404: error("no such stream")},
)
@access("teacher")
def stop_stream(stream_id: str) -> Response:
    return jsonify(_registry().stop(stream_id).describe())


@api.get("/streams/<stream_id>/stats")
@document(
    "The statistics snapshot of a stream",
    tags=["streams"],
    responses={200: response("the latest snapshot", STATS), 404: error("no such stream")},
)
@access("student")
def stream_stats(stream_id: str) -> Response:
    return jsonify(_registry().get(stream_id).pipeline.stats)


@api.get("/stats")
@document(
    "The statistics snapshot of the newest running stream",
    tags=["streams"],
    parameters=[query("stream", {"type": "string"}, "stream id (default: the newest running)")],
    responses={200: response("the latest snapshot", STATS), 404: error("no stream")},
)
@access("student")
def stats() -> Response:
    sid = request.args.get("stream")
    entry = _registry().get(sid) if sid else _registry().newest_running()
    snapshot: StatsSnapshot = entry.pipeline.stats
    return jsonify(snapshot)


@api.get("/streams/<stream_id>/mjpeg")
@document(
    "The annotated video as MJPEG (for <img src>): server.max_client_live views per address",
    tags=["streams"],
    responses={
        200: response(
            "multipart JPEG parts",
            {"type": "string", "format": "binary"},
            media_type="multipart/x-mixed-replace",
        ),
        404: error("no such stream"),
        429: error("too many live views open (server.max_live, server.max_client_live)"),
    },
)
@access("student")
def stream_mjpeg(stream_id: str) -> Response:
    broadcaster = _registry().get(stream_id).broadcaster
    return live_response(broadcaster.view, client_id(), mimetype=CONTENT_TYPE)


@api.get("/streams/<stream_id>/frame.jpg")
@document(
    "The newest annotated frame as one JPEG",
    tags=["streams"],
    responses={
        200: response("JPEG", {"type": "string", "format": "binary"}, media_type="image/jpeg"),
        404: error("no such stream or no frame yet"),
    },
)
@access("student")
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
@access("student")
def page() -> str:
    # only the teacher starts streams, and the list names files on the server: students get none
    teacher = current_role() == "teacher"
    choices, patterns = allowed_choices(services().config.streams.allow) if teacher else ([], [])
    return render_template("dashboard.html", stream_id=None, choices=choices, patterns=patterns,
                           teacher=teacher)


@pages.get("/streams/<stream_id>")
@document(
    "Live dashboard of one stream",
    tags=["pages"],
    responses={200: response("the page", media_type="text/html")},
)
@access("student")
def dashboard(stream_id: str) -> str:
    # the class names of the server's detector: the page colours each class as the server's drawing does
    labels = list(services().detector().labels)
    return render_template("dashboard.html", stream_id=stream_id, labels=labels)


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
    from visioncast.server.services import EXTENSION as SERVICES  # noqa: PLC0415

    return app.extensions[SERVICES]
