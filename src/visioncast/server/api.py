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

import cv2
import numpy as np
from flask import Blueprint, Flask, current_app, g, jsonify, request, url_for

from visioncast.core.payload import RESULT_SCHEMA, result_to_payload
from visioncast.core.types import Result
from visioncast.draw import draw_result
from visioncast.errors import InputError, NotFoundError, VisioncastError
from visioncast.models.registry import DEFAULTS, list_models
from visioncast.server import health, metrics, openapi, results
from visioncast.server.access import access
from visioncast.server.app import services
from visioncast.server.openapi import ERROR, Schema, document, error, query, response
from visioncast.server.query import detect_options, flag, render_mode, source_name, top_k
from visioncast.server.upload import read_upload
from visioncast.tasks import Classifier, Detector
from visioncast.tasks.pose import MoveNetPose

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
          "the channel name results are published under (MQTT topic part), e.g. webcam"),
]
_ERRORS = {400: error("bad query value, corrupt image or no image"), 404: error("unknown model"),
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


def _model_name(task: str) -> str | None:
    """The ``model`` query value, checked against the registry (never an arbitrary server path)."""
    return registry_model(request.args.get("model"), task)


def registry_model(value: Any, task: str) -> str | None:
    """A model name a client sent, checked against the registry (never a server path); None = the default.
    NotFoundError for an unknown name, InputError for a model of another task."""
    if value is not None and not isinstance(value, str):
        raise InputError(f"'model' must be a model name (GET /api/v1/models), got {type(value).__name__}")
    name = (value or "").strip()
    cfg = services().config.models
    if not name or name == {"detect": cfg.detect, "classify": cfg.classify}.get(task, DEFAULTS[task]):
        return name or None
    known = {info.name: info.task for info in list_models(Path(cfg.cache_dir))}
    if name not in known:
        raise NotFoundError(f"unknown model {name!r}: expected one of {', '.join(sorted(known))}",
                            code="unknown_model")
    if known[name] != task:
        fits = ", ".join(n for n, t in known.items() if t == task)
        raise InputError(f"model {name!r} is a {known[name]} model; /{task} needs one of {fits}")
    return name


def _encode_jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise VisioncastError(f"cannot encode the annotated {image.shape[1]}×{image.shape[0]} image as JPEG")
    return buf.tobytes()


def _answer(result: Result, image: np.ndarray, *, source: str, render: str | None) -> Any:
    """Publish, count and answer ``result`` (+ the rendered image when asked)."""
    services().publish(result, source=source, image=image)
    metrics.metrics_of(current_app).observe_result(result)
    if metrics.access_log.isEnabledFor(logging.INFO):  # the summary only ends the access log line
        g.visioncast_summary = summarize(result)
    extra: dict[str, Any] = {}
    if render is not None:
        jpeg = _encode_jpeg(draw_result(image, result))
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
    *_COMMON,
], responses={200: response("the detections", RESULT), **_ERRORS})
@access("student")
def detect() -> Any:
    args = request.args
    render, source = render_mode(args), source_name(args, "detect")
    detector = services().detector(_model_name("detect"))
    options = detect_options(args, detector.options, detector.labels, detector.name)
    image = read_upload(request, max_pixels=services().config.server.max_pixels)
    return _answer(detector.detect(image, options), image, source=source, render=render)


def _keypoint_params(what: str) -> list[dict[str, Any]]:
    return [
        query("conf", {"type": "number", "minimum": 0, "maximum": 1},
              f"minimum {what} score (default: the model's, 0.25 for MoveNet, 0.7 for YuNet)"),
        query("iou", {"type": "number", "minimum": 0, "maximum": 1}, "NMS IoU threshold (several per image)"),
        query("max_det", {"type": "integer", "minimum": 1}, f"maximum number of {what}s"),
        *_COMMON,
    ]


def _keypoint_task(task: str) -> Any:
    """The pose or face answer: the detect query options, the task's own model."""
    args = request.args
    render, source = render_mode(args), source_name(args)
    model = services().model(task, _model_name(task))
    if isinstance(model, (Detector, Classifier)):  # guaranteed otherwise by load_model(task=...)
        raise InputError(f"model {model.name!r} is not a {task} model")
    options = detect_options(args, model.options, model.labels, model.name)
    if isinstance(model, MoveNetPose) and flag(args, "follow"):
        model = model.follower_for(source)  # this source's own follower: options are set for its next frame
        model.options = options
    else:
        model = model.with_options(options)
    image = read_upload(request, max_pixels=services().config.server.max_pixels)
    return _answer(model(image), image, source=source, render=render)


@bp.post("/pose")
@document("Find people and their 17 body keypoints", tags=["inference"], request_body=_IMAGE_BODY,
          description="Default model movenet-lightning (one person); an Ultralytics pose export finds "
                      "several. Each detection carries 'keypoints': 17 × [x, y, score] in image pixels, "
                      "COCO order.",
          parameters=[*_keypoint_params("person"), query(
              "follow", {"enum": ["0", "1", "true", "false", "yes", "no"], "default": "0"},
              "MoveNet: look around where this source's person was in its last frame (crop-and-refine), "
              "for successive frames of one camera, e.g. the webcam page")],
          responses={200: response("people with keypoints (task 'pose')", RESULT), **_ERRORS})
@access("student")
def pose() -> Any:
    return _keypoint_task("pose")


@bp.post("/face")
@document("Find faces and 5 landmarks (eyes, nose tip, mouth corners)", tags=["inference"],
          request_body=_IMAGE_BODY,
          description="Default model yunet. Each detection carries 'keypoints': 5 × [x, y, score] in image "
                      "pixels: right eye, left eye, nose tip, right and left mouth corner.",
          parameters=_keypoint_params("face"),
          responses={200: response("faces with landmarks (task 'face')", RESULT), **_ERRORS})
@access("student")
def face() -> Any:
    return _keypoint_task("face")


@bp.post("/classify")
@document("Classify an image", tags=["inference"], request_body=_IMAGE_BODY, parameters=[
    query("top", {"type": "integer", "minimum": 1, "default": 5}, "how many classes to answer, best first"),
    *_COMMON,
], responses={200: response("the top classes", RESULT), **_ERRORS})
@access("student")
def classify() -> Any:
    args = request.args
    render, source, top = render_mode(args), source_name(args, "classify"), top_k(args)
    classifier = services().classifier(_model_name("classify"))
    image = read_upload(request, max_pixels=services().config.server.max_pixels)
    return _answer(classifier.classify(image, top=top), image, source=source, render=render)


MODELS = Schema("Models", {
    "type": "object",
    "required": ["models", "defaults"],
    "properties": {
        "defaults": {"type": "object",
                     "properties": {t: {"type": "string"} for t in ("detect", "classify", "pose", "face")}},
        "models": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "task": {"enum": ["detect", "classify", "pose", "face", ""]},
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


__all__ = ["ERROR", "RESULT", "bp", "register", "summarize"]
