"""The JSON API under /api/v1: detect, classify, pose, face, models. I/O: request bodies, the results folder.

``POST /api/v1/detect``, ``/classify``, ``/pose`` and ``/face`` take an image (see
:mod:`visioncast.server.upload`) and answer ``result_to_payload(result)`` — the one wire format of every
channel — plus ``image`` (base64 JPEG) or ``image_url`` (a ``url_for`` link into the results folder) when
``render`` asks for it. Every result is handed to ``services.publish(result, source=...)`` so MQTT and other
sinks see what the API answered.

:func:`register` wires this module and the service routes it needs (results folder, health, metrics,
OpenAPI) into the app: it is the one line in ``server/app.py``.
"""

from __future__ import annotations

import base64
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from flask import Blueprint, Flask, current_app, g, jsonify, request, url_for

from visioncast.core.payload import RESULT_SCHEMA, result_to_payload
from visioncast.core.types import Result
from visioncast.draw import draw_result
from visioncast.errors import InputError, NotFoundError
from visioncast.jpeg import encode_jpeg
from visioncast.models.registry import DEFAULTS, TASK_NAMES, list_models
from visioncast.server import health, i18n, metrics, openapi, results
from visioncast.server.auth.access import access
from visioncast.server.openapi import ERROR, Schema, document, error, query, response
from visioncast.server.query import ShownFilter, flag, render_mode, shown_filter, task_options
from visioncast.server.services import services
from visioncast.server.sources import publish_source
from visioncast.server.upload import read_upload
from visioncast.tasks import run_stages

bp = Blueprint("api", __name__, url_prefix="/api/v1")
RESULT = Schema("Result", {k: v for k, v in RESULT_SCHEMA.items() if k not in ("$schema", "$id")})
JPEG_QUALITY = 85

_IMAGE_BODY = {
    "required": True,
    "description": "the image: a multipart file field 'image', a raw image body, or JSON with base64",
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["image"],
                                           "properties": {"image": {"type": "string", "format": "binary"}}}},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {"schema": {"type": "object", "required": ["image"], "properties": {"image": {
            "type": "string", "description": "base64 of the encoded image, or a data:image/…;base64, URL"}}}},
    },
}
_COMMON = [
    query("model", {"type": "string"}, "model name (GET /api/v1/models); default: the server's"),
    query("render", {"enum": ["base64", "url"]}, "also answer the annotated image: base64 JPEG in 'image', "
          "or saved on the server with its URL in 'image_url'"),
    query("source", {"type": "string", "pattern": "^[^\\s/+#]{1,64}$"},
          "the channel name results are published under (MQTT topic part), e.g. webcam; a student's go "
          "under '<name>@<address>' unless the teacher shared the name (server.shared_sources)"),
]
_SHOWN = [
    query("shown_conf", {"type": "number", "minimum": 0, "maximum": 1},
          "what the caller shows (so what MQTT publishes): detections scoring at least this; the answer "
          "keeps everything 'conf' asked for (a page's slider filters it without a new request)"),
    query("shown_hide", {"type": "string"}, "classes the caller hides (ids or names, comma-separated): "
          "not published"),
]
_ERRORS = {400: error("bad query value, corrupt image or no image"), 404: error("unknown model"),
           403: error("a source name only the teacher publishes under"),
           413: error("body over server.max_body_mb or image over server.max_pixels"),
           415: error("not an image"), 503: error("the model cannot be loaded")}


def summarize(result: Result) -> str:
    """A short human summary: "bus 0.91, person×3" (detections) or "cat 0.87" (top class)."""
    if result.classification is not None:
        cls = result.classification
        return f"{cls.top_label} {float(cls.score[0]):.2f}" if len(cls.labels) else "no class"
    dets = result.detections
    if dets is None or len(dets) == 0:
        return "nothing detected"
    counts = Counter(dets.labels)
    best: dict[str, float] = {}
    for label, score in zip(dets.labels, dets.score.tolist(), strict=True):
        best[label] = max(score, best.get(label, 0.0))
    return ", ".join(f"{label}×{n}" if n > 1 else f"{label} {best[label]:.2f}" for label, n in counts.items())


ROUTES = {"detect": "/api/v1/detect", "classify": "/api/v1/classify", "pose": "/api/v1/pose",
          "face": "/api/v1/face", "segment": "/api/v1/segment"}


def _model_name(task: str) -> str | None:
    """The ``model`` query value, checked against the registry (never an arbitrary server path)."""
    return registry_model(request.args.get("model"), task)[0]


def registry_model(value: Any, task: str | None) -> tuple[str | None, str]:
    """(name, task) of a model name a client sent, checked against the registry (never a server path).
    ``task`` None = whatever task the model has (a channel that takes every task: streams, video jobs),
    else the model must have it (a route of one task). No name = the default model: (None, task or
    "detect"). NotFoundError for an unknown name; InputError naming the route for a model of another
    task."""
    if value is not None and not isinstance(value, str):
        raise InputError(f"'model' must be a model name (GET /api/v1/models), got {type(value).__name__}")
    name = (value or "").strip()
    cfg = services().config.models
    if not name or (task and name == {"detect": cfg.detect, "classify": cfg.classify}.get(task,
                                                                                         DEFAULTS[task])):
        return name or None, task or "detect"
    known = {info.name: info.task for info in list_models(Path(cfg.cache_dir))}
    if name not in known:
        raise NotFoundError(f"unknown model {name!r}: expected one of {', '.join(sorted(known))}",
                            code="unknown_model")
    if task and known[name] != task:
        fits = ", ".join(n for n, t in known.items() if t == task)
        raise InputError(f"model {name!r} is a {known[name]} model: send it to "
                         f"{ROUTES.get(known[name], 'its own route')}; {ROUTES[task]} takes {fits}")
    return name, known[name] or "detect"


def answer(result: Result, image: np.ndarray, *, source: str, render: str | None,
           shown: ShownFilter | None = None) -> Any:
    """Publish what the caller shows of ``result`` (``shown``: all of it when None), count and answer all
    of it (+ the rendered image when asked)."""
    services().publish(shown.apply(result) if shown else result, source=source, image=image)
    metrics.metrics_of(current_app).observe_result(result)
    if metrics.access_log.isEnabledFor(logging.INFO):  # the summary only ends the access log line
        g.visioncast_summary = summarize(result)
    extra: dict[str, Any] = {}
    if render is not None:
        jpeg = encode_jpeg(draw_result(image, result, lang=i18n.current()), JPEG_QUALITY)
        if render == "base64":
            extra["image"] = base64.b64encode(jpeg).decode("ascii")
        else:
            name = results.results_of(current_app).save(jpeg)
            extra["image_url"] = url_for("results.result_file", name=name)
    return jsonify(result_to_payload(result, **extra))


@bp.post("/detect")
@document("Detect objects in an image", tags=["inference"], request_body=_IMAGE_BODY, parameters=[
    query("conf", {"type": "number", "minimum": 0, "maximum": 1}, "minimum confidence (default: server's)"),
    query("iou", {"type": "number", "minimum": 0, "maximum": 1}, "NMS IoU threshold (default: server's)"),
    query("classes", {"type": "string"}, "keep only these classes: ids or names, comma-separated"),
    query("max_det", {"type": "integer", "minimum": 1}, "maximum number of detections"),
    *_COMMON, *_SHOWN,
], responses={200: response("the detections", RESULT), **_ERRORS})
@access("student")
def detect() -> Any:
    return _infer("detect", "detect")


def _keypoint_params(what: str) -> list[dict[str, Any]]:
    return [
        query("conf", {"type": "number", "minimum": 0, "maximum": 1},
              f"minimum {what} score (default: the model's, 0.25 for MoveNet, 0.7 for YuNet)"),
        query("iou", {"type": "number", "minimum": 0, "maximum": 1}, "NMS IoU threshold (several per image)"),
        query("max_det", {"type": "integer", "minimum": 1}, f"maximum number of {what}s"),
        *_COMMON, *_SHOWN,
    ]


def _infer(task: str, default_source: str = "api") -> Any:
    """The answer of an inference route: the query's options and model, the uploaded image, the task's
    stages (``follow=1``: the source's own stream instance, e.g. MoveNet following one webcam's person)."""
    args = request.args
    render, source = render_mode(args), publish_source(args, default_source)
    model = services().model(task, _model_name(task))
    options = task_options(args, model.labels, model.name)
    shown = shown_filter(args, model.labels, model.name)
    if flag(args, "follow"):
        model = model.for_stream(source)
    image = read_upload(request, max_pixels=services().config.server.max_pixels)
    return answer(run_stages(model, image, options), image, source=source, render=render, shown=shown)


@bp.post("/pose")
@document("Find people and their 17 body keypoints", tags=["inference"], request_body=_IMAGE_BODY,
          description="Default model people-pose: every person YOLOX-nano finds, MoveNet on each "
                      "(movenet-lightning: one person; an Ultralytics pose export also finds several). Each "
                      "detection carries 'keypoints': 17 × [x, y, score] in image pixels, COCO order.",
          parameters=[*_keypoint_params("person"), query(
              "follow", {"enum": ["0", "1", "true", "false", "yes", "no"], "default": "0"},
              "MoveNet: look around where this source's person was in its last frame (crop-and-refine), "
              "for successive frames of one camera, e.g. the webcam page")],
          responses={200: response("people with keypoints (task 'pose')", RESULT), **_ERRORS})
@access("student")
def pose() -> Any:
    return _infer("pose")


@bp.post("/face")
@document("Find faces and 5 landmarks (eyes, nose tip, mouth corners)", tags=["inference"],
          request_body=_IMAGE_BODY,
          description="Default model yunet. Each detection carries 'keypoints': 5 × [x, y, score] in image "
                      "pixels: right eye, left eye, nose tip, right and left mouth corner.",
          parameters=_keypoint_params("face"),
          responses={200: response("faces with landmarks (task 'face')", RESULT), **_ERRORS})
@access("student")
def face() -> Any:
    return _infer("face")


@bp.post("/segment")
@document("Outline what is where in an image, pixel by pixel", tags=["inference"],
          request_body=_IMAGE_BODY,
          description="Default model selfie-segmentation (MediaPipe, person or background): one detection "
                      "per class present, with 'polygons' (the outlines of its mask, [x, y] in image pixels) "
                      "and 'area' (its pixels). An Ultralytics segmentation export (model=…) answers one "
                      "detection per object, each with its mask's outlines and area.",
          parameters=[
              query("conf", {"type": "number", "minimum": 0, "maximum": 1},
                    "a pixel is foreground from this score (default 0.5)"),
              query("classes", {"type": "string"}, "keep only these classes: ids or names, comma-separated"),
              *_COMMON, *_SHOWN],
          responses={200: response("regions with outlines and areas (task 'segment')", RESULT), **_ERRORS})
@access("student")
def segment() -> Any:
    return _infer("segment")


@bp.post("/classify")
@document("Classify an image", tags=["inference"], request_body=_IMAGE_BODY, parameters=[
    query("top", {"type": "integer", "minimum": 1, "default": 5}, "how many classes to answer, best first"),
    query("shown_top", {"type": "integer", "minimum": 1},
          "how many of them the caller shows (so what MQTT publishes); default: all answered"),
    *_COMMON,
], responses={200: response("the top classes", RESULT), **_ERRORS})
@access("student")
def classify() -> Any:
    return _infer("classify", "classify")


MODELS = Schema("Models", {
    "type": "object",
    "required": ["models", "defaults"],
    "properties": {
        "defaults": {"type": "object",
                     "properties": {t: {"type": "string"} for t in TASK_NAMES}},
        "models": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "task": {"enum": [*TASK_NAMES, ""]},
            "licence": {"type": "string"}, "origin": {"enum": ["shipped", "pulled", "taught", "local"]}}}},
    },
})


@bp.get("/models")
@document("The models this server can run", tags=["inference"],
          responses={200: response("the models", MODELS)})
@access("student")
def models() -> Any:
    cfg = services().config.models
    items = [{"name": i.name, "task": i.task, "licence": i.licence, "origin": i.origin}
             for i in list_models(Path(cfg.cache_dir))]
    return jsonify(models=items, defaults={**DEFAULTS, "detect": cfg.detect, "classify": cfg.classify})


def register(app: Flask) -> None:
    """The API and the service routes around it: metrics, health, results folder, OpenAPI document."""
    metrics.register(app)
    bus = app.extensions["visioncast"].bus
    metrics.metrics_of(app).add_callback(
        "visioncast_sink_errors", "failed sink calls by sink (the result was answered; the sink skipped it)",
        lambda: {(name, source): float(n) for name, failure in bus.status().items()
                 for source, n in failure["by_source"].items()},
        kind="counter", labels=["sink", "source"])
    app.register_blueprint(bp)
    results.register(app)
    health.register(app)
    openapi.register(app)


__all__ = ["ERROR", "RESULT", "answer", "bp", "register", "registry_model", "summarize"]
